"""Product data validation and the product's wire shape (products/rules.py): no database."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from rpc_fulfillment.products import rules as products
from rpc_fulfillment.core.faults import Fault
from rpc_fulfillment.products.rules import parse_product_data, parse_sku, product_view


def create(data, sku="SKU-1"):
    return parse_product_data(sku, data, creating=True)


def update(data, sku="SKU-1"):
    return parse_product_data(sku, data, creating=False)


def problem(data, *, creating=True, sku="SKU-1") -> str:
    with pytest.raises(Fault) as caught:
        parse_product_data(sku, data, creating=creating)
    fault = caught.value
    assert fault.name == "product_invalid_data" and fault.number == 102
    assert fault.message.startswith("Invalid data given: ")
    return fault.message.removeprefix("Invalid data given: ")


# -- the SKU -----------------------------------------------------------------------------------


@pytest.mark.parametrize("sku, expected", [("A", "A"), ("x" * 64, "x" * 64), (12345, "12345"), ("Blue Widget-5", "Blue Widget-5")])
def test_valid_skus(sku, expected):
    assert parse_sku(sku) == expected


@pytest.mark.parametrize(
    "sku, why",
    [
        ("", "must not be empty"),
        ("x" * 65, "must be at most 64 characters (got 65)"),
        (" A", "must not start or end with spaces"),
        ("A ", "must not start or end with spaces"),
        ("A\nB", "must not contain control characters"),
        (1.5, "must be a string, not a number"),
        (True, "must be a string, not a boolean"),
        (["A"], "must be a string, not an array"),
    ],
)
def test_invalid_skus(sku, why):
    with pytest.raises(Fault) as caught:
        parse_sku(sku)
    assert caught.value.number == 102
    assert caught.value.message == f"Invalid data given: 'sku' {why}"


# -- create and update -------------------------------------------------------------------------


def test_create_needs_a_name_and_fills_defaults():
    assert problem({}) == "'name' is required"
    assert problem([]) == "'name' is required"  # PHP's empty array is an empty object
    changes = create({"name": " Blue Widget "})
    assert changes.columns == {"name": "Blue Widget", "status": 1, "weight_unit": "lb", "dimension_unit": "in"}
    assert changes.attributes == {}


def test_update_changes_only_what_is_given():
    changes = update({"weight": 2})
    assert changes.columns == {"weight": Decimal("2.0000")}
    assert changes.attributes == {}
    assert not update({}) and not update([])


def test_full_shipstream_example_is_accepted():
    # The product.create example of ShipStream's documentation.
    changes = create(
        {
            "name": "Product 3",
            "barcode": "product3",
            "goods_type": "NORMAL",
            "weight": 1.75,
            "weight_unit": "lb",
            "length": 123,
            "width": 100,
            "height": 28,
            "dimension_unit": "in",
            "customs_value": "24.5600",
            "customs_value_currency": "USD",
            "country_of_manufacture": "DK",
            "hts_base_code": 1234.56,
            "hts_country_code": "BH:1000|ZW:1001",
            "vendor_sku": "vendorsku",
            "requires_packaging": 1,
            "can_contain_other_items": 1,
            "confirmation_per_item": 0,
            "valid_containers": ["containersku1", "containersku2"],
            "special_supplies": ["supplysku1", "supplysku2"],
            "special_other": ["specialsku1", "specialsku2"],
            "unit_qty": 5,
        },
        sku="product3",
    )
    assert changes.columns == {
        "name": "Product 3",
        "barcodes": ["product3"],
        "status": 1,
        "weight": Decimal("1.7500"),
        "weight_unit": "lb",
        "length": Decimal("123.0000"),
        "width": Decimal("100.0000"),
        "height": Decimal("28.0000"),
        "dimension_unit": "in",
        "vendor_sku": "vendorsku",
    }
    assert changes.attributes == {
        "goods_type": "NORMAL",
        "customs_value": "24.5600",
        "customs_value_currency": "USD",
        "country_of_manufacture": "DK",
        "hts_base_code": "1234.56",
        "hts_country_code": [{"country_id": "BH", "extension": "1000"}, {"country_id": "ZW", "extension": "1001"}],
        "requires_packaging": 1,
        "can_contain_other_items": 1,
        "confirmation_per_item": 0,
        "valid_containers": ["containersku1", "containersku2"],
        "special_supplies": ["supplysku1", "supplysku2"],
        "special_other": ["specialsku1", "specialsku2"],
        "unit_qty": 5,
    }


def test_unknown_keys_are_refused_by_name():
    assert problem({"name": "x", "price": 5, "color": "red"}) == "'price' is not a product property; 'color' is not a product property"


def test_every_problem_is_reported_with_its_field():
    message = problem({"name": "", "weight": "heavy", "status": 3, "goods_type": "LIQUID"})
    assert message == (
        "'name' must not be empty; "
        "'status' must be 1 (enabled) or 2 (disabled), or \"enabled\" / \"disabled\" (got '3'); "
        "'weight' must be a number written with the digits 0-9, not 'heavy'; "
        "'goods_type' must be one of NORMAL, ORM_D, HAZMAT, LIMITED_QUANTITIES_COMMODITIES (got 'LIQUID')"
    )


@pytest.mark.parametrize("data", [None, "name=x", 5, ["x"], True])
def test_data_must_be_an_object(data):
    assert problem(data).startswith("data must be an object of product properties")


def test_sku_in_data_must_match_the_argument():
    assert create({"name": "x", "sku": "SKU-1"}).columns["name"] == "x"
    assert "SKUs cannot be changed" in problem({"sku": "OTHER"}, creating=False)
    assert problem({"name": "x", "sku": ""}) == "'sku' must not be empty"


# -- name, status, text fields ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, why",
    [
        (None, "may not be null"),
        ("   ", "must not be empty"),
        ("x" * 256, "must be at most 255 characters (got 256)"),
        (5, "must be a string, not a number"),
        ("a\x00b", "must not contain control characters"),
    ],
)
def test_name_rules(value, why):
    assert problem({"name": value}, creating=False) == f"'name' {why}"


@pytest.mark.parametrize(
    "value, stored",
    [(1, 1), (2, 2), ("1", 1), ("2", 2), ("enabled", 1), ("Disabled", 2), (" ENABLED ", 1), (2.0, 2)],
)
def test_status_values(value, stored):
    assert update({"status": value}).columns == {"status": stored}


@pytest.mark.parametrize("value", [0, 3, "on", True, None, 1.5, []])
def test_bad_status(value):
    assert problem({"status": value}, creating=False).startswith("'status' ")


@pytest.mark.parametrize("name, limit", [("vendor_sku", 64), ("external_id", 255), ("freight_category", 255), ("export_description", 1024)])
def test_optional_text_fields_clear_on_null_or_empty(name, limit):
    changes = update({name: "value"})
    stored = changes.columns if name in products.COLUMN_FIELDS else changes.attributes
    assert stored == {name: "value"}
    for empty in (None, "", "   "):
        changes = update({name: empty})
        stored = changes.columns if name in products.COLUMN_FIELDS else changes.attributes
        assert stored == {name: None}
    assert problem({name: "x" * (limit + 1)}, creating=False) == f"'{name}' must be at most {limit} characters (got {limit + 1})"


def test_external_id_may_be_a_number():
    assert update({"external_id": 632910392}).columns == {"external_id": "632910392"}


# -- barcodes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, stored",
    [
        ("product1,p1", ["product1", "p1"]),
        (" a , b ,, a ", ["a", "b"]),
        (["a", "b"], ["a", "b"]),
        (12345, ["12345"]),
        ("", []),
        (None, []),
    ],
)
def test_barcodes(value, stored):
    assert update({"barcode": value}).columns == {"barcodes": stored}


@pytest.mark.parametrize(
    "value, why",
    [
        (["a,b"], "item 0 must not contain a comma"),
        ([1.5], "item 0 must be a string, not a number"),
        ({"a": 1}, "must be a string of comma-separated barcodes, not an object"),
        ("x" * 129, "each barcode must be at most 128 characters"),
        (",".join(str(n) for n in range(101)), "must list at most 100 barcodes"),
    ],
)
def test_bad_barcodes(value, why):
    assert problem({"barcode": value}, creating=False).startswith(f"'barcode' {why}")


# -- weights and dimensions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, stored",
    [
        (12, Decimal("12.0000")),
        (12.75, Decimal("12.7500")),
        ("1.23456", Decimal("1.2346")),
        ("0", Decimal("0.0000")),
        ("-0.00001", Decimal("0.0000")),
        ("99999999.9999", Decimal("99999999.9999")),
        (None, None),
    ],
)
@pytest.mark.parametrize("name", ["weight", "length", "width", "height"])
def test_measures(name, value, stored):
    assert update({name: value}).columns == {name: stored}


@pytest.mark.parametrize(
    "value, why",
    [
        (-1, "must not be negative"),
        ("100000000", "must be at most 99999999.9999"),
        ("1e40", "must be a number written with the digits 0-9, not '1e40'"),
        ("NaN", "must be a number written with the digits 0-9, not 'NaN'"),
        ("\u0663", "must be a number written with the digits 0-9, not '\u0663'"),
        ("abc", "must be a number written with the digits 0-9, not 'abc'"),
        (True, "must be a number, not a boolean"),
        ([1], "must be a number, not an array"),
    ],
)
def test_bad_measures(value, why):
    assert problem({"weight": value}, creating=False) == f"'weight' {why}"


def test_units():
    for unit in products.WEIGHT_UNITS:
        assert update({"weight_unit": unit}).columns == {"weight_unit": unit}
    for unit in products.DIMENSION_UNITS:
        assert update({"dimension_unit": unit}).columns == {"dimension_unit": unit}
    assert problem({"weight_unit": "stone"}, creating=False) == "'weight_unit' must be one of lb, oz, kg, g (got 'stone')"
    # ShipStream's own update example sends "lb" as a dimension unit: refused, by name.
    assert problem({"dimension_unit": "lb"}, creating=False) == "'dimension_unit' must be one of in, cm, mm (got 'lb')"
    assert problem({"weight_unit": None}, creating=False) == "'weight_unit' may not be null"


# -- attributes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, stored",
    [
        ({"goods_type": "orm_d"}, {"goods_type": "ORM_D"}),
        ({"goods_type": None}, {"goods_type": None}),
        ({"availability": "2"}, {"availability": 2}),
        ({"visibility": 1}, {"visibility": 1}),
        ({"freight_class": 77.5}, {"freight_class": "77.5"}),
        ({"freight_class": 100}, {"freight_class": "100"}),
        ({"freight_class": "92.5"}, {"freight_class": "92.5"}),
        ({"customs_value": 3}, {"customs_value": "3.0000"}),
        ({"customs_value_currency": "eur"}, {"customs_value_currency": "EUR"}),
        ({"country_of_manufacture": "cn"}, {"country_of_manufacture": "CN"}),
        ({"hts_base_code": "0902.10"}, {"hts_base_code": "0902.10"}),
        ({"hts_country_code": [{"country_id": "bb", "extension": "01"}]}, {"hts_country_code": [{"country_id": "BB", "extension": "01"}]}),
        ({"hts_country_code": ""}, {"hts_country_code": None}),
        ({"requires_packaging": True}, {"requires_packaging": 1}),
        ({"can_contain_other_items": "0"}, {"can_contain_other_items": 0}),
        ({"confirmation_per_item": False}, {"confirmation_per_item": 0}),
        ({"valid_containers": "box-1, box-2"}, {"valid_containers": ["box-1", "box-2"]}),
        ({"special_supplies": []}, {"special_supplies": None}),
        ({"unit_qty": "12"}, {"unit_qty": 12}),
    ],
)
def test_attributes(data, stored):
    assert update(data).attributes == stored


@pytest.mark.parametrize(
    "data, message",
    [
        ({"availability": 3}, "'availability' must be 1 (available), 2 (not available)"),
        ({"visibility": "yes"}, "'visibility' must be 1 (not visible), 2 (visible)"),
        ({"freight_class": "45"}, "'freight_class' must be one of 50, 55"),
        ({"customs_value_currency": "DOLLARS"}, "'customs_value_currency' must be a three-letter ISO 4217 currency code"),
        ({"customs_value_currency": "XYZ"}, "'customs_value_currency' must be a three-letter ISO 4217 currency code"),
        ({"country_of_manufacture": "ZZ"}, "'country_of_manufacture' must be a two-letter ISO 3166-1 country code"),
        ({"hts_base_code": "tea"}, "'hts_base_code' must be a tariff code"),
        ({"hts_country_code": "BH1000"}, "'hts_country_code' entry 0 ('BH1000') must look like COUNTRY:CODE"),
        ({"hts_country_code": "ZZ:1000"}, "'hts_country_code' entry 0: country must be a two-letter ISO 3166-1 code"),
        ({"hts_country_code": "BH:"}, "'hts_country_code' entry 0: extension must be 1 to 20 letters"),
        ({"hts_country_code": [{"country_id": "BB"}]}, "'hts_country_code' entry 0 must be an object {country_id, extension}"),
        ({"requires_packaging": 2}, "'requires_packaging' must be 0 or 1"),
        ({"valid_containers": [5.5]}, "'valid_containers' item 0: must be a string, not a number"),
        ({"valid_containers": ["x" * 65]}, "'valid_containers' item 0: must be at most 64 characters"),
        ({"special_other": {"a": 1}}, "'special_other' must be an array of SKUs, not an object"),
        ({"unit_qty": 0}, "'unit_qty' must be a whole number from 1 to 1000000"),
        ({"unit_qty": 1.5}, "'unit_qty' must be a whole number from 1 to 1000000"),
    ],
)
def test_bad_attributes(data, message):
    assert problem(data, creating=False).startswith(message)


# -- the wire shape --------------------------------------------------------------------------------


def row(**overrides):
    base = {
        "product_id": 7,
        "sku": "SKU-1",
        "name": "Widget",
        "barcodes": ["111", "222"],
        "vendor_sku": None,
        "external_id": "ext-9",
        "status": 1,
        "weight": Decimal("12.75"),
        "weight_unit": "lb",
        "length": None,
        "width": Decimal("3"),
        "height": None,
        "dimension_unit": "in",
        "attributes": {"goods_type": "ORM_D", "customs_value": "24.5600", "valid_containers": ["box"]},
        "created_at": datetime(2024, 1, 31, 18, 52, 30, 123456, tzinfo=timezone.utc),
        "updated_at": datetime(2024, 2, 1, tzinfo=timezone.utc),
    }
    base.update(overrides)
    return base


def test_product_view():
    view = product_view(row())
    assert view == {
        "product_id": 7,
        "sku": "SKU-1",
        "name": "Widget",
        "barcode": "111,222",
        "vendor_sku": None,
        "external_id": "ext-9",
        "status": 1,
        "weight": 12.75,  # numbers, as documented (they were decimal strings)
        "weight_unit": "lb",
        "length": None,
        "width": 3,
        "height": None,
        "dimension_unit": "in",
        "export_description": None,
        "goods_type": "ORM_D",
        "availability": 1,
        "visibility": 2,
        "freight_class": None,
        "freight_category": None,
        "customs_value": "24.5600",
        "customs_value_currency": None,
        "country_of_manufacture": None,
        "hts_base_code": None,
        "hts_country_code": [],
        "requires_packaging": 0,
        "can_contain_other_items": 0,
        "confirmation_per_item": 0,
        "valid_containers": ["box"],
        "special_supplies": [],
        "special_other": [],
        "unit_qty": None,
        "created_at": "2024-01-31T18:52:30+00:00",
        "updated_at": "2024-02-01T00:00:00+00:00",
    }


def test_no_barcodes_is_null():
    assert product_view(row(barcodes=[]))["barcode"] is None


def test_every_property_is_a_search_or_view_key():
    view = product_view(row())
    for name in products.ProductData.model_fields:
        assert name in view
    for name in products.SEARCH_FIELDS:
        assert name in view
