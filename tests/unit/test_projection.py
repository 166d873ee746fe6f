"""orders/views.py: which Order Properties a ``fields`` argument selects, and their wire
shapes. No I/O."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from rpc_fulfillment.core.faults import Fault
from rpc_fulfillment.orders.views import (
    BASE,
    EXPANDABLE,
    Related,
    item_properties,
    project,
    select_fields,
)
from tests.order_properties import BEYOND_THE_TABLE, DOCUMENTED, EXPANSIONS, STAR

CREATED = datetime(2024, 7, 30, 18, 52, 30, 123456, tzinfo=timezone.utc)


def row(**changes):
    values = {
        "order_id": 117, "unique_id": "100000017", "order_ref": "R-1", "state": "new", "status": "new",
        "store_code": "default", "store_name": "Default", "carrier_code": "fedex", "shipping_method": "fedex_FEDEX_2_DAY",
        "is_address_modified": False, "weight": Decimal("1.5"), "weight_unit": "lb", "total_item_count": 2,
        "remote_ip": None, "submitted_by": "bob", "submitted_by_id": 3, "signature_required": "none",
        "saturday_delivery": False, "reason_for_export": "sold", "overbox": False, "backorder_policy": "default",
        "priority": 50, "requested_ship_date": date(2030, 1, 2), "desired_delivery_date": None,
        "delayed_ship_date": datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5))),
        "custom_greeting": None, "gift_message": None, "source": "magento:1", "customer_id": None, "declared_value_service": True,
        "declared_value": Decimal("40.5"), "declared_value_currency": "USD", "tpb_group_id": None,
        "extra": {"customs_value": "3.00", "instructions": [{"note": "n"}], "custom_fields": {"a": 1}},
        "created_at": CREATED, "updated_at": CREATED, "completed_at": None, "shipped_at": None, "delivered_at": None,
        "shipping_address": {"city": "Town"},
    }
    values.update(changes)
    return values


# ---------------------------------------------------------------------------------- fields


def test_null_selects_the_three_ids():
    selection = select_fields(None, "order_invalid_data")
    assert (selection.scalars, selection.expansions) == (BASE, frozenset())


@pytest.mark.parametrize("fields", ["*", ["*"], [], {}])
def test_star_and_empty_select_every_scalar(fields):
    selection = select_fields(fields, "order_invalid_data")
    assert (selection.scalars, selection.expansions) == (STAR, frozenset())


def test_a_list_adds_to_the_ids_in_its_order_without_repeats():
    selection = select_fields(["status", "order_id", "created_at", "status", "items"], "order_invalid_data")
    assert selection.scalars == BASE + ("status", "created_at")
    assert selection.expansions == frozenset({"items"})
    assert selection.wants("items") and not selection.wants("shipping_address")


def test_star_with_expansions():
    selection = select_fields(["*", "shipping_address", "status_history"], "order_invalid_data")
    assert (selection.scalars, selection.expansions) == (STAR, frozenset({"shipping_address", "status_history"}))


def test_an_object_is_read_as_a_php_array():
    selection = select_fields({"0": "status", "1": "items"}, "order_invalid_data")
    assert (selection.scalars, selection.expansions) == (BASE + ("status",), frozenset({"items"}))


def test_the_star_excludes_exactly_the_documented_expansions():
    assert set(EXPANDABLE) == set(EXPANSIONS)
    assert BASE == ("order_id", "unique_id", "order_ref")


def test_the_expected_star_is_the_documented_table_in_its_order_and_ours_beside_it():
    """The expectation itself (tests/order_properties.py): every documented property, in the
    docs' order, and only ours besides; a slip in the literal would mislead every test using it."""
    assert [name for name in STAR if name in DOCUMENTED] == list(DOCUMENTED)
    assert set(STAR) - set(DOCUMENTED) == set(BEYOND_THE_TABLE)
    assert len(STAR) == len(set(STAR))


@pytest.mark.parametrize(("fields", "message"), [
    (["nope"], "fields: unknown order property 'nope'"),
    ("nope", "fields: unknown order property 'nope'"),
    ([None], "fields must be null, '*' or an array of property names"),
    (7, "fields must be null, '*' or an array of property names"),
    ({"0": 1}, "fields must be null, '*' or an array of property names"),
])
@pytest.mark.parametrize(("fault", "number"), [("order_invalid_data", 102), ("order_invalid_filters", 101)])
def test_bad_fields_raise_the_given_fault(fields, message, fault, number):
    with pytest.raises(Fault) as caught:
        select_fields(fields, fault)
    assert (caught.value.number, caught.value.message) == (number, message)


# ------------------------------------------------------------------------------ wire shapes


def test_scalar_shapes():
    result = project(row(), select_fields("*", "order_invalid_data"))
    assert list(result) == list(STAR)
    assert result["weight"] == "1.5000"
    assert result["declared_value"] == "40.50"
    assert result["requested_ship_date"] == "2030-01-02"
    assert result["delayed_ship_date"] == "2030-01-02T08:04:05+00:00"
    assert result["created_at"] == "2024-07-30T18:52:30+00:00"
    assert result["completed_at"] is None
    assert result["shipping_description"] == "FEDEX FEDEX 2 DAY"
    assert (result["customs_value"], result["instructions"], result["custom_fields"]) == ("3.00", [{"note": "n"}], {"a": 1})
    assert (result["duties_payor"], result["customs_value_currency"]) == (None, None)
    assert (result["submitted_by_type"], result["carrier_changed"], result["is_address_modified_auto"]) == ("api", False, False)


def test_empty_extra_gives_empty_lists():
    result = project(row(extra={}), select_fields(["instructions", "custom_fields"], "order_invalid_data"))
    assert (result["instructions"], result["custom_fields"]) == ([], {})


def test_only_selected_properties():
    assert project(row(), select_fields(None, "order_invalid_data")) == {
        "order_id": 117, "unique_id": "100000017", "order_ref": "R-1"}
    assert project(row(), select_fields(["status"], "order_invalid_data")) == {
        "order_id": 117, "unique_id": "100000017", "order_ref": "R-1", "status": "new"}


ITEM = {
    "order_item_id": 5, "order_item_ref": None, "sku": "A", "name": "Alpha", "weight": Decimal("1.25"), "weight_unit": "lb",
    "qty_ordered": 3, "qty_processing": 2, "qty_shipped": 0, "qty_canceled": 0, "qty_backordered": 1,
    "allocation_data": [{"warehouse_id": 1, "qty_allocated": 1}, {"warehouse_id": 2, "qty_allocated": 1}],
    "unit_declared_value": Decimal("20.4"), "unit_declared_value_currency": "USD", "unit_customs_value": None,
    "unit_customs_value_currency": None,
}


def test_item_shape():
    assert item_properties(ITEM) == {
        "order_item_id": "5", "order_item_ref": None, "sku": "A", "name": "Alpha", "weight": "1.2500", "weight_unit": "lb",
        "row_weight": "3.7500", "row_weight_unit": "lb", "qty_ordered": "3.0000", "qty_processing": "2.0000",
        "qty_shipped": "0.0000", "qty_canceled": "0.0000", "qty_backordered": "1.0000",
        "allocation_data": [{"warehouse_id": "1", "qty_allocated": "1.0000"}, {"warehouse_id": "2", "qty_allocated": "1.0000"}],
        "package_data": [], "lot_data": [], "unit_declared_value": "20.40", "unit_declared_value_currency": "USD",
        "unit_customs_value": None, "unit_customs_value_currency": "USD", "gift_message": None,
    }
    assert item_properties({**ITEM, "weight": None})["row_weight"] is None


def test_expansions_come_from_related_rows():
    history = [{"status": "new", "state": "new", "comment": "hi", "created_at": CREATED}]
    selection = select_fields(["shipping_address", "items", "status_history", "shipments", "packages",
                               "tracking_numbers", "serial_number_data"], "order_invalid_data")
    result = project(row(), selection, Related(items=[ITEM], history=history))
    assert result["shipping_address"] == {  # every Address Property, null when unknown
        "firstname": None, "lastname": None, "company": None, "street": None, "city": "Town", "region": None,
        "postcode": None, "country": None, "classification": None, "is_valid": None, "telephone": None, "email": None}
    assert [item["sku"] for item in result["items"]] == ["A"]
    assert result["status_history"] == [{"status": "new", "state": "new", "comment": "hi", "created_at": "2024-07-30T18:52:30+00:00"}]
    assert (result["shipments"], result["packages"], result["tracking_numbers"], result["serial_number_data"]) == ([], [], [], [])
    assert list(result)[:3] == list(BASE)


def test_expansions_without_related_rows_are_empty():
    result = project(row(), select_fields(["items", "status_history"], "order_invalid_data"))
    assert (result["items"], result["status_history"]) == ([], [])
