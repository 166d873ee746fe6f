"""The Order Properties as ShipStream documents them, written out by hand from the docs
(shipstream-docs/2014-07-25-order.md, "Order Properties"), so that tests hold what we answer
to the documentation instead of to production's own field table (orders/fields.py), which
would agree with itself whatever it said.
"""

from __future__ import annotations

# The documented table, in its order, up to the properties that ``'*'`` leaves out.
DOCUMENTED = (
    "order_id", "unique_id", "order_ref", "state", "status", "store_code", "store_name", "carrier_code",
    "shipping_method", "shipping_description", "carrier_changed", "is_address_modified",
    "is_address_modified_auto", "weight", "weight_unit", "total_item_count", "remote_ip", "submitted_by",
    "submitted_by_type", "submitted_by_id", "signature_required", "saturday_delivery", "reason_for_export",
    "overbox", "backorder_policy", "priority", "estimated_packages", "requested_ship_date", "custom_greeting",
    "declared_value", "declared_value_currency", "tpb_group_id", "duties_payor", "duties_tpb_group_id",
    "created_at", "updated_at", "completed_at", "shipped_at", "delivered_at",
)

# The docs' order.info: "'*' ... all properties excluding" these, which are asked for by name.
EXPANSIONS = ("shipping_address", "items", "shipments", "tracking_numbers", "packages", "status_history",
              "serial_number_data")

# Ours beyond the table (README, "Order properties beyond the docs' table"): what order.create's
# info takes and a client may want back. customer_id is our own property (README).
BEYOND_THE_TABLE = (
    "target_ship_date", "desired_delivery_date", "delayed_ship_date", "gift_message", "source", "customer_id",
    "declared_value_service", "customs_value", "customs_value_currency", "instructions", "custom_fields",
)

# What ``'*'`` answers, in the order of the keys on the wire: the documented table with ours
# placed beside the documented properties they belong with.
STAR = (
    "order_id", "unique_id", "order_ref", "state", "status", "store_code", "store_name", "carrier_code",
    "shipping_method", "shipping_description", "carrier_changed", "is_address_modified",
    "is_address_modified_auto", "weight", "weight_unit", "total_item_count", "remote_ip", "submitted_by",
    "submitted_by_type", "submitted_by_id", "signature_required", "saturday_delivery", "reason_for_export",
    "overbox", "backorder_policy", "priority", "estimated_packages", "target_ship_date", "requested_ship_date",
    "desired_delivery_date", "delayed_ship_date", "custom_greeting", "gift_message", "source", "customer_id",
    "declared_value_service", "declared_value", "declared_value_currency", "customs_value",
    "customs_value_currency", "tpb_group_id", "duties_payor", "duties_tpb_group_id", "instructions",
    "custom_fields", "created_at", "updated_at", "completed_at", "shipped_at", "delivered_at",
)
