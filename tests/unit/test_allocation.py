"""fulfillment/allocation.py and orders/draft.py: where units are reserved, which product an
item means, and the rows and event an order.create writes. No I/O."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rpc_fulfillment.fulfillment.allocation import allocate_line, allocate_lines, stock_deltas
from rpc_fulfillment.core.faults import Fault
from rpc_fulfillment.orders.draft import Product, ProductIndex, draft_order, match_products
from rpc_fulfillment.orders.input import parse_items, parse_order

ADDRESS = {"firstname": "A", "lastname": "B", "street1": "1 Main St", "city": "Town", "region": "NY",
           "postcode": "10001", "country": "US"}


def product(product_id: int, sku: str, *, barcodes: tuple[str, ...] = (), vendor_sku: str | None = None,
            enabled: bool = True, weight: str | None = None) -> Product:
    return Product(product_id, sku, sku.title(), barcodes, vendor_sku, f"ext-{product_id}", enabled,
                   None if weight is None else Decimal(weight), "lb")


# ------------------------------------------------------------------------------- allocation


def test_one_warehouse_with_enough():
    available = {1: {10: 5}}
    line = allocate_line(1, 3, available)
    assert (line.by_warehouse, line.allocated, line.backordered) == ({10: 3}, 3, 0)
    assert available == {1: {10: 2}}


def test_most_available_warehouse_first_then_the_next():
    available = {1: {10: 3, 20: 5, 30: 1}}
    line = allocate_line(1, 7, available)
    assert (line.by_warehouse, line.backordered) == ({20: 5, 10: 2}, 0)
    assert available == {1: {10: 1, 20: 0, 30: 1}}


def test_ties_go_to_the_lower_warehouse_id():
    available = {1: {20: 4, 10: 4}}
    assert allocate_line(1, 2, available).by_warehouse == {10: 2}


def test_short_stock_backorders_the_rest():
    available = {1: {10: 2, 20: 1}}
    line = allocate_line(1, 5, available)
    assert (line.by_warehouse, line.allocated, line.backordered) == ({10: 2, 20: 1}, 3, 2)
    assert available == {1: {10: 0, 20: 0}}


@pytest.mark.parametrize("available", [{}, {1: {}}, {1: {10: 0}}, {2: {10: 9}}])
def test_nothing_available_backorders_everything(available):
    line = allocate_line(1, 4, available)
    assert (line.by_warehouse, line.allocated, line.backordered) == ({}, 0, 4)


def test_negative_availability_is_never_taken():
    line = allocate_line(1, 2, {1: {10: -3, 20: 1}})
    assert (line.by_warehouse, line.backordered) == ({20: 1}, 1)


def test_lines_see_what_earlier_lines_took():
    available = {1: {10: 5}, 2: {10: 1}}
    lines = allocate_lines([(1, 3), (2, 2), (1, 3)], available)
    assert [(a.by_warehouse, a.backordered) for a in lines] == [({10: 3}, 0), ({10: 1}, 1), ({10: 2}, 1)]
    assert stock_deltas([(1, 3), (2, 2), (1, 3)], lines) == {(1, 10): 5, (2, 10): 1}


def test_stock_deltas_per_product_and_warehouse():
    available = {1: {10: 1, 20: 1}}
    lines = [(1, 2)]
    assert stock_deltas(lines, allocate_lines(lines, available)) == {(1, 10): 1, (1, 20): 1}
    assert stock_deltas([(1, 2)], allocate_lines([(1, 2)], {})) == {}


# -------------------------------------------------------------------------- product lookup


def find(index: ProductIndex, entry: dict) -> Product:
    return index.find(parse_items([entry])[0], "items[0]")


def test_sku_then_barcode_then_vendor_sku():
    index = ProductIndex([
        product(1, "X"), product(2, "Y", barcodes=("X", "B1")), product(3, "Z", vendor_sku="X"),
        product(4, "W", vendor_sku="B1"), product(5, "V", vendor_sku="ONLY"),
    ])
    assert find(index, {"sku": "X", "qty": 1}).product_id == 1
    assert find(index, {"barcode": "X", "qty": 1}).product_id == 1
    assert find(index, {"sku": "B1", "qty": 1}).product_id == 2
    assert find(index, {"vendor_sku": "B1", "qty": 1}).product_id == 2
    assert find(index, {"sku": "ONLY", "qty": 1}).product_id == 5


def test_a_vendor_sku_of_several_products_is_ambiguous():
    index = ProductIndex([product(1, "B", vendor_sku="V"), product(2, "A", vendor_sku="V")])
    with pytest.raises(Fault) as caught:
        find(index, {"vendor_sku": "V", "qty": 1})
    assert (caught.value.number, caught.value.message) == (102, "items[0]: vendor_sku 'V' matches several products (A, B); give the sku")


def test_a_barcode_of_several_products_is_ambiguous_whatever_their_order():
    for products in ([product(1, "B", barcodes=("C",)), product(2, "A", barcodes=("C",))],
                     [product(2, "A", barcodes=("C",)), product(1, "B", barcodes=("C",))]):
        with pytest.raises(Fault) as caught:
            find(ProductIndex(products), {"barcode": "C", "qty": 1})
        assert caught.value.message == "items[0]: barcode 'C' matches several products (A, B); give the sku"


def test_a_sku_beats_an_ambiguous_vendor_sku():
    index = ProductIndex([product(1, "V"), product(2, "A", vendor_sku="V"), product(3, "B", vendor_sku="V")])
    assert find(index, {"sku": "V", "qty": 1}).product_id == 1


def test_unknown_product_is_107_with_the_sku():
    with pytest.raises(Fault) as caught:
        find(ProductIndex([product(1, "A")]), {"barcode": "999", "qty": 1})
    assert (caught.value.number, caught.value.message, caught.value.data) == (107, "Product does not exist.", {"sku": "999"})


def test_disabled_product_is_refused():
    with pytest.raises(Fault) as caught:
        find(ProductIndex([product(1, "A", enabled=False)]), {"sku": "A", "qty": 1})
    assert (caught.value.number, caught.value.message) == (102, "items[0]: product 'A' is disabled")


def test_match_products_labels_each_line():
    index = ProductIndex([product(1, "A")])
    items = parse_items([{"sku": "A", "qty": 1}, {"sku": "A", "qty": 1}, {"sku": "Q", "qty": 1}])
    with pytest.raises(Fault) as caught:
        match_products(items, index)
    assert caught.value.data == {"sku": "Q"}
    assert [p.product_id for p in match_products(items[:2], index)] == [1, 1]


# ----------------------------------------------------------------------------------- draft


def draft(items, available, **info):
    order = parse_order(None, items, ADDRESS, {"shipping_method": "ups_03", **info}, None)
    products = {p.sku: p for p in (product(1, "A", weight="1.5"), product(2, "B"))}
    return draft_order(order, [products[item.sku] for item in order.items], available)


@pytest.mark.parametrize(("available", "status"), [
    ({1: {10: 9}, 2: {10: 9}}, "new"),
    ({1: {10: 1}, 2: {10: 9}}, "partial_backorder"),
    ({1: {10: 9}}, "partial_backorder"),
    ({}, "backordered"),
])
def test_status_follows_the_allocation(available, status):
    result = draft({"A": 2, "B": 1}, available)
    assert (result.state, result.status) == ("new", status)
    assert (result.columns["state"], result.columns["status"]) == ("new", status)


@pytest.mark.parametrize(("info", "status"), [
    ({"hold_indefinitely": True}, "holded"),
    ({"delayed_ship_date": "2030-01-01"}, "delayed_shipment"),
])
def test_holds_at_creation(info, status):
    result = draft({"A": 1}, {}, **info)
    assert (result.state, result.status) == ("holded", status)


def test_rows_of_a_draft():
    available = {1: {10: 1, 20: 2}}
    result = draft([{"sku": "A", "qty": 4, "order_item_ref": "r1"}, {"sku": "B", "qty": 1}], available, priority=3)
    no_values = {"unit_declared_value": None, "unit_declared_value_currency": None, "unit_customs_value": None,
                 "unit_customs_value_currency": None}
    assert result.items == [
        {"product_id": 1, "line_no": 1, "sku": "A", "name": "A", "order_item_ref": "r1", "qty_ordered": 4,
         "qty_processing": 3, "qty_backordered": 1, "weight": Decimal("1.5"), "weight_unit": "lb", **no_values},
        {"product_id": 2, "line_no": 2, "sku": "B", "name": "B", "order_item_ref": None, "qty_ordered": 1,
         "qty_processing": 0, "qty_backordered": 1, "weight": None, "weight_unit": "lb", **no_values},
    ]
    assert result.allocations == [(1, 20, 2), (1, 10, 1)]
    assert result.stock_deltas == [(1, 10, 1), (1, 20, 2)]
    assert available == {1: {10: 0, 20: 0}}
    assert (result.columns["priority"], result.columns["weight"], result.columns["total_item_count"],
            result.columns["carrier_code"]) == (3, Decimal("6.0"), 2, "ups")
    # the Order Item entity (the write adds order_item_id)
    no_values_wire = {**no_values, "unit_declared_value_currency": "USD", "unit_customs_value_currency": "USD",
                      "package_data": [], "lot_data": [], "gift_message": None}
    assert result.event["items"] == [
        {"order_item_id": None, "order_item_ref": "r1", "sku": "A", "name": "A", "weight": "1.5000", "weight_unit": "lb",
         "row_weight": "6.0000", "row_weight_unit": "lb", "qty_ordered": "4.0000", "qty_processing": "3.0000",
         "qty_shipped": "0.0000", "qty_canceled": "0.0000", "qty_backordered": "1.0000",
         "allocation_data": [{"warehouse_id": "10", "qty_allocated": "1.0000"}, {"warehouse_id": "20", "qty_allocated": "2.0000"}],
         **no_values_wire},
        {"order_item_id": None, "order_item_ref": None, "sku": "B", "name": "B", "weight": None, "weight_unit": "lb",
         "row_weight": None, "row_weight_unit": "lb", "qty_ordered": "1.0000", "qty_processing": "0.0000",
         "qty_shipped": "0.0000", "qty_canceled": "0.0000", "qty_backordered": "1.0000", "allocation_data": [],
         **no_values_wire},
    ]
    assert result.event["stock_adjustments"] == {"A": {
        "sku": "A", "external_id": "ext-1", "product_id": 1, "qty_adjust": -3, "qty_available": 0,
        "qty_advertised": 0}}


def test_declared_values_get_usd_by_default():
    result = draft([{"sku": "A", "qty": 1, "unit_declared_value": "2.5"}], {}, declared_value_service=True)
    assert {name: result.items[0][name] for name in ("unit_declared_value", "unit_declared_value_currency",
                                                     "unit_customs_value", "unit_customs_value_currency")} == {
        "unit_declared_value": Decimal("2.5"), "unit_declared_value_currency": "USD", "unit_customs_value": None,
        "unit_customs_value_currency": None}
    order = draft({"A": 1}, {}, declared_value_service=True, declared_value=9)
    assert (order.columns["declared_value"], order.columns["declared_value_currency"]) == (Decimal(9), "USD")


def test_extra_info_is_kept_without_nulls():
    result = draft({"A": 1}, {}, instructions=[{"note": "n"}], duties_payor="shipper", custom_fields={"a": 1})
    assert result.columns["extra"] == {"instructions": [{"note": "n"}], "duties_payor": "shipper", "custom_fields": {"a": 1}}


def test_order_weight_is_in_the_first_products_unit():
    order = parse_order(None, {"K": 2, "G": 4, "L": 1}, ADDRESS, {"shipping_method": "ups_03"}, None)
    products = [
        Product(1, "K", "K", (), None, None, True, Decimal("1.5"), "kg"),
        Product(2, "G", "G", (), None, None, True, Decimal("125"), "g"),
        Product(3, "L", "L", (), None, None, True, None, "lb"),
    ]
    result = draft_order(order, products, {})
    assert (result.columns["weight"], result.columns["weight_unit"]) == (Decimal("3.5"), "kg")
