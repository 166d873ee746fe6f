-- Login failures per (username, address); X-Concurrency-Current of a call refused by the rate
-- Failures were counted per username and every attempt of a counted username waited before its
-- key was checked, so anyone who knew a username could slow its owner down. They are now
-- counted per username and source address, and only wrong attempts wait (accounts/auth.py).
-- The table is UNLOGGED and holds nothing but delays: it is made anew, forgetting the counts
-- in progress, as a restart of PostgreSQL after a crash would.
DROP TABLE login_failures;
CREATE UNLOGGED TABLE login_failures (
    username        text NOT NULL,
    address         text NOT NULL,  -- the peer's address as the server saw it; '' when unknown
    failures        integer NOT NULL,
    first_failed_at timestamptz NOT NULL,
    last_failed_at  timestamptz NOT NULL,
    PRIMARY KEY (username, address)
);

-- rpcf_admit as in 0006, except in_flight of a call refused by the rate: it reported the
-- concurrency limit (as if every slot were busy) where it now reports the calls running.
CREATE OR REPLACE FUNCTION rpcf_admit(p_user bigint, p_rate double precision, p_burst double precision,
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
    v_found   integer;
BEGIN
    IF v_slots > 0 THEN
        FOR n IN 0 .. v_slots - 1 LOOP
            IF pg_try_advisory_lock(v_base + n) THEN
                slot := v_base + n;
                v_found := n;
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
        -- Slots are taken lowest first: all below the one this call found were busy. (Counting
        -- in pg_locks would be exact but reads the whole lock table under its partition locks:
        -- far too dear per call.) A call refused by the rate does not run: not counted.
        in_flight := CASE WHEN refused = 'concurrency' THEN v_slots
                          WHEN refused = 'rate' THEN v_found
                          ELSE v_found + 1 END;
    END IF;
END $$;
