"""Fair webhook delivery: a merchant whose endpoints never answer cannot hold back another
merchant's webhooks. Everything on 127.0.0.1, bounded in time."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import asyncpg

from rpc_fulfillment.workers.webhooks import WebhookWorker
from tests.api.order_helpers import merchant_id
from tests.api.test_webhooks_worker import add_events
from tests.api.webhook_helpers import start_receiver, wait_until

TIMEOUT = 2.0  # the webhook timeout of these tests: A's requests end after it


class HangingReceiver:
    """A TCP server on 127.0.0.1 that accepts every connection, reads what comes, and never
    answers: the endpoint of a merchant who wants to hold the workers."""

    def __init__(self) -> None:
        self.connections = 0
        self.server: asyncio.Server | None = None
        self.url = ""

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while await reader.read(65536):
                pass
        finally:
            writer.close()

    async def __aenter__(self) -> HangingReceiver:
        self.server = await asyncio.start_server(self._hold, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/hang"
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.server is not None
        self.server.close()


async def add_webhooks(db: asyncpg.Connection, merchant: str, url: str, count: int) -> list[int]:
    rows = await db.fetch(
        """INSERT INTO webhooks (merchant_id, url, topics, secret_key)
           SELECT $1, $2, '{product:created}', 'k' FROM generate_series(1, $3) RETURNING webhook_id""",
        await merchant_id(db, merchant), url, count,
    )
    return [row["webhook_id"] for row in rows]


async def test_a_merchant_whose_endpoints_hang_does_not_delay_another_merchants_webhooks(users, db, settings, aiohttp_server):
    """Merchant A (acme): 10 webhooks to an endpoint that never answers, 20 events each (200
    deliveries). Merchant B (other): one webhook to a fast receiver. While A's requests hang,
    each of B's events reaches B's receiver within a second of its commit; A's deliveries are
    attempted, their timeouts recorded with the configured timeout, retried later, none lost."""
    receiver = await start_receiver(aiohttp_server)
    async with HangingReceiver() as hanging:
        a_hooks = await add_webhooks(db, "acme", hanging.url, 10)
        await add_webhooks(db, "other", receiver.url, 1)
        await add_events(db, 20, merchant="acme")
        worker = WebhookWorker(settings.database_url, replace(settings, webhook_timeout=TIMEOUT, webhook_retry_schedule="60"))
        await worker.start()
        try:
            await wait_until(lambda: _at_least(hanging, 10), timeout=5, what="A's endpoint holding requests")
            latencies = []
            for n in range(1, 4):  # while A's first requests hang, and again once they timed out
                committed = time.monotonic()
                await add_events(db, 1, merchant="other")
                (got, *_) = (await receiver.wait_count(n, timeout=TIMEOUT * 4))[n - 1:]
                latencies.append(got.at - committed)
                await asyncio.sleep(TIMEOUT * 0.6)
            print(f"B's latencies while A hangs: {[round(s, 3) for s in latencies]} s")
            assert max(latencies) < 1.0, latencies

            async def timeouts_recorded() -> bool:
                return await db.fetchval("SELECT count(*) FROM webhook_attempts") >= 10
            await wait_until(timeouts_recorded, timeout=15, what="A's timeouts recorded")
        finally:
            await worker.stop()
    a_rows = await db.fetch(
        "SELECT status, attempts, next_attempt_at > now() + interval '30 s' AS later, last_error FROM webhook_deliveries "
        "WHERE webhook_id = ANY ($1::bigint[])", a_hooks,
    )
    assert len(a_rows) == 200 and {row["status"] for row in a_rows} == {"pending"}  # none lost, none given up
    tried = [row for row in a_rows if row["attempts"]]
    assert tried and all(row["later"] for row in tried)  # retried on the schedule (60 s)
    assert {row["last_error"] for row in tried} == {f"timed out after {TIMEOUT:g} s"}
    assert hanging.connections >= len(tried)
    b_rows = await db.fetch("SELECT status FROM webhook_deliveries WHERE merchant_id = $1", await merchant_id(db, "other"))
    assert [row["status"] for row in b_rows] == ["delivered"] * 3


async def _at_least(hanging: HangingReceiver, count: int) -> bool:
    return hanging.connections >= count
