-- Fair webhook delivery (workers/webhooks.py): a claim is a committed mark, not a row lock held
-- while POSTing, so that each delivery's outcome is committed on its own.
-- claimed_by: the token of the worker sending the delivery. A worker holds the session-level
-- advisory lock (CLAIM_LOCK, token) while it lives; a claim whose token's lock is not held
-- (the worker died, or its connection did) is free again at once.
ALTER TABLE webhook_deliveries ADD COLUMN claimed_by integer;

CREATE SEQUENCE webhook_worker_token AS integer MINVALUE 1 CYCLE;

-- The deliveries in flight, counted per webhook and per merchant by every claim.
CREATE INDEX webhook_deliveries_claimed ON webhook_deliveries (claimed_by) WHERE claimed_by IS NOT NULL;

-- A webhook with a delivery waiting for a retry is failing: one delivery in flight at a time.
CREATE INDEX webhook_deliveries_failing ON webhook_deliveries (webhook_id) WHERE status = 'pending' AND round_attempts > 0;
