"""login, sessions, HTTP Basic with a null session, endSession; secrets stored only as hashes."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re

import pytest

from tests.api.conftest import basic

ACCESS_DENIED = {"code": -32002, "message": "Access denied."}
SESSION_EXPIRED = {"code": -32005, "message": "Session expired. Try to relogin."}
MISSING = {"code": -32006, "message": 'Required parameter is missing, for more details see "exception.log".'}


def code_and_message(error):
    return {"code": error["code"], "message": error["message"]}


async def test_login_returns_a_32_hex_session(rpc, users, db):
    body = await rpc.request("login", [users["merchant"].username, users["merchant"].api_key])
    session = body["result"]
    assert re.fullmatch(r"[0-9a-f]{32}", session), session
    assert await db.fetchval("SELECT count(*) FROM sessions") == 1
    assert session != await rpc.login(users["merchant"])  # a new session every time


@pytest.mark.parametrize("which", ["wrong-key", "unknown-user", "other-users-key", "key-case", "revoked"])
async def test_login_with_wrong_credentials_is_access_denied(rpc, users, db, which):
    user = users["merchant"]
    username, key = {
        "wrong-key": (user.username, "0" * 40),
        "unknown-user": ("nobody", user.api_key),
        "other-users-key": (user.username, users["other"].api_key),
        "key-case": (user.username, user.api_key.upper()),
        "revoked": (user.username, user.api_key),
    }[which]
    if which == "revoked":
        await db.execute("UPDATE api_users SET revoked_at = now() WHERE username = $1", user.username)
    body = await rpc.request("login", [username, key])
    assert body["error"]["code"] == -32002
    assert body["error"]["message"] == "Access denied."
    assert await db.fetchval("SELECT count(*) FROM sessions") == 0


@pytest.mark.parametrize(
    "params",
    [[], ["acme-merchant"], ["", "key"], ["acme-merchant", ""], [None, "key"], ["acme-merchant", None], [None, None],
     {"username": "acme-merchant"}, {"api_key": "key"}],
    ids=repr,
)
async def test_login_with_missing_username_or_key_is_fault_6(shared_rpc, params):
    body = await shared_rpc.request("login", params)
    assert code_and_message(body["error"]) == MISSING


async def test_call_with_a_session(shared_rpc, shared_users):
    session = await shared_rpc.login(shared_users["merchant"])
    stores = await shared_rpc.result(session, "store.list")
    assert [store["code"] for store in stores] == ["default"]


@pytest.mark.parametrize(
    "session",
    ["0" * 32, "f" * 32, "not a session", "", "A" * 32, "0" * 31, "0" * 33, "0" * 32 + "\n"],
    ids=repr,
)
async def test_unknown_session_is_fault_5(shared_rpc, session):
    error = await shared_rpc.fault(session, "store.list")
    assert code_and_message(error) == SESSION_EXPIRED


async def test_session_in_upper_case_is_not_the_session(shared_rpc, shared_users):
    session = await shared_rpc.login(shared_users["merchant"])
    assert code_and_message(await shared_rpc.fault(session.upper(), "store.list")) == SESSION_EXPIRED


async def test_null_session_without_basic_is_fault_5(shared_rpc):
    error = await shared_rpc.fault(None, "store.list")
    assert code_and_message(error) == SESSION_EXPIRED


async def test_null_session_with_another_scheme_is_fault_5(shared_rpc):
    body = await shared_rpc.call(None, "store.list", headers={"Authorization": "Bearer abc"})
    assert code_and_message(body["error"]) == SESSION_EXPIRED


async def test_null_session_with_basic_credentials(rpc, users, db):
    user = users["merchant"]
    body = await rpc.call(None, "store.list", headers=basic(user.username, user.api_key))
    assert [store["code"] for store in body["result"]] == ["default"]
    # Basic logs in for this request only: no session is created.
    assert await db.fetchval("SELECT count(*) FROM sessions") == 0


async def test_null_session_with_basic_credentials_and_no_args(shared_rpc, shared_users):
    # The documented curl example: params [null, "warehouse.list", []].
    user = shared_users["warehouse"]
    body = await shared_rpc.call(None, "warehouse.list", [], headers=basic(user.username, user.api_key))
    assert [w["name"] for w in body["result"]] == ["Main Warehouse"]


@pytest.mark.parametrize("which", ["wrong-key", "unknown-user", "empty-key"])
async def test_wrong_basic_credentials_are_access_denied(shared_rpc, shared_users, which):
    user = shared_users["merchant"]
    username, key = {
        "wrong-key": (user.username, "0" * 40),
        "unknown-user": ("nobody", user.api_key),
        "empty-key": (user.username, ""),
    }[which]
    body = await shared_rpc.call(None, "store.list", headers=basic(username, key))
    assert code_and_message(body["error"]) == ACCESS_DENIED


@pytest.mark.parametrize(
    "header",
    ["Basic", "Basic ", "Basic !!!not-base64!!!", "Basic " + base64.b64encode(b"no-colon").decode(),
     "Basic " + base64.b64encode(b"\xff\xfe:key").decode(), "Basic " + base64.b64encode(b":key").decode(),
     "basic " + base64.b64encode(b"user").decode()],
    ids=["no-credentials", "empty", "not-base64", "no-colon", "not-utf8", "empty-username", "lowercase-no-colon"],
)
async def test_malformed_basic_header_is_access_denied(shared_rpc, header):
    body = await shared_rpc.call(None, "store.list", headers={"Authorization": header})
    assert code_and_message(body["error"]) == ACCESS_DENIED


async def test_basic_is_ignored_when_a_session_is_given(shared_rpc, shared_users):
    session = await shared_rpc.login(shared_users["merchant"])
    body = await shared_rpc.call(session, "store.list", headers=basic("nobody", "wrong"))
    assert "result" in body, body
    body = await shared_rpc.call("0" * 32, "store.list", headers=basic(shared_users["merchant"].username, shared_users["merchant"].api_key))
    assert code_and_message(body["error"]) == SESSION_EXPIRED


async def test_session_expires_after_its_lifetime(make_client, users, db):
    rpc = await make_client(session_lifetime=1)
    session = await rpc.login(users["merchant"])
    assert await rpc.result(session, "store.list")
    await asyncio.sleep(1.5)
    assert code_and_message(await rpc.fault(session, "store.list")) == SESSION_EXPIRED
    assert code_and_message((await rpc.request("endSession", [session]))["error"]) == SESSION_EXPIRED
    # A new login works at once.
    assert await rpc.result(await rpc.login(users["merchant"]), "store.list")


async def test_default_session_lifetime_is_24_hours(rpc, users, db):
    await rpc.login(users["merchant"])
    seconds = await db.fetchval("SELECT extract(epoch FROM expires_at - created_at) FROM sessions")
    assert abs(float(seconds) - 86400) < 5


async def test_end_session(rpc, users, db):
    session = await rpc.login(users["merchant"])
    other = await rpc.login(users["merchant"])
    body = await rpc.request("endSession", [session])
    assert body["result"] is True
    assert code_and_message(await rpc.fault(session, "store.list")) == SESSION_EXPIRED
    assert code_and_message((await rpc.request("endSession", [session]))["error"]) == SESSION_EXPIRED
    # Only that session ended.
    assert await rpc.result(other, "store.list")
    assert await db.fetchval("SELECT count(*) FROM sessions") == 1


@pytest.mark.parametrize("session", ["0" * 32, "nope", None, "", 5, [], {}], ids=repr)
async def test_end_unknown_session_is_fault_5(shared_rpc, session):
    body = await shared_rpc.request("endSession", [session])
    assert code_and_message(body["error"]) == SESSION_EXPIRED


async def test_sessions_of_one_user_are_not_another_users(shared_rpc, shared_users):
    merchant = await shared_rpc.login(shared_users["merchant"])
    other = await shared_rpc.login(shared_users["other"])
    mine = await shared_rpc.result(merchant, "store.list")
    theirs = await shared_rpc.result(other, "store.list")
    assert {s["store_id"] for s in mine}.isdisjoint({s["store_id"] for s in theirs})


async def test_sessions_are_stored_only_as_hashes(rpc, users, db):
    session = await rpc.login(users["merchant"])
    rows = await db.fetch("SELECT s::text AS text, session_hash FROM sessions s")
    assert len(rows) == 1
    assert session not in rows[0]["text"]
    assert session.encode() not in rows[0]["session_hash"]
    assert bytes(rows[0]["session_hash"]) == hashlib.sha256(session.encode()).digest()
    assert session not in rows[0]["session_hash"].hex()
    # Nothing else in the database holds it either.
    dump = await db.fetchval(
        "SELECT string_agg(t::text, ' ') FROM (SELECT s::text FROM sessions s UNION ALL SELECT u::text FROM api_users u) t"
    )
    assert session not in dump


async def test_api_keys_are_stored_only_as_hashes(users, db):
    for user in users.values():
        row = await db.fetchrow("SELECT u::text AS text, key_hash FROM api_users u WHERE username = $1", user.username)
        assert user.api_key not in row["text"]
        assert bytes(row["key_hash"]) == hashlib.sha256(user.api_key.encode()).digest()
        assert re.fullmatch(r"[0-9a-f]{40}", user.api_key)
