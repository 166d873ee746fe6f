-- The schema of rpc-fulfillment, as numbered steps applied in order, each once.
-- The server applies pending steps on start inside one transaction under an advisory lock,
-- and records each in schema_version. Never edit a step that has shipped: append a new one.

-- step 1: merchants, stores, warehouses, API users and sessions
CREATE TABLE merchants (
    merchant_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code         text NOT NULL UNIQUE CHECK (code ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE stores (
    store_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_id  bigint NOT NULL REFERENCES merchants,
    code         text NOT NULL CHECK (code ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    sort_order   integer NOT NULL DEFAULT 0,
    is_active    boolean NOT NULL DEFAULT true,
    is_default   boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (merchant_id, code)
);
-- Exactly one default store per merchant: order.create with a null storeCode uses it.
CREATE UNIQUE INDEX stores_one_default ON stores (merchant_id) WHERE is_default;

-- Warehouses belong to the operator and are shared by every merchant.
CREATE TABLE warehouses (
    warehouse_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 255),
    is_active    boolean NOT NULL DEFAULT true,
    street1      text NOT NULL DEFAULT '',
    street2      text NOT NULL DEFAULT '',
    city         text NOT NULL DEFAULT '',
    region       text NOT NULL DEFAULT '',
    postcode     text NOT NULL DEFAULT '',
    country      text NOT NULL DEFAULT 'US' CHECK (country ~ '^[A-Z]{2}$'),
    created_at   timestamptz NOT NULL DEFAULT now()
);
INSERT INTO warehouses (name) VALUES ('Main Warehouse');

CREATE TABLE api_users (
    api_user_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_id  bigint NOT NULL REFERENCES merchants,
    username     text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$'),
    role         text NOT NULL CHECK (role IN ('merchant', 'warehouse', 'admin')),
    -- SHA-256 of the API key: keys are long random secrets, so a fast hash is enough.
    key_hash     bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);
CREATE INDEX api_users_merchant ON api_users (merchant_id);

CREATE TABLE sessions (
    -- SHA-256 of the session id; the id itself is never stored.
    session_hash bytea PRIMARY KEY,
    api_user_id  bigint NOT NULL REFERENCES api_users,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- step 2: products, stock, stock movements, orders, items, allocations, status history, events
CREATE TABLE products (
    product_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_id     bigint NOT NULL REFERENCES merchants,
    sku             text NOT NULL CHECK (length(sku) BETWEEN 1 AND 64),
    name            text NOT NULL DEFAULT '',
    -- ShipStream takes barcodes as a comma-separated list; kept as an array so one can be found.
    barcodes        text[] NOT NULL DEFAULT '{}',
    vendor_sku      text,
    external_id     text,
    status          smallint NOT NULL DEFAULT 1 CHECK (status IN (1, 2)),
    weight          numeric(12, 4),
    weight_unit     text NOT NULL DEFAULT 'lb',
    length          numeric(12, 4),
    width           numeric(12, 4),
    height          numeric(12, 4),
    dimension_unit  text NOT NULL DEFAULT 'in',
    -- The rest of ShipStream's product properties (goods_type, customs_value, ...).
    attributes      jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (merchant_id, sku)
);
CREATE INDEX products_barcodes ON products USING gin (barcodes);
CREATE INDEX products_vendor_sku ON products (merchant_id, vendor_sku) WHERE vendor_sku IS NOT NULL;
CREATE INDEX products_updated ON products (merchant_id, updated_at);

-- Stock of one product in one warehouse. available = on hand - allocated, never negative.
CREATE TABLE stock (
    product_id      bigint NOT NULL REFERENCES products,
    warehouse_id    bigint NOT NULL REFERENCES warehouses,
    merchant_id     bigint NOT NULL REFERENCES merchants,
    qty_on_hand     integer NOT NULL DEFAULT 0,
    qty_allocated   integer NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (product_id, warehouse_id),
    CONSTRAINT stock_allocated_not_negative CHECK (qty_allocated >= 0),
    CONSTRAINT stock_covers_allocations CHECK (qty_on_hand >= qty_allocated)
);
CREATE INDEX stock_merchant_updated ON stock (merchant_id, updated_at);

CREATE TABLE stock_movements (
    movement_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_id     bigint NOT NULL REFERENCES merchants,
    product_id      bigint NOT NULL REFERENCES products,
    warehouse_id    bigint NOT NULL REFERENCES warehouses,
    entity_type     text NOT NULL,        -- adjustment, order, shipment
    entity_action   text NOT NULL,        -- adjust, allocate, release, ship, ...
    entity_id       text,
    qty_on_hand_delta   integer NOT NULL DEFAULT 0,
    qty_allocated_delta integer NOT NULL DEFAULT 0,
    comment         text NOT NULL DEFAULT '',
    api_user_id     bigint REFERENCES api_users,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stock_movements_merchant ON stock_movements (merchant_id, movement_id);

CREATE TABLE orders (
    order_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_id     bigint NOT NULL REFERENCES merchants,
    store_id        bigint NOT NULL REFERENCES stores,
    unique_id       text NOT NULL CHECK (length(unique_id) BETWEEN 1 AND 64),
    order_ref       text,
    state           text NOT NULL,
    status          text NOT NULL,
    -- The database refuses a status that does not belong to its state (the matrix in
    -- domain/states.py says the same; a test keeps the two equal).
    CONSTRAINT orders_status_in_state CHECK (
        (state = 'new' AND status IN ('new', 'partial_backorder', 'backordered'))
        OR (state = 'processing' AND status IN ('processing', 'partial_backorder'))
        OR (state = 'complete' AND status = 'complete')
        OR (state = 'canceled' AND status = 'canceled')
        OR (state = 'holded' AND status IN ('holded', 'delayed_shipment', 'unresolved'))
    ),
    shipping_method         text NOT NULL,
    carrier_code            text NOT NULL,
    backorder_policy        text NOT NULL DEFAULT 'default',
    priority                smallint NOT NULL DEFAULT 50 CHECK (priority BETWEEN 0 AND 100),
    source                  text,
    custom_greeting         text,
    gift_message            text,
    signature_required      text NOT NULL DEFAULT 'none',
    saturday_delivery       boolean NOT NULL DEFAULT false,
    reason_for_export       text NOT NULL DEFAULT 'sold',
    declared_value_service  boolean NOT NULL DEFAULT false,
    declared_value          numeric(12, 2),
    declared_value_currency text,
    overbox                 boolean NOT NULL DEFAULT false,
    requested_ship_date     date,
    delayed_ship_date       timestamptz,
    desired_delivery_date   date,
    tpb_group_id            integer,
    shipping_address        jsonb NOT NULL,
    is_address_modified     boolean NOT NULL DEFAULT false,
    weight                  numeric(12, 4) NOT NULL DEFAULT 0,
    weight_unit             text NOT NULL DEFAULT 'lb',
    total_item_count        integer NOT NULL DEFAULT 0,
    -- The rest of "Order Additional Data": instructions, customs, duties, custom fields...
    extra                   jsonb NOT NULL DEFAULT '{}',
    submitted_by_id         bigint REFERENCES api_users,
    remote_ip               text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz,
    shipped_at      timestamptz,
    delivered_at    timestamptz,
    UNIQUE (merchant_id, unique_id)
);
CREATE INDEX orders_order_ref ON orders (merchant_id, order_ref, created_at);
CREATE INDEX orders_status ON orders (merchant_id, status, order_id);
CREATE INDEX orders_state ON orders (merchant_id, state, order_id);
CREATE INDEX orders_created ON orders (merchant_id, created_at);
CREATE INDEX orders_updated ON orders (merchant_id, updated_at);
CREATE INDEX orders_merchant_order_id ON orders (merchant_id, order_id);
CREATE INDEX orders_delayed ON orders (delayed_ship_date) WHERE status = 'delayed_shipment';

-- One line of an order. Every unit is in exactly one of: processing (reserved, not yet
-- shipped), shipped, canceled, backordered.
CREATE TABLE order_items (
    order_item_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id        bigint NOT NULL REFERENCES orders ON DELETE CASCADE,
    merchant_id     bigint NOT NULL REFERENCES merchants,
    product_id      bigint NOT NULL REFERENCES products,
    line_no         smallint NOT NULL,
    sku             text NOT NULL,
    name            text NOT NULL DEFAULT '',
    order_item_ref  text,
    qty_ordered     integer NOT NULL CHECK (qty_ordered > 0),
    qty_processing  integer NOT NULL DEFAULT 0 CHECK (qty_processing >= 0),
    qty_shipped     integer NOT NULL DEFAULT 0 CHECK (qty_shipped >= 0),
    qty_canceled    integer NOT NULL DEFAULT 0 CHECK (qty_canceled >= 0),
    qty_backordered integer NOT NULL DEFAULT 0 CHECK (qty_backordered >= 0),
    weight          numeric(12, 4),
    weight_unit     text NOT NULL DEFAULT 'lb',
    unit_declared_value          numeric(12, 2),
    unit_declared_value_currency text,
    unit_customs_value           numeric(12, 2),
    unit_customs_value_currency  text,
    CONSTRAINT order_items_quantities_add_up
        CHECK (qty_ordered = qty_processing + qty_shipped + qty_canceled + qty_backordered),
    UNIQUE (order_id, line_no)
);
CREATE INDEX order_items_product ON order_items (merchant_id, product_id, order_id);
CREATE INDEX order_items_backordered ON order_items (product_id) WHERE qty_backordered > 0;

-- Which warehouse holds an item's reserved units. Sum over an item = its qty_processing;
-- sum over a (product, warehouse) = stock.qty_allocated.
CREATE TABLE order_item_allocations (
    order_item_id   bigint NOT NULL REFERENCES order_items ON DELETE CASCADE,
    warehouse_id    bigint NOT NULL REFERENCES warehouses,
    order_id        bigint NOT NULL REFERENCES orders ON DELETE CASCADE,
    merchant_id     bigint NOT NULL REFERENCES merchants,
    product_id      bigint NOT NULL REFERENCES products,
    qty_allocated   integer NOT NULL CHECK (qty_allocated > 0),
    PRIMARY KEY (order_item_id, warehouse_id)
);
CREATE INDEX order_item_allocations_order ON order_item_allocations (order_id);

CREATE TABLE order_status_history (
    history_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id        bigint NOT NULL REFERENCES orders ON DELETE CASCADE,
    merchant_id     bigint NOT NULL REFERENCES merchants,
    state           text NOT NULL,
    status          text NOT NULL,
    comment         text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_status_history_order ON order_status_history (order_id, history_id);

-- The transactional outbox: every event is written in the transaction of the change it
-- describes. Delivery (webhooks) reads from here.
CREATE TABLE events (
    event_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_id     bigint NOT NULL REFERENCES merchants,
    topic           text NOT NULL,
    message         jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_merchant ON events (merchant_id, event_id);

-- unique_id auto-assignment: one sequence per merchant, starting at 100000001. Sequences are
-- not transactional, so concurrent creates never wait on each other for a number.
CREATE FUNCTION create_order_sequence(merchant bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE SEQUENCE IF NOT EXISTS order_unique_id_%s START 100000001', merchant);
END $$;
SELECT create_order_sequence(merchant_id) FROM merchants;
CREATE FUNCTION merchants_create_order_sequence() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM create_order_sequence(NEW.merchant_id);
    RETURN NEW;
END $$;
CREATE TRIGGER merchants_order_sequence AFTER INSERT ON merchants
    FOR EACH ROW EXECUTE FUNCTION merchants_create_order_sequence();

-- step 3: the fulfillment engine: store backorder policy, shipments, packages, tracking
ALTER TABLE stores ADD COLUMN backorder_policy text NOT NULL DEFAULT 'as_available'
    CHECK (backorder_policy IN ('all_or_nothing', 'as_available') OR backorder_policy ~ '^up_to_[1-9][0-9]{0,3}$');

-- Units of an item that sit in shipments not yet shipped (they stay in qty_processing).
ALTER TABLE order_items ADD COLUMN qty_in_shipment integer NOT NULL DEFAULT 0
    CHECK (qty_in_shipment >= 0 AND qty_in_shipment <= qty_processing);

CREATE SEQUENCE shipment_increment_id START 100000001;

CREATE TABLE shipments (
    shipment_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- ShipStream's public shipment id ("100000005"), used by every shipment.* call.
    increment_id    text NOT NULL UNIQUE DEFAULT nextval('shipment_increment_id')::text,
    merchant_id     bigint NOT NULL REFERENCES merchants,
    order_id        bigint NOT NULL REFERENCES orders,
    warehouse_id    bigint NOT NULL REFERENCES warehouses,
    status          text NOT NULL DEFAULT 'new'
                    CHECK (status IN ('new', 'picking', 'picked', 'packing', 'packed', 'shipped', 'canceled')),
    shipment_type   text NOT NULL DEFAULT 'parcel' CHECK (shipment_type IN ('parcel', 'freight')),
    source          text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    packed_at       timestamptz,
    shipped_at      timestamptz,
    delivered_at    timestamptz,
    tracking_added_at timestamptz
);
CREATE INDEX shipments_order ON shipments (order_id);
CREATE INDEX shipments_merchant ON shipments (merchant_id, shipment_id);
CREATE INDEX shipments_merchant_status ON shipments (merchant_id, status, shipment_id);

CREATE TABLE shipment_items (
    shipment_item_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shipment_id         bigint NOT NULL REFERENCES shipments ON DELETE CASCADE,
    order_item_id       bigint NOT NULL REFERENCES order_items,
    merchant_id         bigint NOT NULL REFERENCES merchants,
    product_id          bigint NOT NULL REFERENCES products,
    sku                 text NOT NULL,
    qty                 integer NOT NULL CHECK (qty > 0),
    qty_shipped         integer NOT NULL DEFAULT 0 CHECK (qty_shipped >= 0),
    qty_canceled        integer NOT NULL DEFAULT 0 CHECK (qty_canceled >= 0),
    qty_cancel_requested integer NOT NULL DEFAULT 0 CHECK (qty_cancel_requested >= 0),
    CHECK (qty_shipped + qty_canceled <= qty AND qty_cancel_requested <= qty),
    UNIQUE (shipment_id, order_item_id)
);
CREATE INDEX shipment_items_order_item ON shipment_items (order_item_id);

CREATE TABLE packages (
    package_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shipment_id     bigint NOT NULL REFERENCES shipments ON DELETE CASCADE,
    merchant_id     bigint NOT NULL REFERENCES merchants,
    status          text NOT NULL DEFAULT 'packed'
                    CHECK (status IN ('packing', 'tracking_required', 'packed', 'manifested', 'shipped', 'delivered')),
    carrier         text,
    weight          numeric(12, 4),
    weight_unit     text NOT NULL DEFAULT 'lb',
    length          numeric(12, 4),
    width           numeric(12, 4),
    height          numeric(12, 4),
    dimension_unit  text NOT NULL DEFAULT 'in',
    created_at      timestamptz NOT NULL DEFAULT now(),
    shipped_at      timestamptz,
    delivered_at    timestamptz
);
CREATE INDEX packages_shipment ON packages (shipment_id);

CREATE TABLE package_items (
    package_id      bigint NOT NULL REFERENCES packages ON DELETE CASCADE,
    order_item_id   bigint NOT NULL REFERENCES order_items,
    sku             text NOT NULL,
    qty             integer NOT NULL CHECK (qty > 0),
    PRIMARY KEY (package_id, order_item_id)
);

CREATE TABLE tracking_numbers (
    tracking_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    package_id      bigint NOT NULL REFERENCES packages ON DELETE CASCADE,
    shipment_id     bigint NOT NULL REFERENCES shipments ON DELETE CASCADE,
    merchant_id     bigint NOT NULL REFERENCES merchants,
    number          text NOT NULL CHECK (length(number) BETWEEN 1 AND 64),
    carrier         text NOT NULL,
    description     text,
    track_url       text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tracking_numbers_shipment ON tracking_numbers (shipment_id);

-- step 4: webhooks
-- A merchant's URL subscribed to some topics. last_increment_id is the last
-- webhook_increment_id given to one of its deliveries: the ids are 1, 2, 3... without a gap.
CREATE TABLE webhooks (
    webhook_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_id       bigint NOT NULL REFERENCES merchants,
    url               text NOT NULL CHECK (url ~* '^https?://' AND length(url) <= 2048),
    topics            text[] NOT NULL CHECK (cardinality(topics) > 0),
    is_active         boolean NOT NULL DEFAULT true,
    extra_headers     text NOT NULL DEFAULT '',   -- "Name: value" lines
    secret_key        text NOT NULL CHECK (length(secret_key) BETWEEN 1 AND 255),
    last_increment_id bigint NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_merchant ON webhooks (merchant_id, webhook_id);

-- Events committed but not yet fanned out to webhook deliveries. A row is written by the
-- trigger below in the event's own transaction (only when an active webhook of the merchant
-- wants the topic), and deleted by the worker that fans it out. The queue, not a "last event
-- seen" cursor, is what makes fan-out exact: identity values are not committed in order.
CREATE TABLE event_fanout (
    event_id bigint PRIMARY KEY
);

-- One event to one webhook (or a test:ping, which has no event and no increment id).
CREATE TABLE webhook_deliveries (
    delivery_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id           bigint NOT NULL REFERENCES webhooks ON DELETE CASCADE,
    merchant_id          bigint NOT NULL REFERENCES merchants,
    event_id             bigint REFERENCES events,
    topic                text NOT NULL,
    webhook_increment_id bigint,
    status               text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts             integer NOT NULL DEFAULT 0,   -- all attempts, for the log
    round_attempts       integer NOT NULL DEFAULT 0,   -- attempts since queued (or replayed): the retry schedule's step
    next_attempt_at      timestamptz DEFAULT now(),
    created_at           timestamptz NOT NULL DEFAULT now(),
    last_attempt_at      timestamptz,
    delivered_at         timestamptz,
    last_http_status     integer,
    last_error           text,
    CHECK ((event_id IS NULL) = (webhook_increment_id IS NULL)),
    CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL))
);
CREATE UNIQUE INDEX webhook_deliveries_increment ON webhook_deliveries (webhook_id, webhook_increment_id);
CREATE UNIQUE INDEX webhook_deliveries_event ON webhook_deliveries (webhook_id, event_id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, delivery_id) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_event_id ON webhook_deliveries (event_id);

-- Every HTTP attempt of a delivery.
CREATE TABLE webhook_attempts (
    attempt_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id      bigint NOT NULL REFERENCES webhook_deliveries ON DELETE CASCADE,
    merchant_id      bigint NOT NULL REFERENCES merchants,
    attempted_at     timestamptz NOT NULL,
    http_status      integer,
    duration_ms      integer NOT NULL,
    error            text,
    response_excerpt text
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, attempt_id);

-- Once per INSERT statement on events: queue the events some active webhook wants, and wake
-- the workers (NOTIFY is delivered at commit, and never for a rolled-back transaction).
CREATE FUNCTION events_queue_fanout() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_fanout (event_id)
    SELECT n.event_id FROM new_events n
     WHERE EXISTS (SELECT 1 FROM webhooks w
                    WHERE w.merchant_id = n.merchant_id AND w.is_active AND n.topic = ANY (w.topics));
    IF FOUND THEN
        PERFORM pg_notify('rpcf_webhooks', '');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER events_queue_fanout AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION events_queue_fanout();

-- step 5: rate limits per API user, login throttling
-- A user's own limits; NULL means the server's (--rate-limit, --rate-burst,
-- --concurrency-limit) and 0 turns that limit off for the user.
ALTER TABLE api_users
    ADD COLUMN rate_limit        double precision CHECK (rate_limit >= 0),
    ADD COLUMN rate_burst        integer CHECK (rate_burst >= 1),
    ADD COLUMN concurrency_limit integer CHECK (concurrency_limit >= 0);

-- One token bucket per API user, shared by every server process. UNLOGGED: no WAL for a row
-- rewritten on every call (after a crash of PostgreSQL itself the table is empty: every
-- bucket full again). in_flight holds the backend pid of the connection running each call in
-- progress (a connection runs one call at a time); the pid of a connection that died with its
-- server process is pruned when the user reaches the limit.
CREATE UNLOGGED TABLE rate_buckets (
    api_user_id bigint PRIMARY KEY,
    tokens      double precision NOT NULL,
    refilled_at timestamptz NOT NULL,
    in_flight   integer[] NOT NULL DEFAULT '{}'
) WITH (fillfactor = 50);

-- Admit one call costing p_cost tokens: refill the bucket for the time since its last use,
-- then take a concurrency slot and the tokens, or refuse ('concurrency' is checked before
-- 'rate'; a refused call takes nothing). p_rate <= 0 or p_concurrency <= 0: no such limit.
-- The row lock orders the calls of one user across all processes; it is held for the one
-- statement that calls this function. A call costing more than the burst is admitted with a
-- full bucket and leaves it in debt.
CREATE FUNCTION rpcf_admit(p_user bigint, p_rate double precision, p_burst double precision,
                           p_concurrency integer, p_cost double precision,
                           OUT refused text, OUT tokens double precision, OUT in_flight integer,
                           OUT slot integer)
LANGUAGE plpgsql AS $$
DECLARE
    v_tokens double precision;
    v_at     timestamptz;
    v_flight integer[];
    v_now    timestamptz;
    v_pruned boolean := false;
BEGIN
    IF p_rate <= 0 AND p_concurrency <= 0 THEN
        RETURN;
    END IF;
    SELECT b.tokens, b.refilled_at, b.in_flight INTO v_tokens, v_at, v_flight
      FROM rate_buckets b WHERE b.api_user_id = p_user FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO rate_buckets (api_user_id, tokens, refilled_at)
        VALUES (p_user, greatest(p_burst, 0), clock_timestamp())
        ON CONFLICT (api_user_id) DO NOTHING;
        SELECT b.tokens, b.refilled_at, b.in_flight INTO v_tokens, v_at, v_flight
          FROM rate_buckets b WHERE b.api_user_id = p_user FOR UPDATE;
    END IF;
    v_now := clock_timestamp();  -- after the lock: time spent waiting for it counts as refill
    IF p_rate > 0 THEN
        v_tokens := least(p_burst, v_tokens + p_rate * greatest(0, extract(epoch FROM v_now - v_at)));
    END IF;
    IF p_concurrency > 0 AND cardinality(v_flight) >= p_concurrency THEN
        v_flight := ARRAY(SELECT f FROM unnest(v_flight) f WHERE f IN (SELECT pid FROM pg_stat_activity));
        v_pruned := true;
    END IF;
    IF p_concurrency > 0 AND cardinality(v_flight) >= p_concurrency THEN
        refused := 'concurrency';
    ELSIF p_rate > 0 AND v_tokens < least(p_cost, p_burst) THEN
        refused := 'rate';
    ELSE
        IF p_rate > 0 THEN
            v_tokens := v_tokens - p_cost;
        END IF;
        IF p_concurrency > 0 THEN
            slot := pg_backend_pid();
            v_flight := v_flight || slot;
        END IF;
    END IF;
    IF refused IS NULL OR v_pruned THEN
        UPDATE rate_buckets b
           SET tokens = CASE WHEN p_rate > 0 AND refused IS NULL THEN v_tokens ELSE b.tokens END,
               refilled_at = CASE WHEN p_rate > 0 AND refused IS NULL THEN v_now ELSE b.refilled_at END,
               in_flight = v_flight
         WHERE b.api_user_id = p_user;
    END IF;
    tokens := CASE WHEN p_rate > 0 THEN v_tokens END;
    in_flight := cardinality(v_flight);
END $$;

-- Failed logins per username (known or not, so that the delay tells nothing about which
-- usernames exist). UNLOGGED: a crash of PostgreSQL forgets them, which only resets delays.
CREATE UNLOGGED TABLE login_failures (
    username        text PRIMARY KEY,
    failures        integer NOT NULL,
    first_failed_at timestamptz NOT NULL,
    last_failed_at  timestamptz NOT NULL
);

-- step 6: concurrency slots as advisory locks; the bucket charged by one UPDATE
-- Step 5 kept the calls in flight in rate_buckets.in_flight: with the bucket, three writes of
-- one hot row per call, and a dead server's slots waited for the next call at the limit. A slot
-- is now a session-level advisory lock taken by the connection that runs the call: given back
-- when the call ends, and by PostgreSQL itself when that connection dies.
DROP FUNCTION rpcf_admit(bigint, double precision, double precision, integer, double precision);
ALTER TABLE rate_buckets DROP COLUMN in_flight, ADD COLUMN charged boolean NOT NULL DEFAULT true;

-- The advisory lock key of slot n (0 to 4095) of an API user: 0x7270 ('rp') in the top 16 bits,
-- the user in the next 36.
CREATE FUNCTION rpcf_slot_key(p_user bigint, p_slot integer) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT (29296::bigint << 48) | ((p_user & 68719476735) << 12) | p_slot $$;

-- Tokens in a bucket at p_now (never before its last refill: a call that waited for the row
-- lock gets no refill for the wait, and the next call does).
CREATE FUNCTION rpcf_refill(p_tokens double precision, p_at timestamptz, p_now timestamptz,
                            p_rate double precision, p_burst double precision) RETURNS double precision
LANGUAGE sql IMMUTABLE AS $$
    SELECT least(p_burst, p_tokens + p_rate * extract(epoch FROM greatest(p_at, p_now) - p_at)::double precision)
$$;

-- Admit one call costing p_cost tokens: take a free slot (with p_concurrency > 0), then the
-- tokens (with p_rate > 0), or refuse ('concurrency' before 'rate'; a refused call keeps
-- nothing). in_flight is the user's calls running in every process as the slot search saw
-- them: the slot taken + 1 (exact at the limit). A call costing more than the burst is
-- admitted with a full bucket and leaves it in debt.
CREATE FUNCTION rpcf_admit(p_user bigint, p_rate double precision, p_burst double precision,
                           p_concurrency integer, p_cost double precision,
                           OUT refused text, OUT tokens double precision, OUT in_flight integer,
                           OUT slot bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_base    bigint := rpcf_slot_key(p_user, 0);
    v_slots   integer := least(p_concurrency, 4096);
    v_need    double precision := least(p_cost, p_burst);
    v_now     timestamptz := clock_timestamp();
    v_charged boolean;
BEGIN
    IF v_slots > 0 THEN
        FOR n IN 0 .. v_slots - 1 LOOP
            IF pg_try_advisory_lock(v_base + n) THEN
                slot := v_base + n;
                EXIT;
            END IF;
        END LOOP;
        IF slot IS NULL THEN
            refused := 'concurrency';
        END IF;
    END IF;
    IF p_rate > 0 AND refused IS NULL THEN
        LOOP
            UPDATE rate_buckets b
               SET charged = rpcf_refill(b.tokens, b.refilled_at, v_now, p_rate, p_burst) >= v_need,
                   tokens = rpcf_refill(b.tokens, b.refilled_at, v_now, p_rate, p_burst)
                            - CASE WHEN rpcf_refill(b.tokens, b.refilled_at, v_now, p_rate, p_burst) >= v_need
                                   THEN p_cost ELSE 0 END,
                   refilled_at = greatest(b.refilled_at, v_now)
             WHERE b.api_user_id = p_user
            RETURNING b.tokens, b.charged INTO tokens, v_charged;
            EXIT WHEN FOUND;
            INSERT INTO rate_buckets (api_user_id, tokens, refilled_at)
            VALUES (p_user, greatest(p_burst, 0), v_now)
            ON CONFLICT (api_user_id) DO NOTHING;
        END LOOP;
        IF NOT v_charged THEN
            refused := 'rate';
            PERFORM pg_advisory_unlock(slot) WHERE slot IS NOT NULL;
            slot := NULL;
        END IF;
    ELSIF p_rate > 0 THEN
        SELECT rpcf_refill(b.tokens, b.refilled_at, v_now, p_rate, p_burst) INTO tokens
          FROM rate_buckets b WHERE b.api_user_id = p_user;
    END IF;
    IF v_slots > 0 THEN
        -- Slots are taken lowest first: all below this call's were busy. (Counting in pg_locks
        -- would be exact but reads the whole lock table under its partition locks: far too
        -- dear per call.)
        in_flight := CASE WHEN slot IS NOT NULL THEN slot - v_base + 1 ELSE v_slots END;
    END IF;
END $$;

-- step 7: order.search at a million orders: order_ref prefixes through an index
-- The default collation is not C, so a plain btree cannot serve LIKE 'prefix%'; the pattern
-- operator class serves both the prefix search and the equality of the order_ref check.
DROP INDEX orders_order_ref;
CREATE INDEX orders_order_ref ON orders (merchant_id, order_ref text_pattern_ops, created_at);

-- step 8: order statistics per merchant and status together
-- Without them the planner multiplies the share of a merchant's orders by the share of a status
-- among all orders, as if the two were independent; where one merchant has most of the new
-- orders and another most of the complete ones, a search of 16,000 new orders was estimated at
-- 100,000 and given the plan for a broad filter (300 ms instead of 8; store/order_search.py).
CREATE STATISTICS orders_merchant_status (mcv) ON merchant_id, status FROM orders;
CREATE STATISTICS orders_merchant_state (mcv) ON merchant_id, state FROM orders;

-- step 9: order weights without a bound of their own
-- An order weighs the sum of its lines: a product's weight (up to 99,999,999.9999) times its
-- quantity (up to 1,000,000), over as many lines as RPCF_MAX_ORDER_ITEMS allows, converted to
-- the order's unit. numeric(12, 4) refused a heavy order at the INSERT (fault 1, and a whole
-- bulk lost); the domain rounds to 4 places. Dropping the precision does not rewrite the table.
ALTER TABLE orders ALTER COLUMN weight TYPE numeric;
