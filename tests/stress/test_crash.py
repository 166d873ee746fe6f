"""Crash: a real ``python -m rpc_fulfillment serve`` on 127.0.0.1 and a fresh database, 32
concurrent order.create clients, ``kill -9`` of the server in the middle, a restart on the same
database. Five rounds, each bounded (the drive at most ROUND_SECONDS).

Each round acknowledges at least MIN_ACKNOWLEDGED creates before the kill and refuses none
(a round that acknowledged nothing would lose nothing, and prove nothing). After each restart:
- every order whose create was acknowledged (HTTP 200 with a result) exists, with every item it
  was created with, each fully reserved (stock is plentiful), its order:created event and its
  first status history entry; the restarted server answers order.info for it;
- no order exists without its items, allocations match the stock rows, and the other invariants
  of design §8 hold (check_invariants);
- creates that were in flight at the kill either committed whole or left nothing.
The figures (acknowledged writes per round, in doubt, lost: must be 0) go to the terminal summary.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg

from tests import figures
from tests.api.order_helpers import ADDRESS, INFO, add_product, check_invariants, merchant_id

ROUNDS = 5
CLIENTS = 32
ROUND_SECONDS = 8.0  # the drive of one round; the kill comes well before
# The kill waits for this many acknowledged creates: a round with fewer proves nothing (a
# broken order.create acknowledges none, and "0 acknowledged, 0 lost" would pass).
MIN_ACKNOWLEDGED = 40
START_SECONDS = 30.0  # a server must answer /health within this
REPO = Path(__file__).resolve().parents[2]  # `python -m` from here: this tree's package wins
SKUS = ("CR-A", "CR-B", "CR-C")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``python -m rpc_fulfillment serve`` in a process of its own."""

    def __init__(self, database_url: str, port: int, log: Path, env: dict[str, str] | None = None) -> None:
        """``env``: settings (RPCF_...) to add or change."""
        self.database_url, self.port, self.log = database_url, port, log
        self.env = env or {}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/jsonrpc"

    async def start(self, http: aiohttp.ClientSession) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "RPCF_HOST": "127.0.0.1",
            "RPCF_PORT": str(self.port),
            "RPCF_WORKERS": "1",
            "RPCF_DB_POOL_SIZE": "10",
            "RPCF_LOG_LEVEL": "WARNING",
            # 32 clients of one API user: the per-user limits would refuse most of them
            "RPCF_RATE_LIMIT": "0",
            "RPCF_CONCURRENCY_LIMIT": "0",
            **self.env,
        }
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "rpc_fulfillment", "serve"],
                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the server exited with {self.process.returncode}:\n{self.tail()}"
            try:
                async with http.get(f"http://127.0.0.1:{self.port}/health", timeout=aiohttp.ClientTimeout(total=2)) as response:
                    if response.status == 200:
                        return
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
            await asyncio.sleep(0.05)
        raise AssertionError(f"the server did not answer /health within {START_SECONDS} s:\n{self.tail()}")

    def kill(self) -> None:
        """kill -9 of the server (its process group: any worker processes too), and wait for
        it to be gone."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return ""


@dataclass
class Round:
    acknowledged: dict[str, dict[str, int]] = field(default_factory=dict)  # unique_id -> items
    in_doubt: dict[str, dict[str, int]] = field(default_factory=dict)  # sent, no answer: the kill
    refused: list[str] = field(default_factory=list)  # answers that were not a result: none expected


async def drive(http: aiohttp.ClientSession, server: Server, session: str, number: int, rng: random.Random) -> Round:
    """32 clients creating orders until the server dies under them."""
    result = Round()
    stop = asyncio.Event()

    async def client(index: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            unique_id = f"crash-{number}-{index}-{n}"
            items = {sku: rng.randint(1, 3) for sku in rng.sample(SKUS, rng.randint(1, len(SKUS)))}
            body = {"jsonrpc": "2.0", "id": n, "method": "call",
                    "params": [session, "order.create", [None, items, ADDRESS, {**INFO, "unique_id": unique_id}]]}
            result.in_doubt[unique_id] = items
            try:
                async with http.post(server.url, json=body) as response:
                    answer = await response.json() if response.status == 200 else None
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                return  # the server is gone: this create is in doubt
            del result.in_doubt[unique_id]
            if answer is not None and "result" in answer:
                assert answer["result"]["unique_id"] == unique_id, answer
                result.acknowledged[unique_id] = items
            else:
                # Stock is plentiful and every unique_id is new: nothing should be refused.
                result.refused.append(f"{unique_id}: HTTP {response.status} {answer}")

    tasks = [asyncio.create_task(client(i)) for i in range(CLIENTS)]
    # Kill once writes are being acknowledged, at a moment of the random's choosing.
    started = time.monotonic()
    while len(result.acknowledged) < MIN_ACKNOWLEDGED and time.monotonic() - started < ROUND_SECONDS / 2:
        await asyncio.sleep(0.01)
    await asyncio.sleep(rng.uniform(0.0, 0.3))
    server.kill()
    stop.set()
    async with asyncio.timeout(ROUND_SECONDS):
        await asyncio.gather(*tasks)
    assert time.monotonic() - started < ROUND_SECONDS, "the round overran its time"
    return result


async def lost_orders(db: asyncpg.Connection, merchant: int, orders: dict[str, dict[str, int]]) -> list[str]:
    """Orders of ``orders`` that are not there whole: items as created, each fully reserved,
    the order:created event, a status history entry."""
    rows = await db.fetch(
        """SELECT o.unique_id,
                  (SELECT jsonb_object_agg(i.sku, i.qty_ordered) FROM order_items i WHERE i.order_id = o.order_id) AS items,
                  (SELECT coalesce(sum(a.qty_allocated), 0) FROM order_item_allocations a WHERE a.order_id = o.order_id) AS reserved,
                  EXISTS (SELECT 1 FROM events e WHERE e.topic = 'order:created'
                           AND (e.message->>'order_id')::bigint = o.order_id) AS has_event,
                  EXISTS (SELECT 1 FROM order_status_history h WHERE h.order_id = o.order_id) AS has_history
             FROM orders o WHERE o.merchant_id = $1 AND o.unique_id = ANY($2::text[])""",
        merchant, list(orders),
    )
    found = {row["unique_id"]: row for row in rows}
    lost = []
    for unique_id, items in orders.items():
        row = found.get(unique_id)
        if row is None:
            lost.append(f"{unique_id}: missing")
            continue
        stored = json.loads(row["items"]) if isinstance(row["items"], str) else row["items"]
        if stored != items or row["reserved"] != sum(items.values()) or not row["has_event"] or not row["has_history"]:
            lost.append(f"{unique_id}: items {stored} (created {items}), reserved {row['reserved']}, "
                        f"event {row['has_event']}, history {row['has_history']}")
    return lost


async def test_kill_9_loses_no_acknowledged_create(database_url, db, users, tmp_path):
    merchant = await merchant_id(db, "acme")
    for sku in SKUS:
        await add_product(db, sku, stock=1_000_000)
    user = users["merchant"]
    rng = random.Random(20240607)
    server = Server(database_url, free_port(), tmp_path / "server.log")
    lines = []
    total_acknowledged = total_lost = 0
    connector = aiohttp.TCPConnector(limit=CLIENTS + 4, force_close=False)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=20)) as http:
        try:
            async with asyncio.timeout(ROUNDS * (ROUND_SECONDS + 2 * START_SECONDS + 10)):
                await server.start(http)
                async with http.post(server.url, json={"jsonrpc": "2.0", "id": 1, "method": "login",
                                                       "params": [user.username, user.api_key]}) as response:
                    session = (await response.json())["result"]
                for number in range(1, ROUNDS + 1):
                    began = time.monotonic()
                    outcome = await drive(http, server, session, number, rng)
                    assert not outcome.refused, f"round {number}: creates refused:\n" + "\n".join(outcome.refused[:10])
                    assert len(outcome.acknowledged) >= MIN_ACKNOWLEDGED, (
                        f"round {number}: only {len(outcome.acknowledged)} creates acknowledged before the kill")
                    await server.start(http)  # the restart, on the same database
                    lost = await lost_orders(db, merchant, outcome.acknowledged)
                    committed = await db.fetchval(
                        "SELECT count(*) FROM orders WHERE merchant_id = $1 AND unique_id = ANY($2::text[])",
                        merchant, list(outcome.in_doubt),
                    )
                    partial = [line for line in await lost_orders(db, merchant, outcome.in_doubt) if not line.endswith(": missing")]
                    assert not partial, f"round {number}: creates in flight at the kill left part of an order:\n" + "\n".join(partial)
                    await check_invariants(db)
                    # the restarted server serves what was acknowledged (and its session survived)
                    for chunk in range(0, len(outcome.acknowledged), 100):
                        ids = list(outcome.acknowledged)[chunk:chunk + 100]
                        calls = [["order.info", [unique_id, ["unique_id", "items"]]] for unique_id in ids]
                        async with http.post(server.url, json={"jsonrpc": "2.0", "id": 2, "method": "multiCall",
                                                               "params": [session, calls]}) as response:
                            answers = (await response.json())["result"]
                        missing = [u for u, a in zip(ids, answers) if not isinstance(a, dict) or a.get("isFault")]
                        lost += [f"{u}: order.info after the restart failed" for u in missing]
                    assert not lost, f"round {number}: acknowledged creates lost:\n" + "\n".join(lost[:20])
                    total_acknowledged += len(outcome.acknowledged)
                    total_lost += len(lost)
                    lines.append(
                        f"round {number}: {len(outcome.acknowledged)} creates acknowledged, {len(outcome.in_doubt)} in flight "
                        f"at the kill ({committed} of them committed whole, the rest left nothing), "
                        f"{len(outcome.refused)} refused, lost 0 ({time.monotonic() - began:.1f} s)"
                    )
        finally:
            server.stop()
    figures.record("crash", f"{ROUNDS} rounds of {CLIENTS} order.create clients and kill -9: {total_acknowledged} "
                            f"acknowledged creates, {total_lost} lost")
    for line in lines:
        figures.record("crash", line)
