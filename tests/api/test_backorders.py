"""Backorders filled by arriving stock: most urgent order first (lower priority number, then
oldest), statuses moving backordered -> partial_backorder -> new with their events, orders on
hold reserved for but left on hold, canceled orders left out, several warehouses."""

from __future__ import annotations

import pytest

from rpc_fulfillment.db.pool import create_pool
from rpc_fulfillment.workers.scheduler import release_due_holds
from tests.api.engine_helpers import (
    allocations_of,
    arrive,
    create,
    events_after,
    last_event_seq,
    state_of,
    status_changes,
)
from tests.api.order_helpers import add_product, add_warehouse, check_invariants, stock_of


@pytest.fixture
async def session(rpc, users):
    return await rpc.login(users["merchant"])


async def reserved(db, orders: dict[str, str]) -> dict[str, int]:
    """Units reserved per order (by name), over every warehouse."""
    return {name: sum((await allocations_of(db, unique_id)).values()) for name, unique_id in orders.items()}


async def changes_by_order(db, mark: int, orders: dict[str, str]) -> dict[str, list[tuple[str, str]]]:
    """(old_status, status) of each order's order:status_changed events since ``mark``."""
    result = {}
    for name, unique_id in orders.items():
        changes = status_changes(await events_after(db, mark, unique_id))
        if changes:
            result[name] = [(old, new) for _, old, _, new in changes]
    return result


@pytest.fixture
async def five(rpc, session, db):
    """Five backordered orders of SKU-P, created in this order:
    o1 2 units priority 50, o2 2 units priority 10, o3 1 unit priority 50, o4 1 unit priority 90,
    o5 1 unit priority 10. Most urgent first: o2, o5, o1, o3, o4."""
    product = await add_product(db, "SKU-P")
    orders = {}
    for name, qty, priority in (("o1", 2, 50), ("o2", 2, 10), ("o3", 1, 50), ("o4", 1, 90), ("o5", 1, 10)):
        order = await create(rpc, session, {"SKU-P": qty}, priority=priority, order_ref=name)
        assert order["status"] == "backordered"
        orders[name] = order["unique_id"]
    return product, orders


async def test_arrivals_go_to_the_most_urgent_then_the_oldest(db, five):
    product, orders = five
    mark = await last_event_seq(db)
    await arrive(db, product, 1)
    assert await reserved(db, orders) == {"o1": 0, "o2": 1, "o3": 0, "o4": 0, "o5": 0}
    assert await state_of(db, orders["o2"]) == ("new", "partial_backorder")
    assert await changes_by_order(db, mark, orders) == {"o2": [("backordered", "partial_backorder")]}
    await check_invariants(db)

    mark = await last_event_seq(db)
    await arrive(db, product, 2)
    assert await reserved(db, orders) == {"o1": 0, "o2": 2, "o3": 0, "o4": 0, "o5": 1}
    assert await changes_by_order(db, mark, orders) == {"o2": [("partial_backorder", "new")], "o5": [("backordered", "new")]}
    await check_invariants(db)

    mark = await last_event_seq(db)
    await arrive(db, product, 3)
    # Equal priority 50: o1 is older than o3, and takes both of its units first.
    assert await reserved(db, orders) == {"o1": 2, "o2": 2, "o3": 1, "o4": 0, "o5": 1}
    assert await changes_by_order(db, mark, orders) == {"o1": [("backordered", "new")], "o3": [("backordered", "new")]}
    assert {name: (await state_of(db, unique_id))[1] for name, unique_id in orders.items()} == {
        "o1": "new", "o2": "new", "o3": "new", "o4": "backordered", "o5": "new",
    }
    assert await stock_of(db, product) == (6, 6)
    events = await events_after(db, mark, orders["o1"])
    assert events == [("order:status_changed", {
        "unique_id": orders["o1"], "order_ref": "o1", "source": None,
        "old_status": "backordered", "status": "new", "old_state": "new", "state": "new",
    })]
    await check_invariants(db)


async def test_an_arrival_larger_than_the_backorders_leaves_the_rest_available(db, five):
    product, orders = five
    await arrive(db, product, 10)
    assert await reserved(db, orders) == {"o1": 2, "o2": 2, "o3": 1, "o4": 1, "o5": 1}
    assert await stock_of(db, product) == (10, 7)
    movements = await db.fetch("SELECT entity_id, qty_allocated_delta FROM stock_movements WHERE entity_action = 'allocate'")
    assert sorted((m["entity_id"], m["qty_allocated_delta"]) for m in movements) == sorted(
        [(orders["o1"], 2), (orders["o2"], 2), (orders["o3"], 1), (orders["o4"], 1), (orders["o5"], 1)]
    )
    await check_invariants(db)


async def test_inventory_adjust_fills_backorders_in_the_same_order(rpc, users, db, five):
    product, orders = five
    warehouse = await rpc.login(users["warehouse"])
    answer = await rpc.result(warehouse, "inventory.adjust", ["SKU-P", 1, 3])
    assert await reserved(db, orders) == {"o1": 0, "o2": 2, "o3": 0, "o4": 0, "o5": 1}
    assert (answer["qty_on_hand"], answer["qty_allocated"], answer["qty_available"]) == ("3.0000", "3.0000", "0.0000")
    await rpc.result(warehouse, "inventory.adjust", ["SKU-P", 1, 2])
    assert await reserved(db, orders) == {"o1": 2, "o2": 2, "o3": 0, "o4": 0, "o5": 1}
    assert await stock_of(db, product) == (5, 5)
    await check_invariants(db)


async def test_priority_changed_by_edit_counts_at_the_next_arrival(rpc, session, db, five):
    product, orders = five
    await rpc.result(session, "order.edit", [orders["o4"], None, {"priority": 0}])
    await arrive(db, product, 1)
    assert await reserved(db, orders) == {"o1": 0, "o2": 0, "o3": 0, "o4": 1, "o5": 0}
    await check_invariants(db)


async def test_an_order_with_several_lines_stays_partial_until_every_line_is_reserved(rpc, session, db):
    first, second = await add_product(db, "SKU-1"), await add_product(db, "SKU-2", stock=1)
    order = await create(rpc, session, {"SKU-1": 2, "SKU-2": 3})
    unique_id = order["unique_id"]
    assert order["status"] == "partial_backorder"
    await arrive(db, first, 2)
    assert await state_of(db, unique_id) == ("new", "partial_backorder")
    mark = await last_event_seq(db)
    await arrive(db, second, 2)
    assert await allocations_of(db, unique_id) == {("SKU-1", 1): 2, ("SKU-2", 1): 3}
    assert status_changes(await events_after(db, mark)) == [("new", "partial_backorder", "new", "new")]
    await check_invariants(db)


async def test_an_all_backordered_order_becomes_partial_then_new(rpc, session, db):
    product = await add_product(db, "SKU-P")
    order = await create(rpc, session, {"SKU-P": 3})
    mark = await last_event_seq(db)
    await arrive(db, product, 1)
    await arrive(db, product, 2)
    assert status_changes(await events_after(db, mark)) == [
        ("new", "backordered", "new", "partial_backorder"), ("new", "partial_backorder", "new", "new"),
    ]
    info = await rpc.result(session, "order.info", [order["unique_id"], ["items"]])
    assert (info["items"][0]["qty_processing"], info["items"][0]["qty_backordered"]) == ("3.0000", "0.0000")
    assert info["items"][0]["allocation_data"] == [{"warehouse_id": "1", "qty_allocated": "3.0000"}]


async def test_an_order_on_hold_receives_stock_but_stays_on_hold(rpc, session, db):
    product = await add_product(db, "SKU-P")
    held = await create(rpc, session, {"SKU-P": 2}, priority=10)
    waiting = await create(rpc, session, {"SKU-P": 1}, priority=50)
    await rpc.result(session, "order.hold", [held["unique_id"]])
    mark = await last_event_seq(db)
    await arrive(db, product, 2)
    # The held order is the more urgent one: it takes both units and stays on hold, silently.
    assert await allocations_of(db, held["unique_id"]) == {("SKU-P", 1): 2}
    assert await state_of(db, held["unique_id"]) == ("holded", "holded")
    assert await events_after(db, mark, held["unique_id"]) == []
    assert await state_of(db, waiting["unique_id"]) == ("new", "backordered")
    await arrive(db, product, 1)
    assert await state_of(db, waiting["unique_id"]) == ("new", "new")
    await rpc.result(session, "order.unhold", [held["unique_id"]])
    assert await state_of(db, held["unique_id"]) == ("new", "new")
    await check_invariants(db)


async def test_a_scheduled_hold_receives_stock_and_is_released_with_it(rpc, session, db):
    product = await add_product(db, "SKU-P")
    order = await create(rpc, session, {"SKU-P": 2}, delayed_ship_date="2099-01-01")
    await arrive(db, product, 2)
    assert await state_of(db, order["unique_id"]) == ("holded", "delayed_shipment")
    assert await allocations_of(db, order["unique_id"]) == {("SKU-P", 1): 2}
    await rpc.result(session, "order.unhold", [order["unique_id"]])
    assert await state_of(db, order["unique_id"]) == ("new", "new")
    await check_invariants(db)


async def test_a_scheduled_hold_released_by_the_scheduler_counts_what_arrived(rpc, session, db, database_url):
    product = await add_product(db, "SKU-P", stock=1)
    order = await create(rpc, session, {"SKU-P": 3}, delayed_ship_date="2099-01-01")
    await arrive(db, product, 2)
    await db.execute("UPDATE orders SET delayed_ship_date = now() - interval '1 minute'")
    mark = await last_event_seq(db)
    pool = await create_pool(database_url, 1)
    try:
        assert await release_due_holds(pool) == 1
    finally:
        await pool.close()
    assert await state_of(db, order["unique_id"]) == ("new", "new")
    assert status_changes(await events_after(db, mark)) == [("holded", "delayed_shipment", "new", "new")]
    await check_invariants(db)


async def test_a_canceled_order_receives_nothing(rpc, session, db):
    product = await add_product(db, "SKU-P")
    canceled = await create(rpc, session, {"SKU-P": 2}, priority=0)
    open_order = await create(rpc, session, {"SKU-P": 1})
    await rpc.result(session, "order.cancel", [canceled["unique_id"], {"backordered_items": True}])
    assert await state_of(db, canceled["unique_id"]) == ("canceled", "canceled")
    mark = await last_event_seq(db)
    await arrive(db, product, 3)
    assert await allocations_of(db, canceled["unique_id"]) == {}
    assert await events_after(db, mark, canceled["unique_id"]) == []
    assert await allocations_of(db, open_order["unique_id"]) == {("SKU-P", 1): 1}
    assert await stock_of(db, product) == (3, 1)
    await check_invariants(db)


async def test_a_processing_order_with_backorders_becomes_processing(rpc, session, db):
    product = await add_product(db, "SKU-P", stock=1)
    order = await create(rpc, session, {"SKU-P": 2})
    await db.execute("UPDATE orders SET state = 'processing', status = 'partial_backorder' WHERE unique_id = $1", order["unique_id"])
    mark = await last_event_seq(db)
    await arrive(db, product, 1)
    assert await state_of(db, order["unique_id"]) == ("processing", "processing")
    assert status_changes(await events_after(db, mark)) == [("processing", "partial_backorder", "processing", "processing")]
    await check_invariants(db)


async def test_two_warehouses(rpc, session, db):
    second = await add_warehouse(db)
    product = await add_product(db, "SKU-W")
    big = await create(rpc, session, {"SKU-W": 3})
    small = await create(rpc, session, {"SKU-W": 2})
    await arrive(db, product, 2, warehouse_id=second)
    assert await allocations_of(db, big["unique_id"]) == {("SKU-W", second): 2}
    assert await allocations_of(db, small["unique_id"]) == {}
    await arrive(db, product, 2, warehouse_id=1)
    assert await allocations_of(db, big["unique_id"]) == {("SKU-W", second): 2, ("SKU-W", 1): 1}
    assert await allocations_of(db, small["unique_id"]) == {("SKU-W", 1): 1}
    assert await stock_of(db, product, 1) == (2, 2)
    assert await stock_of(db, product, second) == (2, 2)
    assert await state_of(db, big["unique_id"]) == ("new", "new")
    assert await state_of(db, small["unique_id"]) == ("new", "partial_backorder")
    # Both warehouses receive at once: the order takes from the one with most available first.
    await arrive(db, product, 1, warehouse_id=second)
    assert await allocations_of(db, small["unique_id"]) == {("SKU-W", 1): 1, ("SKU-W", second): 1}
    await check_invariants(db)


async def test_stock_in_an_inactive_warehouse_is_not_reserved(rpc, session, db):
    closed = await add_warehouse(db, "Closed", is_active=False)
    product = await add_product(db, "SKU-W")
    order = await create(rpc, session, {"SKU-W": 1})
    await arrive(db, product, 5, warehouse_id=closed)
    assert await allocations_of(db, order["unique_id"]) == {}
    assert await state_of(db, order["unique_id"]) == ("new", "backordered")
    await check_invariants(db)


async def test_another_merchants_arrival_fills_only_their_orders(rpc, users, session, db):
    await add_product(db, "SKU-M")
    theirs = await add_product(db, "SKU-M", merchant="other")
    other = await rpc.login(users["other"])
    mine = await create(rpc, session, {"SKU-M": 1}, unique_id="MINE-1")
    await create(rpc, other, {"SKU-M": 1}, unique_id="THEIRS-1")
    await arrive(db, theirs, 1, merchant="other")
    assert await allocations_of(db, "MINE-1") == {}
    assert await state_of(db, mine["unique_id"]) == ("new", "backordered")
    assert await allocations_of(db, "THEIRS-1") == {("SKU-M", 1): 1}
    await check_invariants(db)
