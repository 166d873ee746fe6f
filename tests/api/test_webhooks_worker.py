"""The webhook worker under stress: killed mid-delivery (task cancelled, connection cut,
process SIGKILLed), several workers at once, clean shutdown, paused webhooks. Bounded in time."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections import Counter
from dataclasses import replace

from rpc_fulfillment.webhooks import queries as store
from rpc_fulfillment.db.pool import connect
from rpc_fulfillment.workers.webhooks import WebhookWorker
from tests.api.order_helpers import merchant_id
from tests.api.webhook_helpers import FAST, Received, create_webhook, start_receiver, wait_until


async def add_events(db, count: int, topic: str = "product:created", merchant: str = "acme") -> None:
    """``count`` events in one statement, as a service would write them (the trigger queues them)."""
    await db.execute(
        """INSERT INTO events (merchant_id, topic, message)
           SELECT $1, $2, jsonb_build_object('n', g) FROM generate_series(1, $3) g""",
        await merchant_id(db, merchant), topic, count,
    )


async def statuses(db) -> Counter:
    return Counter(row["status"] for row in await db.fetch("SELECT status FROM webhook_deliveries"))


def kill_hard(worker: WebhookWorker) -> list[asyncio.Task]:
    """As if the process died: its database connections drop, its tasks stop."""
    assert worker.pool is not None
    worker.pool.terminate()
    tasks = list(worker._tasks)
    for task in tasks:
        task.cancel()
    return tasks


async def connections_to(db) -> int:
    return await db.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")


async def setup(make_client, users, receiver_url: str, topics: str = "product:created"):
    """An app that does not deliver (so only the test's workers do) and a webhook."""
    rpc = await make_client(webhook_delivery=False)
    session = await rpc.login(users["merchant"])
    return rpc, session, await create_webhook(rpc, session, receiver_url, topics)


async def receiver_holding_the_first_request(aiohttp_server):
    """A receiver that answers 200, the first request only once the returned event is set."""
    release = asyncio.Event()

    async def respond(received: Received):
        if received.number == 1:
            await asyncio.wait_for(release.wait(), 20)
        return 200

    return await start_receiver(aiohttp_server, respond), release


async def test_a_worker_stopped_mid_delivery_leaves_it_due_and_it_is_delivered_again(make_client, users, db, settings, aiohttp_server):
    receiver, release = await receiver_holding_the_first_request(aiohttp_server)
    await setup(make_client, users, receiver.url)
    before = await connections_to(db)
    await add_events(db, 1)
    first = WebhookWorker(settings.database_url, replace(settings, **{**FAST, "webhook_timeout": 10.0}))
    await first.start()
    try:
        await receiver.wait_count(1)
        await first.stop()  # cancels the slot while the receiver holds the request
    finally:
        release.set()
    # Shut down cleanly: HTTP session and pool closed, its connections gone.
    assert first.http is not None and first.http.closed
    assert first.pool is not None and first.pool.is_closing()
    await wait_until(lambda: _equal(connections_to(db), before), what="the worker's connections closed")
    row = await db.fetchrow("SELECT status, attempts FROM webhook_deliveries")
    assert (row["status"], row["attempts"]) == ("pending", 0)  # the claim was rolled back

    second = WebhookWorker(settings.database_url, replace(settings, **FAST))
    await second.start()
    try:
        got = await receiver.wait_count(2)
        assert [r.increment_id for r in got] == [1, 1] and got[0].body == got[1].body
        await wait_until(lambda: _equal(statuses(db), Counter(delivered=1)), what="delivered")
    finally:
        await second.stop()


async def _equal(awaitable, expected) -> bool:
    return await awaitable == expected


async def test_a_worker_whose_connection_dies_mid_delivery_loses_nothing(make_client, users, db, settings, aiohttp_server):
    release = asyncio.Event()

    async def respond(received: Received):
        if received.number <= 5:
            await asyncio.wait_for(release.wait(), 20)
        return 200

    receiver = await start_receiver(aiohttp_server, respond)
    await setup(make_client, users, receiver.url)
    await add_events(db, 5)
    doomed = WebhookWorker(settings.database_url, replace(settings, **{**FAST, "webhook_timeout": 10.0}))
    await doomed.start()
    try:
        await receiver.wait_count(5)
        tasks = kill_hard(doomed)
    finally:
        release.set()  # the receiver answers 200, but the worker can no longer record it
    await asyncio.gather(*tasks, return_exceptions=True)
    await doomed.stop()
    assert await statuses(db) == Counter(pending=5)

    survivor = WebhookWorker(settings.database_url, replace(settings, **FAST))
    await survivor.start()
    try:
        await receiver.wait_count(10)
        assert sorted(r.increment_id for r in receiver.requests) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
        await wait_until(lambda: _equal(statuses(db), Counter(delivered=5)), what="delivered")
    finally:
        await survivor.stop()


async def test_a_worker_process_killed_mid_delivery_leaves_it_to_another(make_client, users, db, settings, aiohttp_server):
    """``rpc-fulfillment worker`` as a real process, SIGKILLed while the receiver holds its
    request: PostgreSQL ends its transaction when the connection drops, and another worker
    delivers. A second process stops cleanly on SIGTERM."""
    release = asyncio.Event()

    async def respond(received: Received):
        if received.number == 1:
            await asyncio.wait_for(release.wait(), 30)
        return 200

    receiver = await start_receiver(aiohttp_server, respond)
    await setup(make_client, users, receiver.url)
    await add_events(db, 1)
    command = [sys.executable, "-m", "rpc_fulfillment", "worker", "--database-url", settings.database_url,
               "--webhook-timeout", "20", "--webhook-interval", "0.5", "--log-level", "WARNING", "--webhook-allow-private"]
    process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await receiver.wait_count(1, timeout=30)
        process.kill()
        await asyncio.wait_for(process.wait(), 10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        release.set()
    assert process.returncode == -signal.SIGKILL

    process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        got = await receiver.wait_count(2, timeout=30)
        assert [r.increment_id for r in got] == [1, 1]
        await wait_until(lambda: _equal(statuses(db), Counter(delivered=1)), what="delivered")
        process.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(process.communicate(), 10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()
    assert b"delivering webhooks" in out
    assert b"Traceback" not in err


async def test_a_slow_delivery_is_recorded_though_faster_ones_were_recorded_meanwhile(make_client, users, db, settings, aiohttp_server):
    """Outcomes are committed as they come: the fast ones while the slow one is still out. The
    slow one's outcome, arriving after, is committed too (it was once lost, its delivery left
    claimed by the live worker and never sent again)."""
    async def respond(received: Received):
        if received.increment_id == 1:
            await asyncio.sleep(1.0)
        return 200

    receiver = await start_receiver(aiohttp_server, respond)
    await setup(make_client, users, receiver.url)
    await add_events(db, 5)
    worker = WebhookWorker(settings.database_url, replace(settings, **{**FAST, "webhook_timeout": 5.0}))
    await worker.start()
    try:
        await wait_until(lambda: _equal(statuses(db), Counter(delivered=5)), timeout=5, what="all delivered")
    finally:
        await worker.stop()
    assert Counter(r.increment_id for r in receiver.requests) == Counter({n: 1 for n in range(1, 6)})
    assert await db.fetchval("SELECT count(*) FROM webhook_attempts") == 5


async def test_a_cancelled_send_releases_its_claim_and_the_delivery_goes_again(make_client, users, db, settings, aiohttp_server):
    """A send task that ends without an outcome (cancelled) ends its claim: the live worker
    sends the delivery again at once, instead of holding it until it restarts."""
    receiver, release = await receiver_holding_the_first_request(aiohttp_server)
    await setup(make_client, users, receiver.url)
    await add_events(db, 1)
    worker = WebhookWorker(settings.database_url, replace(settings, **{**FAST, "webhook_timeout": 10.0}))
    await worker.start()
    try:
        await receiver.wait_count(1)
        (sending,) = worker._sending
        sending.cancel()
        got = await receiver.wait_count(2, timeout=3)
        assert [r.increment_id for r in got] == [1, 1]
        await wait_until(lambda: _equal(statuses(db), Counter(delivered=1)), timeout=3, what="delivered")
    finally:
        release.set()
        await worker.stop()
    assert await db.fetchval("SELECT count(*) FROM webhook_deliveries WHERE claimed_by IS NOT NULL") == 0


async def test_three_workers_never_send_the_same_delivery_at_once(make_client, users, db, settings, aiohttp_server):
    in_flight: set[int] = set()
    overlaps: list[int] = []
    most = 0

    async def slow(received: Received):
        nonlocal most
        increment = received.increment_id
        if increment in in_flight:
            overlaps.append(increment)
        in_flight.add(increment)
        most = max(most, len(in_flight))
        await asyncio.sleep(0.1)
        in_flight.discard(increment)
        return 200

    receiver = await start_receiver(aiohttp_server, slow)
    await setup(make_client, users, receiver.url)
    await add_events(db, 90)
    workers = [WebhookWorker(settings.database_url, replace(settings, **FAST), concurrency=1) for _ in range(3)]
    await asyncio.gather(*(worker.start() for worker in workers))
    try:
        await receiver.wait_count(90, timeout=30)
        await wait_until(lambda: _equal(statuses(db), Counter(delivered=90)), what="all delivered")
    finally:
        await asyncio.gather(*(worker.stop() for worker in workers))
    receipts = Counter(r.increment_id for r in receiver.requests)
    assert receipts == Counter({n: 1 for n in range(1, 91)})
    assert overlaps == []
    # Sent concurrently, and never more than one webhook's cap in flight, whichever worker sent them.
    assert 1 < most <= settings.webhook_merchant_in_flight


async def test_two_workers_a_thousand_events_one_killed_nothing_lost(make_client, users, db, settings, aiohttp_server):
    async def respond(received: Received):
        await asyncio.sleep(0.01)
        return 200

    receiver = await start_receiver(aiohttp_server, respond)
    rpc, session, hook = await setup(make_client, users, receiver.url)
    await add_events(db, 1000)
    fast = replace(settings, **FAST)
    doomed, survivor = WebhookWorker(settings.database_url, fast), WebhookWorker(settings.database_url, fast)
    await doomed.start()
    await survivor.start()
    try:
        await receiver.wait_count(300, timeout=30)
        await asyncio.gather(*kill_hard(doomed), return_exceptions=True)
        await receiver.wait_for(lambda got: {r.increment_id for r in got} == set(range(1, 1001)), timeout=60)
        await wait_until(lambda: _equal(statuses(db), Counter(delivered=1000)), timeout=30, what="all delivered")
    finally:
        await doomed.stop()
        await survivor.stop()
    increments = await db.fetch("SELECT webhook_increment_id FROM webhook_deliveries ORDER BY 1")
    assert [row[0] for row in increments] == list(range(1, 1001))
    assert {r.increment_id for r in receiver.requests} == set(range(1, 1001))
    # At least once: duplicates only for deliveries the killed worker had in flight.
    assert len(receiver.requests) - 1000 <= 2 * 20
    assert (await rpc.result(session, "webhook.list"))[0]["last_increment_id"] == 1000


async def test_deliveries_of_an_inactive_webhook_wait_for_it(make_client, users, db, settings, aiohttp_server):
    async def respond(received: Received):
        return 500 if received.number == 1 else 200

    receiver = await start_receiver(aiohttp_server, respond)
    rpc, session, hook = await setup(make_client, users, receiver.url)
    worker = WebhookWorker(settings.database_url, replace(settings, **{**FAST, "webhook_retry_schedule": "0.5"}))
    await worker.start()
    try:
        await add_events(db, 1)
        await receiver.wait_count(1)
        await rpc.result(session, "webhook.update_status", [hook["webhook_id"], 0])
        await asyncio.sleep(1.2)
        assert len(receiver.requests) == 1  # the retry is due, but the webhook is paused
        assert await statuses(db) == Counter(pending=1)
        await rpc.result(session, "webhook.update_status", [hook["webhook_id"], 1])
        await receiver.wait_count(2, timeout=2)  # woken by the NOTIFY of update_status
        await wait_until(lambda: _equal(statuses(db), Counter(delivered=1)), what="delivered")
    finally:
        await worker.stop()


async def test_deleting_a_webhook_drops_its_queue_and_the_worker_carries_on(make_client, users, db, settings, aiohttp_server, unused_tcp_port):
    receiver = await start_receiver(aiohttp_server)
    rpc = await make_client(webhook_delivery=False)
    session = await rpc.login(users["merchant"])
    dead = await create_webhook(rpc, session, f"http://127.0.0.1:{unused_tcp_port}/", "product:created")
    await create_webhook(rpc, session, receiver.url, "product:created")
    worker = WebhookWorker(settings.database_url, replace(settings, **{**FAST, "webhook_retry_schedule": "0.2,0.2,0.2,0.2,0.2"}))
    await worker.start()
    try:
        await add_events(db, 3)
        await receiver.wait_count(3)
        await rpc.result(session, "webhook.delete", [dead["webhook_id"]])
        assert await db.fetchval("SELECT count(*) FROM webhook_deliveries WHERE webhook_id = $1", dead["webhook_id"]) == 0
        assert await db.fetchval("SELECT count(*) FROM webhook_attempts a WHERE NOT EXISTS "
                                 "(SELECT 1 FROM webhook_deliveries d WHERE d.delivery_id = a.delivery_id)") == 0
        await add_events(db, 1)
        await receiver.wait_count(4)
        assert [r.increment_id for r in receiver.requests] == [1, 2, 3, 4]
    finally:
        await worker.stop()


async def test_one_fan_out_at_a_time_and_each_event_once(users, db, database_url):
    """Fan-out runs under an advisory lock: a second one at the same moment steps aside, and
    events queued by separate transactions each get one delivery per webhook."""
    mid = await merchant_id(db)
    webhook_id = await db.fetchval(
        "INSERT INTO webhooks (merchant_id, url, topics, secret_key) VALUES ($1, 'http://x/', '{order:created}', 'k') RETURNING webhook_id",
        mid,
    )
    connections = [await connect(database_url) for _ in range(2)]
    try:
        for n in range(10):
            await add_events(db, 3, "order:created")
        await add_events(db, 5, "order:canceled")  # no webhook wants these: not even queued
        assert await db.fetchval("SELECT count(*) FROM event_fanout") == 30
        holder = connections[0]
        tx = holder.transaction()
        await tx.start()
        assert await holder.fetchval("SELECT pg_try_advisory_xact_lock($1)", store.FANOUT_LOCK)
        assert await store.fan_out(connections[1], 1000) is None  # somebody else is fanning out
        await tx.rollback()
        results = await asyncio.gather(*(store.fan_out(c, 7) for c in connections))
        assert None in results or sum(r[0] for r in results if r) == 14
        while (await store.fan_out(connections[0], 7))[0]:
            pass
    finally:
        for c in connections:
            await c.close()
    rows = await db.fetch("SELECT d.webhook_increment_id FROM webhook_deliveries d JOIN events e USING (event_id) WHERE d.webhook_id = $1 ORDER BY e.seq", webhook_id)
    assert [r["webhook_increment_id"] for r in rows] == list(range(1, 31))
    assert await db.fetchval("SELECT count(*) FROM event_fanout") == 0
    assert await db.fetchval("SELECT last_increment_id FROM webhooks WHERE webhook_id = $1", webhook_id) == 30


async def test_a_rolled_back_event_is_never_queued(users, db):
    mid = await merchant_id(db)
    await db.execute("INSERT INTO webhooks (merchant_id, url, topics, secret_key) VALUES ($1, 'http://x/', '{order:created}', 'k')", mid)
    tx = db.transaction()
    await tx.start()
    await add_events(db, 4, "order:created")
    assert await db.fetchval("SELECT count(*) FROM event_fanout") == 4
    await tx.rollback()
    assert await db.fetchval("SELECT count(*) FROM event_fanout") == 0
    assert await db.fetchval("SELECT count(*) FROM events") == 0


def test_worker_command_refuses_a_bad_schedule(capsys):
    from rpc_fulfillment.cli import main

    code = main(["worker", "--webhook-retry-schedule", "60,soon", "--database-url", "postgresql://127.0.0.1:1/none"])
    assert code == 1
    assert capsys.readouterr().err == (
        "rpc-fulfillment: error: webhook_retry_schedule: retry schedule: 'soon' is not a number of seconds\n")
