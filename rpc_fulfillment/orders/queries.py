"""SQL for orders: lookups, the locked stock read, and the one-statement order write."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Sequence

import asyncpg

from rpc_fulfillment.db.pool import Connection
from rpc_fulfillment.fulfillment.order_rows import stock_locked_sql
from rpc_fulfillment.orders.fields import ORDER_FIELDS, ORDER_ITEM_FIELDS


# The columns order.create writes, with their SQL types (the statement takes each as an array).
ORDER_COLUMNS = ORDER_FIELDS.columns()
ITEM_COLUMNS = ORDER_ITEM_FIELDS.columns()
# Per order, besides its columns: the unique_id (null: the merchant's next number), the status
# history comment and the order:created event message.
_PER_ORDER = (("unique_id", "text"), *ORDER_COLUMNS, ("note", "text"), ("message", "jsonb"))
_ALLOCATION = (("order_no", "integer"), ("line_no", "smallint"), ("warehouse_id", "bigint"), ("qty", "integer"))
_DELTA = (("order_no", "integer"), ("product_id", "bigint"), ("warehouse_id", "bigint"), ("qty", "integer"))


class _Params:
    """Numbers the statement's parameters: $1 is the merchant, the rest arrays."""

    def __init__(self) -> None:
        self.count = 1

    def unnest(self, columns: tuple[tuple[str, str], ...], alias: str, ordinality: str | None = None) -> str:
        arrays = []
        for _, kind in columns:
            self.count += 1
            arrays.append(f"${self.count}::{kind}[]")
        names = [name for name, _ in columns] + ([ordinality] if ordinality else [])
        return f"unnest({', '.join(arrays)}){' WITH ORDINALITY' if ordinality else ''} AS {alias}({', '.join(names)})"

    def scalar(self) -> str:
        self.count += 1
        return f"${self.count}"


def _orders_insert_sql() -> str:
    params = _Params()
    orders = params.unnest(_PER_ORDER, "x", ordinality="n")
    items = params.unnest((("order_no", "integer"), *ITEM_COLUMNS), "x")
    allocations = params.unnest(_ALLOCATION, "a")
    deltas = params.unnest(_DELTA, "d")
    user = params.scalar()
    columns = ", ".join(name for name, _ in ORDER_COLUMNS)
    item_names = ", ".join(name for name, _ in ITEM_COLUMNS)
    return f"""
    WITH input AS MATERIALIZED (
        SELECT x.n, coalesce(x.unique_id, nextval(format('order_unique_id_%s', $1::bigint)::regclass)::text) AS unique_id,
               {", ".join(f"x.{name}" for name, _ in ORDER_COLUMNS)}, x.note, x.message
          FROM {orders}
    ), new_orders AS (
        INSERT INTO orders (merchant_id, unique_id, {columns})
        SELECT $1, unique_id, {columns} FROM input ORDER BY n
        RETURNING *
    ), numbered AS (
        SELECT input.n, new_orders.order_id, new_orders.unique_id, new_orders.state, new_orders.status,
               input.note, input.message
          FROM new_orders JOIN input USING (unique_id)
    ), new_items AS (
        INSERT INTO order_items (order_id, merchant_id, {item_names})
        SELECT numbered.order_id, $1, {", ".join(f"x.{name}" for name, _ in ITEM_COLUMNS)}
          FROM {items} JOIN numbered ON numbered.n = x.order_no
        RETURNING order_item_id, order_id, line_no, product_id
    ), new_allocations AS (
        INSERT INTO order_item_allocations (order_item_id, warehouse_id, order_id, merchant_id, product_id, qty_allocated)
        SELECT i.order_item_id, a.warehouse_id, i.order_id, $1, i.product_id, a.qty
          FROM {allocations}
          JOIN numbered ON numbered.n = a.order_no
          JOIN new_items AS i ON i.order_id = numbered.order_id AND i.line_no = a.line_no
    ), stock_locked AS MATERIALIZED (
        -- The stock rows in key order before the update below takes them in its join's order:
        -- the statement then never deadlocks with another, whether or not its caller locked
        -- them first (order.create and order.bulk_create do; the benchmark's floor does not).
        SELECT s.product_id FROM stock s
          JOIN (SELECT DISTINCT d.product_id, d.warehouse_id FROM {deltas}) AS d USING (product_id, warehouse_id)
         ORDER BY s.product_id, s.warehouse_id
           FOR UPDATE OF s
    ), reserved AS (
        -- Summed first: UPDATE ... FROM applies one joined row per stock row, not each of them.
        UPDATE stock SET qty_allocated = stock.qty_allocated + d.qty, updated_at = now()
          FROM (SELECT d.product_id, d.warehouse_id, sum(d.qty)::integer AS qty FROM {deltas} GROUP BY 1, 2) AS d
         WHERE stock.product_id = d.product_id AND stock.warehouse_id = d.warehouse_id
           AND (SELECT count(*) FROM stock_locked) >= 0  -- an InitPlan: the locks come first
    ), movements AS (
        INSERT INTO stock_movements (merchant_id, product_id, warehouse_id, entity_type, entity_action,
                                     entity_id, qty_allocated_delta, api_user_id)
        SELECT $1, d.product_id, d.warehouse_id, 'order', 'allocate', numbered.unique_id, d.qty, {user}
          FROM {deltas} JOIN numbered ON numbered.n = d.order_no
         ORDER BY d.order_no
    ), history AS (
        INSERT INTO order_status_history (order_id, merchant_id, state, status, comment)
        SELECT order_id, $1, state, status, note FROM numbered ORDER BY n
    ), event AS (
        INSERT INTO events (merchant_id, topic, message)
        SELECT $1, 'order:created', message || jsonb_build_object('order_id', order_id, 'unique_id', unique_id)
          FROM numbered ORDER BY n
    )
    SELECT new_orders.* FROM new_orders JOIN input USING (unique_id) ORDER BY input.n"""


INSERT_ORDERS = _orders_insert_sql()


@dataclass
class OrderWrite:
    """Everything one order.create writes, as columns and rows."""

    merchant_id: int
    unique_id: str | None
    order: dict[str, Any]
    items: list[dict[str, Any]]  # ITEM_COLUMNS by name
    allocations: list[tuple[int, int, int]]  # (line_no, warehouse_id, qty)
    stock_deltas: list[tuple[int, int, int]]  # (product_id, warehouse_id, qty)
    note: str | None
    api_user_id: int
    event: dict[str, Any]


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [list(column) for column in zip(*rows)] if rows else [[] for _ in range(width)]


def orders_arguments(writes: Sequence[OrderWrite]) -> list[Any]:
    """INSERT_ORDERS' arguments for several orders of one merchant and API user, as parallel
    arrays; lines, allocations and stock deltas carry their order's number (1, 2, ...)."""
    per_order = [(w.unique_id, *(w.order[name] for name, _ in ORDER_COLUMNS), w.note, w.event) for w in writes]
    numbered = list(enumerate(writes, start=1))
    items = [(n, *(item[name] for name, _ in ITEM_COLUMNS)) for n, w in numbered for item in w.items]
    allocations = [(n, *allocation) for n, w in numbered for allocation in w.allocations]
    deltas = [(n, *delta) for n, w in numbered for delta in w.stock_deltas]
    return [
        writes[0].merchant_id,
        *_columns(per_order, len(_PER_ORDER)),
        *_columns(items, 1 + len(ITEM_COLUMNS)),
        *_columns(allocations, len(_ALLOCATION)),
        *_columns(deltas, len(_DELTA)),
        writes[0].api_user_id,
    ]


async def insert_orders(conn: Connection, writes: Sequence[OrderWrite]) -> list[asyncpg.Record]:
    """Write the orders in one statement; their rows come back in the same order."""
    return await conn.fetch(INSERT_ORDERS, *orders_arguments(writes))


_STORE = """SELECT store_id, code, name FROM stores
             WHERE merchant_id = $1 AND is_active AND ($2::text IS NULL AND is_default OR code = $2)"""
PRODUCT_COLUMNS = ("product_id", "sku", "name", "barcodes", "vendor_sku", "external_id", "status", "weight", "weight_unit")
STOCK_COLUMNS = ("product_id", "warehouse_id", "available", "is_active")


def _products_matching(keys: str) -> str:
    return (f"SELECT {', '.join(PRODUCT_COLUMNS)} FROM products "
            f"WHERE merchant_id = $1 AND (sku = ANY({keys}) OR barcodes && {keys} OR vendor_sku = ANY({keys}))")


# What order.create reads before deciding, in one round trip: the store, the products its items
# may mean, and their stock rows, locked.
LOOKUP_FOR_CREATE = f"""
    WITH matched AS ({_products_matching("$3::text[]")}),
         locked AS ({stock_locked_sql("IN (SELECT product_id FROM matched)")})
    SELECT store.store_id, store.code, store.name,
           ARRAY(SELECT ROW({", ".join(PRODUCT_COLUMNS)}) FROM matched) AS products,
           ARRAY(SELECT ROW({", ".join(STOCK_COLUMNS)}) FROM locked) AS stock
      FROM (SELECT 1) AS one LEFT JOIN LATERAL ({_STORE}) AS store ON true"""


@dataclass
class CreateLookup:
    store: dict[str, Any] | None  # store_id, code, name; None: no such store
    products: list[dict[str, Any]]  # PRODUCT_COLUMNS
    stock: list[dict[str, Any]]  # STOCK_COLUMNS, locked


async def lookup_for_create(conn: Connection, merchant_id: int, store_code: str | None, keys: Sequence[str]) -> CreateLookup:
    """The store by code (the default store when None), every product whose sku, one of whose
    barcodes or whose vendor_sku is among ``keys``, and those products' stock rows, locked."""
    row = await conn.fetchrow(LOOKUP_FOR_CREATE, merchant_id, store_code, list(keys))
    store = {"store_id": row["store_id"], "code": row["code"], "name": row["name"]} if row["store_id"] is not None else None
    return CreateLookup(store, [dict(zip(PRODUCT_COLUMNS, product)) for product in row["products"]],
                        [dict(zip(STOCK_COLUMNS, stock)) for stock in row["stock"]])


async def find_store(conn: Connection, merchant_id: int, code: str | None) -> asyncpg.Record | None:
    """The store by code, or the merchant's default store when code is None."""
    return await conn.fetchrow(_STORE, merchant_id, code)


async def find_products(conn: Connection, merchant_id: int, keys: Sequence[str]) -> list[asyncpg.Record]:
    """Every product whose sku, one of whose barcodes, or whose vendor_sku is among ``keys``."""
    return await conn.fetch(_products_matching("$2::text[]"), merchant_id, list(keys))


async def order_refs_taken(conn: Connection, merchant_id: int,
                           checks: Sequence[tuple[str, timedelta | None]]) -> list[bool]:
    """For each (order_ref, window): whether the reference is used (within the window, or
    ever). Serialised per reference by advisory locks held to the end of the transaction (taken
    in sorted order, so two bulks cannot deadlock), so two creates cannot both pass; the check
    is a statement of its own so that its snapshot sees what committed while it waited."""
    if not checks:
        return []
    refs = [ref for ref, _ in checks]
    await conn.execute(
        """SELECT pg_advisory_xact_lock(hashtextextended(ref, $2))
             FROM (SELECT DISTINCT ref FROM unnest($1::text[]) AS ref ORDER BY ref) AS sorted""",
        refs, merchant_id)
    rows = await conn.fetch(
        """SELECT EXISTS (SELECT 1 FROM orders o WHERE o.merchant_id = $1 AND o.order_ref = c.ref
                             AND (c.window_ IS NULL OR o.created_at >= now() - c.window_)) AS taken
             FROM unnest($2::text[], $3::interval[]) WITH ORDINALITY AS c(ref, window_, n)
            ORDER BY c.n""",
        merchant_id, refs, [window for _, window in checks])
    return [row["taken"] for row in rows]


async def next_unique_ids(conn: Connection, merchant_id: int, count: int) -> list[str]:
    """The merchant's next ``count`` automatic unique_ids, drawn from its sequence."""
    rows = await conn.fetch("SELECT nextval(format('order_unique_id_%s', $1::bigint)::regclass)::text AS n "
                            "FROM generate_series(1, $2::int)", merchant_id, count)
    return [row["n"] for row in rows]


async def unique_ids_taken(conn: Connection, merchant_id: int, unique_ids: Sequence[str]) -> set[str]:
    """Which of these unique_ids the merchant's orders already have."""
    rows = await conn.fetch("SELECT unique_id FROM orders WHERE merchant_id = $1 AND unique_id = ANY($2::text[])",
                            merchant_id, list(unique_ids))
    return {row["unique_id"] for row in rows}


async def skip_taken_unique_ids(conn: Connection, merchant_id: int, also_taken: Sequence[str] = ()) -> None:
    """Point the merchant's unique_id sequence at the first number, from its next one on, that no
    order has and that is not in ``also_taken`` (a bulk's own choices, not written yet): clients
    may have chosen a long run of them themselves (an import that keeps the numbers ShipStream
    gave). Sequences are not transactional; a race only costs another try."""
    await conn.execute(
        """WITH start AS (SELECT seq, nextval(seq) AS n
                            FROM (SELECT format('order_unique_id_%s', $1::bigint)::regclass AS seq) AS s)
           SELECT setval(start.seq, free.n, false)
             FROM start, LATERAL (SELECT g AS n FROM generate_series(start.n, start.n + 10000000) AS g
                                   WHERE NOT EXISTS (SELECT 1 FROM orders o
                                                      WHERE o.merchant_id = $1 AND o.unique_id = g::text)
                                     AND g::text <> ALL($2::text[])
                                   LIMIT 1) AS free""",
        merchant_id,
        list(also_taken),
    )


async def declares_item_values(conn: Connection, order_id: int) -> bool:
    """Whether some item of the order carries a unit_declared_value."""
    return await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM order_items WHERE order_id = $1 AND unit_declared_value IS NOT NULL)", order_id
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
