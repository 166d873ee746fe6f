"""order.hold, order.cancel and shipment.create (twice, from two warehouse clients) racing on one
order, through two app instances on one database (as two server processes would be), bounded in
time. The pairs are covered in test_shipment_races.py and test_engine_races.py; this is all of
them at once, with every cancel option.

After every round:
- no call failed with anything but a refusal (fault 102/103: never fault 1, never a deadlock,
  not even one the server retried: tests/stress/conftest.py);
- no double allocation: each item's units add up (reserved + canceled + backordered + shipped =
  ordered), no unit is in two shipments, open shipments hold only reserved units, and the stock
  rows match the allocations (check_invariants, shipment_invariants);
- no lost status change: the status history ends at the order's state and status, its
  order:status_changed events form one chain to it, a successful hold or cancel is in the
  history, a canceled order stays canceled, and a created shipment is there.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from typing import Any

import asyncpg
import pytest

from tests import figures
from tests.api.engine_helpers import history_of
from tests.api.order_helpers import ADDRESS, INFO, add_product, check_invariants
from tests.api.shipment_helpers import shipment_invariants

CANCEL_OPTIONS = (
    {"unfulfilled_items": True},
    {"all_items": True},
    {"cancellation_request": True},
    {"all_items": True, "cancellation_request": True},
)
ROUNDS_PER_OPTION = 6
LIMIT = 60.0  # seconds for the whole test
REFUSALS = {-32102, -32103}  # the order changed under the call


@pytest.fixture
async def clients(make_client, users) -> dict[str, Any]:
    first, second = await make_client(), await make_client()
    return {
        "first": first,
        "second": second,
        "merchant": await first.login(users["merchant"]),
        "merchant2": await second.login(users["merchant"]),
        "warehouse": await first.login(users["warehouse"]),
        "admin": await second.login(users["admin"]),
    }


_ids = iter(range(10**6, 10**9))


async def call(rpc: Any, session: str, path: str, args: Any, delay: float) -> dict[str, Any]:
    await asyncio.sleep(delay)
    request_id = next(_ids)
    status, body = await rpc.post({"jsonrpc": "2.0", "id": request_id, "method": "call", "params": [session, path, args]})
    assert status == 200 and body["id"] == request_id, body
    if "error" in body:
        assert body["error"]["code"] in REFUSALS, (path, body)
    return body


async def history_ends_where_the_order_is(db: asyncpg.Connection, unique_id: str) -> list[tuple[str, str]]:
    row = await db.fetchrow("SELECT state, status FROM orders WHERE unique_id = $1", unique_id)
    history = [entry[:2] for entry in await history_of(db, unique_id)]
    assert history[-1] == (row["state"], row["status"]), (unique_id, history, dict(row))
    events = await db.fetch(
        "SELECT message FROM events WHERE topic = 'order:status_changed' AND message->>'unique_id' = $1 ORDER BY seq",
        unique_id,
    )
    current = (None, None)  # order:status_changed from nothing at creation
    for event in events:
        message = event["message"]
        assert (message["old_state"], message["old_status"]) == current, (unique_id, current, message)
        current = (message["state"], message["status"])
    assert current == history[-1], (unique_id, current, history)
    return history


async def test_hold_cancel_and_two_shipment_creates_on_one_order(clients, db):
    for sku in ("A", "B"):
        await add_product(db, sku, stock=1000)
    first, second = clients["first"], clients["second"]
    rng = random.Random(20240612)
    outcomes: Counter[str] = Counter()
    started = time.monotonic()
    rounds = 0
    async with asyncio.timeout(LIMIT):
        for options in CANCEL_OPTIONS:
            for _ in range(ROUNDS_PER_OPTION):
                rounds += 1
                unique_id = f"race3-{rounds}"
                await first.result(clients["merchant"], "order.create", [None, {"A": 2, "B": 1}, ADDRESS, {**INFO, "unique_id": unique_id}])
                # Each call in turn gets a head start, the others follow within a few milliseconds.
                delays = [rng.uniform(0.0, 0.012) for _ in range(4)]
                delays[rounds % 4] = 0.0
                hold, cancel, create1, create2 = await asyncio.gather(
                    call(first, clients["merchant"], "order.hold", [unique_id], delays[0]),
                    call(second, clients["merchant2"], "order.cancel", [unique_id, options], delays[1]),
                    call(first, clients["warehouse"], "shipment.create", [unique_id], delays[2]),
                    call(second, clients["admin"], "shipment.create", [unique_id], delays[3]),
                )
                won = [name for name, body in (("hold", hold), ("cancel", cancel), ("create", create1), ("create", create2))
                       if "error" not in body]
                outcomes[" + ".join(won) or "none"] += 1

                history = await history_ends_where_the_order_is(db, unique_id)
                order = await db.fetchrow("SELECT order_id, state, status FROM orders WHERE unique_id = $1", unique_id)
                states = {state for state, _ in history}
                held = "error" not in hold
                canceled = "error" not in cancel and cancel["result"]["success"]
                shipments = await db.fetchval("SELECT count(*) FROM shipments WHERE order_id = $1", order["order_id"])
                assert shipments == sum("error" not in body for body in (create1, create2)), (unique_id, create1, create2)
                assert shipments <= 1, (unique_id, "two shipments of the whole order: units twice", create1, create2)
                where = (unique_id, options, won, history)
                if held:
                    assert "holded" in states, where
                    assert shipments == 0, where  # a held order gets no shipment; a shipped-from one no hold
                if "canceled" in states:
                    assert order["state"] == "canceled" and canceled, where  # nothing leaves canceled
                if canceled and shipments == 0:
                    assert order["state"] == "canceled", where  # every option cancels all unshipped units
                if canceled and order["state"] != "canceled":
                    assert shipments == 1, where  # only units in a shipment keep a canceled order open
                if held and not canceled:
                    assert order["state"] == "holded", where
                items = await db.fetch(
                    """SELECT sku, qty_ordered, qty_processing, qty_canceled, qty_backordered, qty_shipped, qty_in_shipment
                         FROM order_items WHERE order_id = $1""",
                    order["order_id"],
                )
                for item in items:
                    assert item["qty_processing"] + item["qty_canceled"] + item["qty_backordered"] + item["qty_shipped"] \
                        == item["qty_ordered"], (unique_id, dict(item))
                    assert item["qty_in_shipment"] <= item["qty_processing"], (unique_id, dict(item))
                await check_invariants(db)
                await shipment_invariants(db)
    seconds = time.monotonic() - started
    figures.record("races", f"hold + cancel + 2 x shipment.create on one order: {rounds} rounds in {seconds:.1f} s, "
                            f"0 double allocations, 0 lost status changes; winners: "
                            + ", ".join(f"{k}: {v}" for k, v in outcomes.most_common()))
