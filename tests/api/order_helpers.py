"""Arranging products, stock and orders for order tests, straight in the database."""

from __future__ import annotations

from typing import Any, AsyncIterator

import asyncpg
import pytest

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
# ADDRESS as order.info answers it: ShipStream's Address Properties, street1/street2 as street.
ADDRESS_ANSWERED = {
    "firstname": "Bill",
    "lastname": "Gates",
    "company": "Microsoft",
    "street": "11 Times Square",
    "city": "New York",
    "region": "NY",
    "postcode": "10036",
    "country": "US",
    "classification": None,
    "is_valid": None,
    "telephone": "212.245.2100",
    "email": None,
}
INFO = {"shipping_method": "ups_03"}


async def merchant_id(db: asyncpg.Connection, code: str = "acme") -> int:
    return await db.fetchval("SELECT merchant_id FROM merchants WHERE code = $1", code)


async def number_in_creation_order(db: asyncpg.Connection, column: str, start: int | None = None) -> None:
    """Make ``column`` ("table.column") of this test's own database number new rows one by one
    (from ``start`` if given), as it did before ids were permuted (README, "Ids"): for tests that
    sort by an id and write the expected rows in the order they made them.
    tests/api/test_ids_not_countable.py checks the permuted ids themselves."""
    table, name = column.split(".")
    sequence = await db.fetchval("SELECT pg_get_serial_sequence($1, $2)", table, name)
    await db.execute(f"ALTER TABLE {table} ALTER COLUMN {name} SET DEFAULT nextval('{sequence}')")
    if start is not None:
        await db.execute("SELECT setval($1::regclass, $2, false)", sequence, start)


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
    # The status of an order in state new or processing says what is reserved and what waits
    # (docs: new / partial_backorder / backordered; processing / partial_backorder), written here
    # rather than taken from fulfillment/states.py.
    wrong_status = await db.fetch(
        """SELECT o.unique_id, o.status, sum(i.qty_processing) AS reserved, sum(i.qty_backordered) AS backordered
             FROM orders o JOIN order_items i USING (order_id)
            WHERE o.state IN ('new', 'processing')
            GROUP BY o.order_id
           HAVING o.status <> CASE WHEN sum(i.qty_backordered) > 0 AND (o.state = 'processing' OR sum(i.qty_processing) > 0)
                                   THEN 'partial_backorder'
                                   WHEN sum(i.qty_backordered) > 0 THEN 'backordered'
                                   ELSE o.state END"""
    )
    assert not wrong_status, [dict(r) for r in wrong_status]
    assert await db.fetchval(
        """SELECT count(*) FROM orders o WHERE NOT EXISTS
             (SELECT 1 FROM events e WHERE e.topic = 'order:created' AND (e.message->>'order_id')::bigint = o.order_id)"""
    ) == 0


# --------------------------------------------------------------------------- order tests

# ShipStream's fixed order fault messages (reference §2.1); 101, 102 and 103 carry the detail
# as their message instead.
NOT_FOUND = "Requested order does not exist."
EXISTS = "An order with the specified ID already exists."
NOT_EDITABLE = "The order cannot be edited."
NO_PRODUCT = "Product does not exist."


def assert_fault(error: dict[str, Any], number: int, message: str | None = None) -> None:
    """ShipStream fault ``number`` on the wire: code -(32000 + number), and the exact message."""
    assert error["code"] == -(32000 + number), error
    if message is not None:
        assert error["message"] == message, error


async def add_warehouse(db: asyncpg.Connection, name: str = "Second Warehouse", *, is_active: bool = True) -> int:
    return await db.fetchval(
        "INSERT INTO warehouses (name, is_active) VALUES ($1, $2) RETURNING warehouse_id", name, is_active
    )


async def add_store(db: asyncpg.Connection, code: str, *, merchant: str = "acme", is_active: bool = True) -> int:
    return await db.fetchval(
        """INSERT INTO stores (merchant_id, code, name, is_active) VALUES ($1, $2, $3, $4) RETURNING store_id""",
        await merchant_id(db, merchant),
        code,
        f"Store {code}",
        is_active,
    )


async def snapshot(db: asyncpg.Connection) -> dict[str, Any]:
    """Everything an order write touches: row counts and the stock figures."""
    counts = {
        table: await db.fetchval(f"SELECT count(*) FROM {table}")
        for table in ("orders", "order_items", "order_item_allocations", "order_status_history", "events", "stock_movements")
    }
    counts["stock"] = [
        tuple(row) for row in await db.fetch(
            "SELECT product_id, warehouse_id, qty_on_hand, qty_allocated FROM stock ORDER BY product_id, warehouse_id"
        )
    ]
    return counts


async def events_of(db: asyncpg.Connection, topic: str) -> list[dict[str, Any]]:
    return [row["message"] for row in await db.fetch("SELECT message FROM events WHERE topic = $1 ORDER BY seq", topic)]


@pytest.fixture
async def invariants(db: asyncpg.Connection) -> AsyncIterator[None]:
    """Import into a test module and mark it autouse there (``pytestmark``) or request it: the
    invariants are checked after the test, whatever it did."""
    yield
    await check_invariants(db)
