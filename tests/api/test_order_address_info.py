"""order.create address and info ("Order Additional Data"): every field rule, what is stored
and returned, and fault 102 naming the field for every violation (nothing written)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.order_helpers import ADDRESS, ADDRESS_ANSWERED, INFO, add_product, assert_fault, snapshot, invariants  # noqa: F401 (a fixture)

PNG = "iVBORw0KGgo="  # base64

pytestmark = pytest.mark.usefixtures("invariants")


@pytest.fixture
async def session(rpc, users, db):
    await add_product(db, "A", stock=100)
    return await rpc.login(users["merchant"])


async def create(rpc, session, *, address: Any = ADDRESS, info: Any = None) -> dict[str, Any]:
    return await rpc.call(session, "order.create", [None, {"A": 1}, address, INFO if info is None else info])


async def order_with(rpc, session, fields: list[str], **kwargs: Any) -> dict[str, Any]:
    body = await create(rpc, session, **kwargs)
    assert "error" not in body, body
    return await rpc.result(session, "order.info", [body["result"]["unique_id"], ["*", *fields]])


async def refused(rpc, session, db, message: str, **kwargs: Any) -> None:
    before = await snapshot(db)
    body = await create(rpc, session, **kwargs)
    assert "error" in body, body
    assert_fault(body["error"], 102, message)
    assert await snapshot(db) == before


def address(**changes: Any) -> dict[str, Any]:
    values = {**ADDRESS, **changes}
    return {key: value for key, value in values.items() if value is not None}


def info(**changes: Any) -> dict[str, Any]:
    return {**INFO, **changes}


# ---------------------------------------------------------------------------------- address


async def test_address_is_stored_and_returned(rpc, session):
    given = address(classification="com", is_valid=1, email="bill@example.com")
    order = await order_with(rpc, session, ["shipping_address"], address=given)
    assert order["shipping_address"] == {**ADDRESS_ANSWERED, "classification": "com", "is_valid": True, "email": "bill@example.com"}
    assert order["is_address_modified"] is False


async def test_every_address_property_is_answered_null_when_not_given(rpc, session):
    given = {"firstname": "Ada", "lastname": "Lovelace", "street1": "1 Main St", "city": "Oslo", "country": "NO"}
    stored = (await order_with(rpc, session, ["shipping_address"], address=given))["shipping_address"]
    assert stored == {"firstname": "Ada", "lastname": "Lovelace", "company": None, "street": "1 Main St", "city": "Oslo",
                      "region": None, "postcode": None, "country": "NO", "classification": None, "is_valid": None,
                      "telephone": None, "email": None}


async def test_street_with_two_lines_is_answered_as_given(rpc, session, db):
    given = address(street1=None, street="11 Times Square\nc/o Steve Ballmer")
    order = await order_with(rpc, session, ["shipping_address"], address=given)
    assert order["shipping_address"]["street"] == "11 Times Square\nc/o Steve Ballmer"
    assert "street1" not in order["shipping_address"] and "street2" not in order["shipping_address"]
    stored = await db.fetchval("SELECT shipping_address FROM orders WHERE unique_id = $1", order["unique_id"])
    assert (stored["street1"], stored["street2"]) == ("11 Times Square", "c/o Steve Ballmer")


async def test_street1_and_street2_are_answered_as_street(rpc, session):
    stored = (await order_with(rpc, session, ["shipping_address"], address=address(street2="Floor 3")))["shipping_address"]
    assert stored["street"] == "11 Times Square\nFloor 3"


# Magento's order.info shipping_address as the OpenMage plugin sends it to order.create
# (Plugin.php importOrderEvent: the array as is, street copied into street1).
MAGENTO_ADDRESS = {
    "address_id": "24", "parent_id": "12", "customer_address_id": "7", "quote_address_id": None, "region_id": "43",
    "customer_id": "5", "fax": None, "region": "New York", "postcode": "10036", "lastname": "Demir",
    "street": "11 Times Square\nSuite 5", "city": "New York", "email": "davi@example.com", "telephone": "212.245.2100",
    "country_id": "US", "firstname": "Davi", "address_type": "shipping", "prefix": "Mr", "middlename": "K",
    "suffix": None, "company": "Demir Enterprises", "vat_id": "DE123", "vat_is_valid": None, "vat_request_id": None,
    "vat_request_date": None, "vat_request_success": None, "giftregistry_item_id": None,
}
MAGENTO_ADDRESS["street1"] = MAGENTO_ADDRESS["street"]


async def test_the_openmage_plugins_address_array_creates_the_order(rpc, session, db):
    body = await create(rpc, session, address=MAGENTO_ADDRESS, info={"shipping_method": "ups_03", "order_ref": "100000042",
                                                                     "source": "magento:100000042"})
    assert "error" not in body, body
    order = await rpc.result(session, "order.info", [body["result"]["unique_id"], ["shipping_address"]])
    assert order["shipping_address"] == {
        "firstname": "Davi", "lastname": "Demir", "company": "Demir Enterprises", "street": "11 Times Square\nSuite 5",
        "city": "New York", "region": "New York", "postcode": "10036", "country": "US", "classification": None,
        "is_valid": None, "telephone": "212.245.2100", "email": "davi@example.com",
    }
    # Magento's own keys are kept nowhere
    stored = await db.fetchval("SELECT shipping_address FROM orders WHERE unique_id = $1", order["unique_id"])
    assert set(stored) == {"firstname", "lastname", "company", "street1", "street2", "city", "region", "postcode",
                           "country", "telephone", "email"}


@pytest.mark.parametrize(("given", "street"), [
    ({"street": "1 Main St\nApt 4", "street1": "1 Main St", "street2": "Apt 4"}, "1 Main St\nApt 4"),
    ({"street": "1 Main St\nApt 4", "street1": "1 Main St\nApt 4"}, "1 Main St\nApt 4"),
    ({"street": "1 Main St\nApt 4", "street1": "1 Main St"}, "1 Main St"),
    ({"street": "9 Old Rd", "street1": "1 Main St", "street2": "Apt 4"}, "1 Main St\nApt 4"),
])
async def test_street_with_street1_and_street2_agreeing_or_street1_street2_winning(rpc, session, given, street):
    answered = (await order_with(rpc, session, ["shipping_address"], address=address(**given)))["shipping_address"]
    assert answered["street"] == street


async def test_country_id_is_country(rpc, session):
    given = {**address(country=None), "country_id": "ca", "region": "ON", "postcode": "M5V 2T6"}
    assert (await order_with(rpc, session, ["shipping_address"], address=given))["shipping_address"]["country"] == "CA"
    both = {**ADDRESS, "country_id": "US"}
    assert (await order_with(rpc, session, ["shipping_address"], address=both))["shipping_address"]["country"] == "US"


@pytest.mark.parametrize(("postcode", "country", "region"), [("02134", "US", "MA"), ("00501-0001", "US", "NY"), ("0150", "NO", None)])
async def test_postcode_keeps_its_leading_zeros(rpc, session, postcode, country, region):
    given = address(postcode=postcode, country=country, region=region)
    assert (await order_with(rpc, session, ["shipping_address"], address=given))["shipping_address"]["postcode"] == postcode


async def test_numbers_for_postcode_and_telephone_become_text(rpc, session):
    stored = (await order_with(rpc, session, ["shipping_address"], address=address(postcode=10036, telephone=2122452100)))["shipping_address"]
    assert (stored["postcode"], stored["telephone"]) == ("10036", "2122452100")


async def test_country_is_upper_cased(rpc, session):
    stored = (await order_with(rpc, session, ["shipping_address"], address=address(country="us")))["shipping_address"]
    assert stored["country"] == "US"


@pytest.mark.parametrize("classification", ["res", "com", "po", "mil", "unk"])
async def test_every_classification_is_accepted(rpc, session, classification):
    stored = (await order_with(rpc, session, ["shipping_address"], address=address(classification=classification)))["shipping_address"]
    assert stored["classification"] == classification


async def test_a_foreign_address_needs_no_region(rpc, session):
    given = address(country="GB", region=None, postcode="SW1A 1AA", city="London")
    assert (await order_with(rpc, session, ["shipping_address"], address=given))["shipping_address"]["country"] == "GB"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (address(street="a\n" + "b" * 200 + "\n" + "c" * 60, street1=None),
         'address.street: the lines after the first, joined with ", " into the second, are longer than 255 characters'),
        (address(street1="1 Main St\nApt 4\nBack"), "address.street1: must be one line (street takes two lines separated by a newline)"),
        ({**ADDRESS, "country_id": "CA"}, "address.country_id: 'CA' disagrees with address.country 'US' (give one of them)"),
        ({**address(country=None), "country_id": "USA"}, "address.country_id: 'USA' is not an ISO 3166-1 alpha-2 country code"),
        ({**MAGENTO_ADDRESS, "firstname": 7}, "address.firstname: input should be a valid string"),
        ({**MAGENTO_ADDRESS, "email": "davi"}, "address.email: string should match pattern '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$'"),
        ({**MAGENTO_ADDRESS, "is_valid": "perhaps"}, "address.is_valid: input should be a valid boolean, unable to interpret input"),
        (address(country="XX"), "address.country: 'XX' is not an ISO 3166-1 alpha-2 country code"),
        (address(country="USA"), "address.country: 'USA' is not an ISO 3166-1 alpha-2 country code"),
        (address(classification="house"), "address.classification: input should be 'res', 'com', 'po', 'mil' or 'unk'"),
        (address(postcode="1234"), "address.postcode: '1234' is not a US ZIP code (12345 or 12345-6789)"),
        (address(postcode="10036-12"), "address.postcode: '10036-12' is not a US ZIP code (12345 or 12345-6789)"),
        (address(postcode="x" * 21), "address.postcode: string should have at most 20 characters"),
        (address(email="not-an-email"), "address.email: string should match pattern '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$'"),
        (address(firstname="x" * 256), "address.firstname: string should have at most 255 characters"),
        (address(firstname=None), "address.firstname: is required"),
        (address(lastname=None, city=None), "address.lastname: is required; address.city: is required"),
        (address(street1=None), "address.street1: is required"),
        (address(country=None), "address.country: is required"),
        (address(region=None), "address.region: is required"),
        (address(postcode=None), "address.postcode: is required"),
        (address(postcode=" "), "address.postcode: is required"),
        ("11 Times Square", "address must be an object"),
        ([], "address must be an object"),
    ],
)
async def test_invalid_addresses_are_fault_102(rpc, session, db, given, message):
    await refused(rpc, session, db, message, address=given)


# ------------------------------------------------------------------------------------- info


async def test_defaults(rpc, session):
    order = await order_with(rpc, session, [])
    assert {key: order[key] for key in (
        "priority", "backorder_policy", "signature_required", "saturday_delivery", "reason_for_export",
        "declared_value_service", "declared_value", "overbox", "requested_ship_date", "delayed_ship_date",
        "desired_delivery_date", "custom_greeting", "source", "instructions", "custom_fields", "tpb_group_id")} == {
        "priority": 50, "backorder_policy": "default", "signature_required": "none", "saturday_delivery": False,
        "reason_for_export": "sold", "declared_value_service": False, "declared_value": None, "overbox": False,
        "requested_ship_date": None, "delayed_ship_date": None, "desired_delivery_date": None,
        "custom_greeting": None, "source": None, "instructions": [], "custom_fields": {}, "tpb_group_id": None,
    }


async def test_every_info_field_is_stored_and_returned(rpc, session):
    given = info(
        order_ref="12345", shipping_method="fedex_FEDEX_2_DAY", custom_greeting="Greetings", note="Note text",
        signature_required="adult", saturday_delivery=True, reason_for_export="gift", overbox=True,
        backorder_policy="up_to_3", priority=7, requested_ship_date="2030-07-28", desired_delivery_date="2030-08-01",
        tpb_group_id=0, duties_payor="recipient", duties_tpb_group_id=4, source="magento:100001",
        customs_value="99.50", customs_value_currency="cad", generate_sscc=["pack", "item"],
        gift_message="Happy birthday", custom_fields={"color": {"value": "red"}},
    )
    order = await order_with(rpc, session, ["status_history"], info=given)
    assert {key: order[key] for key in (
        "order_ref", "shipping_method", "carrier_code", "shipping_description", "custom_greeting", "signature_required",
        "saturday_delivery", "reason_for_export", "overbox", "backorder_policy", "priority", "requested_ship_date",
        "desired_delivery_date", "tpb_group_id", "duties_payor", "duties_tpb_group_id", "source", "customs_value",
        "customs_value_currency", "gift_message", "custom_fields")} == {
        "order_ref": "12345", "shipping_method": "fedex_FEDEX_2_DAY", "carrier_code": "fedex",
        "shipping_description": "FEDEX FEDEX 2 DAY", "custom_greeting": "Greetings", "signature_required": "adult",
        "saturday_delivery": True, "reason_for_export": "gift", "overbox": True, "backorder_policy": "up_to_3",
        "priority": 7, "requested_ship_date": "2030-07-28", "desired_delivery_date": "2030-08-01", "tpb_group_id": 0,
        "duties_payor": "recipient", "duties_tpb_group_id": 4, "source": "magento:100001", "customs_value": "99.50",
        "customs_value_currency": "CAD", "gift_message": "Happy birthday", "custom_fields": {"color": {"value": "red"}},
    }
    assert [h["comment"] for h in order["status_history"]] == ["Note text"]


@pytest.mark.parametrize("method", ["ups_03", "usps_US-PM", "amazon_standard", "external_pickup", "cheapest_GROUND"])
async def test_shipping_methods(rpc, session, method):
    order = await order_with(rpc, session, [], info=info(shipping_method=method))
    assert (order["shipping_method"], order["carrier_code"]) == (method, method.split("_")[0])


@pytest.mark.parametrize("policy", ["default", "all_or_nothing", "as_available", "up_to_1", "up_to_12"])
async def test_backorder_policies(rpc, session, policy):
    assert (await order_with(rpc, session, [], info=info(backorder_policy=policy)))["backorder_policy"] == policy


@pytest.mark.parametrize(("priority", "stored"), [(0, 0), (100, 100), ("30", 30), (None, 50)])
async def test_priority_range(rpc, session, priority, stored):
    assert (await order_with(rpc, session, [], info=info(priority=priority)))["priority"] == stored


async def test_cheapest_on_time_with_desired_delivery_date(rpc, session):
    order = await order_with(rpc, session, [], info=info(shipping_method="cheapest_ON_TIME", desired_delivery_date="2030-01-31"))
    assert (order["shipping_method"], order["desired_delivery_date"]) == ("cheapest_ON_TIME", "2030-01-31")


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("2030-05-01", "2030-05-01T00:00:00+00:00"),
        ("2030-05-01T10:11:12", "2030-05-01T10:11:12+00:00"),
        ("2030-05-01T10:11:12Z", "2030-05-01T10:11:12+00:00"),
        ("2030-05-01T10:11:12+02:00", "2030-05-01T08:11:12+00:00"),
    ],
)
async def test_delayed_ship_date_formats(rpc, session, value, stored):
    order = await order_with(rpc, session, [], info=info(delayed_ship_date=value))
    assert (order["delayed_ship_date"], order["status"]) == (stored, "delayed_shipment")


async def test_declared_value_with_the_service(rpc, session):
    order = await order_with(rpc, session, [], info=info(declared_value_service=True, declared_value="40.50"))
    assert (order["declared_value_service"], order["declared_value"], order["declared_value_currency"]) == (True, "40.50", "USD")
    other = await order_with(rpc, session, [], info=info(declared_value_service=True, declared_value=12, declared_value_currency="eur"))
    assert (other["declared_value"], other["declared_value_currency"]) == ("12.00", "EUR")


async def test_instructions_are_stored(rpc, session):
    instructions = [
        {"note": "Place Amazon FBA Label in a pouch", "file_name": "fba.pdf", "file_content": PNG,
         "presentation": "once_per_shipment", "print_target": "LABEL"},
        {"note": "Place extra padding", "presentation": "once_per_package"},
        {"note": "Fetch me", "file_request": {"url": "https://example.com/a.pdf", "auth": ["u", "p"], "headers": {"X-A": "1"}},
         "print_target": "SMALL_LABEL"},
    ]
    order = await order_with(rpc, session, [], info=info(instructions=instructions))
    assert order["instructions"] == instructions


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"shipping_method": "ups_03", "colour": "red"}, "info.colour: unknown key"),
        ({"shipping_method": "ups_03", "a": 1, "b": 2}, "info.a: unknown key; info.b: unknown key"),
        ({}, "info.shipping_method: is required"),
        ({"shipping_method": None}, "info.shipping_method: is required"),
        ([], "info.shipping_method: is required"),
        ("ups_03", "info must be an object"),
        (info(shipping_method="ups"), "info.shipping_method: 'ups' is not a shipping method of the form carrier_service, such as ups_03"),
        (info(shipping_method="UPS 03"), "info.shipping_method: 'UPS 03' is not a shipping method of the form carrier_service, such as ups_03"),
        (info(backorder_policy="sometimes"), "info.backorder_policy: 'sometimes' is not a backorder policy (default, all_or_nothing, as_available or up_to_X with X a positive whole number)"),
        (info(backorder_policy="up_to_0"), "info.backorder_policy: 'up_to_0' is not a backorder policy (default, all_or_nothing, as_available or up_to_X with X a positive whole number)"),
        (info(backorder_policy="up_to_X"), "info.backorder_policy: 'up_to_X' is not a backorder policy (default, all_or_nothing, as_available or up_to_X with X a positive whole number)"),
        (info(priority=-1), "info.priority: input should be greater than or equal to 0"),
        (info(priority=101), "info.priority: input should be less than or equal to 100"),
        (info(priority=5.5), "info.priority: input should be a valid integer, got a number with a fractional part"),
        (info(priority="high"), "info.priority: must be a number written with the digits 0-9, got 'high'"),
        (info(priority=True), "info.priority: must be a whole number, not true or false"),
        (info(requested_ship_date="07/28/2030"), "info.requested_ship_date: must be a date YYYY-MM-DD"),
        (info(requested_ship_date="2030-13-01"), "info.requested_ship_date: input should be a valid date or datetime, month value is outside expected range of 1-12"),
        (info(requested_ship_date=0), "info.requested_ship_date: must be a date YYYY-MM-DD"),
        (info(desired_delivery_date="tomorrow"), "info.desired_delivery_date: must be a date YYYY-MM-DD"),
        (info(shipping_method="cheapest_ON_TIME"), "info: desired_delivery_date is required for shipping method cheapest_ON_TIME"),
        (info(delayed_ship_date="soon"), "info.delayed_ship_date: must be YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[Z]"),
        (info(delayed_ship_date="20300101"), "info.delayed_ship_date: must be YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[Z]"),
        (info(delayed_ship_date=1900000000), "info.delayed_ship_date: must be YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[Z]"),
        (info(delayed_ship_date="2030-02-30"), "info.delayed_ship_date: must be YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[Z]"),
        (info(hold_indefinitely=True, delayed_ship_date="2030-01-01"), "info: hold_indefinitely cannot be used together with delayed_ship_date"),
        (info(declared_value="10.00"), "info.declared_value: requires declared_value_service: true"),
        (info(declared_value="10.00", declared_value_service=False), "info.declared_value: requires declared_value_service: true"),
        (info(declared_value_service=True), "info.declared_value: required with declared_value_service unless items carry unit_declared_value"),
        (info(declared_value_service=True, declared_value="-1"), "info.declared_value: input should be greater than or equal to 0"),
        (info(declared_value_service=True, declared_value="1", declared_value_currency="ZZZ"), "info.declared_value_currency: 'ZZZ' is not an ISO 4217 currency code"),
        (info(signature_required="always"), "info.signature_required: input should be 'none', 'any', 'adult', 'indirect' or 'default'"),
        (info(reason_for_export="fun"), "info.reason_for_export: input should be 'sold', 'not_sold', 'gift', 'sample', 'repair_return' or 'personal_effects'"),
        (info(saturday_delivery="maybe"), "info.saturday_delivery: input should be a valid boolean, unable to interpret input"),
        (info(duties_payor="me"), "info.duties_payor: input should be 'default', 'shipper', 'recipient' or 'third_party'"),
        (info(tpb_group_id=-1), "info.tpb_group_id: input should be greater than or equal to 0"),
        (info(generate_sscc=["box"]), "info.generate_sscc[0]: input should be 'pack' or 'item'"),
        (info(unique_id="x" * 65), "info.unique_id: string should have at most 64 characters"),
        (info(order_ref="r" * 256), "info.order_ref: string should have at most 255 characters"),
        (info(instructions=[{"file_name": "a.pdf"}]), "info.instructions[0].note: is required"),
        (info(instructions=[{"note": ""}]), "info.instructions[0].note: string should have at least 1 character"),
        (info(instructions=[{"note": "n", "presentation": "always"}]), "info.instructions[0].presentation: input should be 'once_per_order', 'once_per_shipment' or 'once_per_package'"),
        (info(instructions=[{"note": "n", "print_target": "A4"}]), "info.instructions[0].print_target: input should be 'LABEL', 'SMALL_LABEL' or 'LASER'"),
        (info(instructions=[{"note": "n", "file_content": "not base64!"}]), "info.instructions[0].file_content: file_content must be base64"),
        (info(instructions=[{"note": "n", "file_request": {"url": "ftp://x"}}]), "info.instructions[0].file_request.url: string should match pattern '^https?://'"),
        (info(instructions=[{"note": "n", "colour": "red"}]), "info.instructions[0].colour: unknown key"),
        (info(instructions={"note": "n"}), "info.instructions: input should be a valid list"),
    ],
)
async def test_invalid_info_is_fault_102(rpc, session, db, given, message):
    await refused(rpc, session, db, message, info=given)
