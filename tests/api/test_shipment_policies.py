"""Backorder policies and shipment.create (the issue's scenario): an order of two items whose
stock arrives in three deliveries; after each delivery the warehouse asks for a shipment.

- as_available ships whatever is reserved: three shipments;
- up_to_2: the first shipment may be partial, the second must take everything that remains,
  and there is never a third;
- all_or_nothing refuses until every unit is allocated, then ships once;
- default follows the store's policy.

Stock arrives through inventory.adjust, which gives it to backordered orders (the engine's
reserve_backorders), and the order's state/status is checked after every step.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.order_helpers import add_product, check_invariants
from tests.api.shipment_helpers import (
    add_warehouse,
    assert_fault,
    create_shipment,
    new_order,
    order_state,
    pack,
    quantities,
    receive,
    sessions,  # noqa: F401 (fixture)
    set_store_policy,
    shipment_invariants,
)

# Two items of two units each; three deliveries: 1 A, then 1 A + 1 B, then 1 B.
DELIVERIES = ({"A": 1}, {"A": 1, "B": 1}, {"B": 1})


async def deliver_stock(rpc, session, delivery: dict[str, int]) -> None:
    for sku, qty in delivery.items():
        await rpc.result(session, "inventory.adjust", [sku, 1, qty, "delivery"])


async def attempt(rpc, session, unique_id: str) -> dict[str, Any]:
    """The shipment created, or the fault."""
    body = await rpc.call(session, "shipment.create", [unique_id])
    return body.get("result") or {"error": body["error"]}


async def scenario(rpc, sessions, db, **info: Any) -> tuple[str, list[dict[str, Any]], list[tuple[str, str]]]:
    """Run the three deliveries; returns the order, the attempt after each, and the order's
    (state, status) before and after each attempt."""
    await add_product(db, "A")
    await add_product(db, "B")
    merchant, warehouse = sessions["merchant"], sessions["warehouse"]
    order = await new_order(rpc, merchant, {"A": 2, "B": 2}, **info)
    unique_id = order["unique_id"]
    states = [await order_state(rpc, merchant, unique_id)]
    attempts = []
    for delivery in DELIVERIES:
        await deliver_stock(rpc, warehouse, delivery)
        states.append(await order_state(rpc, merchant, unique_id))
        attempts.append(await attempt(rpc, warehouse, unique_id))
        states.append(await order_state(rpc, merchant, unique_id))
        await check_invariants(db)
        await shipment_invariants(db)
    return unique_id, attempts, states


def shipped(result: dict[str, Any]) -> dict[str, int] | str:
    return quantities(result) if "error" not in result else result["error"]["message"]


async def test_as_available_ships_every_arrival(rpc, sessions, db):
    unique_id, attempts, states = await scenario(rpc, sessions, db, backorder_policy="as_available")
    assert [shipped(a) for a in attempts] == [{"A": 1}, {"A": 1, "B": 1}, {"B": 1}]
    assert states == [
        ("new", "backordered"),
        ("new", "partial_backorder"), ("processing", "partial_backorder"),
        ("processing", "partial_backorder"), ("processing", "partial_backorder"),
        ("processing", "processing"), ("processing", "processing"),
    ]
    # every remaining unit packed: complete
    for result in attempts:
        await pack(rpc, sessions["warehouse"], result["shipment_id"])
    assert await order_state(rpc, sessions["merchant"], unique_id) == ("complete", "complete")


async def test_up_to_2_takes_everything_in_the_second_and_never_makes_a_third(rpc, sessions, db):
    unique_id, attempts, states = await scenario(rpc, sessions, db, backorder_policy="up_to_2")
    first, refused, last = attempts
    assert shipped(first) == {"A": 1}
    assert_fault(refused["error"], 103, "This would be shipment 2 of at most 2 (backorder policy up_to_2), which must "
                                        "take everything that remains, but 1 unit(s) are still backordered")
    assert shipped(last) == {"A": 1, "B": 2}
    assert states[-1] == ("processing", "processing")
    # a third is refused whatever is asked
    await rpc.result(sessions["warehouse"], "inventory.adjust", ["A", 1, 5, "more"])
    error = await rpc.fault(sessions["warehouse"], "shipment.create", [unique_id])
    assert_fault(error, 103, "The order already has 2 shipment(s) and its backorder policy up_to_2 allows no more")
    assert await db.fetchval("SELECT count(*) FROM shipments") == 2


async def test_all_or_nothing_waits_until_fully_allocated(rpc, sessions, db):
    unique_id, attempts, states = await scenario(rpc, sessions, db, backorder_policy="all_or_nothing")
    for refused, backordered in zip(attempts[:2], (3, 1)):
        assert_fault(refused["error"], 103, f"The order's backorder policy is all_or_nothing and {backordered} unit(s) "
                                            "are still backordered: nothing ships until every item is allocated")
    assert shipped(attempts[2]) == {"A": 2, "B": 2}
    assert states == [
        ("new", "backordered"),
        ("new", "partial_backorder"), ("new", "partial_backorder"),
        ("new", "partial_backorder"), ("new", "partial_backorder"),
        ("new", "new"), ("processing", "processing"),
    ]
    await pack(rpc, sessions["warehouse"], attempts[2]["shipment_id"])
    assert await order_state(rpc, sessions["merchant"], unique_id) == ("complete", "complete")


@pytest.mark.parametrize("store_policy, expected", [
    ("up_to_2", [{"A": 1}, "refused", {"A": 1, "B": 2}]),
    ("all_or_nothing", ["refused", "refused", {"A": 2, "B": 2}]),
    ("as_available", [{"A": 1}, {"A": 1, "B": 1}, {"B": 1}]),
])
async def test_default_follows_the_stores_policy(rpc, sessions, db, store_policy, expected):
    await set_store_policy(db, store_policy)
    _, attempts, _ = await scenario(rpc, sessions, db)  # the order's policy is "default"
    assert [shipped(a) if "error" not in a else "refused" for a in attempts] == expected


async def test_an_orders_own_policy_wins_over_the_stores(rpc, sessions, db):
    await set_store_policy(db, "all_or_nothing")
    _, attempts, _ = await scenario(rpc, sessions, db, backorder_policy="as_available")
    assert len([a for a in attempts if "error" not in a]) == 3


async def test_the_last_allowed_shipment_must_take_every_remaining_unit(rpc, sessions, db):
    warehouse = sessions["warehouse"]
    await add_product(db, "A", stock=3)
    order = await new_order(rpc, sessions["merchant"], {"A": 3}, backorder_policy="up_to_1")
    error = await rpc.fault(warehouse, "shipment.create", [order["unique_id"], {"A": 2}])
    assert_fault(error, 103, "This would be shipment 1 of at most 1 (backorder policy up_to_1), which must take every "
                             "remaining unit: it would take 2 of 3")
    assert quantities(await create_shipment(rpc, warehouse, order["unique_id"])) == {"A": 3}


async def test_units_split_over_warehouses_cannot_make_the_last_shipment(rpc, sessions, db):
    warehouse = sessions["warehouse"]
    west = await add_warehouse(db)
    product = await add_product(db, "A", stock=1)
    await receive(db, product, 1, west)
    order = await new_order(rpc, sessions["merchant"], {"A": 2}, backorder_policy="up_to_1")
    error = await rpc.fault(warehouse, "shipment.create", [order["unique_id"]])
    assert_fault(error, 103, contains="must take every remaining unit: it would take 1 of 2")


async def test_canceled_shipments_do_not_count(rpc, sessions, db):
    warehouse = sessions["warehouse"]
    await add_product(db, "A", stock=2)
    order = await new_order(rpc, sessions["merchant"], {"A": 2}, backorder_policy="up_to_1")
    first = await create_shipment(rpc, warehouse, order["unique_id"])
    await rpc.result(warehouse, "shipment.cancel", [first["shipment_id"]])
    second = await create_shipment(rpc, warehouse, order["unique_id"])
    assert quantities(second) == {"A": 2}


async def test_stock_arriving_through_the_engine_directly(rpc, sessions, db):
    """The same engine path without the API: add_stock + reserve_backorders in one transaction."""
    a = await add_product(db, "A")
    order = await new_order(rpc, sessions["merchant"], {"A": 2})
    assert await receive(db, a, 1) == 1
    assert await order_state(rpc, sessions["merchant"], order["unique_id"]) == ("new", "partial_backorder")
    assert quantities(await create_shipment(rpc, sessions["warehouse"], order["unique_id"])) == {"A": 1}
    assert await receive(db, a, 5) == 1
    assert await order_state(rpc, sessions["merchant"], order["unique_id"]) == ("processing", "processing")
    await check_invariants(db)
    await shipment_invariants(db)


async def test_a_policy_changed_by_order_edit_rules_the_next_shipment(rpc, sessions, db):
    """as_available at create, all_or_nothing after order.edit: the partial shipment the first
    policy allowed is refused, and allowed again once the edit is undone."""
    merchant, warehouse = sessions["merchant"], sessions["warehouse"]
    await add_product(db, "A", stock=1)
    order = await new_order(rpc, merchant, {"A": 2}, backorder_policy="as_available")
    edited = await rpc.result(merchant, "order.edit", [order["unique_id"], None, {"backorder_policy": "all_or_nothing"}])
    assert edited["backorder_policy"] == "all_or_nothing"
    assert_fault(await rpc.fault(warehouse, "shipment.create", [order["unique_id"]]), 103,
                 "The order's backorder policy is all_or_nothing and 1 unit(s) are still backordered: nothing ships "
                 "until every item is allocated")
    assert await db.fetchval("SELECT count(*) FROM shipments") == 0
    await rpc.result(merchant, "order.edit", [order["unique_id"], None, {"backorder_policy": "as_available"}])
    assert quantities(await create_shipment(rpc, warehouse, order["unique_id"])) == {"A": 1}
    await check_invariants(db)
    await shipment_invariants(db)
