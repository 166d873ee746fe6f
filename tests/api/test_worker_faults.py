"""Targeted faults in the background (issue 14 item 7): the webhook worker's LISTEN connection
dropped, one statement of a worker loop failing (a statement timeout, a terminated backend),
a concurrency slot whose release fails. Each time the failure is logged once with what was
being done, the loop survives, and the work is done at its next round (checked by its
outcome: the delivery sent, the hold released, the session purged, the order fulfilled); the
caller of a call whose slot release failed still gets its answer and the slot is not lost.
A whole-database outage is tests/stress/test_db_outage.py's and tests/api/test_health.py's."""

from __future__ import annotations

import asyncio
import fnmatch
import logging
from collections import Counter
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from rpc_fulfillment.accounts import auth
from rpc_fulfillment.db import outage
from rpc_fulfillment.db.pool import create_pool
from rpc_fulfillment.core.faults import Fault
from rpc_fulfillment.shipments import api as shipment_steps
from rpc_fulfillment.shipments import queries as shipment_store
from rpc_fulfillment.webhooks import queries as webhook_store
from rpc_fulfillment.webhooks import rules as webhook_domain
from rpc_fulfillment.workers import scheduler, sessions
from rpc_fulfillment.workers import webhooks as webhook_worker
from rpc_fulfillment.workers import auto_fulfill
from rpc_fulfillment.workers.auto_fulfill import AutoFulfiller, auto_fulfill_context
from rpc_fulfillment.workers.scheduler import release_holds_forever
from rpc_fulfillment.workers.sessions import expire_sessions_forever
from rpc_fulfillment.workers.webhooks import WebhookWorker
from tests.api.order_helpers import ADDRESS, INFO, add_product
from tests.api.test_auto_fulfill import reserved_orders
from tests.api.test_rate_limits import CONCURRENCY_CODE, call_body, post, slots_held, slow
from tests.api.test_webhooks_retention import new_history
from tests.api.test_webhooks_targets import first_attempt
from tests.api.test_webhooks_worker import add_events, setup, statuses
from tests.api.webhook_helpers import (
    FAST, Received, Receiver, Respond, StubResolver, create_webhook, ok, start_receiver, wait_until,
)

DatabaseFault = Callable[[asyncpg.Connection], Awaitable[None]]


async def statement_timeout(conn: asyncpg.Connection) -> None:
    """A statement cancelled by statement_timeout (57014); the connection stays usable."""
    async with conn.transaction():
        await conn.execute("SET LOCAL statement_timeout = 20; SELECT pg_sleep(10)")


async def terminated_backend(conn: asyncpg.Connection) -> None:
    """The connection's backend ended by pg_terminate_backend (57P01), as an administrator,
    a connection pooler or a failover does."""
    await conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")


# What each fault makes the loop log (``what``: the loop's own words): a statement error is
# the loop's WARNING; a connection lost is the outage's (db/outage.py, once per interval).
# (How the driver words a backend terminated from outside depends on when its socket sees it.)
LOGGED = {
    statement_timeout: "{what}: QueryCanceledError: canceling statement due to statement timeout",
    terminated_backend: "database unreachable (*Error: *",
}
FAULTS = pytest.mark.parametrize("fault", list(LOGGED), ids=lambda fault: fault.__name__)


def fail_first_call(
    monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, fault: DatabaseFault, when: Callable[[], bool] = lambda: True
) -> list[BaseException]:
    """``owner.name`` (a function whose first argument is a connection or a pool) fails its
    first call made ``when`` true with ``fault`` run on that connection (one of that pool), and
    otherwise works as before. Returns the errors raised, for the test to see the fault happen."""
    original = getattr(owner, name)
    raised: list[BaseException] = []

    async def failing_once(first: Any, *args: Any, **kwargs: Any) -> Any:
        if raised or not when():
            return await original(first, *args, **kwargs)
        try:
            if isinstance(first, asyncpg.Pool):
                async with first.acquire() as conn:
                    await fault(conn)
            else:
                await fault(first)
        except Exception as exc:
            raised.append(exc)
            raise
        raise AssertionError(f"{fault.__name__} did not fail")

    monkeypatch.setattr(owner, name, failing_once)
    return raised


def logged(caplog: pytest.LogCaptureFixture, pattern: str) -> int:
    """How many log lines contain ``pattern`` (``*``: any text within the line)."""
    return sum(fnmatch.fnmatchcase(record.getMessage(), f"*{pattern}*") for record in caplog.records)


@pytest.fixture(autouse=True)
def fresh_outage(monkeypatch: pytest.MonkeyPatch) -> None:
    """An outage of this test's own: an earlier test's would swallow the first WARNING."""
    monkeypatch.setattr(outage, "OUTAGE", outage.Outage())


@pytest.fixture
async def pool(database_url: str) -> Any:
    pool = await create_pool(database_url, 3)
    yield pool
    await pool.close()


async def run_until(loop: Awaitable[None], done: Callable[[], Awaitable[bool]], what: str, timeout: float = 20.0) -> None:
    """Run a worker loop until ``done``; it must still be running then (no task dies silently)."""
    task = asyncio.create_task(loop)
    try:
        await wait_until(done, timeout, what)
        assert not task.done(), task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# ------------------------------------------------------------------ the webhook worker


@pytest.fixture
def delivering(make_client, users, settings, aiohttp_server) -> Callable[..., Any]:
    """``async with delivering(respond, **settings) as (receiver, worker)``: a receiver, a
    webhook to it (in an app that does not deliver) and a worker of its own, with FAST settings
    changed by ``settings``, started; at the end none of its loops may have died, and it stops."""
    @asynccontextmanager
    async def run(respond: Respond = ok, **changes: Any) -> AsyncIterator[tuple[Receiver, WebhookWorker]]:
        receiver = await start_receiver(aiohttp_server, respond)
        await setup(make_client, users, receiver.url)
        worker = WebhookWorker(settings.database_url, replace(settings, **{**FAST, **changes}))
        await worker.start()
        try:
            yield receiver, worker
            assert all(not task.done() for task in worker._tasks), worker._tasks
        finally:
            await worker.stop()

    return run


async def delivered(db: asyncpg.Connection, count: int) -> None:
    async def all_delivered() -> bool:
        return await statuses(db) == Counter(delivered=count)

    await wait_until(all_delivered, what=f"{count} delivered")


def rounds_of(worker: WebhookWorker) -> list[int | None]:
    """The claim token (None: not listening) each finished round of ``worker`` started with."""
    finished: list[int | None] = []
    run_once = worker.run_once

    async def counted() -> bool:
        token = worker._token
        try:
            return await run_once()
        finally:
            finished.append(token)

    worker.run_once = counted  # type: ignore[method-assign]
    return finished


async def listening_and_idle(worker: WebhookWorker, rounds: list[int | None], before: int | None = None) -> int:
    """Wait until ``worker`` listens with a token other than ``before`` and has finished a
    round since: from then on only a NOTIFY (or its timer) starts the next round."""
    await wait_until(lambda: worker._token not in (None, before), what="the worker listening")
    token = worker._token
    assert token is not None
    await wait_until(lambda: token in rounds, what="a round with the new token")
    return token


async def test_the_listen_connection_dropped_is_taken_again_and_notify_wakes_the_worker(db, delivering, monkeypatch, caplog):
    """The timer is an hour: every delivery here is woken by a NOTIFY, the one after the drop
    by the LISTEN of the new connection."""
    monkeypatch.setattr(webhook_worker, "LISTEN_RETRY", 0.1)
    async with delivering(webhook_interval=3600) as (receiver, worker):
        rounds = rounds_of(worker)
        first_token = await listening_and_idle(worker, rounds)
        await add_events(db, 1)
        await receiver.wait_count(1)  # the positive control: a NOTIFY wakes it
        # Recorded before the drop: a claim of the dropped connection's token is sent again.
        await delivered(db, 1)
        assert worker._listener is not None
        dropped = worker._listener.get_server_pid()
        assert await db.fetchval("SELECT pg_terminate_backend($1)", dropped)
        await listening_and_idle(worker, rounds, before=first_token)
        assert worker._listener is not None and worker._listener.get_server_pid() != dropped
        await add_events(db, 1)
        got = await receiver.wait_count(2)
        assert [r.increment_id for r in got] == [1, 2]
        await delivered(db, 2)
    assert logged(caplog, "webhook worker: the LISTEN connection closed; reconnecting") == 1


async def test_a_failed_listen_is_retried(db, delivering, monkeypatch, caplog):
    """The LISTEN connection cannot be opened at first (the server has no slot left): the
    worker tries again and then delivers, woken by NOTIFY."""
    monkeypatch.setattr(webhook_worker, "LISTEN_RETRY", 0.1)
    original = webhook_worker.connect
    refused: list[str] = []

    async def full_once(url: str) -> asyncpg.Connection:
        if not refused:
            refused.append(url)
            raise asyncpg.TooManyConnectionsError("sorry, too many clients already")
        return await original(url)

    monkeypatch.setattr(webhook_worker, "connect", full_once)
    async with delivering(webhook_interval=3600) as (receiver, worker):
        await listening_and_idle(worker, rounds_of(worker))
        await add_events(db, 1)
        await delivered(db, 1)
    assert refused
    assert logged(caplog, "database unreachable (TooManyConnectionsError: sorry, too many clients already)") == 1


# A round's claim failing is logged as the loops log theirs; an outcome that cannot be recorded
# is logged by the recorder, which tries again a second later.
STEPS = {"claim_due": None, "record_attempts": "webhook worker: cannot record outcomes"}


@FAULTS
@pytest.mark.parametrize("step", list(STEPS))
async def test_a_failed_claim_or_record_is_logged_and_the_delivery_sent_once(db, delivering, monkeypatch, caplog, fault, step):
    """A failed claim is made again at the next round; an outcome not recorded is recorded
    again, its claim holding meanwhile, so that nobody sends the delivery again."""
    raised = fail_first_call(monkeypatch, webhook_store, step, fault)
    async with delivering() as (receiver, _):
        await add_events(db, 1)
        await delivered(db, 1)
    assert len(raised) == 1
    assert len(receiver.requests) == 1 and await db.fetchval("SELECT count(*) FROM webhook_attempts") == 1
    assert logged(caplog, STEPS[step] or LOGGED[fault].format(what="webhook worker")) == 1


async def test_a_failed_look_at_the_next_retry_is_followed_by_a_look_within_a_second(db, delivering, monkeypatch):
    """The worker sleeps until the next retry is due (the timer is an hour here); when it cannot
    read when that is, it looks again within a second, not after the hour."""
    async def refuse_the_first(received: Received) -> int:
        return 500 if received.number == 1 else 200

    async with delivering(refuse_the_first, webhook_interval=3600) as (receiver, worker):
        # The look after the refusal is recorded (a look while it is in flight is followed by
        # another one when it is recorded).
        raised = fail_first_call(monkeypatch, webhook_store, "seconds_until_next_due", statement_timeout,
                                 when=lambda: bool(receiver.requests) and worker._unrecorded == 0)
        await add_events(db, 1)
        await receiver.wait_count(2)  # the retry, 0.2 s after the refusal
        await delivered(db, 1)
    assert len(raised) == 1


async def test_a_delivery_that_cannot_be_built_is_a_failed_attempt_retried(db, delivering, monkeypatch, caplog):
    """A bug while building the request (here the signature) is logged with its traceback and
    counts as a failed attempt: the delivery is retried on the schedule, not lost."""
    original = webhook_domain.request_headers
    broken: list[int] = []

    def headers_failing_once(*args: Any) -> Any:
        if not broken:
            broken.append(1)
            raise ValueError("a bug")
        return original(*args)

    monkeypatch.setattr(webhook_domain, "request_headers", headers_failing_once)
    async with delivering() as (receiver, _):
        await add_events(db, 1)
        await delivered(db, 1)
    assert len(receiver.requests) == 1
    errors = [row["error"] for row in await db.fetch("SELECT error FROM webhook_attempts ORDER BY attempted_at")]
    assert errors == ["ValueError: a bug", None]
    [record] = [r for r in caplog.records if "cannot send delivery" in r.getMessage()]
    assert record.levelno == logging.ERROR and record.exc_info is not None


# ------------------------------------------------------------------ scheduled holds


async def a_bug(conn: asyncpg.Connection) -> None:
    """Not a database error: a bug in the round (db/outage.py logs it with its traceback)."""
    raise ValueError("a bug")


LOGGED_WITH_A_BUG = {**LOGGED, a_bug: "{what}: unexpected error"}


@pytest.mark.parametrize("fault", list(LOGGED_WITH_A_BUG), ids=lambda fault: fault.__name__)
async def test_the_scheduler_survives_a_failed_round_and_releases_the_hold(rpc, users, db, pool, monkeypatch, caplog, fault):
    await add_product(db, "SKU-D", stock=5)
    session = await rpc.login(users["merchant"])
    order = await rpc.result(session, "order.create", [None, {"SKU-D": 1}, ADDRESS, {**INFO, "delayed_ship_date": "2099-01-01"}])
    await db.execute("UPDATE orders SET delayed_ship_date = now() - interval '1 minute'")
    raised = fail_first_call(monkeypatch, scheduler, "due_delayed_orders", fault)

    async def released() -> bool:
        return await db.fetchval("SELECT status FROM orders WHERE unique_id = $1", order["unique_id"]) == "new"

    await run_until(release_holds_forever(pool, interval=0.05), released, "the hold released")
    assert len(raised) == 1
    [record] = [r for r in caplog.records if fnmatch.fnmatchcase(
        r.getMessage(), f"*{LOGGED_WITH_A_BUG[fault].format(what='could not release scheduled holds')}*")]
    if fault is a_bug:  # with its traceback
        assert record.levelno == logging.ERROR and record.exc_info is not None and record.exc_info[1] is raised[0]


# ------------------------------------------------------------------ housekeeping


@FAULTS
async def test_the_session_purge_survives_a_failed_round(rpc, users, db, pool, monkeypatch, caplog, fault):
    await rpc.login(users["merchant"])
    await db.execute("UPDATE sessions SET expires_at = now() - interval '1 minute'")
    raised = fail_first_call(monkeypatch, sessions, "delete_expired_sessions", fault)

    async def purged() -> bool:
        return await db.fetchval("SELECT count(*) FROM sessions") == 0

    await run_until(expire_sessions_forever(pool, interval=0.05), purged, "the expired session purged")
    assert len(raised) == 1
    assert logged(caplog, LOGGED[fault].format(what="could not delete expired sessions")) == 1


async def test_the_webhook_history_prune_survives_a_failed_round(users, db, pool, monkeypatch, caplog):
    history = await new_history(db)
    await history.delivery(await history.event(40), "delivered", 40, attempts=1)
    raised = fail_first_call(monkeypatch, webhook_store, "prune_deliveries", statement_timeout)

    async def pruned() -> bool:
        return await db.fetchval("SELECT (SELECT count(*) FROM webhook_deliveries) + (SELECT count(*) FROM events)") == 0

    await run_until(expire_sessions_forever(pool, interval=0.05, webhook_retention_days=30), pruned,
                    "the old delivery and its event pruned")
    assert len(raised) == 1
    assert logged(caplog, LOGGED[statement_timeout].format(what="could not prune the webhook history")) == 1


# ------------------------------------------------------------------ the sandbox warehouse


@FAULTS
async def test_auto_fulfill_survives_a_failed_pass_and_fulfills_the_orders(users, db, pool, monkeypatch, caplog, fault):
    await add_product(db, "A", stock=10)
    await reserved_orders(db, 3)
    raised = fail_first_call(monkeypatch, shipment_store, "orders_to_ship_from", fault)
    fulfiller = AutoFulfiller(pool, 0.001, interval=0.05)

    async def delivered() -> bool:
        return await db.fetchval("SELECT count(*) FROM shipments WHERE delivered_at IS NOT NULL") == 3

    await run_until(fulfiller.run(), delivered, "the orders shipped and delivered")
    assert len(raised) == 1
    assert logged(caplog, LOGGED[fault].format(what="auto-fulfill: pass failed, will retry")) == 1


async def test_the_ship_stage_skips_an_order_refused_or_held_elsewhere_and_ships_the_others(users, db, pool, monkeypatch):
    """While shipping, one order is refused (a Fault: the shipment changed meanwhile) and another
    one is held by another transaction (another process shipping it): the stage ships the third,
    and its next pass the two others."""
    await add_product(db, "A", stock=10)
    await reserved_orders(db, 3)
    fulfiller = AutoFulfiller(pool, 0.001)
    for stage in (fulfiller.create_shipments, fulfiller.pack_shipments):
        await asyncio.sleep(0.01)  # its delay has passed
        assert await stage() == 3
    await asyncio.sleep(0.01)
    original = shipment_steps.ship_shipment
    refused: list[str] = []

    async def refusing_w0_once(conn: Any, merchant_id: int, api_user_id: Any, order: Any, shipment: Any) -> Any:
        if order["unique_id"] == "W0" and not refused:
            refused.append(order["unique_id"])
            raise Fault("shipment_invalid_data", "the shipment changed meanwhile")
        return await original(conn, merchant_id, api_user_id, order, shipment)

    monkeypatch.setattr(shipment_steps, "ship_shipment", refusing_w0_once)
    shipped = "SELECT o.unique_id FROM shipments s JOIN orders o USING (order_id) WHERE s.status = 'shipped' ORDER BY 1"
    async with db.transaction():
        await db.execute("SELECT 1 FROM orders WHERE unique_id = 'W1' FOR UPDATE")
        assert await asyncio.wait_for(fulfiller.ship_shipments(), 20) == 1
    assert refused == ["W0"]
    assert [row["unique_id"] for row in await db.fetch(shipped)] == ["W2"]
    assert await fulfiller.ship_shipments() == 2
    assert [row["unique_id"] for row in await db.fetch(shipped)] == ["W0", "W1", "W2"]


# ------------------------------------------------------------------ a concurrency slot's release


async def slot_release_failing_once(monkeypatch: pytest.MonkeyPatch, db: asyncpg.Connection, fault: DatabaseFault) -> list[int]:
    """auth.release_slot fails once, ``fault`` striking the call's connection at that moment
    (a terminated backend is terminated from outside, by ``db``, as an administrator would);
    returns the slots whose release failed."""
    original = auth.release_slot
    failed: list[int] = []

    async def failing_once(connection: asyncpg.Connection, api_user_id: int, slot: int) -> None:
        if failed:
            return await original(connection, api_user_id, slot)
        failed.append(slot)
        if fault is terminated_backend:
            assert await db.fetchval("SELECT pg_terminate_backend($1)", connection.get_server_pid())
            await original(connection, api_user_id, slot)
        else:
            await fault(connection)
        raise AssertionError(f"{fault.__name__} did not fail")

    monkeypatch.setattr(auth, "release_slot", failing_once)
    return failed


async def no_slot_lost(rpc: Any, session: str, db: asyncpg.Connection) -> None:
    """Every slot is free again, and the user runs as many calls at once as its limit (2) allows."""
    async def none_held() -> bool:
        return await slots_held(db) == 0

    await wait_until(none_held, what="the slots freed")
    answers = await asyncio.gather(*(post(rpc, call_body(session, "test.slow", [0.3], n)) for n in range(2)))
    assert [(status, body.get("result")) for status, body, _ in answers] == [(200, "done"), (200, "done")]


@FAULTS
async def test_a_failed_slot_release_keeps_the_answer_and_frees_the_slot(
    make_client, users, db, add_method, monkeypatch, caplog, fault
):
    add_method("test.slow", slow)
    rpc = await make_client(rate_limit=0, concurrency_limit=2)
    session = await rpc.login(users["merchant"])
    user_id = await db.fetchval("SELECT api_user_id FROM api_users WHERE username = $1", users["merchant"].username)
    failed = await slot_release_failing_once(monkeypatch, db, fault)
    # A multiCall gives its slot back after its last call, on its own (a call commits it).
    status, body, _ = await post(rpc, {"jsonrpc": "2.0", "id": 7, "method": "multiCall",
                                       "params": [session, [["store.list"]]]})
    assert status == 200 and body["result"][0][0]["code"] == "default", body
    assert len(failed) == 1
    await no_slot_lost(rpc, session, db)
    assert logged(caplog, LOGGED[fault].format(what=f"could not release a concurrency slot of API user {user_id}")) == 1


async def test_a_call_whose_connection_is_lost_after_its_answer_keeps_the_answer(make_client, users, db, add_method):
    """The call's connection is terminated once the call has its answer, and the driver has seen
    it closed before the slot is given back: the slot went with the connection (PostgreSQL
    frees it), and the caller gets the answer."""
    async def answers_then_loses_its_connection(ctx: Any) -> str:
        connection = ctx.uow.connection
        assert await db.fetchval("SELECT pg_terminate_backend($1)", connection.get_server_pid())
        await wait_until(lambda: _seen_closed(connection), what="the driver sees the connection closed")
        return "answered"

    add_method("test.lose_connection", answers_then_loses_its_connection)
    add_method("test.slow", slow)
    rpc = await make_client(rate_limit=0, concurrency_limit=2)
    session = await rpc.login(users["merchant"])
    assert await rpc.result(session, "test.lose_connection") == "answered"
    await no_slot_lost(rpc, session, db)


def _seen_closed(connection: asyncpg.Connection) -> bool:
    """Closed, or (asyncpg does this when it sees the socket closed) taken back by the pool."""
    try:
        return connection.is_closed()
    except asyncpg.InterfaceError:
        return True


# ------------------------------------------------------------------ the webhook worker's edges


class SilentResolver(StubResolver):
    """DNS that never answers."""

    async def resolve(self, host: str, port: int = 0, family: Any = None) -> Any:
        self.asked.append(host)
        await asyncio.Event().wait()


UNPARSABLE = "http://[2606:4700::1]x/hook"  # stored before webhook.create refused what the worker cannot parse
# (url, private targets allowed, the attempt's error): the worker's guard parses the URL first;
# without it aiohttp does; a host whose DNS never answers is a connection that does not come.
UNSENDABLE = {
    "unparsable-guarded": (UNPARSABLE, False, "ValueError: Invalid IPv6 URL"),
    "unparsable": (UNPARSABLE, True, f"InvalidUrlClientError: {UNPARSABLE}"),
    "silent-dns": ("http://silent.example/hook", True, "could not connect within 0.3 s"),
}


@pytest.mark.parametrize("url, allow_private, error", list(UNSENDABLE.values()), ids=list(UNSENDABLE))
async def test_a_delivery_that_cannot_be_sent_is_a_failed_attempt_logged_without_a_traceback(
    make_client, users, db, settings, monkeypatch, caplog, url, allow_private, error
):
    """The URL (written straight into the table) cannot be sent to: each attempt fails with
    why in webhook.deliveries, retried on the schedule like a refused connection, and is not
    logged as a bug (no traceback)."""
    rpc = await make_client(webhook_delivery=False)
    session = await rpc.login(users["merchant"])
    hook = await create_webhook(rpc, session, "https://hooks.example.com/shipstream", "product:created")
    await db.execute("UPDATE webhooks SET url = $1", url)
    await add_events(db, 1)
    monkeypatch.setattr(webhook_worker, "CONNECT_TIMEOUT", 0.3)  # within FAST's timeout (1 s)
    changes = {**FAST, "webhook_allow_private": allow_private, "webhook_retry_schedule": "60"}
    worker = WebhookWorker(settings.database_url, replace(settings, **changes), resolver=SilentResolver({}))
    await worker.start()
    try:
        delivery = await first_attempt(rpc, session, hook["webhook_id"])
    finally:
        await worker.stop()
    assert (delivery["status"], delivery["last_error"]) == ("pending", error)
    assert [(a["http_status"], a["error"]) for a in delivery["attempts"]] == [(None, error)]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.records


async def test_outcomes_not_recorded_at_stop_are_sent_again_by_the_next_worker(db, delivering, settings, monkeypatch, caplog):
    """The database refuses every record (a statement timeout) while the worker stops: stop
    says once that the outcomes were not recorded, ends anyway, and the claims go with its
    LISTEN connection, so the next worker sends the delivery again (at least once, not lost)."""
    failing = [True]
    original = webhook_store.record_attempts
    refused: list[BaseException] = []

    async def record_while_failing(conn: asyncpg.Connection, *args: Any) -> Any:
        if failing[0]:
            try:
                await statement_timeout(conn)
            except asyncpg.QueryCanceledError as exc:
                refused.append(exc)
                raise
        return await original(conn, *args)

    monkeypatch.setattr(webhook_store, "record_attempts", record_while_failing)
    async with delivering() as (receiver, _):
        await add_events(db, 1)
        await receiver.wait_count(1)
        await wait_until(lambda: bool(refused), what="a record refused")
    assert logged(caplog, "webhook worker: outcomes not recorded at stop (*); they will be sent again") == 1
    assert await statuses(db) == Counter(pending=1)
    failing[0] = False
    next_worker = WebhookWorker(settings.database_url, replace(settings, **FAST))
    await next_worker.start()
    try:
        await delivered(db, 1)
    finally:
        await next_worker.stop()
    assert len(receiver.requests) == 2


async def backends(db: asyncpg.Connection, pids: list[int]) -> int:
    return await db.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])", pids)


async def test_a_pool_that_does_not_close_in_time_is_terminated_at_stop(db, delivering, monkeypatch):
    """A connection of the worker's pool is still in use when it stops (pool.close waits for
    it): after STOP_TIMEOUT the pool is terminated, its connections end with it, and stop
    returns."""
    monkeypatch.setattr(webhook_worker, "STOP_TIMEOUT", 0.2)
    async with delivering() as (_, worker):
        assert worker.pool is not None
        held = await worker.pool.acquire()
        pid = held.get_server_pid()
        assert await backends(db, [pid]) == 1
    assert _seen_closed(held)
    await wait_until(lambda: _zero(backends(db, [pid])), what="the held connection's backend ended")


async def test_a_listen_connection_that_does_not_close_in_time_is_ended_at_stop(db, delivering, monkeypatch):
    """The server's answer to the LISTEN connection's close never arrives (the worker's side
    reads nothing more): after LISTENER_CLOSE_TIMEOUT the connection is ended, its backend
    goes, and stop returns."""
    monkeypatch.setattr(webhook_worker, "LISTENER_CLOSE_TIMEOUT", 0.2)
    async with asyncio.timeout(20), delivering(webhook_interval=3600) as (_, worker):  # stop included
        await listening_and_idle(worker, rounds_of(worker))
        listener = worker._listener
        assert listener is not None
        pid = listener.get_server_pid()
        listener._transport.pause_reading()
    assert listener.is_closed()
    await wait_until(lambda: _zero(backends(db, [pid])), what="the LISTEN connection's backend ended")


async def _zero(count: Awaitable[int]) -> bool:
    return await count == 0


async def test_a_pass_that_cannot_finish_at_shutdown_is_cancelled_after_the_timeout(users, db, pool, monkeypatch, caplog):
    """At shutdown the current pass is blocked (the stock row it must lock to ship is held by
    another transaction): after SHUTDOWN_TIMEOUT it is cancelled with one WARNING, the shutdown
    goes on, nothing of the worker keeps running or waiting, and the shipment is not shipped
    (its transaction rolled back)."""
    monkeypatch.setattr(auto_fulfill, "SHUTDOWN_TIMEOUT", 0.3)
    await add_product(db, "A", stock=10)
    await reserved_orders(db, 1)
    async with db.transaction():
        await db.execute("SELECT 1 FROM stock FOR UPDATE")
        worker = auto_fulfill_context(pool, 0.001)
        await anext(worker)
        await wait_until(lambda: _true_of(lock_waiters(db)), what="the pass blocked on the stock row")
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(anext(worker), 20)  # the shutdown
        assert [t for t in asyncio.all_tasks() if t.get_name() == "auto-fulfill"] == []
        await wait_until(lambda: _zero(lock_waiters(db)), what="no statement of the pass left waiting")
    assert logged(caplog, "auto-fulfill: the current pass did not finish in time; cancelled") == 1
    assert await db.fetchval("SELECT count(*) FROM shipments WHERE status = 'shipped'") == 0


async def lock_waiters(db: asyncpg.Connection) -> int:
    """Statements of the test's database waiting for a lock (a fresh look: inside a
    transaction the statistics views are otherwise read once)."""
    await db.execute("SELECT pg_stat_clear_snapshot()")
    return await db.fetchval("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                             "AND datname = current_database()")


async def _true_of(count: Awaitable[int]) -> bool:
    return await count > 0


# ------------------------------------------------------------------ a call back from a wait


async def test_a_call_back_from_a_wait_whose_slot_was_taken_meanwhile_is_refused(make_client, users, db, add_method):
    """A call waits outside the database (``uow.away``, as webhook.test does), holding nothing,
    its concurrency slot included; meanwhile another call of the same user takes the only slot.
    Back from the wait, the first call is refused with the concurrency limit's error, in a 200
    answer (part of it ran: resending the request is not the retry a 409 invites); the other
    one is answered, and no slot is lost."""
    away, back, holding, finish = (asyncio.Event() for _ in range(4))

    async def waits_away(ctx: Any) -> str:
        async with ctx.uow.away():
            away.set()
            await back.wait()
        return "back"

    async def holds_the_slot(ctx: Any) -> str:
        holding.set()
        await finish.wait()
        return "done"

    add_method("test.away", waits_away)
    add_method("test.hold", holds_the_slot)
    rpc = await make_client(rate_limit=0, concurrency_limit=1)
    session = await rpc.login(users["merchant"])
    first = asyncio.create_task(post(rpc, call_body(session, "test.away", request_id=1)))
    await asyncio.wait_for(away.wait(), 20)
    second = asyncio.create_task(post(rpc, call_body(session, "test.hold", request_id=2)))
    await asyncio.wait_for(holding.wait(), 20)
    back.set()
    status, body, _ = await asyncio.wait_for(first, 20)
    assert (status, body["error"]["code"], body["error"]["data"]["concurrency_limit"]) == (200, CONCURRENCY_CODE, 1), body
    finish.set()
    status, body, _ = await asyncio.wait_for(second, 20)
    assert (status, body.get("result")) == (200, "done"), body

    async def none_held() -> bool:
        return await slots_held(db) == 0

    await wait_until(none_held, what="the slot freed")
