"""The order entity and the order:* payloads against ShipStream's documented examples: every key
the example shows is there, with the example's JSON type (an example's null says nothing of
the type). The examples are copied from shipstream-docs (2014-07-25-order.md, order.search's
example response; 2015-06-12-topics.md, order:created, order:items_updated,
order:address_changed), so that the test runs without the reference copy."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.order_helpers import (  # noqa: F401 (invariants is a fixture)
    invariants,
    ADDRESS,
    INFO,
    add_product,
    events_of,
)

pytestmark = pytest.mark.usefixtures("invariants")

DOCUMENTED_ITEM = {  # order.search's example response, and order:created's items (gift_message)
    "sku": "product1", "name": "product1", "qty_ordered": "2.0000", "qty_backordered": "0.0000",
    "qty_canceled": "0.0000", "qty_processing": "0.0000", "qty_shipped": "0.0000", "unit_declared_value": None,
    "unit_declared_value_currency": "USD", "unit_customs_value": None, "unit_customs_value_currency": "USD",
    "gift_message": None, "weight": "5.800000", "row_weight": "11.600000",
    "allocation_data": [{"warehouse_id": "2", "qty_allocated": "2.0000"}],
    "order_item_id": "230", "order_item_ref": None, "weight_unit": "lb", "row_weight_unit": "lb",
}
DOCUMENTED_ADDRESS = {
    "firstname": "John", "lastname": "Doe", "company": "ACME", "street": "123 ACME BIG STREET", "city": "New York",
    "region": "NY", "postcode": "99999", "country": "US", "classification": "com", "is_valid": True,
    "telephone": "865999999", "email": "john.doe@example.com",
}
ORDER_CREATED = {
    "unique_id": "100000015", "order_ref": "9099", "source": None,
    "stock_adjustments": {"sku123": {"sku": "sku123", "external_id": None, "product_id": 7, "qty_adjust": -5,
                                     "qty_available": 95, "qty_advertised": 95}},
    "items": [DOCUMENTED_ITEM],
}
ORDER_ITEMS_UPDATED = {
    "unique_id": "100000022", "order_ref": "9099", "source": None,
    "items_canceled": [{"sku": "product1", "order_item_id": "215", "qty_canceled": "1.0000"}],
    "items_remaining": [{key: value for key, value in DOCUMENTED_ITEM.items() if key != "gift_message"}],
}
ORDER_ADDRESS_CHANGED = {
    "unique_id": "100000021", "order_ref": "9099", "source": None, "old_status": "new", "status": "new",
    "old_state": "new", "state": "new", "old_address": DOCUMENTED_ADDRESS, "address": DOCUMENTED_ADDRESS,
    "update_method": "manual",
}
ORDER_SEARCH_RESULT = {"order_id": 114, "unique_id": "100000114", "order_ref": None, "status": "processing",
                       "items": [{key: value for key, value in DOCUMENTED_ITEM.items() if key != "gift_message"}]}


def json_type(value: Any) -> str:
    for name, kind in (("null", type(None)), ("boolean", bool), ("integer", int), ("number", float), ("string", str),
                       ("array", list), ("object", dict)):
        if isinstance(value, kind):
            return name
    raise AssertionError(f"not JSON: {value!r}")


def differences(documented: Any, ours: Any, path: str = "") -> list[str]:
    """Where ``ours`` lacks a key path of ``documented`` or holds another JSON type there."""
    if documented is None:
        return []
    if json_type(documented) != json_type(ours):
        return [f"{path or '.'}: documented {json_type(documented)}, ours {json_type(ours)} ({ours!r})"]
    found = []
    if isinstance(documented, dict):
        if path.endswith("stock_adjustments"):  # keyed by SKU: compare each entry with the example's
            return [problem for key, entry in ours.items() for problem in
                    differences(next(iter(documented.values())), entry, f"{path}.{key}")]
        for key, value in documented.items():
            if key not in ours:
                found.append(f"{path}.{key}: missing")
            else:
                found += differences(value, ours[key], f"{path}.{key}")
    elif isinstance(documented, list) and documented:
        if not ours:
            return [f"{path}: empty, the example has entries"]
        for index, entry in enumerate(ours):
            found += differences(documented[0], entry, f"{path}[{index}]")
    return found


@pytest.fixture
async def order(rpc, users, db) -> dict[str, Any]:
    """An order of two lines of weighed products, with order_ref and source, reserved."""
    session = await rpc.login(users["merchant"])
    await add_product(db, "product1", stock=10, weight=5.8, external_id="EXT-1")
    await add_product(db, "product2", stock=10, weight=0.2)
    created = await rpc.result(session, "order.create", [
        None, [{"sku": "product1", "qty": 2, "order_item_ref": "L1"}, {"sku": "product2", "qty": 3}],
        {**ADDRESS, "classification": "com", "is_valid": 1, "email": "bill@example.com"},
        {**INFO, "order_ref": "9099", "source": "shop:1"},
    ])
    return {"session": session, **created}


async def test_order_search_answers_the_documented_entity(rpc, order):
    result = await rpc.result(order["session"], "order.search", [{"order_id": {"in": [order["order_id"]]}}, None,
                                                                  ["status", "items"]])
    (found,) = result["results"]
    assert differences(ORDER_SEARCH_RESULT, found) == []


async def test_order_info_answers_the_documented_address(rpc, order):
    info = await rpc.result(order["session"], "order.info", [order["unique_id"], ["shipping_address"]])
    assert differences(DOCUMENTED_ADDRESS, info["shipping_address"]) == []
    assert set(info["shipping_address"]) == set(DOCUMENTED_ADDRESS)


async def test_order_created_payload(order, db):
    (message,) = await events_of(db, "order:created")
    assert differences(ORDER_CREATED, message) == []


async def test_order_items_updated_payload(rpc, order, db):
    await rpc.result(order["session"], "order.cancel", [order["unique_id"], {"items": [{"sku": "product1", "qty": 1}]}])
    (message,) = await events_of(db, "order:items_updated")
    assert differences(ORDER_ITEMS_UPDATED, message) == []


async def test_order_address_changed_payload(rpc, order, db):
    await rpc.result(order["session"], "order.edit", [order["unique_id"], {"street": "321 ACME BIG STREET"}])
    (message,) = await events_of(db, "order:address_changed")
    assert differences(ORDER_ADDRESS_CHANGED, message) == []
    assert set(message["address"]) == set(DOCUMENTED_ADDRESS)


def test_the_comparison_finds_a_missing_key_and_a_wrong_type():
    assert differences({"a": {"b": "1"}, "c": [{"d": 1}]}, {"a": {"b": 1}, "c": [{}]}) == [
        ".a.b: documented string, ours integer (1)", ".c[0].d: missing"]
