"""Order Properties: which ones a ``fields`` argument asks for, and their wire shapes.

``fields`` null gives order_id, unique_id and order_ref; ``'*'`` gives every property except
the expandable ones (shipping_address, items, shipments, tracking_numbers, packages,
status_history, serial_number_data); a list gives the base three plus the ones named, and may
contain ``'*'``. An empty list or an absent ``fields`` means ``'*'``: ShipStream's clients
read created_at and status from a search made with ``fields=[]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from rpc_fulfillment.core import formats
from rpc_fulfillment.core.selection import Properties, Selection
from rpc_fulfillment.shipments.views import order_shipment_properties, package_properties, tracking_properties

BASE = ("order_id", "unique_id", "order_ref")
SCALARS = BASE + (
    "state", "status", "store_code", "store_name", "carrier_code", "shipping_method", "shipping_description",
    "carrier_changed", "is_address_modified", "is_address_modified_auto", "weight", "weight_unit",
    "total_item_count", "remote_ip", "submitted_by", "submitted_by_type", "submitted_by_id",
    "signature_required", "saturday_delivery", "reason_for_export", "overbox", "backorder_policy", "priority",
    "estimated_packages", "target_ship_date", "requested_ship_date", "desired_delivery_date",
    "delayed_ship_date", "custom_greeting", "gift_message", "source", "declared_value_service",
    "declared_value", "declared_value_currency", "customs_value", "customs_value_currency", "tpb_group_id",
    "duties_payor", "duties_tpb_group_id", "instructions", "custom_fields", "created_at", "updated_at",
    "completed_at", "shipped_at", "delivered_at",
)
EXPANDABLE = ("shipping_address", "items", "shipments", "tracking_numbers", "packages", "status_history", "serial_number_data")
ALL_FIELDS = frozenset(SCALARS + EXPANDABLE)


PROPERTIES = Properties("order", BASE, SCALARS, EXPANDABLE)


def select_fields(fields: Any, fault: str) -> Selection:
    return PROPERTIES.select(fields, fault)


def _shipping_description(method: str) -> str:
    carrier, _, service = method.partition("_")
    return f"{carrier.upper()} {service.replace('_', ' ')}".strip()


def scalar_properties(row: Mapping[str, Any]) -> dict[str, Any]:
    """Every scalar Order Property of an order row (orders.* plus store_code, store_name,
    submitted_by)."""
    extra = row["extra"] or {}
    return {
        "order_id": row["order_id"],
        "unique_id": row["unique_id"],
        "order_ref": row["order_ref"],
        "state": row["state"],
        "status": row["status"],
        "store_code": row["store_code"],
        "store_name": row["store_name"],
        "carrier_code": row["carrier_code"],
        "shipping_method": row["shipping_method"],
        "shipping_description": _shipping_description(row["shipping_method"]),
        "carrier_changed": False,
        "is_address_modified": row["is_address_modified"],
        "is_address_modified_auto": False,
        "weight": formats.decimal(row["weight"]),
        "weight_unit": row["weight_unit"],
        "total_item_count": row["total_item_count"],
        "remote_ip": row["remote_ip"],
        "submitted_by": row["submitted_by"],
        "submitted_by_type": "api",
        "submitted_by_id": row["submitted_by_id"],
        "signature_required": row["signature_required"],
        "saturday_delivery": row["saturday_delivery"],
        "reason_for_export": row["reason_for_export"],
        "overbox": row["overbox"],
        "backorder_policy": row["backorder_policy"],
        "priority": row["priority"],
        "estimated_packages": None,
        "target_ship_date": None,
        "requested_ship_date": formats.day(row["requested_ship_date"]),
        "desired_delivery_date": formats.day(row["desired_delivery_date"]),
        "delayed_ship_date": formats.timestamp(row["delayed_ship_date"]),
        "custom_greeting": row["custom_greeting"],
        "gift_message": row["gift_message"],
        "source": row["source"],
        "declared_value_service": row["declared_value_service"],
        "declared_value": formats.decimal(row["declared_value"], 2),
        "declared_value_currency": row["declared_value_currency"],
        "customs_value": extra.get("customs_value"),
        "customs_value_currency": extra.get("customs_value_currency"),
        "tpb_group_id": row["tpb_group_id"],
        "duties_payor": extra.get("duties_payor"),
        "duties_tpb_group_id": extra.get("duties_tpb_group_id"),
        "instructions": extra.get("instructions", []),
        "custom_fields": extra.get("custom_fields", {}),
        "created_at": formats.timestamp(row["created_at"]),
        "updated_at": formats.timestamp(row["updated_at"]),
        "completed_at": formats.timestamp(row["completed_at"]),
        "shipped_at": formats.timestamp(row["shipped_at"]),
        "delivered_at": formats.timestamp(row["delivered_at"]),
    }


def item_properties(item: Mapping[str, Any]) -> dict[str, Any]:
    weight = item["weight"]
    return {
        "order_item_id": item["order_item_id"],
        "order_item_ref": item["order_item_ref"],
        "sku": item["sku"],
        "name": item["name"],
        "weight": formats.decimal(weight),
        "weight_unit": item["weight_unit"],
        "row_weight": formats.decimal(None if weight is None else weight * item["qty_ordered"]),
        "row_weight_unit": item["weight_unit"],
        "qty_ordered": formats.quantity(item["qty_ordered"]),
        "qty_processing": formats.quantity(item["qty_processing"]),
        "qty_shipped": formats.quantity(item["qty_shipped"]),
        "qty_canceled": formats.quantity(item["qty_canceled"]),
        "qty_backordered": formats.quantity(item["qty_backordered"]),
        "allocation_data": [
            {"warehouse_id": entry["warehouse_id"], "qty_allocated": formats.quantity(entry["qty_allocated"])}
            for entry in item["allocation_data"]
        ],
        "package_data": [],
        "lot_data": [],
        "unit_declared_value": formats.decimal(item["unit_declared_value"], 2),
        "unit_declared_value_currency": item["unit_declared_value_currency"],
        "unit_customs_value": formats.decimal(item["unit_customs_value"], 2),
        "unit_customs_value_currency": item["unit_customs_value_currency"],
    }


def history_properties(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "status": entry["status"],
        "state": entry["state"],
        "comment": entry["comment"],
        "created_at": formats.timestamp(entry["created_at"]),
    }


@dataclass
class Related:
    """What an expansion needs beyond the order row, fetched for a whole page at once."""

    items: Sequence[Mapping[str, Any]] = ()
    history: Sequence[Mapping[str, Any]] = ()
    shipments: Sequence[Mapping[str, Any]] = ()
    packages: Sequence[Mapping[str, Any]] = ()
    tracking_numbers: Sequence[Mapping[str, Any]] = ()


def project(row: Mapping[str, Any], selection: Selection, related: Related | None = None) -> dict[str, Any]:
    scalars = scalar_properties(row)
    result = {name: scalars[name] for name in selection.scalars}
    related = related or Related()
    expansions = {
        "shipping_address": lambda: dict(row["shipping_address"]),
        "items": lambda: [item_properties(item) for item in related.items],
        "status_history": lambda: [history_properties(entry) for entry in related.history],
        "shipments": lambda: [order_shipment_properties(shipment) for shipment in related.shipments],
        "tracking_numbers": lambda: [tracking_properties(tracking) for tracking in related.tracking_numbers],
        "packages": lambda: [package_properties(package) for package in related.packages],
        "serial_number_data": list,
    }
    for name in EXPANDABLE:
        if selection.wants(name):
            result[name] = expansions[name]()
    return result
