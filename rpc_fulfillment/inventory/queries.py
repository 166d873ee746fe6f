"""SQL for stock (per product and warehouse) and stock movements.

Stock changes are single atomic statements: a receipt is one upsert, a removal one UPDATE
that changes nothing when it would take on hand below allocated (the table's CHECK
constraints hold the same line). Each writes its stock movement in the same statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

import asyncpg

from rpc_fulfillment.core.filters import Condition, Page
from rpc_fulfillment.db.search import Column, WhereBuilder, fetch_page

# Units of a product backordered by open orders (all warehouses: backorders have none).
_BACKORDERED = """(SELECT coalesce(sum(i.qty_backordered), 0)
                     FROM order_items i JOIN orders o ON o.order_id = i.order_id
                    WHERE i.product_id = {product} AND i.qty_backordered > 0
                      AND o.state NOT IN ('canceled', 'complete'))"""


@dataclass(frozen=True)
class Movement:
    """Why stock changed: written to stock_movements with the change."""

    entity_type: str
    entity_action: str
    entity_id: str | None
    comment: str
    api_user_id: int | None


@dataclass(frozen=True)
class StockChange:
    """A product's stock in one warehouse right after a change, with totals over all warehouses."""

    product_id: int
    sku: str
    external_id: str | None
    warehouse_id: int
    qty_on_hand: int
    qty_allocated: int
    total_available: int  # over all warehouses
    qty_backordered: int  # the product's, over all warehouses
    movement_id: int | None = None

    @property
    def qty_available(self) -> int:
        return self.qty_on_hand - self.qty_allocated


def _change(row: asyncpg.Record) -> StockChange:
    return StockChange(
        product_id=row["product_id"],
        sku=row["sku"],
        external_id=row["external_id"],
        warehouse_id=row["warehouse_id"],
        qty_on_hand=row["qty_on_hand"],
        qty_allocated=row["qty_allocated"],
        total_available=row["other_available"] + row["qty_on_hand"] - row["qty_allocated"],
        qty_backordered=row["qty_backordered"],
        movement_id=row["movement_id"],
    )


# $1 merchant, $2 sku, $3 warehouse, $4 delta, $5.. the movement. ``other_available`` is read
# from the statement's snapshot, which does not see its own change: hence "other warehouses".
_AFTER_CHANGE = f"""
, m AS (
    INSERT INTO stock_movements (merchant_id, product_id, warehouse_id, entity_type, entity_action, entity_id,
                                 qty_on_hand_delta, comment, api_user_id)
    SELECT $1, s.product_id, s.warehouse_id, $5, $6, $7, $4, $8, $9 FROM s
    RETURNING movement_id
)
SELECT p.product_id, p.sku, p.external_id, s.warehouse_id, s.qty_on_hand, s.qty_allocated, m.movement_id,
       (SELECT coalesce(sum(o.qty_on_hand - o.qty_allocated), 0) FROM stock o
         WHERE o.product_id = p.product_id AND o.warehouse_id <> $3) AS other_available,
       {_BACKORDERED.format(product="p.product_id")} AS qty_backordered
  FROM p JOIN s ON s.product_id = p.product_id CROSS JOIN m
"""

_RECEIVE = f"""
WITH p AS (SELECT product_id, sku, external_id FROM products WHERE merchant_id = $1 AND sku = $2),
s AS (
    INSERT INTO stock AS st (product_id, warehouse_id, merchant_id, qty_on_hand)
    SELECT p.product_id, $3, $1, $4 FROM p
    ON CONFLICT (product_id, warehouse_id)
    DO UPDATE SET qty_on_hand = st.qty_on_hand + EXCLUDED.qty_on_hand, updated_at = now()
    RETURNING st.product_id, st.warehouse_id, st.qty_on_hand, st.qty_allocated
)
{_AFTER_CHANGE}
"""

_REMOVE = f"""
WITH p AS (SELECT product_id, sku, external_id FROM products WHERE merchant_id = $1 AND sku = $2),
s AS (
    UPDATE stock AS st SET qty_on_hand = st.qty_on_hand + $4, updated_at = now()
      FROM p
     WHERE st.product_id = p.product_id AND st.warehouse_id = $3 AND st.qty_on_hand + $4 >= st.qty_allocated
    RETURNING st.product_id, st.warehouse_id, st.qty_on_hand, st.qty_allocated
)
{_AFTER_CHANGE}
"""


def _movement_args(movement: Movement) -> tuple[object, ...]:
    return (movement.entity_type, movement.entity_action, movement.entity_id, movement.comment, movement.api_user_id)


# Every warehouse's stock row of the product, locked in primary-key order: the order the
# order engine locks stock in (orders/queries.py lock_stock).
_LOCK_PRODUCT_STOCK = """
SELECT st.warehouse_id FROM stock AS st
 WHERE st.product_id = (SELECT product_id FROM products WHERE merchant_id = $1 AND sku = $2)
 ORDER BY st.product_id, st.warehouse_id
   FOR UPDATE OF st
"""


async def receive(
    conn: asyncpg.Connection, merchant_id: int, sku: str, warehouse_id: int, qty: int, movement: Movement
) -> StockChange | None:
    """Add ``qty`` (> 0) on hand: one upsert (the stock row exists from the product's or the
    warehouse's creation on, migration 0015) and its movement. None when the merchant has no such SKU. An unknown warehouse raises
    ``asyncpg.ForeignKeyViolationError``.

    The product's stock rows in every warehouse are locked first, in primary-key order: what
    follows a receipt (backordered orders taking the units) locks them all in that order, and
    two receipts of one product in two warehouses must not each hold one row while waiting for
    the other's. It also makes the all-warehouse total in the answer exact."""
    assert qty > 0
    await conn.execute(_LOCK_PRODUCT_STOCK, merchant_id, sku)
    row = await conn.fetchrow(_RECEIVE, merchant_id, sku, warehouse_id, qty, *_movement_args(movement))
    return None if row is None else _change(row)


async def remove(
    conn: asyncpg.Connection, merchant_id: int, sku: str, warehouse_id: int, qty: int, movement: Movement
) -> StockChange | None:
    """Take ``qty`` (> 0) off hand: one UPDATE and its movement. None when there is no such
    SKU, no stock row in that warehouse, or fewer than ``qty`` available there (on hand minus
    allocated; the table's CHECK constraints hold the same line)."""
    assert qty > 0
    row = await conn.fetchrow(_REMOVE, merchant_id, sku, warehouse_id, -qty, *_movement_args(movement))
    return None if row is None else _change(row)


async def stock_after_change(conn: asyncpg.Connection, product_id: int, warehouse_id: int) -> StockChange:
    """Re-read a product's stock in a warehouse (when something else changed it in this transaction)."""
    row = await conn.fetchrow(
        f"""SELECT p.product_id, p.sku, p.external_id, s.warehouse_id, s.qty_on_hand, s.qty_allocated,
                   NULL::bigint AS movement_id,
                   (SELECT coalesce(sum(o.qty_on_hand - o.qty_allocated), 0) FROM stock o
                     WHERE o.product_id = p.product_id AND o.warehouse_id <> s.warehouse_id) AS other_available,
                   {_BACKORDERED.format(product="p.product_id")} AS qty_backordered
              FROM products p JOIN stock s ON s.product_id = p.product_id
             WHERE p.product_id = $1 AND s.warehouse_id = $2""",
        product_id,
        warehouse_id,
    )
    return _change(row)


async def diagnose(conn: asyncpg.Connection, merchant_id: int, sku: str, warehouse_id: int) -> asyncpg.Record:
    """Why a removal touched no row: ``product_found``, ``warehouse_found``, ``qty_available``."""
    return await conn.fetchrow(
        """SELECT p.product_id IS NOT NULL AS product_found,
                  EXISTS (SELECT 1 FROM warehouses WHERE warehouse_id = $3) AS warehouse_found,
                  coalesce(s.qty_on_hand - s.qty_allocated, 0) AS qty_available
             FROM (SELECT 1) AS one
             LEFT JOIN products p ON p.merchant_id = $1 AND p.sku = $2
             LEFT JOIN stock s ON s.product_id = p.product_id AND s.warehouse_id = $3""",
        merchant_id,
        sku,
        warehouse_id,
    )


async def warehouse_exists(conn: asyncpg.Connection, warehouse_id: int) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM warehouses WHERE warehouse_id = $1)", warehouse_id)


async def list_inventory(
    conn: asyncpg.Connection,
    merchant_id: int,
    skus: list[str] | None,
    warehouse_id: int | None,
    updated_since: datetime | None,
) -> list[asyncpg.Record]:
    """Stock of the merchant's listed products (enabled, not "not visible"): summed over all
    warehouses, or in one. Products without stock answer zeros. In SKU order: product ids are
    not in creation order (migration 0017), and a SKU is what a reader looks for. The statement
    text depends only on which arguments are given (a handful of prepared statements, each with
    a good plan)."""
    params: list[object] = [merchant_id]

    def param(value: object) -> str:
        params.append(value)
        return f"${len(params)}"

    in_warehouse = f" AND st.warehouse_id = {param(warehouse_id)}" if warehouse_id is not None else ""
    where = [
        "p.merchant_id = $1",
        "p.status = 1",
        "coalesce(p.attributes->>'visibility', '2') <> '1'",
    ]
    if skus is not None:
        where.append(f"p.sku = ANY({param(skus)}::text[])")
    if updated_since is not None:
        where.append(f"greatest(p.updated_at, s.updated_at) >= {param(updated_since)}")
    return await conn.fetch(
        f"""SELECT p.product_id, p.sku,
                   coalesce(s.qty_on_hand, 0) AS qty_on_hand,
                   coalesce(s.qty_allocated, 0) AS qty_allocated,
                   {_BACKORDERED.format(product="p.product_id")} AS qty_backordered
              FROM products p
              LEFT JOIN LATERAL (
                   SELECT sum(st.qty_on_hand) AS qty_on_hand, sum(st.qty_allocated) AS qty_allocated,
                          max(st.updated_at) AS updated_at
                     FROM stock st WHERE st.product_id = p.product_id{in_warehouse}
              ) s ON true
             WHERE {' AND '.join(where)}
             ORDER BY p.sku""",
        *params,
    )


async def product_totals(conn: asyncpg.Connection, merchant_id: int, product_ids: Sequence[int]) -> list[asyncpg.Record]:
    """For events' stock_adjustments: each product's sku, external_id and available units over
    all warehouses, in one query."""
    return await conn.fetch(
        """SELECT p.product_id, p.sku, p.external_id,
                  coalesce((SELECT sum(s.qty_on_hand - s.qty_allocated) FROM stock s WHERE s.product_id = p.product_id), 0)
                      AS qty_available
             FROM products p
            WHERE p.merchant_id = $1 AND p.product_id = ANY($2::bigint[])""",
        merchant_id,
        list(product_ids),
    )


# stock_movement.list
MOVEMENT_COLUMNS: dict[str, Column] = {
    "id": Column("m.merchant_movement_no"),
    "entity_type": Column("m.entity_type"),
    "entity_action": Column("m.entity_action"),
    "entity_id": Column("m.entity_id"),
    "product_id": Column("m.product_id"),
    "sku": Column("p.sku"),
    "created_at": Column("m.created_at"),
    "warehouse_id": Column("m.warehouse_id"),
    "location": Column("''::text"),
}


async def search_movements(
    conn: asyncpg.Connection, merchant_id: int, conditions: Sequence[Condition], page: Page
) -> tuple[list[asyncpg.Record], int]:
    where = WhereBuilder.for_merchant(merchant_id, "m.merchant_id", conditions, MOVEMENT_COLUMNS)
    return await fetch_page(
        conn,
        "stock_movements m JOIN products p ON p.product_id = m.product_id",
        "m.merchant_movement_no, m.entity_type, m.entity_action, m.entity_id, m.product_id, p.sku, m.warehouse_id, "
        "m.qty_on_hand_delta, m.qty_allocated_delta, m.comment, m.created_at",
        where,
        page,
        MOVEMENT_COLUMNS,
        "m.merchant_movement_no",
    )
