"""order.search: which fields filter (and how their values are checked) and which sort, as
the field tables of ``orders/fields.py`` say.

The API description (``rpc.discover``, /docs) and the service read these; the SQL of each
field is ``orders/search_queries.py``'s, built from the same tables.
"""

from __future__ import annotations

from rpc_fulfillment.core.filters import Kind
from rpc_fulfillment.fulfillment.order_items import ORDER_ITEM_FIELDS
from rpc_fulfillment.orders.fields import ORDER_FIELDS

# The order's own fields, then its lines' (an order matches when some line does).
SEARCH_FIELDS: dict[str, Kind] = ORDER_FIELDS.search_kinds() | ORDER_ITEM_FIELDS.search_kinds()
SORT_FIELDS = ORDER_FIELDS.sortable()
DEFAULT_SORT = "order_id"
# A sort field's SQL is its filter's.
assert SORT_FIELDS <= set(SEARCH_FIELDS) and DEFAULT_SORT in SORT_FIELDS
