"""order.search: which fields filter (and how their values are checked) and which sort.

The API description (``rpc.discover``, /docs) and the service read this table; the SQL of each
field is ``orders/search_queries.py``'s, which is built from this table's names and refuses to
load if the two disagree.
"""

from __future__ import annotations

from rpc_fulfillment.core.filters import Kind

SEARCH_FIELDS: dict[str, Kind] = {
    "order_id": Kind.INTEGER,
    "unique_id": Kind.TEXT,
    "order_ref": Kind.TEXT,
    "state": Kind.TEXT,
    "status": Kind.TEXT,
    "store_code": Kind.TEXT,
    "shipping_method": Kind.TEXT,
    "carrier_code": Kind.TEXT,
    "priority": Kind.INTEGER,
    "source": Kind.TEXT,
    "created_at": Kind.TIMESTAMP,
    "updated_at": Kind.TIMESTAMP,
    "completed_at": Kind.TIMESTAMP,
    "shipped_at": Kind.TIMESTAMP,
    "delivered_at": Kind.TIMESTAMP,
    "requested_ship_date": Kind.DATE,
    "sku": Kind.TEXT,  # orders with a line of that SKU
}
SORT_FIELDS = frozenset({"order_id", "unique_id", "order_ref", "status", "priority", "created_at", "updated_at", "requested_ship_date"})
DEFAULT_SORT = "order_id"
assert SORT_FIELDS <= set(SEARCH_FIELDS) and DEFAULT_SORT in SORT_FIELDS
