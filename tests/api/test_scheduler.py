"""Scheduled holds: delayed_shipment orders are released when their date comes, once."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from rpc_fulfillment.db.pool import create_pool
from rpc_fulfillment.workers.scheduler import BATCH, release_due_holds, release_holds_forever
from tests.api.order_helpers import ADDRESS, INFO, add_product, check_invariants


def _soon(seconds: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _status(rpc, session, unique_id):
    return (await rpc.result(session, "order.info", [unique_id, ["status", "status_history"]]))


async def test_a_delayed_order_is_released_when_its_date_comes(make_client, users, db):
    await add_product(db, "SKU-D", stock=5)
    rpc = await make_client(scheduler_interval=0.2)
    session = await rpc.login(users["merchant"])
    order = await rpc.result(session, "order.create", [None, {"SKU-D": 2}, ADDRESS, {**INFO, "delayed_ship_date": _soon(1.5)}])
    assert (order["state"], order["status"]) == ("holded", "delayed_shipment")
    for _ in range(50):
        info = await _status(rpc, session, order["unique_id"])
        if info["status"] != "delayed_shipment":
            break
        await asyncio.sleep(0.1)
    assert info["status"] == "new"
    released = [h for h in info["status_history"] if h["comment"] == "Scheduled hold released"]
    assert len(released) == 1 and released[0]["state"] == "new"
    events = await db.fetch("SELECT message FROM events WHERE topic = 'order:status_changed' ORDER BY seq")
    assert [(e["message"]["old_status"], e["message"]["status"]) for e in events] == [
        (None, "delayed_shipment"), ("delayed_shipment", "new")]
    await check_invariants(db)


async def test_an_order_not_yet_due_stays_on_hold(make_client, users, db):
    """Checked once the scheduler has released an order that was due (the positive control): a
    wait without it would pass with no scheduler at all."""
    await add_product(db, "SKU-D", stock=5)
    rpc = await make_client(scheduler_interval=0.1)
    session = await rpc.login(users["merchant"])
    later = await rpc.result(session, "order.create", [None, {"SKU-D": 1}, ADDRESS, {**INFO, "delayed_ship_date": _soon(3600)}])
    due = await rpc.result(session, "order.create", [None, {"SKU-D": 1}, ADDRESS, {**INFO, "delayed_ship_date": _soon(1)}])
    async with asyncio.timeout(20):
        while (await _status(rpc, session, due["unique_id"]))["status"] == "delayed_shipment":
            await asyncio.sleep(0.1)
    assert (await _status(rpc, session, later["unique_id"]))["status"] == "delayed_shipment"


async def test_concurrent_schedulers_release_each_order_once(rpc, users, db, database_url):
    """Several processes run the scheduler: SKIP LOCKED and the status check mean one release each."""
    await add_product(db, "SKU-D", stock=100)
    session = await rpc.login(users["merchant"])
    ids = []
    for _ in range(30):
        created = await rpc.result(session, "order.create", [None, {"SKU-D": 1}, ADDRESS, {**INFO, "delayed_ship_date": "2099-01-01"}])
        ids.append(created["unique_id"])
    await db.execute("UPDATE orders SET delayed_ship_date = now() - interval '1 minute'")
    pools = [await create_pool(database_url, 3) for _ in range(4)]
    try:
        released = await asyncio.gather(*(release_due_holds(pool) for pool in pools for _ in range(3)))
    finally:
        for pool in pools:
            await pool.close()
    assert sum(released) == 30
    per_order = await db.fetch(
        """SELECT o.unique_id, count(h.*) AS releases FROM orders o
             LEFT JOIN order_status_history h ON h.order_id = o.order_id AND h.comment = 'Scheduled hold released'
            GROUP BY o.unique_id"""
    )
    assert {row["unique_id"]: row["releases"] for row in per_order} == {unique_id: 1 for unique_id in ids}
    assert await db.fetchval("SELECT count(*) FROM orders WHERE status = 'new'") == 30
    await check_invariants(db)


async def test_more_due_holds_than_a_batch_are_released_in_one_pass(make_client, users, db, database_url):
    """250 due holds, 2.5 batches: one pass of the loop pages through them all (its next pass,
    an hour later, would be too late; the app's own scheduler waits an hour too)."""
    count = 2 * BATCH + BATCH // 2
    await add_product(db, "SKU-D", stock=count)
    rpc = await make_client(scheduler_interval=3600)
    session = await rpc.login(users["merchant"])
    orders = {str(n): [None, {"SKU-D": 1}, ADDRESS, {**INFO, "delayed_ship_date": "2099-01-01"}] for n in range(count)}
    created = await rpc.result(session, "order.bulk_create", [orders])
    assert all("error" not in order for order in created.values())
    await db.execute("UPDATE orders SET delayed_ship_date = now() - interval '1 minute'")
    pool = await create_pool(database_url, 2)
    loop = asyncio.create_task(release_holds_forever(pool, interval=3600))
    try:
        async with asyncio.timeout(60):
            while await db.fetchval("SELECT count(*) FROM orders WHERE status = 'new'") < count:
                await asyncio.sleep(0.1)
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
        await pool.close()
    await check_invariants(db)


async def test_a_release_due_while_the_server_was_down_happens_at_start(make_client, users, db):
    await add_product(db, "SKU-D", stock=5)
    first = await make_client(scheduler_interval=3600)
    session = await first.login(users["merchant"])
    order = await first.result(session, "order.create", [None, {"SKU-D": 1}, ADDRESS, {**INFO, "delayed_ship_date": "2099-01-01"}])
    await db.execute("UPDATE orders SET delayed_ship_date = now() - interval '1 hour'")
    second = await make_client(scheduler_interval=3600)
    for _ in range(50):
        if (await _status(second, session, order["unique_id"]))["status"] == "new":
            break
        await asyncio.sleep(0.05)
    assert (await _status(second, session, order["unique_id"]))["status"] == "new"
