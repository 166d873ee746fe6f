"""Database outage: a real ``python -m rpc_fulfillment serve`` on a PostgreSQL cluster of this
test's own (tests/stress/own_postgres.py, never the suite's shared one), order.create clients
under load, kill -9 of PostgreSQL (postmaster and backends), a restart on the same data
directory and port, all on 127.0.0.1 and bounded in time.

While PostgreSQL is down every call is answered HTTP 503 with Retry-After and the JSON-RPC error
-32053 "Service temporarily unavailable." (never HTTP 500, never fault 1), and the server's log
says so once per interval, not once per request (no traceback). Once PostgreSQL is back, calls
succeed again without restarting the server, within RECOVERY_SECONDS; the background workers
resume (the scheduler releases a hold that came due, the webhook worker delivers an event it
was notified of); every acknowledged create is in the database whole, and the stock invariants
hold. The figures (recovery time, log lines, lost) go to the terminal summary.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

import aiohttp
from aiohttp import web

from rpc_fulfillment.accounts import provisioning
from rpc_fulfillment.db.migrate import migrate
from rpc_fulfillment.db.pool import connect
from tests import figures
from tests.api.order_helpers import ADDRESS, INFO, add_product, check_invariants, merchant_id
from tests.stress.own_postgres import OwnPostgres
from tests.stress.test_crash import SKUS, Server, free_port, lost_orders

CLIENTS = 6
OUTAGE_SECONDS = 3.0  # how long PostgreSQL stays down
RECOVERY_SECONDS = 10.0  # calls must succeed again within this once PostgreSQL accepts connections
WORKER_SECONDS = 10.0  # the scheduler and the webhook worker must have resumed within this
UNAVAILABLE_CODE = -32053  # README, Errors
# A WARNING when the outage starts, one every 30 s while it lasts, an INFO when it ends, from
# the API and each background worker at most: never one per request.
MAX_OUTAGE_LOG_LINES = 8
TEST_SECONDS = 90.0


@dataclass
class Load:
    acknowledged: dict[str, dict[str, int]] = field(default_factory=dict)  # unique_id -> items
    unavailable: list[float] = field(default_factory=list)  # when each 503 came
    wrong: list[str] = field(default_factory=list)  # any other answer
    acknowledged_at: list[float] = field(default_factory=list)
    refused: dict[str, dict[str, int]] = field(default_factory=dict)  # answered 503: committed whole or not at all


async def create_orders(http: aiohttp.ClientSession, url: str, session: str, index: int, load: Load,
                        stop: asyncio.Event, rng: random.Random, prefix: str = "outage") -> None:
    n = 0
    while not stop.is_set():
        n += 1
        unique_id = f"{prefix}-{index}-{n}"
        items = {sku: rng.randint(1, 3) for sku in rng.sample(SKUS, rng.randint(1, len(SKUS)))}
        body = {"jsonrpc": "2.0", "id": n, "method": "call",
                "params": [session, "order.create", [None, items, ADDRESS, {**INFO, "unique_id": unique_id}]]}
        async with http.post(url, json=body) as response:
            text = await response.text()
            answer = await response.json(content_type=None) if text else None
            if response.status == 200 and answer is not None and "result" in answer:
                load.acknowledged[unique_id] = items
                load.acknowledged_at.append(time.monotonic())
                continue
            error = (answer or {}).get("error") or {}
            if (response.status == 503 and error.get("code") == UNAVAILABLE_CODE
                    and int(response.headers.get("Retry-After", "0")) > 0):
                load.unavailable.append(time.monotonic())
                load.refused[unique_id] = items
                await asyncio.sleep(0.02)
                continue
            load.wrong.append(f"HTTP {response.status} Retry-After {response.headers.get('Retry-After')}: {text[:300]}")
            await asyncio.sleep(0.02)


async def provision(url: str) -> tuple[int, provisioning.NewApiUser]:
    db = await connect(url)
    try:
        await migrate(db)
        await provisioning.create_merchant(db, "acme", "Acme Inc")
        user = await provisioning.create_api_user(db, "acme", "merchant", "acme-merchant")
        for sku in SKUS:
            await add_product(db, sku, stock=1_000_000)
        return await merchant_id(db, "acme"), user
    finally:
        await db.close()


async def rpc(http: aiohttp.ClientSession, url: str, method: str, params: list[Any]) -> Any:
    async with http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}) as response:
        answer = await response.json()
    assert "result" in answer, answer
    return answer["result"]


async def until(condition: Callable[[], bool | Awaitable[bool]], seconds: float, what: str) -> float:
    """Wait for ``condition()`` (awaited if need be) to be true; returns the seconds it took."""
    began = time.monotonic()
    while True:
        done = condition()
        if done if isinstance(done, bool) else await done:
            return time.monotonic() - began
        assert time.monotonic() - began < seconds, f"{what}: not within {seconds} s"
        await asyncio.sleep(0.02)


async def serve_receiver(received: list[dict[str, Any]]) -> tuple[web.AppRunner, str]:
    async def receive(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}/hook"


async def test_database_outage_answers_503_and_recovers_by_itself(tmp_path: Path) -> None:
    pg = OwnPostgres()
    received: list[dict[str, Any]] = []
    receiver, hook_url = await serve_receiver(received)
    server: Server | None = None
    try:
        async with asyncio.timeout(TEST_SECONDS):
            url = await pg.create()
            merchant, user = await provision(url)
            server = Server(url, free_port(), tmp_path / "server.log", env={
                "RPCF_LOG_LEVEL": "INFO", "RPCF_SCHEDULER_INTERVAL": "1",
                # Deliveries only on a notification: the LISTEN connection must come back.
                "RPCF_WEBHOOK_INTERVAL": "600",
                "RPCF_WEBHOOK_ALLOW_PRIVATE": "true",  # the receiver is on 127.0.0.1
            })
            timeout = aiohttp.ClientTimeout(total=20)
            async with aiohttp.ClientSession(timeout=timeout) as http:
                await server.start(http)
                session = await rpc(http, server.url, "login", [user.username, user.api_key])
                await rpc(http, server.url, "call", [session, "webhook.create", [{"url": hook_url, "topics": ["order:canceled"]}]])
                held = await rpc(http, server.url, "call", [session, "order.create", [
                    None, {SKUS[0]: 1}, ADDRESS, {**INFO, "unique_id": "outage-held", "delayed_ship_date": "2099-01-01"}]])
                assert held["status"] == "delayed_shipment", held

                load, stop, rng = Load(), asyncio.Event(), random.Random(20250101)
                clients = [asyncio.create_task(create_orders(http, server.url, session, i, load, stop, rng))
                           for i in range(CLIENTS)]
                await until(lambda: len(load.acknowledged) >= 30, 10, "30 creates before the kill")
                log_before = server.log.read_bytes()
                pg.kill()
                await asyncio.sleep(OUTAGE_SECONDS)
                refused_during_outage = len(load.unavailable)
                await pg.start()
                back = time.monotonic()
                await until(lambda: load.acknowledged_at[-1] > back, RECOVERY_SECONDS,
                            "a create acknowledged after PostgreSQL's restart")
                recovery = min(t for t in load.acknowledged_at if t > back) - back
                await asyncio.sleep(1.0)  # more load on the recovered server
                stop.set()
                await asyncio.gather(*clients)
                outage_log = server.log.read_bytes()[len(log_before):].decode(errors="replace").splitlines()

                assert not load.wrong, f"{len(load.wrong)} answers neither a result nor the 503:\n" + "\n".join(load.wrong[:10])
                assert refused_during_outage >= 20, f"only {refused_during_outage} calls were answered during the outage"
                assert not [line for line in outage_log if "Traceback" in line], "\n".join(outage_log[-60:])
                assert len(outage_log) <= MAX_OUTAGE_LOG_LINES, (
                    f"{len(outage_log)} log lines for {len(load.unavailable)} refused calls:\n" + "\n".join(outage_log[:60]))

                async with http.get(f"http://127.0.0.1:{server.port}/health") as response:
                    assert response.status == 200, await response.text()
                db = await connect(url)
                try:
                    lost = await lost_orders(db, merchant, load.acknowledged)
                    assert not lost, "acknowledged creates lost:\n" + "\n".join(lost[:20])
                    await check_invariants(db)
                    # The scheduler survived: a hold that comes due now is released.
                    await db.execute("UPDATE orders SET delayed_ship_date = now() - interval '1 minute' "
                                     "WHERE unique_id = 'outage-held'")
                    scheduler = await until(
                        lambda: _status_is_not(db, "outage-held", "delayed_shipment"), WORKER_SECONDS,
                        "the scheduler releasing a hold after the outage")
                finally:
                    await db.close()
                # The webhook worker survived and listens again: a cancel is delivered at once.
                await rpc(http, server.url, "call", [session, "order.cancel", ["outage-held", {"all_items": True}]])
                webhook = await until(lambda: any(r.get("topic") == "order:canceled" for r in received),
                                      WORKER_SECONDS, "the webhook of a cancel after the outage")
    finally:
        if server is not None:
            server.stop()
        pg.remove()
        await receiver.cleanup()
    figures.record("outage", (
        f"PostgreSQL killed for {OUTAGE_SECONDS:g} s under {CLIENTS} order.create clients: "
        f"{len(load.unavailable)} calls answered 503, {len(outage_log)} server log lines from the kill to the end, "
        f"calls succeeded {recovery:.2f} s after PostgreSQL accepted connections again; "
        f"{len(load.acknowledged)} acknowledged creates, lost 0; scheduler resumed in {scheduler:.1f} s, "
        f"webhook delivered {webhook:.1f} s after the cancel"))


async def _status_is_not(db: Any, unique_id: str, status: str) -> bool:
    return await db.fetchval("SELECT status FROM orders WHERE unique_id = $1", unique_id) != status
