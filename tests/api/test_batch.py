"""JSON-RPC 2.0 batches (specification §6), which ShipStream itself does not support."""

from __future__ import annotations

from tests.api.conftest import assert_response_shape

BAD_LOGIN = ["nobody", "wrong"]


def req(request_id, method="login", params=BAD_LOGIN):
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


def note(method="login", params=BAD_LOGIN):
    return {"jsonrpc": "2.0", "method": method, "params": params}


async def test_empty_batch_is_one_invalid_request_object(shared_rpc):
    status, body = await shared_rpc.post([])
    assert status == 200
    assert isinstance(body, dict), body  # an object, not an array
    assert_response_shape(body)
    assert body["error"]["code"] == -32600
    assert body["id"] is None


async def test_batch_of_non_objects_gets_one_invalid_request_each(shared_rpc):
    status, body = await shared_rpc.post([1, 2, 3])
    assert status == 200
    assert isinstance(body, list) and len(body) == 3
    for answer in body:
        assert_response_shape(answer)
        assert answer["error"]["code"] == -32600
        assert answer["error"]["message"] == "Invalid Request"
        assert answer["id"] is None


async def test_batch_with_one_invalid_entry(shared_rpc):
    status, body = await shared_rpc.post([1])
    assert status == 200 and isinstance(body, list) and len(body) == 1
    assert body[0]["error"]["code"] == -32600


async def test_mixed_batch_answers_every_non_notification(shared_rpc, shared_users):
    user = shared_users["merchant"]
    batch = [
        req("good", params=[user.username, user.api_key]),
        req(2),  # fails: wrong credentials
        note(params=[user.username, user.api_key]),  # notification: no answer
        {"jsonrpc": "1.0", "id": 4, "method": "login"},  # invalid: answered with a null id
        req(5, method="nope"),  # unknown method
        "text",  # not an object
        note(method="nope"),  # notification for an unknown method: no answer
        req(None, params=[user.username, user.api_key]),  # id null is a request, not a notification
    ]
    status, body = await shared_rpc.post(batch)
    assert status == 200
    assert isinstance(body, list)
    assert len(body) == 6, body
    for answer in body:
        assert_response_shape(answer)
    by_id = {}
    for answer in body:
        by_id.setdefault(answer["id"], []).append(answer)
    assert len(by_id["good"][0]["result"]) == 32
    assert by_id[2][0]["error"]["code"] == -32002
    assert by_id[5][0]["error"]["code"] == -32601
    nulls = by_id[None]
    assert sorted(a.get("error", {}).get("code", 0) for a in nulls) == [-32600, -32600, 0]
    assert len([a for a in nulls if "result" in a][0]["result"]) == 32


async def test_batch_answers_in_request_order(shared_rpc, shared_users):
    user = shared_users["merchant"]
    batch = [req(i, params=[user.username, user.api_key] if i % 2 else BAD_LOGIN) for i in range(10)]
    status, body = await shared_rpc.post(batch)
    assert [answer["id"] for answer in body] == list(range(10))
    assert ["result" in answer for answer in body] == [bool(i % 2) for i in range(10)]


async def test_batch_of_notifications_gets_204_and_no_body(rpc, users, db):
    user = users["merchant"]
    response = await rpc.client.post(
        "/api/jsonrpc",
        data=__import__("orjson").dumps([note(params=[user.username, user.api_key]), note(), note(method="nope")]),
    )
    assert response.status == 204
    assert await response.read() == b""
    assert await db.fetchval("SELECT count(*) FROM sessions") == 1  # the notifications ran


async def test_batch_over_the_limit(make_client, users, db):
    rpc = await make_client(max_batch=3)
    user = users["merchant"]
    ok = [req(i, params=[user.username, user.api_key]) for i in range(3)]
    status, body = await rpc.post(ok)
    assert status == 200 and len(body) == 3 and all("result" in answer for answer in body)

    status, body = await rpc.post(ok + [req(3, params=[user.username, user.api_key])])
    assert status == 200
    assert isinstance(body, dict), body
    assert_response_shape(body)
    assert body["error"]["code"] == -32600
    assert body["error"]["data"] == "a batch of 4 requests exceeds the limit of 3"
    assert body["id"] is None
    # Nothing in the refused batch ran.
    assert await db.fetchval("SELECT count(*) FROM sessions") == 3


async def test_batch_calls_share_nothing_but_the_session(shared_rpc, shared_users):
    session = await shared_rpc.login(shared_users["merchant"])
    batch = [req(i, method="call", params=[session, "store.list"]) for i in range(5)]
    status, body = await shared_rpc.post(batch)
    assert status == 200
    assert [[store["code"] for store in answer["result"]] for answer in body] == [["default"]] * 5
