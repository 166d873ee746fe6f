"""log.write (ShipStream log.md): the docs' example, what is stored, refusals, tenancy, and
the retention of a merchant's newest entries."""

from __future__ import annotations

import pytest

from rpc_fulfillment.merchant_log import rules as log_rules
from tests.api.order_helpers import assert_fault

DOCS_EXAMPLE = {
    "store_id": 1,
    "facility": "Submit Order",
    "entity": "100000005",
    "severity": "info",
    "message": "Submitted order # 10000001",
    "detail": "Additional information about the order could be here",
}


async def log_rows(db) -> list[dict]:
    rows = await db.fetch(
        """SELECT m.code AS merchant, u.username, l.store_id, l.facility, l.entity, l.severity, l.message, l.detail
           FROM merchant_log l JOIN merchants m USING (merchant_id) JOIN api_users u USING (api_user_id) ORDER BY log_id"""
    )
    return [dict(row) for row in rows]


async def store_id_of(db, merchant: str) -> int:
    return await db.fetchval(
        "SELECT store_id FROM stores JOIN merchants USING (merchant_id) WHERE merchants.code = $1 AND is_default", merchant
    )


@pytest.fixture
async def session(rpc, users):
    return await rpc.login(users["merchant"])


async def test_the_docs_example(rpc, session, users, db):
    store_id = await store_id_of(db, "acme")
    body = await rpc.request("call", [session, "log.write", {**DOCS_EXAMPLE, "store_id": store_id}])
    assert body["result"] is True
    assert await log_rows(db) == [{**DOCS_EXAMPLE, "store_id": store_id, "merchant": "acme",
                                   "username": users["merchant"].username}]


async def test_only_message_is_required(rpc, session, db):
    assert await rpc.result(session, "log.write", [{"message": "hello"}]) is True
    assert await rpc.result(session, "log.write", [{"message": "n", "entity": 100000005, "severity": None}]) is True
    rows = await log_rows(db)
    assert [(row["severity"], row["entity"], row["store_id"], row["facility"]) for row in rows] == [
        ("info", None, None, None), ("info", "100000005", None, None)]


@pytest.mark.parametrize("data, detail", [
    ("text", "logData: must be an object such as {\"severity\": \"info\", \"message\": \"...\"}"),
    ([], "logData: must be an object such as {\"severity\": \"info\", \"message\": \"...\"}"),
    ({}, "logData.message: is required"),
    ({"message": ""}, "logData.message: is required"),
    ({"message": "m", "level": "info", "when": 1}, "logData.level: unknown property; logData.when: unknown property"),
    ({"message": "m", "severity": "warning"}, "logData.severity: must be one of debug, info, warn, error, got 'warning'"),
    ({"message": "m", "facility": "f" * 33}, "logData.facility: at most 32 characters, got 33"),
    ({"message": "m" * 256}, "logData.message: at most 255 characters, got 256"),
    ({"message": "m", "detail": "d" * 2049}, "logData.detail: at most 2048 characters, got 2049"),
    ({"message": "m", "entity": {"id": 1}}, "logData.entity: must be a string"),
    ({"message": "m", "store_id": "one"}, "logData.store_id: must be a store id (a positive whole number), got 'one'"),
    ({"message": "m", "store_id": 0}, "logData.store_id: must be a store id (a positive whole number), got '0'"),
    ({"message": "m", "store_id": 999999}, "logData.store_id: the merchant has no store 999999"),
    ({"message": "a\x00b"}, "logData.message: must not contain a NUL character"),
], ids=lambda value: repr(value)[:40])
async def test_bad_log_data_is_fault_100_and_writes_nothing(rpc, session, db, data, detail):
    error = (await rpc.request("call", [session, "log.write", [data]]))["error"]
    assert_fault(error, 100, f"Invalid data given: {detail}")
    assert await log_rows(db) == []


async def test_the_longest_texts_are_stored(rpc, session, db):
    data = {"message": "m" * 255, "facility": "f" * 32, "detail": "d" * 2048, "entity": "e" * 255, "severity": "debug"}
    assert await rpc.result(session, "log.write", [data]) is True
    [row] = await log_rows(db)
    assert {key: row[key] for key in data} == data


async def test_a_store_of_another_merchant_is_refused_as_a_missing_one(rpc, users, db):
    acme = await rpc.login(users["merchant"])
    other_store = await store_id_of(db, "other")
    error = await rpc.fault(acme, "log.write", [{"message": "m", "store_id": other_store}])
    assert_fault(error, 100, f"Invalid data given: logData.store_id: the merchant has no store {other_store}")
    assert await log_rows(db) == []


async def test_each_merchant_keeps_its_newest_entries(rpc, users, db, monkeypatch):
    monkeypatch.setattr(log_rules, "KEEP_PER_MERCHANT", 3)
    acme = await rpc.login(users["merchant"])
    other = await rpc.login(users["other"])
    await rpc.result(other, "log.write", [{"message": "other 1"}])
    for number in range(1, 6):
        assert await rpc.result(acme, "log.write", [{"message": f"acme {number}"}]) is True
    assert [row["message"] for row in await log_rows(db)] == ["other 1", "acme 3", "acme 4", "acme 5"]
