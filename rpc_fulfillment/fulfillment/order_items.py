"""An order's lines: their fields, declared once in the order of the Order Item Properties on
the wire, and the one shape an item is answered in (order.info, order.search, and the
order:created and order:items_updated events, which order.create, order.cancel and
shipment.cancel write).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rpc_fulfillment.core import formats
from rpc_fulfillment.core.fields import Computed, Field, Fields, Row, constant
from rpc_fulfillment.core.filters import Kind

DEFAULT_CURRENCY = "USD"


def currency_of(value_field: str) -> Computed:
    """A currency that defaults to USD when its value is given."""
    return Computed(lambda values: DEFAULT_CURRENCY if values.get(value_field) is not None else None, (value_field,))


def money(value: Decimal | None) -> str | None:
    return formats.decimal(value, 2)


def identifier(value: int | None) -> str | None:
    """ShipStream answers an item's ids as strings ("order_item_id": "214", "warehouse_id": "2")."""
    return None if value is None else str(value)


def _currency_or_default(currency: str | None) -> str:
    return currency or DEFAULT_CURRENCY


def _row_weight(item: Row) -> Decimal | None:
    return None if item["weight"] is None else item["weight"] * item["qty_ordered"]


def _allocation_data(item: Row) -> list[dict[str, Any]]:
    return [{"warehouse_id": identifier(entry["warehouse_id"]), "qty_allocated": formats.quantity(entry["qty_allocated"])}
            for entry in item["allocation_data"]]


# An order's lines, in the order of their properties on the wire. Their input is ItemInput's
# (orders/input.py): an item names its product, whose sku, name and weight the line copies.
ORDER_ITEM_FIELDS = Fields(
    Field("order_item_id", "bigint", written=False, wire=identifier),
    Field("product_id", "bigint", wire=None),
    Field("line_no", "smallint", wire=None),
    Field("order_item_ref", "text"),
    Field("sku", "text", search=Kind.IDENTIFIER),  # order.search: orders with a line of that SKU
    Field("name", "text"),
    Field("weight", "numeric", wire=formats.decimal),
    Field("weight_unit", "text"),
    Field("row_weight", value=_row_weight, wire=formats.decimal),
    Field("row_weight_unit", value=lambda item: item["weight_unit"]),
    Field("qty_ordered", "integer", wire=formats.quantity),
    Field("qty_processing", "integer", wire=formats.quantity),
    Field("qty_shipped", "integer", written=False, wire=formats.quantity),
    Field("qty_canceled", "integer", written=False, wire=formats.quantity),
    Field("qty_backordered", "integer", wire=formats.quantity),
    Field("allocation_data", value=_allocation_data),
    Field("package_data", value=lambda item: []),
    Field("lot_data", value=lambda item: []),
    # The docs answer the currencies "USD" even where no value was given.
    Field("unit_declared_value", "numeric", wire=money),
    Field("unit_declared_value_currency", "text", default=currency_of("unit_declared_value"), wire=_currency_or_default),
    Field("unit_customs_value", "numeric", wire=money),
    Field("unit_customs_value_currency", "text", default=currency_of("unit_customs_value"), wire=_currency_or_default),
    # The order:created example shows it on each item; our gift message is the order's.
    Field("gift_message", value=constant(None)),
)

item_properties = ORDER_ITEM_FIELDS.projection()
