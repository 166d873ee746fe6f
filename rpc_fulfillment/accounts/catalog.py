"""store.list and warehouse.list, in ShipStream's shapes."""

from __future__ import annotations

from typing import Any

from rpc_fulfillment.core import formats
from rpc_fulfillment.core.context import CallContext
from rpc_fulfillment.accounts import queries as accounts
from rpc_fulfillment.core.api import EVERYONE, Doc, api_method
from rpc_fulfillment.core.schema import FLAG, INTEGER, STRING, array_of, obj

ADDRESS_FIELDS = ("street1", "street2", "city", "country", "region", "postcode")
STORE = obj({"store_id": INTEGER, "code": STRING, "name": STRING, "sort_order": INTEGER, "is_active": FLAG})
WAREHOUSE = obj({
    "warehouse_id": INTEGER, "name": STRING, "is_active": FLAG,
    "address": obj({name: STRING for name in ADDRESS_FIELDS}, description='a line the warehouse lacks is ""'),
})


@api_method("store.list", EVERYONE, Doc(
    "The caller's merchant's stores.",
    result=array_of(STORE),
), transaction=None)
async def store_list(ctx: CallContext) -> list[dict[str, Any]]:
    rows = await accounts.list_stores(ctx.conn, ctx.principal.merchant_id)
    return [{**row, "is_active": formats.flag(row["is_active"])} for row in rows]


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
            "is_active": formats.flag(row["is_active"]),
            "address": {key: row[key] for key in ADDRESS_FIELDS},
        }
        for row in rows
    ]
