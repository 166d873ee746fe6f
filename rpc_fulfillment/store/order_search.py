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
    # Orders containing the SKU: matched on the merchant's products first, so the lines are found
    # through order_items_product (an item's sku is its product's, and a SKU never changes).
    "sku": (Kind.TEXT, Column("p.sku", "EXISTS (SELECT 1 FROM order_items i JOIN products p ON p.product_id = i.product_id "
                                       "WHERE i.order_id = o.order_id AND i.merchant_id = o.merchant_id "
                                       "AND p.merchant_id = o.merchant_id AND {})")),
}
FILTERS = {name: kind for name, (kind, _) in _FIELDS.items()}
COLUMNS = {name: column for name, (_, column) in _FIELDS.items()}
SORTS = frozenset({"order_id", "unique_id", "order_ref", "status", "priority", "created_at", "updated_at", "requested_ship_date"})


# Up to this many matches, the page is cut from all of them, sorted; beyond, from an ordered
# index scan. The planner would otherwise walk the sort order's index past every row that does
# not match when the matches cluster at its far end (the open orders are the newest: "status in
# new, processing" sorted by order_id ascending read a million rows for 50).
SORT_MATCHES_UP_TO = 5000
MATCHES = "SELECT o.order_id{keys} FROM orders o JOIN stores s ON s.store_id = o.store_id WHERE {where}"


def _page_of_matches(where: WhereBuilder, page: Page) -> str:
    """The page cut from every match: MATERIALIZED, so the matches are found by the filter's
    own index, never by walking the sort's, and only the page's rows are read in full."""
    direction = "DESC" if page.descending else "ASC"
    key = COLUMNS[page.sort_field].expression
    return (f"WITH matches AS MATERIALIZED ({MATCHES.format(keys=f', {key} AS sort_key', where=where.sql)}), "
            f"page AS MATERIALIZED (SELECT order_id, sort_key FROM matches "
            f"ORDER BY sort_key {direction}, order_id {direction} LIMIT {int(page.limit)} OFFSET {int(page.offset)}) "
            f"{ORDER_SELECT} JOIN page ON page.order_id = o.order_id "
            f"ORDER BY page.sort_key {direction}, page.order_id {direction}")


async def search(conn: Connection, merchant_id: int, conditions: Sequence[Condition], page: Page) -> tuple[list[asyncpg.Record], int]:
    """The total count (first: it decides how to cut the page) and one page of orders."""
    where = WhereBuilder([merchant_id])
    where.add("o.merchant_id = $1")
    where.add_conditions(conditions, COLUMNS)
    total = await conn.fetchval(f"SELECT count(*) FROM ({MATCHES.format(keys='', where=where.sql)}) AS m", *where.params)
    if total == 0 or page.offset >= total:
        return [], total
    if total <= SORT_MATCHES_UP_TO:
        sql = _page_of_matches(where, page)
    else:
        sql = f"{ORDER_SELECT} WHERE {where.sql} {order_by(page, COLUMNS, 'o.order_id')}"
    return await conn.fetch(sql, *where.params), total
