"""customer_id, an order property of ours (the customer's id in the merchant's own system):
accepted by order.create and order.edit, returned by order.info and order.search, filterable
and sortable, and described in rpc.discover as our extension. It is declared once, in
orders/fields.py, with migration 0010; this file is the rest of what adding it took."""

from __future__ import annotations

from typing import Any

import pytest

from rpc_fulfillment.jsonrpc import dispatch
from tests.api.order_helpers import ADDRESS, INFO, add_product, assert_fault, invariants  # noqa: F401 (a fixture)

pytestmark = pytest.mark.usefixtures("invariants")


@pytest.fixture
async def session(rpc, users, db):
    await add_product(db, "A", stock=100)
    return await rpc.login(users["merchant"])


async def new_order(rpc, session, **info: Any) -> dict[str, Any]:
    return await rpc.result(session, "order.create", [None, {"A": 1}, ADDRESS, {**INFO, **info}])


async def test_create_stores_it_and_every_read_returns_it(rpc, session, db):
    order = await new_order(rpc, session, customer_id="CUST-42")
    assert order["customer_id"] == "CUST-42"
    info = await rpc.result(session, "order.info", [order["unique_id"], ["customer_id"]])
    assert info == {"order_id": order["order_id"], "unique_id": order["unique_id"], "order_ref": None,
                    "customer_id": "CUST-42"}
    assert (await rpc.result(session, "order.info", [order["unique_id"], "*"]))["customer_id"] == "CUST-42"
    assert await db.fetchval("SELECT customer_id FROM orders WHERE order_id = $1", order["order_id"]) == "CUST-42"


async def test_absent_it_is_null_and_a_number_is_taken_as_its_digits(rpc, session):
    assert (await new_order(rpc, session))["customer_id"] is None
    assert (await new_order(rpc, session, customer_id=1234567))["customer_id"] == "1234567"


async def test_a_bulk_takes_it_per_order(rpc, session):
    result = await rpc.result(session, "order.bulk_create", [{
        "a": [None, {"A": 1}, ADDRESS, {**INFO, "customer_id": "C-1"}],
        "b": [None, {"A": 1}, ADDRESS, INFO],
    }])
    assert (result["a"]["customer_id"], result["b"]["customer_id"]) == ("C-1", None)


@pytest.mark.parametrize(("value", "problem"), [
    ("x" * 256, "info.customer_id: string should have at most 255 characters"),
    ({"id": 1}, "info.customer_id: input should be a valid string"),
    (True, "info.customer_id: input should be a valid string"),
])
async def test_a_bad_value_is_fault_102_naming_it(rpc, session, db, value, problem):
    before = await db.fetchval("SELECT count(*) FROM orders")
    error = await rpc.fault(session, "order.create", [None, {"A": 1}, ADDRESS, {**INFO, "customer_id": value}])
    assert_fault(error, 102)
    assert problem in error["message"]
    assert await db.fetchval("SELECT count(*) FROM orders") == before


async def test_edit_changes_it_and_null_clears_it(rpc, session, db):
    unique_id = (await new_order(rpc, session, customer_id="OLD"))["unique_id"]
    changed = await rpc.result(session, "order.edit", [unique_id, None, {"customer_id": "NEW"}])
    assert changed["customer_id"] == "NEW"
    cleared = await rpc.result(session, "order.edit", [unique_id, None, {"customer_id": None}])
    assert cleared["customer_id"] is None
    assert await db.fetchval("SELECT customer_id FROM orders WHERE unique_id = $1", unique_id) is None


async def search(rpc, session, filters: Any, options: Any = None) -> list[str | None]:
    found = await rpc.result(session, "order.search", [filters, options, ["customer_id"]])
    return [order["customer_id"] for order in found["results"]]


async def test_search_filters_and_sorts_by_it(rpc, session):
    for customer in ("CUST-1", "CUST-2", "OTHER-3", None):
        await new_order(rpc, session, **({} if customer is None else {"customer_id": customer}))
    assert await search(rpc, session, {"customer_id": "CUST-2"}) == ["CUST-2"]
    assert sorted(await search(rpc, session, {"customer_id": {"in": ["CUST-1", "OTHER-3"]}})) == ["CUST-1", "OTHER-3"]
    assert sorted(await search(rpc, session, {"customer_id": {"starts": "CUST-"}})) == ["CUST-1", "CUST-2"]
    assert await search(rpc, session, {"customer_id": {"null": True}}) == [None]
    ordered = await search(rpc, session, {"customer_id": {"notnull": True}},
                           {"sort_field": "customer_id", "sort_dir": "desc"})
    assert ordered == ["OTHER-3", "CUST-2", "CUST-1"]


async def test_another_merchants_customer_is_not_found(rpc, session, users):
    await new_order(rpc, session, customer_id="SHARED")
    other = await rpc.login(users["other"])
    assert (await rpc.result(other, "order.search", [{"customer_id": "SHARED"}]))["totalCount"] == 0


def test_rpc_discover_describes_it_as_ours():
    document = dispatch.api_document()
    info = document["components"]["schemas"]["InfoInput"]["properties"]["customer_id"]
    assert "extension" in info["description"] and "ShipStream" in info["description"]
    search = next(method for method in document["methods"] if method["name"] == "order.search")
    filters = search["params"][0]["schema"]["anyOf"][0]["properties"]
    assert "customer_id" in filters
