"""rpc_fulfillment.client against the real server listening on 127.0.0.1: login and session
reuse, logging in again after endSession or expiry, fault mapping with data, Basic mode,
protocol errors; retries on 429/409 with Retry-After against a small fake endpoint."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web

from rpc_fulfillment.client import (
    AccessDenied,
    AlreadyExists,
    AsyncClient,
    Client,
    HttpError,
    InvalidApiPath,
    InvalidData,
    NotFound,
    ProtocolError,
    RequiredParameterMissing,
    RpcFault,
    SessionExpired,
    TransportError,
    bulk_errors,
    fault_from_error,
)
from tests.api.live_server import *  # noqa: F403 (the fixtures live, serve_in_thread...)
from tests.api.order_helpers import ADDRESS, INFO


def client_for(live: Any, label: str = "merchant", **options: Any) -> Client:
    user = live.users[label]
    return Client(live.url, user.username, user.api_key, **options)


def stock(live: Any, sku: str, qty: int) -> None:
    """A product of merchant acme with ``qty`` units in warehouse 1 (through the API)."""
    with client_for(live, "admin") as admin:
        admin.call("product.create", [sku, {"name": sku.title()}])
        admin.call("inventory.adjust", [sku, 1, qty, "test stock"])


def sessions(live: Any) -> int:
    return live.value("SELECT count(*) FROM sessions")


# ---------------------------------------------------------------------------- sessions


def test_logs_in_once_and_keeps_the_session(live):
    with client_for(live) as client:
        assert client.session is None
        assert [s["code"] for s in client.call("store.list")] == ["default"]
        session = client.session
        assert session is not None and len(session) == 32
        client.call("warehouse.list")
        client.call("store.list", None)  # a null argument is accepted too
        assert client.session == session
        assert sessions(live) == 1


def test_logs_in_again_after_end_session_elsewhere(live):
    with client_for(live) as client:
        client.call("store.list")
        old = client.session
        # Someone ends the session behind the client's back (another process, an operator).
        body = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "endSession", "params": [old]})
        assert httpx.post(live.url, content=body).json()["result"] is True
        assert client.call("store.list")[0]["code"] == "default"
        assert client.session not in (None, old)


def test_logs_in_again_after_expiry(live):
    with client_for(live) as client:
        client.call("store.list")
        old = client.session
        live.query("UPDATE sessions SET expires_at = now() - interval '1 second'")
        client.call("store.list")
        assert client.session != old


def test_end_session_then_a_call_logs_in_again(live):
    with client_for(live) as client:
        client.call("store.list")
        assert client.end_session() is True
        assert client.session is None
        assert sessions(live) == 0
        client.call("store.list")
        assert sessions(live) == 1
        assert client.end_session() is True
        assert client.end_session() is False  # no session left to end
        client.call("store.list")
        live.query("DELETE FROM sessions")
        assert client.end_session() is False  # expired already


def test_logs_in_again_only_once(live, monkeypatch):
    """A session that keeps expiring: one new login, then the fault is raised."""
    with client_for(live) as client:
        client.call("store.list")
        logins = []
        real_login = client.login

        def login_then_expire() -> str:
            session = real_login()
            logins.append(session)
            live.query("DELETE FROM sessions")
            return session

        monkeypatch.setattr(client, "login", login_then_expire)
        live.query("DELETE FROM sessions")
        with pytest.raises(SessionExpired) as caught:
            client.call("store.list")
        assert len(logins) == 1
        assert caught.value.fault == 5 and caught.value.code == -32005
        assert caught.value.message == "Session expired. Try to relogin."


def test_wrong_key_is_access_denied(live):
    with Client(live.url, live.users["merchant"].username, "0" * 40) as client:
        with pytest.raises(AccessDenied) as caught:
            client.call("store.list")
    assert (caught.value.fault, caught.value.message) == (2, "Access denied.")


# ---------------------------------------------------------------------------- basic mode


def test_basic_mode_uses_no_session(live):
    with client_for(live, basic=True) as client:
        assert client.call("store.list")[0]["code"] == "default"
        assert client.order.search()["totalCount"] == 0
        assert client.session is None
    assert sessions(live) == 0


def test_basic_mode_wrong_key_and_no_relogin(live):
    user = live.users["merchant"]
    with Client(live.url, user.username, "wrong", basic=True) as client:
        with pytest.raises(AccessDenied):
            client.call("store.list")


# ------------------------------------------------------------------------- fault mapping


def test_faults_carry_number_message_data_and_method(live):
    stock(live, "MUG", 5)
    with client_for(live) as client:
        with pytest.raises(InvalidApiPath) as caught:
            client.call("nothing.here")
        assert (caught.value.fault, caught.value.code) == (3, -32003)
        assert caught.value.data == "unknown api path 'nothing.here'"
        with pytest.raises(NotFound) as caught:
            client.order.info("no-such-order")
        assert (caught.value.fault, caught.value.method) == (100, "order.info")
        assert caught.value.message == "Requested order does not exist."
        with pytest.raises(RpcFault) as caught:  # 107 on an order: product does not exist, with data
            client.order.create({"NOPE": 1}, ADDRESS, INFO)
        assert (caught.value.fault, caught.value.data) == (107, {"sku": "NOPE"})
        with pytest.raises(InvalidData) as caught:
            client.order.create({"MUG": 1}, ADDRESS, {**INFO, "priority": 500})
        assert caught.value.message == "info.priority: input should be less than or equal to 100"
        client.order.create({"MUG": 1}, ADDRESS, {**INFO, "unique_id": "A-1"})
        with pytest.raises(AlreadyExists) as caught:
            client.order.create({"MUG": 1}, ADDRESS, {**INFO, "unique_id": "A-1"})
        assert caught.value.fault == 104 and caught.value.data == {"unique_id": "A-1"}
        with pytest.raises(RequiredParameterMissing) as caught:
            client.call("order.info", [None])
        assert caught.value.fault == 6
    with client_for(live, "warehouse") as warehouse:
        with pytest.raises(AccessDenied) as caught:
            warehouse.order.hold("A-1")
        assert "may not call order.hold" in caught.value.data


def test_protocol_errors_are_not_faults(live):
    with client_for(live) as client:
        with pytest.raises(ProtocolError) as caught:
            client.call("store.list", [1, 2, 3])  # -32602: more arguments than the method has
        assert caught.value.code == -32602
        assert not isinstance(caught.value, RpcFault)


def test_fault_decoding():
    fault = fault_from_error({"code": -32104, "message": "An order with the specified ID already exists.",
                              "data": {"unique_id": "X"}}, "order.create")
    assert isinstance(fault, AlreadyExists) and fault.fault == 104 and fault.data == {"unique_id": "X"}
    assert type(fault_from_error({"code": -32104, "message": "m"}, "product.create")) is RpcFault  # 104 means another thing there
    assert isinstance(fault_from_error({"code": -32107, "message": "m"}, "product.create"), AlreadyExists)
    assert fault_from_error({"code": -32000, "message": "Unknown Error"}).fault == 0
    for code in (-32700, -32600, -32601, -32602, -32603):
        assert isinstance(fault_from_error({"code": code, "message": "x"}), ProtocolError)


# ------------------------------------------------------------------ the order methods


def test_order_methods(live):
    stock(live, "TSHIRT", 10)
    with client_for(live) as client:
        order = client.order.create([{"sku": "TSHIRT", "qty": 2}], ADDRESS, {**INFO, "order_ref": "R-1"})
        unique_id = order["unique_id"]
        assert order["status"] == "new"
        assert client.call("order.info", [unique_id])["order_ref"] == "R-1"
        shaped = client.order.info(unique_id, ["status", "order_ref"])
        assert (shaped["status"], shaped["order_ref"]) == ("new", "R-1") and "shipping_address" not in shaped
        assert client.order.search({"order_ref": "R-1"})["totalCount"] == 1
        edited = client.order.edit(unique_id, info={"note": "leave at the door"})
        assert edited["unique_id"] == unique_id
        assert client.order.comment(unique_id, "called the customer") is True
        assert client.order.hold(unique_id) is True
        assert client.order.info(unique_id)["status"] == "holded"
        assert client.order.unhold(unique_id) is True
        canceled = client.order.cancel(unique_id)
        assert canceled["success"] is True and canceled["order"]["status"] == "canceled"
        results = client.order.bulk_create({"a": [None, {"TSHIRT": 1}, ADDRESS, INFO],
                                            "b": [None, {"TSHIRT": 1}, ADDRESS, {**INFO, "priority": -1}]})
        assert results["a"]["status"] == "new"
        failed = bulk_errors(results)
        assert list(failed) == ["b"] and isinstance(failed["b"], InvalidData)


def test_multi_call_returns_faults_in_place(live):
    with client_for(live) as client:
        results = client.multi_call([["store.list"], ["order.info", ["nope"]], ["warehouse.list"]])
        assert results[0][0]["code"] == "default"
        assert isinstance(results[1], NotFound) and results[1].fault == 100
        assert isinstance(results[2], list)
        assert len(client.multi_call([["order.info", ["nope"]], ["store.list"]], stop_on_fault=True)) == 1


# ----------------------------------------------------------------------- async client


async def test_async_client_against_the_server(live):
    stock(live, "CAP", 50)
    user = live.users["merchant"]
    async with AsyncClient(live.url, user.username, user.api_key) as client:
        orders = await asyncio.gather(*(client.order.create({"CAP": 1}, ADDRESS, {**INFO, "unique_id": f"C-{i}"})
                                        for i in range(8)))
        assert sorted(o["unique_id"] for o in orders) == [f"C-{i}" for i in range(8)]
        first = client.session
        # Expired behind its back, with several calls in flight: one new login between them.
        live.query("DELETE FROM sessions")
        infos = await asyncio.gather(*(client.order.info(f"C-{i}") for i in range(8)))
        assert [i["unique_id"] for i in infos] == [f"C-{i}" for i in range(8)]
        assert client.session != first
        assert sessions(live) == 1
        with pytest.raises(NotFound):
            await client.order.hold("nope")
        results = await client.multi_call([["order.hold", ["C-0"]], ["order.hold", ["C-0"]]])
        assert results[0] is True and isinstance(results[1], RpcFault) and results[1].fault == 103
        assert await client.end_session() is True
    async with AsyncClient(live.url, user.username, user.api_key, basic=True) as client:
        assert (await client.order.search({"unique_id": {"starts": "C-"}}))["totalCount"] == 8
        assert client.session is None


# ---------------------------------------------------------------- retries (fake endpoint)


def fake_endpoint(script: list[tuple[int, dict[str, str]]], seen: list[float]) -> web.Application:
    """Answers each POST with the next (status, headers) of ``script``, then with a result."""

    async def handle(request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        seen.append(time.monotonic())
        if script:
            status, headers = script.pop(0)
            return web.Response(status=status, headers=headers, text="slow down")
        result = "f" * 32 if body["method"] == "login" else ["ok"]
        return web.json_response({"jsonrpc": "2.0", "id": body["id"], "result": result})

    app = web.Application()
    app.router.add_post("/api/jsonrpc", handle)
    return app


def test_retries_429_and_409_honouring_retry_after(serve_in_thread):
    seen: list[float] = []
    server = serve_in_thread(fake_endpoint([(429, {"Retry-After": "1"}), (409, {}), (429, {"Retry-After": "0"})], seen))
    with Client(server.url, "u", "k", basic=True, backoff=0.05) as client:
        started = time.monotonic()
        assert client.call("store.list") == ["ok"]
    assert len(seen) == 4
    assert seen[1] - seen[0] >= 0.95  # waited the Retry-After second
    assert time.monotonic() - started < 5


def test_retry_after_as_http_date(serve_in_thread):
    from email.utils import formatdate

    seen: list[float] = []
    # A date has whole seconds: now + 2 s written as a date is between 1 and 2 s away.
    server = serve_in_thread(fake_endpoint([(429, {"Retry-After": formatdate(time.time() + 2, usegmt=True)})], seen))
    with Client(server.url, "u", "k", basic=True) as client:
        assert client.call("x.y") == ["ok"]
    assert len(seen) == 2 and 0.9 <= seen[1] - seen[0] < 5


def test_retries_are_bounded(serve_in_thread):
    seen: list[float] = []
    server = serve_in_thread(fake_endpoint([(429, {})] * 10, seen))
    with Client(server.url, "u", "k", basic=True, max_attempts=3, backoff=0.01) as client:
        with pytest.raises(HttpError) as caught:
            client.call("store.list")
    assert caught.value.status == 429 and len(seen) == 3


def test_a_json_rpc_body_on_the_last_429_is_still_an_http_error(serve_in_thread):
    async def handle(request: web.Request) -> web.Response:
        body = {"jsonrpc": "2.0", "id": None, "error": {"code": -32000, "message": "Too many requests"}}
        return web.json_response(body, status=429, headers={"Retry-After": "0"})

    app = web.Application()
    app.router.add_post("/api/jsonrpc", handle)
    server = serve_in_thread(app)
    with Client(server.url, "u", "k", basic=True, max_attempts=2) as client:
        with pytest.raises(HttpError) as caught:
            client.call("store.list")
    assert (caught.value.status, caught.value.retry_after) == (429, 0)


def test_a_retry_after_beyond_the_limit_is_not_waited_for(serve_in_thread):
    seen: list[float] = []
    server = serve_in_thread(fake_endpoint([(429, {"Retry-After": "3600"})], seen))
    with Client(server.url, "u", "k", basic=True, max_retry_after=5) as client:
        with pytest.raises(HttpError) as caught:
            client.call("store.list")
    assert caught.value.retry_after == 3600 and len(seen) == 1


async def test_async_client_retries_too(serve_in_thread):
    seen: list[float] = []
    server = serve_in_thread(fake_endpoint([(429, {"Retry-After": "0"}), (409, {})], seen))
    async with AsyncClient(server.url, "u", "k", backoff=0.01) as client:
        assert await client.call("store.list") == ["ok"]  # login then the call
    assert len(seen) == 4


def test_no_server_is_a_transport_error():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with Client(f"http://127.0.0.1:{port}/api/jsonrpc", "u", "k", max_attempts=2, backoff=0.01) as client:
        with pytest.raises(TransportError):
            client.call("store.list")


def test_an_answer_that_is_not_json_rpc(serve_in_thread):
    async def handle(request: web.Request) -> web.Response:
        return web.Response(status=500, text="<html>oops</html>")

    app = web.Application()
    app.router.add_post("/api/jsonrpc", handle)
    server = serve_in_thread(app)
    with Client(server.url, "u", "k", basic=True) as client:
        with pytest.raises(HttpError) as caught:
            client.call("store.list")
    assert caught.value.status == 500
