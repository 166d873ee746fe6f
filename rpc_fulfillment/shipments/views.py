"""Shipment and Package Properties: which ones a ``fields`` argument asks for, and their wire
shapes (ShipStream shipment.md; Package Properties of order.md).

shipment.search's ``fields``: null gives shipment_id, order_unique_id and order_ref; ``'*'``
gives every property except shipping_address, items, packages, tracking_numbers and
serial_number_data; a list gives the base three plus the ones named (and may contain
``'*'``). An empty list or an absent ``fields`` means ``'*'``, as for orders. shipment.info
gives everything.

Weights are summed in pounds (``total_weight`` from the packages, ``total_item_weight`` from
the items), in SQL, with core/units.py's factors; ``shipment_id`` is the public increment id
("100000001") everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from rpc_fulfillment.core import formats
from rpc_fulfillment.fulfillment.address import address_properties
from rpc_fulfillment.core.selection import Properties, Selection, projected

BASE = ("shipment_id", "order_unique_id", "order_ref")
SCALARS = BASE + (
    "warehouse_id", "store_code", "status", "shipment_type", "total_weight", "total_weight_unit",
    "total_item_weight", "total_item_weight_unit", "total_qty", "shipped_weight", "shipped_weight_unit", "source",
    "tpb_group_id", "target_ship_date", "scac", "manifest_courier_code", "manifest_courier_name", "created_at",
    "updated_at", "packed_at", "shipped_at", "delivered_at", "tracking_added_at", "custom_fields",
)
EXPANDABLE = ("shipping_address", "items", "packages", "tracking_numbers", "serial_number_data")
ALL_FIELDS = frozenset(SCALARS + EXPANDABLE)
# What shipment.info answers: every documented top-level key.
INFO_EXPANSIONS = frozenset({"shipping_address", "items", "packages", "tracking_numbers"})


EVERYTHING = Selection(SCALARS, INFO_EXPANSIONS)
PROPERTIES = Properties("shipment", BASE, SCALARS, EXPANDABLE)


def select_shipment_fields(fields: Any, fault: str) -> Selection:
    return PROPERTIES.select(fields, fault)


def service_of(shipping_method: str) -> str:
    """``ups_03`` -> ``03``."""
    return shipping_method.partition("_")[2]


def shipping_description(shipping_method: str) -> str:
    """``ups_03`` -> ``UPS 03``: the carrier and the service as we know them (no service names)."""
    carrier, _, service = shipping_method.partition("_")
    return f"{carrier.upper()} {service.replace('_', ' ')}".strip()


# Carrier manifests are not kept here: their keys are always null.
NOT_MANIFESTED = {"manifest_courier_code": None, "manifest_courier_name": None}


def _timestamps(row: Mapping[str, Any], *names: str) -> dict[str, str | None]:
    return {name: formats.timestamp(row[name]) for name in names}


def scalar_properties(row: Mapping[str, Any]) -> dict[str, Any]:
    """Every scalar Shipment Property of a shipment row (shipments/queries.py's SELECT)."""
    total_weight = row["total_weight"]
    return {
        "shipment_id": row["increment_id"],
        "order_unique_id": row["order_unique_id"],
        "order_ref": row["order_ref"],
        "warehouse_id": row["warehouse_id"],
        "store_code": row["store_code"],
        "status": row["status"],
        "shipment_type": row["shipment_type"],
        "total_weight": formats.decimal(total_weight),
        "total_weight_unit": "lb",
        "total_item_weight": formats.decimal(row["total_item_weight"]),
        "total_item_weight_unit": "lb",
        "total_qty": formats.quantity(row["total_qty"]),
        "shipped_weight": formats.decimal(total_weight) if row["shipped_at"] is not None else None,
        "shipped_weight_unit": "lb",
        "source": row["source"],
        "tpb_group_id": row["tpb_group_id"],
        "target_ship_date": None,
        "scac": None,
        **NOT_MANIFESTED,
        **_timestamps(row, "created_at", "updated_at", "packed_at", "shipped_at", "delivered_at", "tracking_added_at"),
        "custom_fields": {},
    }


def item_properties(item: Mapping[str, Any], shipment_status: str) -> dict[str, Any]:
    in_shipment = item["qty"] - item["qty_canceled"]
    picked = item["qty_shipped"] if shipment_status == "shipped" else in_shipment if shipment_status == "packed" else 0
    return {
        "sku": item["sku"],
        "name": item["name"],
        "weight": formats.decimal(item["weight"]),
        "weight_unit": item["weight_unit"],
        "qty": formats.quantity(item["qty"]),
        "qty_picked": formats.quantity(picked),
        "qty_shipped": formats.quantity(item["qty_shipped"]),
        "qty_cancel_requested": formats.quantity(item["qty_cancel_requested"]),
        "qty_canceled": formats.quantity(item["qty_canceled"]),
        "order_item_id": item["order_item_id"],
        "order_item_ref": item["order_item_ref"],
        "package_data": [],
        "lot_data": [],
        "ssccs": [],
    }


def package_properties(package: Mapping[str, Any]) -> dict[str, Any]:
    """ShipStream's Package Properties, for order.info and shipment.info alike. The two pages
    name the creation time differently (order.md ``timestamp``, shipment.md ``created_at``):
    both are given. ``package_id`` is package.search's."""
    weight = formats.decimal(package["weight"])
    return {
        "package_id": package["package_id"],
        "shipment_id": package["increment_id"],
        "shipment_status": package["shipment_status"],
        "status": package["status"],
        "warehouse_id": str(package["warehouse_id"]),
        "carrier": package["carrier"],
        **NOT_MANIFESTED,
        "timestamp": formats.timestamp(package["created_at"]),
        **_timestamps(package, "created_at", "tracking_added_at", "shipped_at", "delivered_at"),
        "weight": weight,
        "weight_unit": package["weight_unit"],
        "billable_weight": weight,
        "billable_weight_unit": package["weight_unit"],
        "dimensional_weight_divisor": None,
        "dimensional_weight_divisor_unit": None,
        "dimensional_weight": None,
        "rating_weight_unit": package["weight_unit"],
        "dimensions": {
            "length": formats.decimal(package["length"]),
            "width": formats.decimal(package["width"]),
            "height": formats.decimal(package["height"]),
        },
        "dimension_unit": package["dimension_unit"],
        "sscc": None,
        "tracking": [
            {"number": t["number"], "description": t["description"], "track_url": t["track_url"]}
            for t in package["tracking"]
        ],
        "order_items": [
            {"order_item_id": str(i["order_item_id"]), "order_item_ref": i["order_item_ref"], "sku": i["sku"],
             "quantity": formats.quantity(i["qty"])}
            for i in package["items"]
        ],
        "package_items": [
            {"order_item_id": str(i["order_item_id"]), "sku": i["sku"], "quantity": formats.quantity(i["qty"])}
            for i in package["items"]
        ],
        "package_data": [],
        "serial_number_data": [],
    }


def tracking_properties(tracking: Mapping[str, Any]) -> dict[str, Any]:
    """A Shipment Track (deprecated in favour of packages): shipment.md's keys, and order.md's
    ``shipment_id``."""
    return {
        "shipment_id": tracking["increment_id"],
        "carrier": tracking["carrier"],
        "description": tracking["description"],
        "number": tracking["number"],
        "date": formats.timestamp(tracking["created_at"]),
        "items": [{"sku": i["sku"], "quantity": formats.quantity(i["qty"])} for i in tracking["items"]],
        "weight": formats.decimal(tracking["weight"]),
        "weight_unit": tracking["weight_unit"],
    }


def order_shipment_properties(row: Mapping[str, Any]) -> dict[str, Any]:
    """An order's ``shipments`` expansion: only shipment_id and status (order.md)."""
    return {"shipment_id": row["increment_id"], "status": row["status"]}


@dataclass
class ShipmentRelated:
    """What a shipment's expansions need, fetched for a whole page at once."""

    items: list[Mapping[str, Any]] = field(default_factory=list)
    packages: list[Mapping[str, Any]] = field(default_factory=list)
    tracking_numbers: list[Mapping[str, Any]] = field(default_factory=list)


def project(row: Mapping[str, Any], selection: Selection, related: ShipmentRelated | None = None) -> dict[str, Any]:
    scalars = scalar_properties(row)
    related = related or ShipmentRelated()
    expansions = {
        "shipping_address": lambda: address_properties(row["shipping_address"]),
        "items": lambda: [item_properties(item, row["status"]) for item in related.items],
        "packages": lambda: [package_properties(package) for package in related.packages],
        "tracking_numbers": lambda: [tracking_properties(t) for t in related.tracking_numbers],
        "serial_number_data": list,
    }
    return projected(selection, scalars, expansions, EXPANDABLE)
