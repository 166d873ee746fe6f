"""The order rows every part of the engine reads: an order by its unique id (locked or not),
its items with their allocations, and the stock rows an allocation locks."""

from __future__ import annotations

from typing import Any, Sequence

import asyncpg

from rpc_fulfillment.core.lenient import identifier_key, text_or_number
from rpc_fulfillment.core.api import Arg
from rpc_fulfillment.core.context import CallContext
from rpc_fulfillment.core.faults import Fault
from rpc_fulfillment.db.pool import Connection

# The argument naming an order, as every order and shipment method documents it.
ORDER_UNIQUE_ID = Arg({"type": ["string", "integer"], "minLength": 1}, "the order's unique_id (your order number)")


def stock_available_sql(products: str, *, lock: bool = True) -> str:
    # Locked in primary-key order, so concurrent orders never deadlock.
    return f"""SELECT s.product_id, s.warehouse_id, s.qty_on_hand - s.qty_allocated AS available, w.is_active
                 FROM stock s JOIN warehouses w USING (warehouse_id)
                WHERE s.product_id {products}
                ORDER BY s.product_id, s.warehouse_id{" FOR UPDATE OF s" if lock else ""}"""


async def lock_stock(conn: Connection, product_ids: Sequence[int]) -> list[asyncpg.Record]:
    """Lock the stock rows of these products and return what is available in each warehouse."""
    return await conn.fetch(stock_available_sql("= ANY($1::bigint[])"), list(product_ids))


ORDER_SELECT = """
    SELECT o.*, s.code AS store_code, s.name AS store_name, u.username AS submitted_by
      FROM orders o
      JOIN stores s ON s.store_id = o.store_id
      LEFT JOIN api_users u ON u.api_user_id = o.submitted_by_id"""


async def find_order(conn: Connection, merchant_id: int, unique_id: str, *, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"{ORDER_SELECT} WHERE o.merchant_id = $1 AND o.unique_id = $2" + (" FOR UPDATE OF o" if lock else ""),
        merchant_id,
        unique_id,
    )


async def fetch_items(conn: Connection, order_ids: Sequence[int]) -> list[asyncpg.Record]:
    """The items of several orders in one query, each with its allocation_data."""
    return await conn.fetch(
        """SELECT i.*,
                  coalesce((SELECT json_agg(json_build_object('warehouse_id', a.warehouse_id,
                                                              'qty_allocated', a.qty_allocated)
                                            ORDER BY a.warehouse_id)
                              FROM order_item_allocations a WHERE a.order_item_id = i.order_item_id),
                           '[]'::json) AS allocation_data
             FROM order_items i
            WHERE i.order_id = ANY($1::bigint[])
            ORDER BY i.order_id, i.line_no""",
        list(order_ids),
    )


def unique_id_argument(value: Any) -> str:
    """ShipStream's order ids are strings; loosely typed clients send numbers."""
    value = text_or_number(value)
    if not isinstance(value, str) or not value:
        raise Fault("order_not_found", "the order unique id must be a string")
    return identifier_key(value)


async def order_or_fault(conn: Connection, ctx: CallContext, unique_id: Any, *, lock: bool = False) -> asyncpg.Record:
    """The caller's order, or fault 100 (also for another merchant's order)."""
    row = await find_order(conn, ctx.principal.merchant_id, unique_id_argument(unique_id), lock=lock)
    if row is None:
        raise Fault("order_not_found")
    return row
