"""inventory.list, inventory.adjust and stock_movement.list: one transaction each.

inventory.adjust writes the stock change, its stock movement and an ``inventory:adjusted``
event (the outbox) in one transaction. Receiving stock goes through ``receive_stock``, which
ends with the hook ``after_stock_received``: the order engine's place to let backordered
items take the new units.
"""

from __future__ import annotations

from typing import Any, Mapping

import asyncpg

from rpc_fulfillment.inventory import rules as domain
from rpc_fulfillment.core.faults import ConstraintViolated, Fault, OutOfRange
from rpc_fulfillment.inventory.rules import StockReceipt
from rpc_fulfillment.core.filters import paginated, Search
from rpc_fulfillment.core.context import CallContext
from rpc_fulfillment.fulfillment.engine import reserve_backorders
from rpc_fulfillment.db import outbox as events
from rpc_fulfillment.inventory import queries as store
from rpc_fulfillment.inventory.queries import Movement, StockChange
from rpc_fulfillment.core.api import EVERYONE, OPERATIONS, Arg, Doc, api_method
from rpc_fulfillment.core.schema import INTEGER, QUANTITY, STRING, TIMESTAMP, WHOLE, array_of, nullable, obj, paginated_schema, search_doc


INVENTORY_ITEM = obj(
    {name: QUANTITY for name in (
        "qty_expected", "qty_unreceived", "qty_processed", "qty_putaway", "qty_available", "qty_allocated",
        "qty_reserved", "qty_picked", "qty_backordered", "qty_advertised", "qty_on_hand",
    )} | {"sku": STRING},
    closed=False,
)
MOVEMENT = obj({
    "id": STRING, "entity_type": {"enum": list(domain.MOVEMENT_ENTITY_TYPES)},
    "entity_action": STRING, "entity_id": nullable(STRING), "product_id": STRING, "sku": STRING, "warehouse_id": STRING,
    **{name: {"type": "null"} for name in domain.MOVEMENT_UNTRACKED},
    "qty_available": nullable(QUANTITY), "qty_allocated": nullable(QUANTITY),
    "comment": nullable(STRING), "created_at": TIMESTAMP, "location": {"const": ""},
})


@api_method("inventory.list", EVERYONE, Doc(
    "Stock per SKU, summed over all warehouses or in one.",
    args={
        "skus": Arg({"anyOf": [STRING, INTEGER, array_of({"type": ["string", "integer"]},
                                                          maxItems=domain.SKUS_MAX), {"type": "null"}]},
                    "one SKU, an array of SKUs, or null for every product"),
        "warehouseId": Arg(nullable(WHOLE), "only this warehouse's stock"),
        "updatedSince": Arg(nullable(STRING), "only stock changed since this ISO 8601 date-time"),
    },
    result=array_of(INVENTORY_ITEM),
    faults=("inventory_invalid_data",),
    description="Disabled and not-visible products are left out; every quantity is a decimal string. "
                "For one warehouse, qty_backordered is left out (backorders are not apportioned to warehouses).",
), transaction=None)
async def inventory_list(
    ctx: CallContext,
    skus: Any = None,
    warehouseId: Any = None,  # noqa: N803 (ShipStream's argument names, usable as named arguments)
    updatedSince: Any = None,  # noqa: N803
) -> list[dict[str, Any]]:
    sku_list = domain.parse_skus(skus)
    warehouse_id = domain.parse_warehouse_id(warehouseId, "warehouseId", required=False)
    since = domain.parse_updated_since(updatedSince)
    conn = ctx.conn
    if warehouse_id is not None and not await store.warehouse_exists(conn, warehouse_id):
        raise domain.unknown_warehouse(warehouse_id)
    rows = await store.list_inventory(conn, ctx.principal.merchant_id, sku_list, warehouse_id, since)
    per_warehouse = warehouse_id is not None
    return [
        domain.inventory_item(
            row["sku"], row["qty_on_hand"], row["qty_allocated"], None if per_warehouse else row["qty_backordered"]
        )
        for row in rows
    ]


async def after_stock_received(conn: asyncpg.Connection, receipt: StockReceipt) -> int:
    """Called inside the receiving transaction right after units arrived (the stock row and
    its movement are written, nothing is committed yet): backordered order items of the
    product take the new units, most urgent order first. Returns how many units were
    reserved; when non-zero, the caller re-reads the stock for its answer and event."""
    return await reserve_backorders(conn, receipt.merchant_id, [receipt.product_id], None)


async def receive_stock(
    conn: asyncpg.Connection, merchant_id: int, sku: str, warehouse_id: int, qty: int, movement: Movement
) -> StockChange | None:
    """Stock receipt: ``qty`` (> 0) units of ``sku`` arrive in a warehouse, inside the caller's
    transaction. One upsert plus the movement, then the ``after_stock_received`` hook. None
    when the merchant has no such SKU; an unknown warehouse is fault inventory_invalid_data."""
    try:
        change = await store.receive(conn, merchant_id, sku, warehouse_id, qty, movement)
    except ConstraintViolated:  # the stock row's warehouse does not exist
        raise domain.unknown_warehouse(warehouse_id) from None
    except OutOfRange:
        raise Fault(
            "inventory_not_adjusted", f"Stock not adjusted: SKU {sku!r} in warehouse {warehouse_id} would exceed the largest quantity"
        ) from None
    if change is None:
        return None
    receipt = StockReceipt(merchant_id, change.product_id, change.sku, warehouse_id, qty)
    if await after_stock_received(conn, receipt):
        change = await store.stock_after_change(conn, change.product_id, warehouse_id)
    return change


async def _remove_stock(
    conn: asyncpg.Connection, merchant_id: int, sku: str, warehouse_id: int, qty: int, movement: Movement
) -> StockChange:
    """Take ``qty`` units off hand, no more than available (the statement changes nothing then)."""
    change = await store.remove(conn, merchant_id, sku, warehouse_id, qty, movement)
    if change is None:  # no such product, no such warehouse, or no stock there at all
        found = await store.diagnose(conn, merchant_id, sku, warehouse_id)
        if not found["product_found"]:
            raise Fault("inventory_product_not_found", f"no product with SKU {sku[:100]!r}")
        if not found["warehouse_found"]:
            raise domain.unknown_warehouse(warehouse_id)
        raise domain.not_adjusted(sku, warehouse_id, found["qty_available"], qty)
    return change


@api_method("inventory.adjust", OPERATIONS, Doc(
    "Receive (qty_delta > 0) or remove (qty_delta < 0) stock of one SKU in one warehouse.",
    args={
        "sku": Arg({"type": ["string", "integer"], "minLength": 1}, "the product's SKU"),
        "warehouse_id": Arg(WHOLE, "the warehouse"),
        "qty_delta": Arg({"type": ["integer", "string"], "not": {"const": 0},
                          "minimum": -domain.MAX_ADJUST, "maximum": domain.MAX_ADJUST},
                         "units to add (> 0) or remove (< 0)"),
        "reason": Arg(nullable({"type": "string", "maxLength": domain.REASON_MAX}),
                      "kept as the stock movement's comment"),
    },
    result=obj({**INVENTORY_ITEM["properties"], "warehouse_id": INTEGER}, closed=False),
    faults=("inventory_product_not_found", "inventory_invalid_data", "inventory_not_adjusted"),
    description="One atomic statement; records a stock movement and an inventory:adjusted event. Units "
                "received go to backordered orders at once, most urgent first. Removing more than is "
                "available is fault 103 and changes nothing.",
))
async def inventory_adjust(ctx: CallContext, sku: Any, warehouse_id: Any, qty_delta: Any, reason: Any = None) -> dict[str, Any]:
    """Receive (qty_delta > 0) or remove (< 0) stock of one SKU in one warehouse."""
    sku = domain.parse_adjust_sku(sku)
    warehouse = domain.parse_warehouse_id(warehouse_id, "warehouse_id", required=True)
    delta = domain.parse_qty_delta(qty_delta)
    movement = Movement(
        domain.ADJUSTMENT_ENTITY_TYPE, domain.ADJUSTMENT_ENTITY_ACTION, None, domain.parse_reason(reason),
        ctx.principal.api_user_id,
    )
    merchant_id = ctx.principal.merchant_id
    conn = ctx.conn
    if delta > 0:
        change = await receive_stock(conn, merchant_id, sku, warehouse, delta, movement)
        if change is None:
            raise Fault("inventory_product_not_found", f"no product with SKU {sku[:100]!r}")
    else:
        change = await _remove_stock(conn, merchant_id, sku, warehouse, -delta, movement)
    entry = domain.stock_adjustment(change.sku, change.external_id, change.product_id, delta, change.total_available)
    await events.emit(conn, merchant_id, "inventory:adjusted", {"stock_adjustments": {change.sku: entry}})
    item = domain.inventory_item(change.sku, change.qty_on_hand, change.qty_allocated, change.qty_backordered)
    return {**item, "warehouse_id": change.warehouse_id}


async def stock_adjustments(conn: asyncpg.Connection, merchant_id: int, deltas: Mapping[int, int]) -> dict[str, Any]:
    """``stock_adjustments`` for an event (order:created, order:canceled, ...): ``deltas`` maps
    product_id to the change in available units; read inside the changing transaction, after
    the change. One query for all products."""
    rows = await store.product_totals(conn, merchant_id, list(deltas))
    return {
        row["sku"]: domain.stock_adjustment(
            row["sku"], row["external_id"], row["product_id"], deltas[row["product_id"]], row["qty_available"]
        )
        for row in rows
    }


MOVEMENT_SEARCH = Search(domain.MOVEMENT_FIELDS, domain.MOVEMENT_SORT_FIELDS, domain.MOVEMENT_DEFAULT_SORT,
                         domain.MOVEMENT_INVALID_FILTERS)


@api_method("stock_movement.list", EVERYONE, search_doc(
    "The merchant's stock movements.", MOVEMENT_SEARCH, paginated_schema(MOVEMENT)), transaction=None)
async def stock_movement_list(ctx: CallContext, filters: Any = None, options: Any = None) -> dict[str, Any]:
    conditions, page = MOVEMENT_SEARCH.parse(filters, options)
    conn = ctx.conn
    rows, total = await store.search_movements(conn, ctx.principal.merchant_id, conditions, page)
    return paginated([domain.movement_view(row) for row in rows], total, page)
