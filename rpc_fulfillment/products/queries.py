"""SQL for products. Every statement is scoped to one merchant."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Sequence

import asyncpg

from rpc_fulfillment.core.filters import Condition, Page
from rpc_fulfillment.db.search import Column, WhereBuilder, fetch_rows

PRODUCT_COLUMNS = (
    "p.product_id, p.sku, p.name, p.barcodes, p.vendor_sku, p.external_id, p.status, p.weight, p.weight_unit, "
    "p.length, p.width, p.height, p.dimension_unit, p.attributes, p.created_at, p.updated_at"
)

# product.search: the SQL of each filterable field.
SEARCH_COLUMNS: dict[str, Column] = {
    "product_id": Column("p.product_id"),
    "sku": Column("p.sku"),
    "vendor_sku": Column("p.vendor_sku"),
    "name": Column("p.name"),
    "status": Column("p.status"),
    "availability": Column("coalesce((p.attributes->>'availability')::integer, 1)"),
    "visibility": Column("coalesce((p.attributes->>'visibility')::integer, 2)"),
    "external_id": Column("p.external_id"),
    "created_at": Column("p.created_at"),
    "updated_at": Column("p.updated_at"),
    "barcode": Column("p.barcodes", array=True),
}


async def find_product(conn: asyncpg.Connection, merchant_id: int, sku: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {PRODUCT_COLUMNS} FROM products p WHERE p.merchant_id = $1 AND p.sku = $2", merchant_id, sku
    )


async def product_exists(conn: asyncpg.Connection, merchant_id: int, sku: str) -> bool:
    return await conn.fetchval("SELECT EXISTS (SELECT 1 FROM products WHERE merchant_id = $1 AND sku = $2)", merchant_id, sku)


async def insert_product(
    conn: asyncpg.Connection, merchant_id: int, sku: str, columns: dict[str, Any], attributes: dict[str, Any]
) -> asyncpg.Record | None:
    """The new product, or None when the merchant already has this SKU (nothing is written)."""
    return await conn.fetchrow(
        f"""INSERT INTO products AS p (merchant_id, sku, name, barcodes, vendor_sku, external_id, status, weight,
                                      weight_unit, length, width, height, dimension_unit, attributes)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
            ON CONFLICT (merchant_id, sku) DO NOTHING
            RETURNING {PRODUCT_COLUMNS}""",
        merchant_id,
        sku,
        columns["name"],
        columns.get("barcodes", []),
        columns.get("vendor_sku"),
        columns.get("external_id"),
        columns["status"],
        columns.get("weight"),
        columns["weight_unit"],
        columns.get("length"),
        columns.get("width"),
        columns.get("height"),
        columns["dimension_unit"],
        {name: value for name, value in attributes.items() if value is not None},
    )


def _json_ready(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


# One statement text for every update: the columns to change travel in a jsonb object and
# only the keys present there change; attributes merge, a null removes a key.
_UPDATE = f"""
UPDATE products AS p SET
    name = CASE WHEN $3 ? 'name' THEN $3->>'name' ELSE p.name END,
    vendor_sku = CASE WHEN $3 ? 'vendor_sku' THEN $3->>'vendor_sku' ELSE p.vendor_sku END,
    external_id = CASE WHEN $3 ? 'external_id' THEN $3->>'external_id' ELSE p.external_id END,
    status = CASE WHEN $3 ? 'status' THEN ($3->>'status')::smallint ELSE p.status END,
    weight = CASE WHEN $3 ? 'weight' THEN ($3->>'weight')::numeric ELSE p.weight END,
    weight_unit = CASE WHEN $3 ? 'weight_unit' THEN $3->>'weight_unit' ELSE p.weight_unit END,
    length = CASE WHEN $3 ? 'length' THEN ($3->>'length')::numeric ELSE p.length END,
    width = CASE WHEN $3 ? 'width' THEN ($3->>'width')::numeric ELSE p.width END,
    height = CASE WHEN $3 ? 'height' THEN ($3->>'height')::numeric ELSE p.height END,
    dimension_unit = CASE WHEN $3 ? 'dimension_unit' THEN $3->>'dimension_unit' ELSE p.dimension_unit END,
    barcodes = CASE WHEN $3 ? 'barcodes'
                    THEN ARRAY(SELECT b.value FROM jsonb_array_elements_text($3->'barcodes') WITH ORDINALITY AS b(value, n)
                               ORDER BY b.n)
                    ELSE p.barcodes END,
    attributes = jsonb_strip_nulls(p.attributes || $4),
    updated_at = now()
WHERE p.merchant_id = $1 AND p.sku = $2
RETURNING {PRODUCT_COLUMNS}
"""


async def update_product(
    conn: asyncpg.Connection, merchant_id: int, sku: str, columns: dict[str, Any], attributes: dict[str, Any]
) -> asyncpg.Record | None:
    """The updated product, or None when the merchant has no such SKU."""
    return await conn.fetchrow(
        _UPDATE,
        merchant_id,
        sku,
        {name: _json_ready(value) for name, value in columns.items()},
        attributes,
    )


async def search_products(
    conn: asyncpg.Connection, merchant_id: int, conditions: Sequence[Condition], page: Page
) -> list[asyncpg.Record]:
    where = WhereBuilder.for_merchant(merchant_id, "p.merchant_id", conditions, SEARCH_COLUMNS)
    return await fetch_rows(conn, "products p", PRODUCT_COLUMNS, where, page, SEARCH_COLUMNS, "p.product_id")
