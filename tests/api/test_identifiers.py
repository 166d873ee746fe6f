"""Identifiers merchants choose (SKUs, vendor SKUs, order unique_id, order_ref, order_item_ref):
stored in Unicode NFC, so that the precomposed and the decomposed spelling of a name are one
record; looked up in NFC too (info, lists, search filters), so that either spelling finds it; and
never holding a character nobody sees (controls, zero-width and bidi formatting characters):
those are the method's invalid-data fault naming the field, and nothing is written."""

from __future__ import annotations

import pytest

from tests.api.order_helpers import ADDRESS, INFO, add_product, assert_fault

COMPOSED = "Caf\u00e9-1"  # NFC: e with acute accent, one code point
DECOMPOSED = "Cafe\u0301-1"  # NFD: e, then the combining acute accent
INVISIBLE = {
    "zero-width space": "\u200b", "zero-width non-joiner": "\u200c", "zero-width joiner": "\u200d",
    "word joiner": "\u2060", "byte order mark": "\ufeff", "left-to-right mark": "\u200e",
    "right-to-left override": "\u202e", "left-to-right isolate": "\u2066", "pop directional isolate": "\u2069",
    "line separator": "\u2028", "bell": "\u0007",
}
# product.create refused controls before this rule, with a message of its own
NOT_CONTROLS = {name: char for name, char in INVISIBLE.items() if name != "bell"}


def invisible_at_3(char: str) -> str:
    return f"must not contain invisible or control characters (U+{ord(char):04X} at position 3)"


@pytest.fixture
async def session(rpc, users):
    return await rpc.login(users["merchant"])


async def test_the_two_spellings_of_a_sku_are_one_product(rpc, session, db):
    assert await rpc.result(session, "product.create", [DECOMPOSED, {"name": "Coffee"}]) is True
    error = await rpc.fault(session, "product.create", [COMPOSED, {"name": "Coffee again"}])
    assert_fault(error, 107)
    assert await db.fetch("SELECT sku FROM products") == [(COMPOSED,)]
    assert (await rpc.result(session, "product.info", [DECOMPOSED]))["sku"] == COMPOSED
    assert await rpc.result(session, "product.update", [DECOMPOSED, {"name": "Espresso"}]) is True
    found = await rpc.result(session, "product.search", [{"sku": {"eq": DECOMPOSED}}])
    assert [product["name"] for product in found] == ["Espresso"]


async def test_the_two_spellings_of_a_unique_id_are_one_order(rpc, session, db):
    await add_product(db, COMPOSED, stock=10)
    created = await rpc.result(session, "order.create", [None, [{"sku": DECOMPOSED, "qty": 1}], ADDRESS,
                                                         {**INFO, "unique_id": DECOMPOSED, "order_ref": DECOMPOSED}])
    assert created["unique_id"] == COMPOSED
    again = await rpc.fault(session, "order.create", [None, {COMPOSED: 1}, ADDRESS, {**INFO, "unique_id": COMPOSED}])
    assert_fault(again, 104)
    assert await db.fetch("SELECT unique_id, order_ref FROM orders") == [(COMPOSED, COMPOSED)]
    assert (await rpc.result(session, "order.info", [DECOMPOSED]))["unique_id"] == COMPOSED
    for field in ("unique_id", "order_ref", "sku"):
        found = await rpc.result(session, "order.search", [{field: {"eq": DECOMPOSED}}])
        assert found["totalCount"] == 1, field


async def test_inventory_finds_a_sku_by_either_spelling(rpc, users, db):
    await add_product(db, COMPOSED, stock=10)
    session = await rpc.login(users["warehouse"])
    listed = await rpc.result(session, "inventory.list", [[DECOMPOSED]])
    assert [item["sku"] for item in listed] == [COMPOSED]
    adjusted = await rpc.result(session, "inventory.adjust", [DECOMPOSED, 1, 5])
    assert adjusted["sku"] == COMPOSED
    assert await db.fetchval("SELECT qty_on_hand FROM stock") == 15


@pytest.mark.parametrize("char", NOT_CONTROLS.values(), ids=NOT_CONTROLS.keys())
async def test_a_sku_with_an_invisible_character_is_fault_102(rpc, session, db, char):
    error = await rpc.fault(session, "product.create", [f"AB{char}C", {"name": "Widget"}])
    assert_fault(error, 102, f"Invalid data given: 'sku' {invisible_at_3(char)}")
    error = await rpc.fault(session, "product.create", ["ABC", {"name": "Widget", "vendor_sku": f"V-{char}1"}])
    assert_fault(error, 102, f"Invalid data given: 'vendor_sku' {invisible_at_3(char)}")
    assert await db.fetchval("SELECT count(*) FROM products") == 0


@pytest.mark.parametrize("char", INVISIBLE.values(), ids=INVISIBLE.keys())
@pytest.mark.parametrize("field", ["unique_id", "order_ref"])
async def test_an_order_identifier_with_an_invisible_character_is_fault_102(rpc, session, db, char, field):
    await add_product(db, "A", stock=5)
    error = await rpc.fault(session, "order.create", [None, {"A": 1}, ADDRESS, {**INFO, field: f"OR{char}1"}])
    assert_fault(error, 102, f"info.{field}: {invisible_at_3(char)}")
    assert await db.fetchval("SELECT count(*) FROM orders") == 0


async def test_an_order_item_sku_with_an_invisible_character_is_fault_102(rpc, session, db):
    await add_product(db, "AB", stock=5)
    error = await rpc.fault(session, "order.create", [None, [{"sku": "AB\u200b", "qty": 1}], ADDRESS, INFO])
    assert_fault(error, 102, f"items[0].sku: {invisible_at_3(chr(0x200B))}")
    assert await db.fetchval("SELECT count(*) FROM orders") == 0
