"""Helpers for the product, inventory and stock movement API tests."""

from __future__ import annotations

from typing import Any

import asyncpg


def fault_code(number: int) -> int:
    """ShipStream fault N on the wire."""
    return -(32000 + number)


async def login_all(rpc: Any, users: dict[str, Any]) -> dict[str, str]:
    """A session for every fixture user: merchant, warehouse, admin (acme) and other."""
    return {label: await rpc.login(user) for label, user in users.items()}


async def create_product(rpc: Any, session: str, sku: str, **data: Any) -> None:
    data.setdefault("name", f"Product {sku}")
    assert await rpc.result(session, "product.create", [sku, data]) is True


async def product_row(db: asyncpg.Connection, sku: str, merchant: str = "acme") -> asyncpg.Record | None:
    return await db.fetchrow(
        """SELECT p.* FROM products p JOIN merchants m USING (merchant_id) WHERE m.code = $1 AND p.sku = $2""",
        merchant,
        sku,
    )


async def events_of(db: asyncpg.Connection, topic: str | None = None) -> list[asyncpg.Record]:
    return await db.fetch(
        """SELECT e.*, m.code AS merchant_code FROM events e JOIN merchants m USING (merchant_id)
            WHERE $1::text IS NULL OR e.topic = $1 ORDER BY e.seq""",
        topic,
    )


async def add_warehouse(db: asyncpg.Connection, name: str) -> int:
    return await db.fetchval("INSERT INTO warehouses (name) VALUES ($1) RETURNING warehouse_id", name)


async def stock_row(db: asyncpg.Connection, sku: str, warehouse_id: int = 1, merchant: str = "acme") -> tuple[int, int] | None:
    """(on hand, allocated) or None when there is no stock row."""
    row = await db.fetchrow(
        """SELECT s.qty_on_hand, s.qty_allocated FROM stock s
             JOIN products p USING (product_id) JOIN merchants m ON m.merchant_id = p.merchant_id
            WHERE m.code = $1 AND p.sku = $2 AND s.warehouse_id = $3""",
        merchant,
        sku,
        warehouse_id,
    )
    return None if row is None else (row["qty_on_hand"], row["qty_allocated"])


async def allocate(db: asyncpg.Connection, sku: str, qty: int, warehouse_id: int = 1) -> None:
    """Mark ``qty`` units allocated, as an order would (straight in the database)."""
    await db.execute(
        """UPDATE stock SET qty_allocated = qty_allocated + $3
            WHERE warehouse_id = $2 AND product_id = (SELECT product_id FROM products p JOIN merchants m USING (merchant_id)
                                                       WHERE m.code = 'acme' AND p.sku = $1)""",
        sku,
        warehouse_id,
        qty,
    )


async def add_backorder(
    db: asyncpg.Connection, sku: str, qty: int, *, state: str = "new", status: str = "backordered", merchant: str = "acme"
) -> int:
    """An order of ``merchant`` with one item of ``sku`` entirely backordered (in the database)."""
    row = await db.fetchrow(
        """SELECT p.product_id, p.merchant_id, s.store_id FROM products p JOIN stores s USING (merchant_id)
             JOIN merchants m ON m.merchant_id = p.merchant_id
            WHERE m.code = $1 AND p.sku = $2 AND s.is_default""",
        merchant,
        sku,
    )
    order_id = await db.fetchval(
        """INSERT INTO orders (merchant_id, store_id, unique_id, state, status, shipping_method, carrier_code, shipping_address)
           VALUES ($1, $2, 'T' || nextval(pg_get_serial_sequence('orders', 'order_id')), $3, $4, 'ups_03', 'ups', '{}')
           RETURNING order_id""",
        row["merchant_id"],
        row["store_id"],
        state,
        status,
    )
    await db.execute(
        """INSERT INTO order_items (order_id, merchant_id, product_id, line_no, sku, qty_ordered, qty_backordered)
           VALUES ($1, $2, $3, 1, $4, $5, $5)""",
        order_id,
        row["merchant_id"],
        row["product_id"],
        sku,
        qty,
    )
    return order_id


async def call_concurrently(rpc: Any, session: str, path: str, args_list: list[Any]) -> list[dict[str, Any]]:
    """Send the calls at once (the Rpc helper's own ids are not safe to share across tasks);
    returns each JSON-RPC body, in order."""
    import asyncio

    async def one(index: int, args: Any) -> dict[str, Any]:
        status, body = await rpc.post({"jsonrpc": "2.0", "id": f"c{index}", "method": "call", "params": [session, path, args]})
        assert status == 200 and body["id"] == f"c{index}", body
        return body

    return list(await asyncio.gather(*(one(index, args) for index, args in enumerate(args_list))))
