"""Hostile and broken input: size and depth limits, huge strings, wrong types everywhere.

Always a JSON-RPC error with a clear message; never an HTTP 500, never fault 1 (which would
mean the server did not expect it), and the server keeps answering afterwards.
"""

from __future__ import annotations

import orjson
import pytest

from tests.api.conftest import assert_response_shape, basic

UNEXPECTED = {-32001, -32603, -32000}  # fault 1, JSON-RPC internal error, jsonrpcserver's server error
MB = 1024 * 1024

# A value of every JSON type, and some nasty strings.
ODD_VALUES = [
    0, -1, 1.5, 2**63 - 1, -(2**63), 1e308, True, False, None, "", "x", "0" * 32, [], [1], [None], [[]], {}, {"a": 1},
    {"session": None}, "\u0000", "a\u0000b", "é☃𝄞", "' OR 1=1 --", "%s%s%n", "x" * 100_000,
]


def expected_error(status, body, context):
    """The answer is a well-formed JSON-RPC response and any error is an expected one."""
    assert status == 200, (context, status, body)
    assert_response_shape(body)
    if "error" in body:
        assert body["error"]["code"] not in UNEXPECTED, (context, body)


async def still_answers(rpc, user):
    session = await rpc.login(user)
    assert [store["code"] for store in await rpc.result(session, "store.list")] == ["default"]


async def test_body_over_the_limit_is_413_with_a_json_rpc_error(make_client, users, db):
    rpc = await make_client(max_body_bytes=1000)
    user = users["merchant"]
    padding = "x" * 2000
    body = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "login", "params": [user.username, user.api_key, padding]})
    response = await rpc.client.post("/api/jsonrpc", data=body)
    assert response.status == 413
    assert response.headers["Content-Type"].startswith("application/json")
    answer = orjson.loads(await response.read())
    assert_response_shape(answer)
    assert answer["error"]["code"] == -32600
    assert answer["error"]["data"] == "the request body exceeds the limit of 1000 bytes"
    assert await db.fetchval("SELECT count(*) FROM sessions") == 0  # nothing ran
    await still_answers(rpc, user)


async def test_body_at_the_limit_is_read(make_client, users):
    rpc = await make_client(max_body_bytes=1000)
    user = users["merchant"]
    body = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "login", "params": [user.username, user.api_key]})
    body = body[:-1] + b" " * (1000 - len(body)) + b"}"
    assert len(body) == 1000
    status, answer = await rpc.post(None, raw=body)
    assert status == 200 and len(answer["result"]) == 32


async def test_chunked_body_over_the_limit_is_413(make_client, users):
    rpc = await make_client(max_body_bytes=1000)

    async def chunks():
        yield b'{"jsonrpc": "2.0", "id": 1, "method": "login", "params": ["'
        for _ in range(10):
            yield b"x" * 200
        yield b'", "k"]}'

    response = await rpc.client.post("/api/jsonrpc", data=chunks())
    assert response.status == 413
    answer = orjson.loads(await response.read())
    assert answer["error"]["code"] == -32600 and "1000 bytes" in answer["error"]["data"]
    await still_answers(rpc, users["merchant"])


def nested(depth, leaf="x"):
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


async def test_nesting_deeper_than_the_limit(make_client, users):
    rpc = await make_client(max_depth=10)
    # The request object is level 1 and params level 2: 8 more lists inside reach level 10.
    status, body = await rpc.post({"jsonrpc": "2.0", "id": 1, "method": "login", "params": [nested(8), "k"]})
    assert status == 200 and body["error"]["code"] == -32006  # past the envelope, refused by login
    status, body = await rpc.post({"jsonrpc": "2.0", "id": 1, "method": "login", "params": [nested(9), "k"]})
    assert status == 200
    assert_response_shape(body)
    assert body["error"]["code"] == -32600
    assert body["error"]["data"] == "JSON nesting exceeds the limit of 10 levels"
    # Objects count as levels too, and a batch is a level.
    deep_object = {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {}}}}}}}}}}
    status, body = await rpc.post([{"jsonrpc": "2.0", "id": 1, "method": "login", "params": deep_object}])
    assert body["error"]["code"] == -32600 and "nesting" in body["error"]["data"]
    await still_answers(rpc, users["merchant"])


async def test_default_depth_limit(shared_rpc, shared_users):
    raw = b'{"jsonrpc": "2.0", "id": 1, "method": "login", "params": ' + b"[" * 500 + b"]" * 500 + b"}"
    status, body = await shared_rpc.post(None, raw=raw)
    assert status == 200 and body["error"]["code"] == -32600
    assert body["error"]["data"] == "JSON nesting exceeds the limit of 64 levels"


@pytest.mark.parametrize(
    "raw",
    [b"[" * 100_000, b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
     b'{"jsonrpc": "2.0", "id": 1, "method": "login", "params": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"],
    ids=["open-lists", "closed-lists", "objects", "in-params"],
)
async def test_very_deep_nesting_is_a_json_rpc_error(shared_rpc, shared_users, raw):
    status, body = await shared_rpc.post(None, raw=raw)
    expected_error(status, body, "deep")
    assert body["error"]["code"] in (-32700, -32600)
    assert body["id"] is None
    await still_answers(shared_rpc, shared_users["merchant"])


async def test_huge_strings(make_client, users):
    # Past the envelope's string limit (tests/api/test_limits.py checks the limit itself):
    # every layer behind it copes with huge strings too.
    shared_rpc = await make_client(max_string_length=6 * MB)
    huge = "x" * (5 * MB)
    user = users["merchant"]
    session = await shared_rpc.login(user)
    cases = {
        "method": ({"jsonrpc": "2.0", "id": 1, "method": huge, "params": []}, -32601),
        "session": ({"jsonrpc": "2.0", "id": 1, "method": "call", "params": [huge, "store.list"]}, -32005),
        "path": ({"jsonrpc": "2.0", "id": 1, "method": "call", "params": [session, huge]}, -32003),
        "args": ({"jsonrpc": "2.0", "id": 1, "method": "call", "params": [session, "store.list", huge]}, -32602),
        "username": ({"jsonrpc": "2.0", "id": 1, "method": "login", "params": [huge, user.api_key]}, -32002),
        "api_key": ({"jsonrpc": "2.0", "id": 1, "method": "login", "params": [user.username, huge]}, -32002),
        "end_session": ({"jsonrpc": "2.0", "id": 1, "method": "endSession", "params": [huge]}, -32005),
        "multicall_path": ({"jsonrpc": "2.0", "id": 1, "method": "multiCall", "params": [session, [[huge]]]}, None),
        "jsonrpc": ({"jsonrpc": huge, "id": 1, "method": "login"}, -32600),
        "param_name": ({"jsonrpc": "2.0", "id": 1, "method": "login", "params": {huge: 1}}, -32602),
    }
    for name, (request, code) in cases.items():
        response = await shared_rpc.client.post("/api/jsonrpc", data=orjson.dumps(request))
        text = await response.read()
        body = orjson.loads(text)
        expected_error(response.status, body, name)
        # The answer does not echo the huge string back.
        assert len(text) < 10_000, (name, len(text))
        if code is not None:
            assert body["error"]["code"] == code, (name, body)
        else:
            assert body["result"] == [{"isFault": True, "faultCode": 3, "faultMessage": "Invalid api path."}]
    await still_answers(shared_rpc, user)


async def test_nul_and_odd_characters_in_credentials(shared_rpc, shared_users):
    user = shared_users["merchant"]
    for username in ("acme\u0000merchant", user.username + "\u0000", "\u0000", "acme-mérchant", "x" * 129):
        body = await shared_rpc.request("login", [username, user.api_key])
        assert body["error"]["code"] == -32002, (username, body)
        body = await shared_rpc.call(None, "store.list", headers=basic(username, user.api_key))
        assert body["error"]["code"] == -32002, (username, body)
    for key in ("\u0000", user.api_key + "\u0000", "é☃𝄞"):
        body = await shared_rpc.request("login", [user.username, key])
        assert body["error"]["code"] == -32002
    await still_answers(shared_rpc, user)


async def test_wrong_types_in_login(shared_rpc, shared_users):
    user = shared_users["merchant"]
    for value in ODD_VALUES:
        for params in ([value, user.api_key], [user.username, value], [value, value], [value],
                       {"username": value, "api_key": user.api_key}, {"username": user.username, "api_key": value}):
            status, body = await shared_rpc.post({"jsonrpc": "2.0", "id": 1, "method": "login", "params": params})
            expected_error(status, body, params)
            assert "error" in body, (params, body)
    await still_answers(shared_rpc, user)


async def test_wrong_types_in_call(shared_rpc, shared_users):
    user = shared_users["merchant"]
    session = await shared_rpc.login(user)
    for value in ODD_VALUES:
        for params in ([value, "store.list"], [session, value], [session, "store.list", value], [value, value, value],
                       [value], {"session": value, "method": "store.list"}, {"session": session, "method": value}):
            status, body = await shared_rpc.post({"jsonrpc": "2.0", "id": 1, "method": "call", "params": params})
            expected_error(status, body, params)
    await still_answers(shared_rpc, user)


async def test_wrong_types_in_multicall(shared_rpc, shared_users):
    user = shared_users["merchant"]
    session = await shared_rpc.login(user)
    for value in ODD_VALUES:
        for params in ([value, [["store.list"]]], [session, value], [session, [["store.list"]], value], [session, [value]],
                       [session, [[value]]], [session, [["store.list", value]]], [session, [[value, value]]],
                       [value, value, value]):
            status, body = await shared_rpc.post({"jsonrpc": "2.0", "id": 1, "method": "multiCall", "params": params})
            expected_error(status, body, params)
            for entry in body.get("result", []):
                if isinstance(entry, dict) and entry.get("isFault"):
                    assert entry["faultCode"] != 1, (params, entry)
    await still_answers(shared_rpc, user)


async def test_wrong_types_in_end_session(shared_rpc, shared_users):
    for value in ODD_VALUES:
        for params in ([value], {"session": value}, [value, value]):
            status, body = await shared_rpc.post({"jsonrpc": "2.0", "id": 1, "method": "endSession", "params": params})
            expected_error(status, body, params)
            assert "error" in body
    await still_answers(shared_rpc, shared_users["merchant"])


async def test_wrong_types_in_a_batch(shared_rpc, shared_users):
    user = shared_users["merchant"]
    session = await shared_rpc.login(user)
    batch = [{"jsonrpc": "2.0", "id": index, "method": "call", "params": [session, "store.list", value]}
             for index, value in enumerate(ODD_VALUES)]
    status, body = await shared_rpc.post(batch)
    assert status == 200 and len(body) == len(ODD_VALUES)
    for answer in body:
        expected_error(status, answer, answer["id"])
    await still_answers(shared_rpc, user)


@pytest.mark.parametrize(
    "headers",
    [{"Content-Type": "text/plain"}, {"Content-Type": "application/x-www-form-urlencoded"}, {"Content-Encoding": "identity"}],
    ids=["text", "form", "identity"],
)
async def test_content_type_does_not_matter(shared_rpc, shared_users, headers):
    user = shared_users["merchant"]
    body = await shared_rpc.request("login", [user.username, user.api_key], headers=headers)
    assert len(body["result"]) == 32
