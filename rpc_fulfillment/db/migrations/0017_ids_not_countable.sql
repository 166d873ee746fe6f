-- Ids a merchant sees are per merchant or a keyed permutation: no global count to read
-- A merchant who saw order_id 1041 at 9:00 and 1187 at 10:00 knew that the installation took
-- 145 orders in that hour (issue 13, item 12). Two kinds of ids now:
--
-- * Numbers ShipStream gives per merchant (order unique_ids, shipment increment ids) come from
--   the merchant's own sequence, "<kind>_<merchant_id>", made with the merchant:
--   rpcf_merchant_nextval(kind, merchant) is the one way to take the next. Shipment numbers used
--   ONE global sequence; a merchant's own continues after its highest shipment number.
--
-- * Surrogate ids a merchant sees (order_id, order_item_id, product_id, shipment_id,
--   package_id, tracking_id, webhook_id, delivery_id, event_id) stay bigint, but a new row's
--   id is rpcf_public_id(nextval(the column's sequence)): a 4-round Feistel network over 52
--   bits (two 26-bit halves; the round function is PostgreSQL's seeded 64-bit hash,
--   hashint8extended, with a random 64-bit round key each), plus 2^52. So new ids are:
--     - unique by construction: a bijection of the sequence's positions, no lookup, no retry;
--     - in [2^52, 2^53): integers a JavaScript client holds exactly, and always above every id
--       taken before this migration (those are the sequence's small positions: existing rows
--       keep their ids, nothing is renumbered, and no new id can equal an old one);
--     - not ordered by time and not countable without the key, which is made here from
--       gen_random_uuid() (a strong random source), kept in rpcf_id_key (data, never in
--       schema.sql) and never sent anywhere. rpcf_id_position() is the inverse.
--   The sequences stay global (a merchant never sees their positions), which a sharded
--   installation keeps as it is. The function is cheap (a few us per id), not a
--   cryptographic MAC: it stops counting by subtraction, not a cryptanalyst with many
--   (position, id) pairs, which a merchant never has.
--
-- Where the order of creation matters (the event feed and its fan-out, delivery retention),
-- events and webhook_deliveries keep it in a column `seq` (the sequence's position, equal to
-- the old id for old rows); their public id is rpcf_public_id(seq), set by a trigger.
-- event.list's after_id is an event_id the merchant saw: rpcf_id_position(after_id) is where
-- the feed resumes (the old small ids are their own positions).
CREATE TABLE rpcf_id_key (
    only_row   boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    round_keys bigint[] NOT NULL CHECK (cardinality(round_keys) = 4)
);
INSERT INTO rpcf_id_key (round_keys)
SELECT array_agg(('x' || encode(substr(sha256(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())), 1, 8),
                                'hex'))::bit(64)::bigint)
  FROM generate_series(1, 4);

-- The key never changes once made, so this may be IMMUTABLE: a session plans it once and its
-- cached plans hold the key, instead of a query per id (which cost 3 times the rest).
CREATE FUNCTION rpcf_id_round_keys() RETURNS bigint[] LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT round_keys FROM public.rpcf_id_key $$;

-- A round: the other half's seeded hash, cut to 26 bits. The rounds are written out (no loop,
-- no helper function): a loop took four times as long.
CREATE FUNCTION rpcf_public_id(id_position bigint) RETURNS bigint LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    k  bigint[] := public.rpcf_id_round_keys();
    r0 bigint := id_position & 67108863;  -- the right half; the left is id_position >> 26
    r1 bigint;
    r2 bigint;
    r3 bigint;
BEGIN
    IF id_position < 0 OR id_position >= 4503599627370496 THEN
        RAISE EXCEPTION 'id position % is outside 0 .. 2^52 - 1', id_position;
    END IF;
    r1 := (id_position >> 26) # (hashint8extended(r0, k[1]) & 67108863);
    r2 := r0 # (hashint8extended(r1, k[2]) & 67108863);
    r3 := r1 # (hashint8extended(r2, k[3]) & 67108863);
    RETURN 4503599627370496 + ((r3 << 26) | (r2 # (hashint8extended(r3, k[4]) & 67108863)));
END $$;

-- The position rpcf_public_id was given for ``public_id`` (the rounds backwards); an id below
-- 2^52 was taken before the permutation and is its own position.
CREATE FUNCTION rpcf_id_position(public_id bigint) RETURNS bigint LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    k  bigint[] := public.rpcf_id_round_keys();
    r3 bigint := (public_id - 4503599627370496) >> 26;
    r2 bigint;
    r1 bigint;
    r0 bigint;
BEGIN
    IF public_id < 4503599627370496 OR public_id >= 9007199254740992 THEN
        RETURN public_id;
    END IF;
    r2 := (public_id & 67108863) # (hashint8extended(r3, k[4]) & 67108863);
    r1 := r3 # (hashint8extended(r2, k[3]) & 67108863);
    r0 := r2 # (hashint8extended(r1, k[2]) & 67108863);
    RETURN ((r1 # (hashint8extended(r0, k[1]) & 67108863)) << 26) | r0;
END $$;

-- Each column: its identity becomes a plain sequence of the same name, continuing where the
-- identity was, and the column's default permutes it. events and webhook_deliveries take the
-- sequence in `seq` and their id from it (trigger below).
DO $$
DECLARE
    col record;
    sequence_name text;
    next_position bigint;
BEGIN
    FOR col IN SELECT * FROM (VALUES ('orders', 'order_id'), ('order_items', 'order_item_id'),
                                     ('products', 'product_id'), ('shipments', 'shipment_id'),
                                     ('packages', 'package_id'), ('tracking_numbers', 'tracking_id'),
                                     ('webhooks', 'webhook_id'), ('webhook_deliveries', 'delivery_id'),
                                     ('events', 'event_id')) AS c(table_name, column_name)
    LOOP
        sequence_name := pg_get_serial_sequence(col.table_name, col.column_name);
        EXECUTE format('SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM %s', sequence_name)
           INTO next_position;
        EXECUTE format('ALTER TABLE %I ALTER COLUMN %I DROP IDENTITY', col.table_name, col.column_name);
        EXECUTE format('CREATE SEQUENCE %s START %s', sequence_name, next_position);
        IF col.table_name IN ('events', 'webhook_deliveries') THEN
            EXECUTE format('ALTER TABLE %I ADD COLUMN seq bigint', col.table_name);
            EXECUTE format('UPDATE %I SET seq = %I', col.table_name, col.column_name);
            EXECUTE format('ALTER TABLE %I ALTER COLUMN seq SET NOT NULL, ALTER COLUMN seq SET DEFAULT nextval(%L)',
                           col.table_name, sequence_name);
            EXECUTE format('ALTER SEQUENCE %s OWNED BY %I.seq', sequence_name, col.table_name);
        ELSE
            EXECUTE format('ALTER TABLE %I ALTER COLUMN %I SET DEFAULT rpcf_public_id(nextval(%L))',
                           col.table_name, col.column_name, sequence_name);
            EXECUTE format('ALTER SEQUENCE %s OWNED BY %I.%I', sequence_name, col.table_name, col.column_name);
        END IF;
    END LOOP;
END $$;

CREATE FUNCTION events_public_id() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.event_id := rpcf_public_id(NEW.seq);
    RETURN NEW;
END $$;
CREATE TRIGGER events_public_id BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION events_public_id();

CREATE FUNCTION webhook_deliveries_public_id() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.delivery_id := rpcf_public_id(NEW.seq);
    RETURN NEW;
END $$;
CREATE TRIGGER webhook_deliveries_public_id BEFORE INSERT ON webhook_deliveries
    FOR EACH ROW EXECUTE FUNCTION webhook_deliveries_public_id();

DROP INDEX events_merchant;
CREATE INDEX events_merchant ON events (merchant_id, seq);
CREATE UNIQUE INDEX events_seq ON events (seq);
CREATE UNIQUE INDEX webhook_deliveries_seq ON webhook_deliveries (seq);
DROP INDEX webhook_deliveries_due;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, seq) WHERE status = 'pending';

-- The merchant's sequences. One list of kinds, made for every merchant (now and when created).
CREATE FUNCTION rpcf_merchant_nextval(kind text, merchant bigint) RETURNS bigint LANGUAGE sql
    AS $$ SELECT nextval(format('%s_%s', kind, merchant)::regclass) $$;

CREATE FUNCTION rpcf_create_merchant_sequences(merchant bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    kind text;
BEGIN
    FOREACH kind IN ARRAY ARRAY['order_unique_id', 'shipment_increment_id'] LOOP
        EXECUTE format('CREATE SEQUENCE IF NOT EXISTS %s_%s START 100000001', kind, merchant);
    END LOOP;
END $$;

DROP TRIGGER merchants_order_sequence ON merchants;
DROP FUNCTION merchants_create_order_sequence();
DROP FUNCTION create_order_sequence(bigint);
CREATE FUNCTION merchants_create_sequences() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM rpcf_create_merchant_sequences(NEW.merchant_id);
    RETURN NEW;
END $$;
CREATE TRIGGER merchants_sequences AFTER INSERT ON merchants
    FOR EACH ROW EXECUTE FUNCTION merchants_create_sequences();
SELECT rpcf_create_merchant_sequences(merchant_id) FROM merchants;

-- A merchant's shipment numbers continue after the highest it has.
SELECT setval(format('shipment_increment_id_%s', merchant_id), max(increment_id::bigint))
  FROM shipments GROUP BY merchant_id;
ALTER TABLE shipments ALTER COLUMN increment_id DROP DEFAULT;
DROP SEQUENCE shipment_increment_id;
ALTER TABLE shipments DROP CONSTRAINT shipments_increment_id_key;
ALTER TABLE shipments ADD CONSTRAINT shipments_increment_id_key UNIQUE (merchant_id, increment_id);
-- shipment.search sorts by the number (shipment_id was the sort key while it grew with it).
CREATE INDEX shipments_merchant_number ON shipments (merchant_id, (increment_id::bigint));

CREATE OR REPLACE FUNCTION rpcf_next_unique_id(merchant bigint, chosen text[]) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    candidate text;
BEGIN
    LOOP
        candidate := rpcf_merchant_nextval('order_unique_id', merchant)::text;
        IF array_position(chosen, candidate) IS NULL
           AND NOT EXISTS (SELECT 1 FROM orders WHERE merchant_id = merchant AND unique_id = candidate) THEN
            RETURN candidate;
        END IF;
    END LOOP;
END $$;
