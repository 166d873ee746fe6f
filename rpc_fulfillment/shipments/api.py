"""shipment.create, pack, ship, deliver, cancel and update: one transaction each.

The steps themselves (``create_for_order``, ``pack_shipment``, ...) run inside a caller's
transaction with the locks taken, so the sandbox worker (workers/auto_fulfill.py) runs exactly
what the API runs. Lock order: stock rows (primary-key order), then the order row, then the
shipment row; create, pack and deliver touch no stock and start at the order row.

Order statuses change only through ``settle`` (the matrix: start_shipment, pack,
return_shipment, unpack); shipping changes no order status (the units leave processing and the
shipment together, see states.resolve), only the order's shipped_at / delivered_at.

Events, in the same transaction (payloads.py gives their shapes): ``package:packed`` and
``track:created`` per package and tracking number, then ``shipment:packed``;
``package:shipped`` then ``shipment:shipped``; ``package:delivered`` then
``shipment:delivered``; ``shipment:reverted`` when a packed shipment is canceled,
``shipment:labels_voided`` when its labels are voided (shipment.void_labels);
``order:shipments_updated`` on create and cancel, ``order:shipped`` when no shipment of the
order is left open, ``order:delivered`` when every shipped shipment is delivered.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import partial
from typing import Any, Awaitable, Callable, Mapping, Sequence

import asyncpg

from rpc_fulfillment.shipments import rules as domain
from rpc_fulfillment.core.faults import Fault
from rpc_fulfillment.fulfillment.policies import DEFAULT, resolve_policy
from rpc_fulfillment.shipments import payloads
from rpc_fulfillment.fulfillment.states import check_allowed
from rpc_fulfillment.core.api import EVERYONE, OPERATIONS, Arg, Doc, api_method
from rpc_fulfillment.core.schema import TRUE_RESULT, WHOLE, array_of, nullable, obj
from rpc_fulfillment.fulfillment.order_rows import ORDER_UNIQUE_ID
from rpc_fulfillment.shipments.docs import SHIPMENT_ID, SHIPMENT_PROPERTIES
from rpc_fulfillment.core.context import REQUIRED, CallContext
from rpc_fulfillment.fulfillment.engine import items_updated_message, order_reference, reserve_backorders, settle
from rpc_fulfillment.fulfillment.order_rows import order_or_fault
from rpc_fulfillment.shipments.read import shipment_or_fault, shipment_properties
from rpc_fulfillment.db import outbox as event_store
from rpc_fulfillment.fulfillment import queries as fulfillment_store
from rpc_fulfillment.fulfillment import order_rows
from rpc_fulfillment.shipments import queries as store
from rpc_fulfillment.fulfillment.queries import Reservation
from rpc_fulfillment.db.pool import Connection

Row = Mapping[str, Any]
Event = tuple[str, dict[str, Any]]


# ------------------------------------------------------------------------ event messages


async def _reload(conn: Connection, shipment_id: int) -> asyncpg.Record:
    return (await store.fetch_shipments(conn, [shipment_id]))[0]


@dataclass(frozen=True)
class _Parts:
    """A shipment's items, packages and tracking numbers, as its events show them."""

    items: list[asyncpg.Record]
    packages: list[asyncpg.Record]
    tracking: list[asyncpg.Record]


async def _parts(conn: Connection, shipment_id: int) -> _Parts:
    ids = [shipment_id]
    return _Parts(await store.fetch_items(conn, ids), await store.fetch_packages(conn, ids),
                  await store.fetch_tracking(conn, ids))


def _shipment_event(topic: str, row: Row, parts: _Parts) -> Event:
    return topic, payloads.shipment(row, parts.items, parts.packages, parts.tracking)


def _package_events(status: str, parts: _Parts) -> list[Event]:
    return [(f"package:{status}", payloads.package_status(p["package_id"], status)) for p in parts.packages]


async def _order_shipments_message(conn: Connection, order: Row) -> dict[str, Any]:
    """order:shipped / order:delivered: the order and its shipments that are not canceled."""
    tracking: dict[int, list[Any]] = defaultdict(list)
    for row in await store.order_tracking(conn, [order["order_id"]]):
        tracking[row["shipment_id"]].append(row)
    return {
        **order_reference(order),
        "shipments": [
            payloads.order_shipment_tracked(s, order, tracking[s["shipment_id"]])
            for s in await store.order_shipments(conn, [order["order_id"]])
            if s["status"] != "canceled"
        ],
    }


async def _shipments_updated(conn: Connection, order: Row) -> Event:
    return "order:shipments_updated", {
        **order_reference(order),
        "shipments": [payloads.order_shipment(s, order) for s in await store.order_shipments(conn, [order["order_id"]])],
    }


# --------------------------------------------------------------------------------- steps


async def create_for_order(conn: Connection, merchant_id: int, order: Row, requests: Sequence[domain.LineInput] | None,
                           warehouse_id: int | None) -> asyncpg.Record:
    """A new shipment of the (locked) order's reserved units not yet in a shipment."""
    check_allowed("start_shipment", order["state"], order["status"], domain.NOT_CREATED,
                  f"No shipment can start for order {order['unique_id']}")
    order_id = order["order_id"]
    free: dict[int, dict[int, int]] = defaultdict(dict)
    for row in await fulfillment_store.free_allocations(conn, order_id):
        if row["free"] > 0:
            free[row["order_item_id"]][row["warehouse_id"]] = row["free"]
    lines = [
        domain.OrderLine(item["order_item_id"], item["sku"], item["order_item_ref"], item["qty_backordered"],
                         free.get(item["order_item_id"], {}))
        for item in await order_rows.fetch_items(conn, [order_id])
    ]
    policy_name = order["backorder_policy"]
    if policy_name == DEFAULT:
        policy_name = await store.store_policy(conn, order["store_id"])
    policy = resolve_policy(policy_name)
    so_far = await store.count_shipments(conn, order_id)
    backordered = sum(line.backordered for line in lines)
    free_total = sum(units for line in lines for units in line.free.values())
    domain.check_policy(policy, policy_name, so_far, backordered, free_total)
    plan = domain.plan_shipment(lines, requests, warehouse_id)
    domain.check_policy(policy, policy_name, so_far, backordered, free_total, plan.total)
    shipment_id = await store.insert_shipment(conn, merchant_id, order_id, plan.warehouse_id, plan.quantities)
    await settle(conn, merchant_id, [order], "start_shipment", fault=domain.NOT_CREATED,
                 what=f"No shipment can start for order {order['unique_id']}")
    await event_store.emit(conn, merchant_id, *await _shipments_updated(conn, order))
    return await _reload(conn, shipment_id)


async def pack_shipment(conn: Connection, merchant_id: int, order: Row, shipment: Row,
                        packages: Sequence[domain.PackageInput]) -> asyncpg.Record:
    """Every unit of the (locked) shipment into packages with their labels."""
    domain.check_shipment_action("pack", shipment["increment_id"], shipment["status"])
    lines = [
        domain.ShipmentLine(item["order_item_id"], item["sku"], item["order_item_ref"], item["qty"] - item["qty_canceled"])
        for item in await store.fetch_items(conn, [shipment["shipment_id"]])
    ]
    plans = domain.plan_packages(lines, packages)
    await store.write_packages(conn, merchant_id, shipment["shipment_id"], plans, order["carrier_code"])
    await settle(conn, merchant_id, [order], "pack", fault=domain.NOT_PACKED,
                 what=f"Shipment {shipment['increment_id']} cannot be packed")
    row = await _reload(conn, shipment["shipment_id"])
    parts = await _parts(conn, row["shipment_id"])
    await event_store.emit_many(conn, merchant_id, [
        *_package_events("packed", parts),
        *(("track:created", payloads.track_created(row, t)) for t in parts.tracking),
        _shipment_event("shipment:packed", row, parts),
    ])
    return row


async def ship_shipment(conn: Connection, merchant_id: int, api_user_id: int | None, order: Row,
                        shipment: Row) -> asyncpg.Record:
    """Ship the (locked) packed shipment; its stock rows were locked before the order."""
    domain.check_shipment_action("ship", shipment["increment_id"], shipment["status"])
    shipped = await store.ship(conn, merchant_id, shipment["shipment_id"], api_user_id)
    row = await _reload(conn, shipment["shipment_id"])
    parts = await _parts(conn, row["shipment_id"])
    events = [*_package_events("shipped", parts), _shipment_event("shipment:shipped", row, parts)]
    if shipped.order_shipped:
        events.append(("order:shipped", await _order_shipments_message(conn, order)))
    await event_store.emit_many(conn, merchant_id, events)
    return row


async def deliver_shipment(conn: Connection, merchant_id: int, order: Row, shipment: Row) -> asyncpg.Record:
    domain.check_shipment_action("deliver", shipment["increment_id"], shipment["status"],
                                 delivered=shipment["delivered_at"] is not None)
    order_delivered = await store.deliver(conn, shipment["shipment_id"])
    row = await _reload(conn, shipment["shipment_id"])
    parts = await _parts(conn, row["shipment_id"])
    events = [*_package_events("delivered", parts), _shipment_event("shipment:delivered", row, parts)]
    if order_delivered:
        events.append(("order:delivered", await _order_shipments_message(conn, order)))
    await event_store.emit_many(conn, merchant_id, events)
    return row


async def cancel_shipment(conn: Connection, merchant_id: int, api_user_id: int | None, order: Row,
                          shipment: Row) -> asyncpg.Record:
    """Return the (locked) shipment's units to the order, where they stay reserved for a new
    shipment; units with a cancellation request are canceled instead, and the stock they free
    goes to backordered orders. Stock rows were locked before the order."""
    domain.check_shipment_action("cancel", shipment["increment_id"], shipment["status"])
    order_id = order["order_id"]
    returned = await store.cancel(conn, shipment["shipment_id"])
    releases = [
        Reservation(row["order_item_id"], order_id, row["product_id"], shipment["warehouse_id"], -row["requested"])
        for row in returned if row["requested"] > 0
    ]
    events = []
    if releases:
        await fulfillment_store.apply_reservations(conn, merchant_id, releases, from_backorder=False,
                                                   entity_action="deallocate", api_user_id=api_user_id)
        items = await order_rows.fetch_items(conn, [order_id])
        events.append(("order:items_updated", items_updated_message(order, items, {r.order_item_id: -r.qty for r in releases})))
        await reserve_backorders(conn, merchant_id, sorted({r.product_id for r in releases}), api_user_id)
    # reserve_backorders may have settled this very order: settle from what it is now
    current = (await fulfillment_store.orders_by_id(conn, [order_id]))[0]
    await settle(conn, merchant_id, [current], "return_shipment", fault=domain.NOT_CANCELED,
                 what=f"Shipment {shipment['increment_id']} cannot be canceled",
                 comment=f"Shipment {shipment['increment_id']} canceled")
    events.append(await _shipments_updated(conn, order))
    row = await _reload(conn, shipment["shipment_id"])
    if shipment["status"] in domain.REVERTED_WHEN_CANCELED:
        events.append(_shipment_event("shipment:reverted", row, await _parts(conn, row["shipment_id"])))
    await event_store.emit_many(conn, merchant_id, events)
    return row


async def void_labels(conn: Connection, merchant_id: int, order: Row, shipment: Row) -> asyncpg.Record:
    """Take the (locked) packed shipment's packages and labels away: it is picked again, to be
    packed anew, and the order is no longer complete. shipment:labels_voided shows the
    packages and trackers that were voided."""
    domain.check_shipment_action("void_labels", shipment["increment_id"], shipment["status"])
    voided = await _parts(conn, shipment["shipment_id"])
    await store.void_labels(conn, shipment["shipment_id"])
    await settle(conn, merchant_id, [order], "unpack", fault=domain.LABELS_NOT_VOIDED,
                 what=f"The labels of shipment {shipment['increment_id']} cannot be voided",
                 comment=f"Shipment {shipment['increment_id']}: labels voided")
    row = await _reload(conn, shipment["shipment_id"])
    await event_store.emit(conn, merchant_id, *_shipment_event("shipment:labels_voided", row, voided))
    return row


# ---------------------------------------------------------------------------- the API


async def _locked(conn: Connection, ctx: CallContext, shipment_id: Any, *, stock: bool) -> tuple[asyncpg.Record, asyncpg.Record]:
    """The caller's order and shipment, locked in the engine's order (stock rows first when
    ``stock``). Another merchant's shipment does not exist."""
    merchant_id = ctx.principal.merchant_id
    found = await shipment_or_fault(conn, merchant_id, shipment_id)
    if stock:
        await fulfillment_store.lock_order_stock(conn, found["order_id"])
    order = await order_rows.find_order(conn, merchant_id, found["order_unique_id"], lock=True)
    shipment = await store.find_shipment(conn, merchant_id, found["increment_id"], lock=True)
    return order, shipment


async def _answer(conn: Connection, row: Row) -> dict[str, Any]:
    return (await shipment_properties(conn, [row]))[0]


async def _take_step(ctx: CallContext, shipment_id: Any, step: Callable[[Row, Row], Awaitable[Row]], *,
                     stock: bool) -> dict[str, Any]:
    """The caller's shipment, locked with its order, through ``step(order, shipment)``; the
    shipment as shipment.info answers it."""
    order, shipment = await _locked(ctx.conn, ctx, shipment_id, stock=stock)
    return await _answer(ctx.conn, await step(order, shipment))


def _step_doc(summary: str, refusal: str, description: str = "") -> Doc:
    """The declaration every step of one shipment shares: its id in, the shipment out."""
    return Doc(summary, args={"shipment_id": SHIPMENT_ID}, result=SHIPMENT_PROPERTIES,
               faults=("shipment_not_found", refusal), description=description)


@api_method("shipment.create", OPERATIONS, Doc(
    "A shipment of an order's reserved units not yet in a shipment, from one warehouse.",
    args={
        "order_unique_id": ORDER_UNIQUE_ID,
        "items": Arg(
            {"anyOf": [array_of(domain.LineInput, minItems=1, maxItems=domain.MAX_LINES),
                       {"type": "object", "additionalProperties": {"type": ["integer", "string"]},
                        "description": "{\"SKU\": qty}"},
                       {"type": "null"}]},
            "the units to take; null for every reserved unit",
        ),
        "warehouse_id": Arg(nullable(WHOLE), "the warehouse; null for the one holding the most of the units"),
    },
    result=SHIPMENT_PROPERTIES,
    faults=("order_not_found", "shipment_invalid_data", "shipment_not_created"),
    description="Within the order's backorder policy (all_or_nothing, up_to_X, as_available).",
))
async def shipment_create(ctx: CallContext, order_unique_id: Any = REQUIRED, items: Any = None,
                          warehouse_id: Any = None) -> dict[str, Any]:
    """A shipment of the order's reserved units not yet in a shipment (all, or ``items``), from
    one warehouse (``warehouse_id``, or the one holding the most of them)."""
    requests = domain.parse_lines(items)
    warehouse = domain.parse_id(warehouse_id, "warehouse_id", required=False)
    conn = ctx.conn
    order = await order_or_fault(conn, ctx, order_unique_id, lock=True)
    row = await create_for_order(conn, ctx.principal.merchant_id, order, requests, warehouse)
    return await _answer(conn, row)


@api_method("shipment.pack", OPERATIONS, Doc(
    "Pack a shipment into packages, each with a tracking number.",
    args={
        "shipment_id": SHIPMENT_ID,
        "packages": Arg({"anyOf": [array_of(domain.PackageInput, minItems=1), domain.PackageInput]},
                        "every unit of the shipment in some package; one package may leave out items"),
    },
    result=SHIPMENT_PROPERTIES,
    faults=("shipment_not_found", "shipment_invalid_data", "shipment_not_packed"),
))
async def shipment_pack(ctx: CallContext, shipment_id: Any = REQUIRED, packages: Any = REQUIRED) -> dict[str, Any]:
    parsed = domain.parse_packages(packages)
    merchant_id = ctx.principal.merchant_id
    return await _take_step(ctx, shipment_id, lambda order, shipment: pack_shipment(
        ctx.conn, merchant_id, order, shipment, parsed), stock=False)


@api_method("shipment.ship", OPERATIONS, _step_doc("Ship a packed shipment: its units leave stock.",
                                                    "shipment_not_shipped"))
async def shipment_ship(ctx: CallContext, shipment_id: Any = REQUIRED) -> dict[str, Any]:
    principal = ctx.principal
    return await _take_step(ctx, shipment_id, partial(ship_shipment, ctx.conn, principal.merchant_id,
                                                      principal.api_user_id), stock=True)


@api_method("shipment.deliver", OPERATIONS, _step_doc("Mark a shipped shipment delivered.", "shipment_not_delivered"))
async def shipment_deliver(ctx: CallContext, shipment_id: Any = REQUIRED) -> dict[str, Any]:
    return await _take_step(ctx, shipment_id, partial(deliver_shipment, ctx.conn, ctx.principal.merchant_id),
                            stock=False)


@api_method("shipment.cancel", OPERATIONS, _step_doc(
    "Cancel an unshipped shipment: its units go back to the order, still reserved.", "shipment_not_canceled",
    "Units with a cancellation request are canceled instead."))
async def shipment_cancel(ctx: CallContext, shipment_id: Any = REQUIRED) -> dict[str, Any]:
    principal = ctx.principal
    return await _take_step(ctx, shipment_id, partial(cancel_shipment, ctx.conn, principal.merchant_id,
                                                      principal.api_user_id), stock=True)


@api_method("shipment.update", EVERYONE, Doc(
    "Set a shipment's source (association data for integrations).",
    args={
        "shipment_id": SHIPMENT_ID,
        "data": Arg(obj({"source": nullable({"type": "string", "maxLength": 255})}, required=("source",)),
                    "only source may change"),
        "customFields": Arg({"anyOf": [{"type": "null"}, {"type": "array", "maxItems": 0}, {"type": "object", "maxProperties": 0}]},
                            "shipments have no custom fields here: null or empty"),
    },
    result=TRUE_RESULT,
    faults=("shipment_not_found", "shipment_invalid_data"),
))
async def shipment_update(ctx: CallContext, shipment_id: Any = REQUIRED, data: Any = REQUIRED,
                          customFields: Any = None) -> bool:  # noqa: N803 (ShipStream's argument name)
    """Only ``source`` may change: association data for integrations (ShipStream shipment.md)."""
    increment_id = domain.shipment_id_argument(shipment_id)
    source = domain.parse_update(data, customFields)
    conn = ctx.conn
    if not await store.update_source(conn, ctx.principal.merchant_id, increment_id, source):
        raise Fault(domain.NOT_FOUND)
    return True


@api_method("shipment.void_labels", OPERATIONS, _step_doc(
    "Void a packed shipment's labels: its packages and tracking numbers go, it is picked again.",
    "shipment_labels_not_voided",
    "rpc-fulfillment's own method (a warehouse's step ShipStream's Merchant API does not have); "
    "sends shipment:labels_voided. Pack the shipment again with shipment.pack."))
async def shipment_void_labels(ctx: CallContext, shipment_id: Any = REQUIRED) -> dict[str, Any]:
    return await _take_step(ctx, shipment_id, partial(void_labels, ctx.conn, ctx.principal.merchant_id),
                            stock=False)
