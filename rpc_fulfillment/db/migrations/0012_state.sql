-- state data (state.get / state.set) and the merchant log (log.write)
-- State: a small key-value store per merchant, for an integration's sync times and locks.
-- value is the JSON text of the value as the client sent it (kept as text, not jsonb, so that
-- an object comes back with its keys in the client's order). update_count counts the changes
-- of the value since the key was inserted (0 on insert).
CREATE TABLE state_values (
    merchant_id   bigint NOT NULL REFERENCES merchants,
    state_key     text NOT NULL CHECK (octet_length(state_key) BETWEEN 1 AND 255),
    value         text NOT NULL,
    update_count  integer NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (merchant_id, state_key)
);

-- Log: what an integration writes with log.write; the newest entries per merchant are kept
-- (log.write deletes the older ones, along the index below).
CREATE TABLE merchant_log (
    log_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_id  bigint NOT NULL REFERENCES merchants,
    api_user_id  bigint NOT NULL REFERENCES api_users,
    store_id     bigint REFERENCES stores,
    facility     text CHECK (length(facility) <= 32),
    entity       text CHECK (length(entity) <= 255),
    severity     text NOT NULL CHECK (severity IN ('debug', 'info', 'warn', 'error')),
    message      text NOT NULL CHECK (length(message) BETWEEN 1 AND 255),
    detail       text CHECK (length(detail) <= 2048),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX merchant_log_merchant ON merchant_log (merchant_id, log_id);
