"""The sandbox warehouse (``serve --auto-fulfill``): orders with reserved units outside
shipments are taken through shipment.create, pack (one package, a made-up tracking number),
ship and deliver, each step ``delay`` seconds after the previous one.

It runs exactly the service steps the API runs (shipments/api.py), with the same locks.
Several processes can run it: orders are claimed with ``FOR UPDATE SKIP LOCKED``, so no two
processes work on the same order at once, and every step re-checks the shipment's status
under the lock, so none is done twice. Shipping locks the stock rows first (the engine's lock
order), then claims the order with SKIP LOCKED.

``AutoFulfiller.run`` stops cleanly: ``stop()`` lets the current pass finish its transaction
and ends the loop; nothing is left half-written.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any, Awaitable, Callable

import asyncpg

from rpc_fulfillment.db.outage import background_failure
from rpc_fulfillment.core.faults import Fault
from rpc_fulfillment.shipments.rules import PackageInput, TrackingInput
from rpc_fulfillment.fulfillment.states import RULES
from rpc_fulfillment.shipments import api as steps
from rpc_fulfillment.fulfillment import queries as fulfillment_store
from rpc_fulfillment.fulfillment import order_rows
from rpc_fulfillment.shipments import queries as store

log = logging.getLogger(__name__)
BATCH = 50
SHUTDOWN_TIMEOUT = 10.0  # seconds the current pass has to finish at shutdown before it is cancelled
# The order statuses a shipment may start from, read from the matrix.
START_FROM = sorted({pair for rule in RULES if rule.action == "start_shipment" for pair in rule.from_})


def made_up_package(shipment: Any) -> PackageInput:
    number = f"SBX{shipment['increment_id']}{secrets.token_hex(4).upper()}"
    return PackageInput(
        weight=None,
        tracking_numbers=[TrackingInput(number=number, carrier=shipment["carrier_code"], description="sandbox")],
    )


class AutoFulfiller:
    def __init__(self, pool: asyncpg.Pool, delay: float, interval: float | None = None) -> None:
        self.pool = pool
        self.delay = delay
        self.interval = interval if interval is not None else max(0.05, min(1.0, delay / 2))
        self._stop = asyncio.Event()

    # ------------------------------------------------------------------------ one pass

    async def _each_locked(self, conn: Any, orders: list[Any], work: Callable[[Any], Awaitable[int]]) -> int:
        """Run ``work`` per order in a savepoint: a refusal (a Fault) skips that order only."""
        done = 0
        for order in orders:
            try:
                async with conn.transaction():
                    done += await work(order)
            except Fault as fault:
                log.debug("auto-fulfill: order %s skipped: %s", order["unique_id"], fault.message)
        return done

    async def create_shipments(self) -> int:
        done, after = 0, 0
        while True:
            async with self.pool.acquire() as conn, conn.transaction():
                orders = await store.orders_to_ship_from(conn, self.delay, START_FROM, after, BATCH)

                async def create(order: Any) -> int:
                    await steps.create_for_order(conn, order["merchant_id"], order, None, None)
                    return 1

                done += await self._each_locked(conn, orders, create)
            if len(orders) < BATCH:
                return done
            after = orders[-1]["order_id"]

    async def _stage(self, stage: str, work: Callable[[Any, Any, Any], Awaitable[Any]]) -> int:
        """pack / deliver: claim orders with due shipments (SKIP LOCKED), then each shipment."""
        done, after = 0, 0
        while True:
            async with self.pool.acquire() as conn, conn.transaction():
                orders = await store.orders_with_due_shipments(conn, stage, self.delay, after, BATCH, lock=True)

                async def each(order: Any) -> int:
                    count = 0
                    for shipment in await store.due_shipments(conn, stage, self.delay, order["order_id"]):
                        # the order as it is now: a previous step may have settled it
                        current = await order_rows.find_order(conn, order["merchant_id"], order["unique_id"], lock=True)
                        await work(conn, current, shipment)
                        count += 1
                    return count

                done += await self._each_locked(conn, orders, each)
            if len(orders) < BATCH:
                return done
            after = orders[-1]["order_id"]

    async def pack_shipments(self) -> int:
        async def pack(conn: Any, order: Any, shipment: Any) -> None:
            await steps.pack_shipment(conn, order["merchant_id"], order, shipment, [made_up_package(shipment)])

        return await self._stage("pack", pack)

    async def deliver_shipments(self) -> int:
        async def deliver(conn: Any, order: Any, shipment: Any) -> None:
            await steps.deliver_shipment(conn, order["merchant_id"], order, shipment)

        return await self._stage("deliver", deliver)

    async def ship_shipments(self) -> int:
        """Candidates are read without locks; each order is then shipped in its own transaction:
        its stock rows locked first (blocking, primary-key order), then the order claimed with
        SKIP LOCKED (another process has it: skip), then its due shipments re-read under lock."""
        done, after = 0, 0
        while True:
            async with self.pool.acquire() as conn:
                candidates = await store.orders_with_due_shipments(conn, "ship", self.delay, after, BATCH, lock=False)
                for candidate in candidates:
                    try:
                        async with conn.transaction():
                            await fulfillment_store.lock_order_stock(conn, candidate["order_id"])
                            order = await store.lock_order_skip_locked(conn, candidate["order_id"])
                            if order is None:
                                continue
                            for shipment in await store.due_shipments(conn, "ship", self.delay, order["order_id"]):
                                await steps.ship_shipment(conn, order["merchant_id"], None, order, shipment)
                                done += 1
                    except Fault as fault:
                        log.debug("auto-fulfill: order %s not shipped: %s", candidate["unique_id"], fault.message)
            if len(candidates) < BATCH:
                return done
            after = candidates[-1]["order_id"]

    async def run_once(self) -> int:
        """One pass over every stage; returns the steps taken."""
        return (await self.create_shipments() + await self.pack_shipments() + await self.ship_shipments()
                + await self.deliver_shipments())

    # ------------------------------------------------------------------------- the loop

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                taken = await self.run_once()
                if taken:
                    log.info("auto-fulfill: %d step(s) taken", taken)
            except Exception as exc:  # the loop must outlive any pass (a database outage included)
                background_failure(log, "auto-fulfill: pass failed, will retry", exc)
            try:
                await asyncio.wait_for(self._stop.wait(), self.interval)
            except asyncio.TimeoutError:
                pass

    def stop(self) -> None:
        self._stop.set()


async def auto_fulfill_context(pool: asyncpg.Pool, delay: float) -> Any:
    """For an aiohttp cleanup context: start the worker, and on shutdown let its current pass
    finish (up to SHUTDOWN_TIMEOUT seconds) before cancelling it."""
    fulfiller = AutoFulfiller(pool, delay)
    task = asyncio.create_task(fulfiller.run(), name="auto-fulfill")
    try:
        yield fulfiller
    finally:
        fulfiller.stop()
        try:
            await asyncio.wait_for(task, timeout=SHUTDOWN_TIMEOUT)
        except asyncio.TimeoutError:
            log.warning("auto-fulfill: the current pass did not finish in time; cancelled")
        except asyncio.CancelledError:
            pass
