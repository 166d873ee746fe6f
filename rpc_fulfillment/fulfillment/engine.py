"""The engine's shared steps, called inside a service's transaction: settling an order's status
through the matrix, and giving arriving or released stock to backordered orders."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from rpc_fulfillment.core import formats
from rpc_fulfillment.fulfillment.allocation import Available, allocate_line
from rpc_fulfillment.fulfillment.order_items import identifier, item_properties
from rpc_fulfillment.fulfillment.states import check_allowed, resolve, rule_for
from rpc_fulfillment.fulfillment import queries as store
from rpc_fulfillment.fulfillment.queries import Reservation, StatusChange
from rpc_fulfillment.db.pool import Connection
from rpc_fulfillment.fulfillment.order_rows import lock_stock

# Besides order:status_changed, entering these statuses has a topic of its own.
STATUS_TOPICS = {"holded": "order:holded", "canceled": "order:canceled", "complete": "order:completed"}


# What every order event carries.
ORDER_REFERENCE = ("unique_id", "order_ref", "source")


def order_reference(order: Mapping[str, Any]) -> dict[str, Any]:
    return {key: order[key] for key in ORDER_REFERENCE}


def items_updated_message(order: Mapping[str, Any], items: Sequence[Mapping[str, Any]],
                          canceled: Mapping[int, int]) -> dict[str, Any]:
    """order:items_updated: the lines that lost units (``canceled``: units per order_item_id)
    and every line with units left, as order.info answers them; ``items`` read after the change.
    ``order_item_ref`` on a canceled line is ours: the client's own line id."""
    return {
        **order_reference(order),
        "items_canceled": [
            {"sku": item["sku"], "order_item_id": identifier(item["order_item_id"]),
             "order_item_ref": item["order_item_ref"], "qty_canceled": formats.quantity(canceled[item["order_item_id"]])}
            for item in items if canceled.get(item["order_item_id"])
        ],
        "items_remaining": [item_properties(item) for item in items if item["qty_ordered"] > item["qty_canceled"]],
    }


def status_events(order: Mapping[str, Any], state: str, status: str, extra: Mapping[str, Any] | None = None) -> list[tuple[str, dict[str, Any]]]:
    if (state, status) == (order["state"], order["status"]):
        return []
    message = {**order_reference(order), "old_status": order["status"], "status": status,
               "old_state": order["state"], "state": state}
    events = [("order:status_changed", message)]
    topic = STATUS_TOPICS.get(status)
    if topic:
        events.append((topic, {**order_reference(order), "status": status, "state": state, **(extra or {})}))
    return events


async def settle(
    conn: Connection, merchant_id: int, orders: Sequence[Mapping[str, Any]], action: str, *,
    comment: str | None = None, fault: str | None = None, what: str = "", extra: Mapping[str, Any] | None = None,
) -> dict[int, tuple[str, str]]:
    """Apply ``action`` of the matrix to these (locked) orders: the new state and status come
    from the rule and each order's quantities; the change, its history and its events are
    written together. With ``fault``, an order the action may not start from raises it;
    without, such orders are left as they are. Returns each order's (state, status)."""
    totals = await store.fetch_totals(conn, [order["order_id"] for order in orders])
    changes: list[StatusChange] = []
    events: list[tuple[str, dict[str, Any]]] = []
    result = {}
    for order in orders:
        state, status = order["state"], order["status"]
        if fault is not None:
            rule = check_allowed(action, state, status, fault, what)
        else:
            rule = rule_for(action, state, status)
        if rule is not None:
            state, status = resolve(rule, state, status, totals[order["order_id"]])
        result[order["order_id"]] = (state, status)
        if (state, status) != (order["state"], order["status"]) or comment:
            changes.append(StatusChange(order["order_id"], order["state"], order["status"], state, status, comment))
            events.extend(status_events(order, state, status, extra))
    await store.write_status_changes(conn, merchant_id, changes, events)
    return result


async def available_stock(conn: Connection, product_ids: Sequence[int]) -> Available:
    """Lock the stock rows of these products (the lock order, fulfillment/queries.py) and return what is available."""
    available: Available = {}
    for row in await lock_stock(conn, sorted(set(product_ids))):
        if row["is_active"]:
            available.setdefault(row["product_id"], {})[row["warehouse_id"]] = row["available"]
    return available


async def reserve_backorders(conn: Connection, merchant_id: int, product_ids: Sequence[int], api_user_id: int | None) -> int:
    """Give available stock of these products to backordered items, most urgent order first
    (lower priority number, then oldest), and move those orders' statuses. Returns the units
    reserved.

    It locks every warehouse's stock row of these products in primary-key order, then the
    orders in order_id order (the lock order: fulfillment/queries.py). A caller that changed one of those rows before (a receipt's upsert) must have
    locked them all in that order first, as inventory/queries.py receive() does: otherwise it
    holds one row while waiting for another that an order.cancel or order.create holds while
    waiting for the first (tests/stress/test_engine_races.py shows the deadlock)."""
    if not product_ids:
        return 0
    available = await available_stock(conn, product_ids)
    if not any(units > 0 for stock in available.values() for units in stock.values()):
        return 0
    reservations: list[Reservation] = []
    for item in await store.backorder_candidates(conn, product_ids):
        line = allocate_line(item["product_id"], item["qty_backordered"], available)
        reservations.extend(
            Reservation(item["order_item_id"], item["order_id"], item["product_id"], warehouse, units)
            for warehouse, units in line.by_warehouse.items()
        )
    if not reservations:
        return 0
    await store.apply_reservations(conn, merchant_id, reservations, from_backorder=True, entity_action="allocate",
                                   api_user_id=api_user_id)
    orders = await store.orders_by_id(conn, sorted({r.order_id for r in reservations}))
    await settle(conn, merchant_id, orders, "allocate")
    return sum(r.qty for r in reservations)
