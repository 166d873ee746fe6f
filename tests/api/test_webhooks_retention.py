"""Retention of the webhook history (webhook_retention_days): delivered and failed deliveries
older than the retention go with their attempts, then events no delivery refers to; pending
deliveries and their events stay; 0 keeps everything; statements delete a bounded number of
rows; one process prunes at a time; the housekeeping loop of every server runs it."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from rpc_fulfillment.config import Settings, SettingsError, load_settings
from rpc_fulfillment.webhooks import queries as store
from rpc_fulfillment.db.pool import create_pool
from rpc_fulfillment.workers import webhooks as worker
from rpc_fulfillment.workers.webhooks import Pruned, prune_history
from tests.api.order_helpers import assert_fault, merchant_id
from tests.api.webhook_helpers import wait_until


@pytest.fixture
async def pool(database_url):
    pool = await create_pool(database_url, 2)
    yield pool
    await pool.close()


class History:
    """Rows written straight into the tables, dated as the test says (days ago)."""

    def __init__(self, db, merchant: int, webhook_id: int) -> None:
        self.db, self.merchant, self.webhook_id = db, merchant, webhook_id
        self.increment = 0

    async def event(self, days: float, *, queued: bool = False) -> int:
        """An event ``days`` old; fanned out already unless ``queued``."""
        event_id = await self.db.fetchval(
            """INSERT INTO events (merchant_id, topic, message, created_at)
               VALUES ($1, 'product:created', '{}', now() - make_interval(days => $2)) RETURNING event_id""",
            self.merchant, float(days),
        )
        if not queued:
            await self.db.execute("DELETE FROM event_fanout WHERE event_id = $1", event_id)
        assert await self.db.fetchval("SELECT count(*) FROM event_fanout WHERE event_id = $1", event_id) == int(queued)
        return event_id

    async def delivery(self, event_id: int | None, status: str, days: float, attempts: int) -> int:
        """A delivery created ``days`` ago; its last attempt (if any) then too."""
        self.increment += event_id is not None
        delivery_id = await self.db.fetchval(
            """INSERT INTO webhook_deliveries (webhook_id, merchant_id, event_id, topic, webhook_increment_id, status,
                                               attempts, next_attempt_at, created_at, last_attempt_at, delivered_at)
               SELECT $1, $2, $3, 'product:created', $4, $5, $6, CASE WHEN $5 = 'pending' THEN now() + interval '1 hour' END,
                      t, CASE WHEN $6 > 0 THEN t END, CASE WHEN $5 = 'delivered' THEN t END
                 FROM (SELECT now() - make_interval(days => $7) AS t) t
               RETURNING delivery_id""",
            self.webhook_id, self.merchant, event_id, self.increment if event_id is not None else None, status,
            attempts, float(days),
        )
        await self.db.execute(
            """INSERT INTO webhook_attempts (delivery_id, merchant_id, attempted_at, http_status, duration_ms)
               SELECT $1, $2, now() - make_interval(days => $3), 500, 10 FROM generate_series(1, $4)""",
            delivery_id, self.merchant, float(days), attempts,
        )
        return delivery_id


@pytest.fixture
async def history(db, users) -> History:
    return await new_history(db)


async def new_history(db) -> History:
    """A History of acme's webhook (the ``users`` fixture made acme)."""
    merchant = await merchant_id(db, "acme")
    webhook_id = await db.fetchval(
        """INSERT INTO webhooks (merchant_id, url, topics, secret_key)
           VALUES ($1, 'https://hooks.example.com/h', '{product:created}', 's') RETURNING webhook_id""",
        merchant,
    )
    return History(db, merchant, webhook_id)


async def ids(db, table: str, column: str) -> set[int]:
    return {row[0] for row in await db.fetch(f"SELECT {column} FROM {table}")}


async def attempts_by_delivery(db) -> dict[int, int]:
    return dict(await db.fetch("SELECT delivery_id, count(*) FROM webhook_attempts GROUP BY delivery_id"))


async def test_old_finished_deliveries_go_with_their_attempts_and_unneeded_events(db, history, pool):
    h = history
    old_delivered = await h.delivery(e_delivered := await h.event(40), "delivered", 40, attempts=2)
    old_failed = await h.delivery(e_failed := await h.event(40), "failed", 40, attempts=15)
    old_ping = await h.delivery(None, "failed", 40, attempts=0)  # a test:ping no worker took
    recent = await h.delivery(e_recent := await h.event(40), "delivered", 5, attempts=1)  # replayed 5 days ago
    pending = await h.delivery(e_pending := await h.event(40), "pending", 40, attempts=3)  # an inactive webhook's
    lonely_old = await h.event(40)  # no webhook wanted it
    queued_old = await h.event(40, queued=True)  # not fanned out yet
    lonely_recent = await h.event(5)

    pruned = await prune_history(pool, 30)

    assert pruned == Pruned(deliveries=3, attempts=17, events=3, statements=2)
    assert await ids(db, "webhook_deliveries", "delivery_id") == {recent, pending}
    assert await attempts_by_delivery(db) == {recent: 1, pending: 3}
    assert await ids(db, "events", "event_id") == {e_recent, e_pending, queued_old, lonely_recent}
    gone = {e_delivered, e_failed, lonely_old}
    assert not gone & await ids(db, "events", "event_id")
    assert old_delivered and old_failed and old_ping
    # The webhook's increment ids go on from where they were: nothing is reused.
    assert await db.fetchval("SELECT count(*) FROM webhooks") == 1
    # A second run finds nothing more.
    assert await prune_history(pool, 30) == Pruned(statements=2)


async def test_retention_0_keeps_everything(db, history, pool):
    h = history
    await h.delivery(await h.event(4000), "delivered", 4000, attempts=1)
    await h.delivery(await h.event(4000), "failed", 4000, attempts=15)
    await h.event(4000)
    before = [await db.fetchval(f"SELECT count(*) FROM {t}") for t in ("webhook_deliveries", "webhook_attempts", "events")]
    assert await prune_history(pool, 0) == Pruned()
    after = [await db.fetchval(f"SELECT count(*) FROM {t}") for t in ("webhook_deliveries", "webhook_attempts", "events")]
    assert before == after == [2, 16, 3]


async def test_the_retention_is_measured_from_the_last_attempt(db, history, pool):
    h = history
    event = await h.event(45)
    kept = await h.delivery(event, "failed", 45, attempts=1)
    await db.execute("UPDATE webhook_deliveries SET last_attempt_at = now() - interval '29 days' WHERE delivery_id = $1", kept)
    assert await prune_history(pool, 30) == Pruned(statements=2)
    assert await ids(db, "webhook_deliveries", "delivery_id") == {kept}
    assert await prune_history(pool, 28) == Pruned(deliveries=1, attempts=1, events=1, statements=2)


async def test_statements_delete_at_most_the_batch(db, history, pool, monkeypatch):
    h = history
    old = [await h.delivery(await h.event(40), "delivered", 40, attempts=1) for _ in range(5)]  # 2 rows each
    pings = [await h.delivery(None, "failed", 40, attempts=0) for _ in range(3)]  # 1 row each
    kept = await h.delivery(await h.event(40), "pending", 40, attempts=1)
    lonely = [await h.event(40) for _ in range(5)]
    recent = [await h.event(1) for _ in range(3)]

    steps: list[tuple[str, store.PruneStep]] = []

    def recording(name):
        original = getattr(store, name)

        async def record(*args):
            step = await original(*args)
            steps.append((name, step))
            return step

        return record

    monkeypatch.setattr(worker, "RETENTION_BATCH", 2)
    monkeypatch.setattr(store, "prune_deliveries", recording("prune_deliveries"))
    monkeypatch.setattr(store, "prune_events", recording("prune_events"))
    pruned = await prune_history(pool, 30)

    assert pruned == Pruned(deliveries=8, attempts=5, events=10, statements=len(steps))
    assert all(step.deleted + step.attempts <= 2 for _, step in steps), steps
    delivery_steps = [step for name, step in steps if name == "prune_deliveries"]
    event_steps = [step for name, step in steps if name == "prune_events"]
    # Deliveries: 5 of 2 rows take a statement each, the 3 pings and the pending one two
    # more, and one finds the end. Events: 14 in pairs until the first recent one.
    assert len(delivery_steps) == 8 and len(event_steps) == 6
    assert await ids(db, "webhook_deliveries", "delivery_id") == {kept}
    assert len(await ids(db, "events", "event_id")) == 1 + len(recent)
    assert old and pings and lonely


async def test_one_process_prunes_at_a_time(db, history, pool):
    await history.delivery(await history.event(40), "delivered", 40, attempts=1)
    await db.execute("SELECT pg_advisory_lock($1)", store.RETENTION_LOCK)  # another process is at it
    try:
        assert await prune_history(pool, 30) is None
        assert await db.fetchval("SELECT count(*) FROM webhook_deliveries") == 1
    finally:
        await db.execute("SELECT pg_advisory_unlock($1)", store.RETENTION_LOCK)
    assert (await prune_history(pool, 30)).deliveries == 1
    # The lock was given back: the next run can take it.
    assert await prune_history(pool, 30) == Pruned(statements=2)


async def test_a_run_that_fails_midway_frees_the_lock(db, history, pool, monkeypatch):
    await history.delivery(await history.event(40), "delivered", 40, attempts=1)
    original = store.prune_events

    async def broken(*args):
        raise asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout")

    monkeypatch.setattr(store, "prune_events", broken)
    with pytest.raises(asyncpg.exceptions.QueryCanceledError):
        await prune_history(pool, 30)
    monkeypatch.setattr(store, "prune_events", original)
    # The deliveries' statements had committed; the lock went with the connection.
    assert await db.fetchval("SELECT count(*) FROM webhook_deliveries") == 0
    # terminate() closes the socket; the server ends that backend, and frees its lock, a moment later.
    await wait_until(lambda: db.fetchval("SELECT pg_try_advisory_lock($1)", store.RETENTION_LOCK), 5.0,
                     "the lock freed with the terminated connection")
    await db.execute("SELECT pg_advisory_unlock($1)", store.RETENTION_LOCK)
    assert await prune_history(pool, 30) == Pruned(events=1, statements=2)


async def test_a_locked_delivery_is_skipped_not_waited_for(db, database_url, history, pool):
    locked = await history.delivery(await history.event(40), "failed", 40, attempts=1)
    other = await history.delivery(await history.event(40), "failed", 40, attempts=1)
    holder = await pool.acquire()
    try:
        async with holder.transaction():  # a replay holding the row
            await holder.execute("SELECT 1 FROM webhook_deliveries WHERE delivery_id = $1 FOR UPDATE", locked)
            pruned = await asyncio.wait_for(prune_history(pool, 30), 10)
    finally:
        await pool.release(holder)
    assert (pruned.deliveries, pruned.events) == (1, 1)
    assert await ids(db, "webhook_deliveries", "delivery_id") == {locked}
    assert other


async def test_a_pruned_event_is_gone_from_event_list_and_replay(make_client, users, db, history, pool):
    old = await history.event(40)
    await history.delivery(old, "delivered", 40, attempts=1)
    recent = await history.event(1)
    await prune_history(pool, 30)
    rpc = await make_client(webhook_retention_days=0)
    session = await rpc.login(users["merchant"])
    assert [e["event_id"] for e in await rpc.result(session, "event.list", [0, 10])] == [recent]
    assert_fault(await rpc.fault(session, "webhook.replay", [old]), 107, "Event not exists.")


async def test_every_server_prunes_in_its_housekeeping_loop(make_client, db, history):
    old = await history.delivery(await history.event(40), "delivered", 40, attempts=1)
    await make_client(webhook_retention_days=45)  # the loop runs at start: nothing is that old
    await asyncio.sleep(0.5)
    assert await ids(db, "webhook_deliveries", "delivery_id") == {old}
    await make_client(webhook_retention_days=30)

    # Deliveries and then events are pruned by separate statements, each committed on its
    # own: wait for the events too, not only for the delivery.
    async def pruned() -> bool:
        return await db.fetchval(
            "SELECT (SELECT count(*) FROM webhook_deliveries) + (SELECT count(*) FROM events)"
        ) == 0

    await wait_until(pruned, what="the old delivery and its event pruned")


def test_the_retention_setting():
    assert Settings().webhook_retention_days == 30
    assert load_settings({}, {"RPCF_WEBHOOK_RETENTION_DAYS": "7"}).webhook_retention_days == 7
    for off in ("0", "off", "none"):
        assert load_settings({}, {"RPCF_WEBHOOK_RETENTION_DAYS": off}).webhook_retention_days == 0
    assert load_settings({"webhook_retention_days": "90"}, {"RPCF_WEBHOOK_RETENTION_DAYS": "7"}).webhook_retention_days == 90
    for bad in ("-1", "1.5", "soon"):
        with pytest.raises(SettingsError, match="webhook_retention_days"):
            load_settings({}, {"RPCF_WEBHOOK_RETENTION_DAYS": bad})
