"""One merchant cannot exhaust the database pool (issue 13, item 2).

No call holds a connection while it waits on the network (``webhook.test`` waits for the
worker with ``UnitOfWork.away``), one merchant's calls hold at most their share of the pool
(``merchant_pool_share``), and one HTTP request runs at most ``request_timeout`` seconds: the
calls still running then, and a multiCall's calls not yet run, are answered with fault 8.
Everything on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import pytest

from rpc_fulfillment.config import Settings, load_settings
from rpc_fulfillment.core.api import WRITE
from tests.api.webhook_helpers import create_webhook
from tests.figures import record

TIME_LIMIT_CODE = -32008


def settings_for(**changes: Any) -> dict[str, Any]:
    """Only the settings this server has (so that the test also runs, and fails, without them)."""
    known = {f.name for f in dataclasses.fields(Settings)}
    return {name: value for name, value in changes.items() if name in known}


async def silent_receiver() -> tuple[asyncio.Server, str, list[asyncio.StreamWriter]]:
    """A receiver on 127.0.0.1 that accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/hook", held


async def concurrent_result(rpc: Any, session: str, path: str) -> Any:
    """A call made alongside others on one client (Rpc.request counts ids one at a time)."""
    status, body = await rpc.post({"jsonrpc": "2.0", "id": path, "method": "call", "params": [session, path]})
    assert status == 200 and "result" in body, body
    return body["result"]


async def latencies_of_b(rpc: Any, session: str, seconds: float) -> tuple[list[float], list[int]]:
    """Merchant B's store.list latencies and /health statuses, one after another for ``seconds``."""
    calls: list[float] = []
    health: list[int] = []
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        started = time.monotonic()
        stores = await rpc.result(session, "store.list")
        calls.append(time.monotonic() - started)
        assert stores and stores[0]["code"] == "default"
        response = await rpc.client.get("/health")
        health.append(response.status)
        await asyncio.sleep(0.1)
    return calls, health


async def test_webhook_tests_of_one_merchant_do_not_starve_another(make_client, users):
    """Two API users of merchant A, within their limits (10/s in bursts of 60, 5 at once), run
    five multiCalls each of ten webhook.test to a receiver that never answers; meanwhile B's
    store.list answers in under a second and /health answers 200. Each of A's requests ends by
    the time limit, its unfinished calls answered with fault 8."""
    server, url, held = await silent_receiver()
    try:
        rpc = await make_client(**settings_for(
            db_pool_size=4, merchant_pool_share=0.5, rate_limit=10, rate_burst=60, concurrency_limit=5,
            webhook_timeout=2.0, webhook_allow_private=True, request_timeout=3.0))
        sessions_of_a = [await rpc.login(users["merchant"]), await rpc.login(users["admin"])]
        hook = await create_webhook(rpc, sessions_of_a[0], url)
        session_of_b = await rpc.login(users["other"])
        tests = [["webhook.test", [hook["webhook_id"]]] for _ in range(10)]

        async def abuse(session: str) -> tuple[float, dict[str, Any]]:
            started = time.monotonic()
            status, body = await rpc.post({"jsonrpc": "2.0", "id": "a", "method": "multiCall", "params": [session, tests]})
            assert status == 200, body
            return time.monotonic() - started, body

        started = time.monotonic()
        abusers = [asyncio.create_task(abuse(session)) for session in sessions_of_a for _ in range(5)]
        await asyncio.sleep(0.5)  # A's calls are in, waiting on the receiver
        calls, health = await latencies_of_b(rpc, session_of_b, 2.0)
        answers = await asyncio.gather(*abusers)
        elapsed = time.monotonic() - started
    finally:
        for writer in held:
            writer.close()
        server.close()
    record("pool fairness", f"B's store.list with A abusing webhook.test: {len(calls)} calls, "
                            f"max {max(calls) * 1000:.0f} ms; /health {sorted(set(health))}; A's 10 multiCalls "
                            f"ended in {elapsed:.1f} s")
    assert max(calls) < 1.0, f"B's store.list took up to {max(calls):.2f} s while A waited on webhook.test"
    assert set(health) == {200}, health
    timed_out = 0
    for seconds, body in answers:
        assert seconds < 3.0 + 2.0, f"a multiCall ran {seconds:.1f} s past its time limit of 3 s"
        entries = body["result"]
        assert len(entries) == 10, body
        for entry in entries:
            if isinstance(entry, dict) and entry.get("isFault"):
                assert entry["faultCode"] == 8, entry
                timed_out += 1
            else:
                assert set(entry) == {"delivered", "http_status", "duration_ms", "error", "delivery_id"}, entry
    assert timed_out > 0  # the time limit ended A's requests, not the tests running out


async def test_one_merchant_holds_at_most_its_share_of_the_pool(make_client, users, add_method):
    """Eight calls of A that each hold a connection for a second (pool of 4, A's share 2) do not
    keep B's calls waiting, and never more than two of A's run at once."""
    running = 0
    most = 0

    async def hold_a_connection(ctx: Any) -> bool:
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            await ctx.conn.execute("SELECT pg_sleep(1)")
        finally:
            running -= 1
        return True

    add_method("test.hold", hold_a_connection, transaction=WRITE)
    rpc = await make_client(db_pool_size=4, merchant_pool_share=0.5)
    session_of_a, session_of_b = await rpc.login(users["merchant"]), await rpc.login(users["other"])
    started = time.monotonic()
    of_a = [asyncio.create_task(concurrent_result(rpc, session_of_a, "test.hold")) for _ in range(8)]
    await asyncio.sleep(0.3)
    calls, health = await latencies_of_b(rpc, session_of_b, 1.0)
    assert await asyncio.gather(*of_a) == [True] * 8
    assert max(calls) < 1.0 and set(health) == {200}, (calls, health)
    assert most == 2
    assert time.monotonic() - started >= 4.0  # eight seconds of work, two at a time


async def test_the_time_limit_answers_the_rest_of_a_multicall_with_fault_8(make_client, users, add_method, db):
    """A multiCall past request_timeout: the calls done keep their results and what they wrote,
    the running one is stopped and rolled back, the rest are not run; each answered fault 8."""
    async def slow_write(ctx: Any, key: str) -> bool:
        await ctx.conn.execute("INSERT INTO state_values (merchant_id, state_key, value) VALUES ($1, $2, '1')",
                               ctx.principal.merchant_id, key)
        await asyncio.sleep(5)
        return True

    add_method("test.slow_write", slow_write, transaction=WRITE)
    rpc = await make_client(request_timeout=1.0)
    session = await rpc.login(users["merchant"])
    started = time.monotonic()
    body = await rpc.request("multiCall", [session, [
        ["state.set", ["before", "kept"]], ["test.slow_write", ["during"]], ["state.set", ["after", "x"]]]])
    assert time.monotonic() - started < 3.0
    done, stopped, not_run = body["result"]
    assert done is True
    assert stopped["faultCode"] == not_run["faultCode"] == 8
    assert stopped["faultMessage"] == not_run["faultMessage"] == "Request time limit exceeded."
    assert await rpc.result(session, "state.get", ["before"]) == "kept"
    keys = await db.fetch("SELECT state_key FROM state_values")
    assert sorted(row["state_key"] for row in keys) == ["before"]


async def test_a_single_call_past_the_time_limit_is_fault_8_naming_the_limit(make_client, users, add_method):
    async def sleepy(ctx: Any) -> bool:
        await asyncio.sleep(5)
        return True

    add_method("test.sleepy", sleepy)
    rpc = await make_client(request_timeout=0.5)
    session = await rpc.login(users["merchant"])
    error = await rpc.fault(session, "test.sleepy")
    assert error["code"] == TIME_LIMIT_CODE and error["message"] == "Request time limit exceeded."
    assert "limit of 0.5 s (request_timeout)" in error["data"]
    assert await rpc.result(session, "store.list")  # the server goes on


def test_the_settings():
    defaults = Settings()
    assert (defaults.request_timeout, defaults.merchant_pool_share) == (30.0, 0.5)
    changed = load_settings({}, {"RPCF_REQUEST_TIMEOUT": "off", "RPCF_MERCHANT_POOL_SHARE": "0"})
    assert (changed.request_timeout, changed.merchant_pool_share) == (0, 0)


@pytest.mark.parametrize("pool, share, permits", [(10, 0.5, 5), (4, 0.5, 2), (1, 0.5, 1), (10, 1.0, 10), (10, 0, 0)])
def test_a_merchants_share_of_the_pool(pool, share, permits):
    from rpc_fulfillment.db.shares import MerchantShares

    assert MerchantShares.of(Settings(db_pool_size=pool, merchant_pool_share=share)).per_merchant == permits
