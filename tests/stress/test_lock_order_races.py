"""One lock order: stock receipts, backorder allocation and priority changes never deadlock
(bounded: about 12 s, 127.0.0.1 only).

inventory.adjust receipts (some creating a product's stock row in a second warehouse),
reserve_backorders on connections of their own over several products, and order.edit moving
backordered orders' priorities all run at once over orders that share products. Before the
engine locked orders by order_id, an allocation sorted its candidate orders by priority and
locked them in that order, so two allocations that read the priorities before and after an
order.edit locked two orders in opposite orders and deadlocked (PostgreSQL aborted one, the
server retried it), and read items as of before the lock (over-allocating: a CHECK violation,
fault 1); a receipt that created a product's stock row in a new warehouse held it while
locking the product's other rows, which others locked in the opposite order. Now: not one deadlock, counted three ways (the server's retries, which
tests/stress/conftest.py fails on; a DeadlockDetectedError on the direct connections; and
the test database's deadlock counter), and every unit is where it should be.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import asyncpg

from rpc_fulfillment.db.pool import create_pool
from rpc_fulfillment.fulfillment.engine import reserve_backorders
from tests.api.engine_helpers import create
from tests.api.order_helpers import add_product, add_stock, add_warehouse, check_invariants, merchant_id
from tests.stress.test_engine_races import call, lost_arrivals

RACE_SECONDS = 10.0  # the racing part; set-up and checks add about two
SKUS = ("LOCK-1", "LOCK-2", "LOCK-3")
ORDERS_PER_ROUND = 8
RECEIVERS, ALLOCATORS, EDITORS = 4, 4, 4  # concurrent workers of each kind
# Faults a racing call may legitimately get: order.edit after a shipment started.
EXPECTED_FAULTS = {-32105}


async def deadlocks(db: asyncpg.Connection) -> int:
    """The test database's deadlock counter (every backend's pending statistics flushed first)."""
    await db.execute("SELECT pg_stat_force_next_flush()")
    await db.execute("SELECT pg_stat_clear_snapshot()")
    return await db.fetchval("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")


async def test_receipts_allocation_and_priority_changes_never_deadlock(rpc, users, db, database_url):
    started = time.monotonic()
    merchant, warehouse = await rpc.login(users["merchant"]), await rpc.login(users["warehouse"])
    second = await add_warehouse(db)
    products = {sku: await add_product(db, sku) for sku in SKUS}
    owner = await merchant_id(db)
    rng = random.Random(13)
    problems: list[Any] = []
    deadlocks_before = await deadlocks(db)
    pool = await create_pool(database_url, ALLOCATORS)

    async def checked(session: str, path: str, args: Any) -> None:
        body = await call(rpc, session, path, args)
        if "error" in body and body["error"]["code"] not in EXPECTED_FAULTS:
            problems.append((path, args, body["error"]))

    async def allocate_direct(product_ids: list[int], qty: int) -> None:
        """Stock arriving outside the API for several products, then given to their backorders."""
        try:
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT 1 FROM stock WHERE product_id = ANY($1::bigint[]) "
                                   "ORDER BY product_id, warehouse_id FOR UPDATE", product_ids)
                for product_id in product_ids:
                    await add_stock(conn, product_id, qty, 1)
                await reserve_backorders(conn, owner, product_ids, None)
        except asyncpg.PostgresError as error:
            problems.append(repr(error))

    async def receipts(until: float) -> None:
        while time.monotonic() < until:
            await checked(warehouse, "inventory.adjust", [rng.choice(SKUS), rng.choice((1, second)), 1])

    async def allocations(until: float) -> None:
        while time.monotonic() < until:
            await allocate_direct(sorted(rng.sample(sorted(products.values()), 2)), 1)

    async def priority_changes(until: float, orders: list[str]) -> None:
        while time.monotonic() < until:
            await checked(merchant, "order.edit", [rng.choice(orders), None, {"priority": rng.choice((0, 100))}, None])

    try:
        rounds = 0
        race_ends = started + RACE_SECONDS
        while time.monotonic() < race_ends:
            rounds += 1
            orders = [
                (await create(rpc, merchant, {sku: rng.randint(1, 3) for sku in SKUS}, priority=rng.randint(0, 100)))["unique_id"]
                for _ in range(ORDERS_PER_ROUND)
            ]
            until = min(race_ends, time.monotonic() + 2.0)
            workers = [*(receipts(until) for _ in range(RECEIVERS)), *(allocations(until) for _ in range(ALLOCATORS)),
                       *(priority_changes(until, orders) for _ in range(EDITORS))]
            await asyncio.wait_for(asyncio.gather(*workers), timeout=RACE_SECONDS)
    finally:
        await pool.close()
    seen = await deadlocks(db) - deadlocks_before
    assert (seen, problems) == (0, []), f"{seen} deadlock(s) in {rounds} rounds; {len(problems)} problem(s): {problems}"
    await check_invariants(db)
    assert await lost_arrivals(db) == []
    assert rounds >= 3
    assert time.monotonic() - started < RACE_SECONDS + 8
