-- Stock movement ids a merchant sees count that merchant's movements only (issue 13, item 12)
-- stock_movement.list answered the global movement_id, so a merchant who saw id 5000 at 9:00
-- and 5200 at 10:00 knew the installation's stock activity in that hour. The ids cannot be a
-- keyed permutation like 0017's: clients page the list in order with {"id": {"gt": last}}. So
-- a movement gets a number of its merchant's own, merchant_movement_no, from the merchant's
-- sequence "stock_movement_<merchant_id>" (rpcf_merchant_nextval, as order and shipment
-- numbers): 1, 2, 3... whatever other merchants do. It is the `id` of stock_movement.list
-- (answer, filter, sort); movement_id stays the primary key, never shown.
--
-- A trigger gives the number (a column default cannot read merchant_id), so every insert path
-- has one: a nextval, no counter row to lock. A row that comes with a number keeps it (a
-- restore from a dump). Existing rows are numbered per merchant in movement_id order (their
-- order so far) and each merchant's sequence continues after its highest.
ALTER TABLE stock_movements ADD COLUMN merchant_movement_no bigint;
UPDATE stock_movements m
   SET merchant_movement_no = numbered.no
  FROM (SELECT movement_id, row_number() OVER (PARTITION BY merchant_id ORDER BY movement_id) AS no
          FROM stock_movements) AS numbered
 WHERE numbered.movement_id = m.movement_id;
ALTER TABLE stock_movements ALTER COLUMN merchant_movement_no SET NOT NULL;
ALTER TABLE stock_movements ADD CONSTRAINT stock_movements_merchant_movement_no UNIQUE (merchant_id, merchant_movement_no);
-- The unique index serves the merchant's list in id order, which (merchant_id, movement_id) did.
DROP INDEX stock_movements_merchant;

-- The one list of a merchant's sequences, now with where each starts: ShipStream's order and
-- shipment numbers start at 100000001, stock movement ids at 1.
CREATE OR REPLACE FUNCTION rpcf_create_merchant_sequences(merchant bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    kind text;
    start_at bigint;
BEGIN
    FOR kind, start_at IN VALUES ('order_unique_id', 100000001), ('shipment_increment_id', 100000001),
                                  ('stock_movement', 1) LOOP
        EXECUTE format('CREATE SEQUENCE IF NOT EXISTS %s_%s START %s', kind, merchant, start_at);
    END LOOP;
END $$;
SELECT rpcf_create_merchant_sequences(merchant_id) FROM merchants;
SELECT setval(format('stock_movement_%s', merchant_id), max(merchant_movement_no))
  FROM stock_movements GROUP BY merchant_id;

CREATE FUNCTION stock_movements_merchant_number() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.merchant_movement_no IS NULL THEN
        NEW.merchant_movement_no := rpcf_merchant_nextval('stock_movement', NEW.merchant_id);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER stock_movements_merchant_number BEFORE INSERT ON stock_movements
    FOR EACH ROW EXECUTE FUNCTION stock_movements_merchant_number();
