"""Durability: order.create under load on a PostgreSQL cluster with the production settings
(fsync, synchronous_commit and full_page_writes on; the suite's shared cluster runs without
them), ``kill -9`` of the PostgreSQL postmaster and its backends mid-write, a restart on the same
data directory (crash recovery: the WAL is replayed), three rounds, bounded in time, 127.0.0.1.

After each recovery every create that was acknowledged is there whole: its items, each fully
reserved, its order:created event and its status history (tests/stress/test_crash.py's
``lost_orders``); creates answered 503 at the kill committed whole or left nothing; the stock
invariants hold; and the same server, never restarted, acknowledges creates again.

What this proves, and what not (SECURITY.md): a commit PostgreSQL acknowledged survives the
crash of PostgreSQL itself (WAL replay). A kill leaves the operating system's page cache intact,
so the loss of the machine's power is not simulated: that relies on fsync reaching the disk,
which is the hardware's and the file system's promise.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import aiohttp

from rpc_fulfillment.db.pool import connect
from tests import figures
from tests.api.order_helpers import check_invariants
from tests.stress.own_postgres import DURABLE, OwnPostgres
from tests.stress.test_crash import MIN_ACKNOWLEDGED, Server, free_port, lost_orders
from tests.stress.test_db_outage import Load, create_orders, provision, rpc, until

ROUNDS = 3
CLIENTS = 16
TEST_SECONDS = 150.0
RECOVERY_SECONDS = 20.0  # crash recovery, then the server's reconnection


async def _settings(url: str) -> dict[str, str]:
    db = await connect(url)
    try:
        return {name: await db.fetchval(f"SHOW {name}") for name in DURABLE}
    finally:
        await db.close()


async def test_kill_9_of_postgresql_loses_no_acknowledged_create(tmp_path: Path) -> None:
    pg = OwnPostgres(durable=True)
    server: Server | None = None
    lines: list[str] = []
    try:
        async with asyncio.timeout(TEST_SECONDS):
            url = await pg.create()
            assert await _settings(url) == DURABLE
            merchant, user = await provision(url)
            server = Server(url, free_port(), tmp_path / "server.log", env={"RPCF_WEBHOOK_DELIVERY": "false"})
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
                await server.start(http)
                session = await rpc(http, server.url, "login", [user.username, user.api_key])
                rng = random.Random(20261203)
                for number in range(1, ROUNDS + 1):
                    load, stop = Load(), asyncio.Event()
                    clients = [asyncio.create_task(create_orders(http, server.url, session, i, load, stop, rng,
                                                                 prefix=f"durable-{number}"))
                               for i in range(CLIENTS)]
                    await until(lambda: len(load.acknowledged) >= MIN_ACKNOWLEDGED, 20,
                                f"round {number}: {MIN_ACKNOWLEDGED} creates before the kill")
                    await asyncio.sleep(rng.uniform(0.0, 0.2))
                    pg.kill()
                    acknowledged_before_kill = len(load.acknowledged)
                    await pg.start()  # crash recovery
                    back = time.monotonic()
                    await until(lambda: load.acknowledged_at[-1] > back, RECOVERY_SECONDS,
                                f"round {number}: a create acknowledged after the restart")
                    stop.set()
                    await asyncio.gather(*clients)
                    assert not load.wrong, "\n".join(load.wrong[:10])
                    db = await connect(url)
                    try:
                        lost = await lost_orders(db, merchant, load.acknowledged)
                        assert not lost, f"round {number}: acknowledged creates lost:\n" + "\n".join(lost[:20])
                        partial = [line for line in await lost_orders(db, merchant, load.refused)
                                   if not line.endswith(": missing")]
                        assert not partial, f"round {number}: a create answered 503 left part of an order:\n" + "\n".join(partial)
                        await check_invariants(db)
                    finally:
                        await db.close()
                    lines.append(f"round {number}: {acknowledged_before_kill} creates acknowledged before kill -9 of "
                                 f"PostgreSQL, {len(load.acknowledged)} in all, {len(load.refused)} answered 503; lost 0")
    finally:
        if server is not None:
            server.stop()
        pg.remove()
    for line in lines:
        figures.record("durability", line)
