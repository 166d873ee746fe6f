"""order.edit (address merge and re-validation, info, customFields, refused fields, fault 105
and 100, order:address_changed) and order.comment (status history, faults 100 and 102)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.order_helpers import (  # noqa: F401 (invariants is a fixture)
    invariants,
    ADDRESS,
    ADDRESS_ANSWERED,
    INFO,
    NOT_EDITABLE,
    NOT_FOUND,
    add_product,
    assert_fault,
    check_invariants,
    events_of,
    snapshot,
)

pytestmark = pytest.mark.usefixtures("invariants")


@pytest.fixture
async def session(rpc, users, db):
    await add_product(db, "A", stock=100)
    return await rpc.login(users["merchant"])


async def new_order(rpc, session, **info: Any) -> str:
    return (await rpc.result(session, "order.create", [None, {"A": 1}, ADDRESS, {**INFO, **info}]))["unique_id"]


async def info_of(rpc, session, unique_id: str) -> dict[str, Any]:
    return await rpc.result(session, "order.info", [unique_id, ["*", "shipping_address", "status_history"]])


async def refused(rpc, session, db, args: list[Any], number: int, message: str) -> None:
    before = await snapshot(db)
    assert_fault(await rpc.fault(session, "order.edit", args), number, message)
    assert await snapshot(db) == before


# ------------------------------------------------------------------------------- address


async def test_address_fields_are_merged(rpc, session, db):
    unique_id = await new_order(rpc, session)
    result = await rpc.result(session, "order.edit", [unique_id, {"city": "Brooklyn", "postcode": "11201"}])
    info = await info_of(rpc, session, unique_id)
    assert info["shipping_address"] == {**ADDRESS_ANSWERED, "city": "Brooklyn", "postcode": "11201"}
    assert info["is_address_modified"] is True
    assert result == {key: value for key, value in info.items() if key not in ("shipping_address", "status_history")}
    (event,) = await events_of(db, "order:address_changed")
    # the documented payload: the status/state pair (unchanged) and both addresses as answered
    assert event == {
        "unique_id": unique_id, "order_ref": None, "source": None,
        "old_status": "new", "status": "new", "old_state": "new", "state": "new", "update_method": "api",
        "old_address": ADDRESS_ANSWERED, "address": {**ADDRESS_ANSWERED, "city": "Brooklyn", "postcode": "11201"},
    }
    await check_invariants(db)


async def test_street_replaces_both_street_lines(rpc, session, db):
    unique_id = await new_order(rpc, session)
    await rpc.result(session, "order.edit", [unique_id, {"street2": "Suite 5"}])
    assert (await info_of(rpc, session, unique_id))["shipping_address"]["street"] == "11 Times Square\nSuite 5"
    await rpc.result(session, "order.edit", [unique_id, {"street": "1 Main St"}])
    assert (await info_of(rpc, session, unique_id))["shipping_address"]["street"] == "1 Main St"
    await rpc.result(session, "order.edit", [unique_id, {"street": "2 Side St\nBack door"}])
    assert (await info_of(rpc, session, unique_id))["shipping_address"]["street"] == "2 Side St\nBack door"
    assert len(await events_of(db, "order:address_changed")) == 3


async def test_unknown_address_keys_change_nothing(rpc, session, db):
    unique_id = await new_order(rpc, session)
    await rpc.result(session, "order.edit", [unique_id, {"fax": "555", "address_type": "shipping", "region_id": "43"}])
    info = await info_of(rpc, session, unique_id)
    assert (info["shipping_address"], info["is_address_modified"]) == (ADDRESS_ANSWERED, False)
    assert await events_of(db, "order:address_changed") == []
    assert await db.fetchval("SELECT shipping_address FROM orders WHERE unique_id = $1", unique_id) == ADDRESS


async def test_the_same_address_is_no_change(rpc, session, db):
    unique_id = await new_order(rpc, session)
    await rpc.result(session, "order.edit", [unique_id, {"city": "New York"}])
    assert (await info_of(rpc, session, unique_id))["is_address_modified"] is False
    assert await events_of(db, "order:address_changed") == []


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ({"country": "ZZ"}, "address.country: 'ZZ' is not an ISO 3166-1 alpha-2 country code"),
        ({"postcode": "ABC"}, "address.postcode: 'ABC' is not a US ZIP code (12345 or 12345-6789)"),
        ({"firstname": ""}, "address.firstname: is required"),
        ({"region": None, "city": "x" * 256}, "address.city: string should have at most 255 characters"),
        ({"country_id": "CA", "country": "US"}, "address.country_id: 'CA' disagrees with address.country 'US' (give one of them)"),
        ({"street": "a\n" + "b" * 255 + "\nc"},
         'address.street: the lines after the first, joined with ", " into the second, are longer than 255 characters'),
        ("Main Street", "address must be an object"),
    ],
)
async def test_edited_address_is_validated_again(rpc, session, db, address, message):
    unique_id = await new_order(rpc, session)
    await refused(rpc, session, db, [unique_id, address], 102, message)
    assert (await info_of(rpc, session, unique_id))["shipping_address"] == ADDRESS_ANSWERED


async def test_merged_address_is_checked_as_a_whole(rpc, session, db):
    unique_id = await new_order(rpc, session, )
    await rpc.result(session, "order.edit", [unique_id, {"country": "GB", "postcode": "SW1A 1AA", "region": "London"}])
    # back to the US with the British postcode left in place: not a ZIP
    await refused(rpc, session, db, [unique_id, {"country": "US"}], 102,
                  "address.postcode: 'SW1A 1AA' is not a US ZIP code (12345 or 12345-6789)")


# ---------------------------------------------------------------------------------- info


async def test_info_fields_are_changed(rpc, session, db):
    unique_id = await new_order(rpc, session, order_ref="PO-1")
    result = await rpc.result(session, "order.edit", [unique_id, None, {
        "shipping_method": "fedex_FEDEX_GROUND", "priority": 5, "order_ref": "PO-2", "backorder_policy": "all_or_nothing",
        "saturday_delivery": True, "requested_ship_date": "2030-02-03", "custom_greeting": "Hi", "source": "erp:1",
        "signature_required": "any",
    }])
    assert {key: result[key] for key in ("shipping_method", "carrier_code", "priority", "order_ref", "backorder_policy",
                                         "saturday_delivery", "requested_ship_date", "custom_greeting", "source",
                                         "signature_required")} == {
        "shipping_method": "fedex_FEDEX_GROUND", "carrier_code": "fedex", "priority": 5, "order_ref": "PO-2",
        "backorder_policy": "all_or_nothing", "saturday_delivery": True, "requested_ship_date": "2030-02-03",
        "custom_greeting": "Hi", "source": "erp:1", "signature_required": "any",
    }
    assert result == {k: v for k, v in (await info_of(rpc, session, unique_id)).items() if k not in ("shipping_address", "status_history")}
    assert await events_of(db, "order:address_changed") == []


async def test_unsent_info_fields_are_kept_and_null_priority_means_default(rpc, session):
    unique_id = await new_order(rpc, session, priority=9, order_ref="PO-1", custom_greeting="Hello")
    result = await rpc.result(session, "order.edit", [unique_id, [], {"priority": None}])
    assert (result["priority"], result["order_ref"], result["custom_greeting"]) == (50, "PO-1", "Hello")


async def test_note_adds_to_the_history(rpc, session):
    unique_id = await new_order(rpc, session, note="first")
    await rpc.result(session, "order.edit", [unique_id, None, {"note": "changed the method"}])
    history = (await info_of(rpc, session, unique_id))["status_history"]
    assert [(h["status"], h["comment"]) for h in history] == [("new", "first"), ("new", "changed the method")]


async def test_extra_info_fields_are_merged(rpc, session):
    unique_id = await new_order(rpc, session, duties_payor="shipper", customs_value="5.00")
    result = await rpc.result(session, "order.edit", [unique_id, None, {"duties_payor": "recipient",
                                                                        "instructions": [{"note": "fragile"}]}])
    assert (result["duties_payor"], result["customs_value"], result["instructions"]) == ("recipient", "5.00", [{"note": "fragile"}])


async def test_cheapest_on_time_may_use_the_orders_desired_delivery_date(rpc, session):
    unique_id = await new_order(rpc, session, desired_delivery_date="2030-03-04")
    result = await rpc.result(session, "order.edit", [unique_id, None, {"shipping_method": "cheapest_ON_TIME"}])
    assert (result["shipping_method"], result["desired_delivery_date"]) == ("cheapest_ON_TIME", "2030-03-04")


async def test_declared_value_may_rely_on_the_orders_service_flag(rpc, session):
    unique_id = await new_order(rpc, session, declared_value_service=True, declared_value="10.00")
    result = await rpc.result(session, "order.edit", [unique_id, None, {"declared_value": "12.5"}])
    assert (result["declared_value"], result["declared_value_currency"]) == ("12.50", "USD")


async def test_declared_value_gets_a_currency(rpc, session):
    unique_id = await new_order(rpc, session)
    result = await rpc.result(session, "order.edit", [unique_id, None, {"declared_value_service": True, "declared_value": 3}])
    assert (result["declared_value_service"], result["declared_value"], result["declared_value_currency"]) == (True, "3.00", "USD")


@pytest.mark.parametrize(
    ("info", "message"),
    [
        ({"unique_id": "NEW-ID"}, "info.unique_id: the unique id of an order cannot be changed"),
        ({"hold_indefinitely": True}, "info.hold_indefinitely: use order.hold to put an order on hold"),
        ({"delayed_ship_date": "2030-01-01"}, "info.delayed_ship_date: use order.hold and order.unhold to change a scheduled hold"),
        ({"unique_id": "X", "hold_indefinitely": False}, "info.unique_id: the unique id of an order cannot be changed; info.hold_indefinitely: use order.hold to put an order on hold"),
        ({"shipping_method": None}, "info.shipping_method: cannot be removed"),
        ({"shipping_method": "cheapest_ON_TIME"}, "info.desired_delivery_date: is required for shipping method cheapest_ON_TIME"),
        ({"declared_value": "5"}, "info.declared_value: requires declared_value_service: true"),
        ({"priority": 101}, "info.priority: input should be less than or equal to 100"),
        ({"colour": "red"}, "info.colour: unknown key"),
        ("ups_03", "info must be an object"),
    ],
)
async def test_refused_info(rpc, session, db, info, message):
    unique_id = await new_order(rpc, session)
    await refused(rpc, session, db, [unique_id, None, info], 102, message)


async def per_item_order(rpc, session) -> str:
    """An order whose item carries a unit_declared_value (so the service is on)."""
    items = [{"sku": "A", "qty": 1, "unit_declared_value": "9.99"}]
    order = await rpc.result(session, "order.create", [None, items, ADDRESS, {**INFO, "declared_value_service": True}])
    return order["unique_id"]


@pytest.mark.parametrize(
    ("info", "message"),
    [
        ({"declared_value": "5"}, "info.declared_value: give declared_value or per-item unit_declared_value, not both"),
        ({"declared_value_service": False}, "items: unit_declared_value requires info.declared_value_service: true"),
    ],
)
async def test_declared_values_are_checked_against_the_items(rpc, session, db, info, message):
    """As order.create: a declared value on the order or on the items, not both, and only with the service."""
    await refused(rpc, session, db, [await per_item_order(rpc, session), None, info], 102, message)


async def test_the_service_needs_a_declared_value_somewhere(rpc, session, db):
    unique_id = await new_order(rpc, session)
    await refused(rpc, session, db, [unique_id, None, {"declared_value_service": True}], 102,
                  "info.declared_value: required with declared_value_service unless items carry unit_declared_value")
    # The items' own values are enough, and an unrelated edit of such an order goes through.
    per_item = await per_item_order(rpc, session)
    result = await rpc.result(session, "order.edit", [per_item, None, {"declared_value_service": True, "priority": 5}])
    assert (result["declared_value_service"], result["declared_value"], result["priority"]) == (True, None, 5)


async def test_a_refused_edit_changes_nothing_even_with_a_valid_address(rpc, session, db):
    unique_id = await new_order(rpc, session)
    await refused(rpc, session, db, [unique_id, {"city": "Boston"}, {"unique_id": "X"}], 102,
                  "info.unique_id: the unique id of an order cannot be changed")
    assert (await info_of(rpc, session, unique_id))["shipping_address"]["city"] == "New York"


# ---------------------------------------------------------------------------- customFields


async def test_custom_fields_set_add_remove(rpc, session):
    unique_id = await new_order(rpc, session, custom_fields={"a": {"value": 1}, "b": {"value": 2}})
    added = await rpc.result(session, "order.edit", [unique_id, None, None, {"add": {"c": {"amount": 100}, "a": {"value": 9}}}])
    assert added["custom_fields"] == {"a": {"value": 9}, "b": {"value": 2}, "c": {"amount": 100}}
    removed = await rpc.result(session, "order.edit", [unique_id, None, None, {"remove": ["b", "missing"]}])
    assert removed["custom_fields"] == {"a": {"value": 9}, "c": {"amount": 100}}
    replaced = await rpc.result(session, "order.edit", [unique_id, None, None, {"set": {"colors": [{"label": "Red"}]}}])
    assert replaced["custom_fields"] == {"colors": [{"label": "Red"}]}
    both = await rpc.result(session, "order.edit", [unique_id, None, None, {"set": {"x": 1}, "add": {"y": 2}, "remove": ["x"]}])
    assert both["custom_fields"] == {"y": 2}
    same = await rpc.result(session, "order.edit", [unique_id, None, None, []])
    assert same["custom_fields"] == {"y": 2}


async def test_custom_fields_with_info_custom_fields(rpc, session):
    unique_id = await new_order(rpc, session)
    result = await rpc.result(session, "order.edit", [unique_id, None, {"custom_fields": {"a": 1}}, {"add": {"b": 2}}])
    assert result["custom_fields"] == {"a": 1, "b": 2}


@pytest.mark.parametrize(
    ("operations", "message"),
    [
        ({"add_option": {"a": 1}}, "customFields: unknown operation(s) add_option"),
        ({"replace": {}}, "customFields: unknown operation(s) replace"),
        ({"set": ["a"]}, "customFields.set: must be an object"),
        ({"add": "a"}, "customFields.add: must be an object"),
        ({"remove": "a"}, "customFields.remove: must be an array of codes"),
        ({"remove": [1]}, "customFields.remove: must be an array of codes"),
        ("a", "customFields: must be an object of operations such as {\"add\": {...}}"),
    ],
)
async def test_invalid_custom_field_operations(rpc, session, db, operations, message):
    unique_id = await new_order(rpc, session)
    await refused(rpc, session, db, [unique_id, None, None, operations], 102, message)


# --------------------------------------------------------------------------- 105 and 100


@pytest.mark.parametrize(
    ("state", "status"),
    [("processing", "processing"), ("processing", "partial_backorder"), ("complete", "complete"), ("canceled", "canceled")],
)
async def test_an_order_past_new_cannot_be_edited(rpc, session, db, state, status):
    await add_product(db, "SCARCE", stock=1)
    # partial_backorder needs a unit waiting, so that the order is as such an order would be
    items = {"SCARCE": 2} if status == "partial_backorder" else {"A": 1}
    unique_id = (await rpc.result(session, "order.create", [None, items, ADDRESS, INFO]))["unique_id"]
    await db.execute("UPDATE orders SET state = $1, status = $2 WHERE unique_id = $3", state, status, unique_id)
    before = await snapshot(db)
    error = await rpc.fault(session, "order.edit", [unique_id, {"city": "Boston"}, {"priority": 1}])
    assert_fault(error, 105, NOT_EDITABLE)
    assert await snapshot(db) == before
    assert (await info_of(rpc, session, unique_id))["priority"] == 50


@pytest.mark.parametrize(("status", "info"), [
    ("partial_backorder", {}), ("backordered", {}), ("holded", {"hold_indefinitely": True}),
    ("delayed_shipment", {"delayed_ship_date": "2030-01-01"}),
])
async def test_new_and_held_orders_can_be_edited(rpc, session, db, status, info):
    await add_product(db, "SCARCE", stock=1)
    qty = {"partial_backorder": 2, "backordered": 3}.get(status, 1)
    if status == "backordered":
        await rpc.result(session, "order.create", [None, {"SCARCE": 1}, ADDRESS, INFO])
    unique_id = (await rpc.result(session, "order.create", [None, {"SCARCE": qty}, ADDRESS, {**INFO, **info}]))["unique_id"]
    result = await rpc.result(session, "order.edit", [unique_id, None, {"priority": 3}])
    assert (result["status"], result["priority"]) == (status, 3)


async def test_edit_of_an_unknown_order_is_fault_100(rpc, session, db):
    await refused(rpc, session, db, ["999999999", {"city": "Boston"}], 100, NOT_FOUND)
    await refused(rpc, session, db, [None, {"city": "Boston"}], 6, 'Required parameter is missing, for more details see "exception.log".')


async def test_warehouse_role_may_not_edit(rpc, users, session, db):
    unique_id = await new_order(rpc, session)
    warehouse = await rpc.login(users["warehouse"])
    await refused(rpc, warehouse, db, [unique_id, None, {"priority": 1}], 2, "Access denied.")


# ------------------------------------------------------------------------------- comment


async def test_comment_appends_to_the_history(rpc, session, db):
    unique_id = await new_order(rpc, session)
    assert await rpc.result(session, "order.comment", [unique_id, "Called the customer"]) is True
    assert await rpc.result(session, "order.comment", [unique_id, "  Called again  "]) is True
    history = (await info_of(rpc, session, unique_id))["status_history"]
    assert [(h["state"], h["status"], h["comment"]) for h in history] == [
        ("new", "new", None), ("new", "new", "Called the customer"), ("new", "new", "Called again"),
    ]
    await check_invariants(db)


async def test_comment_records_the_current_status(rpc, session, db):
    unique_id = await new_order(rpc, session)
    await db.execute("UPDATE orders SET state = 'complete', status = 'complete' WHERE unique_id = $1", unique_id)
    assert await rpc.result(session, "order.comment", [unique_id, "Shipped by hand"]) is True
    history = (await info_of(rpc, session, unique_id))["status_history"]
    assert (history[-1]["state"], history[-1]["status"], history[-1]["comment"]) == ("complete", "complete", "Shipped by hand")


async def test_the_warehouse_may_comment(rpc, users, session):
    unique_id = await new_order(rpc, session)
    warehouse = await rpc.login(users["warehouse"])
    assert await rpc.result(warehouse, "order.comment", [unique_id, "Box damaged"]) is True
    assert (await info_of(rpc, session, unique_id))["status_history"][-1]["comment"] == "Box damaged"


@pytest.mark.parametrize(
    ("comment", "number", "message"),
    [
        ("", 102, "comment: must be a non-empty string"),
        ("   ", 102, "comment: must be a non-empty string"),
        (42, 102, "comment: must be a non-empty string"),
        (["a"], 102, "comment: must be a non-empty string"),
        ("x" * 65536, 102, "comment: at most 65535 characters"),
        (None, 6, 'Required parameter is missing, for more details see "exception.log".'),
    ],
)
async def test_invalid_comments(rpc, session, db, comment, number, message):
    unique_id = await new_order(rpc, session)
    before = await snapshot(db)
    assert_fault(await rpc.fault(session, "order.comment", [unique_id, comment]), number, message)
    assert await snapshot(db) == before


async def test_comment_on_an_unknown_order_is_fault_100(rpc, session, db):
    before = await snapshot(db)
    assert_fault(await rpc.fault(session, "order.comment", ["100000999", "hello"]), 100, NOT_FOUND)
    assert await snapshot(db) == before
