"""Helpers and fixtures for the shipment tests: sessions of every role, orders, stock
deliveries through the engine, and shipments taken through their steps."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from rpc_fulfillment.fulfillment.engine import reserve_backorders
from tests.api.order_helpers import ADDRESS, INFO, add_stock, merchant_id
from tests.conftest import Rpc

# ShipStream's fixed messages; the other shipment faults carry their detail as the message.
SHIPMENT_NOT_FOUND = "Requested shipment does not exist."
ORDER_NOT_FOUND = "Requested order does not exist."
ACCESS_DENIED = "Access denied."

PACKAGE = {"weight": 1.5, "tracking_numbers": ["1Z999AA10123456784"]}


def assert_fault(error: dict[str, Any], number: int, message: str | None = None, *, contains: str | None = None) -> None:
    """ShipStream fault ``number`` on the wire (-(32000 + number)), with the exact message or
    one containing ``contains``."""
    assert error["code"] == -(32000 + number), error
    if message is not None:
        assert error["message"] == message, error
    if contains is not None:
        assert contains in error["message"], error


@pytest.fixture
async def sessions(rpc: Rpc, users: Any) -> dict[str, str]:
    """A session for each user of ``users``: merchant, warehouse, admin (acme) and other."""
    return {label: await rpc.login(user) for label, user in users.items()}


async def new_order(rpc: Rpc, session: str, items: Any, **info: Any) -> dict[str, Any]:
    body = await rpc.call(session, "order.create", [None, items, ADDRESS, {**INFO, **info}])
    assert "error" not in body, body
    return body["result"]


async def order_state(rpc: Rpc, session: str, unique_id: str) -> tuple[str, str]:
    order = await rpc.result(session, "order.info", [unique_id, ["state", "status"]])
    return order["state"], order["status"]


async def order_items(rpc: Rpc, session: str, unique_id: str) -> dict[str, dict[str, Any]]:
    order = await rpc.result(session, "order.info", [unique_id, ["items"]])
    return {item["sku"]: item for item in order["items"]}


async def receive(db: asyncpg.Connection, product_id: int, qty: int, warehouse_id: int = 1, merchant: str = "acme") -> int:
    """Stock arrives and the engine gives it to backordered orders, in one transaction."""
    async with db.transaction():
        await add_stock(db, product_id, qty, warehouse_id)
        return await reserve_backorders(db, await merchant_id(db, merchant), [product_id], None)


async def create_shipment(rpc: Rpc, session: str, unique_id: str, items: Any = None, warehouse_id: Any = None) -> dict[str, Any]:
    args: list[Any] = [unique_id]
    if items is not None or warehouse_id is not None:
        args += [items, warehouse_id]
    return await rpc.result(session, "shipment.create", args)


async def pack(rpc: Rpc, session: str, shipment_id: str, packages: Any = None) -> dict[str, Any]:
    return await rpc.result(session, "shipment.pack", [shipment_id, packages or [PACKAGE]])


async def through(rpc: Rpc, session: str, unique_id: str, *steps: str) -> dict[str, Any]:
    """A new shipment of the order taken through ``steps`` (pack, ship, deliver)."""
    shipment = await create_shipment(rpc, session, unique_id)
    for step in steps:
        if step == "pack":
            shipment = await pack(rpc, session, shipment["shipment_id"])
        else:
            shipment = await rpc.result(session, f"shipment.{step}", [shipment["shipment_id"]])
    return shipment


def quantities(shipment: dict[str, Any]) -> dict[str, int]:
    """sku -> units in the shipment."""
    return {item["sku"]: int(float(item["qty"])) for item in shipment["items"]}


async def events_of(db: asyncpg.Connection, topic: str) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT message FROM events WHERE topic = $1 ORDER BY seq", topic)
    return [row["message"] for row in rows]


async def set_store_policy(db: asyncpg.Connection, policy: str, merchant: str = "acme") -> None:
    await db.execute(
        "UPDATE stores SET backorder_policy = $2 WHERE merchant_id = $1 AND is_default", await merchant_id(db, merchant), policy
    )


async def shipment_invariants(db: asyncpg.Connection) -> None:
    """Beyond order_helpers.check_invariants: qty_in_shipment is the units inside open shipments,
    no unit is in two shipments, shipped units match, every open shipment's warehouse holds
    the allocation its units come from."""
    assert await db.fetchval(
        """SELECT count(*) FROM order_items i
            WHERE i.qty_in_shipment <> coalesce((
                SELECT sum(si.qty - si.qty_shipped - si.qty_canceled) FROM shipment_items si
                  JOIN shipments s ON s.shipment_id = si.shipment_id
                 WHERE si.order_item_id = i.order_item_id AND s.status NOT IN ('shipped', 'canceled')), 0)"""
    ) == 0
    assert await db.fetchval(
        """SELECT count(*) FROM order_items i
            WHERE i.qty_shipped <> coalesce((SELECT sum(si.qty_shipped) FROM shipment_items si
                                              WHERE si.order_item_id = i.order_item_id), 0)"""
    ) == 0
    assert await db.fetchval(
        """SELECT count(*) FROM (
               SELECT si.order_item_id, s.warehouse_id, sum(si.qty - si.qty_shipped - si.qty_canceled) AS units
                 FROM shipment_items si JOIN shipments s ON s.shipment_id = si.shipment_id
                WHERE s.status NOT IN ('shipped', 'canceled')
                GROUP BY si.order_item_id, s.warehouse_id) open_units
           LEFT JOIN order_item_allocations a USING (order_item_id, warehouse_id)
           WHERE open_units.units > coalesce(a.qty_allocated, 0)"""
    ) == 0


async def add_warehouse(db: asyncpg.Connection, name: str = "West Warehouse") -> int:
    return await db.fetchval("INSERT INTO warehouses (name) VALUES ($1) RETURNING warehouse_id", name)


async def row_counts(db: asyncpg.Connection) -> dict[str, Any]:
    """What a failed shipment call must leave as it was."""
    counts: dict[str, Any] = {
        table: await db.fetchval(f"SELECT count(*) FROM {table}")
        for table in ("shipments", "shipment_items", "packages", "package_items", "tracking_numbers", "events",
                      "order_status_history", "stock_movements")
    }
    counts["items"] = [tuple(r) for r in await db.fetch(
        "SELECT order_item_id, qty_processing, qty_shipped, qty_canceled, qty_backordered, qty_in_shipment "
        "FROM order_items ORDER BY order_item_id")]
    counts["stock"] = [tuple(r) for r in await db.fetch(
        "SELECT product_id, warehouse_id, qty_on_hand, qty_allocated FROM stock ORDER BY product_id, warehouse_id")]
    counts["shipment_rows"] = [tuple(r) for r in await db.fetch(
        "SELECT shipment_id, status, source, packed_at, shipped_at, delivered_at FROM shipments ORDER BY shipment_id")]
    counts["orders"] = [tuple(r) for r in await db.fetch(
        "SELECT order_id, state, status, shipped_at, delivered_at FROM orders ORDER BY order_id")]
    return counts
