"""A call whose transaction PostgreSQL aborts as a deadlock victim (40P01) or a serialization
failure (40001) is run again, up to 3 attempts in all, each on a fresh transaction; the last
attempt's error is fault 1. A real deadlock between two order.cancel calls, and injected ones."""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

import asyncpg
import orjson
import pytest

from rpc_fulfillment.db import uow
from rpc_fulfillment.jsonrpc import dispatch
from rpc_fulfillment.orders import actions as order_actions
from rpc_fulfillment.fulfillment import queries as fulfillment_store
from tests.api.engine_helpers import allocations_of, create, events_after, history_of, items_of, last_event_seq, state_of
from tests.api.order_helpers import add_product, check_invariants, snapshot, stock_of

INTERNAL = {"code": -32001, "message": "Internal Error. Please see log for details."}
_ids = itertools.count(1000)


async def post_call(rpc: Any, session: str, path: str, args: Any) -> tuple[dict[str, Any], str]:
    """One call that may run at the same time as others: (answer, X-Request-Id)."""
    request_id = next(_ids)
    body = {"jsonrpc": "2.0", "id": request_id, "method": "call", "params": [session, path, args]}
    response = await rpc.client.post("/api/jsonrpc", data=orjson.dumps(body))
    assert response.status == 200
    answer = orjson.loads(await response.read())
    assert answer["id"] == request_id, answer
    return answer, response.headers["X-Request-Id"]


def retry_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == uow.__name__ and r.levelno == logging.WARNING and "retrying" in r.getMessage()]


@pytest.fixture
async def session(rpc, users):
    return await rpc.login(users["merchant"])


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    monkeypatch.setattr(uow, "RETRY_BACKOFF", 0.001)


# --------------------------------------------------------------------------- a real deadlock


async def test_two_cancels_that_deadlock_both_succeed(rpc, session, db, monkeypatch, caplog):
    """Two order.cancel calls, each freeing stock for the same backordered order, made to lock
    the two stock rows in opposite orders (the engine's own lock order never does; this hook
    is the stand-in for any writer that gets it wrong): each holds one row and waits for the
    other's, PostgreSQL aborts one as the deadlock victim, the server runs that call again,
    and both answer normally with the stock and the orders consistent."""
    p = await add_product(db, "DL-P", stock=2)
    q = await add_product(db, "DL-Q", stock=2)
    items = [{"sku": "DL-P", "qty": 1}, {"sku": "DL-Q", "qty": 1}]
    x = (await create(rpc, session, items))["unique_id"]
    y = (await create(rpc, session, items))["unique_id"]
    z = (await create(rpc, session, [{"sku": "DL-P", "qty": 2}, {"sku": "DL-Q", "qty": 2}]))["unique_id"]
    assert [(i["qty_processing"], i["qty_backordered"]) for i in await items_of(db, z)] == [(0, 2), (0, 2)]
    x_id, y_id = [await db.fetchval("SELECT order_id FROM orders WHERE unique_id = $1", u) for u in (x, y)]
    crossed = {x_id: (p, q, y_id), y_id: (q, p, x_id)}
    holding = {x_id: asyncio.Event(), y_id: asyncio.Event()}
    calls: list[int] = []
    real = fulfillment_store.lock_order_stock

    async def lock_crossed(conn, order_id):
        calls.append(order_id)
        if order_id in crossed and calls.count(order_id) == 1:  # first attempts only
            first, second, other = crossed[order_id]
            await conn.execute("SELECT 1 FROM stock WHERE product_id = $1 FOR UPDATE", first)
            holding[order_id].set()
            await asyncio.wait_for(holding[other].wait(), 10)  # both hold a row: now cross
            await conn.execute("SELECT 1 FROM stock WHERE product_id = $1 FOR UPDATE", second)
        await real(conn, order_id)

    monkeypatch.setattr(fulfillment_store, "lock_order_stock", lock_crossed)
    before = await last_event_seq(db)
    with caplog.at_level(logging.WARNING, logger=uow.__name__):
        (answer_x, _), (answer_y, _) = await asyncio.wait_for(asyncio.gather(
            post_call(rpc, session, "order.cancel", [x, {"all_items": True}]),
            post_call(rpc, session, "order.cancel", [y, {"all_items": True}]),
        ), timeout=30)

    assert "error" not in answer_x and "error" not in answer_y, (answer_x, answer_y)
    assert answer_x["result"]["success"] and answer_y["result"]["success"]
    assert len(calls) == 3, calls  # two first attempts, one retry of the deadlock victim
    warnings = retry_warnings(caplog)
    assert len(warnings) == 1 and "DeadlockDetectedError" in warnings[0].getMessage()
    assert await state_of(db, x) == ("canceled", "canceled")
    assert await state_of(db, y) == ("canceled", "canceled")
    # Z took the 2 + 2 units the cancels freed.
    assert await allocations_of(db, z) == {("DL-P", 1): 2, ("DL-Q", 1): 2}
    assert await stock_of(db, p) == (2, 2) and await stock_of(db, q) == (2, 2)
    await check_invariants(db)
    events = await events_after(db, before)
    for unique_id in (x, y):
        assert [t for t, m in events if m.get("unique_id") == unique_id].count("order:canceled") == 1
        assert [h for h in await history_of(db, unique_id) if h[0] == "canceled"] == [("canceled", "canceled", "Canceled by order.cancel")]


# --------------------------------------------------------------------------- injected failures


@pytest.fixture
async def order(rpc, session, db) -> str:
    """An order with 2 units reserved and 1 backordered, and a later order waiting for stock."""
    await add_product(db, "RT-A", stock=2)
    unique_id = (await create(rpc, session, [{"sku": "RT-A", "qty": 3}]))["unique_id"]
    await create(rpc, session, [{"sku": "RT-A", "qty": 2}])
    return unique_id


def failing_settle(monkeypatch, error: type[Exception], times: int) -> list[int]:
    """order.cancel's last write (the order's status, its history and events) raises ``error``
    the first ``times`` times, after all the cancel's other writes of that attempt."""
    real = order_actions.settle
    runs: list[int] = []

    async def settle(*args, **kwargs):
        runs.append(1)
        result = await real(*args, **kwargs)
        if len(runs) <= times:
            raise error("injected by the test")
        return result

    monkeypatch.setattr(order_actions, "settle", settle)
    return runs


@pytest.mark.parametrize("error", [asyncpg.exceptions.DeadlockDetectedError, asyncpg.exceptions.SerializationError])
async def test_a_transient_failure_is_retried_and_the_client_sees_a_normal_result(rpc, session, db, order, monkeypatch, caplog, error):
    runs = failing_settle(monkeypatch, error, times=1)
    before = await last_event_seq(db)
    with caplog.at_level(logging.WARNING, logger=uow.__name__):
        answer, request_id = await post_call(rpc, session, "order.cancel", [order, {"all_items": True}])
    assert "error" not in answer, answer
    assert answer["result"]["success"] is True
    assert answer["result"]["order"]["state"] == "canceled"
    assert len(runs) == 2  # the service ran twice
    warnings = retry_warnings(caplog)
    assert len(warnings) == 1
    assert request_id in warnings[0].getMessage() and "order.cancel attempt 1 of 3" in warnings[0].getMessage()
    # Only the second attempt's writes are there: one cancellation, its events once.
    topics = [topic for topic, _ in await events_after(db, before, order)]
    assert topics.count("order:canceled") == 1 and topics.count("order:items_updated") == 1
    assert [h for h in await history_of(db, order) if h[0] == "canceled"] == [("canceled", "canceled", "Canceled by order.cancel")]
    assert [(i["qty_canceled"], i["qty_processing"], i["qty_backordered"]) for i in await items_of(db, order)] == [(3, 0, 0)]
    await check_invariants(db)


async def test_a_failure_on_every_attempt_is_fault_1_after_3_attempts_and_writes_nothing(rpc, session, db, order, monkeypatch, caplog):
    runs = failing_settle(monkeypatch, asyncpg.exceptions.DeadlockDetectedError, times=10)
    before = await snapshot(db)
    with caplog.at_level(logging.WARNING, logger=uow.__name__):
        answer, request_id = await post_call(rpc, session, "order.cancel", [order, {"all_items": True}])
    assert answer["error"] == {**INTERNAL, "data": {"request_id": request_id}}
    assert len(runs) == 3
    warnings = retry_warnings(caplog)
    assert [w.getMessage().split(" failed")[0] for w in warnings] == [
        f"request {request_id}: order.cancel attempt 1 of 3", f"request {request_id}: order.cancel attempt 2 of 3",
    ]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and request_id in r.getMessage()]
    assert len(errors) == 1 and errors[0].exc_info is not None  # the usual fault 1 log line
    assert await snapshot(db) == before
    assert await state_of(db, order) == ("new", "partial_backorder")
    await check_invariants(db)


# --------------------------------------------------------------------------- what is not retried


async def flaky(ctx, failures: int = 1, error: str = "deadlock"):
    """A dummy API method failing ``failures`` times in this test (counted on the function)."""
    flaky.runs += 1
    if flaky.runs <= failures:
        kind = {"deadlock": asyncpg.exceptions.DeadlockDetectedError, "unique": asyncpg.exceptions.UniqueViolationError}[error]
        raise kind("injected by the test")
    return {"runs": flaky.runs}


@pytest.fixture
def with_flaky(add_method):
    flaky.runs = 0
    return add_method("test.flaky", flaky)


async def test_each_multicall_entry_is_retried_on_its_own(shared_rpc, shared_users, with_flaky):
    session = await shared_rpc.login(shared_users["merchant"])
    body = await shared_rpc.request("multiCall", [session, [["test.flaky", [1]], ["test.flaky", [0]]]])
    assert body["result"] == [{"runs": 2}, {"runs": 3}]


async def test_other_database_errors_are_not_retried(shared_rpc, shared_users, with_flaky):
    session = await shared_rpc.login(shared_users["merchant"])
    error = await shared_rpc.fault(session, "test.flaky", [1, "unique"])
    assert error["code"] == INTERNAL["code"]
    assert flaky.runs == 1


async def test_a_method_that_commits_more_than_once_is_not_retried(shared_rpc, shared_users, add_method):
    flaky.runs = 0
    add_method("test.flaky", flaky, retry=False)
    session = await shared_rpc.login(shared_users["merchant"])
    error = await shared_rpc.fault(session, "test.flaky", [1])
    assert error["code"] == INTERNAL["code"]
    assert flaky.runs == 1


def test_webhook_test_is_not_retried():
    # It commits its ping, then waits for the worker: run again, it would send a second ping.
    assert {path for path, method in dispatch.METHODS.items() if not method.declaration.retry} == {"webhook.test"}
