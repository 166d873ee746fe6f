"""SQL for orders: lookups, the locked stock read, and the one-statement order write."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Sequence

import asyncpg

Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy

# The columns order.create writes, in the order of OrderRow.values().
ORDER_COLUMNS = (
    "store_id", "order_ref", "state", "status", "shipping_method", "carrier_code", "backorder_policy",
    "priority", "source", "custom_greeting", "gift_message", "signature_required", "saturday_delivery",
    "reason_for_export", "declared_value_service", "declared_value", "declared_value_currency", "overbox",
    "requested_ship_date", "delayed_ship_date", "desired_delivery_date", "tpb_group_id", "shipping_address",
    "weight", "weight_unit", "total_item_count", "extra", "submitted_by_id", "remote_ip",
)
ITEM_COLUMNS = (
    ("product_id", "bigint"), ("line_no", "smallint"), ("sku", "text"), ("name", "text"),
    ("order_item_ref", "text"), ("qty_ordered", "integer"), ("qty_processing", "integer"),
    ("qty_backordered", "integer"), ("weight", "numeric"), ("weight_unit", "text"),
    ("unit_declared_value", "numeric"), ("unit_declared_value_currency", "text"),
    ("unit_customs_value", "numeric"), ("unit_customs_value_currency", "text"),
)


def _order_insert_sql() -> str:
    # $1 merchant, $2 unique_id or null, $3.. the order columns, then items, allocations,
    # stock deltas, the history comment, the api user and the event message.
    first = 3
    order_params = [f"${first + i}" for i in range(len(ORDER_COLUMNS))]
    n = first + len(ORDER_COLUMNS)
    item_params = [f"${n + i}::{kind}[]" for i, (_, kind) in enumerate(ITEM_COLUMNS)]
    n += len(ITEM_COLUMNS)
    alloc = [f"${n}::smallint[]", f"${n + 1}::bigint[]", f"${n + 2}::integer[]"]
    delta = [f"${n + 3}::bigint[]", f"${n + 4}::bigint[]", f"${n + 5}::integer[]"]
    note, user, message = f"${n + 6}", f"${n + 7}", f"${n + 8}"
    item_names = ", ".join(name for name, _ in ITEM_COLUMNS)
    return f"""
    WITH new_order AS (
        INSERT INTO orders (merchant_id, unique_id, {", ".join(ORDER_COLUMNS)})
        VALUES ($1, coalesce($2::text, nextval(format('order_unique_id_%s', $1::bigint)::regclass)::text),
                {", ".join(order_params)})
        RETURNING *
    ), new_items AS (
        INSERT INTO order_items (order_id, merchant_id, {item_names})
        SELECT new_order.order_id, $1, x.*
          FROM new_order, unnest({", ".join(item_params)}) AS x({item_names})
        RETURNING order_item_id, line_no, product_id
    ), new_allocations AS (
        INSERT INTO order_item_allocations (order_item_id, warehouse_id, order_id, merchant_id, product_id, qty_allocated)
        SELECT i.order_item_id, a.warehouse_id, i_order.order_id, $1, i.product_id, a.qty
          FROM new_order AS i_order,
               new_items AS i JOIN unnest({", ".join(alloc)}) AS a(line_no, warehouse_id, qty) USING (line_no)
    ), reserved AS (
        UPDATE stock SET qty_allocated = stock.qty_allocated + d.qty, updated_at = now()
          FROM unnest({", ".join(delta)}) AS d(product_id, warehouse_id, qty)
         WHERE stock.product_id = d.product_id AND stock.warehouse_id = d.warehouse_id
    ), movements AS (
        INSERT INTO stock_movements (merchant_id, product_id, warehouse_id, entity_type, entity_action,
                                     entity_id, qty_allocated_delta, api_user_id)
        SELECT $1, d.product_id, d.warehouse_id, 'order', 'allocate', new_order.unique_id, d.qty, {user}
          FROM new_order, unnest({", ".join(delta)}) AS d(product_id, warehouse_id, qty)
    ), history AS (
        INSERT INTO order_status_history (order_id, merchant_id, state, status, comment)
        SELECT order_id, $1, state, status, {note}::text FROM new_order
    ), event AS (
        INSERT INTO events (merchant_id, topic, message)
        SELECT $1, 'order:created',
               {message}::jsonb || jsonb_build_object('order_id', order_id, 'unique_id', unique_id)
          FROM new_order
    )
    SELECT * FROM new_order"""


INSERT_ORDER = _order_insert_sql()


@dataclass
class OrderWrite:
    """Everything one order.create writes, as columns and parallel arrays."""

    merchant_id: int
    unique_id: str | None
    order: dict[str, Any]
    items: list[tuple[Any, ...]]
    allocations: list[tuple[int, int, int]]  # (line_no, warehouse_id, qty)
    stock_deltas: list[tuple[int, int, int]]  # (product_id, warehouse_id, qty)
    note: str | None
    api_user_id: int
    event: dict[str, Any]

    def arguments(self) -> list[Any]:
        columns = list(zip(*self.items)) if self.items else [[] for _ in ITEM_COLUMNS]
        allocations = list(zip(*self.allocations)) if self.allocations else [[], [], []]
        deltas = list(zip(*self.stock_deltas)) if self.stock_deltas else [[], [], []]
        return [
            self.merchant_id,
            self.unique_id,
            *(self.order[name] for name in ORDER_COLUMNS),
            *(list(column) for column in columns),
            *(list(column) for column in allocations),
            *(list(column) for column in deltas),
            self.note,
            self.api_user_id,
            self.event,
        ]


async def insert_order(conn: Connection, write: OrderWrite) -> asyncpg.Record:
    return await conn.fetchrow(INSERT_ORDER, *write.arguments())


async def find_store(conn: Connection, merchant_id: int, code: str | None) -> asyncpg.Record | None:
    """The store by code, or the merchant's default store when code is None."""
    return await conn.fetchrow(
        """SELECT store_id, code, name FROM stores
            WHERE merchant_id = $1 AND is_active AND ($2::text IS NULL AND is_default OR code = $2)""",
        merchant_id,
        code,
    )


async def find_products(conn: Connection, merchant_id: int, keys: Sequence[str]) -> list[asyncpg.Record]:
    """Every product whose sku, one of whose barcodes, or whose vendor_sku is among ``keys``."""
    return await conn.fetch(
        """SELECT product_id, sku, name, barcodes, vendor_sku, external_id, status, weight, weight_unit
             FROM products
            WHERE merchant_id = $1 AND (sku = ANY($2::text[]) OR barcodes && $2::text[] OR vendor_sku = ANY($2::text[]))""",
        merchant_id,
        list(keys),
    )


async def lock_stock(conn: Connection, product_ids: Sequence[int]) -> list[asyncpg.Record]:
    """Lock the stock rows of these products in primary-key order (so concurrent orders never
    deadlock) and return what is available in active warehouses."""
    return await conn.fetch(
        """SELECT s.product_id, s.warehouse_id, s.qty_on_hand - s.qty_allocated AS available, w.is_active
             FROM stock s JOIN warehouses w USING (warehouse_id)
            WHERE s.product_id = ANY($1::bigint[])
            ORDER BY s.product_id, s.warehouse_id
              FOR UPDATE OF s""",
        list(product_ids),
    )


async def order_ref_taken(conn: Connection, merchant_id: int, order_ref: str, window: timedelta | None) -> bool:
    """Whether ``order_ref`` is used (within ``window``, or ever); serialised per reference by
    an advisory lock held to the end of the transaction, so two creates cannot both pass."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, $2))", order_ref, merchant_id)
    return bool(
        await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM orders WHERE merchant_id = $1 AND order_ref = $2
                                 AND ($3::interval IS NULL OR created_at >= now() - $3::interval))""",
            merchant_id,
            order_ref,
            window,
        )
    )


async def skip_taken_unique_ids(conn: Connection, merchant_id: int) -> None:
    """Point the merchant's unique_id sequence at the first number, from its next one on, that no
    order has: clients may have chosen a long run of them themselves (an import that keeps the
    numbers ShipStream gave). Sequences are not transactional; a race only costs another try."""
    await conn.execute(
        """WITH start AS (SELECT seq, nextval(seq) AS n
                            FROM (SELECT format('order_unique_id_%s', $1::bigint)::regclass AS seq) AS s)
           SELECT setval(start.seq, free.n, false)
             FROM start, LATERAL (SELECT g AS n FROM generate_series(start.n, start.n + 10000000) AS g
                                   WHERE NOT EXISTS (SELECT 1 FROM orders o
                                                      WHERE o.merchant_id = $1 AND o.unique_id = g::text)
                                   LIMIT 1) AS free""",
        merchant_id,
    )


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


async def fetch_history(conn: Connection, order_ids: Sequence[int]) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT order_id, state, status, comment, created_at FROM order_status_history
            WHERE order_id = ANY($1::bigint[]) ORDER BY order_id, history_id""",
        list(order_ids),
    )


async def add_history(conn: Connection, merchant_id: int, order_id: int, state: str, status: str, comment: str | None) -> None:
    await conn.execute(
        """INSERT INTO order_status_history (order_id, merchant_id, state, status, comment)
           VALUES ($1, $2, $3, $4, $5)""",
        order_id,
        merchant_id,
        state,
        status,
        comment,
    )


async def update_order(conn: Connection, order_id: int, changes: dict[str, Any]) -> asyncpg.Record:
    """Set some columns (names come from our own code, never from input) and return the row."""
    assignments = "".join(f"{name} = ${index}, " for index, name in enumerate(changes, start=2))
    return await conn.fetchrow(
        f"UPDATE orders SET {assignments}updated_at = now() WHERE order_id = $1 RETURNING order_id",
        order_id,
        *changes.values(),
    )
