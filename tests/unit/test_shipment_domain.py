"""The shipment decisions, pure: which units a new shipment takes and from where, the backorder
policies, packing every unit exactly once, the shipment action table, fields."""

from __future__ import annotations

import pytest

from rpc_fulfillment.core.faults import FAULTS, Fault
from rpc_fulfillment.fulfillment.policies import resolve_policy
from rpc_fulfillment.shipments.views import EXPANDABLE, select_shipment_fields
from rpc_fulfillment.shipments.rules import (
    SHIPMENT_ACTIONS,
    OrderLine,
    ShipmentLine,
    check_policy,
    check_shipment_action,
    parse_lines,
    parse_packages,
    plan_packages,
    plan_shipment,
)

LINES = [
    OrderLine(1, "A", "a-ref", 0, {1: 2, 2: 3}),
    OrderLine(2, "B", None, 1, {1: 1}),
    OrderLine(3, "A", "a2-ref", 0, {1: 1}),
]


def refused(name: str, call, *args, **kwargs) -> str:
    with pytest.raises(Fault) as caught:
        call(*args, **kwargs)
    assert caught.value.name == name, caught.value
    return caught.value.message


def test_everything_from_the_warehouse_holding_the_most():
    plan = plan_shipment(LINES, None, None)
    assert (plan.warehouse_id, plan.quantities, plan.total) == (1, {1: 2, 2: 1, 3: 1}, 4)
    assert plan_shipment(LINES, None, 2).quantities == {1: 3}


def test_ties_go_to_the_lowest_warehouse():
    lines = [OrderLine(1, "A", None, 0, {5: 2, 3: 2})]
    assert plan_shipment(lines, None, None).warehouse_id == 3


def test_requested_items_spread_over_lines_of_the_same_sku():
    plan = plan_shipment(LINES, parse_lines([{"sku": "A", "qty": 2}, {"sku": "A", "qty": 1}]), 1)
    assert plan.quantities == {1: 2, 3: 1}
    assert plan_shipment(LINES, parse_lines({"A": 3}), None).warehouse_id == 1  # 3 of A in 1, 3 in 2: tie
    assert plan_shipment(LINES, parse_lines([{"order_item_ref": "a-ref", "qty": 3}]), None).warehouse_id == 2


def test_plan_refusals():
    assert "no item with sku 'C'" in refused("shipment_invalid_data", plan_shipment, LINES, parse_lines({"C": 1}), None)
    assert "4 asked" in refused("shipment_not_created", plan_shipment, LINES, parse_lines({"A": 4}), 1)
    assert "from warehouse 9" in refused("shipment_not_created", plan_shipment, LINES, None, 9)
    empty = [OrderLine(1, "A", None, 2, {})]
    assert refused("shipment_not_created", plan_shipment, empty, None, None).startswith("Nothing to ship")


@pytest.mark.parametrize("policy, so_far, backordered, free, taking, fault", [
    ("as_available", 5, 3, 1, 1, None),
    ("all_or_nothing", 0, 1, 3, 3, "still backordered"),
    ("all_or_nothing", 0, 0, 3, 1, None),
    ("up_to_2", 0, 4, 1, 1, None),
    ("up_to_2", 1, 1, 1, 1, "must take everything that remains"),
    ("up_to_2", 1, 0, 3, 2, "it would take 2 of 3"),
    ("up_to_2", 1, 0, 3, 3, None),
    ("up_to_2", 2, 0, 3, 3, "allows no more"),
    ("up_to_1", 0, 0, 2, 2, None),
])
def test_policies(policy, so_far, backordered, free, taking, fault):
    check = (check_policy, resolve_policy(policy), policy, so_far, backordered, free, taking)
    if fault is None:
        check[0](*check[1:])
    else:
        assert fault in refused("shipment_not_created", *check)


def test_packing_every_unit_exactly_once():
    lines = [ShipmentLine(1, "A", None, 3), ShipmentLine(2, "B", "b", 1)]
    packages = parse_packages([{"items": [{"sku": "A", "qty": 2}], "tracking_numbers": ["1"]},
                               {"tracking_numbers": [{"number": "2", "carrier": "usps"}]}])
    plans = plan_packages(lines, packages)
    assert [plan.quantities for plan in plans] == [{1: 2}, {1: 1, 2: 1}]
    assert plans[1].package.tracking_numbers[0].carrier == "usps"
    only_some = parse_packages([{"items": {"A": 3}, "tracking_numbers": ["1"]}])
    assert "B: 1 of 1" in refused("shipment_not_packed", plan_packages, lines, only_some)


def test_shipment_action_table():
    assert set(SHIPMENT_ACTIONS) == {"pack", "ship", "deliver", "cancel", "void_labels"}
    assert check_shipment_action("void_labels", "1", "packed").to_status == "picked"
    assert "'shipped'" in refused("shipment_labels_not_voided", check_shipment_action, "void_labels", "1", "shipped")
    assert check_shipment_action("ship", "1", "packed").to_status == "shipped"
    assert "pack it first" in refused("shipment_not_shipped", check_shipment_action, "ship", "1", "picking")
    assert "delivered already" in refused("shipment_not_delivered", check_shipment_action, "deliver", "1", "shipped", True)
    assert "'shipped'" in refused("shipment_not_canceled", check_shipment_action, "cancel", "1", "shipped")


def test_fields():
    assert select_shipment_fields(None, "shipment_invalid_filters").scalars == ("shipment_id", "order_unique_id", "order_ref")
    star = select_shipment_fields([], "shipment_invalid_filters")
    assert "status" in star.scalars and not star.expansions
    assert select_shipment_fields(["items", "status"], "shipment_invalid_filters").expansions == {"items"}
    assert set(EXPANDABLE) == {"shipping_address", "items", "packages", "tracking_numbers", "serial_number_data"}


def test_shipment_faults_are_numbered_as_documented():
    numbers = {name: spec.number for name, spec in FAULTS.items() if name.startswith("shipment_")}
    assert numbers == {"shipment_not_found": 100, "shipment_invalid_filters": 101, "shipment_invalid_data": 102,
                       "shipment_not_created": 103, "shipment_not_packed": 104, "shipment_not_shipped": 105,
                       "shipment_not_delivered": 106, "shipment_not_canceled": 107,
                       "shipment_labels_not_voided": 108}
    assert FAULTS["shipment_not_found"].message == "Requested shipment does not exist."
    assert all(FAULTS[name].details_in_message for name in numbers if name != "shipment_not_found")
