-- products, stock, stock movements, orders, items, allocations, status history, events
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
