"""Values at and past the ranges the database holds: a moment of year 1 or 9999 whose offset
takes it outside those years in UTC, an integer past int4. Each is the method's own
invalid-data or invalid-filters fault naming the field, never fault 1; in order.bulk_create the
entry with it fails alone."""

from __future__ import annotations

import pytest

from tests.api.order_helpers import ADDRESS, INFO, add_product, assert_fault
from tests.api.webhook_helpers import create_webhook

PAST_THE_RANGE = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]
AT_THE_RANGE = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "0001-01-01", "9999-12-31"]

# Each search method, its invalid-filters fault number and a timestamp field it filters on.
SEARCHES = [
    ("order.search", 101, "created_at"),
    ("product.search", 108, "created_at"),
    ("shipment.search", 101, "created_at"),
    ("stock_movement.list", 101, "created_at"),
]


@pytest.fixture
async def session(rpc, users):
    return await rpc.login(users["merchant"])


@pytest.mark.parametrize("method, fault, field", SEARCHES)
@pytest.mark.parametrize("moment", PAST_THE_RANGE)
@pytest.mark.parametrize("op", ["eq", "gt", "lteq", "from", "to"])
async def test_a_moment_past_the_range_in_a_filter_is_the_invalid_filters_fault(rpc, session, method, fault, field,
                                                                                 moment, op):
    error = await rpc.fault(session, method, [{field: {op: moment}}])
    assert_fault(error, fault, f"Invalid filters given: '{field}' {op}: '{moment}' is out of range (years 1 to 9999 in UTC)")


@pytest.mark.parametrize("method, fault, field", SEARCHES)
async def test_a_moment_past_the_range_in_a_list_filter_is_the_invalid_filters_fault(rpc, session, method, fault, field):
    error = await rpc.fault(session, method, [{field: {"in": ["2024-01-31", PAST_THE_RANGE[0]]}}])
    assert_fault(error, fault)
    assert error["message"].startswith(f"Invalid filters given: '{field}' in: ") and "out of range" in error["message"]


@pytest.mark.parametrize("method, fault, field", SEARCHES)
@pytest.mark.parametrize("moment", AT_THE_RANGE)
async def test_moments_at_the_range_filter(rpc, session, method, fault, field, moment):
    for op in ("eq", "gt", "lt", "from", "to"):
        await rpc.result(session, method, [{field: {op: moment}}])


@pytest.mark.parametrize("moment", PAST_THE_RANGE)
async def test_a_date_filter_takes_the_date_of_any_moment(rpc, session, moment):
    assert (await rpc.result(session, "order.search", [{"requested_ship_date": {"eq": moment}}]))["totalCount"] == 0


@pytest.mark.parametrize("moment", PAST_THE_RANGE)
async def test_inventory_list_updated_since_past_the_range_is_invalid_data(rpc, session, moment):
    error = await rpc.fault(session, "inventory.list", [None, None, moment])
    assert error["code"] not in (-32001, -32603, -32000)
    assert error["message"].endswith(f"'updatedSince': '{moment}' is out of range (years 1 to 9999 in UTC)")


@pytest.mark.parametrize("moment", PAST_THE_RANGE)
async def test_a_delayed_ship_date_past_the_range_is_fault_102(rpc, session, db, moment):
    await add_product(db, "A", stock=5)
    error = await rpc.fault(session, "order.create", [None, {"A": 1}, ADDRESS, {**INFO, "delayed_ship_date": moment}])
    assert_fault(error, 102, f"info.delayed_ship_date: '{moment}' is out of range (years 1 to 9999 in UTC)")
    assert await db.fetchval("SELECT count(*) FROM orders") == 0


async def test_a_delayed_ship_date_at_the_range_is_an_order(rpc, session, db):
    await add_product(db, "A", stock=5)
    order = await rpc.result(session, "order.create", [None, {"A": 1}, ADDRESS,
                                                       {**INFO, "delayed_ship_date": "9999-12-31T23:59:59Z"}])
    assert order["status"] == "delayed_shipment"


@pytest.mark.parametrize("key", ["tpb_group_id", "duties_tpb_group_id"])
async def test_a_group_id_past_int4_is_fault_102(rpc, session, db, key):
    await add_product(db, "A", stock=5)
    error = await rpc.fault(session, "order.create", [None, {"A": 1}, ADDRESS, {**INFO, key: 2**40}])
    assert_fault(error, 102, f"info.{key}: input should be less than or equal to 2147483647")
    assert await db.fetchval("SELECT count(*) FROM orders") == 0


async def test_a_group_id_at_int4_is_stored(rpc, session, db):
    await add_product(db, "A", stock=5)
    order = await rpc.result(session, "order.create", [None, {"A": 1}, ADDRESS, {**INFO, "tpb_group_id": 2**31 - 1}])
    assert await db.fetchval("SELECT tpb_group_id FROM orders WHERE unique_id = $1", order["unique_id"]) == 2**31 - 1


async def test_in_a_bulk_the_order_past_the_range_fails_alone(rpc, session, db):
    await add_product(db, "A", stock=5)
    result = await rpc.result(session, "order.bulk_create", [{
        "good": [None, {"A": 1}, ADDRESS, {**INFO, "order_ref": "G-1"}],
        "bad": [None, {"A": 1}, ADDRESS, {**INFO, "tpb_group_id": 2**40}],
        "late": [None, {"A": 1}, ADDRESS, {**INFO, "delayed_ship_date": PAST_THE_RANGE[0]}],
        "also good": [None, {"A": 1}, ADDRESS, {**INFO, "order_ref": "G-2"}],
    }])
    assert result["bad"] == {"error": {"code": -32102,
                                       "message": "info.tpb_group_id: input should be less than or equal to 2147483647"}}
    assert result["late"]["error"]["code"] == -32102
    assert [result[key]["order_ref"] for key in ("good", "also good")] == ["G-1", "G-2"]
    assert await db.fetchval("SELECT array_agg(order_ref ORDER BY rpcf_id_position(order_id)) FROM orders") == ["G-1", "G-2"]


@pytest.mark.parametrize("number", [2**40, -(2**40), 2**63 - 1])
async def test_an_integer_filter_past_its_column_matches_nothing(rpc, session, number):
    for op in ("eq", "gt", "lt", "in"):
        value = [number] if op == "in" else number
        assert (await rpc.result(session, "order.search", [{"priority": {op: value}}]))["totalCount"] == 0


@pytest.mark.parametrize("moment", PAST_THE_RANGE)
@pytest.mark.parametrize("op", ["eq", "gt", "lteq", "from", "to"])
async def test_a_moment_past_the_range_in_a_deliveries_filter_is_the_invalid_data_fault(rpc, session, moment, op):
    webhook = await create_webhook(rpc, session, "http://127.0.0.1:9/", is_active=False)
    error = await rpc.fault(session, "webhook.deliveries", [webhook["webhook_id"], {"created_at": {op: moment}}])
    assert error["code"] not in (-32001, -32603, -32000), error
    assert "'created_at'" in error["message"] and "out of range (years 1 to 9999 in UTC)" in error["message"], error


@pytest.mark.parametrize("moment", AT_THE_RANGE)
async def test_moments_at_the_range_filter_deliveries(rpc, session, moment):
    webhook = await create_webhook(rpc, session, "http://127.0.0.1:9/", is_active=False)
    for op in ("eq", "gt", "lt", "from", "to"):
        assert (await rpc.result(session, "webhook.deliveries", [webhook["webhook_id"], {"created_at": {op: moment}}]))["totalCount"] == 0
