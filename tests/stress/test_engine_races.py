"""The fulfillment engine under concurrency (bounded in rounds, not in time: a few seconds each
here, more on a loaded machine, and a hang guard; 127.0.0.1 only).

- order.cancel racing stock arrivals (inventory.adjust over HTTP, and reserve_backorders on a
  connection of its own) and holds on orders sharing products: no unit reserved twice, stock
  never negative, the invariants hold, no arrival left while an order waits for it, and no
  deadlock (a DeadlockDetectedError, fault 1 from the server, or a call the server retried
  after a deadlock, which tests/stress/conftest.py catches, is a failure).
- order.hold (and order.unhold) racing order.cancel on one order: exactly one of the
  consistent outcomes, and no lost status change (the history and the events end where the
  order is).
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import asyncpg
import pytest

from rpc_fulfillment.fulfillment.engine import reserve_backorders
from rpc_fulfillment.db.pool import create_pool
from tests.api.engine_helpers import create, history_of, state_of
from tests.api.order_helpers import add_product, add_stock, add_warehouse, check_invariants, merchant_id

ROUNDS = 6  # of test_cancel_racing_stock_arrival_and_holds
HANG_GUARD = 60.0  # seconds one round may take before the test fails as hung (a round takes well under 1 s)
# Faults a racing call may legitimately get: the order changed under it.
EXPECTED_FAULTS = {-32102, -32103}


@pytest.fixture
async def sessions(rpc, users):
    return await rpc.login(users["merchant"]), await rpc.login(users["warehouse"])


async def lost_arrivals(db: asyncpg.Connection) -> list[dict[str, Any]]:
    """Open order items still backordered while their product has units available in an
    active warehouse: stock that arrived or was released and never reached them."""
    rows = await db.fetch(
        """SELECT o.unique_id, i.sku, i.qty_backordered, s.warehouse_id, s.qty_on_hand - s.qty_allocated AS available
             FROM order_items i JOIN orders o USING (order_id)
             JOIN stock s ON s.product_id = i.product_id JOIN warehouses w USING (warehouse_id)
            WHERE i.qty_backordered > 0 AND o.state IN ('new', 'processing', 'holded') AND w.is_active
              AND s.qty_on_hand > s.qty_allocated"""
    )
    return [dict(row) for row in rows]


async def history_ends_where_the_order_is(db: asyncpg.Connection, unique_id: str) -> None:
    """The last history entry is the order's state and status, and its order:status_changed
    events form one chain from its creation (old state and status null) to its current status."""
    row = await db.fetchrow("SELECT order_id, state, status FROM orders WHERE unique_id = $1", unique_id)
    history = await history_of(db, unique_id)
    assert history[-1][:2] == (row["state"], row["status"]), (unique_id, history)
    events = await db.fetch(
        """SELECT message FROM events WHERE topic = 'order:status_changed' AND message->>'unique_id' = $1 ORDER BY seq""",
        unique_id,
    )
    current = (None, None)
    for event in events:
        message = event["message"]
        assert (message["old_state"], message["old_status"]) == current, (unique_id, current, message)
        current = (message["state"], message["status"])
    assert current == (row["state"], row["status"]), (unique_id, current)


_ids = iter(range(10**6, 10**9))


async def call(rpc: Any, session: str, path: str, args: Any) -> dict[str, Any]:
    """One call that may run concurrently with others (Rpc.call numbers requests in turn)."""
    request_id = next(_ids)
    status, body = await rpc.post({"jsonrpc": "2.0", "id": request_id, "method": "call", "params": [session, path, args]})
    assert status == 200 and body["id"] == request_id, body
    return body


async def within_hang_guard(calls: Any, what: str) -> Any:
    """``calls`` awaited; a failure naming ``what`` if it takes HANG_GUARD seconds (a deadlock
    or a hang, not a slow machine)."""
    try:
        async with asyncio.timeout(HANG_GUARD):
            return await calls
    except TimeoutError:
        raise AssertionError(f"{what} did not finish within {HANG_GUARD:g} s: a deadlock or a hang") from None


def check_answer(body: dict[str, Any], problems: list[Any]) -> None:
    if "error" in body and body["error"]["code"] not in EXPECTED_FAULTS:
        problems.append(body["error"])


async def test_cancel_racing_stock_arrival_and_holds(rpc, sessions, db, database_url):
    merchant, warehouse = sessions
    second = await add_warehouse(db)
    products = {sku: await add_product(db, sku) for sku in ("RACE-1", "RACE-2", "RACE-3")}
    owner = await merchant_id(db)
    rng = random.Random(20240611)
    problems: list[Any] = []
    pool = await create_pool(database_url, 4)

    async def arrive_direct(product_id: int, qty: int) -> None:
        """Stock arriving outside the API: the stock rows are locked in primary-key order
        (what every receipt must do), then the units are added and reserved."""
        try:
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "SELECT 1 FROM stock WHERE product_id = $1 ORDER BY product_id, warehouse_id FOR UPDATE", product_id
                )
                await add_stock(conn, product_id, qty, 1)
                await reserve_backorders(conn, owner, [product_id], None)
        except asyncpg.PostgresError as error:  # a deadlock among them
            problems.append(repr(error))

    async def checked(session: str, path: str, args: Any) -> None:
        check_answer(await call(rpc, session, path, args), problems)

    try:
        for round_no in range(ROUNDS):
            await checked(warehouse, "inventory.adjust", ["RACE-1", 1, 3])
            orders = []
            for _ in range(6):
                items = {sku: rng.randint(1, 3) for sku in rng.sample(sorted(products), rng.randint(1, 3))}
                orders.append((await create(rpc, merchant, items, priority=rng.choice((10, 50, 90))))["unique_id"])
            tasks = []
            for unique_id in orders[:4]:
                options = rng.choice([
                    {"all_items": True}, {"unfulfilled_items": True}, {"backordered_items": True},
                    {"items": [{"sku": "RACE-1", "qty": 1}]},
                ])
                tasks.append(checked(merchant, "order.cancel", [unique_id, options, None]))
            for sku in products:
                tasks.append(checked(warehouse, "inventory.adjust", [sku, rng.choice((1, second)), rng.randint(1, 3)]))
                tasks.append(arrive_direct(products[sku], rng.randint(1, 2)))
            tasks.append(checked(merchant, "order.hold", [orders[4]]))
            tasks.append(checked(merchant, "order.hold", [orders[0]]))
            tasks.append(checked(merchant, "order.unhold", [orders[0]]))
            rng.shuffle(tasks)
            await within_hang_guard(asyncio.gather(*tasks), f"round {round_no}")
            assert problems == [], problems
            await check_invariants(db)
            assert await lost_arrivals(db) == []
            for unique_id in orders:
                await history_ends_where_the_order_is(db, unique_id)
    finally:
        await pool.close()
    # Every unit is somewhere: reserved units are the stock's allocated units, per product.
    per_product = await db.fetch(
        """SELECT p.product_id,
                  (SELECT coalesce(sum(qty_allocated), 0) FROM stock s WHERE s.product_id = p.product_id) AS allocated,
                  (SELECT coalesce(sum(qty_processing), 0) FROM order_items i WHERE i.product_id = p.product_id) AS processing
             FROM products p WHERE p.product_id = ANY($1::bigint[])""",
        list(products.values()),
    )
    assert all(row["allocated"] == row["processing"] for row in per_product), [dict(r) for r in per_product]
    assert await db.fetchval("SELECT count(*) FROM stock WHERE qty_on_hand < 0 OR qty_allocated < 0") == 0


async def test_hold_racing_cancel_on_one_order(rpc, sessions, db):
    merchant, _ = sessions
    await add_product(db, "SKU-HC", stock=1000)
    await add_product(db, "SKU-BO")
    outcomes: dict[str, int] = {}
    for round_no in range(25):
        order = await create(rpc, merchant, {"SKU-HC": 2, "SKU-BO": 1})
        unique_id = order["unique_id"]
        hold, canceled = await within_hang_guard(asyncio.gather(
            call(rpc, merchant, "order.hold", [unique_id]),
            call(rpc, merchant, "order.cancel", [unique_id, {"all_items": True}, ["status"]]),
        ), f"round {round_no}")
        assert "error" not in canceled, canceled
        assert canceled["result"]["success"] is True
        assert await state_of(db, unique_id) == ("canceled", "canceled")
        statuses = [status for _, status, _ in await history_of(db, unique_id)]
        if "error" in hold:
            # The cancel came first: the hold is refused, naming the status it found.
            assert hold["error"]["code"] == -32103 and "'canceled'" in hold["error"]["message"], hold
            assert statuses == ["partial_backorder", "canceled"]
            outcomes["cancel first"] = outcomes.get("cancel first", 0) + 1
        else:
            # The hold came first; the cancel then canceled the held order.
            assert hold["result"] is True
            assert statuses == ["partial_backorder", "holded", "canceled"]
            outcomes["hold first"] = outcomes.get("hold first", 0) + 1
        await history_ends_where_the_order_is(db, unique_id)
    assert sum(outcomes.values()) == 25, outcomes
    await check_invariants(db)
    assert await db.fetchval("SELECT qty_allocated FROM stock s JOIN products p USING (product_id) WHERE p.sku = 'SKU-HC'") == 0


async def test_unhold_and_partial_cancel_racing_on_one_order(rpc, sessions, db):
    """Neither call can refuse the other: both changes must be there at the end."""
    merchant, _ = sessions
    product = await add_product(db, "SKU-UC", stock=1000)
    for round_no in range(20):
        order = await create(rpc, merchant, {"SKU-UC": 3}, hold_indefinitely=True)
        unique_id = order["unique_id"]
        unhold, canceled = await within_hang_guard(asyncio.gather(
            call(rpc, merchant, "order.unhold", [unique_id]),
            call(rpc, merchant, "order.cancel", [unique_id, {"items": [{"sku": "SKU-UC", "qty": 1}]}, None]),
        ), f"round {round_no}")
        assert unhold.get("result") is True, unhold
        assert canceled.get("result", {}).get("success") is True, canceled
        assert await state_of(db, unique_id) == ("new", "new")
        assert await db.fetchval(
            "SELECT qty_canceled FROM order_items i JOIN orders o USING (order_id) WHERE o.unique_id = $1", unique_id
        ) == 1
        await history_ends_where_the_order_is(db, unique_id)
    assert await db.fetchval("SELECT qty_allocated FROM stock WHERE product_id = $1", product) == 40
    await check_invariants(db)
