"""order.hold, order.unhold and order.cancel."""

from __future__ import annotations

from typing import Any

from rpc_fulfillment.orders.cancellation import FLAGS as CANCEL_FLAGS
from rpc_fulfillment.orders.cancellation import CancelPlan, item_state, parse_cancel_options, plan_cancellation
from rpc_fulfillment.core.faults import Fault
from rpc_fulfillment.orders.views import select_fields
from rpc_fulfillment.fulfillment.states import CANCELED
from rpc_fulfillment.core.api import INTEGRATION, Arg, Doc, api_method
from rpc_fulfillment.core.schema import BOOLEAN, STRING, TRUE_RESULT, array_of, obj
from rpc_fulfillment.fulfillment.order_rows import ORDER_UNIQUE_ID
from rpc_fulfillment.orders.docs import ORDER_FIELDS, ORDER_PROPERTIES
from rpc_fulfillment.core.context import REQUIRED, CallContext
from rpc_fulfillment.fulfillment.engine import items_updated_message, reserve_backorders, settle
from rpc_fulfillment.inventory.api import stock_adjustments
from rpc_fulfillment.fulfillment.order_rows import order_or_fault
from rpc_fulfillment.orders.read import order_properties
from rpc_fulfillment.db import outbox as event_store
from rpc_fulfillment.fulfillment import queries as store
from rpc_fulfillment.fulfillment.queries import Reservation
from rpc_fulfillment.db.pool import Connection
from rpc_fulfillment.fulfillment.order_rows import fetch_items

NOT_CHANGED = "order_status_not_changed"


async def _settle_one(ctx: CallContext, unique_id: Any, action: str, refusal: str) -> bool:
    """The matrix's ``action`` on one order, locked; fault 100 or NOT_CHANGED with ``refusal``."""
    order = await order_or_fault(ctx.conn, ctx, unique_id, lock=True)
    await settle(ctx.conn, ctx.principal.merchant_id, [order], action, fault=NOT_CHANGED, what=refusal)
    return True


def _settle_doc(summary: str) -> Doc:
    """The declaration order.hold and order.unhold share: an order id in, true out."""
    return Doc(summary, args={"orderUniqueId": ORDER_UNIQUE_ID}, result=TRUE_RESULT,
               faults=("order_not_found", "order_status_not_changed"))


@api_method("order.hold", INTEGRATION, _settle_doc("Put an order of state new on hold; its reservations are kept."))
async def order_hold(ctx: CallContext, orderUniqueId: Any = REQUIRED) -> bool:  # noqa: N803
    return await _settle_one(ctx, orderUniqueId, "hold", "the order cannot be put on hold")


@api_method("order.unhold", INTEGRATION, _settle_doc(
    "Take an order off hold: back to state new, with the status its reservations give it."))
async def order_unhold(ctx: CallContext, orderUniqueId: Any = REQUIRED) -> bool:  # noqa: N803
    return await _settle_one(ctx, orderUniqueId, "unhold", "the order is not on hold")


async def _release(conn: Connection, ctx: CallContext, order_id: int, plan: CancelPlan) -> dict[int, int]:
    """Cancel the planned units: backordered ones directly, reserved ones by releasing their
    allocations (warehouse by warehouse). Returns the units freed per product."""
    await store.cancel_backordered(conn, [(i.order_item_id, i.from_backorder) for i in plan.items.values() if i.from_backorder])
    wanted = {i.order_item_id: i.from_reserved for i in plan.items.values() if i.from_reserved}
    releases = []
    for row in await store.free_allocations(conn, order_id):
        take = min(wanted.get(row["order_item_id"], 0), row["free"])
        if take > 0:
            releases.append(Reservation(row["order_item_id"], order_id, row["product_id"], row["warehouse_id"], -take))
            wanted[row["order_item_id"]] -= take
    await store.apply_reservations(conn, ctx.principal.merchant_id, releases, from_backorder=False,
                                   entity_action="deallocate", api_user_id=ctx.principal.api_user_id)
    freed: dict[int, int] = {}
    for release in releases:
        freed[release.product_id] = freed.get(release.product_id, 0) - release.qty
    return freed


@api_method("order.cancel", INTEGRATION, Doc(
    "Cancel some or all of an order's units.",
    args={
        "orderUniqueId": ORDER_UNIQUE_ID,
        "options": Arg(
            obj({
                **{name: {"type": ["boolean", "integer", "string"]} for name in CANCEL_FLAGS},
                "items": array_of(obj({"sku": STRING, "order_item_ref": STRING, "qty": {"type": ["integer", "string"]}},
                                      required=("qty",))),
            }),
            "at least one option true (or items); they add up",
        ),
        "fields": ORDER_FIELDS,
    },
    result=obj(
        {"success": BOOLEAN, "warnings": array_of(STRING), "cancellations": array_of(STRING), "order": ORDER_PROPERTIES},
        required=("success", "warnings", "cancellations", "order"),
    ),
    faults=("order_not_found", "order_invalid_data", "order_status_not_changed"),
    description="Released units go to backordered orders at once. Nothing to cancel is success false with "
                "a warning, not a fault.",
))
async def order_cancel(ctx: CallContext, orderUniqueId: Any = REQUIRED, options: Any = REQUIRED, fields: Any = []) -> dict[str, Any]:  # noqa: N803, B006
    selection = select_fields(fields, "order_invalid_data")
    request = parse_cancel_options(options)
    merchant_id = ctx.principal.merchant_id
    conn = ctx.conn
    # Stock rows first, then the order: the engine's lock order (fulfillment/queries.py).
    await store.lock_order_stock(conn, (await order_or_fault(conn, ctx, orderUniqueId))["order_id"])
    order = await order_or_fault(conn, ctx, orderUniqueId, lock=True)
    if order["state"] == CANCELED:
        raise Fault(NOT_CHANGED, "the order is already canceled")
    items = await fetch_items(conn, [order["order_id"]])
    plan = plan_cancellation([item_state(item) for item in items], request)
    cancellations: list[str] = []
    if plan.canceled:
        freed = await _release(conn, ctx, order["order_id"], plan)
        canceled = {item_id: item.canceled for item_id, item in plan.items.items() if item.canceled}
        await event_store.emit(conn, merchant_id, "order:items_updated",
                               items_updated_message(order, await fetch_items(conn, [order["order_id"]]), canceled))
        # The freed units go to backordered orders first, so that order:canceled tells what
        # is available once they have; then the order settles from what it is now.
        await reserve_backorders(conn, merchant_id, sorted(freed), ctx.principal.api_user_id)
        open_left = sum(i["qty_processing"] + i["qty_backordered"] for i in items) - plan.canceled
        extra = None
        if open_left == 0:
            extra = {"stock_adjustments": await stock_adjustments(conn, merchant_id, freed),
                     "shipments": [{"unique_id": s} for s in await store.shipments_of(conn, order["order_id"])]}
        await settle(conn, merchant_id, [await order_or_fault(conn, ctx, order["unique_id"])],
                     "cancel" if open_left == 0 else "cancel_items", comment="Canceled by order.cancel", extra=extra)
    if plan.requested:
        cancellations = await store.request_shipment_cancellations(
            conn, [(i.order_item_id, i.requested) for i in plan.items.values() if i.requested]
        )
    updated = await order_or_fault(conn, ctx, order["unique_id"])
    return {
        "success": bool(plan.canceled or cancellations),
        "warnings": plan.warnings,
        "cancellations": cancellations,
        "order": await order_properties(conn, updated, selection),
    }
