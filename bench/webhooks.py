"""Webhook benchmark: deliveries per second, and what the outbox costs order.create.

    python bench/webhooks.py                    # 5,000 events, order.create 10 s per mode, 32 clients
    python bench/webhooks.py --events 20000 --workers 2 --duration 5 --concurrency 16
    python bench/webhooks.py --database-url postgresql://user@host/postgres   # a throwaway database there

1. Delivery: N events are written in one statement (the trigger queues them for a webhook
   whose receiver, an aiohttp server in this process, answers 200 at once), then
   ``rpc-fulfillment worker`` processes start and the clock runs until every delivery is
   committed as delivered: events per second, end to end (fan-out, claim, POST, record).
2. The outbox's cost: ``rpc-fulfillment serve`` on the same database, order.create driven by
   ``--concurrency`` clients for ``--duration`` seconds: "off" with no webhook (every order
   still writes its order:created event, which nobody wants, so nothing is queued), "on" with
   a webhook subscribed to order:created, delivered by the server's own worker to the local
   receiver while the load runs, and "queued" with the webhook but ``serve
   --no-webhook-delivery`` (the trigger's queue row and NOTIFY inside order.create's
   transaction, the delivery left to other machines). The ratios to "off" are the figures.

Everything runs on one machine: the receiver shares this process with the load generator, so
the absolute numbers are the machine's; compare ratios. Cleans up on exit and on Ctrl+C.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rpc_fulfillment.config import Settings  # noqa: E402
from rpc_fulfillment.db.database import open_database  # noqa: E402
from rpc_fulfillment.accounts import provisioning  # noqa: E402
from rpc_fulfillment.db.pool import connect  # noqa: E402

ADDRESS = {"firstname": "Bench", "lastname": "Mark", "street1": "1 Main St", "city": "Austin", "region": "TX",
           "postcode": "78701", "country": "US", "telephone": "5125550100"}


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Receiver:
    def __init__(self) -> None:
        self.count = 0

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.count += 1
        return web.Response(text="ok")

    async def start(self) -> tuple[web.AppRunner, str]:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner, f"http://127.0.0.1:{port}/hook"


# The bench measures the server, not ShipStream's per-user rate limits: turn them off where the
# server has them (the variables are ignored where it does not).
NO_LIMITS = {"RPCF_RATE_LIMIT": "0", "RPCF_CONCURRENCY_LIMIT": "0"}


def spawn(argv: list[str], log_path: Path) -> subprocess.Popen:
    return subprocess.Popen(argv, stdout=open(log_path, "wb"), stderr=subprocess.STDOUT, start_new_session=True,  # noqa: SIM115
                            env={**os.environ, **NO_LIMITS})


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def wait_for_health(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"server not healthy at {url}")


async def delivery_throughput(database_url: str, receiver: Receiver, url: str, events: int, workers: int, tmp: Path) -> float:
    conn = await connect(database_url)
    try:
        merchant_id = await conn.fetchval("SELECT merchant_id FROM merchants WHERE code = 'bench'")
        await conn.execute("DELETE FROM webhooks")
        await conn.execute("INSERT INTO webhooks (merchant_id, url, topics, secret_key) VALUES ($1, $2, '{product:updated}', 'k')",
                           merchant_id, url)
        await conn.execute(
            """INSERT INTO events (merchant_id, topic, message)
               SELECT $1, 'product:updated', jsonb_build_object('sku', 'SKU-' || g, 'n', g) FROM generate_series(1, $2) g""",
            merchant_id, events,
        )
        receiver.count = 0
        argv = [sys.executable, "-m", "rpc_fulfillment", "worker", "--database-url", database_url, "--log-level", "WARNING",
                "--webhook-allow-private"]  # the receiver is on 127.0.0.1
        started = time.monotonic()
        processes = [spawn(argv, tmp / f"worker{n}.log") for n in range(workers)]
        try:
            while True:
                done = await conn.fetchval("SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'")
                if done >= events:
                    break
                if time.monotonic() - started > 600:
                    raise RuntimeError(f"only {done} of {events} delivered in 600 s")
                await asyncio.sleep(0.05)
            elapsed = time.monotonic() - started
        finally:
            for process in processes:
                stop(process)
        failed = await conn.fetchval("SELECT count(*) FROM webhook_deliveries WHERE status <> 'delivered'")
        log(f"delivery: {events} events, {workers} worker process(es): {elapsed:.2f} s (incl. ~0.5 s process start), "
            f"{receiver.count} POSTs received, {failed} not delivered")
        await conn.execute("DELETE FROM webhooks")
        return events / elapsed
    finally:
        await conn.close()


async def drive_orders(rpc_url: str, session_id: str, concurrency: int, duration: float, tag: str) -> tuple[float, int]:
    counter = iter(range(10**9))
    ok = errors = 0
    deadline = time.monotonic() + duration

    async def client(http: aiohttp.ClientSession) -> None:
        nonlocal ok, errors
        while time.monotonic() < deadline:
            n = next(counter)
            body = {"jsonrpc": "2.0", "id": n, "method": "call", "params": [
                session_id, "order.create", [None, [{"sku": "BENCH-1", "qty": 1}], ADDRESS,
                                             {"shipping_method": "ups_03", "unique_id": f"{tag}-{n}"}]]}
            async with http.post(rpc_url, data=orjson.dumps(body), headers={"Content-Type": "application/json"}) as response:
                answer = orjson.loads(await response.read())
            if "result" in answer:
                ok += 1
            else:
                errors += 1
                if errors == 1:
                    log(f"first error: {answer.get('error')}")

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.monotonic()
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    return ok / elapsed, errors


async def order_create_cost(database_url: str, receiver: Receiver, url: str, api_key: str, concurrency: int,
                            duration: float, tmp: Path) -> dict[str, float]:
    """order.create per second in three modes, each on a freshly started server, interleaved
    twice (the better run of each counts): off (no webhook: the event is written, nothing
    queued), on (a webhook delivered by the server's own worker while the load runs), queued
    (a webhook, but ``--no-webhook-delivery``: the cost inside order.create's transaction
    alone, the trigger's queue row and NOTIFY, without the delivery work beside it)."""
    results: dict[str, float] = {}
    conn = await connect(database_url)
    try:
        merchant_id = await conn.fetchval("SELECT merchant_id FROM merchants WHERE code = 'bench'")
        for mode in ("off", "on", "queued", "off", "on", "queued"):
            await conn.execute("DELETE FROM webhooks")
            await conn.execute("DELETE FROM event_fanout")
            if mode != "off":
                await conn.execute("INSERT INTO webhooks (merchant_id, url, topics, secret_key) VALUES ($1, $2, '{order:created}', 'k')",
                                   merchant_id, url)
            port = free_port()
            argv = [sys.executable, "-m", "rpc_fulfillment", "serve", "--database-url", database_url, "--port", str(port),
                    "--log-level", "WARNING", "--webhook-allow-private"] + (["--no-webhook-delivery"] if mode == "queued" else [])
            server = spawn(argv, tmp / f"server-{mode}.log")
            try:
                await wait_for_health(f"http://127.0.0.1:{port}/health")
                rpc_url = f"http://127.0.0.1:{port}/api/jsonrpc"
                async with aiohttp.ClientSession() as http:
                    async with http.post(rpc_url, data=orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "login",
                                                                     "params": ["bench", api_key]})) as response:
                        session_id = orjson.loads(await response.read())["result"]
                await drive_orders(rpc_url, session_id, concurrency, min(2.0, duration), f"w{mode}{uuid.uuid4().hex[:6]}")
                before = receiver.count
                rate, errors = await drive_orders(rpc_url, session_id, concurrency, duration, f"{mode}{uuid.uuid4().hex[:6]}")
            finally:
                stop(server)
            queued = await conn.fetchval("SELECT count(*) FROM event_fanout")
            log(f"order.create, webhook {mode}: {rate:.0f} orders/s, {errors} errors, "
                f"{receiver.count - before} webhooks received during the run, {queued} events left queued")
            results[mode] = max(results.get(mode, 0.0), rate)
    finally:
        await conn.close()
    return results


async def main_async(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="rpcf-bench-webhooks-"))
    embedded = None
    admin_url = None
    database_name = None
    try:
        if args.database_url:
            admin_url = args.database_url
            database_name = f"rpcf_bench_{uuid.uuid4().hex[:8]}"
            admin = await connect(admin_url)
            await admin.execute(f'CREATE DATABASE "{database_name}"')
            await admin.close()
            from urllib.parse import urlsplit, urlunsplit

            database_url = urlunsplit(urlsplit(admin_url)._replace(path=f"/{database_name}"))
            await open_database(Settings(database_url=database_url))
        else:
            os.chmod(tmp, 0o755)
            database = await open_database(Settings(data_dir=tmp / "data"))
            embedded, database_url = database.embedded, database.url
        conn = await connect(database_url)
        try:
            await provisioning.create_merchant(conn, "bench", "Bench")
            user = await provisioning.create_api_user(conn, "bench", "merchant", "bench")
            await conn.execute(
                """WITH p AS (INSERT INTO products (merchant_id, sku, name) SELECT merchant_id, 'BENCH-1', 'Bench'
                                FROM merchants WHERE code = 'bench' RETURNING product_id, merchant_id)
                   INSERT INTO stock (product_id, warehouse_id, merchant_id, qty_on_hand) SELECT product_id, 1, merchant_id, 1000000000 FROM p"""
            )
        finally:
            await conn.close()
        receiver = Receiver()
        runner, url = await receiver.start()
        try:
            rate = await delivery_throughput(database_url, receiver, url, args.events, args.workers, tmp)
            costs = await order_create_cost(database_url, receiver, url, user.api_key, args.concurrency, args.duration, tmp)
        finally:
            await runner.cleanup()
        print()
        print(f"webhook deliveries: {rate:,.0f} events/s ({args.events} events, {args.workers} worker process(es), "
              "receiver answering 200 at once)")
        print(f"order.create, {args.concurrency} clients: {costs['off']:,.0f}/s without a webhook; "
              f"{costs['on']:,.0f}/s with one delivering from the same process (ratio {costs['on'] / costs['off']:.2f}); "
              f"{costs['queued']:,.0f}/s with one queued but delivered elsewhere (ratio {costs['queued'] / costs['off']:.2f})")
    finally:
        if embedded is not None:
            embedded.stop()
        if admin_url and database_name:
            admin = await connect(admin_url)
            await admin.execute(f'DROP DATABASE IF EXISTS "{database_name}" WITH (FORCE)')
            await admin.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000, help="events to deliver (default 5000)")
    parser.add_argument("--workers", type=int, default=1, help="`rpc-fulfillment worker` processes (default 1)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of order.create per mode and round (default 10)")
    parser.add_argument("--concurrency", type=int, default=32, help="order.create clients (default 32)")
    parser.add_argument("--database-url", help="create a throwaway database on this server instead of the embedded PostgreSQL")
    args = parser.parse_args()
    try:
        asyncio.run(main_async(args))
    except KeyboardInterrupt:
        log("interrupted")


if __name__ == "__main__":
    main()
