"""Helpers for the fulfillment engine's order tests: creating orders over the API, making stock
arrive, and reading what a user would notice (rows, stock, events, history)."""

from __future__ import annotations

from typing import Any

import asyncpg

from rpc_fulfillment.fulfillment.engine import reserve_backorders
from tests.api.order_helpers import ADDRESS, INFO, add_stock, merchant_id

HOLD_MESSAGE_START = "the order cannot be put on hold: the order's status is "


async def create(rpc: Any, session: str, items: Any, **info: Any) -> dict[str, Any]:
    """order.create that must succeed; ``info`` adds to the minimal INFO."""
    return await rpc.result(session, "order.create", [None, items, ADDRESS, {**INFO, **info}])


async def arrive(db: asyncpg.Connection, product_id: int, qty: int, warehouse_id: int = 1, merchant: str = "acme") -> None:
    """Units arrive in a warehouse and backordered items take them, in one transaction. As
    every receipt must, it locks the product's stock rows in primary-key order first."""
    owner = await merchant_id(db, merchant)
    async with db.transaction():
        await db.execute("SELECT 1 FROM stock WHERE product_id = $1 ORDER BY product_id, warehouse_id FOR UPDATE", product_id)
        await add_stock(db, product_id, qty, warehouse_id)
        await reserve_backorders(db, owner, [product_id], None)


async def order_row(db: asyncpg.Connection, unique_id: str, merchant: str = "acme") -> asyncpg.Record:
    return await db.fetchrow(
        "SELECT * FROM orders WHERE unique_id = $1 AND merchant_id = $2", unique_id, await merchant_id(db, merchant)
    )


async def state_of(db: asyncpg.Connection, unique_id: str) -> tuple[str, str]:
    row = await order_row(db, unique_id)
    return row["state"], row["status"]


async def items_of(db: asyncpg.Connection, unique_id: str) -> list[dict[str, Any]]:
    """Each item's quantities, in line order."""
    rows = await db.fetch(
        """SELECT i.sku, i.order_item_ref, i.qty_ordered, i.qty_processing, i.qty_backordered, i.qty_canceled, i.qty_shipped
             FROM order_items i JOIN orders o USING (order_id)
            WHERE o.unique_id = $1 ORDER BY i.line_no""",
        unique_id,
    )
    return [dict(row) for row in rows]


def quantities(items: list[dict[str, Any]]) -> list[tuple[int, int, int]]:
    """(processing, backordered, canceled) per item."""
    return [(i["qty_processing"], i["qty_backordered"], i["qty_canceled"]) for i in items]


async def allocations_of(db: asyncpg.Connection, unique_id: str) -> dict[tuple[str, int], int]:
    """{(sku, warehouse): units reserved} of an order."""
    rows = await db.fetch(
        """SELECT i.sku, a.warehouse_id, a.qty_allocated FROM order_item_allocations a
             JOIN order_items i USING (order_item_id) JOIN orders o ON o.order_id = a.order_id
            WHERE o.unique_id = $1""",
        unique_id,
    )
    return {(row["sku"], row["warehouse_id"]): row["qty_allocated"] for row in rows}


async def history_of(db: asyncpg.Connection, unique_id: str) -> list[tuple[str, str, str | None]]:
    rows = await db.fetch(
        """SELECT h.state, h.status, h.comment FROM order_status_history h JOIN orders o USING (order_id)
            WHERE o.unique_id = $1 ORDER BY h.history_id""",
        unique_id,
    )
    return [(row["state"], row["status"], row["comment"]) for row in rows]


async def last_event_seq(db: asyncpg.Connection) -> int:
    """Where the last event was written (events.seq: event ids are not ordered)."""
    return await db.fetchval("SELECT coalesce(max(seq), 0) FROM events")


async def events_after(db: asyncpg.Connection, seq: int, unique_id: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(topic, message) of the events written after ``seq`` (see last_event_seq), of one order if given."""
    rows = await db.fetch(
        """SELECT topic, message FROM events WHERE seq > $1 AND ($2::text IS NULL OR message->>'unique_id' = $2)
            ORDER BY seq""",
        seq,
        unique_id,
    )
    return [(row["topic"], row["message"]) for row in rows]


def status_changes(events: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, str, str, str]]:
    """(old_state, old_status, state, status) of each order:status_changed event."""
    return [
        (m["old_state"], m["old_status"], m["state"], m["status"]) for topic, m in events if topic == "order:status_changed"
    ]
