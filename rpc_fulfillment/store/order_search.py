"""order.search: the filterable and sortable fields, and the two queries (page and total)."""

from __future__ import annotations

from typing import Sequence

import asyncpg

from rpc_fulfillment.domain.search import Condition, Kind, Page
from rpc_fulfillment.store.orders import ORDER_SELECT, Connection
from rpc_fulfillment.store.search import Column, WhereBuilder, order_by

# Each filterable field: its kind (how values are checked) and its SQL.
_FIELDS: dict[str, tuple[Kind, Column]] = {
    "order_id": (Kind.INTEGER, Column("o.order_id")),
    "unique_id": (Kind.TEXT, Column("o.unique_id")),
    "order_ref": (Kind.TEXT, Column("o.order_ref")),
    "state": (Kind.TEXT, Column("o.state")),
    "status": (Kind.TEXT, Column("o.status")),
    "store_code": (Kind.TEXT, Column("s.code")),
    "shipping_method": (Kind.TEXT, Column("o.shipping_method")),
    "carrier_code": (Kind.TEXT, Column("o.carrier_code")),
    "priority": (Kind.INTEGER, Column("o.priority")),
    "source": (Kind.TEXT, Column("o.source")),
    "created_at": (Kind.TIMESTAMP, Column("o.created_at")),
    "updated_at": (Kind.TIMESTAMP, Column("o.updated_at")),
    "completed_at": (Kind.TIMESTAMP, Column("o.completed_at")),
    "shipped_at": (Kind.TIMESTAMP, Column("o.shipped_at")),
    "delivered_at": (Kind.TIMESTAMP, Column("o.delivered_at")),
    "requested_ship_date": (Kind.DATE, Column("o.requested_ship_date")),
    # orders containing the SKU
    "sku": (Kind.TEXT, Column("i.sku", "EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.order_id AND {})")),
}
FILTERS = {name: kind for name, (kind, _) in _FIELDS.items()}
COLUMNS = {name: column for name, (_, column) in _FIELDS.items()}
SORTS = frozenset({"order_id", "unique_id", "order_ref", "status", "priority", "created_at", "updated_at", "requested_ship_date"})


async def search(conn: Connection, merchant_id: int, conditions: Sequence[Condition], page: Page) -> tuple[list[asyncpg.Record], int]:
    where = WhereBuilder([merchant_id])
    where.add("o.merchant_id = $1")
    where.add_conditions(conditions, COLUMNS)
    total = await conn.fetchval(
        f"SELECT count(*) FROM orders o JOIN stores s ON s.store_id = o.store_id WHERE {where.sql}", *where.params
    )
    if total == 0 or page.offset >= total:
        return [], total
    rows = await conn.fetch(f"{ORDER_SELECT} WHERE {where.sql} {order_by(page, COLUMNS, 'o.order_id')}", *where.params)
    return rows, total
