"""U+0000 in a string: JSON allows it, PostgreSQL text and jsonb do not. Found by the fuzz suite
(tests/fuzz): such a call was fault 1. It is a clear -32602 now, and changes nothing."""

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
        ("order.create", [None, {"A": 1}, {**ADDRESS, "company": NUL}, INFO]),  # a text column
        ("order.create", [None, {"A": 1}, ADDRESS, {**INFO, "custom_fields": {"x": NUL}}]),  # jsonb
        ("order.create", [None, {"A": 1}, ADDRESS, {**INFO, "custom_fields": {NUL: 1}}]),  # a jsonb key
        ("order.bulk_create", [[[None, {"A": 1}, ADDRESS, {**INFO, "custom_fields": {"x": NUL}}]]]),
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


async def test_nul_in_a_multicall_entry_is_that_entry_s_fault(rpc, session):
    body = await rpc.request("multiCall", [session, [["order.info", [NUL]], ["store.list"]]])
    failed, listed = body["result"]
    assert failed["isFault"] is True and failed["faultCode"] == -32602, failed
    assert "NUL" in failed["faultMessage"]
    assert isinstance(listed, list)
