-- the fulfillment engine: store backorder policy, shipments, packages, tracking
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
