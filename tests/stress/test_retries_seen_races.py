"""The race tests' guard against hidden retries (tests/stress/conftest.py) sees a real one.

The server retries a call that PostgreSQL aborts as a deadlock victim or a serialization
failure, and the answer does not show it; the race tests fail when the guard saw a retry. If
the retry's log line changed its logger or its wording, the guard would pass everything: this
test makes a retry happen (order.cancel's last write fails once, as tests/api/test_retry.py
does) and checks that the guard recorded it, with its method and SQLSTATE, then clears it.
"""

from __future__ import annotations

import asyncpg
import pytest

from rpc_fulfillment.db import uow
from rpc_fulfillment.orders import actions as order_actions
from tests.api.engine_helpers import create
from tests.api.order_helpers import add_product
from tests.stress.conftest import RetryLog


@pytest.mark.parametrize(
    "error, sqlstate",
    [(asyncpg.exceptions.DeadlockDetectedError, "40P01"), (asyncpg.exceptions.SerializationError, "40001")],
    ids=["deadlock", "serialization failure"],
)
async def test_the_guard_sees_a_retried_call(rpc, users, db, monkeypatch, no_retried_calls: RetryLog, error, sqlstate):
    monkeypatch.setattr(uow, "RETRY_BACKOFF", 0.001)
    session = await rpc.login(users["merchant"])
    await add_product(db, "RS-A", stock=2)
    unique_id = (await create(rpc, session, [{"sku": "RS-A", "qty": 1}]))["unique_id"]
    real, runs = order_actions.settle, []

    async def settle(*args, **kwargs):
        runs.append(1)
        result = await real(*args, **kwargs)
        if len(runs) == 1:
            raise error("injected by the test")
        return result

    monkeypatch.setattr(order_actions, "settle", settle)
    assert no_retried_calls.retries == []
    body = await rpc.call(session, "order.cancel", [unique_id, {"all_items": True}])
    assert body["result"]["success"] is True  # the answer does not show the retry
    assert len(runs) == 2
    assert [(r.method, r.sqlstate, r.error) for r in no_retried_calls.retries] == [("order.cancel", sqlstate, error.__name__)]
    assert "order.cancel" in no_retried_calls.report() and sqlstate in no_retried_calls.report()
    no_retried_calls.retries.clear()  # seen: this test's retry is the expected one
