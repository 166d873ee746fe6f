"""order.create items: the three shapes, item fields, product lookup (sku, barcode,
vendor_sku), disabled and unknown products, quantities."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.order_helpers import (  # noqa: F401 (invariants is a fixture)
    invariants,
    ADDRESS,
    INFO,
    NO_PRODUCT,
    add_product,
    assert_fault,
    check_invariants,
    snapshot,
    stock_of,
)

pytestmark = pytest.mark.usefixtures("invariants")


@pytest.fixture
async def session(rpc, users):
    return await rpc.login(users["merchant"])


async def create(rpc, session, items: Any, info: dict | None = None) -> dict[str, Any]:
    return await rpc.call(session, "order.create", [None, items, ADDRESS, {**INFO, **(info or {})}])


async def items_of(rpc, session, items: Any, info: dict | None = None) -> list[dict[str, Any]]:
    body = await create(rpc, session, items, info)
    assert "error" not in body, body
    return (await rpc.result(session, "order.info", [body["result"]["unique_id"], ["items"]]))["items"]


async def fault_of(rpc, session, db, items: Any, info: dict | None = None) -> dict[str, Any]:
    before = await snapshot(db)
    body = await create(rpc, session, items, info)
    assert "error" in body, body
    assert await snapshot(db) == before
    return body["error"]


# ----------------------------------------------------------------------------------- shapes


async def test_object_shape_sku_to_qty(rpc, session, db):
    await add_product(db, "A", stock=10, name="Alpha")
    await add_product(db, "B", stock=10, name="Beta")
    items = await items_of(rpc, session, {"A": 1, "B": 3})
    assert [(i["sku"], i["name"], i["qty_ordered"]) for i in items] == [("A", "Alpha", "1.0000"), ("B", "Beta", "3.0000")]
    await check_invariants(db)


async def test_list_shape(rpc, session, db):
    await add_product(db, "A", stock=10)
    await add_product(db, "B", stock=10)
    items = await items_of(rpc, session, [{"sku": "B", "qty": 2}, {"sku": "A", "qty": 1}])
    assert [(i["sku"], i["qty_ordered"]) for i in items] == [("B", "2.0000"), ("A", "1.0000")]


async def test_list_shape_with_unit_declared_value(rpc, session, db):
    await add_product(db, "A", stock=10)
    await add_product(db, "B", stock=10)
    items = await items_of(
        rpc, session,
        [{"sku": "A", "qty": 1, "unit_declared_value": "20.40", "unit_customs_value": "21.15"},
         {"sku": "B", "qty": 2, "unit_declared_value": 5, "unit_declared_value_currency": "eur",
          "unit_customs_value": 3.5, "unit_customs_value_currency": "CAD"}],
        {"declared_value_service": True},
    )
    assert [(i["unit_declared_value"], i["unit_declared_value_currency"], i["unit_customs_value"],
             i["unit_customs_value_currency"]) for i in items] == [
        ("20.40", "USD", "21.15", "USD"),
        ("5.00", "EUR", "3.50", "CAD"),
    ]


async def test_item_fields_are_returned(rpc, session, db):
    await add_product(db, "A", stock=10, weight=1.25)
    (item,) = await items_of(rpc, session, [{"sku": "A", "qty": 2, "order_item_ref": 10, "inner_qty": 2, "outer_qty": 6}])
    assert item["order_item_ref"] == "10"
    assert (item["weight"], item["row_weight"], item["weight_unit"]) == ("1.2500", "2.5000", "lb")
    assert (item["qty_shipped"], item["qty_canceled"]) == ("0.0000", "0.0000")
    assert item["order_item_id"].isdigit()  # a string, as in the docs' order.search example
    assert item["unit_declared_value"] is None


async def test_order_weight_sums_the_lines(rpc, session, db):
    await add_product(db, "A", stock=10, weight=1.5)
    await add_product(db, "B", stock=10, weight=0.25)
    await add_product(db, "C", stock=10)
    body = await create(rpc, session, {"A": 2, "B": 4, "C": 1})
    assert (body["result"]["weight"], body["result"]["total_item_count"]) == ("4.0000", 3)


@pytest.mark.parametrize(("products", "weight", "unit"), [
    ([("KG", 1, "kg", 2), ("G", 250, "g", 2)], "2.5000", "kg"),
    ([("LB", 1, "lb", 1), ("OZ", 8, "oz", 1)], "1.5000", "lb"),
    ([("OZ", 8, "oz", 3), ("LB", 1, "lb", 1)], "40.0000", "oz"),
])
async def test_order_weight_adds_lines_in_one_unit(rpc, session, db, products, weight, unit):
    for sku, each, weight_unit, _ in products:
        await add_product(db, sku, stock=10, weight=each, weight_unit=weight_unit)
    body = await create(rpc, session, {sku: qty for sku, _, _, qty in products})
    assert (body["result"]["weight"], body["result"]["weight_unit"]) == (weight, unit)


HEAVIEST = "99999999.9999"  # the largest weight a product takes


async def test_the_heaviest_order_is_stored_and_answered_exactly(rpc, session, db):
    """Lines at the largest product weight and quantity add up far beyond a product's own
    bound; the order keeps the exact sum (it once overflowed numeric(12, 4): fault 1)."""
    await add_product(db, "HEAVY", stock=1_000_000, weight=HEAVIEST, weight_unit="kg")
    await add_product(db, "GRAMS", weight=HEAVIEST, weight_unit="g")
    body = await create(rpc, session, {"HEAVY": 1_000_000, "GRAMS": 1_000_000})
    assert "error" not in body, body
    # 99,999,999.9999 kg x 1,000,000 + the same in grams (x 0.001).
    assert (body["result"]["weight"], body["result"]["weight_unit"]) == ("100099999999899.9000", "kg")
    info = await rpc.result(session, "order.info", [body["result"]["unique_id"], ["weight"]])
    assert info["weight"] == "100099999999899.9000"
    await check_invariants(db)


async def test_a_heavy_order_in_a_bulk_does_not_fail_the_others(rpc, session, db):
    await add_product(db, "HEAVY", stock=10, weight=HEAVIEST)
    args = [None, {"HEAVY": 1_000_000}, ADDRESS, INFO]
    result = await rpc.result(session, "order.bulk_create", [{"heavy": args, "light": [None, {"HEAVY": 1}, ADDRESS, INFO]}])
    assert result["heavy"]["weight"] == "99999999999900.0000" and result["heavy"]["status"] == "partial_backorder"
    assert result["light"]["weight"] == HEAVIEST
    await check_invariants(db)


async def test_same_sku_on_two_lines_shares_the_stock(rpc, session, db):
    product = await add_product(db, "A", stock=5)
    items = await items_of(rpc, session, [{"sku": "A", "qty": 3}, {"sku": "A", "qty": 3}])
    assert [(i["qty_processing"], i["qty_backordered"]) for i in items] == [("3.0000", "0.0000"), ("2.0000", "1.0000")]
    assert await stock_of(db, product) == (5, 5)
    movements = await db.fetch("SELECT qty_allocated_delta FROM stock_movements")
    assert [m["qty_allocated_delta"] for m in movements] == [5]
    await check_invariants(db)


# ----------------------------------------------------------------------------------- lookup


async def test_barcode_finds_the_product(rpc, session, db):
    await add_product(db, "A", stock=10, barcodes=["0001", "0002"])
    (item,) = await items_of(rpc, session, [{"barcode": "0002", "qty": 1}])
    assert item["sku"] == "A"


async def test_vendor_sku_finds_the_product(rpc, session, db):
    await add_product(db, "A", stock=10, vendor_sku="VEND-A")
    (item,) = await items_of(rpc, session, [{"vendor_sku": "VEND-A", "qty": 1}])
    assert item["sku"] == "A"


async def test_a_barcode_given_as_sku_is_found(rpc, session, db):
    await add_product(db, "A", stock=10, barcodes=["0001"])
    await add_product(db, "B", stock=10, vendor_sku="VEND-B")
    items = await items_of(rpc, session, {"0001": 1, "VEND-B": 2})
    assert [i["sku"] for i in items] == ["A", "B"]


async def test_sku_wins_over_barcode_and_barcode_over_vendor_sku(rpc, session, db):
    await add_product(db, "X", stock=10)
    await add_product(db, "HAS-X-AS-BARCODE", stock=10, barcodes=["X", "Y"])
    await add_product(db, "HAS-X-AS-VENDOR", stock=10, vendor_sku="X")
    await add_product(db, "HAS-Y-AS-VENDOR", stock=10, vendor_sku="Y")
    items = await items_of(rpc, session, [{"sku": "X", "qty": 1}, {"barcode": "X", "qty": 1}, {"sku": "Y", "qty": 1},
                                          {"vendor_sku": "Y", "qty": 1}])
    assert [i["sku"] for i in items] == ["X", "X", "HAS-X-AS-BARCODE", "HAS-X-AS-BARCODE"]


async def test_sku_key_wins_over_barcode_key_on_the_same_item(rpc, session, db):
    await add_product(db, "A", stock=10)
    await add_product(db, "B", stock=10, barcodes=["0002"])
    (item,) = await items_of(rpc, session, [{"sku": "A", "barcode": "0002", "qty": 1}])
    assert item["sku"] == "A"


async def test_vendor_sku_matching_several_products_is_an_error(rpc, session, db):
    await add_product(db, "A", stock=10, vendor_sku="SHARED")
    await add_product(db, "B", stock=10, vendor_sku="SHARED")
    error = await fault_of(rpc, session, db, [{"vendor_sku": "SHARED", "qty": 1}])
    assert_fault(error, 102, "items[0]: vendor_sku 'SHARED' matches several products (A, B); give the sku")


async def test_a_barcode_of_several_products_is_an_error(rpc, session, db):
    await add_product(db, "B", stock=10, barcodes=["0001", "SHARED"])
    await add_product(db, "A", stock=10, barcodes=["SHARED"])
    error = await fault_of(rpc, session, db, [{"barcode": "SHARED", "qty": 1}])
    assert_fault(error, 102, "items[0]: barcode 'SHARED' matches several products (A, B); give the sku")
    # a barcode of one product still finds it
    assert [i["sku"] for i in await items_of(rpc, session, [{"barcode": "0001", "qty": 1}])] == ["B"]


async def test_disabled_product_is_refused(rpc, session, db):
    product = await add_product(db, "OFF", stock=10, status=2)
    await add_product(db, "ON", stock=10)
    error = await fault_of(rpc, session, db, [{"sku": "ON", "qty": 1}, {"sku": "OFF", "qty": 1}])
    assert_fault(error, 102, "items[1]: product 'OFF' is disabled")
    assert await stock_of(db, product) == (10, 0)


@pytest.mark.parametrize(
    ("items", "sku"),
    [
        ({"NOPE": 1}, "NOPE"),
        ([{"sku": "NOPE", "qty": 1}], "NOPE"),
        ([{"barcode": "999", "qty": 1}], "999"),
        ([{"vendor_sku": "V-NOPE", "qty": 1}], "V-NOPE"),
        ({"a": 1}, "a"),  # SKUs are case-sensitive
    ],
)
async def test_unknown_product_is_fault_107_naming_it(rpc, session, db, items, sku):
    await add_product(db, "A", stock=10, barcodes=["0001"], vendor_sku="V-A")
    error = await fault_of(rpc, session, db, items)
    assert error == {"code": -32107, "message": NO_PRODUCT, "data": {"sku": sku}}


# ------------------------------------------------------------------------------- field rules


@pytest.mark.parametrize(("qty", "expected"), [("3", "3.0000"), (2.0, "2.0000"), ("4.0", "4.0000"), (1_000_000, "1000000.0000")])
async def test_quantities_that_are_whole_numbers_are_accepted(rpc, session, db, qty, expected):
    await add_product(db, "A", stock=1)
    (item,) = await items_of(rpc, session, [{"sku": "A", "qty": qty}])
    assert item["qty_ordered"] == expected


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ({"A": 0}, "items.A.qty: must be a positive whole number, got 0"),
        ({"A": -2}, "items.A.qty: must be a positive whole number, got -2"),
        ({"A": 1.5}, "items.A.qty: must be a positive whole number, got 1.5"),
        ({"A": "two"}, "items.A.qty: must be a positive whole number, got 'two'"),
        ({"A": True}, "items.A.qty: must be a positive whole number"),
        ({"A": None}, "items.A.qty: must be a positive whole number, got None"),
        ({"A": 1_000_001}, "items.A.qty: must be at most 1000000"),
        ([{"sku": "A"}], "items[0].qty: is required"),
        ([{"qty": 1}], "items[0]: needs a sku (or a barcode or vendor_sku)"),
        ([{"sku": "", "qty": 1}], "items[0].sku: string should have at least 1 character"),
        ([{"sku": "A", "qty": 1, "color": "red"}], "items[0].color: unknown key"),
        ([{"sku": "A", "qty": 1}, "B"], "items[1]: must be an object with sku and qty"),
        ([{"sku": "A", "qty": 1, "inner_qty": 0}], "items[0].inner_qty: input should be greater than 0"),
        ([{"sku": "A", "qty": 1, "outer_qty": -1}], "items[0].outer_qty: input should be greater than 0"),
        ([{"sku": "A", "qty": 1, "unit_customs_value": "-1"}], "items[0].unit_customs_value: input should be greater than or equal to 0"),
        ([{"sku": "A", "qty": 1, "unit_customs_value": "1.234"}], "items[0].unit_customs_value: decimal input should have no more than 2 decimal places"),
        ([{"sku": "A", "qty": 1, "unit_customs_value": 1, "unit_customs_value_currency": "DOLLARS"}],
         "items[0].unit_customs_value_currency: 'DOLLARS' is not an ISO 4217 currency code"),
        ([{"sku": "A", "qty": 1, "order_item_ref": "r" * 256}], "items[0].order_item_ref: string should have at most 255 characters"),
        ({}, "items must not be empty"),
        ([], "items must not be empty"),
        ("A", "items must be an object {\"SKU\": qty} or an array of {\"sku\", \"qty\"}"),
        (5, "items must be an object {\"SKU\": qty} or an array of {\"sku\", \"qty\"}"),
    ],
)
async def test_invalid_items_are_fault_102_naming_the_item(rpc, session, db, items, message):
    await add_product(db, "A", stock=10)
    assert_fault(await fault_of(rpc, session, db, items), 102, message)


async def test_every_bad_item_is_reported_at_once(rpc, session, db):
    await add_product(db, "A", stock=10)
    error = await fault_of(rpc, session, db, [{"sku": "A", "qty": 0}, {"sku": "A", "qty": 1}, {"qty": 1}])
    assert_fault(error, 102, "items[0].qty: must be a positive whole number, got 0; items[2]: needs a sku (or a barcode or vendor_sku)")


async def test_more_than_1000_items_is_fault_102(rpc, session, db):
    await add_product(db, "A", stock=10)
    error = await fault_of(rpc, session, db, [{"sku": "A", "qty": 1}] * 1001)
    assert_fault(error, 102, "items: at most 1000 items per order, got 1001")


@pytest.mark.parametrize(
    ("items", "info", "message"),
    [
        ([{"sku": "A", "qty": 1, "unit_declared_value": "9.99"}], {},
         "items: unit_declared_value requires info.declared_value_service: true"),
        ([{"sku": "A", "qty": 1, "unit_declared_value": "9.99"}], {"declared_value_service": False},
         "items: unit_declared_value requires info.declared_value_service: true"),
        ([{"sku": "A", "qty": 1, "unit_declared_value": "9.99"}], {"declared_value_service": True, "declared_value": "10"},
         "info.declared_value: give declared_value or per-item unit_declared_value, not both"),
        ([{"sku": "A", "qty": 1, "unit_declared_value": "abc"}], {"declared_value_service": True},
         "items[0].unit_declared_value: must be a number written with the digits 0-9, got 'abc'"),
    ],
)
async def test_unit_declared_value_rules(rpc, session, db, items, info, message):
    await add_product(db, "A", stock=10)
    assert_fault(await fault_of(rpc, session, db, items, info), 102, message)
