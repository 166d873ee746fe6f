"""shipment.create, pack, ship, deliver, cancel, info, search and update through the real app:
happy paths, the order's state/status after each step, stock and invariants, events, the
order.info expansions, roles, tenancy, and every fault (a failed call changes nothing)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.order_helpers import add_product, add_stock, check_invariants, stock_of
from tests.api.shipment_helpers import (
    ACCESS_DENIED,
    ORDER_NOT_FOUND,
    PACKAGE,
    SHIPMENT_NOT_FOUND,
    add_warehouse,
    assert_fault,
    create_shipment,
    events_of,
    new_order,
    order_items,
    order_state,
    pack,
    quantities,
    row_counts,
    sessions,  # noqa: F401 (fixture)
    shipment_invariants,
    through,
)

SHIPMENT_KEYS = {
    "shipment_id", "warehouse_id", "order_unique_id", "order_ref", "store_code", "status", "shipment_type",
    "total_weight", "total_weight_unit", "total_item_weight", "total_item_weight_unit", "total_qty", "shipped_weight",
    "shipped_weight_unit", "source", "tpb_group_id", "target_ship_date", "scac", "manifest_courier_code",
    "manifest_courier_name", "created_at", "updated_at", "packed_at", "shipped_at", "delivered_at", "tracking_added_at",
    "shipping_address", "items", "packages", "tracking_numbers", "custom_fields",
}
ITEM_KEYS = {
    "sku", "name", "weight", "weight_unit", "qty", "qty_picked", "qty_shipped", "qty_cancel_requested", "qty_canceled",
    "order_item_id", "order_item_ref", "package_data", "lot_data", "ssccs",
}
PACKAGE_KEYS = {
    "package_id", "warehouse_id", "status", "shipment_id", "shipment_status", "carrier", "manifest_courier_code",
    "manifest_courier_name", "timestamp", "created_at", "tracking_added_at", "shipped_at", "delivered_at", "weight",
    "weight_unit", "billable_weight",
    "billable_weight_unit", "dimensional_weight_divisor", "dimensional_weight_divisor_unit", "dimensional_weight",
    "rating_weight_unit", "dimensions", "dimension_unit", "sscc", "tracking", "order_items", "package_items",
    "package_data", "serial_number_data",
}


@pytest.fixture
def warehouse(sessions):
    return sessions["warehouse"]


@pytest.fixture
def merchant(sessions):
    return sessions["merchant"]


async def ordered(rpc, merchant, db, items: dict[str, int], *, stock: dict[str, int] | None = None, **info: Any) -> dict[str, Any]:
    """Products with stock (default: as much as ordered), and the order."""
    for sku in items:
        units = (stock or items).get(sku, 0)
        product_id = await db.fetchval("SELECT product_id FROM products WHERE sku = $1", sku)
        if product_id is None:
            await add_product(db, sku, stock=units, weight=0.5)
        elif units:
            await add_stock(db, product_id, units)
    return await new_order(rpc, merchant, items, **info)


async def item_columns(db, unique_id: str) -> dict[str, tuple[int, int, int, int, int]]:
    """sku -> (processing, shipped, canceled, backordered, in_shipment)."""
    rows = await db.fetch(
        """SELECT i.sku, i.qty_processing, i.qty_shipped, i.qty_canceled, i.qty_backordered, i.qty_in_shipment
             FROM order_items i JOIN orders o USING (order_id) WHERE o.unique_id = $1""",
        unique_id,
    )
    return {row["sku"]: tuple(row)[1:] for row in rows}


# ---------------------------------------------------------------------------- create


async def test_create_takes_every_reserved_unit_and_starts_processing(rpc, merchant, warehouse, db):
    order = await ordered(rpc, merchant, db, {"A": 3, "B": 2})
    assert await order_state(rpc, merchant, order["unique_id"]) == ("new", "new")
    shipment = await create_shipment(rpc, warehouse, order["unique_id"])
    assert set(shipment) == SHIPMENT_KEYS
    assert shipment["shipment_id"] == "100000001"
    assert (shipment["status"], shipment["warehouse_id"], shipment["order_unique_id"]) == ("new", 1, order["unique_id"])
    assert shipment["total_qty"] == "5.0000" and shipment["total_item_weight"] == "2.5000"
    assert quantities(shipment) == {"A": 3, "B": 2}
    assert all(set(item) == ITEM_KEYS for item in shipment["items"])
    assert shipment["packages"] == [] and shipment["tracking_numbers"] == []
    assert shipment["shipping_address"]["city"] == "New York"
    assert await order_state(rpc, merchant, order["unique_id"]) == ("processing", "processing")
    assert await item_columns(db, order["unique_id"]) == {"A": (3, 0, 0, 0, 3), "B": (2, 0, 0, 0, 2)}
    [event] = await events_of(db, "order:shipments_updated")
    assert event["unique_id"] == order["unique_id"]
    assert event["shipments"] == [{"unique_id": "100000001", "warehouse_id": 1, "carrier": "ups", "status": "new",
                                   "service": "03"}]
    created, changed = await events_of(db, "order:status_changed")
    assert (created["old_status"], created["status"]) == (None, "new")
    assert (changed["old_status"], changed["status"]) == ("new", "processing")
    await check_invariants(db)
    await shipment_invariants(db)


async def test_create_some_items_by_sku_and_by_reference(rpc, merchant, warehouse, db):
    await add_product(db, "A", stock=10)
    await add_product(db, "B", stock=10)
    order = await new_order(rpc, merchant, [{"sku": "A", "qty": 3, "order_item_ref": "line-1"},
                                            {"sku": "B", "qty": 2, "order_item_ref": "line-2"}])
    first = await create_shipment(rpc, warehouse, order["unique_id"], [{"sku": "A", "qty": 1}])
    assert quantities(first) == {"A": 1}
    second = await create_shipment(rpc, warehouse, order["unique_id"], [{"order_item_ref": "line-2", "qty": "2"}])
    assert quantities(second) == {"B": 2}
    assert second["items"][0]["order_item_ref"] == "line-2"
    # lines for the same SKU add up; the {"SKU": qty} shape works too
    third = await create_shipment(rpc, warehouse, order["unique_id"], {"A": 1})
    fourth = await create_shipment(rpc, warehouse, order["unique_id"], [{"sku": "A", "qty": 0.5 + 0.5}])
    assert quantities(third) == quantities(fourth) == {"A": 1}
    assert await item_columns(db, order["unique_id"]) == {"A": (3, 0, 0, 0, 3), "B": (2, 0, 0, 0, 2)}
    error = await rpc.fault(warehouse, "shipment.create", [order["unique_id"]])
    assert_fault(error, 103, contains="Nothing to ship")
    await shipment_invariants(db)


async def test_create_from_the_warehouse_holding_the_most_or_the_one_given(rpc, merchant, warehouse, db):
    west = await add_warehouse(db)
    await add_stock(db, await add_product(db, "A", stock=2), 4, west)
    order = await new_order(rpc, merchant, {"A": 6})
    allocation = (await order_items(rpc, merchant, order["unique_id"]))["A"]["allocation_data"]
    assert {a["warehouse_id"]: a["qty_allocated"] for a in allocation} == {"1": "2.0000", str(west): "4.0000"}
    # the given warehouse
    one = await create_shipment(rpc, warehouse, order["unique_id"], None, 1)
    assert (one["warehouse_id"], quantities(one)) == (1, {"A": 2})
    error = await rpc.fault(warehouse, "shipment.create", [order["unique_id"], None, 1])
    assert_fault(error, 103, contains="from warehouse 1")
    # the one holding the most free units
    other = await create_shipment(rpc, warehouse, order["unique_id"])
    assert (other["warehouse_id"], quantities(other)) == (west, {"A": 4})
    await shipment_invariants(db)


async def test_create_picks_the_warehouse_with_most_of_the_requested_items(rpc, merchant, warehouse, db):
    west = await add_warehouse(db)
    a = await add_product(db, "A", stock=5)
    b = await add_product(db, "B", stock=0)
    await add_stock(db, b, 1, west)
    order = await new_order(rpc, merchant, {"A": 5, "B": 1})
    shipment = await create_shipment(rpc, warehouse, order["unique_id"], [{"sku": "B", "qty": 1}])
    assert (shipment["warehouse_id"], quantities(shipment)) == (west, {"B": 1})
    assert a


async def test_create_returns_to_processing_status_of_partial_backorder(rpc, merchant, warehouse, db):
    order = await ordered(rpc, merchant, db, {"A": 3}, stock={"A": 1})
    assert await order_state(rpc, merchant, order["unique_id"]) == ("new", "partial_backorder")
    await create_shipment(rpc, warehouse, order["unique_id"])
    assert await order_state(rpc, merchant, order["unique_id"]) == ("processing", "partial_backorder")


async def test_admin_may_create_and_merchant_may_not(rpc, sessions, db):
    order = await ordered(rpc, sessions["merchant"], db, {"A": 2})
    error = await rpc.fault(sessions["merchant"], "shipment.create", [order["unique_id"]])
    assert_fault(error, 2, ACCESS_DENIED)
    shipment = await create_shipment(rpc, sessions["admin"], order["unique_id"], {"A": 1})
    assert quantities(shipment) == {"A": 1}


@pytest.mark.parametrize(
    "args, number, expected",
    [
        (["999999"], 100, ORDER_NOT_FOUND),
        ([{"x": 1}], 100, ORDER_NOT_FOUND),
        (["{order}", "nope"], 102, "items: must be an array"),
        (["{order}", []], 102, "items: must not be empty"),
        (["{order}", [{"sku": "A"}]], 102, "items[0].qty: is required"),
        (["{order}", [{"sku": "A", "qty": -1}]], 102, "items[0].qty: must be a positive whole number"),
        (["{order}", [{"sku": "A", "qty": 1.5}]], 102, "items[0].qty"),
        (["{order}", [{"sku": "A", "order_item_ref": "r", "qty": 1}]], 102, "give exactly one of sku and order_item_ref"),
        (["{order}", [{"sku": "A", "qty": 1, "color": "red"}]], 102, "items[0].color: unknown key"),
        (["{order}", [{"sku": "NOPE", "qty": 1}]], 102, "the order has no item with sku 'NOPE'"),
        (["{order}", [{"sku": "A", "qty": 3}]], 103, "sku 'A' has 2 unit(s) reserved and not yet in a shipment in warehouse 1, 3 asked"),
        (["{order}", None, "west"], 102, "warehouse_id: must be a positive whole number"),
        (["{order}", None, 0], 102, "warehouse_id: must be a positive whole number"),
        (["{order}", None, 42], 103, "Nothing to ship from warehouse 42"),
    ],
)
async def test_create_faults_change_nothing(rpc, merchant, warehouse, db, args, number, expected):
    order = await ordered(rpc, merchant, db, {"A": 2})
    args = [order["unique_id"] if arg == "{order}" else arg for arg in args]
    before = await row_counts(db)
    error = await rpc.fault(warehouse, "shipment.create", args)
    if number == 100:
        assert_fault(error, 100, expected)
    else:
        assert_fault(error, number, contains=expected)
    assert await row_counts(db) == before


async def test_create_for_another_merchants_order_is_order_fault_100(rpc, sessions, users, db):
    await add_product(db, "A", stock=2, merchant="other")
    order = await new_order(rpc, sessions["other"], {"A": 1})
    error = await rpc.fault(sessions["warehouse"], "shipment.create", [order["unique_id"]])
    assert_fault(error, 100, ORDER_NOT_FOUND)
    error = await rpc.fault(sessions["warehouse"], "shipment.create", [])
    assert_fault(error, 6)


@pytest.mark.parametrize("how", ["hold", "backordered", "canceled", "complete"])
async def test_create_refused_by_the_orders_status(rpc, merchant, warehouse, db, how):
    order = await ordered(rpc, merchant, db, {"A": 2}, stock={"A": 0 if how == "backordered" else 2})
    unique_id = order["unique_id"]
    if how == "hold":
        assert await rpc.result(merchant, "order.hold", [unique_id]) is True
    elif how == "canceled":
        await rpc.result(merchant, "order.cancel", [unique_id, {"all_items": True}])
    elif how == "complete":
        await through(rpc, warehouse, unique_id, "pack")
    state, status = await order_state(rpc, merchant, unique_id)
    before = await row_counts(db)
    error = await rpc.fault(warehouse, "shipment.create", [unique_id])
    assert_fault(error, 103, contains=f"the order's status is '{status}' (state '{state}')")
    assert error["message"].startswith(f"No shipment can start for order {unique_id}")
    assert await row_counts(db) == before


# ------------------------------------------------------------------------------ pack


async def test_pack_everything_in_one_package_completes_the_order(rpc, merchant, warehouse, db):
    order = await ordered(rpc, merchant, db, {"A": 3, "B": 2}, source="magento:1")
    shipment = await create_shipment(rpc, warehouse, order["unique_id"])
    packed = await pack(rpc, warehouse, shipment["shipment_id"], [
        {"weight": "2.25", "weight_unit": "kg", "length": 10, "width": 8, "height": 4, "dimension_unit": "cm",
         "tracking_numbers": [{"number": "1Z1", "carrier": "fedex", "description": "label", "track_url": "https://t/1Z1"}]},
    ])
    assert packed["status"] == "packed"
    assert packed["packed_at"] is not None and packed["tracking_added_at"] is not None
    assert packed["total_weight"] == "4.9604"  # 2.25 kg in pounds
    assert [item["qty_picked"] for item in packed["items"]] == ["3.0000", "2.0000"]
    [package] = packed["packages"]
    assert set(package) == PACKAGE_KEYS
    assert (package["status"], package["carrier"], package["shipment_id"], package["shipment_status"]) == (
        "packed", "fedex", shipment["shipment_id"], "packed")
    assert (package["weight"], package["weight_unit"], package["dimension_unit"]) == ("2.2500", "kg", "cm")
    assert package["dimensions"] == {"length": "10.0000", "width": "8.0000", "height": "4.0000"}
    assert package["tracking"] == [{"number": "1Z1", "description": "label", "track_url": "https://t/1Z1"}]
    assert {i["sku"]: i["quantity"] for i in package["package_items"]} == {"A": "3.0000", "B": "2.0000"}
    assert [t["number"] for t in packed["tracking_numbers"]] == ["1Z1"]
    assert await order_state(rpc, merchant, order["unique_id"]) == ("complete", "complete")
    [event] = await events_of(db, "shipment:packed")
    assert (event["unique_id"], event["status"]) == (shipment["shipment_id"], "packed")
    assert (event["order_unique_id"], event["order_ref"], event["source"]) == (order["unique_id"], None, "magento:1")
    assert event["order_status"] == "complete"
    assert [(p["package_id"], p["tracking_numbers"]) for p in event["packages"]] == [(str(package["package_id"]), ["1Z1"])]
    assert event["trackers"][0]["tracking_number"] == "1Z1"
    assert len(await events_of(db, "order:completed")) == 1
    info = await rpc.result(merchant, "order.info", [order["unique_id"], ["packages", "tracking_numbers", "shipments"]])
    assert info["packages"] == packed["packages"]
    assert info["tracking_numbers"] == packed["tracking_numbers"]
    assert info["shipments"] == [{"shipment_id": shipment["shipment_id"], "status": "packed"}]
    await shipment_invariants(db)


async def test_pack_into_several_packages_with_string_tracking_numbers(rpc, merchant, warehouse, db):
    order = await ordered(rpc, merchant, db, {"A": 3, "B": 2})
    shipment = await create_shipment(rpc, warehouse, order["unique_id"])
    packed = await pack(rpc, warehouse, shipment["shipment_id"], [
        {"items": [{"sku": "A", "qty": 2}], "tracking_numbers": ["T1", "T2"]},
        {"items": {"A": 1, "B": 1}, "tracking_numbers": ["T3"], "weight": 8, "weight_unit": "oz"},
        {"tracking_numbers": ["T4"]},  # what the others leave: one B
    ])
    contents = [{i["sku"]: i["quantity"] for i in p["order_items"]} for p in packed["packages"]]
    assert contents == [{"A": "2.0000"}, {"A": "1.0000", "B": "1.0000"}, {"B": "1.0000"}]
    assert [[t["number"] for t in p["tracking"]] for p in packed["packages"]] == [["T1", "T2"], ["T3"], ["T4"]]
    assert {p["carrier"] for p in packed["packages"]} == {"ups"}  # the order's carrier
    assert packed["total_weight"] == "0.5000"
    assert await db.fetchval("SELECT count(*) FROM tracking_numbers") == 4


async def test_pack_one_of_two_shipments_leaves_the_order_processing(rpc, merchant, warehouse, db):
    order = await ordered(rpc, merchant, db, {"A": 2})
    first = await create_shipment(rpc, warehouse, order["unique_id"], {"A": 1})
    second = await create_shipment(rpc, warehouse, order["unique_id"], {"A": 1})
    await pack(rpc, warehouse, first["shipment_id"])
    assert await order_state(rpc, merchant, order["unique_id"]) == ("processing", "processing")
    await pack(rpc, warehouse, second["shipment_id"])
    assert await order_state(rpc, merchant, order["unique_id"]) == ("complete", "complete")


async def test_pack_with_units_left_outside_shipments_or_backordered_is_not_complete(rpc, merchant, warehouse, db):
    order = await ordered(rpc, merchant, db, {"A": 3}, stock={"A": 2})
    shipment = await create_shipment(rpc, warehouse, order["unique_id"], {"A": 1})
    await pack(rpc, warehouse, shipment["shipment_id"])
    assert await order_state(rpc, merchant, order["unique_id"]) == ("processing", "partial_backorder")


@pytest.mark.parametrize(
    "packages, number, expected",
    [
        (None, 6, None),
        ([], 102, "packages: must be a non-empty array"),
        ("box", 102, "packages: must be a non-empty array"),
        ([{}], 102, "packages[0].tracking_numbers: is required"),
        ([{"tracking_numbers": []}], 102, "packages[0].tracking_numbers: list should have at least 1 item"),
        ([{"tracking_numbers": [{"carrier": "ups"}]}], 102, "packages[0].tracking_numbers[0].number: is required"),
        ([{"tracking_numbers": ["T"], "weight": -1}], 102, "packages[0].weight: input should be greater than or equal to 0"),
        ([{"tracking_numbers": ["T"], "weight_unit": "stone"}], 102, "packages[0].weight_unit: input should be 'lb', 'oz', 'kg' or 'g'"),
        ([{"tracking_numbers": ["T"], "length": 0}], 102, "packages[0].length: input should be greater than 0"),
        ([{"tracking_numbers": ["T"], "box": 1}], 102, "packages[0].box: unknown key"),
        ([{"tracking_numbers": ["T"], "items": [{"sku": "A"}]}], 102, "packages[0].items[0].qty: is required"),
        ([{"tracking_numbers": ["T"]}, {"tracking_numbers": ["U"]}], 102, "only one package may leave out items"),
        ([{"tracking_numbers": ["T"], "items": [{"sku": "ZZ", "qty": 1}]}], 102, "packages[0].items[0]: the shipment has no item with sku 'ZZ'"),
        ([{"tracking_numbers": ["T"], "items": [{"sku": "A", "qty": 3}]}], 104, "packages[0].items[0]: sku 'A' has 2 unit(s) left to pack in the shipment, 3 asked"),
        ([{"tracking_numbers": ["T"], "items": [{"sku": "A", "qty": 1}]}], 104, "Every unit of the shipment must be in a package; not packed: A: 1 of 2"),
        ([{"tracking_numbers": ["T"], "items": [{"sku": "A", "qty": 2}]}, {"tracking_numbers": ["U"]}], 104, "packages[1]: nothing is left for it to hold"),
    ],
)
async def test_pack_faults_change_nothing(rpc, merchant, warehouse, db, packages, number, expected):
    order = await ordered(rpc, merchant, db, {"A": 2})
    shipment = await create_shipment(rpc, warehouse, order["unique_id"])
    before = await row_counts(db)
    args = [shipment["shipment_id"]] if packages is None else [shipment["shipment_id"], packages]
    error = await rpc.fault(warehouse, "shipment.pack", args)
    assert_fault(error, number, contains=expected)
    assert await row_counts(db) == before


@pytest.mark.parametrize("status", ["packed", "shipped", "canceled"])
async def test_pack_refused_unless_the_shipment_is_open(rpc, merchant, warehouse, db, status):
    order = await ordered(rpc, merchant, db, {"A": 2})
    steps = {"packed": ("pack",), "shipped": ("pack", "ship"), "canceled": ("cancel",)}[status]
    shipment = await through(rpc, warehouse, order["unique_id"], *steps)
    error = await rpc.fault(warehouse, "shipment.pack", [shipment["shipment_id"], [PACKAGE]])
    assert_fault(error, 104, f"Shipment {shipment['shipment_id']} cannot be packed: its status is '{status}'")


# ------------------------------------------------------------------------------ ship


async def test_ship_takes_the_units_out_of_stock(rpc, merchant, warehouse, db):
    a = await add_product(db, "A", stock=10)
    b = await add_product(db, "B", stock=4)
    order = await new_order(rpc, merchant, {"A": 3, "B": 2})
    shipment = await through(rpc, warehouse, order["unique_id"], "pack")
    assert await stock_of(db, a) == (10, 3)
    shipped = await rpc.result(warehouse, "shipment.ship", [shipment["shipment_id"]])
    assert shipped["status"] == "shipped" and shipped["shipped_at"] is not None
    assert shipped["shipped_weight"] == shipped["total_weight"] == "1.5000"
    assert [item["qty_shipped"] for item in shipped["items"]] == ["3.0000", "2.0000"]
    assert {p["status"] for p in shipped["packages"]} == {"shipped"}
    assert await stock_of(db, a) == (7, 0) and await stock_of(db, b) == (2, 0)
    assert await item_columns(db, order["unique_id"]) == {"A": (0, 3, 0, 0, 0), "B": (0, 2, 0, 0, 0)}
    items = await order_items(rpc, merchant, order["unique_id"])
    assert items["A"]["allocation_data"] == [] and items["A"]["qty_shipped"] == "3.0000"
    movements = await db.fetch(
        """SELECT product_id, warehouse_id, entity_type, entity_action, entity_id, qty_on_hand_delta, qty_allocated_delta,
                  comment
             FROM stock_movements WHERE entity_action = 'ship' ORDER BY rpcf_id_position(product_id)""")
    # ShipStream's entity type "order" (the docs' types have no "shipment"), the shipment in the comment.
    assert [tuple(m) for m in movements] == [
        (a, 1, "order", "ship", order["unique_id"], -3, -3, f"Shipment {shipment['shipment_id']}"),
        (b, 1, "order", "ship", order["unique_id"], -2, -2, f"Shipment {shipment['shipment_id']}"),
    ]
    info = await rpc.result(merchant, "order.info", [order["unique_id"], "*"])
    assert (info["state"], info["status"]) == ("complete", "complete")
    assert info["shipped_at"] is not None and info["delivered_at"] is None
    [event] = await events_of(db, "shipment:shipped")
    assert event["status"] == "shipped" and event["order_unique_id"] == order["unique_id"]
    [order_event] = await events_of(db, "order:shipped")
    assert order_event["unique_id"] == order["unique_id"]
    [entry] = order_event["shipments"]
    assert (entry["unique_id"], entry["warehouse_id"], entry["carrier"], entry["service"], entry["status"]) == (
        shipment["shipment_id"], 1, "ups", "03", "shipped")
    assert entry["trackers"][0]["tracking_number"] == PACKAGE["tracking_numbers"][0]
    await check_invariants(db)
    await shipment_invariants(db)


async def test_order_shipped_once_no_shipment_is_open(rpc, merchant, warehouse, db):
    order = await ordered(rpc, merchant, db, {"A": 2})
    first = await create_shipment(rpc, warehouse, order["unique_id"], {"A": 1})
    second = await create_shipment(rpc, warehouse, order["unique_id"], {"A": 1})
    await pack(rpc, warehouse, first["shipment_id"])
    await pack(rpc, warehouse, second["shipment_id"])
    await rpc.result(warehouse, "shipment.ship", [first["shipment_id"]])
    info = await rpc.result(merchant, "order.info", [order["unique_id"], "*"])
    assert info["shipped_at"] is None and await events_of(db, "order:shipped") == []
    await rpc.result(warehouse, "shipment.ship", [second["shipment_id"]])
    info = await rpc.result(merchant, "order.info", [order["unique_id"], "*"])
    assert info["shipped_at"] is not None
    [event] = await events_of(db, "order:shipped")
    assert [s["unique_id"] for s in event["shipments"]] == [first["shipment_id"], second["shipment_id"]]
    assert len(await events_of(db, "shipment:shipped")) == 2
    await check_invariants(db)
    await shipment_invariants(db)


@pytest.mark.parametrize("status, steps", [("new", ()), ("shipped", ("pack", "ship")), ("canceled", ("cancel",))])
async def test_ship_faults_change_nothing(rpc, merchant, warehouse, db, status, steps):
    order = await ordered(rpc, merchant, db, {"A": 2})
    shipment = await through(rpc, warehouse, order["unique_id"], *steps)
    before = await row_counts(db)
    error = await rpc.fault(warehouse, "shipment.ship", [shipment["shipment_id"]])
    hint = "; pack it first (shipment.pack)" if status == "new" else ""
    assert_fault(error, 105, f"Shipment {shipment['shipment_id']} cannot be shipped: its status is '{status}'{hint}")
    assert await row_counts(db) == before


# --------------------------------------------------------------------------- deliver


async def test_deliver_marks_shipment_packages_and_order(rpc, merchant, warehouse, db):
    order = await ordered(rpc, merchant, db, {"A": 2})
    first = await create_shipment(rpc, warehouse, order["unique_id"], {"A": 1})
    second = await create_shipment(rpc, warehouse, order["unique_id"], {"A": 1})
    for shipment in (first, second):
        await pack(rpc, warehouse, shipment["shipment_id"])
        await rpc.result(warehouse, "shipment.ship", [shipment["shipment_id"]])
    delivered = await rpc.result(warehouse, "shipment.deliver", [first["shipment_id"]])
    assert delivered["delivered_at"] is not None and delivered["status"] == "shipped"
    assert [p["status"] for p in delivered["packages"]] == ["delivered"]
    assert delivered["packages"][0]["delivered_at"] == delivered["delivered_at"]
    assert (await rpc.result(merchant, "order.info", [order["unique_id"], "*"]))["delivered_at"] is None
    await rpc.result(warehouse, "shipment.deliver", [second["shipment_id"]])
    assert (await rpc.result(merchant, "order.info", [order["unique_id"], "*"]))["delivered_at"] is not None
    assert len(await events_of(db, "shipment:delivered")) == 2
    [event] = await events_of(db, "order:delivered")
    assert {t["status"] for s in event["shipments"] for t in s["trackers"]} == {"delivered"}


@pytest.mark.parametrize("steps, message", [
    ((), "its status is 'new'; ship it first (shipment.ship)"),
    (("pack",), "its status is 'packed'; ship it first (shipment.ship)"),
    (("cancel",), "its status is 'canceled'"),
    (("pack", "ship", "deliver"), "it was delivered already"),
])
async def test_deliver_faults_change_nothing(rpc, merchant, warehouse, db, steps, message):
    order = await ordered(rpc, merchant, db, {"A": 2})
    shipment = await through(rpc, warehouse, order["unique_id"], *steps)
    before = await row_counts(db)
    error = await rpc.fault(warehouse, "shipment.deliver", [shipment["shipment_id"]])
    assert_fault(error, 106, f"Shipment {shipment['shipment_id']} cannot be delivered: {message}")
    assert await row_counts(db) == before


# ---------------------------------------------------------------------------- cancel


async def test_cancel_returns_the_units_to_the_order(rpc, merchant, warehouse, db):
    a = await add_product(db, "A", stock=5)
    order = await new_order(rpc, merchant, {"A": 2})
    shipment = await create_shipment(rpc, warehouse, order["unique_id"])
    canceled = await rpc.result(warehouse, "shipment.cancel", [shipment["shipment_id"]])
    assert canceled["status"] == "canceled"
    assert [(i["qty"], i["qty_canceled"]) for i in canceled["items"]] == [("2.0000", "2.0000")]
    # still reserved, back outside any shipment; the order is new again
    assert await item_columns(db, order["unique_id"]) == {"A": (2, 0, 0, 0, 0)}
    assert await stock_of(db, a) == (5, 2)
    assert await order_state(rpc, merchant, order["unique_id"]) == ("new", "new")
    history = (await rpc.result(merchant, "order.info", [order["unique_id"], ["status_history"]]))["status_history"]
    assert history[-1]["comment"] == f"Shipment {shipment['shipment_id']} canceled"
    updates = await events_of(db, "order:shipments_updated")
    assert updates[-1]["shipments"][0]["status"] == "canceled"
    # a new shipment takes them again
    again = await create_shipment(rpc, warehouse, order["unique_id"])
    assert quantities(again) == {"A": 2}
    info = await rpc.result(merchant, "order.info", [order["unique_id"], ["shipments"]])
    assert info["shipments"] == [{"shipment_id": shipment["shipment_id"], "status": "canceled"},
                                 {"shipment_id": again["shipment_id"], "status": "new"}]
    await check_invariants(db)
    await shipment_invariants(db)


async def test_cancel_a_packed_shipment_of_a_complete_order(rpc, merchant, warehouse, db):
    order = await ordered(rpc, merchant, db, {"A": 2})
    first = await through(rpc, warehouse, order["unique_id"], "pack")
    assert await order_state(rpc, merchant, order["unique_id"]) == ("complete", "complete")
    await rpc.result(warehouse, "shipment.cancel", [first["shipment_id"]])
    assert await order_state(rpc, merchant, order["unique_id"]) == ("new", "new")


async def test_cancel_one_of_two_keeps_processing(rpc, merchant, warehouse, db):
    order = await ordered(rpc, merchant, db, {"A": 2})
    first = await create_shipment(rpc, warehouse, order["unique_id"], {"A": 1})
    await through(rpc, warehouse, order["unique_id"], "pack", "ship")
    await rpc.result(warehouse, "shipment.cancel", [first["shipment_id"]])
    assert await order_state(rpc, merchant, order["unique_id"]) == ("processing", "processing")
    assert await item_columns(db, order["unique_id"]) == {"A": (1, 1, 0, 0, 0)}
    await check_invariants(db)
    await shipment_invariants(db)


async def test_cancel_with_a_cancellation_request_cancels_those_units(rpc, merchant, warehouse, db):
    a = await add_product(db, "A", stock=3)
    order = await new_order(rpc, merchant, {"A": 3})
    waiting = await new_order(rpc, merchant, {"A": 2})  # backordered behind the first
    assert await order_state(rpc, merchant, waiting["unique_id"]) == ("new", "backordered")
    shipment = await create_shipment(rpc, warehouse, order["unique_id"], {"A": 2})
    # one unit outside the shipment is canceled now, the two inside get a request
    result = await rpc.result(merchant, "order.cancel", [order["unique_id"], {"cancellation_request": True}])
    assert result["success"] is True
    info = await rpc.result(warehouse, "shipment.info", [shipment["shipment_id"]])
    assert info["items"][0]["qty_cancel_requested"] == "2.0000"
    assert await item_columns(db, order["unique_id"]) == {"A": (2, 0, 1, 0, 2)}
    # the freed unit went to the waiting order already
    assert await item_columns(db, waiting["unique_id"]) == {"A": (1, 0, 0, 1, 0)}
    canceled = await rpc.result(warehouse, "shipment.cancel", [shipment["shipment_id"]])
    assert canceled["status"] == "canceled"
    assert await item_columns(db, order["unique_id"]) == {"A": (0, 0, 3, 0, 0)}
    assert await order_state(rpc, merchant, order["unique_id"]) == ("canceled", "canceled")
    assert len(await events_of(db, "order:canceled")) == 1
    updated = (await events_of(db, "order:items_updated"))[-1]
    item_id = await db.fetchval("SELECT order_item_id FROM order_items JOIN orders USING (order_id) WHERE unique_id = $1",
                                order["unique_id"])
    assert updated["items_canceled"] == [{"sku": "A", "order_item_id": str(item_id), "order_item_ref": None,
                                          "qty_canceled": "2.0000"}]
    assert updated["items_remaining"] == []  # every unit of the only line is canceled
    # the released units went to the backordered order
    assert await item_columns(db, waiting["unique_id"]) == {"A": (2, 0, 0, 0, 0)}
    assert await order_state(rpc, merchant, waiting["unique_id"]) == ("new", "new")
    assert await stock_of(db, a) == (3, 2)
    movements = await db.fetch(
        "SELECT entity_action, entity_id, qty_allocated_delta FROM stock_movements WHERE entity_id = $1 ORDER BY movement_id",
        order["unique_id"])
    assert [tuple(m) for m in movements][-1] == ("deallocate", order["unique_id"], -2)
    await check_invariants(db)
    await shipment_invariants(db)


async def test_cancel_request_on_part_of_the_order(rpc, merchant, warehouse, db):
    await add_product(db, "A", stock=3)
    await add_product(db, "B", stock=3)
    order = await new_order(rpc, merchant, {"A": 2, "B": 1})
    shipment = await create_shipment(rpc, warehouse, order["unique_id"], {"A": 2})
    await db.execute("UPDATE shipment_items SET qty_cancel_requested = 1")  # the warehouse was asked for one
    await rpc.result(warehouse, "shipment.cancel", [shipment["shipment_id"]])
    assert await item_columns(db, order["unique_id"]) == {"A": (1, 0, 1, 0, 0), "B": (1, 0, 0, 0, 0)}
    assert await order_state(rpc, merchant, order["unique_id"]) == ("new", "new")
    await check_invariants(db)
    await shipment_invariants(db)


@pytest.mark.parametrize("status, steps", [("shipped", ("pack", "ship")), ("canceled", ("cancel",))])
async def test_cancel_faults_change_nothing(rpc, merchant, warehouse, db, status, steps):
    order = await ordered(rpc, merchant, db, {"A": 2})
    shipment = await through(rpc, warehouse, order["unique_id"], *steps)
    before = await row_counts(db)
    error = await rpc.fault(warehouse, "shipment.cancel", [shipment["shipment_id"]])
    assert_fault(error, 107, f"Shipment {shipment['shipment_id']} cannot be canceled: its status is '{status}'")
    assert await row_counts(db) == before


# ----------------------------------------------------- not found, roles and tenancy


@pytest.mark.parametrize("method, extra", [
    ("shipment.pack", [[PACKAGE]]), ("shipment.ship", []), ("shipment.deliver", []), ("shipment.cancel", []),
    ("shipment.info", []), ("shipment.update", [{"source": "x"}]),
])
async def test_unknown_and_other_merchants_shipments_do_not_exist(rpc, sessions, db, method, extra):
    await add_product(db, "A", stock=2, merchant="other")
    order = await new_order(rpc, sessions["other"], {"A": 1})
    # the other merchant's shipment, made directly (its merchant has no warehouse user)
    other_id = await db.fetchval("SELECT merchant_id FROM merchants WHERE code = 'other'")
    shipment = await db.fetchval(
        """INSERT INTO shipments (merchant_id, order_id, warehouse_id, increment_id)
           VALUES ($1, $2, 1, rpcf_merchant_nextval('shipment_increment_id', $1)::text) RETURNING increment_id""",
        other_id, order["order_id"])
    for shipment_id in (shipment, "999999999", 999999999, "", {"id": 1}):
        error = await rpc.fault(sessions["admin"], method, [shipment_id, *extra])
        assert_fault(error, 100, SHIPMENT_NOT_FOUND)


@pytest.mark.parametrize("method", ["shipment.create", "shipment.pack", "shipment.ship", "shipment.deliver", "shipment.cancel"])
async def test_merchants_may_not_do_the_warehouses_work(rpc, merchant, warehouse, db, method):
    order = await ordered(rpc, merchant, db, {"A": 1})
    shipment = await create_shipment(rpc, warehouse, order["unique_id"])
    args = [order["unique_id"]] if method == "shipment.create" else [shipment["shipment_id"]]
    if method == "shipment.pack":
        args.append([PACKAGE])
    error = await rpc.fault(merchant, method, args)
    assert_fault(error, 2, ACCESS_DENIED)


# ------------------------------------------------------------------------------ info


async def test_merchant_reads_its_shipment_by_string_or_number(rpc, merchant, warehouse, db):
    order = await ordered(rpc, merchant, db, {"A": 1}, order_ref="REF-9")
    shipment = await through(rpc, warehouse, order["unique_id"], "pack")
    info = await rpc.result(merchant, "shipment.info", [shipment["shipment_id"]])
    assert info == shipment
    assert await rpc.result(merchant, "shipment.info", [int(shipment["shipment_id"])]) == info
    assert await rpc.result(merchant, "shipment.info", {"shipment_id": shipment["shipment_id"]}) == info
    assert (info["order_ref"], info["store_code"]) == ("REF-9", "default")


# ---------------------------------------------------------------------------- update


async def test_update_sets_the_source_shown_in_info_and_events(rpc, merchant, warehouse, db):
    order = await ordered(rpc, merchant, db, {"A": 1}, source="magento:7")
    shipment = await through(rpc, warehouse, order["unique_id"], "pack")
    assert await rpc.result(merchant, "shipment.update", [shipment["shipment_id"], {"source": "100000007:t"}]) is True
    assert (await rpc.result(merchant, "shipment.info", [shipment["shipment_id"]]))["source"] == "100000007:t"
    await rpc.result(warehouse, "shipment.ship", [shipment["shipment_id"]])
    [event] = await events_of(db, "shipment:shipped")
    assert (event["external_id"], event["source"]) == ("100000007:t", "magento:7")
    assert await rpc.result(warehouse, "shipment.update", [shipment["shipment_id"], {"source": None}, []]) is True
    assert (await rpc.result(merchant, "shipment.info", [shipment["shipment_id"]]))["source"] is None


@pytest.mark.parametrize("args, expected", [
    ([{"status": "shipped"}], "data.status: cannot be changed (only source can)"),
    ([{}], "data.source: is required"),
    (["x"], "data: must be an object"),
    ([{"source": {"a": 1}}], "data.source: must be a string or null"),
    ([{"source": "x" * 256}], "data.source: at most 255 characters"),
    ([{"source": "x"}, {"color": "red"}], "customFields: shipments have no custom fields here"),
])
async def test_update_faults_change_nothing(rpc, merchant, warehouse, db, args, expected):
    order = await ordered(rpc, merchant, db, {"A": 1})
    shipment = await create_shipment(rpc, warehouse, order["unique_id"])
    before = await row_counts(db)
    error = await rpc.fault(merchant, "shipment.update", [shipment["shipment_id"], *args])
    assert_fault(error, 102, contains=expected)
    assert await row_counts(db) == before


async def test_update_takes_custom_fields_as_a_further_parameter(rpc, merchant, warehouse, db):
    """shipment.md: shipment.update(shipment, shipmentData, customFields); until shipment custom
    fields exist, an absent, null or empty customFields is accepted and any other refused."""
    order = await ordered(rpc, merchant, db, {"A": 1})
    shipment_id = (await create_shipment(rpc, warehouse, order["unique_id"]))["shipment_id"]
    for number, custom_fields in enumerate((None, [], {})):
        body = await rpc.request("call", [merchant, "shipment.update", [shipment_id, {"source": f"s{number}"}], custom_fields])
        assert body["result"] is True
    before = await row_counts(db)
    for custom_fields in ({"set": {"color": "red"}}, "red", [{"color": "red"}]):
        body = await rpc.request("call", [merchant, "shipment.update", [shipment_id, {"source": "changed"}], custom_fields])
        assert_fault(body["error"], 102, contains="customFields: shipments have no custom fields here")
    assert await row_counts(db) == before
    assert (await rpc.result(merchant, "shipment.info", [shipment_id]))["source"] == "s2"


# ------------------------------------------------------------------------------ search


async def _three_shipments(rpc, merchant, warehouse, db) -> list[dict[str, Any]]:
    first = await ordered(rpc, merchant, db, {"A": 2}, order_ref="R1")
    second = await ordered(rpc, merchant, db, {"A": 1}, order_ref="R2")
    one = await create_shipment(rpc, warehouse, first["unique_id"], {"A": 1})
    two = await through(rpc, warehouse, first["unique_id"], "pack")
    three = await through(rpc, warehouse, second["unique_id"], "pack", "ship")
    return [one, two, three]


async def test_search_filters_fields_and_pages(rpc, merchant, warehouse, db):
    one, two, three = await _three_shipments(rpc, merchant, warehouse, db)
    ids = [s["shipment_id"] for s in (one, two, three)]

    async def found(filters: Any, options: Any = None, fields: Any = None) -> list[str]:
        result = await rpc.result(merchant, "shipment.search", [filters, options, fields])
        return [row["shipment_id"] for row in result]

    # The documented plain array (the old answer was {results, totalCount, numPages}).
    everything = await rpc.result(merchant, "shipment.search", [])
    assert len(everything) == 3
    assert set(everything[0]) == SHIPMENT_KEYS - {"shipping_address", "items", "packages", "tracking_numbers"}
    base = await rpc.result(merchant, "shipment.search", [None, None, None])
    assert base[0] == {"shipment_id": ids[0], "order_unique_id": one["order_unique_id"], "order_ref": "R1"}
    assert await found({"status": "packed"}) == [ids[1]]
    assert await found({"status": {"in": ["new", "shipped"]}}) == [ids[0], ids[2]]
    assert await found({"order_ref": "R2"}) == [ids[2]]
    assert await found({"order_unique_id": {"eq": one["order_unique_id"]}}) == ids[:2]
    assert await found({"shipment_id": {"gt": ids[0]}}) == ids[1:]
    assert await found({"shipment_id": int(ids[1])}) == [ids[1]]
    assert await found({"warehouse_id": 1, "store_code": "default", "shipment_type": "parcel"}) == ids
    assert await found({"packed_at": {"notnull": 1}}) == ids[1:]
    assert await found({"created_at": {"from": "2000-01-01"}, "updated_at": {"to": "2999-01-01"}}) == ids
    order_id = await db.fetchval("SELECT order_id FROM orders WHERE unique_id = $1", three["order_unique_id"])
    assert await found({"order_id": order_id}) == [ids[2]]
    assert await found(None, {"sort_field": "shipment_id", "sort_dir": "desc", "limit": 2}) == [ids[2], ids[1]]
    assert await found(None, {"limit": 2, "page": 2}) == [ids[2]]
    assert await found(None, {"sort_field": "status"}) == [ids[0], ids[1], ids[2]]
    assert await rpc.result(merchant, "shipment.search", [None, {"limit": 2, "page": 5}]) == []
    [row] = await rpc.result(merchant, "shipment.search", [{"status": "shipped"}, None, ["items", "packages", "tracking_numbers", "status"]])
    assert row["items"] == three["items"] and row["packages"] == (await rpc.result(merchant, "shipment.info", [ids[2]]))["packages"]
    assert set(row) == {"shipment_id", "order_unique_id", "order_ref", "status", "items", "packages", "tracking_numbers"}
    star = await rpc.result(merchant, "shipment.search", [{"status": "new"}, None, ["*", "shipping_address", "serial_number_data"]])
    assert star[0]["shipping_address"]["city"] == "New York"
    assert star[0]["serial_number_data"] == []


async def test_search_sees_only_the_callers_shipments(rpc, sessions, db):
    await _three_shipments(rpc, sessions["merchant"], sessions["warehouse"], db)
    assert await rpc.result(sessions["other"], "shipment.search", []) == []


@pytest.mark.parametrize("args, expected", [
    ([{"sku": "A"}], "cannot filter on 'sku'"),
    ([{"status": {"like": "n%"}}], "unknown operator 'like'"),
    ([{"shipment_id": {"eq": "abc"}}], "'shipment_id' eq"),
    (["x"], "filters must be an object"),
    ([None, {"limit": 101}], "option limit must be a whole number from 1 to 100"),
    ([None, {"sort_field": "sku"}], "cannot sort on 'sku'"),
    ([None, None, ["color"]], "fields: unknown shipment property 'color'"),
    ([None, None, 5], "fields must be null, '*' or an array"),
])
async def test_search_faults(rpc, merchant, args, expected):
    error = await rpc.fault(merchant, "shipment.search", args)
    assert_fault(error, 101, contains=expected)


# ------------------------------------------------------------- order.search expansions


async def test_order_search_expands_shipments_packages_and_tracking_for_a_page(rpc, merchant, warehouse, db):
    one, two, three = await _three_shipments(rpc, merchant, warehouse, db)
    untouched = await ordered(rpc, merchant, db, {"A": 1})
    result = await rpc.result(merchant, "order.search", [None, None, ["shipments", "packages", "tracking_numbers"]])
    by_order = {row["unique_id"]: row for row in result["results"]}
    first = by_order[one["order_unique_id"]]
    assert first["shipments"] == [{"shipment_id": one["shipment_id"], "status": "new"},
                                  {"shipment_id": two["shipment_id"], "status": "packed"}]
    assert [p["shipment_id"] for p in first["packages"]] == [two["shipment_id"]]
    assert [t["shipment_id"] for t in first["tracking_numbers"]] == [two["shipment_id"]]
    second = by_order[three["order_unique_id"]]
    assert second["packages"][0]["status"] == "shipped" and second["packages"][0]["shipped_at"] is not None
    none = by_order[untouched["unique_id"]]
    assert (none["shipments"], none["packages"], none["tracking_numbers"]) == ([], [], [])
