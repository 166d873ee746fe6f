-- rate limits per API user, login throttling
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
