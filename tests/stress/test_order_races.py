"""Concurrent order creates: one winner per unique_id and per unique order_ref, never more
reserved than on hand, and no deadlock between order.create and order.bulk_create. Every
scenario is bounded in time and ends with the invariants."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from typing import Any

import asyncpg
import pytest

from tests.api.order_helpers import ADDRESS, EXISTS, INFO, add_product, check_invariants, stock_of

LIMIT = 60  # seconds for any one scenario


@pytest.fixture
async def session(rpc, users):
    return await rpc.login(users["merchant"])


async def together(*calls: Any) -> list[dict[str, Any]]:
    return await asyncio.wait_for(asyncio.gather(*calls), LIMIT)


_ids = itertools.count(1)


async def call(rpc, session, path: str, args: Any) -> dict[str, Any]:
    """One call; safe to run many at once (Rpc.call checks ids in sequence)."""
    request_id = f"race-{next(_ids)}"
    status, body = await rpc.post({"jsonrpc": "2.0", "id": request_id, "method": "call", "params": [session, path, args]})
    assert status == 200, body
    assert body["id"] == request_id, body
    return body


def create(rpc, session, items: Any, flags: Any = None, **info: Any) -> Any:
    args = [None, items, ADDRESS, {**INFO, **info}] + ([flags] if flags is not None else [])
    return call(rpc, session, "order.create", args)


def outcomes(bodies: list[dict[str, Any]]) -> Counter:
    return Counter("ok" if "result" in body else body["error"]["code"] for body in bodies)


async def test_50_creates_with_one_unique_id_make_one_order(rpc, session, db):
    product = await add_product(db, "A", stock=100)
    bodies = await together(*(create(rpc, session, {"A": 1}, unique_id="SAME") for _ in range(50)))
    assert outcomes(bodies) == {"ok": 1, -32104: 49}
    assert {body["error"]["message"] for body in bodies if "error" in body} == {EXISTS}
    assert await db.fetchval("SELECT count(*) FROM orders") == 1
    assert await db.fetchval("SELECT count(*) FROM events WHERE topic = 'order:created'") == 1
    assert await stock_of(db, product) == (100, 1)
    await check_invariants(db)


async def test_100_creates_for_10_units_reserve_exactly_10(rpc, session, db, database_url):
    product = await add_product(db, "A", stock=10)
    seen: list[int] = []
    done = asyncio.Event()

    async def watch() -> None:
        connection = await asyncpg.connect(database_url)
        try:
            while not done.is_set():
                seen.append(await connection.fetchval("SELECT qty_allocated FROM stock WHERE product_id = $1", product))
                await asyncio.sleep(0.005)
        finally:
            await connection.close()

    watcher = asyncio.create_task(watch())
    try:
        bodies = await together(*(create(rpc, session, {"A": 1}) for _ in range(100)))
    finally:
        done.set()
        await watcher
    assert outcomes(bodies) == {"ok": 100}
    assert Counter(body["result"]["status"] for body in bodies) == {"new": 10, "backordered": 90}
    assert len({body["result"]["unique_id"] for body in bodies}) == 100
    assert await stock_of(db, product) == (10, 10)
    assert max(seen) <= 10
    assert await db.fetchval("SELECT sum(qty_allocated) FROM order_item_allocations") == 10
    assert await db.fetchval("SELECT sum(qty_backordered) FROM order_items") == 90
    assert await db.fetchval("SELECT sum(qty_allocated_delta) FROM stock_movements") == 10
    await check_invariants(db)


async def test_creates_and_bulks_for_the_same_stock(rpc, session, db):
    product = await add_product(db, "A", stock=30)
    bulk = {str(n): [None, {"A": 2}, ADDRESS, INFO] for n in range(5)}
    calls = [create(rpc, session, {"A": 1}) for _ in range(20)]
    calls += [call(rpc, session, "order.bulk_create", [bulk]) for _ in range(4)]
    bodies = await together(*calls)
    assert all("result" in body for body in bodies), [b for b in bodies if "error" in b]
    ordered = 20 + 4 * 5 * 2
    assert await db.fetchval("SELECT sum(qty_ordered) FROM order_items") == ordered
    assert await db.fetchval("SELECT sum(qty_processing) FROM order_items") == 30
    assert await stock_of(db, product) == (30, 30)
    assert await db.fetchval("SELECT count(DISTINCT unique_id) FROM orders") == 40
    await check_invariants(db)


async def test_unique_order_ref_under_concurrency_makes_one_order(rpc, session, db):
    await add_product(db, "A", stock=100)
    bodies = await together(*(create(rpc, session, {"A": 1}, {"unique_order_ref": True}, order_ref="PO-RACE") for _ in range(30)))
    assert outcomes(bodies) == {"ok": 1, -32104: 29}
    assert await db.fetchval("SELECT count(*) FROM orders WHERE order_ref = 'PO-RACE'") == 1
    await check_invariants(db)


async def test_unique_order_ref_window_under_concurrency_makes_one_order(rpc, session, db):
    await add_product(db, "A", stock=100)
    await add_product(db, "B", stock=100)
    calls = [create(rpc, session, {"A" if n % 2 else "B": 1}, {"unique_order_ref": "-3 days"}, order_ref="PO-W") for n in range(20)]
    bodies = await together(*calls)
    assert outcomes(bodies) == {"ok": 1, -32104: 19}
    await check_invariants(db)


async def _waiting_for_locks(db: asyncpg.Connection, count: int) -> None:
    """Until ``count`` other sessions wait on a lock."""
    for _ in range(int(LIMIT / 0.01)):
        waiting = await db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        if waiting >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {count} sessions waiting on a lock")


async def test_create_and_bulk_with_the_same_order_ref_do_not_deadlock(rpc, session, db, database_url):
    """A bulk locks stock rows before the order_ref; a create must take them in that order too.

    The stock row is held here while a bulk and then a create queue up behind it; once it is
    released the bulk gets the stock first and then wants the order_ref. A create that had taken
    the order_ref before queueing for the stock would deadlock with it."""
    await add_product(db, "A", stock=10)
    holder = await asyncpg.connect(database_url)
    try:
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute("SELECT 1 FROM stock FOR UPDATE")
        flags = {"unique_order_ref": True}
        bulk = asyncio.create_task(call(rpc, session, "order.bulk_create",
                                            [{"b": [None, {"A": 1}, ADDRESS, {**INFO, "order_ref": "PO-X"}, flags]}]))
        await _waiting_for_locks(db, 1)
        single = asyncio.create_task(create(rpc, session, {"A": 1}, flags, order_ref="PO-X"))
        await _waiting_for_locks(db, 2)
        await transaction.commit()
        bulk_body, single_body = await together(bulk, single)
    finally:
        await holder.close()
    assert "result" in bulk_body, bulk_body
    assert bulk_body["result"]["b"]["order_ref"] == "PO-X"
    assert single_body.get("error", {}).get("code") == -32104, single_body
    assert await db.fetchval("SELECT count(*) FROM orders") == 1
    await check_invariants(db)


async def test_bulks_of_other_products_racing_for_the_same_unique_ids(rpc, session, db):
    """Bulks of different products do not wait on each other's stock rows, so they meet on the
    unique_ids themselves: each bulk's one statement may find an id taken meanwhile and fall
    back to order by order. Each id is still created once, every other claim is -32104, the
    automatic numbers never collide, and the stock adds up."""
    bulks, per_bulk = 8, 20
    products = [await add_product(db, f"P{k}", stock=1000) for k in range(bulks)]

    def orders_of(k: int) -> dict[str, Any]:
        chosen = {f"id-{n}": [None, {f"P{k}": 1}, ADDRESS, {**INFO, "unique_id": f"SHARED-{n}"}]
                  for n in range(k * per_bulk // 2, k * per_bulk // 2 + per_bulk)}  # half shared with the next bulk
        automatic = {f"auto-{n}": [None, {f"P{k}": 2}, ADDRESS, INFO] for n in range(5)}
        return {**chosen, **automatic}

    bodies = await together(*(call(rpc, session, "order.bulk_create", [orders_of(k)]) for k in range(bulks)))
    assert all("result" in body for body in bodies), bodies
    created: Counter = Counter()
    refused = 0
    for body in bodies:
        for key, result in body["result"].items():
            if "error" in result:
                assert (key.startswith("id-"), result["error"]["code"]) == (True, -32104), result
                refused += 1
            else:
                created[result["unique_id"]] += 1
    shared = {f"SHARED-{n}" for n in range(bulks * per_bulk // 2 + per_bulk // 2)}
    assert {uid for uid in created if uid.startswith("SHARED-")} == shared
    assert max(created.values()) == 1
    assert refused == bulks * per_bulk - len(shared)
    assert sum(1 for uid in created if not uid.startswith("SHARED-")) == bulks * 5
    assert await db.fetchval("SELECT count(*) FROM orders") == len(created)
    assert await db.fetchval("SELECT count(*) FROM events WHERE topic = 'order:created'") == len(created)
    allocated = sum([(await stock_of(db, product))[1] for product in products])
    assert allocated == len(shared) + bulks * 5 * 2
    await check_invariants(db)
