"""store.list and warehouse.list, in ShipStream's shapes."""

from __future__ import annotations

from typing import Any

from rpc_fulfillment.core.context import CallContext
from rpc_fulfillment.accounts import queries as accounts
from rpc_fulfillment.core.api import EVERYONE, Doc, api_method
from rpc_fulfillment.core.schema import BOOLEAN, INTEGER, STRING, array_of, nullable, obj


STORE = obj({"store_id": INTEGER, "code": STRING, "name": STRING, "sort_order": INTEGER, "is_active": BOOLEAN})
WAREHOUSE = obj({
    "warehouse_id": INTEGER, "name": STRING, "is_active": BOOLEAN,
    "address": obj({name: nullable(STRING) for name in ("street1", "street2", "city", "country", "region", "postcode")}),
})


@api_method("store.list", EVERYONE, Doc(
    "The caller's merchant's stores.",
    result=array_of(STORE),
), transaction=None)
async def store_list(ctx: CallContext) -> list[dict[str, Any]]:
    rows = await accounts.list_stores(ctx.conn, ctx.principal.merchant_id)
    return [dict(row) for row in rows]


@api_method("warehouse.list", EVERYONE, Doc(
    "The warehouses (the operator's, shared by all merchants).",
    result=array_of(WAREHOUSE),
), transaction=None)
async def warehouse_list(ctx: CallContext) -> list[dict[str, Any]]:
    rows = await accounts.list_warehouses(ctx.conn)
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
