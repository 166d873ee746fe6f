-- concurrency slots as advisory locks; the bucket charged by one UPDATE
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
