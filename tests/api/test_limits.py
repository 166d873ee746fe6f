"""Hard limits on input, each with a clear error: the string length per field (new here), and
the items per order made a setting. The other limits have their tests beside the feature:

- body size: tests/api/test_bad_input.py::test_body_over_the_limit_is_413_with_a_json_rpc_error
- JSON nesting depth: tests/api/test_bad_input.py::test_nesting_deeper_than_the_limit
- batch size: tests/api/test_batch.py::test_batch_over_the_limit,
  tests/api/test_multicall.py::test_over_the_limit_is_invalid_params
- orders per order.bulk_create: tests/api/test_order_bulk.py::test_more_keys_than_the_limit_is_fault_102_and_writes_nothing
- page size: tests/api/test_order_info_search.py::test_default_limit_is_50_and_at_most_100
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from rpc_fulfillment.config import Settings
from rpc_fulfillment.jsonrpc import limits
from tests.api.conftest import assert_response_shape
from tests.api.order_helpers import ADDRESS, INFO, add_product

KIB = 1024


def call(session: str | None, path: str, args: Any, request_id: Any = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "call", "params": [session, path, args]}


async def test_a_long_string_in_params_is_invalid_params_with_its_path(shared_rpc, shared_users):
    session = await shared_rpc.login(shared_users["merchant"])
    long = "x" * (64 * KIB + 1)
    args = [None, {"A": 1}, ADDRESS, {**INFO, "order_ref": long}]
    status, body = await shared_rpc.post(call(session, "order.create", args, "id-9"))
    assert status == 200
    assert_response_shape(body)
    assert body["id"] == "id-9"
    assert body["error"] == {
        "code": -32602, "message": "Invalid params",
        "data": "params[2][3].order_ref: a string of 65537 characters exceeds the limit of 65536",
    }
    # At the limit it passes the envelope (and order.create says what it thinks of it).
    args[3]["order_ref"] = "x" * (64 * KIB)
    status, body = await shared_rpc.post(call(session, "order.create", args))
    assert body["error"]["code"] == -32102 and "order_ref" in body["error"]["message"]


async def test_where_the_long_string_is(shared_rpc):
    long = "y" * (64 * KIB + 1)
    cases = [
        ({"jsonrpc": "2.0", "id": 1, "method": long}, -32600, "method: a string of"),
        ({"jsonrpc": "2.0", "id": long, "method": "login"}, -32600, "id: a string"),
        ({"jsonrpc": "2.0", "id": 1, "method": "login", "params": {long: 1}}, -32602, "params a key ('yyyy"),
        ({"jsonrpc": "2.0", "id": 1, "method": "login", "params": [long, "k"]}, -32602, "params[0]: a string"),
        ({"jsonrpc": "2.0", "id": 1, "method": "login", "params": {"api_key": long}}, -32602, "params.api_key:"),
        ({"jsonrpc": "2.0", "id": 1, "method": "call", "params": [None, "x", {"odd key!": long}]}, -32602,
         "params[2]['odd key!']:"),
    ]
    for request, code, start in cases:
        status, body = await shared_rpc.post(request)
        assert status == 200, request
        assert body["error"]["code"] == code, body
        assert body["error"]["data"].startswith(start), body
        assert len(orjson.dumps(body)) < 1000  # never echoed back
        if code == -32600:
            assert body["id"] is None


async def test_in_a_batch_only_the_entry_with_the_long_string_is_refused(shared_rpc, shared_users):
    user = shared_users["merchant"]
    long = "z" * (64 * KIB + 1)
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "login", "params": [user.username, user.api_key]},
        {"jsonrpc": "2.0", "id": 2, "method": "login", "params": [long, user.api_key]},
        {"jsonrpc": "2.0", "method": "login", "params": [long, user.api_key]},  # a notification: no answer
    ]
    status, answers = await shared_rpc.post(batch)
    assert status == 200 and len(answers) == 2
    assert len(answers[0]["result"]) == 32
    assert answers[1]["id"] == 2 and answers[1]["error"]["code"] == -32602
    assert answers[1]["error"]["data"] == "params[0]: a string of 65537 characters exceeds the limit of 65536"
    status, answer = await shared_rpc.post(batch[2])
    assert (status, answer) == (204, None)


async def test_the_string_limit_is_a_setting(make_client, users):
    rpc = await make_client(max_string_length=100)
    user = users["merchant"]
    session = await rpc.login(user)
    status, body = await rpc.post(call(session, "product.create", ["SKU", {"name": "n" * 101}]))
    assert body["error"]["data"] == "params[2][1].name: a string of 101 characters exceeds the limit of 100"
    assert await rpc.result(session, "product.create", ["SKU", {"name": "n" * 100}]) is True


async def test_file_content_has_a_limit_of_its_own(make_client, users, db):
    """Order instructions carry files in base64: far beyond the string limit, up to
    max_file_content_length."""
    rpc = await make_client(max_file_content_length=300 * KIB)
    session = await rpc.login(users["merchant"])
    await add_product(db, "A", stock=5)
    content = base64.b64encode(b"%PDF" + b"\x00" * (200 * KIB)).decode()
    assert len(content) > 64 * KIB
    instruction = {"note": "Put the label in a pouch", "file_name": "label.pdf", "file_content": content}
    order = await rpc.result(session, "order.create", [None, {"A": 1}, ADDRESS, {**INFO, "instructions": [instruction]}])
    assert order["unique_id"]
    stored = await db.fetchval("SELECT count(*) FROM orders")
    assert stored == 1
    too_big = base64.b64encode(b"\x00" * (240 * KIB)).decode()  # 327,680 characters
    instruction["file_content"] = too_big
    status, body = await rpc.post(call(session, "order.create", [None, {"A": 1}, ADDRESS, {**INFO, "instructions": [instruction]}]))
    assert body["error"]["code"] == -32602
    assert body["error"]["data"] == (
        f"params[2][3].instructions[0].file_content: a string of {len(too_big)} characters exceeds the limit of {300 * KIB}"
    )
    # The name does not free any other field.
    status, body = await rpc.post(call(session, "product.create", ["SKU", {"name": "n" * (64 * KIB + 1)}]))
    assert body["error"]["code"] == -32602


def test_scan_finds_depth_and_length_in_one_pass():
    assert limits.scan({"a": ["x" * 10]}, 3, 10, 10) is None
    assert limits.scan({"a": ["x" * 11]}, 3, 10, 10) == limits.TOO_LONG
    assert limits.scan({"a": [["x"]]}, 3, 10, 10) is None  # three levels
    assert limits.scan({"a": [[[]]]}, 3, 10, 10) == limits.TOO_DEEP
    assert limits.scan({"k" * 11: 1}, 3, 10, 10) == limits.TOO_LONG
    assert limits.scan({"file_content": "x" * 50}, 3, 12, 50) is None
    assert limits.scan({"file_content": "x" * 51}, 3, 12, 50) == limits.TOO_LONG
    assert limits.scan(["file_content", ["x" * 13]], 3, 12, 50) == limits.TOO_LONG  # only as a key
    nested: Any = "x"
    for _ in range(100_000):
        nested = [nested]
    assert limits.scan(nested, 64, 10, 10) == limits.TOO_DEEP  # no recursion
    found = limits.find_long_string({"params": [1, {"a": ["ok", "x" * 11]}]}, 64, 10, 10)
    assert found is not None and found.path == "params[1].a[1]" and found.in_params


def test_default_limits():
    settings = Settings()
    assert (settings.max_string_length, settings.max_file_content_length) == (65536, 10 * 1024 * 1024)
    assert settings.max_order_items == 1000
    assert settings.max_file_content_length < settings.max_body_bytes


# ------------------------------------------------------------------------ items per order


async def test_items_per_order_is_a_setting(make_client, users, db):
    rpc = await make_client(max_order_items=3)
    session = await rpc.login(users["merchant"])
    for sku in "ABCD":
        await add_product(db, sku, stock=5)
    error = await rpc.fault(session, "order.create", [None, {"A": 1, "B": 1, "C": 1, "D": 1}, ADDRESS, INFO])
    assert (error["code"], error["message"]) == (-32102, "items: at most 3 items per order, got 4")
    order = await rpc.result(session, "order.create", [None, {"A": 1, "B": 1, "C": 1}, ADDRESS, INFO])
    assert order["unique_id"]
    result = await rpc.result(session, "order.bulk_create", [{
        "big": [None, {"A": 1, "B": 1, "C": 1, "D": 1}, ADDRESS, INFO],
        "small": [None, {"A": 1}, ADDRESS, INFO],
    }])
    assert result["big"]["error"]["message"] == "items: at most 3 items per order, got 4"
    assert "error" not in result["small"]
    assert await db.fetchval("SELECT count(*) FROM orders") == 2


async def test_default_items_per_order(shared_rpc, shared_users):
    session = await shared_rpc.login(shared_users["merchant"])
    items = {f"SKU-{n}": 1 for n in range(1001)}
    error = await shared_rpc.fault(session, "order.create", [None, items, ADDRESS, INFO])
    assert error["message"] == "items: at most 1000 items per order, got 1001"
