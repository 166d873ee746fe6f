"""The sandbox worker (``serve --auto-fulfill``): orders are shipped and delivered on their own,
policies still hold, several workers never handle an order twice, and it stops cleanly."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from rpc_fulfillment.cli import _build_parser, _settings
from rpc_fulfillment.config import SettingsError, load_settings
from rpc_fulfillment.db.pool import create_pool
from rpc_fulfillment.workers.auto_fulfill import AutoFulfiller
from tests.api.order_helpers import add_product, check_invariants, stock_of
from tests.api.shipment_helpers import events_of, new_order, order_state, receive, shipment_invariants

DELAY = 0.05


async def wait_for(check: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.2)  # a few requests a second: well inside the per-user rate limit


async def test_orders_are_shipped_and_delivered_on_their_own(make_client, users, db):
    rpc = await make_client(auto_fulfill=True, auto_fulfill_delay=DELAY)
    session = await rpc.login(users["merchant"])
    product = await add_product(db, "A", stock=5)
    order = await new_order(rpc, session, {"A": 2})

    async def delivered() -> Any:
        info = await rpc.result(session, "order.info", [order["unique_id"], ["*", "shipments", "packages"]])
        return info if info["delivered_at"] else None

    info = await wait_for(delivered)
    assert (info["state"], info["status"]) == ("complete", "complete")
    assert info["shipped_at"] is not None
    [shipment] = info["shipments"]
    assert shipment["status"] == "shipped"
    [package] = info["packages"]
    assert package["status"] == "delivered" and package["tracking"][0]["number"].startswith("SBX")
    assert await stock_of(db, product) == (3, 0)
    for topic in ("order:shipments_updated", "shipment:packed", "shipment:shipped", "shipment:delivered",
                  "order:completed", "order:shipped", "order:delivered"):
        assert len(await events_of(db, topic)) == 1, topic
    await check_invariants(db)
    await shipment_invariants(db)


async def test_the_sandbox_keeps_to_the_backorder_policy(make_client, users, db):
    rpc = await make_client(auto_fulfill=True, auto_fulfill_delay=DELAY)
    session = await rpc.login(users["merchant"])
    product = await add_product(db, "A", stock=1)
    await add_product(db, "B", stock=1)
    order = await new_order(rpc, session, {"A": 2}, backorder_policy="all_or_nothing")
    control = await new_order(rpc, session, {"B": 1})  # can ship: proves the sandbox ran meanwhile

    def completed(unique_id: str):
        async def complete() -> bool:
            return await order_state(rpc, session, unique_id) == ("complete", "complete")
        return complete

    await wait_for(completed(control["unique_id"]))
    assert await order_state(rpc, session, order["unique_id"]) == ("new", "partial_backorder")
    assert await db.fetchval("SELECT count(*) FROM shipments") == 1  # the control's
    await receive(db, product, 1)
    await wait_for(completed(order["unique_id"]))
    assert await db.fetchval("SELECT count(*) FROM shipments") == 2


async def test_several_workers_never_handle_an_order_twice(users, db, database_url):
    await add_product(db, "A", stock=200)
    merchant_id = await db.fetchval("SELECT merchant_id FROM merchants WHERE code = 'acme'")
    store_id = await db.fetchval("SELECT store_id FROM stores WHERE merchant_id = $1", merchant_id)
    # 40 orders of 2 units, reserved, written straight into the database
    for n in range(40):
        order_id = await db.fetchval(
            """INSERT INTO orders (merchant_id, store_id, unique_id, state, status, shipping_method, carrier_code,
                                   shipping_address, updated_at)
               VALUES ($1, $2, $3, 'new', 'new', 'ups_03', 'ups', '{}', now() - interval '1 minute') RETURNING order_id""",
            merchant_id, store_id, f"W{n}")
        item_id = await db.fetchval(
            """INSERT INTO order_items (order_id, merchant_id, product_id, line_no, sku, qty_ordered, qty_processing)
               SELECT $1, $2, product_id, 1, 'A', 2, 2 FROM products WHERE sku = 'A' RETURNING order_item_id""",
            order_id, merchant_id)
        await db.execute(
            """INSERT INTO order_item_allocations (order_item_id, warehouse_id, order_id, merchant_id, product_id, qty_allocated)
               SELECT $1, 1, $2, $3, product_id, 2 FROM products WHERE sku = 'A'""", item_id, order_id, merchant_id)
    await db.execute("UPDATE stock SET qty_allocated = 80")
    pools = [await create_pool(database_url, 4) for _ in range(3)]
    try:
        workers = [AutoFulfiller(pool, 0.001) for pool in pools]
        async with asyncio.timeout(60):
            for _ in range(6):  # create, then pack, ship, deliver as the delays pass
                await asyncio.gather(*(worker.run_once() for worker in workers))
                await asyncio.sleep(0.01)
    finally:
        for pool in pools:
            await pool.close()
    assert await db.fetchval("SELECT count(*) FROM shipments") == 40
    assert await db.fetchval("SELECT count(DISTINCT order_id) FROM shipments") == 40
    assert await db.fetchval("SELECT count(*) FROM shipments WHERE status = 'shipped' AND delivered_at IS NOT NULL") == 40
    assert await db.fetchval("SELECT count(*) FROM packages") == 40
    assert await db.fetchval("SELECT count(*) FROM events WHERE topic = 'shipment:shipped'") == 40
    assert await db.fetchval("SELECT count(*) FROM events WHERE topic = 'order:delivered'") == 40
    assert await db.fetchval("SELECT sum(qty_shipped) FROM order_items") == 80
    assert await stock_of(db, await db.fetchval("SELECT product_id FROM products WHERE sku = 'A'")) == (120, 0)
    await shipment_invariants(db)


async def test_the_worker_stops_cleanly(database_url):
    pool = await create_pool(database_url, 2)
    try:
        worker = AutoFulfiller(pool, 60.0, interval=30.0)
        task = asyncio.create_task(worker.run())
        await asyncio.sleep(0.2)
        worker.stop()
        async with asyncio.timeout(5):
            await task  # ends without being cancelled, and without an error
        assert task.done() and not task.cancelled() and task.exception() is None
    finally:
        await pool.close()


async def test_app_without_the_flag_runs_no_worker(make_client, users, db):
    rpc = await make_client(auto_fulfill_delay=DELAY)
    session = await rpc.login(users["merchant"])
    await add_product(db, "A", stock=1)
    await new_order(rpc, session, {"A": 1})
    await asyncio.sleep(0.3)
    assert await db.fetchval("SELECT count(*) FROM shipments") == 0
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "auto-fulfill"]


# -------------------------------------------------------------------------- settings


def test_settings_from_environment_and_flags():
    assert (load_settings({}, {}).auto_fulfill, load_settings({}, {}).auto_fulfill_delay) == (False, 5.0)
    settings = load_settings({}, {"RPCF_AUTO_FULFILL": "1", "RPCF_AUTO_FULFILL_DELAY": "0.5"})
    assert (settings.auto_fulfill, settings.auto_fulfill_delay) == (True, 0.5)
    assert load_settings({}, {"RPCF_AUTO_FULFILL": "off"}).auto_fulfill is False
    args = _build_parser().parse_args(["serve", "--auto-fulfill", "--auto-fulfill-delay", "2"])
    assert (_settings(args).auto_fulfill, _settings(args).auto_fulfill_delay) == (True, 2.0)
    # an absent flag leaves the environment's value
    args = _build_parser().parse_args(["serve"])
    assert args.auto_fulfill is None and args.auto_fulfill_delay is None


@pytest.mark.parametrize("environ", [{"RPCF_AUTO_FULFILL": "maybe"}, {"RPCF_AUTO_FULFILL_DELAY": "-1"},
                                     {"RPCF_AUTO_FULFILL_DELAY": "soon"}])
def test_bad_settings(environ):
    with pytest.raises(SettingsError):
        load_settings({}, environ)
