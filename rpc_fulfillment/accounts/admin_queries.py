"""Listings for the operator's CLI (not scoped to one merchant)."""

from __future__ import annotations

import asyncpg


async def list_merchants(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT merchant_id, code, name, created_at FROM merchants ORDER BY merchant_id")


async def list_stores(conn: asyncpg.Connection, merchant_code: str | None) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT s.store_id, m.code AS merchant, s.code, s.name, s.is_default, s.is_active
             FROM stores s JOIN merchants m USING (merchant_id)
            WHERE $1::text IS NULL OR m.code = $1
            ORDER BY s.store_id""",
        merchant_code,
    )


async def list_warehouses(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT warehouse_id, name, is_active, city, region, country FROM warehouses ORDER BY warehouse_id"
    )
