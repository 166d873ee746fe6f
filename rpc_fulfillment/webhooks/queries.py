"""Webhooks, their deliveries and attempts, the fan-out of events, and the event feed (SQL).

Fan-out: the ``events_queue_fanout`` trigger (schema step 4) puts every event that an active
webhook of its merchant wants into ``event_fanout``, in the event's own transaction. The
worker fans the queue out in batches, one batch at a time across all processes (an advisory
lock), in the order events were written (``events.seq``; event_ids are not ordered), giving
each webhook its next increment ids. Nothing else ever
writes ``webhooks.last_increment_id`` without holding the webhook's row lock, so the ids are
1, 2, 3... with no gap and no repeat.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Sequence

import asyncpg

from rpc_fulfillment.core.filters import Condition, Page
from rpc_fulfillment.db.search import Column, WhereBuilder, fetch_page

CHANNEL = "rpcf_webhooks"
# pg_try_advisory_xact_lock key: one fan-out at a time in the whole installation.
FANOUT_LOCK = 0x72706377
# pg_advisory_xact_lock(CREATE_LOCK, merchant): one webhook.create at a time per merchant.
CREATE_LOCK = 0x72706378
# pg_try_advisory_lock key: one retention run at a time in the whole installation.
RETENTION_LOCK = 0x72706379

_WEBHOOK_COLUMNS = "webhook_id, merchant_id, url, topics, is_active, extra_headers, secret_key, last_increment_id, created_at"


# --------------------------------------------------------------------------- configuration


async def lock_merchant_webhooks(conn: asyncpg.Connection, merchant_id: int) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", CREATE_LOCK, merchant_id % 2**31)


async def count_webhooks(conn: asyncpg.Connection, merchant_id: int) -> int:
    return await conn.fetchval("SELECT count(*) FROM webhooks WHERE merchant_id = $1", merchant_id)


async def insert_webhook(
    conn: asyncpg.Connection, merchant_id: int, url: str, topics: list[str], is_active: bool, extra_headers: str, secret_key: str
) -> int:
    return await conn.fetchval(
        """INSERT INTO webhooks (merchant_id, url, topics, is_active, extra_headers, secret_key)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING webhook_id""",
        merchant_id, url, topics, is_active, extra_headers, secret_key,
    )


async def list_webhooks(conn: asyncpg.Connection, merchant_id: int) -> list[asyncpg.Record]:
    """Oldest first (webhook ids are not ordered by time)."""
    return await conn.fetch(
        f"SELECT {_WEBHOOK_COLUMNS} FROM webhooks WHERE merchant_id = $1 ORDER BY created_at, webhook_id", merchant_id
    )


async def find_webhook(conn: asyncpg.Connection, merchant_id: int, webhook_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_WEBHOOK_COLUMNS} FROM webhooks WHERE merchant_id = $1 AND webhook_id = $2", merchant_id, webhook_id
    )


async def set_active(conn: asyncpg.Connection, merchant_id: int, is_active: bool, webhook_id: int | None,
                     topic: str | None) -> list[asyncpg.Record]:
    """Sets the status of the merchant's webhook ``webhook_id``, of those subscribed to
    ``topic``, or (neither given) of all of them; returns each one's webhook_id and url. Wakes
    the workers: pending deliveries of a webhook made active again are due."""
    rows = await conn.fetch(
        """UPDATE webhooks SET is_active = $2, updated_at = now()
           WHERE merchant_id = $1 AND ($3::bigint IS NULL OR webhook_id = $3) AND ($4::text IS NULL OR $4 = ANY (topics))
           RETURNING webhook_id, url""",
        merchant_id, is_active, webhook_id, topic,
    )
    if rows and is_active:
        await notify(conn)
    return rows


async def delete_webhook(conn: asyncpg.Connection, merchant_id: int, webhook_id: int) -> bool:
    """Deletes the webhook with its deliveries and their attempts."""
    status = await conn.execute("DELETE FROM webhooks WHERE merchant_id = $1 AND webhook_id = $2", merchant_id, webhook_id)
    return status == "DELETE 1"


async def notify(conn: asyncpg.Connection) -> None:
    """Wake every worker (delivered when the transaction commits)."""
    await conn.execute("SELECT pg_notify($1, '')", CHANNEL)


# --------------------------------------------------------------------------- fan-out

_FAN_OUT = """
WITH batch AS (
    DELETE FROM event_fanout
     WHERE event_id IN (SELECT f.event_id FROM event_fanout f JOIN events e USING (event_id)
                         ORDER BY e.seq LIMIT $1 FOR UPDATE OF f SKIP LOCKED)
    RETURNING event_id
),
matches AS (
    SELECT w.webhook_id, e.merchant_id, e.event_id, e.seq, e.topic,
           row_number() OVER (PARTITION BY w.webhook_id ORDER BY e.seq) AS n
      FROM batch b
      JOIN events e ON e.event_id = b.event_id
      JOIN webhooks w ON w.merchant_id = e.merchant_id AND w.is_active AND e.topic = ANY (w.topics)
),
counts AS (
    SELECT webhook_id, count(*) AS n FROM matches GROUP BY webhook_id
),
bumped AS (
    UPDATE webhooks w SET last_increment_id = w.last_increment_id + c.n
      FROM counts c
     WHERE w.webhook_id = c.webhook_id
    RETURNING w.webhook_id, w.last_increment_id - c.n AS base
),
inserted AS (
    INSERT INTO webhook_deliveries (webhook_id, merchant_id, event_id, topic, webhook_increment_id)
    SELECT m.webhook_id, m.merchant_id, m.event_id, m.topic, b.base + m.n
      FROM matches m JOIN bumped b ON b.webhook_id = m.webhook_id
     ORDER BY m.seq, m.webhook_id
    RETURNING 1
)
SELECT (SELECT count(*) FROM batch) AS events, (SELECT count(*) FROM inserted) AS deliveries
"""


async def fan_out(conn: asyncpg.Connection, batch: int) -> tuple[int, int] | None:
    """Turn up to ``batch`` queued events into deliveries, in one transaction: (events taken
    from the queue, deliveries created), or None when another fan-out is running."""
    async with conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", FANOUT_LOCK):
            return None
        row = await conn.fetchrow(_FAN_OUT, batch)
        if row["deliveries"]:
            await notify(conn)
        return row["events"], row["deliveries"]


# --------------------------------------------------------------------------- delivery

# pg_advisory_lock(CLAIM_LOCK, token): held by each worker for as long as it lives (the class
# key's top 16 bits are not 0x7270, the concurrency slots' keys).
CLAIM_LOCK = 0x77686B77
# pg_advisory_xact_lock key: one claim at a time in the whole installation, so that each sees
# every other's claims and the caps hold across workers (a claim is one short statement).
CLAIMING_LOCK = 0x7270637A
FAILING_WEBHOOK_IN_FLIGHT = 1  # a webhook with a delivery waiting for a retry: one probe at a time

_CLAIM = """
WITH live AS (  -- the tokens of the workers alive now
    SELECT objid::bigint::int AS token FROM pg_locks
     WHERE locktype = 'advisory' AND granted AND classid = $3::bigint::oid AND objsubid = 2
       AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
),
in_flight AS (
    SELECT d.webhook_id, d.merchant_id FROM webhook_deliveries d
     WHERE d.claimed_by IN (SELECT token FROM live) AND d.status = 'pending'
),
due AS (
    SELECT d.delivery_id, d.seq, d.webhook_id, d.merchant_id, d.next_attempt_at,
           row_number() OVER (PARTITION BY d.webhook_id ORDER BY d.next_attempt_at, d.seq) AS webhook_rank
      FROM webhook_deliveries d JOIN webhooks w ON w.webhook_id = d.webhook_id
     WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND (w.is_active OR d.event_id IS NULL)
       AND (d.claimed_by IS NULL OR d.claimed_by NOT IN (SELECT token FROM live))
),
webhook_room AS (  -- how many more deliveries of each webhook may go now
    SELECT h.webhook_id,
           CASE WHEN EXISTS (SELECT 1 FROM webhook_deliveries f
                              WHERE f.webhook_id = h.webhook_id AND f.status = 'pending' AND f.round_attempts > 0)
                THEN $5::int ELSE $4::int END
           - (SELECT count(*) FROM in_flight i WHERE i.webhook_id = h.webhook_id) AS room
      FROM (SELECT DISTINCT webhook_id FROM due) h
),
within_webhook AS (
    SELECT due.*, row_number() OVER (PARTITION BY due.merchant_id
                                     ORDER BY due.webhook_rank, due.next_attempt_at, due.seq) AS merchant_rank
      FROM due JOIN webhook_room r ON r.webhook_id = due.webhook_id
     WHERE due.webhook_rank <= r.room
),
chosen AS (  -- round robin: every merchant's first, then every merchant's second...
    SELECT c.delivery_id FROM within_webhook c
     WHERE c.merchant_rank <= $4::int - (SELECT count(*) FROM in_flight i WHERE i.merchant_id = c.merchant_id)
     ORDER BY c.merchant_rank, c.next_attempt_at, c.seq
     LIMIT $1
),
claimed AS (
    UPDATE webhook_deliveries d SET claimed_by = $2
      FROM (SELECT delivery_id FROM webhook_deliveries WHERE delivery_id IN (SELECT delivery_id FROM chosen)
             FOR UPDATE SKIP LOCKED) l
     WHERE d.delivery_id = l.delivery_id
    RETURNING d.delivery_id, d.seq, d.webhook_id, d.merchant_id, d.event_id, d.topic, d.webhook_increment_id,
              d.round_attempts, d.created_at, d.next_attempt_at
)
SELECT c.delivery_id, c.webhook_id, c.merchant_id, c.event_id, c.topic, c.webhook_increment_id, c.round_attempts,
       w.url, w.secret_key, w.extra_headers, m.code AS merchant_code,
       e.message, coalesce(e.created_at, c.created_at) AS event_created_at
  FROM claimed c
  JOIN webhooks w ON w.webhook_id = c.webhook_id
  JOIN merchants m ON m.merchant_id = c.merchant_id
  LEFT JOIN events e ON e.event_id = c.event_id
 ORDER BY c.next_attempt_at, c.seq
"""


async def take_claim_token(conn: asyncpg.Connection) -> int:
    """A new worker token, its advisory lock held by ``conn``'s session: the worker's claims
    count as in flight while this connection lives, and are free again as soon as it ends."""
    token = await conn.fetchval("SELECT nextval('webhook_worker_token')::int")
    await conn.execute("SELECT pg_advisory_lock($1, $2)", CLAIM_LOCK, token)
    return token


async def claim_due(conn: asyncpg.Connection, token: int, limit: int, merchant_in_flight: int) -> list[asyncpg.Record]:
    """Claim up to ``limit`` due deliveries for the worker holding ``token``, fairly: at most
    ``merchant_in_flight`` deliveries of one merchant in flight in the whole installation (the
    same for one webhook, and FAILING_WEBHOOK_IN_FLIGHT for a webhook with a delivery waiting
    for a retry), taken round robin over merchants, and over each merchant's webhooks, oldest
    first. The claim is committed when this returns."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", CLAIMING_LOCK)
        return await conn.fetch(_CLAIM, limit, token, CLAIM_LOCK, merchant_in_flight, FAILING_WEBHOOK_IN_FLIGHT)


@dataclass(frozen=True)
class Attempt:
    delivery_id: int
    merchant_id: int
    attempted_at: datetime
    http_status: int | None
    duration_ms: int
    error: str | None
    excerpt: str | None
    status: str  # the delivery's status after it: delivered, pending (retry) or failed
    delay: float | None  # seconds until the retry when pending


# The statement's parameters, one array each, in this order ($1 the delivery_id...), then the
# claiming worker's token.
ATTEMPT_FIELDS = tuple(field.name for field in fields(Attempt))
_RECORD = """
WITH outcome AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::int[], $5::int[], $6::text[], $7::text[],
                         $8::text[], $9::float8[])
        AS u(delivery_id, merchant_id, attempted_at, http_status, duration_ms, error, excerpt, status, delay)
),
locked AS (  -- a delivery deleted meanwhile (webhook.delete) is gone from here
    SELECT delivery_id, claimed_by FROM webhook_deliveries WHERE delivery_id IN (SELECT delivery_id FROM outcome)
     ORDER BY delivery_id FOR UPDATE
),
changed AS (  -- only while the claim is still ours (a replay or a worker taking over ends it)
    UPDATE webhook_deliveries d
       SET attempts = d.attempts + 1,
           round_attempts = d.round_attempts + 1,
           status = o.status,
           next_attempt_at = CASE WHEN o.status = 'pending' THEN clock_timestamp() + make_interval(secs => o.delay) END,
           last_attempt_at = o.attempted_at,
           delivered_at = CASE WHEN o.status = 'delivered' THEN clock_timestamp() ELSE d.delivered_at END,
           last_http_status = o.http_status,
           last_error = o.error,
           claimed_by = NULL
      FROM outcome o JOIN locked l ON l.delivery_id = o.delivery_id
     WHERE d.delivery_id = o.delivery_id AND l.claimed_by = $10
    RETURNING d.delivery_id
)
INSERT INTO webhook_attempts (delivery_id, merchant_id, attempted_at, http_status, duration_ms, error, response_excerpt)
SELECT o.delivery_id, o.merchant_id, o.attempted_at, o.http_status, o.duration_ms, o.error, o.excerpt
  FROM outcome o JOIN locked l ON l.delivery_id = o.delivery_id
"""


async def record_attempts(conn: asyncpg.Connection, token: int, attempts: Sequence[Attempt]) -> None:
    """Log the attempts, and set each delivery's outcome where the claim of ``token`` still holds."""
    await conn.execute(_RECORD, *[[getattr(attempt, name) for attempt in attempts] for name in ATTEMPT_FIELDS], token)


async def release_claims(conn: asyncpg.Connection, token: int, delivery_ids: Sequence[int]) -> None:
    """End the claims of ``token`` on these deliveries, without an attempt (their sends were
    cancelled): due again at once."""
    await conn.execute(
        "UPDATE webhook_deliveries SET claimed_by = NULL WHERE delivery_id = ANY ($2::bigint[]) AND claimed_by = $1",
        token, list(delivery_ids),
    )


async def seconds_until_next_due(conn: asyncpg.Connection) -> float | None:
    """Seconds until the earliest retry that is not due yet (None: no retry waiting)."""
    return await conn.fetchval(
        """SELECT extract(epoch FROM min(d.next_attempt_at) - now())::float8
             FROM webhook_deliveries d JOIN webhooks w ON w.webhook_id = d.webhook_id
            WHERE d.status = 'pending' AND d.next_attempt_at > now() AND (w.is_active OR d.event_id IS NULL)"""
    )


# --------------------------------------------------------------------------- the delivery log

DELIVERY_COLUMNS: dict[str, Column] = {
    "delivery_id": Column("d.delivery_id"),
    "event_id": Column("d.event_id"),
    "topic": Column("d.topic"),
    "webhook_increment_id": Column("d.webhook_increment_id"),
    "status": Column("d.status"),
    "attempt_count": Column("d.attempts"),
    "last_http_status": Column("d.last_http_status"),
    "created_at": Column("d.created_at"),
    "next_attempt_at": Column("d.next_attempt_at"),
    "last_attempt_at": Column("d.last_attempt_at"),
    "delivered_at": Column("d.delivered_at"),
}


async def search_deliveries(
    conn: asyncpg.Connection, merchant_id: int, webhook_id: int, conditions: Sequence[Condition], page: Page
) -> tuple[list[asyncpg.Record], int]:
    where = WhereBuilder([merchant_id, webhook_id])
    where.add("d.merchant_id = $1 AND d.webhook_id = $2")
    where.add_conditions(conditions, DELIVERY_COLUMNS)
    return await fetch_page(
        conn,
        "webhook_deliveries d",
        "d.delivery_id, d.webhook_id, d.event_id, d.topic, d.webhook_increment_id, d.status, d.attempts, "
        "d.created_at, d.last_attempt_at, d.next_attempt_at, d.delivered_at, d.last_http_status, d.last_error",
        where,
        page,
        DELIVERY_COLUMNS,
        "d.delivery_id",
    )


async def attempts_of(conn: asyncpg.Connection, delivery_ids: list[int]) -> dict[int, list[asyncpg.Record]]:
    rows = await conn.fetch(
        """SELECT delivery_id, attempted_at, http_status, duration_ms, error
             FROM webhook_attempts WHERE delivery_id = ANY ($1::bigint[]) ORDER BY delivery_id, attempt_id""",
        delivery_ids,
    )
    found: dict[int, list[asyncpg.Record]] = {}
    for row in rows:
        found.setdefault(row["delivery_id"], []).append(row)
    return found


# --------------------------------------------------------------------------- replay and test


async def find_event(conn: asyncpg.Connection, merchant_id: int, event_id: int) -> asyncpg.Record | None:
    """The event, share-locked until the transaction ends: retention (prune_events) skips it
    meanwhile, so a delivery written for it cannot lose its event."""
    return await conn.fetchrow(
        "SELECT event_id, topic, created_at FROM events WHERE merchant_id = $1 AND event_id = $2 FOR KEY SHARE",
        merchant_id, event_id,
    )


async def pause_fan_out(conn: asyncpg.Connection) -> None:
    """Wait for a running fan-out and keep others out until this transaction ends. Replay
    takes this first: it then sees each event either still queued or fanned out, and the
    webhook rows it locks cannot deadlock with a fan-out's."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", FANOUT_LOCK)


async def awaiting_fan_out(conn: asyncpg.Connection, event_id: int) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM event_fanout WHERE event_id = $1", event_id))


async def lock_webhooks(conn: asyncpg.Connection, merchant_id: int, webhook_id: int | None) -> list[asyncpg.Record]:
    """The merchant's webhooks (or one), row-locked in id order: replay takes increment ids the
    same way fan-out does."""
    return await conn.fetch(
        f"""SELECT {_WEBHOOK_COLUMNS} FROM webhooks
             WHERE merchant_id = $1 AND ($2::bigint IS NULL OR webhook_id = $2)
             ORDER BY webhook_id FOR UPDATE""",
        merchant_id, webhook_id,
    )


async def requeue_or_add(conn: asyncpg.Connection, merchant_id: int, webhook_id: int, event: asyncpg.Record) -> asyncpg.Record:
    """Queue ``event`` for ``webhook_id`` again (the webhook row already locked): its delivery,
    if it had one, becomes due now with a fresh retry schedule and keeps its increment id (if
    a worker is sending it right now, the claim ends: that attempt is logged but its outcome
    does not count, and the delivery is sent again); otherwise a new delivery takes the
    webhook's next increment id."""
    row = await conn.fetchrow(
        """UPDATE webhook_deliveries
              SET status = 'pending', next_attempt_at = now(), round_attempts = 0, claimed_by = NULL
            WHERE webhook_id = $1 AND event_id = $2
        RETURNING delivery_id, webhook_id, webhook_increment_id""",
        webhook_id, event["event_id"],
    )
    if row is not None:
        return row
    return await conn.fetchrow(
        """WITH bumped AS (
               UPDATE webhooks SET last_increment_id = last_increment_id + 1 WHERE webhook_id = $1
               RETURNING last_increment_id)
           INSERT INTO webhook_deliveries (webhook_id, merchant_id, event_id, topic, webhook_increment_id)
           SELECT $1, $2, $3, $4, last_increment_id FROM bumped
           RETURNING delivery_id, webhook_id, webhook_increment_id""",
        webhook_id, merchant_id, event["event_id"], event["topic"],
    )


async def add_test_delivery(conn: asyncpg.Connection, merchant_id: int, webhook_id: int, topic: str) -> int:
    delivery_id = await conn.fetchval(
        """INSERT INTO webhook_deliveries (webhook_id, merchant_id, topic) VALUES ($1, $2, $3) RETURNING delivery_id""",
        webhook_id, merchant_id, topic,
    )
    await notify(conn)
    return delivery_id


async def delivery_outcome(conn: asyncpg.Connection, delivery_id: int) -> asyncpg.Record | None:
    """The delivery's status with its last attempt (NULLs before the first)."""
    return await conn.fetchrow(
        """SELECT d.status, a.http_status, a.duration_ms, a.error, a.attempted_at
             FROM webhook_deliveries d
             LEFT JOIN LATERAL (SELECT * FROM webhook_attempts a WHERE a.delivery_id = d.delivery_id
                                 ORDER BY attempt_id DESC LIMIT 1) a ON true
            WHERE d.delivery_id = $1""",
        delivery_id,
    )


async def give_up_test(conn: asyncpg.Connection, delivery_id: int, reason: str) -> None:
    """A test:ping no worker took in time is not sent later."""
    await conn.execute(
        """UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, last_error = $2
            WHERE delivery_id = $1 AND status = 'pending'""",
        delivery_id, reason,
    )


# --------------------------------------------------------------------------- the event feed


async def list_events(conn: asyncpg.Connection, merchant_id: int, after_id: int, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT event_id, topic, message, created_at FROM events
            WHERE merchant_id = $1 AND seq > rpcf_id_position($2) ORDER BY seq LIMIT $3""",
        merchant_id, after_id, limit,
    )


# --------------------------------------------------------------------------- retention
#
# Delivered and failed deliveries whose last attempt (or creation, if never tried) is older
# than the cutoff go with their attempts; then events older than the cutoff that no delivery
# refers to and that are not waiting for fan-out. Pending deliveries are never touched, and
# their events stay. Each statement walks the next ``limit`` rows in key order from ``after``
# (``seq``, which grows with created_at, so the walk can stop at the first row newer than the cutoff) and
# deletes at most ``limit`` rows, locking them with SKIP LOCKED: a delivery a worker or a
# replay holds is left for the next run, and nothing waits long on the statement.

_PRUNE_DELIVERIES = """
WITH scan AS (
    SELECT seq, created_at FROM webhook_deliveries WHERE seq > $1 ORDER BY seq LIMIT $3
),
doomed AS (
    SELECT d.delivery_id, d.seq, d.attempts FROM webhook_deliveries d
     WHERE d.seq IN (SELECT seq FROM scan)
       AND d.status <> 'pending' AND coalesce(d.last_attempt_at, d.created_at) < $2
     FOR UPDATE SKIP LOCKED
),
chosen AS (  -- deliveries and their attempts: at most $3 rows (at least one delivery)
    SELECT delivery_id, seq FROM (SELECT delivery_id, seq, sum(attempts + 1) OVER (ORDER BY seq) AS rows_so_far FROM doomed) r
     WHERE rows_so_far <= $3 OR seq = (SELECT min(seq) FROM doomed)
),
attempts_gone AS (
    DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT delivery_id FROM chosen) RETURNING 1
),
deliveries_gone AS (
    DELETE FROM webhook_deliveries WHERE delivery_id IN (SELECT delivery_id FROM chosen) RETURNING 1
)
SELECT (SELECT count(*) FROM deliveries_gone) AS deliveries,
       (SELECT count(*) FROM attempts_gone) AS attempts,
       (SELECT count(*) FROM chosen) < (SELECT count(*) FROM doomed) AS cut_short,
       (SELECT max(seq) FROM chosen) AS last_chosen,
       (SELECT max(seq) FROM scan) AS last,
       (SELECT count(*) FROM scan) < $3 OR (SELECT coalesce(bool_or(created_at >= $2), false) FROM scan) AS at_end
"""

_PRUNE_EVENTS = """
WITH scan AS (
    SELECT seq, created_at FROM events WHERE seq > $1 ORDER BY seq LIMIT $3
),
doomed AS (
    SELECT e.event_id FROM events e
     WHERE e.seq IN (SELECT seq FROM scan) AND e.created_at < $2
       AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.event_id)
       AND NOT EXISTS (SELECT 1 FROM event_fanout f WHERE f.event_id = e.event_id)
     FOR UPDATE SKIP LOCKED
),
gone AS (
    DELETE FROM events WHERE event_id IN (SELECT event_id FROM doomed) RETURNING 1
)
SELECT (SELECT count(*) FROM gone) AS events,
       (SELECT max(seq) FROM scan) AS last,
       (SELECT count(*) FROM scan) < $3 OR (SELECT coalesce(bool_or(created_at >= $2), false) FROM scan) AS at_end
"""


async def try_retention_lock(conn: asyncpg.Connection) -> bool:
    """Take the installation's retention lock for this connection's session (it ends with the
    connection if the process dies); False when another process holds it."""
    return await conn.fetchval("SELECT pg_try_advisory_lock($1)", RETENTION_LOCK)


async def release_retention_lock(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1)", RETENTION_LOCK)


async def retention_cutoff(conn: asyncpg.Connection, days: int) -> datetime:
    return await conn.fetchval("SELECT now() - make_interval(days => $1)", days)


@dataclass(frozen=True)
class PruneStep:
    deleted: int  # deliveries or events
    attempts: int
    after: int | None  # where the next statement starts; None: done


async def prune_deliveries(conn: asyncpg.Connection, after: int, cutoff: datetime, limit: int) -> PruneStep:
    """One statement: delete finished deliveries older than ``cutoff`` with their attempts,
    at most ``limit`` rows in all, among the ``limit`` deliveries after ``after``."""
    row = await conn.fetchrow(_PRUNE_DELIVERIES, after, cutoff, limit)
    if row["cut_short"]:
        following = row["last_chosen"]  # the rest of this stretch in the next statement
    else:
        following = None if row["at_end"] else row["last"]
    return PruneStep(row["deliveries"], row["attempts"], following)


async def prune_events(conn: asyncpg.Connection, after: int, cutoff: datetime, limit: int) -> PruneStep:
    """One statement: delete up to ``limit`` events older than ``cutoff`` that no delivery
    refers to and no fan-out waits for, among the ``limit`` events after ``after``."""
    row = await conn.fetchrow(_PRUNE_EVENTS, after, cutoff, limit)
    return PruneStep(row["events"], 0, None if row["at_end"] else row["last"])
