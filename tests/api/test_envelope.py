"""The JSON-RPC 2.0 envelope: HTTP, the request object, ids, parse errors, params shapes."""

from __future__ import annotations

import orjson
import pytest

from tests.api.conftest import assert_response_shape

LOGIN_BAD = ["nobody", "wrong"]  # a well-formed login that fails with fault 2: no data needed


async def test_post_on_both_paths(shared_rpc, shared_users):
    for path in ("/api/jsonrpc", "/api/jsonrpc/"):
        body = {"jsonrpc": "2.0", "id": 7, "method": "login", "params": [shared_users["merchant"].username, shared_users["merchant"].api_key]}
        response = await shared_rpc.client.post(path, data=orjson.dumps(body))
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("application/json")
        answer = orjson.loads(await response.read())
        assert_response_shape(answer)
        assert answer["id"] == 7
        assert len(answer["result"]) == 32


@pytest.mark.parametrize("verb", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"])
@pytest.mark.parametrize("path", ["/api/jsonrpc", "/api/jsonrpc/"])
async def test_other_http_methods_get_405_with_allow_and_json(shared_rpc, verb, path):
    response = await shared_rpc.client.request(verb, path)
    assert response.status == 405
    assert response.headers["Allow"] == "POST"
    body = orjson.loads(await response.read())
    assert_response_shape(body)
    assert body["error"]["code"] == -32600
    assert "POST" in body["error"]["data"]


async def test_every_response_carries_a_request_id_header(shared_rpc):
    response = await shared_rpc.client.post("/api/jsonrpc", data=b"{}")
    first = response.headers["X-Request-Id"]
    response = await shared_rpc.client.post("/api/jsonrpc", data=b"{}")
    assert first and response.headers["X-Request-Id"] and first != response.headers["X-Request-Id"]


@pytest.mark.parametrize("version", ["2.0", 2.0, 2])
async def test_jsonrpc_version_string_or_number(shared_rpc, version):
    status, body = await shared_rpc.post({"jsonrpc": version, "id": 1, "method": "login", "params": LOGIN_BAD})
    assert status == 200
    assert_response_shape(body)
    assert body["jsonrpc"] == "2.0"  # always answered as the string
    assert body["error"]["code"] == -32002  # got past the envelope to login itself


async def test_jsonrpc_number_as_sent_by_the_official_docs(shared_rpc):
    # The raw text "2.0" (not produced by any serializer's round trip of a float 2).
    raw = b'{"jsonrpc": 2.0, "id": 1234, "method": "login", "params": ["nobody", "wrong"]}'
    status, body = await shared_rpc.post(None, raw=raw)
    assert status == 200 and body["id"] == 1234 and body["error"]["code"] == -32002


@pytest.mark.parametrize("literal", [b"2", b"2.0"])
async def test_login_and_call_with_a_numeric_jsonrpc_as_php_sends_it(shared_rpc, shared_users, literal):
    # PHP's json_encode writes the float 2.0 as 2; ShipStream's Zend server compares loosely
    # and accepts it, so an existing client sending it must work unchanged.
    user = shared_users["merchant"]
    raw = b'{"jsonrpc": %s, "id": 1, "method": "login", "params": ["%s", "%s"]}' % (
        literal, user.username.encode(), user.api_key.encode())
    status, body = await shared_rpc.post(None, raw=raw)
    assert status == 200
    assert_response_shape(body)
    assert body["jsonrpc"] == "2.0"  # answered as the string whatever was sent
    session = body["result"]
    assert isinstance(session, str) and len(session) == 32
    raw = b'{"jsonrpc": %s, "id": 2, "method": "call", "params": ["%s", "store.list"]}' % (literal, session.encode())
    status, body = await shared_rpc.post(None, raw=raw)
    assert status == 200
    assert_response_shape(body)
    assert body["jsonrpc"] == "2.0" and body["id"] == 2
    assert isinstance(body["result"], list)


@pytest.mark.parametrize("literal", [b"true", b"false", b"3", b"\"1.0\"", b"\"2\"", b"null", b"2.5"])
async def test_login_with_another_jsonrpc_is_refused(shared_rpc, shared_users, literal):
    user = shared_users["merchant"]
    raw = b'{"jsonrpc": %s, "id": 1, "method": "login", "params": ["%s", "%s"]}' % (
        literal, user.username.encode(), user.api_key.encode())
    status, body = await shared_rpc.post(None, raw=raw)
    assert status == 200
    assert body == {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request",
                                               "data": 'jsonrpc must be "2.0"'}, "id": None}


@pytest.mark.parametrize("version", ["1.0", "2", 2.1, 3, None, True, False, [], {}], ids=repr)
async def test_bad_jsonrpc_version_is_invalid_request(shared_rpc, version):
    status, body = await shared_rpc.post({"jsonrpc": version, "id": 1, "method": "login", "params": LOGIN_BAD})
    assert status == 200
    assert_response_shape(body)
    assert body["error"]["code"] == -32600
    assert body["error"]["message"] == "Invalid Request"
    assert body["id"] is None


async def test_missing_jsonbare_rpc_is_invalid_request(shared_rpc):
    status, body = await shared_rpc.post({"id": 1, "method": "login", "params": LOGIN_BAD})
    assert status == 200
    assert body["error"] == {"code": -32600, "message": "Invalid Request", "data": 'jsonrpc must be "2.0"'}
    assert body["id"] is None


@pytest.mark.parametrize("request_id", ["abc", "", "5f0c6b3e2a1d4", 0, 42, -7, 2**53, 1.5, -0.25, None], ids=repr)
async def test_scalar_ids_are_echoed_exactly(shared_rpc, request_id):
    status, body = await shared_rpc.post({"jsonrpc": "2.0", "id": request_id, "method": "login", "params": LOGIN_BAD})
    assert status == 200
    assert_response_shape(body)
    assert body["id"] == request_id and type(body["id"]) is type(request_id)
    assert body["error"]["code"] == -32002


@pytest.mark.parametrize("request_id", [True, False, {"a": 1}, [1], []], ids=repr)
async def test_non_scalar_ids_are_invalid_request_with_null_id(shared_rpc, request_id):
    status, body = await shared_rpc.post({"jsonrpc": "2.0", "id": request_id, "method": "login", "params": LOGIN_BAD})
    assert status == 200
    assert_response_shape(body)
    assert body["error"]["code"] == -32600
    assert body["id"] is None


@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"jsonrpc": "2.0", "id": 1, "method": "login",}', b"not json", b"", b"   ", b"\xff\xfe\xfd",
     b'{"jsonrpc": "2.0", "id": 1, "method": "\xc3\x28"}', b'{"id": "\\ud800"}', b"NaN", b"1e400"],
    ids=["truncated", "trailing-comma", "text", "empty", "blank", "invalid-utf8", "invalid-utf8-in-string",
         "lone-surrogate", "nan", "infinity"],
)
async def test_parse_errors(shared_rpc, raw):
    status, body = await shared_rpc.post(None, raw=raw)
    assert status == 200
    assert_response_shape(body)
    assert body["error"]["code"] == -32700
    assert body["error"]["message"] == "Parse error"
    assert body["id"] is None


@pytest.mark.parametrize("raw", [b"1", b'"login"', b"null", b"true"])
async def test_json_that_is_not_an_object_is_invalid_request(shared_rpc, raw):
    status, body = await shared_rpc.post(None, raw=raw)
    assert status == 200
    assert body["error"]["code"] == -32600 and body["id"] is None


@pytest.mark.parametrize("method", ["nope", "Login", "order.create", "__init__", "TOP_LEVEL", ""])
async def test_unknown_top_level_method(shared_rpc, method):
    status, body = await shared_rpc.post({"jsonrpc": "2.0", "id": 3, "method": method, "params": []})
    assert status == 200
    assert_response_shape(body)
    assert body["error"]["code"] == -32601
    assert body["error"]["message"] == "Method not found"
    assert body["id"] == 3


@pytest.mark.parametrize("method", [None, 1, ["login"], {"a": 1}, True])
async def test_method_that_is_not_a_string_is_invalid_request(shared_rpc, method):
    status, body = await shared_rpc.post({"jsonrpc": "2.0", "id": 3, "method": method, "params": []})
    assert body["error"]["code"] == -32600 and body["id"] is None


async def test_missing_method_is_invalid_request(shared_rpc):
    status, body = await shared_rpc.post({"jsonrpc": "2.0", "id": 3, "params": []})
    assert body["error"]["code"] == -32600


@pytest.mark.parametrize("params", ["abc", 1, True, None], ids=repr)
async def test_params_that_are_not_structured_are_invalid_request(shared_rpc, params):
    status, body = await shared_rpc.post({"jsonrpc": "2.0", "id": 1, "method": "login", "params": params})
    assert status == 200
    assert body["error"]["code"] == -32600
    assert body["error"]["data"] == "params must be an array or an object"


async def test_call_without_params_is_invalid_params(shared_rpc):
    status, body = await shared_rpc.post({"jsonrpc": "2.0", "id": 1, "method": "call"})
    assert status == 200
    assert_response_shape(body)
    assert body["error"]["code"] == -32602
    assert body["error"]["message"] == "Invalid params"
    assert "session" in body["error"]["data"]
    assert body["id"] == 1


async def test_too_many_positional_params_is_invalid_params(shared_rpc, shared_users):
    session = await shared_rpc.login(shared_users["merchant"])
    body = await shared_rpc.request("call", [session, "store.list", [], "surplus"])
    assert body["error"]["code"] == -32602


async def test_unknown_named_param_is_invalid_params(shared_rpc, shared_users):
    session = await shared_rpc.login(shared_users["merchant"])
    body = await shared_rpc.request("call", {"session": session, "method": "store.list", "bogus": 1})
    assert body["error"]["code"] == -32602
    assert "bogus" in body["error"]["data"]


async def test_named_params_for_top_level_methods(shared_rpc, shared_users):
    user = shared_users["merchant"]
    body = await shared_rpc.request("login", {"username": user.username, "api_key": user.api_key})
    session = body["result"]
    body = await shared_rpc.request("call", {"session": session, "method": "store.list"})
    assert [store["code"] for store in body["result"]] == ["default"]
    body = await shared_rpc.request("call", {"session": session, "method": "store.list", "args": []})
    assert [store["code"] for store in body["result"]] == ["default"]
    body = await shared_rpc.request("endSession", {"session": session})
    assert body["result"] is True


async def test_success_response_has_no_error_member(shared_rpc, shared_users):
    body = await shared_rpc.request("login", [shared_users["merchant"].username, shared_users["merchant"].api_key])
    assert set(body) == {"jsonrpc", "id", "result"}


async def test_error_response_has_no_result_member(shared_rpc):
    body = await shared_rpc.request("login", LOGIN_BAD)
    assert set(body) == {"jsonrpc", "id", "error"}


async def test_single_notification_gets_204_and_no_body(rpc, users, db):
    user = users["merchant"]
    response = await rpc.client.post(
        "/api/jsonrpc", data=orjson.dumps({"jsonrpc": "2.0", "method": "login", "params": [user.username, user.api_key]})
    )
    assert response.status == 204
    assert await response.read() == b""
    # The notification was still carried out.
    assert await db.fetchval("SELECT count(*) FROM sessions") == 1


async def test_failing_notification_gets_204_too(shared_rpc):
    for method in ("login", "nope"):
        status, body = await shared_rpc.post({"jsonrpc": "2.0", "method": method, "params": LOGIN_BAD})
        assert (status, body) == (204, None)


async def test_invalid_request_without_id_is_still_answered(shared_rpc):
    # Not a notification: a request object that is invalid gets an error with a null id.
    status, body = await shared_rpc.post({"jsonrpc": "1.0", "method": "login"})
    assert status == 200 and body["error"]["code"] == -32600 and body["id"] is None
