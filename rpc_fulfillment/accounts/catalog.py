"""store.list and warehouse.list, in ShipStream's shapes."""

from __future__ import annotations

from typing import Any

from rpc_fulfillment.core.context import CallContext
from rpc_fulfillment.accounts import queries as accounts


async def store_list(ctx: CallContext) -> list[dict[str, Any]]:
    rows = await accounts.list_stores(ctx.pool, ctx.principal.merchant_id)
    return [dict(row) for row in rows]


async def warehouse_list(ctx: CallContext) -> list[dict[str, Any]]:
    rows = await accounts.list_warehouses(ctx.pool)
    return [
        {
            "warehouse_id": row["warehouse_id"],
            "name": row["name"],
            "is_active": row["is_active"],
            "address": {
                key: row[key] for key in ("street1", "street2", "city", "country", "region", "postcode")
            },
        }
        for row in rows
    ]
