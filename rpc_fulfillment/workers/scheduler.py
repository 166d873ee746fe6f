"""Releasing scheduled holds: an order in delayed_shipment returns to state new once its
delayed_ship_date has come. Runs in every server process; the state lives in the database,
so it survives restarts, and SKIP LOCKED keeps processes from releasing an order twice."""

from __future__ import annotations

import asyncio
import logging
from itertools import groupby

import asyncpg

from rpc_fulfillment.db.outage import background_failure
from rpc_fulfillment.fulfillment.engine import settle
from rpc_fulfillment.fulfillment.queries import due_delayed_orders

log = logging.getLogger(__name__)
BATCH = 100


async def release_due_holds(pool: asyncpg.Pool) -> int:
    """Release one batch of due orders; returns how many were released."""
    async with pool.acquire() as conn, conn.transaction():
        due = await due_delayed_orders(conn, BATCH)
        by_merchant = groupby(sorted(due, key=lambda row: row["merchant_id"]), key=lambda row: row["merchant_id"])
        for merchant_id, orders in by_merchant:
            await settle(conn, merchant_id, list(orders), "release_delayed", comment="Scheduled hold released")
    return len(due)


async def release_holds_forever(pool: asyncpg.Pool, interval: float) -> None:
    while True:
        try:
            while await release_due_holds(pool) == BATCH:
                pass
        except Exception as exc:  # the loop must outlive any round (a database outage included)
            background_failure(log, "could not release scheduled holds", exc)
        await asyncio.sleep(interval)
