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
from rpc_fulfillment.fulfillment.address import address_properties
from rpc_fulfillment.core.selection import Properties, Selection, projected
from rpc_fulfillment.fulfillment.order_items import item_properties
from rpc_fulfillment.orders.fields import ORDER_FIELDS
from rpc_fulfillment.shipments.views import order_shipment_properties, package_properties, tracking_properties

BASE = ("order_id", "unique_id", "order_ref")
SCALARS = ORDER_FIELDS.properties()
EXPANDABLE = ("shipping_address", "items", "shipments", "tracking_numbers", "packages", "status_history", "serial_number_data")
ALL_FIELDS = frozenset(SCALARS + EXPANDABLE)


PROPERTIES = Properties("order", BASE, SCALARS, EXPANDABLE)


def select_fields(fields: Any, fault: str) -> Selection:
    return PROPERTIES.select(fields, fault)


# Every scalar Order Property of an order row (orders.* plus store_code, store_name, submitted_by).
scalar_properties = ORDER_FIELDS.projection()


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
    related = related or Related()
    expansions = {
        "shipping_address": lambda: address_properties(row["shipping_address"]),
        "items": lambda: [item_properties(item) for item in related.items],
        "status_history": lambda: [history_properties(entry) for entry in related.history],
        "shipments": lambda: [order_shipment_properties(shipment) for shipment in related.shipments],
        "tracking_numbers": lambda: [tracking_properties(tracking) for tracking in related.tracking_numbers],
        "packages": lambda: [package_properties(package) for package in related.packages],
        "serial_number_data": list,
    }
    return projected(selection, scalars, expansions, EXPANDABLE)
