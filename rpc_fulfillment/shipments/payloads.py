"""The shipment side's webhook payloads (ShipStream topics.md): the shipment of shipment:*, its
packages and trackers (also in tracker:* and order:shipped), the order's shipments of
order:shipments_updated / order:shipped / order:delivered, track:created and package:*.

ShipStream's shipment:* payloads carry ids as strings ("warehouse_id": "1", "package_id":
"234", "tracker_id": "229") and weights as numbers; order:shipped and track:created carry
them as numbers. Each function gives its topic's types as the docs show them.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from rpc_fulfillment.core import formats
from rpc_fulfillment.shipments.views import service_of, shipping_description

Row = Mapping[str, Any]

# A tracker's status from its package's: we follow no carrier, so we know only what the
# warehouse did (ShipStream's trackers also say pre_transit, out_for_delivery, exception...).
TRACKER_STATUS = {"shipped": "in_transit", "delivered": "delivered"}


def tracker(tracking: Row, *, text_ids: bool) -> dict[str, Any]:
    """A tracker (tracking number) from a shipments/queries.py fetch_tracking row."""
    tracker_id = tracking["tracking_id"]
    return {
        "tracker_id": str(tracker_id) if text_ids else tracker_id,
        "status": TRACKER_STATUS.get(tracking["package_status"], "unknown"),
        "carrier": tracking["carrier"],
        "tracking_number": tracking["number"],
        "est_delivery_at": None,
        "is_est_delivery_at_date": None,
        "original_est_delivery_at": None,
        "is_original_est_delivery_at_date": None,
        "delivered_at": formats.timestamp(tracking["package_delivered_at"]),
        "signed_by": None,
        "carrier_tracking_url": tracking["track_url"],
    }


def _item(item: Row) -> dict[str, Any]:
    return {
        "order_item_id": str(item["order_item_id"]),
        "order_item_ref": item["order_item_ref"],
        "order_item_sku": item["sku"],
        "sku": item["sku"],
        "quantity": formats.quantity(item["qty"]),
    }


def package(package_row: Row) -> dict[str, Any]:
    """A package of shipment:* and tracker:* (a fetch_packages row). ``tracker_id`` is its
    first tracking number's; ``tracking_numbers`` and ``tracking_urls`` go in step (a URL is
    null where the warehouse gave none)."""
    tracking = package_row["tracking"]
    return {
        "package_id": str(package_row["package_id"]),
        "status": package_row["status"],
        "weight": formats.decimal(package_row["weight"]),
        "weight_unit": package_row["weight_unit"],
        "tracker_id": str(tracking[0]["tracking_id"]) if tracking else None,
        "items": [{**_item(item), "order_item_qty": item["qty"]} for item in package_row["items"]],
        "package_data": [],
        "tracking_numbers": [t["number"] for t in tracking],
        "tracking_urls": [t["track_url"] for t in tracking],
        "packaging": [],
    }


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def shipment(row: Row, items: Sequence[Row], packages: Sequence[Row], tracking: Sequence[Row]) -> dict[str, Any]:
    """The message of shipment:packed|shipped|delivered|reverted|labels_voided: a shipment row
    (shipments/queries.py SHIPMENT_COLUMNS) with its items, packages and tracking numbers.
    ``source`` is the order's source, ``external_id`` the shipment's own (shipment.update)."""
    shipped = row["shipped_at"] is not None
    return {
        "unique_id": row["increment_id"],
        "warehouse_id": str(row["warehouse_id"]),
        "status": row["status"],
        "external_id": row["source"],
        "order_ref": row["order_ref"],
        "order_unique_id": row["order_unique_id"],
        "source": row["order_source"],
        "order_status": row["order_status"],
        "carrier": row["carrier_code"],
        "service": service_of(row["shipping_method"]),
        "service_description": shipping_description(row["shipping_method"]),
        "items": [{**_item(item), "lot_data": []} for item in items],
        "packages": [package(p) for p in packages],
        "trackers": [tracker(t, text_ids=True) for t in tracking],
        "updated_at": formats.timestamp(row["updated_at"]),
        "shipping_method": row["shipping_method"],
        "tpb_group_id": row["tpb_group_id"],
        "total_weight": _number(row["total_weight"]),
        "total_qty": formats.quantity(row["total_qty"]),
        "order_id": str(row["order_id"]),
        "shipped_weight": _number(row["total_weight"]) if shipped else None,
        "created_at": formats.timestamp(row["created_at"]),
        "target_ship_date": None,
        "packed_at": formats.timestamp(row["packed_at"]),
        "total_item_weight": formats.decimal(row["total_item_weight"]),
        "scac": None,
        "shipped_at": formats.timestamp(row["shipped_at"]),
        "delivered_at": formats.timestamp(row["delivered_at"]),
        "store_code": row["store_code"],
        "total_weight_unit": "lb",
        "shipped_weight_unit": "lb" if shipped else None,
    }


def order_shipment(shipment_row: Row, order: Row) -> dict[str, Any]:
    """One of an order's shipments in order:shipments_updated (``status`` is ours: it tells
    a canceled shipment from the others), order:shipped and order:delivered."""
    return dict(unique_id=shipment_row["increment_id"], warehouse_id=shipment_row["warehouse_id"],
                carrier=order["carrier_code"], status=shipment_row["status"],
                service=service_of(order["shipping_method"]))


def order_shipment_tracked(shipment_row: Row, order: Row, tracking: Sequence[Row]) -> dict[str, Any]:
    """One of an order's shipments in order:shipped / order:delivered, with its trackers."""
    return {**order_shipment(shipment_row, order), "trackers": [tracker(t, text_ids=False) for t in tracking]}


def track_created(row: Row, tracking: Row) -> dict[str, Any]:
    """track:created (deprecated by ShipStream for shipment:packed): one tracking number of
    the shipment ``row`` (SHIPMENT_COLUMNS)."""
    return {
        "order_ref": row["order_ref"],
        "order_unique_id": row["order_unique_id"],
        "shipment_unique_id": row["increment_id"],
        "warehouse_id": row["warehouse_id"],
        "package_id": tracking["package_id"],
        "source": row["order_source"],
        "carrier": tracking["carrier"],
        "service": service_of(row["shipping_method"]),
        "number": tracking["number"],
        "url": tracking["track_url"],
    }


def package_status(package_id: int, status: str) -> dict[str, Any]:
    """package:packed|shipped|delivered."""
    return {"package_id": package_id, "status": status}
