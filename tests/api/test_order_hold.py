"""order.hold and order.unhold: from which statuses, what they keep (reservations), what they
write (history, order:holded and order:status_changed), fault 103 naming the status, fault 100
for orders the caller cannot see, and the merchant role."""

from __future__ import annotations

import pytest

from tests.api.engine_helpers import (
    allocations_of,
    arrive,
    create,
    events_after,
    history_of,
    last_event_seq,
    state_of,
    status_changes,
)
from tests.api.order_helpers import NOT_FOUND, add_product, assert_fault, check_invariants, snapshot, stock_of

NEW_STATUSES = [(5, "new"), (2, "partial_backorder"), (0, "backordered")]


@pytest.fixture
async def session(rpc, users):
    return await rpc.login(users["merchant"])


async def _held_order(rpc, session, db, stock: int, qty: int = 4, **info):
    product = await add_product(db, "SKU-H", stock=stock)
    order = await create(rpc, session, {"SKU-H": qty}, **info)
    return product, order


# ------------------------------------------------------------------------------------- hold


@pytest.mark.parametrize(("stock", "status"), NEW_STATUSES)
async def test_hold_from_every_status_of_state_new(rpc, session, db, stock, status):
    product, order = await _held_order(rpc, session, db, stock, order_ref="REF-H", source="shop:1")
    unique_id = order["unique_id"]
    assert (order["state"], order["status"]) == ("new", status)
    reserved = await allocations_of(db, unique_id)
    stock_before = await stock_of(db, product)
    mark = await last_event_seq(db)

    assert await rpc.result(session, "order.hold", [unique_id]) is True

    assert await state_of(db, unique_id) == ("holded", "holded")
    info = await rpc.result(session, "order.info", [unique_id, ["status", "state", "items", "status_history"]])
    assert (info["state"], info["status"]) == ("holded", "holded")
    assert info["status_history"][-1]["status"] == "holded" and info["status_history"][-1]["state"] == "holded"
    assert await allocations_of(db, unique_id) == reserved
    assert await stock_of(db, product) == stock_before == (stock, min(stock, 4))
    assert info["items"][0]["qty_processing"] == f"{min(stock, 4)}.0000"
    events = await events_after(db, mark)
    reference = {"unique_id": unique_id, "order_ref": "REF-H", "source": "shop:1"}
    assert events == [
        ("order:status_changed", {**reference, "old_status": status, "status": "holded", "old_state": "new", "state": "holded"}),
        ("order:holded", {**reference, "status": "holded", "state": "holded"}),
    ]
    assert (await history_of(db, unique_id))[-1] == ("holded", "holded", None)
    await check_invariants(db)


async def test_hold_of_an_order_on_hold_is_fault_103_and_changes_nothing(rpc, session, db):
    _, order = await _held_order(rpc, session, db, 5)
    await rpc.result(session, "order.hold", [order["unique_id"]])
    before = await snapshot(db)
    error = await rpc.fault(session, "order.hold", [order["unique_id"]])
    assert_fault(error, 103)
    assert "'holded'" in error["message"]
    assert error["message"].startswith("the order cannot be put on hold")
    assert await snapshot(db) == before


async def test_hold_of_a_canceled_order_names_its_status(rpc, session, db):
    _, order = await _held_order(rpc, session, db, 5)
    await rpc.result(session, "order.cancel", [order["unique_id"], {"all_items": True}])
    before = await snapshot(db)
    error = await rpc.fault(session, "order.hold", [order["unique_id"]])
    assert_fault(error, 103)
    assert "'canceled'" in error["message"]
    assert await snapshot(db) == before


@pytest.mark.parametrize(("state", "status"), [("processing", "processing"), ("processing", "partial_backorder"), ("complete", "complete")])
async def test_hold_once_fulfillment_started_is_fault_103(rpc, session, db, state, status):
    _, order = await _held_order(rpc, session, db, 5)
    await db.execute("UPDATE orders SET state = $2, status = $3 WHERE unique_id = $1", order["unique_id"], state, status)
    before = await snapshot(db)
    error = await rpc.fault(session, "order.hold", [order["unique_id"]])
    assert_fault(error, 103)
    assert f"'{status}'" in error["message"] and f"'{state}'" in error["message"]
    assert await snapshot(db) == before


async def test_hold_of_a_scheduled_hold_is_fault_103(rpc, session, db):
    _, order = await _held_order(rpc, session, db, 5, delayed_ship_date="2099-01-01")
    assert order["status"] == "delayed_shipment"
    error = await rpc.fault(session, "order.hold", [order["unique_id"]])
    assert_fault(error, 103)
    assert "'delayed_shipment'" in error["message"]
    assert await state_of(db, order["unique_id"]) == ("holded", "delayed_shipment")


# ----------------------------------------------------------------------------------- unhold


@pytest.mark.parametrize(("stock", "status"), NEW_STATUSES)
async def test_unhold_returns_to_new_with_the_status_its_allocation_gives(rpc, session, db, stock, status):
    product, order = await _held_order(rpc, session, db, stock, order_ref="REF-U")
    unique_id = order["unique_id"]
    await rpc.result(session, "order.hold", [unique_id])
    mark = await last_event_seq(db)
    assert await rpc.result(session, "order.unhold", [unique_id]) is True
    assert await state_of(db, unique_id) == ("new", status)
    assert await stock_of(db, product) == (stock, min(stock, 4))
    events = await events_after(db, mark)
    # ShipStream has no order:unholded; the change is an order:status_changed.
    assert [topic for topic, _ in events] == ["order:status_changed"]
    assert status_changes(events) == [("holded", "holded", "new", status)]
    assert (await history_of(db, unique_id))[-2:] == [("holded", "holded", None), ("new", status, None)]
    await check_invariants(db)


async def test_unhold_counts_stock_that_arrived_while_on_hold(rpc, session, db):
    product, order = await _held_order(rpc, session, db, 1, qty=4)
    unique_id = order["unique_id"]
    assert order["status"] == "partial_backorder"
    await rpc.result(session, "order.hold", [unique_id])
    mark = await last_event_seq(db)
    await arrive(db, product, 3)
    # Reserved for, but still on hold: no status change, no event for the order.
    assert await allocations_of(db, unique_id) == {("SKU-H", 1): 4}
    assert await state_of(db, unique_id) == ("holded", "holded")
    assert await events_after(db, mark, unique_id) == []
    assert await rpc.result(session, "order.unhold", [unique_id]) is True
    assert await state_of(db, unique_id) == ("new", "new")
    assert status_changes(await events_after(db, mark)) == [("holded", "holded", "new", "new")]
    assert await stock_of(db, product) == (4, 4)
    await check_invariants(db)


@pytest.mark.parametrize(("stock", "status"), NEW_STATUSES)
async def test_unhold_of_an_order_not_on_hold_is_fault_103(rpc, session, db, stock, status):
    _, order = await _held_order(rpc, session, db, stock)
    before = await snapshot(db)
    error = await rpc.fault(session, "order.unhold", [order["unique_id"]])
    assert_fault(error, 103)
    assert error["message"].startswith("the order is not on hold")
    assert f"'{status}'" in error["message"]
    assert await snapshot(db) == before


async def test_unhold_of_a_canceled_order_is_fault_103(rpc, session, db):
    _, order = await _held_order(rpc, session, db, 5)
    await rpc.result(session, "order.hold", [order["unique_id"]])
    await rpc.result(session, "order.cancel", [order["unique_id"], {"all_items": True}])
    error = await rpc.fault(session, "order.unhold", [order["unique_id"]])
    assert_fault(error, 103)
    assert "'canceled'" in error["message"]
    assert await state_of(db, order["unique_id"]) == ("canceled", "canceled")


async def test_hold_indefinitely_at_create_then_unhold(rpc, session, db):
    product, order = await _held_order(rpc, session, db, 3, hold_indefinitely=True)
    unique_id = order["unique_id"]
    assert (order["state"], order["status"]) == ("holded", "holded")
    # A held order still reserves what it can.
    assert await allocations_of(db, unique_id) == {("SKU-H", 1): 3}
    assert await stock_of(db, product) == (3, 3)
    assert await rpc.result(session, "order.unhold", [unique_id]) is True
    assert await state_of(db, unique_id) == ("new", "partial_backorder")
    await check_invariants(db)


async def test_unhold_of_a_scheduled_hold_releases_it_now(rpc, session, db):
    _, order = await _held_order(rpc, session, db, 5, delayed_ship_date="2099-01-01")
    mark = await last_event_seq(db)
    assert await rpc.result(session, "order.unhold", [order["unique_id"]]) is True
    assert await state_of(db, order["unique_id"]) == ("new", "new")
    assert status_changes(await events_after(db, mark)) == [("holded", "delayed_shipment", "new", "new")]


async def test_hold_unhold_hold_again(rpc, session, db):
    _, order = await _held_order(rpc, session, db, 2)
    unique_id = order["unique_id"]
    for _ in range(2):
        assert await rpc.result(session, "order.hold", [unique_id]) is True
        assert await rpc.result(session, "order.unhold", [unique_id]) is True
    assert [(state, status) for state, status, _ in await history_of(db, unique_id)] == [
        ("new", "partial_backorder"), ("holded", "holded"), ("new", "partial_backorder"),
        ("holded", "holded"), ("new", "partial_backorder"),
    ]
    assert len([m for m in await events_after(db, 0) if m[0] == "order:holded"]) == 2


# ------------------------------------------------------------------- who may hold which order


@pytest.mark.parametrize("method", ["order.hold", "order.unhold"])
async def test_unknown_order_is_fault_100(rpc, session, db, method):
    await add_product(db, "SKU-H", stock=1)
    await create(rpc, session, {"SKU-H": 1})
    assert_fault(await rpc.fault(session, method, ["100000999"]), 100, NOT_FOUND)
    assert_fault(await rpc.fault(session, method, [""]), 100, NOT_FOUND)


@pytest.mark.parametrize("method", ["order.hold", "order.unhold"])
async def test_another_merchants_order_does_not_exist(rpc, users, session, db, method):
    await add_product(db, "SKU-O", stock=2, merchant="other")
    other = await rpc.login(users["other"])
    theirs = await create(rpc, other, {"SKU-O": 1})
    if method == "order.unhold":
        await rpc.result(other, "order.hold", [theirs["unique_id"]])
    before = await snapshot(db)
    assert_fault(await rpc.fault(session, method, [theirs["unique_id"]]), 100, NOT_FOUND)
    assert await snapshot(db) == before


@pytest.mark.parametrize("method", ["order.hold", "order.unhold"])
async def test_the_warehouse_role_may_not_hold(rpc, users, session, db, method):
    _, order = await _held_order(rpc, session, db, 1)
    if method == "order.unhold":
        await rpc.result(session, "order.hold", [order["unique_id"]])
    warehouse = await rpc.login(users["warehouse"])
    before = await snapshot(db)
    assert_fault(await rpc.fault(warehouse, method, [order["unique_id"]]), 2, "Access denied.")
    assert await snapshot(db) == before


async def test_admin_may_hold_and_a_numeric_id_is_accepted(rpc, users, session, db):
    _, order = await _held_order(rpc, session, db, 1, qty=1)
    admin = await rpc.login(users["admin"])
    assert await rpc.result(admin, "order.hold", [int(order["unique_id"])]) is True
    assert await rpc.result(admin, "order.unhold", order["unique_id"]) is True
    assert await state_of(db, order["unique_id"]) == ("new", "new")
