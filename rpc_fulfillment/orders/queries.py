"""SQL for orders: the lookup before a create, and the one-statement order write."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Sequence

import asyncpg

from rpc_fulfillment.db.pool import Connection
from rpc_fulfillment.fulfillment.engine import ORDER_REFERENCE, STATUS_TOPICS
from rpc_fulfillment.fulfillment.order_rows import stock_available_sql
from rpc_fulfillment.fulfillment.order_items import ORDER_ITEM_FIELDS
from rpc_fulfillment.orders.fields import ORDER_FIELDS


# The columns order.create writes, with their SQL types (the statement takes each as an array).
ORDER_COLUMNS = ORDER_FIELDS.columns()
ITEM_COLUMNS = ORDER_ITEM_FIELDS.columns()
# Per order, besides its columns: the unique_id (null: the merchant's next free number), the
# status history comment and the order:created event message.
_PER_ORDER = (("unique_id", "text"), *ORDER_COLUMNS, ("note", "text"), ("message", "jsonb"))
_ALLOCATION = (("order_no", "integer"), ("line_no", "smallint"), ("warehouse_id", "bigint"), ("qty", "integer"))
_DELTA = (("order_no", "integer"), ("product_id", "bigint"), ("warehouse_id", "bigint"), ("qty", "integer"))
# The stock the orders were decided on, for the products they backordered: re-checked under lock.
_STOCK_READ = (("product_id", "bigint"), ("warehouse_id", "bigint"), ("available", "integer"))


class _Params:
    """Numbers the statement's parameters: $1 is the merchant, the rest arrays."""

    def __init__(self) -> None:
        self.count = 1
        self.arrays: dict[str, str] = {}  # "alias.column" -> its parameter, e.g. "$2::text[]"

    def unnest(self, columns: tuple[tuple[str, str], ...], alias: str, ordinality: str | None = None) -> str:
        arrays = []
        for name, kind in columns:
            arrays.append(self.array(kind))
            self.arrays[f"{alias}.{name}"] = arrays[-1]
        names = [name for name, _ in columns] + ([ordinality] if ordinality else [])
        return f"unnest({', '.join(arrays)}){' WITH ORDINALITY' if ordinality else ''} AS {alias}({', '.join(names)})"

    def array(self, kind: str) -> str:
        return f"{self.scalar()}::{kind}[]"

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
    backordered = params.array("bigint")
    stock_read = params.unnest(_STOCK_READ, "r")
    columns = ", ".join(name for name, _ in ORDER_COLUMNS)
    item_names = ", ".join(name for name, _ in ITEM_COLUMNS)
    stock_of = f"= ANY(ARRAY(SELECT d.product_id FROM {deltas} UNION SELECT unnest({backordered})))"
    return f"""
    WITH stock_locked AS MATERIALIZED (
        -- Every stock row of the products the orders take units of or backorder, in key order
        -- before the update below takes them in its join's order: the statement then never
        -- deadlocks with another, whether or not its caller locked them first. FOR UPDATE
        -- returns each row as last committed, even when the statement's snapshot is older.
        {stock_available_sql(stock_of)}
    ), as_read AS (
        -- Where an order backordered units, the stock it was decided on must still be there as
        -- read (read without a lock: more may have come in since); otherwise refuse (RF001).
        -- Units taken meanwhile by others the stock CHECK refuses on its own.
        SELECT rpcf_stock_as_read(NOT EXISTS (
                   SELECT 1
                     FROM (SELECT product_id, warehouse_id, available FROM stock_locked
                            WHERE is_active AND product_id = ANY({backordered})) AS locked
                     FULL JOIN {stock_read} USING (product_id, warehouse_id)
                    WHERE locked.available IS DISTINCT FROM r.available)) AS checked
    ), reserved AS (
        -- Summed first: UPDATE ... FROM applies one joined row per stock row, not each of them.
        -- Its one-time filters (InitPlans) take the locks and make the re-check first.
        UPDATE stock SET qty_allocated = stock.qty_allocated + d.qty, updated_at = now()
          FROM (SELECT d.product_id, d.warehouse_id, sum(d.qty)::integer AS qty FROM {deltas} GROUP BY 1, 2) AS d
         WHERE stock.product_id = d.product_id AND stock.warehouse_id = d.warehouse_id
           AND (SELECT count(*) FROM stock_locked) >= 0 AND (SELECT checked FROM as_read)
        RETURNING stock.product_id
    ), input AS MATERIALIZED (
        -- After the stock update (its CHECK refuses units taken meanwhile by others): a refused
        -- write draws no unique_id.
        SELECT x.n, coalesce(x.unique_id, rpcf_next_unique_id($1, {params.arrays["x.unique_id"]})) AS unique_id,
               {", ".join(f"x.{name}" for name, _ in ORDER_COLUMNS)}, x.note, x.message
          FROM {orders}
         WHERE (SELECT count(*) FROM reserved) >= 0
    ), new_orders AS (
        INSERT INTO orders (merchant_id, unique_id, {columns})
        SELECT $1, unique_id, {columns} FROM input ORDER BY n
        RETURNING *
    ), numbered AS (
        SELECT input.n, new_orders.order_id, new_orders.unique_id, new_orders.order_ref, new_orders.source,
               new_orders.state, new_orders.status, input.note, input.message
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
    ), movements AS (
        INSERT INTO stock_movements (merchant_id, product_id, warehouse_id, entity_type, entity_action,
                                     entity_id, qty_allocated_delta, api_user_id)
        SELECT $1, d.product_id, d.warehouse_id, 'order', 'allocate', numbered.unique_id, d.qty, {user}
          FROM {deltas} JOIN numbered ON numbered.n = d.order_no
         ORDER BY d.order_no
    ), history AS (
        INSERT INTO order_status_history (order_id, merchant_id, state, status, comment)
        SELECT order_id, $1, state, status, note FROM numbered ORDER BY n
    ), available_after AS (
        -- What each order leaves available of each product it takes units of (in a bulk, after
        -- the orders before it too), from the locked rows: the event says what the write found,
        -- whatever the draft read.
        SELECT d.order_no, d.product_id,
               ((SELECT sum(l.available) FROM stock_locked l WHERE l.product_id = d.product_id AND l.is_active)
                - sum(sum(d.qty)) OVER (PARTITION BY d.product_id ORDER BY d.order_no))::bigint AS qty
          FROM {deltas} GROUP BY d.order_no, d.product_id
    ), event AS (
        -- Per order: order:created, order:status_changed from nothing, and the topic of its
        -- status (order:holded for an order created on hold).
        INSERT INTO events (merchant_id, topic, message)
        SELECT $1, e.topic, e.message
          FROM numbered, LATERAL (VALUES
               (1, 'order:created', {_created_message()}),
               (2, 'order:status_changed', {_reference()} || jsonb_build_object(
                   'old_status', NULL, 'status', numbered.status, 'old_state', NULL, 'state', numbered.state)),
               (3, {_status_topic()}, {_reference()} || jsonb_build_object(
                   'status', numbered.status, 'state', numbered.state))) AS e(k, topic, message)
         WHERE e.topic IS NOT NULL
         ORDER BY numbered.n, e.k
    )
    SELECT new_orders.* FROM new_orders JOIN input USING (unique_id) ORDER BY input.n"""


def _reference() -> str:
    """order_reference() in SQL, of the CTE ``numbered``."""
    pairs = ", ".join(f"'{key}', numbered.{key}" for key in ORDER_REFERENCE)
    return f"jsonb_build_object({pairs})"


def _status_topic() -> str:
    """The topic of entering an order's status (STATUS_TOPICS), or NULL."""
    cases = " ".join(f"WHEN '{status}' THEN '{topic}'" for status, topic in STATUS_TOPICS.items())
    return f"CASE numbered.status {cases} END"


def _created_message() -> str:
    return """message || jsonb_build_object(
                   'order_id', order_id, 'unique_id', unique_id,
                   -- each drafted item with the id its line was given (ShipStream's ids are strings)
                   'items', (SELECT coalesce(jsonb_agg(line.item || jsonb_build_object('order_item_id', i.order_item_id::text)
                                                       ORDER BY line.n), '[]'::jsonb)
                               FROM jsonb_array_elements(message -> 'items') WITH ORDINALITY AS line(item, n)
                               JOIN new_items AS i ON i.order_id = numbered.order_id AND i.line_no = line.n),
                   'stock_adjustments', coalesce(
                       (SELECT jsonb_object_agg(s.key, s.value || jsonb_build_object('qty_available', after.qty,
                                                                                     'qty_advertised', after.qty))
                          FROM jsonb_each(message -> 'stock_adjustments') AS s
                          JOIN available_after AS after
                            ON after.order_no = numbered.n AND after.product_id = (s.value ->> 'product_id')::bigint),
                       '{}'::jsonb))"""


INSERT_ORDERS = _orders_insert_sql()


@dataclass
class OrderWrite:
    """Everything one order.create writes, as columns and rows."""

    merchant_id: int
    unique_id: str | None  # None: the merchant's next free number, drawn by the statement
    order: dict[str, Any]
    items: list[dict[str, Any]]  # ITEM_COLUMNS by name
    allocations: list[tuple[int, int, int]]  # (line_no, warehouse_id, qty)
    stock_deltas: list[tuple[int, int, int]]  # (product_id, warehouse_id, qty)
    note: str | None
    api_user_id: int
    event: dict[str, Any]


@dataclass
class StockAsRead:
    """What the orders of one write were decided on, to be re-checked by the write: for each
    product some order backordered, its stock rows in active warehouses as read (empty when
    the rows were locked since: nothing to re-check)."""

    backordered: list[int] = field(default_factory=list)
    rows: list[tuple[int, int, int]] = field(default_factory=list)  # (product_id, warehouse_id, available)


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [list(column) for column in zip(*rows)] if rows else [[] for _ in range(width)]


def orders_arguments(writes: Sequence[OrderWrite], as_read: StockAsRead) -> list[Any]:
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
        as_read.backordered,
        *_columns(as_read.rows, len(_STOCK_READ)),
    ]


async def insert_orders(conn: Connection, writes: Sequence[OrderWrite], as_read: StockAsRead) -> list[asyncpg.Record]:
    """Write the orders in one statement; their rows come back in the same order. Refused
    (core's Stale) when stock ``as_read`` changed, (ConstraintViolated) when it no longer covers
    the allocations, (Conflict) when a unique_id is taken."""
    return await conn.fetch(INSERT_ORDERS, *orders_arguments(writes, as_read))


PRODUCT_COLUMNS = ("product_id", "sku", "name", "barcodes", "vendor_sku", "external_id", "status", "weight", "weight_unit")
STOCK_COLUMNS = ("product_id", "warehouse_id", "available", "is_active")


def _store_sql(code: str) -> str:
    """The active store with this code, or the default store when the code is null."""
    return f"""SELECT store_id, code, name FROM stores
                WHERE merchant_id = $1 AND is_active AND ({code} IS NULL AND is_default OR code = {code})"""


def _lookup_for_create_sql(lock: bool) -> str:
    """What a create reads before deciding, in one round trip: the stores asked for ($2, null
    for the default store), the products the items may mean ($3: sku, barcode or vendor_sku),
    their stock rows (locked when ``lock``), and which of the unique_ids chosen ($4) are taken."""
    products = (f"SELECT {', '.join(PRODUCT_COLUMNS)} FROM products "
                "WHERE merchant_id = $1 AND (sku = ANY($3::text[]) OR barcodes && $3::text[] OR vendor_sku = ANY($3::text[]))")
    return f"""
    WITH matched AS ({products}),
         stock_rows AS ({stock_available_sql("IN (SELECT product_id FROM matched)", lock=lock)})
    SELECT ARRAY(SELECT ROW(asked.n, store.store_id, store.code, store.name)
                   FROM unnest($2::text[]) WITH ORDINALITY AS asked(code, n)
                  CROSS JOIN LATERAL ({_store_sql("asked.code")}) AS store) AS stores,
           ARRAY(SELECT ROW({", ".join(PRODUCT_COLUMNS)}) FROM matched) AS products,
           ARRAY(SELECT ROW({", ".join(STOCK_COLUMNS)}) FROM stock_rows) AS stock,
           ARRAY(SELECT unique_id FROM orders WHERE merchant_id = $1 AND unique_id = ANY($4::text[])) AS unique_ids_taken"""


LOOKUP_FOR_CREATE = {lock: _lookup_for_create_sql(lock) for lock in (False, True)}


@dataclass
class CreateLookup:
    stores: dict[str | None, dict[str, Any]]  # store_id, code, name by the code asked; absent: no such store
    products: list[dict[str, Any]]  # PRODUCT_COLUMNS
    stock: list[dict[str, Any]]  # STOCK_COLUMNS
    unique_ids_taken: set[str]


async def lookup_for_create(conn: Connection, merchant_id: int, store_codes: Sequence[str | None], keys: Sequence[str],
                            unique_ids: Sequence[str], *, lock: bool) -> CreateLookup:
    """The stores by code (the default store for None), every product whose sku, one of whose
    barcodes or whose vendor_sku is among ``keys``, those products' stock rows (locked until
    the transaction ends when ``lock``), and which of ``unique_ids`` the merchant's orders have."""
    row = await conn.fetchrow(LOOKUP_FOR_CREATE[lock], merchant_id, list(store_codes), list(keys), list(unique_ids))
    stores: dict[str | None, dict[str, Any]] = {}
    for n, store_id, code, name in row["stores"]:
        stores.setdefault(store_codes[n - 1], {"store_id": store_id, "code": code, "name": name})
    return CreateLookup(stores, [dict(zip(PRODUCT_COLUMNS, product)) for product in row["products"]],
                        [dict(zip(STOCK_COLUMNS, stock)) for stock in row["stock"]], set(row["unique_ids_taken"]))


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
