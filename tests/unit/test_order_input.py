"""orders/input.py and fulfillment/address.py: order.create's and order.edit's arguments
validated, no I/O."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from rpc_fulfillment.core.faults import Fault
from rpc_fulfillment.fulfillment.address import address_properties, complete_address, parse_address
from rpc_fulfillment.orders.input import (
    check_declared_values,
    parse_flags,
    parse_info,
    parse_items,
    parse_order,
    parse_unique_order_ref,
)
from rpc_fulfillment.core.lenient import whole_quantity

ADDRESS = {"firstname": "A", "lastname": "B", "street1": "1 Main St", "city": "Town", "region": "NY",
           "postcode": "10001", "country": "US"}
INFO = {"shipping_method": "ups_03"}


def fault(call, *args, **kwargs) -> Fault:
    with pytest.raises(Fault) as caught:
        call(*args, **kwargs)
    return caught.value


# ------------------------------------------------------------------------------------ items


def test_items_object_shape():
    items = parse_items({"A": 1, "B": "2"})
    assert [(i.sku, i.qty) for i in items] == [("A", 1), ("B", 2)]


def test_items_list_shape_keeps_every_field():
    (item,) = parse_items([{"sku": "A", "qty": 2, "order_item_ref": 7, "unit_declared_value": "20.40",
                            "unit_declared_value_currency": "eur", "unit_customs_value": 1, "inner_qty": 3}])
    assert (item.sku, item.qty, item.order_item_ref, item.unit_declared_value, item.unit_declared_value_currency,
            item.unit_customs_value, item.inner_qty) == ("A", 2, "7", Decimal("20.40"), "EUR", Decimal(1), 3)


@pytest.mark.parametrize(("entry", "lookup"), [
    ({"sku": "S", "qty": 1}, "S"),
    ({"barcode": 123, "qty": 1}, "123"),
    ({"vendor_sku": "V", "qty": 1}, "V"),
    ({"sku": "S", "barcode": "B", "vendor_sku": "V", "qty": 1}, "S"),
    ({"barcode": "B", "vendor_sku": "V", "qty": 1}, "B"),
])
def test_lookup_value_is_sku_then_barcode_then_vendor_sku(entry, lookup):
    assert parse_items([entry])[0].lookup == lookup


@pytest.mark.parametrize(("value", "number"), [(1, 1), ("7", 7), (" 8 ", 8), (3.0, 3), ("4.00", 4), (1_000_000, 1_000_000)])
def test_whole_quantities(value, number):
    assert whole_quantity(value) == number


@pytest.mark.parametrize("value", [0, -1, 1.5, "1.5", "x", None, True, False, [], 1_000_001, "1e3", "-3"])
def test_not_whole_quantities(value):
    with pytest.raises(ValueError):
        whole_quantity(value)


def test_items_report_every_problem_with_its_label():
    error = fault(parse_items, {"A": 0, "B": 1, "C": "x"})
    assert error.message == "items.A.qty: must be a positive whole number, got 0; items.C.qty: must be a positive whole number, got 'x'"
    assert error.number == 102


@pytest.mark.parametrize(("items", "message"), [
    ({}, "items must not be empty"),
    (None, "items must be an object {\"SKU\": qty} or an array of {\"sku\", \"qty\"}"),
    ([1], "items[0]: must be an object with sku and qty"),
    ([{"qty": 1}], "items[0]: needs a sku (or a barcode or vendor_sku)"),
    ([{"sku": "A", "qty": 1, "x": 1}], "items[0].x: unknown key"),
    ([{"sku": "x" * 65, "qty": 1}], "items[0].sku: string should have at most 64 characters"),
    ([{"sku": "A", "qty": 1, "outer_qty": True}], "items[0].outer_qty: must be a whole number, not true or false"),
])
def test_bad_items(items, message):
    assert fault(parse_items, items).message == message


def test_at_most_1000_items():
    assert len(parse_items([{"sku": "A", "qty": 1}] * 1000)) == 1000
    assert fault(parse_items, [{"sku": "A", "qty": 1}] * 1001).message == "items: at most 1000 items per order, got 1001"


# ---------------------------------------------------------------------------------- address


def test_street_is_split_into_two_lines():
    stored = parse_address({**ADDRESS, "street1": None, "street": " 1 Main St \r\n Apt 4 "})
    assert (stored["street1"], stored["street2"]) == ("1 Main St", "Apt 4")
    assert "street" not in stored


def test_a_blank_second_street_line_is_dropped():
    stored = parse_address({**ADDRESS, "street1": None, "street": "1 Main St\n"})
    assert stored["street1"] == "1 Main St"
    assert "street2" not in stored


def test_nulls_are_not_stored_and_text_is_trimmed():
    stored = parse_address({**ADDRESS, "company": None, "city": "  Town  ", "postcode": "02134"})
    assert "company" not in stored
    assert (stored["city"], stored["postcode"]) == ("Town", "02134")


@pytest.mark.parametrize(("postcode", "ok"), [("12345", True), ("12345-6789", True), ("1234", False), ("123456", False),
                                              ("12345 6789", False), ("ABCDE", False)])
def test_us_zip(postcode, ok):
    values = {**ADDRESS, "postcode": postcode}
    if ok:
        assert complete_address(values)["postcode"] == postcode
    else:
        assert fault(complete_address, values).message == f"address.postcode: '{postcode}' is not a US ZIP code (12345 or 12345-6789)"


@pytest.mark.parametrize("country", ["CA", "AU"])
def test_region_and_postcode_required_where_addresses_have_them(country):
    values = {key: value for key, value in ADDRESS.items() if key not in ("region", "postcode")}
    assert fault(complete_address, {**values, "country": country}).message == \
        "address.region: is required; address.postcode: is required"
    assert complete_address({**values, "country": "DE"})["country"] == "DE"


# Magento's order.info shipping_address, as the OpenMage plugin sends it to order.create
# (Plugin.php importOrderEvent: the array as is, with street copied into street1).
MAGENTO = {
    "address_id": "24", "parent_id": "12", "customer_address_id": None, "quote_address_id": None, "region_id": "43",
    "customer_id": None, "fax": None, "region": "New York", "postcode": "10036", "lastname": "Demir",
    "street": "11 Times Square\nSuite 5", "city": "New York", "email": "davi@example.com", "telephone": "212.245.2100",
    "country_id": "US", "firstname": "Davi", "address_type": "shipping", "prefix": None, "middlename": None,
    "suffix": None, "company": None, "vat_id": None, "vat_is_valid": None, "vat_request_id": None,
    "vat_request_date": None, "vat_request_success": None, "giftregistry_item_id": None,
    "street1": "11 Times Square\nSuite 5",
}


def test_magentos_address_array_is_read_and_its_own_keys_dropped():
    assert parse_address(MAGENTO) == {
        "firstname": "Davi", "lastname": "Demir", "street1": "11 Times Square", "street2": "Suite 5", "city": "New York",
        "region": "New York", "postcode": "10036", "country": "US", "telephone": "212.245.2100", "email": "davi@example.com",
    }


@pytest.mark.parametrize(("street", "lines", "stored"), [
    ("1 Main St\nApt 4", {"street1": "1 Main St", "street2": "Apt 4"}, ("1 Main St", "Apt 4")),  # agree
    ("1 Main St", {"street1": "1 Main St"}, ("1 Main St", None)),  # agree
    ("1 Main St\nApt 4", {"street1": "1 Main St"}, ("1 Main St", None)),  # disagree: street1/street2 win
    ("9 Other Rd", {"street1": "1 Main St", "street2": "Apt 4"}, ("1 Main St", "Apt 4")),  # disagree
    ("a\nb\nc", {"street1": "1 Main St"}, ("1 Main St", None)),  # disagree: street is not read at all
])
def test_street_with_street1_and_street2(street, lines, stored):
    result = parse_address({**ADDRESS, **lines, "street": street})
    assert (result["street1"], result.get("street2")) == stored


@pytest.mark.parametrize(("given", "message"), [
    ({"country": "US", "country_id": "CA"}, "address.country_id: 'CA' disagrees with address.country 'US' (give one of them)"),
    ({"country_id": "XX"}, "address.country_id: 'XX' is not an ISO 3166-1 alpha-2 country code"),
    ({"country_id": 840}, "address.country_id: input should be a valid string"),
    ({"street1": "1 Main St\nApt 4\nBack"}, "address.street1: must be one line (street takes two lines separated by a newline)"),
    ({"firstname": ["Davi"]}, "address.firstname: input should be a valid string"),
])
def test_known_keys_stay_strict(given, message):
    assert fault(parse_address, {**ADDRESS, **given}).message == message


def test_a_magento_street_of_more_than_two_lines_keeps_the_rest_in_the_second():
    """Magento allows up to four street lines; the plugin sends street and a copy as street1."""
    street = "1 Analytical Way\nBuilding 2\nSuite 200\nc/o Ada"
    result = parse_address({**ADDRESS, "street": street, "street1": street})
    assert (result["street1"], result["street2"]) == ("1 Analytical Way", "Building 2, Suite 200, c/o Ada")


def test_country_id_is_country():
    values = {key: value for key, value in ADDRESS.items() if key != "country"}
    assert parse_address({**values, "country_id": "us"})["country"] == "US"
    assert parse_address({**ADDRESS, "country_id": "us"})["country"] == "US"


def test_the_answered_address_joins_the_street_lines_and_names_every_property():
    assert address_properties({"firstname": "A", "street1": "1 Main St", "street2": "Apt 4", "country": "US"}) == {
        "firstname": "A", "lastname": None, "company": None, "street": "1 Main St\nApt 4", "city": None, "region": None,
        "postcode": None, "country": "US", "classification": None, "is_valid": None, "telephone": None, "email": None,
    }
    assert address_properties({"street1": "1 Main St"})["street"] == "1 Main St"
    assert address_properties({})["street"] is None


def test_an_ignored_key_is_not_checked_at_all():
    assert parse_order(None, {"A": 1}, {**MAGENTO, "vat_id": "DE\u0000"}, INFO, None).address["firstname"] == "Davi"
    assert fault(parse_order, None, {"A": 1}, {**MAGENTO, "firstname": "D\u0000"}, INFO, None).message == \
        "address.firstname: text may not contain the NUL character (\\u0000)"


def test_partial_address_for_edit_skips_completeness():
    assert parse_address({"city": "X"}, partial=True) == {"city": "X"}
    assert parse_address({"street": "1 Main St"}, partial=True) == {"street1": "1 Main St", "street2": None}
    assert parse_address({"fax": "555"}, partial=True) == {}
    assert parse_address(None, partial=True) == {}
    assert parse_address([], partial=True) == {}
    assert fault(parse_address, None).message == "address must be an object"
    assert fault(parse_address, {"country": "XX"}, partial=True).message == "address.country: 'XX' is not an ISO 3166-1 alpha-2 country code"


# ------------------------------------------------------------------------------------- info


def test_info_values_are_converted():
    info = parse_info({**INFO, "unique_id": 17, "order_ref": 5, "priority": "9", "saturday_delivery": "true",
                       "delayed_ship_date": "2030-01-01T10:00:00+02:00", "requested_ship_date": "2030-01-02",
                       "declared_value_service": 1, "declared_value": "1.5"})
    assert (info.unique_id, info.order_ref, info.priority, info.saturday_delivery, info.declared_value) == \
        ("17", "5", 9, True, Decimal("1.5"))
    assert info.delayed_ship_date == datetime(2030, 1, 1, 8, 0, tzinfo=timezone.utc)
    assert str(info.requested_ship_date) == "2030-01-02"


def test_a_bare_delayed_ship_date_is_midnight_utc():
    assert parse_info({**INFO, "delayed_ship_date": "2030-01-01"}).delayed_ship_date == datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert parse_info({**INFO, "delayed_ship_date": "2030-01-01 05:06:07"}).delayed_ship_date == \
        datetime(2030, 1, 1, 5, 6, 7, tzinfo=timezone.utc)


@pytest.mark.parametrize(("info", "message"), [
    ({"priority": False}, "info.priority: must be a whole number, not true or false"),
    ({"tpb_group_id": True}, "info.tpb_group_id: must be a whole number, not true or false"),
    ({"requested_ship_date": 0}, "info.requested_ship_date: must be a date YYYY-MM-DD"),
    ({"desired_delivery_date": "2030-1-2"}, "info.desired_delivery_date: must be a date YYYY-MM-DD"),
    ({"delayed_ship_date": 0}, "info.delayed_ship_date: must be YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[Z]"),
    ({"delayed_ship_date": "2030-01-01T25:00:00"}, "info.delayed_ship_date: must be YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[Z]"),
    ({"unique_id": " "}, "info.unique_id: string should have at least 1 character"),
    ({"backorder_policy": "up_to_10000"}, "info.backorder_policy: 'up_to_10000' is not a backorder policy (default, all_or_nothing, as_available or up_to_X with X a positive whole number)"),
    ({"backorder_policy": "up_to_01"}, "info.backorder_policy: 'up_to_01' is not a backorder policy (default, all_or_nothing, as_available or up_to_X with X a positive whole number)"),
    ({"instructions": [{"note": "n", "file_content": "YQ"}]}, "info.instructions[0].file_content: file_content must be base64"),
    ({"instructions": [{"note": "n", "file_request": {"url": "https://x", "auth": ["only-user"]}}]},
     "info.instructions[0].file_request.auth: list should have at least 2 items after validation, not 1"),
    ({"instructions": [{"note": "n"}] * 51}, "info.instructions: list should have at most 50 items after validation, not 51"),
])
def test_bad_info(info, message):
    assert fault(parse_info, {**INFO, **info}).message == message


def test_pair_rules_apply_to_a_whole_info_only():
    pairs = [
        ({"hold_indefinitely": True, "delayed_ship_date": "2030-01-01"}, "info: hold_indefinitely cannot be used together with delayed_ship_date"),
        ({"shipping_method": "cheapest_ON_TIME"}, "info: desired_delivery_date is required for shipping method cheapest_ON_TIME"),
    ]
    for info, message in pairs:
        assert fault(parse_info, {**INFO, **info}).message == message
        # order.edit: the order's stored values complete the pair; the service checks them
        assert parse_info(info, partial=True).model_fields_set == set(info)


def test_empty_info():
    assert parse_info(None).model_fields_set == set()
    assert parse_info([]).model_fields_set == set()
    assert fault(parse_info, "x").message == "info must be an object"


@pytest.mark.parametrize(("items", "info", "message"), [
    ([{"sku": "A", "qty": 1, "unit_declared_value": 1}], {}, "items: unit_declared_value requires info.declared_value_service: true"),
    ([{"sku": "A", "qty": 1, "unit_declared_value": 1}], {"declared_value_service": True, "declared_value": 1},
     "info.declared_value: give declared_value or per-item unit_declared_value, not both"),
    ([{"sku": "A", "qty": 1}], {"declared_value_service": True},
     "info.declared_value: required with declared_value_service unless items carry unit_declared_value"),
])
def test_declared_value_rules(items, info, message):
    assert fault(parse_order, None, items, ADDRESS, {**INFO, **info}, None).message == message


@pytest.mark.parametrize(("items", "info"), [
    ([{"sku": "A", "qty": 1, "unit_declared_value": 1}, {"sku": "B", "qty": 1}], {"declared_value_service": True}),
    ([{"sku": "A", "qty": 1}], {"declared_value_service": True, "declared_value": 0}),
    ([{"sku": "A", "qty": 1}], {}),
])
def test_declared_values_that_pass(items, info):
    order = parse_order(None, items, ADDRESS, {**INFO, **info}, None)
    assert order.info.declared_value_service is info.get("declared_value_service")


@pytest.mark.parametrize(("service", "value", "per_item", "message"), [
    (None, Decimal("1"), False, "info.declared_value: requires declared_value_service: true"),
    (False, None, True, "items: unit_declared_value requires info.declared_value_service: true"),
    (True, Decimal("1"), True, "info.declared_value: give declared_value or per-item unit_declared_value, not both"),
    (True, None, False, "info.declared_value: required with declared_value_service unless items carry unit_declared_value"),
])
def test_the_declared_value_rule_on_values(service, value, per_item, message):
    """The values order.edit passes: the order's merged ones and whether its items carry any."""
    assert fault(check_declared_values, service, value, per_item).message == message
    check_declared_values(True, Decimal("0"), False)
    check_declared_values(True, None, True)
    check_declared_values(None, None, False)


# ------------------------------------------------------------------------------------ flags


@pytest.mark.parametrize(("value", "window"), [
    (None, None), (False, None), (True, True),
    ("-3 days", timedelta(days=3)), ("3 days ago", timedelta(days=3)), ("-1 day", timedelta(days=1)),
    ("-2 hours", timedelta(hours=2)), ("-1 week", timedelta(weeks=1)), ("-90 minutes", timedelta(minutes=90)),
    ("-1 month", timedelta(days=30)), ("-1 YEAR", timedelta(days=365)),
])
def test_unique_order_ref_windows(value, window):
    assert parse_unique_order_ref(value) == window


@pytest.mark.parametrize("value", ["yesterday", "-3 fortnights", "", 3, 0, [], "true"])
def test_bad_unique_order_ref(value):
    assert fault(parse_unique_order_ref, value).message.startswith("flags.unique_order_ref: must be true, false or a window")


def test_flags():
    assert parse_flags(None) is None
    assert parse_flags([]) is None
    assert parse_flags({}) is None
    assert parse_flags({"unique_order_ref": "-3 days"}) == timedelta(days=3)
    assert fault(parse_flags, {"x": 1, "y": 2}).message == "flags.x: unknown key; flags.y: unknown key"
    assert fault(parse_flags, "x").message == "flags must be an object"


# ------------------------------------------------------------------------------------ order


def test_parse_order():
    order = parse_order("web", {"A": 2}, ADDRESS, {**INFO, "order_ref": "R"}, {"unique_order_ref": True})
    assert (order.store_code, [i.sku for i in order.items], order.address["city"], order.info.order_ref,
            order.unique_order_ref) == ("web", ["A"], "Town", "R", True)


def test_an_empty_store_code_means_the_default_store():
    assert parse_order("", {"A": 1}, ADDRESS, INFO, None).store_code is None
    assert parse_order(None, {"A": 1}, ADDRESS, INFO, None).store_code is None


def test_parse_order_reports_the_first_wrong_argument():
    assert fault(parse_order, 1, {}, None, None, None).message == "storeCode must be a string or null, got 1"
    assert fault(parse_order, None, {}, None, None, None).message == "items must not be empty"
    assert fault(parse_order, None, {"A": 1}, {}, None, None).message.startswith("address.firstname: is required")
    assert fault(parse_order, None, {"A": 1}, ADDRESS, {}, None).message == "info.shipping_method: is required"
    assert fault(parse_order, None, {"A": 1}, ADDRESS, INFO, "x").message == "flags must be an object"
