"""Graceful shutdown of a real `rpc-fulfillment serve` process on 127.0.0.1.

Requests are held in flight deterministically: the test's own transaction locks the stock row
that order.create and order.bulk_create need, so they wait inside the server until the test
commits. Then SIGTERM: the server stops listening, the requests get their answers once the lock
goes, the background workers stop (a webhook delivery in flight is rolled back and stays due:
no event is lost) and the process exits 0 within the shutdown timeout. With --workers N the
parent passes the signal on and exits 0 when every worker did.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from typing import Any, AsyncIterator

import aiohttp
import asyncpg
import orjson
import pytest

from tests.api.order_helpers import ADDRESS, INFO, add_product, check_invariants
from tests.api.webhook_helpers import start_receiver

LIMIT = 60.0  # seconds for any one wait in these tests


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """`python -m rpc_fulfillment serve` on 127.0.0.1 and a free port."""

    def __init__(self, database_url: str, *flags: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api/jsonrpc"
        self.argv = [sys.executable, "-m", "rpc_fulfillment", "serve", "--database-url", database_url,
                     "--host", "127.0.0.1", "--port", str(self.port), *flags]
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.process: asyncio.subprocess.Process | None = None
        self.output = b""

    async def start(self) -> "Server":
        self.process = await asyncio.create_subprocess_exec(
            *self.argv, env=self.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        deadline = time.monotonic() + LIMIT
        async with aiohttp.ClientSession() as http:
            while True:
                if self.process.returncode is not None:
                    raise AssertionError(f"server exited at start: {await self.process.stdout.read()!r}")
                try:
                    async with http.get(f"http://127.0.0.1:{self.port}/health") as response:
                        if response.status == 200:
                            return self
                except aiohttp.ClientError:
                    pass
                assert time.monotonic() < deadline, "server did not come up"
                await asyncio.sleep(0.1)

    def signal(self, signum: int = signal.SIGTERM) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    async def wait(self, timeout: float) -> int:
        assert self.process is not None and self.process.stdout is not None
        self.output, _ = await asyncio.wait_for(self.process.communicate(), timeout)
        return self.process.returncode

    def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()


@pytest.fixture
async def servers() -> AsyncIterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:  # a failed test must not leave a server behind
        server.kill()
        if server.process is not None:
            await server.process.wait()


async def rpc(http: aiohttp.ClientSession, url: str, method: str, params: Any, request_id: Any = 1) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
    async with http.post(url, data=orjson.dumps(body), headers={"Content-Type": "application/json"}) as response:
        assert response.status == 200, await response.text()
        return orjson.loads(await response.read())


async def result(http: aiohttp.ClientSession, url: str, method: str, params: Any, request_id: Any = 1) -> Any:
    answer = await rpc(http, url, method, params, request_id)
    assert "result" in answer, answer
    return answer["result"]


def order_args(n: int) -> list[Any]:
    return [None, {"A": 1}, ADDRESS, {**INFO, "unique_id": f"SD-{n}"}]


async def waiting_on_locks(db: asyncpg.Connection, count: int) -> None:
    """Until ``count`` server backends wait for a lock (the requests are in flight)."""
    deadline = time.monotonic() + LIMIT
    while await db.fetchval("""SELECT count(*) FROM pg_stat_activity
                                WHERE datname = current_database() AND wait_event_type = 'Lock'""") < count:
        assert time.monotonic() < deadline, "the requests never reached the lock"
        await asyncio.sleep(0.05)


async def refused(port: int) -> bool:
    """True when nothing listens on the port any more."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return True
    writer.close()
    return False


async def hold_stock_lock(database_url: str, product_id: int) -> asyncpg.Connection:
    holder = await asyncpg.connect(database_url)
    await holder.execute("BEGIN")
    await holder.execute("SELECT 1 FROM stock WHERE product_id = $1 FOR UPDATE", product_id)
    return holder


async def test_sigterm_answers_requests_in_flight_stops_workers_and_exits_0(
    servers, database_url, db, users, aiohttp_server
):
    product_id = await add_product(db, "A", stock=1000)

    async def slow_receiver(_: Any) -> int:
        await asyncio.sleep(30)  # the first delivery is in flight when the server stops
        return 200

    receiver = await start_receiver(aiohttp_server, slow_receiver)
    server = await Server(database_url, "--shutdown-timeout", "20", "--webhook-interval", "0.2",
                          "--webhook-allow-private").start()
    servers.append(server)
    user = users["merchant"]
    async with aiohttp.ClientSession() as http:
        session = await result(http, server.url, "login", [user.username, user.api_key])
        assert await result(http, server.url, "call", [session, "webhook.create",
                                                         [{"url": receiver.url, "topics": ["order:created"]}]]) is True
        first = await result(http, server.url, "call", [session, "order.create", order_args(0)])
        await receiver.wait_count(1, timeout=LIMIT)  # a webhook delivery is now in flight

        holder = await hold_stock_lock(database_url, product_id)
        create = asyncio.create_task(rpc(http, server.url, "call", [session, "order.create", order_args(1)], "c"))
        bulk = {f"k{n}": order_args(n) for n in range(2, 52)}
        bulk_task = asyncio.create_task(rpc(http, server.url, "call", [session, "order.bulk_create", [bulk]], "b"))
        await waiting_on_locks(db, 2)

        stopped_at = time.monotonic()
        server.signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        assert await refused(server.port)  # no new connections once stopping
        server.signal(signal.SIGTERM)  # a second signal changes nothing
        assert not create.done() and not bulk_task.done()
        await holder.execute("COMMIT")
        await holder.close()

        answer = await asyncio.wait_for(create, LIMIT)
        assert answer["id"] == "c" and answer["result"]["unique_id"] == "SD-1", answer
        answer = await asyncio.wait_for(bulk_task, LIMIT)
        assert answer["id"] == "b" and len(answer["result"]) == 50
        assert all("error" not in entry for entry in answer["result"].values()), answer
    status = await server.wait(LIMIT)
    took = time.monotonic() - stopped_at
    assert status == 0, server.output.decode(errors="replace")
    assert took < 20, took
    log = server.output.decode(errors="replace")
    assert "SIGTERM: stopping" in log and "SIGTERM: already stopping" in log and "stopped in" in log, log
    assert "Traceback" not in log, log

    # Every acknowledged order is there with its event, and no event was lost by the
    # webhook worker: each order:created is delivered, or still due (pending or queued).
    assert first["unique_id"]
    assert await db.fetchval("SELECT count(*) FROM orders") == 52
    created = await db.fetchval("SELECT count(*) FROM events WHERE topic = 'order:created'")
    assert created == 52
    accounted = await db.fetchval(
        """SELECT count(*) FROM events e
            WHERE e.topic = 'order:created'
              AND (EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.event_id
                                                                  AND d.status IN ('pending', 'delivered'))
                   OR EXISTS (SELECT 1 FROM event_fanout f WHERE f.event_id = e.event_id))"""
    )
    assert accounted == 52
    assert await db.fetchval("SELECT count(*) FROM webhook_deliveries WHERE status = 'failed'") == 0
    assert await db.fetchval(  # the concurrency slots were given back
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    ) == 0
    await check_invariants(db)


async def test_requests_past_the_timeout_are_cancelled_and_roll_back(servers, database_url, db, users):
    product_id = await add_product(db, "A", stock=10)
    server = await Server(database_url, "--shutdown-timeout", "1", "--no-webhook-delivery").start()
    servers.append(server)
    user = users["merchant"]
    async with aiohttp.ClientSession() as http:
        session = await result(http, server.url, "login", [user.username, user.api_key])
        holder = await hold_stock_lock(database_url, product_id)
        try:
            create = asyncio.create_task(rpc(http, server.url, "call", [session, "order.create", order_args(1)]))
            await waiting_on_locks(db, 1)
            stopped_at = time.monotonic()
            server.signal(signal.SIGTERM)
            status = await server.wait(LIMIT)
            took = time.monotonic() - stopped_at
            # Never answered (so never acknowledged): the client sees the connection close.
            with pytest.raises(aiohttp.ClientError):
                await asyncio.wait_for(create, LIMIT)
        finally:
            await holder.execute("COMMIT")
            await holder.close()
    assert status == 0, server.output.decode(errors="replace")
    assert took < 1 + 10, took  # the timeout, then the cancelled request unwinds
    assert await db.fetchval("SELECT count(*) FROM orders") == 0
    assert await db.fetchval("SELECT count(*) FROM events") == 0
    await check_invariants(db)


async def both_workers_up(db) -> None:
    """Until each worker's pool is connected (its process's pid is in its application_name):
    /health answered by one worker says nothing of the other, which a busy machine may still be
    starting; a SIGTERM then would kill it before it installs its handler."""
    for _ in range(int(LIMIT * 10)):
        workers = await db.fetchval("""SELECT count(DISTINCT application_name) FROM pg_stat_activity
                                        WHERE datname = current_database()
                                          AND application_name LIKE 'rpc-fulfillment pid %'""")
        if workers >= 2:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the second worker did not connect")


async def test_workers_get_the_signal_and_the_parent_exits_0(servers, database_url, db, users):
    product_id = await add_product(db, "A", stock=10)
    server = await Server(database_url, "--workers", "2", "--shutdown-timeout", "20", "--no-webhook-delivery").start()
    servers.append(server)
    await both_workers_up(db)
    user = users["merchant"]
    async with aiohttp.ClientSession() as http:
        session = await result(http, server.url, "login", [user.username, user.api_key])
        await result(http, server.url, "call", [session, "store.list"])
        holder = await hold_stock_lock(database_url, product_id)
        calls = [asyncio.create_task(rpc(http, server.url, "call", [session, "order.create", order_args(n)], n))
                 for n in range(3)]
        await waiting_on_locks(db, 3)
        stopped_at = time.monotonic()
        server.signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        await holder.execute("COMMIT")
        await holder.close()
        answers = await asyncio.wait_for(asyncio.gather(*calls), LIMIT)
    assert sorted(a["result"]["unique_id"] for a in answers) == ["SD-0", "SD-1", "SD-2"]
    status = await server.wait(LIMIT)
    assert status == 0, server.output.decode(errors="replace")
    assert time.monotonic() - stopped_at < 20
    log = server.output.decode(errors="replace")
    assert log.count("stopped in") == 2, log  # both workers stopped gracefully
    assert await refused(server.port)
    assert await db.fetchval("SELECT count(*) FROM orders") == 3


async def test_sigint_stops_an_idle_server_at_once(servers, database_url):
    server = await Server(database_url, "--no-webhook-delivery").start()
    servers.append(server)
    started = time.monotonic()
    server.signal(signal.SIGINT)
    assert await server.wait(LIMIT) == 0
    assert time.monotonic() - started < 5
    assert "SIGINT: stopping" in server.output.decode()
