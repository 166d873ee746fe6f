-- order.create's write checks its own decision
-- order.create reads the stock without locking it and writes in one statement of its own
-- (orders/create.py). That statement locks the stock rows and calls rpcf_stock_as_read with
-- whether what it found still is what the order was decided on; when not, it refuses with
-- SQLSTATE RF001 (db/uow.py's Stale) and the call decides again under locks.
CREATE FUNCTION rpcf_stock_as_read(unchanged boolean) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF NOT unchanged THEN
        RAISE EXCEPTION 'the stock changed since it was read' USING ERRCODE = 'RF001';
    END IF;
    RETURN true;
END $$;

-- The merchant's next automatic unique_id: the next number of its sequence that no order has
-- and that is not among ``chosen`` (the unique_ids other orders of the same write chose; nulls
-- are ignored). Clients may have taken a long run of numbers themselves (an import keeping the
-- numbers ShipStream gave): those are skipped here, in the statement that writes the order.
CREATE FUNCTION rpcf_next_unique_id(merchant bigint, chosen text[]) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    candidate text;
BEGIN
    LOOP
        candidate := nextval(format('order_unique_id_%s', merchant)::regclass)::text;
        IF array_position(chosen, candidate) IS NULL
           AND NOT EXISTS (SELECT 1 FROM orders WHERE merchant_id = merchant AND unique_id = candidate) THEN
            RETURN candidate;
        END IF;
    END LOOP;
END $$;
