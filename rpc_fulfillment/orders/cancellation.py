"""order.cancel: which units of which items each option cancels. Pure.

- ``backordered_items``: the backordered units.
- ``unfulfilled_items``: units not yet in a shipment (backordered or reserved).
- ``all_items``: every unit; when some are fulfilled (in a shipment or shipped) it needs
  ``cancellation_request`` too, otherwise it cancels nothing and warns.
- ``cancellation_request``: unfulfilled units are canceled and units in shipments not yet
  shipped get a cancellation request the warehouse resolves. Shipped units stay shipped.
- ``items`` (ours): ``[{"sku" or "order_item_ref", "qty"}]`` cancels part of a line, from its
  backordered units first, then its reserved ones; never units in a shipment. Lines add up,
  to each other and to the units the options above cancel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from rpc_fulfillment.core.faults import Fault
from rpc_fulfillment.core.lenient import whole_quantity

INVALID = "order_invalid_data"
FLAGS = ("backordered_items", "unfulfilled_items", "all_items", "cancellation_request")
FULFILLED_WARNING = 'Order contains fulfilled items, please set the "cancellation_request" option to "true" and try again'
NOTHING_WARNING = "Nothing was canceled: the order has no {what}"


@dataclass(frozen=True)
class LineRequest:
    key: str  # "sku" or "order_item_ref"
    value: str
    qty: int


@dataclass(frozen=True)
class CancelRequest:
    flags: frozenset[str]
    lines: tuple[LineRequest, ...] = ()


def _truthy(value: Any) -> bool:
    return value is True or value == 1 or value in ("1", "true")


def _line(index: int, entry: Any) -> LineRequest:
    label = f"options.items[{index}]"
    if not isinstance(entry, dict) or set(entry) - {"sku", "order_item_ref", "qty"}:
        raise Fault(INVALID, f"{label}: must be {{\"sku\" or \"order_item_ref\", \"qty\"}}")
    keys = [key for key in ("sku", "order_item_ref") if entry.get(key) not in (None, "")]
    if len(keys) != 1:
        raise Fault(INVALID, f"{label}: give exactly one of sku and order_item_ref")
    try:
        qty = whole_quantity(entry.get("qty"))
    except ValueError as error:
        raise Fault(INVALID, f"{label}.qty: {error}") from None
    return LineRequest(keys[0], str(entry[keys[0]]), qty)


def parse_cancel_options(options: Any) -> CancelRequest:
    if not isinstance(options, dict):
        raise Fault(INVALID, "options must be an object such as {\"unfulfilled_items\": true}")
    unknown = sorted(set(options) - set(FLAGS) - {"items"})
    if unknown:
        raise Fault(INVALID, "; ".join(f"options.{key}: unknown option" for key in unknown))
    flags = frozenset(name for name in FLAGS if _truthy(options.get(name)))
    raw_lines = options.get("items") or []
    if not isinstance(raw_lines, list):
        raise Fault(INVALID, "options.items: must be an array")
    lines = tuple(_line(index, entry) for index, entry in enumerate(raw_lines))
    if not flags and not lines:
        raise Fault(INVALID, f"options: set at least one of {', '.join(FLAGS)} to true (or give items)")
    return CancelRequest(flags, lines)


@dataclass(frozen=True)
class ItemState:
    order_item_id: int
    sku: str
    order_item_ref: str | None
    backordered: int
    reserved_free: int  # reserved, not in a shipment
    in_shipment: int
    shipped: int


@dataclass
class ItemCancel:
    order_item_id: int
    from_backorder: int = 0
    from_reserved: int = 0
    requested: int = 0  # units in open shipments asked to be canceled

    @property
    def canceled(self) -> int:
        return self.from_backorder + self.from_reserved


@dataclass
class CancelPlan:
    items: dict[int, ItemCancel] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def at_least(self, item: ItemState, backordered: int, reserved: int, requested: int = 0) -> None:
        """Options are attempts that add up: take the largest amount any of them asks for."""
        plan = self.items.setdefault(item.order_item_id, ItemCancel(item.order_item_id))
        plan.from_backorder = max(plan.from_backorder, backordered)
        plan.from_reserved = max(plan.from_reserved, reserved)
        plan.requested = max(plan.requested, requested)

    @property
    def canceled(self) -> int:
        return sum(item.canceled for item in self.items.values())

    @property
    def requested(self) -> int:
        return sum(item.requested for item in self.items.values())


def _planned(plan: CancelPlan, item: ItemState) -> int:
    current = plan.items.get(item.order_item_id)
    return current.canceled if current else 0


def _apply_lines(plan: CancelPlan, items: Sequence[ItemState], lines: Sequence[LineRequest]) -> None:
    for index, line in enumerate(lines):
        matching = [item for item in items if getattr(item, line.key) == line.value]
        if not matching:
            raise Fault(INVALID, f"options.items[{index}]: the order has no item with {line.key} '{line.value}'")
        remaining = line.qty
        # Lines add up, to each other and to what the options planned: count what is left.
        cancelable = sum(item.backordered + item.reserved_free - _planned(plan, item) for item in matching)
        if remaining > cancelable:
            raise Fault(INVALID, f"options.items[{index}]: only {cancelable} unit(s) of {line.key} '{line.value}' can be canceled, {line.qty} asked")
        for item in matching:
            current = plan.items.get(item.order_item_id, ItemCancel(item.order_item_id))
            backordered = min(remaining, item.backordered - current.from_backorder)
            reserved = min(remaining - backordered, item.reserved_free - current.from_reserved)
            plan.at_least(item, current.from_backorder + backordered, current.from_reserved + reserved)
            remaining -= backordered + reserved


def plan_cancellation(items: Sequence[ItemState], request: CancelRequest) -> CancelPlan:
    plan = CancelPlan()
    flags = request.flags
    fulfilled = any(item.in_shipment or item.shipped for item in items)
    everything = "cancellation_request" in flags or ("all_items" in flags and not fulfilled)
    if "all_items" in flags and fulfilled and "cancellation_request" not in flags:
        plan.warnings.append(FULFILLED_WARNING)
    for item in items:
        if everything:
            plan.at_least(item, item.backordered, item.reserved_free, item.in_shipment if "cancellation_request" in flags else 0)
        elif "unfulfilled_items" in flags:
            plan.at_least(item, item.backordered, item.reserved_free)
        elif "backordered_items" in flags:
            plan.at_least(item, item.backordered, 0)
    _apply_lines(plan, items, request.lines)
    if plan.canceled == 0 and plan.requested == 0 and not plan.warnings:
        what = "backordered items" if flags == {"backordered_items"} else "items left to cancel"
        plan.warnings.append(NOTHING_WARNING.format(what=what))
    return plan


def item_state(item: Mapping[str, Any]) -> ItemState:
    return ItemState(
        order_item_id=item["order_item_id"],
        sku=item["sku"],
        order_item_ref=item["order_item_ref"],
        backordered=item["qty_backordered"],
        reserved_free=item["qty_processing"] - item["qty_in_shipment"],
        in_shipment=item["qty_in_shipment"],
        shipped=item["qty_shipped"],
    )
