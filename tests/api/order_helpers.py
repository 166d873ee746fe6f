"""Arranging products, stock and orders for order tests, straight in the database."""

from __future__ import annotations

from typing import Any

import asyncpg

ADDRESS = {
    "firstname": "Bill",
    "lastname": "Gates",
    "company": "Microsoft",
    "street1": "11 Times Square",
    "city": "New York",
    "region": "NY",
    "postcode": "10036",
    "country": "US",
    "telephone": "212.245.2100",
}
INFO = {"shipping_method": "ups_03"}


async def merchant_id(db: asyncpg.Connection, code: str = "acme") -> int:
    return await db.fetchval("SELECT merchant_id FROM merchants WHERE code = $1", code)


async def add_product(
    db: asyncpg.Connection, sku: str, *, stock: int = 0, warehouse_id: int = 1, merchant: str = "acme", **columns: Any
) -> int:
    """A product of ``merchant`` with ``stock`` units on hand in ``warehouse_id``."""
    values = {"sku": sku, "name": columns.pop("name", sku.title()), **columns}
    names = ", ".join(["merchant_id", *values])
    placeholders = ", ".join(f"${i}" for i in range(1, len(values) + 2))
    product_id = await db.fetchval(
        f"INSERT INTO products ({names}) VALUES ({placeholders}) RETURNING product_id",
        await merchant_id(db, merchant),
        *values.values(),
    )
    if stock:
        await add_stock(db, product_id, stock, warehouse_id)
    return product_id


async def add_stock(db: asyncpg.Connection, product_id: int, qty: int, warehouse_id: int = 1) -> None:
    await db.execute(
        """INSERT INTO stock (product_id, warehouse_id, merchant_id, qty_on_hand)
           SELECT $1, $2, merchant_id, $3 FROM products WHERE product_id = $1
           ON CONFLICT (product_id, warehouse_id) DO UPDATE SET qty_on_hand = stock.qty_on_hand + $3""",
        product_id,
        warehouse_id,
        qty,
    )


async def stock_of(db: asyncpg.Connection, product_id: int, warehouse_id: int = 1) -> tuple[int, int]:
    """(on hand, allocated)."""
    row = await db.fetchrow(
        "SELECT qty_on_hand, qty_allocated FROM stock WHERE product_id = $1 AND warehouse_id = $2", product_id, warehouse_id
    )
    return (row["qty_on_hand"], row["qty_allocated"]) if row else (0, 0)


async def check_invariants(db: asyncpg.Connection) -> None:
    """design §8: stock never negative; allocated equals the open allocations; every status in
    its state (the CHECK holds it); quantities add up; no item without its order."""
    mismatched = await db.fetch(
        """SELECT s.product_id, s.warehouse_id, s.qty_allocated, coalesce(sum(a.qty_allocated), 0) AS allocations
             FROM stock s LEFT JOIN order_item_allocations a USING (product_id, warehouse_id)
            GROUP BY s.product_id, s.warehouse_id, s.qty_allocated
           HAVING s.qty_allocated <> coalesce(sum(a.qty_allocated), 0)"""
    )
    assert not mismatched, [dict(r) for r in mismatched]
    assert await db.fetchval("SELECT count(*) FROM stock WHERE qty_on_hand < qty_allocated OR qty_allocated < 0") == 0
    assert await db.fetchval(
        """SELECT count(*) FROM order_items i
            WHERE i.qty_processing <> coalesce((SELECT sum(qty_allocated) FROM order_item_allocations a
                                                 WHERE a.order_item_id = i.order_item_id), 0)"""
    ) == 0
    assert await db.fetchval(
        "SELECT count(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.order_id)"
    ) == 0
    assert await db.fetchval(
        """SELECT count(*) FROM orders o WHERE NOT EXISTS
             (SELECT 1 FROM events e WHERE e.topic = 'order:created' AND (e.message->>'order_id')::bigint = o.order_id)"""
    ) == 0
