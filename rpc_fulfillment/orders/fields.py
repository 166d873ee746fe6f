"""The order's fields, each declared once, in the order of the Order Properties on the wire
(``order.info``, ``order.search``); its items' are ``fulfillment/order_items.py``'s.

Read by: ``input.py`` (InfoInput's fields), ``draft.py`` (the columns order.create writes and
their defaults), ``queries.py`` (the INSERT's column lists), ``edit.py`` (what order.edit may
change, and the defaults it applies too), ``views.py`` (the projection), ``search_fields.py``
and ``search_queries.py`` (filters, sorting and their SQL); ``rpc.discover`` documents InfoInput
and the search fields from those.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field as Rule

from rpc_fulfillment.core import formats
from rpc_fulfillment.core.fields import Computed, Field, Fields, constant
from rpc_fulfillment.core.filters import Kind
from rpc_fulfillment.core.lenient import Currency, Flag, Identifier, LongText, Money, Text, Int32, text_or_number
from rpc_fulfillment.fulfillment.order_items import currency_of, money
from rpc_fulfillment.fulfillment.policies import parse_backorder_policy
from rpc_fulfillment.shipments.views import shipping_description
from rpc_fulfillment.orders.input_types import Day, InstructionInput, ShipMoment, ShippingMethod, carrier_of

# An order's other data, kept in this jsonb column rather than in columns of their own.
EXTRA = "extra"


ORDER_FIELDS = Fields(
    Field("order_id", "bigint", written=False, search=Kind.INTEGER, sortable=True),
    Field("unique_id", "text", written=False,  # the client's, or the merchant's next number: the INSERT's own
          input=Identifier(64, min_length=1),
          not_editable="the unique id of an order cannot be changed", search=Kind.IDENTIFIER, sortable=True),
    Field("order_ref", "text", input=Identifier(255), search=Kind.IDENTIFIER, sortable=True),
    Field("state", "text", search=Kind.TEXT),
    Field("status", "text", search=Kind.TEXT, sortable=True),
    Field("store_id", "bigint", wire=None),
    Field("store_code", search=Kind.TEXT, search_sql="s.code"),
    Field("store_name"),
    Field("carrier_code", "text", derived=Computed(lambda values: carrier_of(values["shipping_method"]), ("shipping_method",)),
          search=Kind.TEXT),
    Field("shipping_method", "text", input=ShippingMethod, required=True, search=Kind.TEXT),
    Field("shipping_description", value=lambda row: shipping_description(row["shipping_method"])),
    Field("carrier_changed", value=constant(False)),
    Field("is_address_modified", "boolean", written=False),
    Field("is_address_modified_auto", value=constant(False)),
    Field("weight", "numeric", wire=formats.decimal),
    Field("weight_unit", "text"),
    Field("total_item_count", "integer"),
    Field("remote_ip", "text"),
    Field("submitted_by"),
    Field("submitted_by_type", value=constant("api")),
    Field("submitted_by_id", "bigint"),
    Field("signature_required", "text", input=Literal["none", "any", "adult", "indirect", "default"], default="none"),
    Field("saturday_delivery", "boolean", input=Flag, default=False),
    Field("reason_for_export", "text", default="sold",
          input=Literal["sold", "not_sold", "gift", "sample", "repair_return", "personal_effects"]),
    Field("overbox", "boolean", input=Flag, default=False),
    Field("backorder_policy", "text", input=Annotated[str, AfterValidator(parse_backorder_policy)], default="default"),
    Field("priority", "smallint", input=Annotated[Int32, Rule(ge=0, le=100, strict=False)], default=50,
          search=Kind.INTEGER, sortable=True),
    Field("estimated_packages", value=constant(None)),
    Field("target_ship_date", value=constant(None)),
    Field("requested_ship_date", "date", input=Day, search=Kind.DATE, sortable=True, wire=formats.day),
    Field("desired_delivery_date", "date", input=Day, wire=formats.day),
    # Holds change the status and have methods of their own.
    Field("hold_indefinitely", input=Flag, not_editable="use order.hold to put an order on hold", wire=None),
    Field("delayed_ship_date", "timestamptz", input=ShipMoment,
          not_editable="use order.hold and order.unhold to change a scheduled hold", wire=formats.timestamp),
    Field("custom_greeting", "text", input=LongText),
    Field("gift_message", "text", input=LongText),
    Field("source", "text", input=Text, search=Kind.TEXT),
    Field("customer_id", "text", input=Annotated[str, Rule(max_length=255), BeforeValidator(text_or_number)],
          search=Kind.TEXT, sortable=True, doc="rpc-fulfillment extension (not in ShipStream's API): the customer's "
                                               "id in the merchant's own system, free text; a number is taken as its digits"),
    Field("declared_value_service", "boolean", input=Flag, default=False),
    Field("declared_value", "numeric", input=Money, wire=money),
    Field("declared_value_currency", "text", input=Currency, default=currency_of("declared_value")),
    Field("customs_value", bag=EXTRA, input=Money),
    Field("customs_value_currency", bag=EXTRA, input=Currency),
    Field("tpb_group_id", "integer", input=Annotated[Int32, Rule(ge=0)]),
    Field("duties_payor", bag=EXTRA, input=Literal["default", "shipper", "recipient", "third_party"]),
    Field("duties_tpb_group_id", bag=EXTRA, input=Annotated[Int32, Rule(ge=0)]),
    Field("instructions", bag=EXTRA, input=Annotated[list[InstructionInput], Rule(max_length=50)], absent=list),
    Field("generate_sscc", bag=EXTRA, input=list[Literal["pack", "item"]], wire=None),
    Field("custom_fields", bag=EXTRA, input=dict[str, Any], absent=dict),
    Field("note", input=LongText, wire=None),  # the status history's comment
    Field("shipping_address", "jsonb", wire=None),  # an expansion: views.py
    Field(EXTRA, "jsonb", wire=None),
    Field("created_at", "timestamptz", written=False, search=Kind.TIMESTAMP, sortable=True, wire=formats.timestamp),
    Field("updated_at", "timestamptz", written=False, search=Kind.TIMESTAMP, sortable=True, wire=formats.timestamp),
    Field("completed_at", "timestamptz", written=False, search=Kind.TIMESTAMP, wire=formats.timestamp),
    Field("shipped_at", "timestamptz", written=False, search=Kind.TIMESTAMP, wire=formats.timestamp),
    Field("delivered_at", "timestamptz", written=False, search=Kind.TIMESTAMP, wire=formats.timestamp),
)

# The order's shipping options: changing one of them (order.edit) writes
# order:shipping_options_changed with their old and new wire values.
SHIPPING_OPTIONS = (
    "shipping_method", "signature_required", "saturday_delivery", "reason_for_export", "overbox",
    "declared_value_service", "declared_value", "declared_value_currency", "tpb_group_id", "duties_payor",
    "duties_tpb_group_id",
)

# The order of order.create's info keys: the order rpc.discover lists them in and a fault
# names their problems in (pydantic validates in this order), as before the table existed.
INFO_KEYS = (
    "unique_id", "order_ref", "shipping_method", "custom_greeting", "note", "gift_message", "source", "customer_id",
    "signature_required", "saturday_delivery", "reason_for_export", "declared_value_service", "declared_value",
    "declared_value_currency", "customs_value", "customs_value_currency", "overbox", "backorder_policy", "priority",
    "requested_ship_date", "delayed_ship_date", "desired_delivery_date", "hold_indefinitely", "tpb_group_id",
    "duties_payor", "duties_tpb_group_id", "instructions", "generate_sscc", "custom_fields",
)
