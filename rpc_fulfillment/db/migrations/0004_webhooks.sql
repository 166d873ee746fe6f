-- webhooks
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
