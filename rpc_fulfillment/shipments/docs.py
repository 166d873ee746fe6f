"""The shipment methods' shared argument and answer schemas (for their Docs, core/api.py)."""

from __future__ import annotations

from rpc_fulfillment.core.api import Arg
from rpc_fulfillment.core.schema import fields_argument, keys_only
from rpc_fulfillment.shipments import views as shipment_projection

SHIPMENT_ID = Arg({"type": ["string", "integer"], "minLength": 1, "maxLength": 64},
                  "the shipment's id, a number written as a string such as \"100000001\"")
SHIPMENT_FIELDS = fields_argument(shipment_projection.ALL_FIELDS, "shipment")
SHIPMENT_PROPERTIES = keys_only(
    shipment_projection.SCALARS + shipment_projection.EXPANDABLE,
    "the shipment's properties: the top-level keys, items, packages, tracking_numbers and shipping_address",
)
