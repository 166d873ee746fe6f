-- merchants, stores, warehouses, API users and sessions
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
