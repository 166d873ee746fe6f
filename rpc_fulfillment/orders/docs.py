"""The order methods' shared argument and answer schemas (for their Docs, core/api.py)."""

from __future__ import annotations

from rpc_fulfillment.core.api import Arg
from rpc_fulfillment.core.schema import BOOLEAN, array_of, fields_argument, keys_only, obj, or_none
from rpc_fulfillment.fulfillment.states import STATUSES_BY_STATE
from rpc_fulfillment.orders import views as projection
from rpc_fulfillment.fulfillment.address import AddressInput
from rpc_fulfillment.orders.input import MAX_ITEMS, InfoInput, ItemInput

ORDER_FIELDS = fields_argument(projection.ALL_FIELDS, "order")
ITEMS = Arg(
    {
        "anyOf": [
            {"type": "object", "minProperties": 1, "maxProperties": MAX_ITEMS,
             "additionalProperties": {"type": ["integer", "string"], "minimum": 1},
             "description": "{\"SKU\": qty, ...}"},
            array_of(ItemInput, minItems=1, maxItems=MAX_ITEMS),
        ]
    },
    "the order lines: an object mapping SKU to quantity, or an array of items (each names its product by sku, "
    "barcode or vendor_sku; the array form also takes order_item_ref, declared and customs values)",
)
ADDRESS = Arg(AddressInput, "the shipping address; firstname, lastname, street (or street1), city and country (or "
                            "country_id) are required, and region and postcode for US, CA and AU; other keys (such as "
                            "Magento's) are ignored")
INFO = Arg(InfoInput, "order information; shipping_method is required")
FLAGS = Arg(
    or_none(obj({"unique_order_ref": {
        "anyOf": [BOOLEAN, {"type": "string", "description": "a window such as \"-3 days\""}, {"type": "null"}],
    }})),
    "unique_order_ref: true refuses a second order with the same order_ref, a window such as \"-3 days\" "
    "only within that time",
)
ORDER_CREATE_ARGS = obj({}, closed=False, description="storeCode, items, address, info, flags")
ORDER_PROPERTIES = keys_only(
    projection.SCALARS + projection.EXPANDABLE,
    "the order's properties as selected by fields (the expandable ones only when asked for)",
)
ORDER_STATUSES = sorted({status for statuses in STATUSES_BY_STATE.values() for status in statuses})
