"""U+0000 in a string: JSON allows it, PostgreSQL text and jsonb do not. Found by the fuzz suite
(tests/fuzz): such a call was fault 1. It is a clear -32602 now, and changes nothing; in an
order's arguments it is fault 102 naming the field, so that in order.bulk_create only that
order fails."""

from __future__ import annotations

import pytest

from tests.api.order_helpers import ADDRESS, INFO, add_product, check_invariants, snapshot

NUL = "a\u0000b"


@pytest.fixture
async def session(rpc, users, db):
    await add_product(db, "A", stock=10)
    return await rpc.login(users["admin"])


def assert_nul_refused(error: dict) -> None:
    assert error["code"] == -32602, error
    assert "NUL" in error["data"], error


@pytest.mark.parametrize(
    "path, args",
    [
        ("order.info", [NUL]),  # a lookup
        ("product.info", [NUL]),
        ("inventory.list", [[NUL]]),
    ],
)
async def test_nul_is_invalid_params_and_changes_nothing(rpc, session, db, path, args):
    before = await snapshot(db)
    assert_nul_refused(await rpc.fault(session, path, args))
    assert await snapshot(db) == before
    await check_invariants(db)


@pytest.mark.parametrize(
    "args, field",
    [
        ([None, {"A": 1}, {**ADDRESS, "company": NUL}, INFO], "address.company"),  # a text column
        ([None, {"A": 1}, ADDRESS, {**INFO, "custom_fields": {"x": NUL}}], "info.custom_fields.x"),  # jsonb
        ([None, {"A": 1}, ADDRESS, {**INFO, "custom_fields": {NUL: 1}}], "info.custom_fields.a\\u0000b"),  # a key
        ([None, [{"sku": "A", "qty": 1, "order_item_ref": NUL}], ADDRESS, INFO], "items[0].order_item_ref"),
        ([NUL, {"A": 1}, ADDRESS, INFO], "storeCode"),
    ],
)
async def test_nul_in_an_order_is_fault_102_naming_the_field(rpc, session, db, args, field):
    before = await snapshot(db)
    error = await rpc.fault(session, "order.create", args)
    assert error["code"] == -32102, error
    assert error["message"] == f"{field}: text may not contain the NUL character (\\u0000)", error
    assert await snapshot(db) == before


async def test_nul_in_one_order_of_a_bulk_fails_only_that_order(rpc, session, db):
    result = await rpc.result(session, "order.bulk_create", [{
        "good": [None, {"A": 1}, ADDRESS, INFO],
        "nul": [None, {"A": 1}, ADDRESS, {**INFO, "custom_fields": {"x": NUL}}],
        "also good": [None, {"A": 2}, ADDRESS, INFO],
    }])
    assert result["nul"] == {"error": {"code": -32102, "message": "info.custom_fields.x: text may not contain the NUL "
                                                                  "character (\\u0000)"}}
    assert [result[key]["status"] for key in ("good", "also good")] == ["new", "new"]
    assert await db.fetchval("SELECT count(*) FROM orders") == 2
    await check_invariants(db)


async def test_nul_in_a_multicall_entry_is_that_entry_s_fault(rpc, session):
    body = await rpc.request("multiCall", [session, [["order.info", [NUL]], ["store.list"]]])
    failed, listed = body["result"]
    assert failed["isFault"] is True and failed["faultCode"] == -32602, failed
    assert "NUL" in failed["faultMessage"]
    assert isinstance(listed, list)
