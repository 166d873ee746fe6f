"""One rule for a number written in a string, in every method: digits 0-9, an optional sign and
decimal fraction, spaces around it. Other scripts' digits ("\u0663" is an Arabic-Indic 3, "\uff13" a
fullwidth 3), "_" separators and exponents are the method's invalid-data (or invalid-filters)
fault naming the field, and nothing is written; the same value in ASCII digits is taken."""

from __future__ import annotations

import pytest

from tests.api.order_helpers import ADDRESS, INFO, add_product, assert_fault

NOT_ASCII_NUMBERS = ["\u0663", "\uff13", "1_0", "1e1"]


@pytest.fixture
async def session(rpc, users):
    return await rpc.login(users["merchant"])


@pytest.mark.parametrize("qty", NOT_ASCII_NUMBERS)
async def test_order_create_refuses_a_quantity_not_in_ascii_digits(rpc, session, db, qty):
    await add_product(db, "A", stock=50)
    error = await rpc.fault(session, "order.create", [None, [{"sku": "A", "qty": qty}], ADDRESS, INFO])
    assert_fault(error, 102)
    assert "items[0].qty: must be a positive whole number" in error["message"], error
    assert await db.fetchval("SELECT count(*) FROM orders") == 0


async def test_order_create_takes_a_quantity_in_ascii_digits(rpc, session, db):
    await add_product(db, "A", stock=50)
    await rpc.result(session, "order.create", [None, [{"sku": "A", "qty": " +3 "}], ADDRESS, INFO])
    assert await db.fetchval("SELECT qty_ordered FROM order_items") == 3


@pytest.mark.parametrize("delta", NOT_ASCII_NUMBERS)
async def test_inventory_adjust_refuses_a_delta_not_in_ascii_digits(rpc, users, db, delta):
    product_id = await add_product(db, "A", stock=5)
    error = await rpc.fault(await rpc.login(users["warehouse"]), "inventory.adjust", ["A", 1, delta])
    assert error["code"] not in (-32001, -32603, -32000) and "qty_delta" in error["message"], error
    assert await db.fetchval("SELECT qty_on_hand FROM stock WHERE product_id = $1", product_id) == 5


@pytest.mark.parametrize("field, value", [("priority", "\u0663"), ("priority", "1_0"), ("declared_value", "\u0663"),
                                          ("declared_value", "1_000"), ("tpb_group_id", "\uff13")])
async def test_order_info_numbers_not_in_ascii_digits_are_fault_102(rpc, session, db, field, value):
    await add_product(db, "A", stock=5)
    error = await rpc.fault(session, "order.create", [None, {"A": 1}, ADDRESS, {**INFO, field: value}])
    assert_fault(error, 102, f"info.{field}: must be a number written with the digits 0-9, "
                             f"got {value!r}")
    assert await db.fetchval("SELECT count(*) FROM orders") == 0


async def test_order_info_numbers_in_ascii_digits_are_taken(rpc, session, db):
    await add_product(db, "A", stock=5)
    order = await rpc.result(session, "order.create", [None, {"A": 1}, ADDRESS,
                                                       {**INFO, "priority": " 7 ", "declared_value": "12.50",
                                                        "declared_value_service": True}])
    assert order["priority"] == 7 and order["declared_value"] == "12.50"


@pytest.mark.parametrize("weight", NOT_ASCII_NUMBERS)
async def test_product_create_refuses_a_measure_not_in_ascii_digits(rpc, session, db, weight):
    error = await rpc.fault(session, "product.create", ["W", {"name": "Widget", "weight": weight}])
    assert_fault(error, 102)
    assert "'weight' must be a number written with the digits 0-9" in error["message"], error
    assert await db.fetchval("SELECT count(*) FROM products") == 0


@pytest.mark.parametrize("method, fault, field", [("order.search", 101, "order_id"),
                                                  ("product.search", 108, "product_id")])
@pytest.mark.parametrize("value", NOT_ASCII_NUMBERS)
async def test_an_integer_filter_not_in_ascii_digits_is_the_invalid_filters_fault(rpc, session, method, fault, field,
                                                                                   value):
    error = await rpc.fault(session, method, [{field: {"eq": value}}])
    assert_fault(error, fault, f"Invalid filters given: '{field}' eq: {value!r} is not a whole number")
