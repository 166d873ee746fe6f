"""Inventory and stock movements: argument checks and wire shapes. Pure Python, no I/O.

Stock is kept per (product, warehouse) as ``qty_on_hand`` and ``qty_allocated``;
available = on hand - allocated. ShipStream's other inventory quantities (expected, processed,
put away, reserved, picked) are not tracked here and answer "0.0000".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from rpc_fulfillment.core import formats
from rpc_fulfillment.core.faults import Fault
from rpc_fulfillment.core.lenient import identifier_key, text_or_number, whole_number
from rpc_fulfillment.core.filters import Kind, parse_datetime

INVALID_DATA = "inventory_invalid_data"
MAX_ADJUST = 1_000_000_000  # the stock columns are 32-bit integers
REASON_MAX = 1024
SKUS_MAX = 10_000

# The stock movement that an inventory.adjust records (ShipStream's entity type "stock").
ADJUSTMENT_ENTITY_TYPE = "stock"
ADJUSTMENT_ENTITY_ACTION = "adjust"

_ZERO = formats.quantity(0)


def _invalid(detail: str) -> Fault:
    return Fault(INVALID_DATA, f"Invalid data given: {detail}")


def parse_skus(value: Any) -> list[str] | None:
    """inventory.list's ``skus``: one SKU, an array of SKUs, or null (or []) for all."""
    if value is None or value == []:
        return None
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list):
        raise _invalid("'skus' must be a SKU, an array of SKUs or null")
    if len(value) > SKUS_MAX:
        raise _invalid(f"'skus' may list at most {SKUS_MAX} SKUs")
    skus = []
    for index, sku in enumerate(map(text_or_number, value)):
        if not isinstance(sku, str):
            raise _invalid(f"'skus' item {index} must be a string")
        skus.append(identifier_key(sku))
    return skus


def parse_warehouse_id(value: Any, name: str, *, required: bool) -> int | None:
    if value is None and not required:
        return None
    number = whole_number(value)
    if number is None or not 1 <= number < 2**63:
        raise _invalid(f"'{name}' must be a warehouse id (a positive whole number), not {str(value)[:40]!r}")
    return number


def unknown_warehouse(warehouse_id: int) -> Fault:
    return _invalid(f"warehouse {warehouse_id} does not exist")


def parse_updated_since(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _invalid("'updatedSince' must be a date-time string such as 2008-07-01T22:38:07+00:00")
    try:
        return parse_datetime(value)
    except ValueError as exc:
        raise _invalid(f"'updatedSince': {exc}") from None


def parse_adjust_sku(value: Any) -> str:
    value = text_or_number(value)
    if not isinstance(value, str) or not value:
        raise _invalid("'sku' must be a non-empty string")
    return identifier_key(value)


def parse_qty_delta(value: Any) -> int:
    number = whole_number(value)
    if number is None or number == 0 or abs(number) > MAX_ADJUST:
        raise _invalid(
            f"'qty_delta' must be a non-zero whole number from -{MAX_ADJUST} to {MAX_ADJUST}, not {str(value)[:40]!r}"
        )
    return number


def parse_reason(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _invalid("'reason' must be a string")
    if len(value) > REASON_MAX:
        raise _invalid(f"'reason' must be at most {REASON_MAX} characters")
    return value.strip()


def not_adjusted(sku: str, warehouse_id: int, available: int, requested: int) -> Fault:
    return Fault(
        "inventory_not_adjusted",
        f"Stock not adjusted: SKU {sku!r} in warehouse {warehouse_id} has {available} available, "
        f"{requested} requested for removal",
    )


def inventory_item(sku: str, qty_on_hand: int, qty_allocated: int, qty_backordered: int | None) -> dict[str, Any]:
    """ShipStream's Inventory Item. Backorders are not apportioned to warehouses: the docs leave
    qty_backordered out of a single warehouse's items, and so do we (``qty_backordered`` None)."""
    available = formats.quantity(qty_on_hand - qty_allocated)
    item = {
        "sku": sku,
        "qty_expected": _ZERO,
        "qty_unreceived": _ZERO,
        "qty_processed": _ZERO,
        "qty_putaway": _ZERO,
        "qty_available": available,
        "qty_allocated": formats.quantity(qty_allocated),
        "qty_reserved": _ZERO,
        "qty_picked": _ZERO,
        "qty_backordered": formats.quantity(qty_backordered),
        "qty_advertised": available,
        "qty_on_hand": formats.quantity(qty_on_hand),
    }
    if qty_backordered is None:
        del item["qty_backordered"]
    return item


def stock_adjustment(
    sku: str, external_id: str | None, product_id: int, qty_adjust: int | None, qty_available: int
) -> dict[str, Any]:
    """One entry of an event's ``stock_adjustments`` (ShipStream sends numbers here);
    ``qty_available`` and ``qty_advertised`` are totals over all warehouses."""
    entry: dict[str, Any] = {"sku": sku, "external_id": external_id, "product_id": product_id}
    if qty_adjust is not None:
        entry["qty_adjust"] = qty_adjust
    entry["qty_available"] = qty_available
    entry["qty_advertised"] = qty_available
    return entry


@dataclass(frozen=True)
class StockReceipt:
    """Units that just arrived in a warehouse (written, not yet committed). The order engine's
    hook receives this to let backordered items pick the units up."""

    merchant_id: int
    product_id: int
    sku: str
    warehouse_id: int
    qty: int


# stock_movement.list
MOVEMENT_INVALID_FILTERS = "stock_movement_invalid_filters"
MOVEMENT_FIELDS: dict[str, Kind] = {
    "id": Kind.INTEGER,
    "entity_type": Kind.TEXT,
    "entity_action": Kind.TEXT,
    "entity_id": Kind.TEXT,
    "product_id": Kind.INTEGER,
    "sku": Kind.IDENTIFIER,
    "created_at": Kind.TIMESTAMP,
    "warehouse_id": Kind.INTEGER,
    "location": Kind.TEXT,  # we keep no bin locations: always ""
}
MOVEMENT_SORT_FIELDS = frozenset(MOVEMENT_FIELDS) - {"location"}
MOVEMENT_DEFAULT_SORT = "id"


# ShipStream's entity types of stock movements (the stock_movements_entity_type CHECK of
# migration 0012 says the same).
MOVEMENT_ENTITY_TYPES = ("delivery", "order", "work_order", "stock", "relocation")
# ShipStream's quantities of a stock movement; those we do not keep (no deliveries, bins or
# picking here) are always null, as the docs show quantities a movement does not touch.
MOVEMENT_UNTRACKED = ("qty_expected", "qty_processed", "qty_putaway", "qty_reserved", "qty_picked", "qty_backordered")


def _change(delta: int) -> str | None:
    """A quantity's change as ShipStream writes it ("-1.0000"), null when it did not change."""
    return formats.quantity(delta) if delta else None


def movement_view(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stock movement as documented: ids as strings, each quantity's change or null. Units
    on hand are available + allocated here, so on hand's change is the sum of the two."""
    on_hand, allocated = row["qty_on_hand_delta"], row["qty_allocated_delta"]
    return {
        "id": str(row["merchant_movement_no"]),
        "entity_type": row["entity_type"],
        "entity_action": row["entity_action"],
        "entity_id": row["entity_id"],
        "product_id": str(row["product_id"]),
        "sku": row["sku"],
        "warehouse_id": str(row["warehouse_id"]),
        **{name: None for name in MOVEMENT_UNTRACKED},
        "qty_available": _change(on_hand - allocated),
        "qty_allocated": _change(allocated),
        "comment": row["comment"] or None,
        "created_at": formats.timestamp(row["created_at"]),
        "location": "",
    }
