"""order.create: the result, unique_id (given and auto-assigned), unique_order_ref, stock
reservation and statuses, warehouses, stores, roles, tenancy, and failed creates changing nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.order_helpers import (  # noqa: F401 (invariants is a fixture)
    invariants,
    ADDRESS,
    EXISTS,
    INFO,
    NO_PRODUCT,
    NOT_FOUND,
    add_product,
    add_stock,
    add_store,
    add_warehouse,
    assert_fault,
    check_invariants,
    events_of,
    merchant_id,
    snapshot,
    stock_of,
)

EXPANSIONS = {"shipping_address", "items", "shipments", "tracking_numbers", "packages", "status_history", "serial_number_data"}

pytestmark = pytest.mark.usefixtures("invariants")


@pytest.fixture
async def session(rpc, users):
    return await rpc.login(users["merchant"])


async def create(rpc, session, items: Any, *, info: dict | None = None, address: Any = ADDRESS, flags: Any = None,
                 store: str | None = None) -> dict[str, Any]:
    args = [store, items, address, {**INFO, **(info or {})}]
    if flags is not None:
        args.append(flags)
    return await rpc.call(session, "order.create", args)


async def created(rpc, session, items: Any, **kwargs: Any) -> dict[str, Any]:
    body = await create(rpc, session, items, **kwargs)
    assert "error" not in body, body
    return body["result"]


# ------------------------------------------------------------------------------ the result


async def test_result_is_order_info_with_star(rpc, session, db):
    await add_product(db, "WIDGET", stock=10)
    order = await created(rpc, session, {"WIDGET": 2}, info={"order_ref": "REF-1"})
    assert order == await rpc.result(session, "order.info", [order["unique_id"], "*"])
    assert not EXPANSIONS & set(order)
    assert order["unique_id"] == "100000001"
    assert order["order_ref"] == "REF-1"
    assert (order["state"], order["status"]) == ("new", "new")
    assert order["store_code"] == "default"
    assert order["shipping_method"] == "ups_03"
    assert order["carrier_code"] == "ups"
    assert order["submitted_by"] == "acme-merchant"
    assert order["total_item_count"] == 1
    assert isinstance(order["order_id"], int)
    await check_invariants(db)


async def test_order_rows_history_and_created_event(rpc, session, db):
    product = await add_product(db, "WIDGET", stock=10, external_id="EXT-9")
    order = await created(rpc, session, [{"sku": "WIDGET", "qty": 4, "order_item_ref": "L1"}], info={"note": "Gift wrap"})
    row = await db.fetchrow("SELECT * FROM orders WHERE unique_id = $1", order["unique_id"])
    assert row["merchant_id"] == await merchant_id(db)
    assert row["shipping_address"]["street1"] == "11 Times Square"
    history = await rpc.result(session, "order.info", [order["unique_id"], ["status_history"]])
    assert [(h["state"], h["status"], h["comment"]) for h in history["status_history"]] == [("new", "new", "Gift wrap")]
    (event,) = await events_of(db, "order:created")
    assert event["unique_id"] == order["unique_id"]
    assert event["order_id"] == order["order_id"]
    assert event["status"] == "new"
    assert event["store_code"] == "default"
    # the documented payload's items: each the Order Item as order.info answers it
    item_id = await db.fetchval("SELECT order_item_id FROM order_items WHERE order_id = $1", order["order_id"])
    assert event["items"] == [{
        "order_item_id": str(item_id), "order_item_ref": "L1", "sku": "WIDGET", "name": "Widget",
        "weight": None, "weight_unit": "lb", "row_weight": None, "row_weight_unit": "lb",
        "qty_ordered": "4.0000", "qty_processing": "4.0000", "qty_shipped": "0.0000", "qty_canceled": "0.0000",
        "qty_backordered": "0.0000", "allocation_data": [{"warehouse_id": "1", "qty_allocated": "4.0000"}],
        "package_data": [], "lot_data": [], "unit_declared_value": None, "unit_declared_value_currency": "USD",
        "unit_customs_value": None, "unit_customs_value_currency": "USD", "gift_message": None,
    }]
    assert event["items"] == (await rpc.result(session, "order.info", [order["unique_id"], ["items"]]))["items"]
    assert event["stock_adjustments"] == {"WIDGET": {
        "sku": "WIDGET", "external_id": "EXT-9", "product_id": product, "qty_adjust": -4,
        "qty_available": 6, "qty_advertised": 6,
    }}
    await check_invariants(db)


# ------------------------------------------------------------------------------- unique_id


async def test_auto_unique_ids_count_up_per_merchant(rpc, users, session, db):
    await add_product(db, "WIDGET", stock=10)
    await add_product(db, "OTHER-SKU", stock=10, merchant="other")
    first = await created(rpc, session, {"WIDGET": 1})
    second = await created(rpc, session, {"WIDGET": 1})
    assert (first["unique_id"], second["unique_id"]) == ("100000001", "100000002")
    other = await rpc.login(users["other"])
    theirs = await created(rpc, other, {"OTHER-SKU": 1})
    assert theirs["unique_id"] == "100000001"
    assert (await created(rpc, session, {"WIDGET": 1}))["unique_id"] == "100000003"
    await check_invariants(db)


async def test_auto_unique_id_skips_a_number_chosen_explicitly(rpc, session, db):
    await add_product(db, "WIDGET", stock=10)
    chosen = await created(rpc, session, {"WIDGET": 1}, info={"unique_id": "100000002"})
    assert chosen["unique_id"] == "100000002"
    assert (await created(rpc, session, {"WIDGET": 1}))["unique_id"] == "100000001"
    assert (await created(rpc, session, {"WIDGET": 1}))["unique_id"] == "100000003"
    assert await db.fetchval("SELECT count(*) FROM orders") == 3
    await check_invariants(db)


async def test_auto_unique_id_skips_a_long_run_of_numbers_chosen_explicitly(rpc, session, db):
    """A merchant moving from ShipStream brings its orders with their numbers (100000001...)."""
    await add_product(db, "WIDGET", stock=100)
    imported = {str(n): [None, {"WIDGET": 1}, ADDRESS, {**INFO, "unique_id": str(100000001 + n)}] for n in range(30)}
    assert all("error" not in value for value in (await rpc.result(session, "order.bulk_create", [imported])).values())
    assert (await created(rpc, session, {"WIDGET": 1}))["unique_id"] == "100000031"
    assert (await created(rpc, session, {"WIDGET": 1}))["unique_id"] == "100000032"
    more = {str(n): [None, {"WIDGET": 1}, ADDRESS, {**INFO, "unique_id": str(100000033 + n)}] for n in range(25)}
    more["auto"] = [None, {"WIDGET": 1}, ADDRESS, INFO]
    result = await rpc.result(session, "order.bulk_create", [more])
    assert result["auto"]["unique_id"] == "100000058"
    assert await db.fetchval("SELECT count(*) FROM orders") == 58


async def test_given_unique_id_is_kept_and_a_number_becomes_a_string(rpc, session, db):
    await add_product(db, "WIDGET", stock=10)
    first = await created(rpc, session, {"WIDGET": 1}, info={"unique_id": "SO-77"})
    assert first["unique_id"] == "SO-77"
    assert (await created(rpc, session, {"WIDGET": 1}, info={"unique_id": 4711}))["unique_id"] == "4711"
    assert (await rpc.result(session, "order.info", ["SO-77", None])) == {
        "order_id": first["order_id"], "unique_id": "SO-77", "order_ref": None}


async def test_duplicate_unique_id_is_fault_104_and_changes_nothing(rpc, session, db):
    product = await add_product(db, "WIDGET", stock=10)
    await created(rpc, session, {"WIDGET": 1}, info={"unique_id": "SO-1"})
    before = await snapshot(db)
    error = (await create(rpc, session, {"WIDGET": 3}, info={"unique_id": "SO-1"}))["error"]
    assert_fault(error, 104, EXISTS)
    assert await snapshot(db) == before
    assert await stock_of(db, product) == (10, 1)
    await check_invariants(db)


async def test_another_merchant_may_reuse_a_unique_id(rpc, users, session, db):
    await add_product(db, "WIDGET", stock=10)
    await add_product(db, "THEIRS", stock=10, merchant="other")
    await created(rpc, session, {"WIDGET": 1}, info={"unique_id": "SO-1"})
    other = await rpc.login(users["other"])
    theirs = await created(rpc, other, {"THEIRS": 1}, info={"unique_id": "SO-1"})
    assert theirs["unique_id"] == "SO-1"
    assert (await rpc.result(session, "order.info", ["SO-1", ["items"]]))["items"][0]["sku"] == "WIDGET"
    assert (await rpc.result(other, "order.info", ["SO-1", ["items"]]))["items"][0]["sku"] == "THEIRS"
    await check_invariants(db)


@pytest.mark.parametrize("unique_id", ["", "   ", "x" * 65, True, [], {"a": 1}])
async def test_invalid_unique_id_is_fault_102(rpc, session, db, unique_id):
    await add_product(db, "WIDGET", stock=10)
    error = (await create(rpc, session, {"WIDGET": 1}, info={"unique_id": unique_id}))["error"]
    assert_fault(error, 102)
    assert error["message"].startswith("info.unique_id: ")
    assert await db.fetchval("SELECT count(*) FROM orders") == 0


# ------------------------------------------------------------------------ unique_order_ref


async def test_unique_order_ref_true_refuses_a_duplicate(rpc, session, db):
    await add_product(db, "WIDGET", stock=10)
    await created(rpc, session, {"WIDGET": 1}, info={"order_ref": "PO-1"})
    before = await snapshot(db)
    error = (await create(rpc, session, {"WIDGET": 1}, info={"order_ref": "PO-1"}, flags={"unique_order_ref": True}))["error"]
    assert_fault(error, 104, EXISTS)
    assert await snapshot(db) == before
    # another reference passes
    assert (await created(rpc, session, {"WIDGET": 1}, info={"order_ref": "PO-2"}, flags={"unique_order_ref": True}))["order_ref"] == "PO-2"
    await check_invariants(db)


@pytest.mark.parametrize("flags", [None, {"unique_order_ref": False}, {}, []])
async def test_order_ref_is_not_unique_by_default(rpc, session, db, flags):
    await add_product(db, "WIDGET", stock=10)
    await created(rpc, session, {"WIDGET": 1}, info={"order_ref": "PO-1"})
    again = await created(rpc, session, {"WIDGET": 1}, info={"order_ref": "PO-1"}, flags=flags)
    assert again["order_ref"] == "PO-1"
    assert await db.fetchval("SELECT count(*) FROM orders WHERE order_ref = 'PO-1'") == 2


async def test_unique_order_ref_window_only_looks_back_that_far(rpc, session, db):
    await add_product(db, "WIDGET", stock=10)
    old = await created(rpc, session, {"WIDGET": 1}, info={"order_ref": "PO-OLD"})
    await db.execute("UPDATE orders SET created_at = now() - interval '5 days' WHERE unique_id = $1", old["unique_id"])
    await created(rpc, session, {"WIDGET": 1}, info={"order_ref": "PO-NEW"})
    window = {"unique_order_ref": "-3 days"}
    # five days old: outside the window
    assert (await created(rpc, session, {"WIDGET": 1}, info={"order_ref": "PO-OLD"}, flags=window))["order_ref"] == "PO-OLD"
    # created just now: inside it
    assert_fault((await create(rpc, session, {"WIDGET": 1}, info={"order_ref": "PO-NEW"}, flags=window))["error"], 104, EXISTS)
    # a window of a week reaches the old one... which now has a recent twin anyway; true reaches everything
    await db.execute("UPDATE orders SET created_at = now() - interval '5 days' WHERE order_ref = 'PO-OLD'")
    assert_fault((await create(rpc, session, {"WIDGET": 1}, info={"order_ref": "PO-OLD"},
                               flags={"unique_order_ref": "-1 week"}))["error"], 104, EXISTS)
    assert_fault((await create(rpc, session, {"WIDGET": 1}, info={"order_ref": "PO-OLD"},
                               flags={"unique_order_ref": True}))["error"], 104, EXISTS)
    await check_invariants(db)


async def test_unique_order_ref_is_per_merchant(rpc, users, session, db):
    await add_product(db, "WIDGET", stock=10)
    await add_product(db, "THEIRS", stock=10, merchant="other")
    other = await rpc.login(users["other"])
    await created(rpc, other, {"THEIRS": 1}, info={"order_ref": "PO-1"})
    mine = await created(rpc, session, {"WIDGET": 1}, info={"order_ref": "PO-1"}, flags={"unique_order_ref": True})
    assert mine["order_ref"] == "PO-1"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"unique_order_ref": "yesterday"}, "flags.unique_order_ref: must be true, false or a window such as \"-3 days\", got 'yesterday'"),
        ({"unique_order_ref": 3}, "flags.unique_order_ref: must be true, false or a window such as \"-3 days\", got 3"),
        ({"unique_ref": True}, "flags.unique_ref: unknown key"),
        ("yes", "flags must be an object"),
    ],
)
async def test_invalid_flags_are_fault_102(rpc, session, db, flags, message):
    await add_product(db, "WIDGET", stock=10)
    error = (await create(rpc, session, {"WIDGET": 1}, info={"order_ref": "PO-1"}, flags=flags))["error"]
    assert_fault(error, 102, message)
    assert await db.fetchval("SELECT count(*) FROM orders") == 0


# ------------------------------------------------------------------------ stock reservation


async def test_enough_stock_reserves_everything(rpc, session, db):
    product = await add_product(db, "WIDGET", stock=10)
    order = await created(rpc, session, {"WIDGET": 10})
    assert order["status"] == "new"
    info = await rpc.result(session, "order.info", [order["unique_id"], ["items"]])
    (item,) = info["items"]
    assert (item["qty_ordered"], item["qty_processing"], item["qty_backordered"]) == ("10.0000", "10.0000", "0.0000")
    assert item["allocation_data"] == [{"warehouse_id": "1", "qty_allocated": "10.0000"}]
    assert await stock_of(db, product) == (10, 10)
    movement = await db.fetchrow("SELECT * FROM stock_movements")
    assert (movement["entity_type"], movement["entity_action"], movement["entity_id"]) == ("order", "allocate", order["unique_id"])
    assert (movement["product_id"], movement["warehouse_id"], movement["qty_allocated_delta"], movement["qty_on_hand_delta"]) == (product, 1, 10, 0)
    await check_invariants(db)


async def test_short_stock_is_partial_backorder(rpc, session, db):
    product = await add_product(db, "WIDGET", stock=3)
    order = await created(rpc, session, {"WIDGET": 5})
    assert (order["state"], order["status"]) == ("new", "partial_backorder")
    (item,) = (await rpc.result(session, "order.info", [order["unique_id"], ["items"]]))["items"]
    assert (item["qty_processing"], item["qty_backordered"]) == ("3.0000", "2.0000")
    assert await stock_of(db, product) == (3, 3)
    # the next order finds nothing left
    nothing = await created(rpc, session, {"WIDGET": 1})
    assert nothing["status"] == "backordered"
    await check_invariants(db)


async def test_one_line_short_of_two_is_partial_backorder(rpc, session, db):
    await add_product(db, "IN-STOCK", stock=5)
    await add_product(db, "NONE", stock=0)
    order = await created(rpc, session, {"IN-STOCK": 2, "NONE": 1})
    assert order["status"] == "partial_backorder"
    items = (await rpc.result(session, "order.info", [order["unique_id"], ["items"]]))["items"]
    assert [(i["sku"], i["qty_processing"], i["qty_backordered"], i["allocation_data"]) for i in items] == [
        ("IN-STOCK", "2.0000", "0.0000", [{"warehouse_id": "1", "qty_allocated": "2.0000"}]),
        ("NONE", "0.0000", "1.0000", []),
    ]
    await check_invariants(db)


async def test_no_stock_at_all_is_backordered_without_movements(rpc, session, db):
    await add_product(db, "NEVER-STOCKED")
    order = await created(rpc, session, {"NEVER-STOCKED": 4})
    assert (order["state"], order["status"]) == ("new", "backordered")
    assert await db.fetchval("SELECT count(*) FROM stock_movements") == 0
    assert await db.fetchval("SELECT count(*) FROM order_item_allocations") == 0
    (event,) = await events_of(db, "order:created")
    assert event["stock_adjustments"] == {}
    await check_invariants(db)


async def test_hold_indefinitely_is_holded(rpc, session, db):
    product = await add_product(db, "WIDGET", stock=10)
    order = await created(rpc, session, {"WIDGET": 2}, info={"hold_indefinitely": True})
    assert (order["state"], order["status"]) == ("holded", "holded")
    history = (await rpc.result(session, "order.info", [order["unique_id"], ["status_history"]]))["status_history"]
    assert [(h["state"], h["status"]) for h in history] == [("holded", "holded")]
    # an order on hold keeps its reservation (ShipStream: order.hold keeps reservations too)
    assert await stock_of(db, product) == (10, 2)
    await check_invariants(db)


async def test_delayed_ship_date_is_delayed_shipment(rpc, session, db):
    await add_product(db, "WIDGET", stock=10)
    order = await created(rpc, session, {"WIDGET": 2}, info={"delayed_ship_date": "2030-01-02T03:04:05-05:00"})
    assert (order["state"], order["status"]) == ("holded", "delayed_shipment")
    assert order["delayed_ship_date"] == "2030-01-02T08:04:05+00:00"
    await check_invariants(db)


async def test_hold_indefinitely_false_is_not_a_hold(rpc, session, db):
    await add_product(db, "WIDGET", stock=10)
    assert (await created(rpc, session, {"WIDGET": 1}, info={"hold_indefinitely": False}))["status"] == "new"


async def test_allocation_spreads_over_two_warehouses_most_available_first(rpc, session, db):
    second = await add_warehouse(db)
    product = await add_product(db, "WIDGET", stock=3)
    await add_stock(db, product, 5, second)
    order = await created(rpc, session, {"WIDGET": 7})
    assert order["status"] == "new"
    (item,) = (await rpc.result(session, "order.info", [order["unique_id"], ["items"]]))["items"]
    assert item["allocation_data"] == [
        {"warehouse_id": "1", "qty_allocated": "2.0000"},
        {"warehouse_id": str(second), "qty_allocated": "5.0000"},
    ]
    assert item["qty_processing"] == "7.0000"
    assert await stock_of(db, product, 1) == (3, 2)
    assert await stock_of(db, product, second) == (5, 5)
    movements = await db.fetch("SELECT warehouse_id, qty_allocated_delta FROM stock_movements ORDER BY warehouse_id")
    assert [tuple(m) for m in movements] == [(1, 2), (second, 5)]
    await check_invariants(db)


async def test_one_warehouse_enough_takes_all_from_it(rpc, session, db):
    second = await add_warehouse(db)
    product = await add_product(db, "WIDGET", stock=2)
    await add_stock(db, product, 6, second)
    order = await created(rpc, session, {"WIDGET": 4})
    (item,) = (await rpc.result(session, "order.info", [order["unique_id"], ["items"]]))["items"]
    assert item["allocation_data"] == [{"warehouse_id": str(second), "qty_allocated": "4.0000"}]
    await check_invariants(db)


async def test_inactive_warehouse_stock_is_not_reserved(rpc, session, db):
    closed = await add_warehouse(db, "Closed", is_active=False)
    product = await add_product(db, "WIDGET", stock=1)
    await add_stock(db, product, 50, closed)
    order = await created(rpc, session, {"WIDGET": 3})
    assert order["status"] == "partial_backorder"
    assert await stock_of(db, product, closed) == (50, 0)
    await check_invariants(db)


async def test_stock_of_allocated_units_is_not_available_again(rpc, session, db):
    product = await add_product(db, "WIDGET", stock=10)
    assert (await created(rpc, session, {"WIDGET": 8}))["status"] == "new"
    order = await created(rpc, session, {"WIDGET": 5})
    assert order["status"] == "partial_backorder"
    (item,) = (await rpc.result(session, "order.info", [order["unique_id"], ["items"]]))["items"]
    assert (item["qty_processing"], item["qty_backordered"]) == ("2.0000", "3.0000")
    assert await stock_of(db, product) == (10, 10)


# --------------------------------------------------------------------- failures change nothing


@pytest.mark.parametrize(
    ("items", "info", "number"),
    [
        ([{"sku": "WIDGET", "qty": 2}, {"sku": "MISSING", "qty": 1}], {}, 107),
        ([{"sku": "WIDGET", "qty": 2}], {"priority": 500}, 102),
        ([{"sku": "WIDGET", "qty": 2}], {"unique_id": "TAKEN"}, 104),
        ([{"sku": "WIDGET", "qty": 2}], {"order_ref": "PO-TAKEN", "shipping_method": "ups_03"}, 104),
    ],
)
async def test_a_failed_create_changes_nothing(rpc, session, db, items, info, number):
    product = await add_product(db, "WIDGET", stock=10)
    await created(rpc, session, {"WIDGET": 1}, info={"unique_id": "TAKEN", "order_ref": "PO-TAKEN"})
    before = await snapshot(db)
    flags = {"unique_order_ref": True} if "order_ref" in info else None
    error = (await create(rpc, session, items, info=info, flags=flags))["error"]
    assert_fault(error, number)
    assert await snapshot(db) == before
    assert await stock_of(db, product) == (10, 1)
    # the failure used no number: the next order gets the first one
    assert (await created(rpc, session, {"WIDGET": 1}))["unique_id"] == "100000001"
    await check_invariants(db)


async def test_unknown_product_is_fault_107_with_the_sku(rpc, session, db):
    await add_product(db, "WIDGET", stock=10)
    error = (await create(rpc, session, {"WIDGET": 1, "NO-SUCH-SKU": 2}))["error"]
    assert error == {"code": -32107, "message": NO_PRODUCT, "data": {"sku": "NO-SUCH-SKU"}}
    assert await db.fetchval("SELECT count(*) FROM orders") == 0


# ----------------------------------------------------------------------------------- stores


async def test_store_code_picks_the_store(rpc, session, db):
    await add_product(db, "WIDGET", stock=10)
    await add_store(db, "web")
    order = await created(rpc, session, {"WIDGET": 1}, store="web")
    assert (order["store_code"], order["store_name"]) == ("web", "Store web")
    assert (await created(rpc, session, {"WIDGET": 1}, store="default"))["store_code"] == "default"
    assert (await created(rpc, session, {"WIDGET": 1}))["store_code"] == "default"
    # PHP clients send "" for "not specified"
    assert (await created(rpc, session, {"WIDGET": 1}, store=""))["store_code"] == "default"


@pytest.mark.parametrize(
    ("store", "message"),
    [
        ("nope", "storeCode: no store with code 'nope'"),
        ("closed", "storeCode: no store with code 'closed'"),
        ("theirs", "storeCode: no store with code 'theirs'"),
        (7, "storeCode must be a string or null, got 7"),
    ],
)
async def test_unknown_inactive_or_foreign_store_is_fault_102(rpc, session, db, store, message):
    await add_product(db, "WIDGET", stock=10)
    await add_store(db, "closed", is_active=False)
    await add_store(db, "theirs", merchant="other")
    before = await snapshot(db)
    assert_fault((await create(rpc, session, {"WIDGET": 1}, store=store))["error"], 102, message)
    assert await snapshot(db) == before


# ------------------------------------------------------------------------ roles and tenancy


async def test_warehouse_role_may_not_create_orders(rpc, users, db):
    await add_product(db, "WIDGET", stock=10)
    warehouse = await rpc.login(users["warehouse"])
    error = (await create(rpc, warehouse, {"WIDGET": 1}))["error"]
    assert_fault(error, 2, "Access denied.")
    assert await db.fetchval("SELECT count(*) FROM orders") == 0


async def test_admin_role_may_create_orders(rpc, users, db):
    await add_product(db, "WIDGET", stock=10)
    admin = await rpc.login(users["admin"])
    order = await created(rpc, admin, {"WIDGET": 1})
    assert order["submitted_by"] == "acme-admin"


async def test_another_merchant_sees_nothing_of_acme(rpc, users, session, db):
    await add_product(db, "WIDGET", stock=10)
    order = await created(rpc, session, {"WIDGET": 1}, info={"order_ref": "PO-1"})
    other = await rpc.login(users["other"])
    assert_fault(await rpc.fault(other, "order.info", [order["unique_id"]]), 100, NOT_FOUND)
    assert_fault(await rpc.fault(other, "order.comment", [order["unique_id"], "hello"]), 100, NOT_FOUND)
    assert_fault(await rpc.fault(other, "order.edit", [order["unique_id"], None, {"priority": 1}]), 100, NOT_FOUND)
    assert await rpc.result(other, "order.search", [None]) == {"results": [], "totalCount": 0, "numPages": 0}
    assert (await rpc.result(other, "order.search", [{"order_ref": "PO-1"}]))["totalCount"] == 0
    # acme's order is untouched
    info = await rpc.result(session, "order.info", [order["unique_id"], ["*", "status_history"]])
    assert (info["priority"], len(info["status_history"])) == (50, 1)


async def test_another_merchant_cannot_order_acme_skus(rpc, users, db):
    product = await add_product(db, "WIDGET", stock=10, barcodes=["0001"], vendor_sku="VW")
    other = await rpc.login(users["other"])
    for items in ({"WIDGET": 1}, [{"barcode": "0001", "qty": 1}], [{"vendor_sku": "VW", "qty": 1}]):
        error = (await create(rpc, other, items))["error"]
        assert_fault(error, 107, NO_PRODUCT)
    assert await db.fetchval("SELECT count(*) FROM orders") == 0
    assert await stock_of(db, product) == (10, 0)
