"""order.search: the SQL of the filterable and sortable fields, and the queries (page and total)."""

from __future__ import annotations

from typing import Sequence

import asyncpg

from rpc_fulfillment.orders.fields import ORDER_FIELDS
from rpc_fulfillment.orders.search_fields import SEARCH_FIELDS
from rpc_fulfillment.core.filters import Condition, Page
from rpc_fulfillment.db.pool import Connection
from rpc_fulfillment.fulfillment.order_rows import ORDER_SELECT
from rpc_fulfillment.db.search import Column, WhereBuilder, columns_for, order_by

# The SQL of each filterable field of orders/search_fields.py (a sort field's SQL is its filter's):
# the order's, from the field table; a line's, asked of the order's lines.
COLUMNS = columns_for(SEARCH_FIELDS, {
    **{name: Column(sql) for name, sql in ORDER_FIELDS.search_sql("o").items()},
    # Orders containing the SKU: matched on the merchant's products first, so the lines are found
    # through order_items_product (an item's sku is its product's, and a SKU never changes).
    "sku": Column("p.sku", "EXISTS (SELECT 1 FROM order_items i JOIN products p ON p.product_id = i.product_id "
                         "WHERE i.order_id = o.order_id AND i.merchant_id = o.merchant_id "
                         "AND p.merchant_id = o.merchant_id AND {})"),
}, "order.search filters")


# When the planner expects at most this many matches, the count and the page come from one
# statement over all of them (the page sorted from the set); beyond, the count and then a page
# from an ordered index scan. Cutting the page from the set also keeps the planner from
# walking the sort order's index past every row that does not match when the matches cluster
# at its far end (the open orders are the newest: "status in new, processing" sorted by
# order_id ascending would read a million rows for 50). The bound is generous because the
# estimate is rough (other merchants' orders count in the statistics: with 20,000, "status
# new" of 16,000 was estimated at 61,000 and took 300 ms by the ordered scan, 8 ms from the set).
SORT_MATCHES_UP_TO = 100_000
# Fields read from the store; the stores table is joined only when one is filtered on, so a
# count can be answered from an index of orders alone.
STORE_FIELDS = frozenset({"store_code"})


def _matches(where: WhereBuilder, conditions: Sequence[Condition], sort_key: str | None = None) -> str:
    stores = " JOIN stores s ON s.store_id = o.store_id" if any(c.field in STORE_FIELDS for c in conditions) else ""
    keys = f", {sort_key} AS sort_key" if sort_key else ""
    return f"SELECT o.order_id{keys} FROM orders o{stores} WHERE {where.sql}"


def _count_and_page_of_matches(where: WhereBuilder, conditions: Sequence[Condition], page: Page) -> str:
    """One row per order of the page, each with the total count; one row of nulls but the
    count when the page is empty. MATERIALIZED: the matches are found by the filter's own
    index, never by walking the sort's, and only the page's rows are read in full."""
    direction = "DESC" if page.descending else "ASC"
    key = COLUMNS[page.sort_field].expression
    return (f"WITH matches AS MATERIALIZED ({_matches(where, conditions, key)}), "
            f"page AS MATERIALIZED (SELECT order_id, sort_key FROM matches "
            f"ORDER BY sort_key {direction}, order_id {direction} LIMIT {int(page.limit)} OFFSET {int(page.offset)}) "
            f"SELECT total.total_count, listed.* FROM (SELECT count(*) AS total_count FROM matches) AS total "
            f"LEFT JOIN LATERAL ({ORDER_SELECT.replace('SELECT o.*', 'SELECT page.sort_key AS page_sort_key, o.*', 1)} "
            f"JOIN page ON page.order_id = o.order_id) AS listed ON true "
            f"ORDER BY listed.page_sort_key {direction}, listed.order_id {direction}")


async def _estimated_matches(conn: Connection, sql: str, params: Sequence[object]) -> float:
    """The planner's estimate of the rows ``sql`` returns (planning only: no scan)."""
    plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *params)
    return float(plan[0]["Plan"]["Plan Rows"])


async def search(conn: Connection, merchant_id: int, conditions: Sequence[Condition], page: Page) -> tuple[list[asyncpg.Record], int]:
    """One page of orders and the total count: one statement when the matches are expected to
    be few, else the count and then the page."""
    where = WhereBuilder.for_merchant(merchant_id, "o.merchant_id", conditions, COLUMNS)
    # Plans for these values, never a generic plan for the statement: "status = 'complete'" and
    # "status = 'new'" select 94% and 2% of the orders and need different plans.
    await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
    matches = _matches(where, conditions)
    if await _estimated_matches(conn, matches, where.params) <= SORT_MATCHES_UP_TO:
        rows = await conn.fetch(_count_and_page_of_matches(where, conditions, page), *where.params)
        return [row for row in rows if row["order_id"] is not None], rows[0]["total_count"]
    total = await conn.fetchval(f"SELECT count(*) FROM ({matches}) AS m", *where.params)
    if total == 0 or page.offset >= total:
        return [], total
    rows = await conn.fetch(f"{ORDER_SELECT} WHERE {where.sql} {order_by(page, COLUMNS, 'o.order_id')}", *where.params)
    return rows, total
