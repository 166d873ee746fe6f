"""The API description: one entry per method, the only place a method is documented.

``jsonrpc/registry.py`` says which function answers a ``resource.method`` and who may call it;
this table says what the method is for, what each argument looks like, what it answers and
which faults it raises. ``jsonrpc/docs/openrpc.py`` joins the two (with the parameter names, order and
required-ness read from the function's signature, and the fault messages from
``core/faults.py``) into the OpenRPC document that ``rpc.discover``, ``GET /openrpc.json``
and ``GET /docs`` serve.

Adding a method: register it in ``registry.METHODS`` and add a ``Doc`` to ``DESCRIPTIONS``
under the same name, with one ``Arg`` per parameter of the function (a name that is also a
top-level method, such as ``rpc.discover``, is described once, in ``TOP_LEVEL_DESCRIPTIONS``). ``tests/api/test_discover.py`` fails
until both agree.

Schemas are JSON Schema (draft 7, as OpenRPC uses). Anywhere in a schema a pydantic model
class may stand for ``{"$ref": "#/components/schemas/<Model>"}``: the model's own
``model_json_schema`` is what goes into the document, so the description and the validation
cannot drift. Where an argument has no model, its schema says what the parser checks; where
even that is open, the schema is ``{}`` and the description says so.

The faults listed per method are the ones the method itself raises; ``call``'s own faults
(1 internal error, 2 access denied, 5 session expired, 6 required parameter missing when the
method has a required parameter) are added to every method by ``jsonrpc/docs/openrpc.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from rpc_fulfillment.inventory import rules as inventory_domain
from rpc_fulfillment.orders import search_fields as order_search_fields
from rpc_fulfillment.products import rules as product_domain
from rpc_fulfillment.orders import views as projection
from rpc_fulfillment.shipments import views as shipment_projection
from rpc_fulfillment.shipments import rules as shipment_domain
from rpc_fulfillment.webhooks import rules as webhook_domain
from rpc_fulfillment.orders.cancellation import FLAGS as CANCEL_FLAGS
from rpc_fulfillment.orders.input import MAX_ITEMS, AddressInput, InfoInput, ItemInput
from rpc_fulfillment.core.filters import ALLOWED, DEFAULT_LIMIT, MAX_LIMIT, MAX_LIST, Kind
from rpc_fulfillment.shipments.rules import MAX_LINES, LineInput, PackageInput
from rpc_fulfillment.fulfillment.states import STATUSES_BY_STATE

Schema = Any  # a JSON Schema dict, a pydantic model class, or a dict containing model classes


@dataclass(frozen=True)
class Arg:
    """One argument: its JSON Schema and what it means."""

    schema: Schema
    description: str = ""


@dataclass(frozen=True)
class Doc:
    """One method. ``args`` is keyed by the parameter names of the function behind it."""

    summary: str
    result: Schema
    args: Mapping[str, Arg] = field(default_factory=dict)
    faults: tuple[str, ...] = ()
    description: str = ""
    result_description: str = ""


# ------------------------------------------------------------------------ schema helpers

STRING = {"type": "string"}
BOOLEAN = {"type": "boolean"}
INTEGER = {"type": "integer"}
TRUE_RESULT = {"const": True, "description": "true on success"}
TIMESTAMP = {"type": ["string", "null"], "description": "ISO 8601 with an offset"}
QUANTITY = {"type": "string", "pattern": r"^-?\d+\.\d{4}$", "description": "a decimal string such as \"10.0000\""}
WHOLE = {"type": ["integer", "string"], "description": "a whole number (a string of digits is accepted)"}


def nullable(schema: Schema) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


PHP_EMPTY_ARRAY = {"type": "array", "maxItems": 0, "description": "[] (PHP's empty array) means none"}


def or_none(schema: Schema) -> dict[str, Any]:
    """An optional object argument: also null, or [] as PHP clients send an empty array."""
    return {"anyOf": [schema, {"type": "null"}, PHP_EMPTY_ARRAY]}


def array_of(schema: Schema, **limits: Any) -> dict[str, Any]:
    return {"type": "array", "items": schema, **limits}


def obj(properties: Mapping[str, Schema], *, required: tuple[str, ...] = (), closed: bool = True, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": dict(properties)}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return {**schema, **extra}


def keys_only(names: tuple[str, ...] | frozenset[str], description: str) -> dict[str, Any]:
    """An object whose keys are known (from the code's own table) but whose value types are
    not declared anywhere: each property is ``{}``."""
    return {"type": "object", "properties": {name: {} for name in names}, "description": description}


_KIND_VALUE: dict[Kind, dict[str, Any]] = {
    Kind.INTEGER: {"type": ["integer", "string"], "description": "a whole number"},
    Kind.TEXT: {"type": ["string", "number"]},
    Kind.TIMESTAMP: {"type": "string", "description": "a date (2024-01-31: that whole day, UTC) or an ISO 8601 date-time"},
    Kind.DATE: {"type": "string", "description": "a date such as 2024-01-31"},
    Kind.TEXT_LIST: {"type": ["string", "number"], "description": "matches when any of the values is this"},
}


def filters(fields: Mapping[str, Kind]) -> dict[str, Any]:
    """A search's filters, generated from the same field table the parser checks against:
    ``{"field": value}`` (eq) or ``{"field": {"operator": value, ...}}``."""
    properties = {}
    for name, kind in sorted(fields.items()):
        value = _KIND_VALUE[kind]
        operators: dict[str, Any] = {}
        for op in sorted(ALLOWED[kind]):
            if op in ("in", "nin"):
                operators[op] = array_of(value, minItems=1, maxItems=MAX_LIST)
            elif op in ("null", "notnull"):
                operators[op] = {"description": "any value: the field is (not) null"}
            else:
                operators[op] = value
        operators["datetime"] = {"description": "accepted and ignored (ShipStream compatibility)"}
        properties[name] = {"anyOf": [value, obj(operators, minProperties=1)]}
    return {
        "anyOf": [obj(properties), {"type": "null"}, PHP_EMPTY_ARRAY],
        "description": "conditions combined with AND; a bare value means eq; null, {} or [] for none",
    }


def options(sort_fields: frozenset[str] | set[str], default_sort: str) -> dict[str, Any]:
    return {
        "anyOf": [
            obj({
                "sort_field": {"enum": sorted(sort_fields), "default": default_sort},
                "sort_dir": {"enum": ["asc", "desc", "ASC", "DESC"], "default": "asc"},
                "page": {"type": ["integer", "string"], "minimum": 1, "default": 1},
                "limit": {"type": ["integer", "string"], "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
            }),
            {"type": "null"},
            PHP_EMPTY_ARRAY,
        ],
        "description": f"paging and sorting; {DEFAULT_LIMIT} results a page by default, at most {MAX_LIMIT}",
    }


def paginated(item: Schema) -> dict[str, Any]:
    return obj(
        {"results": array_of(item), "totalCount": INTEGER, "numPages": INTEGER},
        required=("results", "totalCount", "numPages"),
    )


def fields_argument(names: frozenset[str], what: str) -> Arg:
    return Arg(
        {"anyOf": [
            {"type": "null"},
            {"const": "*"},
            array_of({"enum": ["*", *sorted(names)]}),
        ]},
        f"which {what} properties to answer: null the base ids, '*' or [] every scalar property, "
        "or a list of property names (expandable ones such as items only when named)",
    )


# ---------------------------------------------------------------------------- arguments

ORDER_UNIQUE_ID = Arg({"type": ["string", "integer"], "minLength": 1}, "the order's unique_id (your order number)")
SKU = Arg({"type": ["string", "integer"], "minLength": 1, "maxLength": product_domain.SKU_MAX}, "the product's SKU")
SHIPMENT_ID = Arg({"type": ["string", "integer"], "minLength": 1, "maxLength": 64},
                  "the shipment's id, a number written as a string such as \"100000001\"")
WEBHOOK_ID = Arg({"type": ["integer", "string"], "minimum": 1}, "the webhook's webhook_id (see webhook.list)")

ORDER_FIELDS = fields_argument(projection.ALL_FIELDS, "order")
SHIPMENT_FIELDS = fields_argument(shipment_projection.ALL_FIELDS, "shipment")

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
ADDRESS = Arg(AddressInput, "the shipping address; firstname, lastname, street1 (or street), city and country are "
                            "required, and region and postcode for US, CA and AU")
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
SHIPMENT_PROPERTIES = keys_only(
    shipment_projection.SCALARS + shipment_projection.EXPANDABLE,
    "the shipment's properties: the top-level keys, items, packages, tracking_numbers and shipping_address",
)
WIRE_ERROR = obj(
    {"error": obj({"code": INTEGER, "message": STRING, "data": {}}, required=("code", "message"))},
    required=("error",),
)

PRODUCT_VIEW = keys_only(
    tuple(product_domain.ProductData.model_fields) + ("product_id", "created_at", "updated_at"),
    "the product as product.info answers it",
)
INVENTORY_ITEM = obj(
    {name: QUANTITY for name in (
        "qty_expected", "qty_unreceived", "qty_processed", "qty_putaway", "qty_available", "qty_allocated",
        "qty_reserved", "qty_picked", "qty_backordered", "qty_advertised", "qty_on_hand",
    )} | {"sku": STRING},
    closed=False,
)
MOVEMENT = obj({
    "id": INTEGER, "entity_type": STRING, "entity_action": STRING, "entity_id": nullable(STRING),
    "product_id": INTEGER, "sku": STRING, "warehouse_id": INTEGER, "qty_on_hand": QUANTITY, "qty_allocated": QUANTITY,
    "qty_available": QUANTITY, "comment": nullable(STRING), "created_at": TIMESTAMP, "location": {"type": "null"},
})
STORE = obj({"store_id": INTEGER, "code": STRING, "name": STRING, "sort_order": INTEGER, "is_active": BOOLEAN})
WAREHOUSE = obj({
    "warehouse_id": INTEGER, "name": STRING, "is_active": BOOLEAN,
    "address": obj({name: nullable(STRING) for name in ("street1", "street2", "city", "country", "region", "postcode")}),
})
WEBHOOK = obj({
    "webhook_id": INTEGER, "is_active": BOOLEAN, "topics": array_of(STRING), "url": STRING,
    "extra_headers": STRING, "secret_key": STRING, "last_increment_id": INTEGER, "created_at": TIMESTAMP,
})
TOPIC = {"enum": sorted(webhook_domain.TOPICS)}
WEBHOOK_DATA = obj(
    {
        "url": {"type": "string", "maxLength": webhook_domain.URL_MAX, "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://",
                "description": "the http or https URL events are POSTed to"},
        "topics": {"anyOf": [array_of(TOPIC, minItems=1), {"type": "string", "description": "comma-separated topics"}]},
        "is_active": {"type": ["boolean", "integer", "string", "null"], "default": True,
                      "description": "true/false, 1/0 or \"1\"/\"0\""},
        "extra_headers": {"anyOf": [STRING, array_of(STRING), {"type": "null"}],
                          "description": f"\"Name: value\" lines, at most {webhook_domain.HEADERS_MAX}"},
        "secret_key": {"type": ["string", "null"], "maxLength": webhook_domain.SECRET_MAX,
                       "description": "the signing key; absent, null or \"\" generates one (webhook.list shows it)"},
    },
    required=("url", "topics"),
)
ATTEMPT = obj({"time": TIMESTAMP, "http_status": nullable(INTEGER), "duration_ms": nullable(INTEGER), "error": nullable(STRING)})
DELIVERY = obj({
    "delivery_id": INTEGER, "webhook_id": INTEGER, "event_id": INTEGER, "topic": STRING,
    "webhook_increment_id": INTEGER, "status": STRING, "attempt_count": INTEGER, "created_at": TIMESTAMP,
    "last_attempt_at": TIMESTAMP, "next_attempt_at": TIMESTAMP, "delivered_at": TIMESTAMP,
    "last_http_status": nullable(INTEGER), "last_error": nullable(STRING), "attempts": array_of(ATTEMPT),
})
EVENT = obj({"event_id": INTEGER, "topic": STRING, "event_timestamp": TIMESTAMP, "message": {"type": "object"}})
ORDER_STATUSES = sorted({status for statuses in STATUSES_BY_STATE.values() for status in statuses})


# ------------------------------------------------------------------------- the methods

DESCRIPTIONS: dict[str, Doc] = {
    # ---------------------------------------------------------------- store, warehouse
    "store.list": Doc(
        "The caller's merchant's stores.",
        result=array_of(STORE),
    ),
    "warehouse.list": Doc(
        "The warehouses (the operator's, shared by all merchants).",
        result=array_of(WAREHOUSE),
    ),
    # ------------------------------------------------------------------------ product
    "product.search": Doc(
        "Search the merchant's products.",
        args={
            "filters": Arg(filters(product_domain.SEARCH_FIELDS)),
            "options": Arg(options(product_domain.SORT_FIELDS, product_domain.DEFAULT_SORT)),
        },
        result=paginated(PRODUCT_VIEW),
        faults=("product_invalid_filters",),
        description="ShipStream documents a plain array; we answer the paginated shape of every search.",
    ),
    "product.info": Doc(
        "One product by SKU.",
        args={"sku": SKU},
        result=PRODUCT_VIEW,
        faults=("product_not_found",),
    ),
    "product.create": Doc(
        "Create a product.",
        args={
            "sku": SKU,
            "data": Arg(product_domain.ProductData, "the product's properties; name is required. Unknown keys are "
                                                    "refused by name; each value is checked by the server's own rules "
                                                    "(the schema lists the keys, not every rule)"),
        },
        result=TRUE_RESULT,
        faults=("product_invalid_data", "product_sku_exists"),
        description="Writes a product:created event in the same transaction.",
    ),
    "product.update": Doc(
        "Change some properties of a product; null clears one.",
        args={"sku": SKU, "data": Arg(product_domain.ProductData, "only the properties to change")},
        result=TRUE_RESULT,
        faults=("product_not_found", "product_invalid_data"),
        description="Writes a product:updated event when something changed.",
    ),
    # ---------------------------------------------------------------------- inventory
    "inventory.list": Doc(
        "Stock per SKU, summed over all warehouses or in one.",
        args={
            "skus": Arg({"anyOf": [STRING, INTEGER, array_of({"type": ["string", "integer"]},
                                                              maxItems=inventory_domain.SKUS_MAX), {"type": "null"}]},
                        "one SKU, an array of SKUs, or null for every product"),
            "warehouseId": Arg(nullable(WHOLE), "only this warehouse's stock"),
            "updatedSince": Arg(nullable(STRING), "only stock changed since this ISO 8601 date-time"),
        },
        result=array_of(INVENTORY_ITEM),
        faults=("inventory_invalid_data",),
        description="Disabled and not-visible products are left out; every quantity is a decimal string.",
    ),
    "inventory.adjust": Doc(
        "Receive (qty_delta > 0) or remove (qty_delta < 0) stock of one SKU in one warehouse.",
        args={
            "sku": Arg({"type": ["string", "integer"], "minLength": 1}, "the product's SKU"),
            "warehouse_id": Arg(WHOLE, "the warehouse"),
            "qty_delta": Arg({"type": ["integer", "string"], "not": {"const": 0},
                              "minimum": -inventory_domain.MAX_ADJUST, "maximum": inventory_domain.MAX_ADJUST},
                             "units to add (> 0) or remove (< 0)"),
            "reason": Arg(nullable({"type": "string", "maxLength": inventory_domain.REASON_MAX}),
                          "kept as the stock movement's comment"),
        },
        result=obj({**INVENTORY_ITEM["properties"], "warehouse_id": INTEGER}, closed=False),
        faults=("inventory_product_not_found", "inventory_invalid_data", "inventory_not_adjusted"),
        description="One atomic statement; records a stock movement and an inventory:adjusted event. Units "
                    "received go to backordered orders at once, most urgent first. Removing more than is "
                    "available is fault 103 and changes nothing.",
    ),
    "stock_movement.list": Doc(
        "The merchant's stock movements.",
        args={
            "filters": Arg(filters(inventory_domain.MOVEMENT_FIELDS)),
            "options": Arg(options(inventory_domain.MOVEMENT_SORT_FIELDS, inventory_domain.MOVEMENT_DEFAULT_SORT)),
        },
        result=paginated(MOVEMENT),
        faults=("stock_movement_invalid_filters",),
    ),
    # -------------------------------------------------------------------------- order
    "order.create": Doc(
        "Create an order; its units are reserved from stock at once, the rest backordered.",
        args={
            "storeCode": Arg(nullable(STRING), "the store's code; null or \"\" for the merchant's default store"),
            "items": ITEMS,
            "address": ADDRESS,
            "info": INFO,
            "flags": FLAGS,
        },
        result=ORDER_PROPERTIES,
        result_description="the new order's properties, as order.info with fields '*'",
        faults=("order_invalid_data", "order_exists", "order_product_not_found"),
        description="unique_id is assigned from 100000001 when info leaves it out. The status says what could "
                    "be reserved: new, partial_backorder or backordered (holded or delayed_shipment with "
                    "hold_indefinitely or delayed_ship_date).",
    ),
    "order.bulk_create": Doc(
        "Create many orders in one call; each succeeds or fails on its own.",
        args={
            "orders": Arg(
                {"anyOf": [
                    {"type": "object", "additionalProperties": {"anyOf": [array_of({}, minItems=4, maxItems=5), ORDER_CREATE_ARGS]}},
                    array_of({"anyOf": [array_of({}, minItems=4, maxItems=5), ORDER_CREATE_ARGS]}),
                ]},
                "your keys (or an array) mapped to order.create's arguments, as [storeCode, items, address, info"
                "(, flags)] or as an object with those names",
            ),
        },
        result={"type": "object", "additionalProperties": {"anyOf": [ORDER_PROPERTIES, WIRE_ERROR]}},
        result_description="each key mapped to the new order's properties or to {\"error\": {code, message}}",
        faults=("order_invalid_data",),
        description="An order that already exists answers error -32104 (fault 104) under its key, so a "
                    "re-sent batch creates nothing twice.",
    ),
    "order.info": Doc(
        "One order.",
        args={"orderUniqueId": ORDER_UNIQUE_ID, "fields": ORDER_FIELDS},
        result=ORDER_PROPERTIES,
        faults=("order_not_found", "order_invalid_data"),
    ),
    "order.search": Doc(
        "Search the merchant's orders.",
        args={
            "filters": Arg(filters(order_search_fields.SEARCH_FIELDS)),
            "options": Arg(options(order_search_fields.SORT_FIELDS, order_search_fields.DEFAULT_SORT)),
            "fields": ORDER_FIELDS,
        },
        result=paginated(ORDER_PROPERTIES),
        faults=("order_invalid_filters",),
        description=f"The status filter takes the statuses of the order lifecycle: {', '.join(ORDER_STATUSES)}.",
    ),
    "order.edit": Doc(
        "Change an order's address, information or custom fields while no shipment has started.",
        args={
            "orderUniqueId": ORDER_UNIQUE_ID,
            "address": Arg(or_none(AddressInput), "the address fields to change"),
            "info": Arg(or_none(InfoInput), "the information to change (not unique_id, hold_indefinitely or "
                                             "delayed_ship_date); a note is added to the status history"),
            "customFields": Arg(
                or_none(obj({"set": {"type": "object"}, "add": {"type": "object"}, "remove": array_of(STRING)})),
                "custom field operations: set (replace them all), add (merge) and remove (codes)",
            ),
        },
        result=ORDER_PROPERTIES,
        result_description="the order's properties after the change (fields '*')",
        faults=("order_not_found", "order_invalid_data", "order_not_editable"),
    ),
    "order.comment": Doc(
        "Add a comment to an order's status history.",
        args={"orderUniqueId": ORDER_UNIQUE_ID, "comment": Arg({"type": "string", "minLength": 1, "maxLength": 65535})},
        result=TRUE_RESULT,
        faults=("order_not_found", "order_invalid_data", "order_comment_not_added"),
    ),
    "order.hold": Doc(
        "Put an order of state new on hold; its reservations are kept.",
        args={"orderUniqueId": ORDER_UNIQUE_ID},
        result=TRUE_RESULT,
        faults=("order_not_found", "order_status_not_changed"),
    ),
    "order.unhold": Doc(
        "Take an order off hold: back to state new, with the status its reservations give it.",
        args={"orderUniqueId": ORDER_UNIQUE_ID},
        result=TRUE_RESULT,
        faults=("order_not_found", "order_status_not_changed"),
    ),
    "order.cancel": Doc(
        "Cancel some or all of an order's units.",
        args={
            "orderUniqueId": ORDER_UNIQUE_ID,
            "options": Arg(
                obj({
                    **{name: {"type": ["boolean", "integer", "string"]} for name in CANCEL_FLAGS},
                    "items": array_of(obj({"sku": STRING, "order_item_ref": STRING, "qty": {"type": ["integer", "string"]}},
                                          required=("qty",))),
                }),
                "at least one option true (or items); they add up",
            ),
            "fields": ORDER_FIELDS,
        },
        result=obj(
            {"success": BOOLEAN, "warnings": array_of(STRING), "cancellations": array_of(STRING), "order": ORDER_PROPERTIES},
            required=("success", "warnings", "cancellations", "order"),
        ),
        faults=("order_not_found", "order_invalid_data", "order_status_not_changed"),
        description="Released units go to backordered orders at once. Nothing to cancel is success false with "
                    "a warning, not a fault.",
    ),
    # ----------------------------------------------------------------------- shipment
    "shipment.create": Doc(
        "A shipment of an order's reserved units not yet in a shipment, from one warehouse.",
        args={
            "order_unique_id": ORDER_UNIQUE_ID,
            "items": Arg(
                {"anyOf": [array_of(LineInput, minItems=1, maxItems=MAX_LINES),
                           {"type": "object", "additionalProperties": {"type": ["integer", "string"]},
                            "description": "{\"SKU\": qty}"},
                           {"type": "null"}]},
                "the units to take; null for every reserved unit",
            ),
            "warehouse_id": Arg(nullable(WHOLE), "the warehouse; null for the one holding the most of the units"),
        },
        result=SHIPMENT_PROPERTIES,
        faults=("order_not_found", "shipment_invalid_data", "shipment_not_created"),
        description="Within the order's backorder policy (all_or_nothing, up_to_X, as_available).",
    ),
    "shipment.pack": Doc(
        "Pack a shipment into packages, each with a tracking number.",
        args={
            "shipment_id": SHIPMENT_ID,
            "packages": Arg({"anyOf": [array_of(PackageInput, minItems=1), PackageInput]},
                            "every unit of the shipment in some package; one package may leave out items"),
        },
        result=SHIPMENT_PROPERTIES,
        faults=("shipment_not_found", "shipment_invalid_data", "shipment_not_packed"),
    ),
    "shipment.ship": Doc(
        "Ship a packed shipment: its units leave stock.",
        args={"shipment_id": SHIPMENT_ID},
        result=SHIPMENT_PROPERTIES,
        faults=("shipment_not_found", "shipment_not_shipped"),
    ),
    "shipment.deliver": Doc(
        "Mark a shipped shipment delivered.",
        args={"shipment_id": SHIPMENT_ID},
        result=SHIPMENT_PROPERTIES,
        faults=("shipment_not_found", "shipment_not_delivered"),
    ),
    "shipment.cancel": Doc(
        "Cancel an unshipped shipment: its units go back to the order, still reserved.",
        args={"shipment_id": SHIPMENT_ID},
        result=SHIPMENT_PROPERTIES,
        faults=("shipment_not_found", "shipment_not_canceled"),
        description="Units with a cancellation request are canceled instead.",
    ),
    "shipment.update": Doc(
        "Set a shipment's source (association data for integrations).",
        args={
            "shipment_id": SHIPMENT_ID,
            "data": Arg(obj({"source": nullable({"type": "string", "maxLength": 255})}, required=("source",)),
                        "only source may change"),
            "customFields": Arg({"anyOf": [{"type": "null"}, {"type": "array", "maxItems": 0}, {"type": "object", "maxProperties": 0}]},
                                "shipments have no custom fields here: null or empty"),
        },
        result=TRUE_RESULT,
        faults=("shipment_not_found", "shipment_invalid_data"),
    ),
    "shipment.info": Doc(
        "One shipment.",
        args={"shipment_id": SHIPMENT_ID},
        result=SHIPMENT_PROPERTIES,
        faults=("shipment_not_found",),
    ),
    "shipment.search": Doc(
        "Search the merchant's shipments.",
        args={
            "filters": Arg(filters(shipment_domain.SEARCH_FIELDS)),
            "options": Arg(options(shipment_domain.SORT_FIELDS, shipment_domain.DEFAULT_SORT)),
            "fields": SHIPMENT_FIELDS,
        },
        result=paginated(SHIPMENT_PROPERTIES),
        faults=("shipment_invalid_filters",),
    ),
    # ------------------------------------------------------------------------ webhook
    "webhook.create": Doc(
        "Subscribe a URL to event topics.",
        args={"data": Arg(WEBHOOK_DATA)},
        result=TRUE_RESULT,
        faults=("webhook_invalid_data", "webhook_not_created"),
        description=f"At most {webhook_domain.MAX_WEBHOOKS} webhooks per merchant; webhook.list shows the new "
                    f"one's id and secret_key. Deliveries are signed with {webhook_domain.SIGNATURE_HEADER}.",
    ),
    "webhook.list": Doc("The merchant's webhooks.", result=array_of(WEBHOOK)),
    "webhook.update_status": Doc(
        "Activate (1) or deactivate (0) a webhook.",
        args={"webhook_id": WEBHOOK_ID, "status": Arg({"type": ["boolean", "integer", "string"]}, "1 or 0, true or false")},
        result=TRUE_RESULT,
        faults=("webhook_not_found", "webhook_status_not_changed"),
    ),
    "webhook.delete": Doc(
        "Delete a webhook with its queued deliveries and delivery log.",
        args={"webhook_id": WEBHOOK_ID},
        result=TRUE_RESULT,
        faults=("webhook_not_found",),
    ),
    "webhook.deliveries": Doc(
        "A webhook's deliveries, each with its attempts.",
        args={
            "webhook_id": WEBHOOK_ID,
            "filters": Arg(filters(webhook_domain.DELIVERY_FIELDS)),
            "options": Arg(options(webhook_domain.DELIVERY_SORT_FIELDS, webhook_domain.DELIVERY_DEFAULT_SORT)),
        },
        result=paginated(DELIVERY),
        faults=("webhook_not_found", "webhook_invalid_data"),
    ),
    "webhook.replay": Doc(
        "Queue an event again for the webhooks subscribed to its topic (or for one webhook).",
        args={"event_id": Arg({"type": ["integer", "string"], "minimum": 1}, "the event (see event.list)"),
              "webhook_id": Arg(nullable(WEBHOOK_ID.schema), "only this webhook")},
        result=array_of({"type": "object", "description": "the queued delivery"}),
        faults=("webhook_event_not_found", "webhook_not_found", "webhook_invalid_data"),
    ),
    "webhook.test": Doc(
        "Send test:ping to a webhook now and answer what the receiver said.",
        args={"webhook_id": WEBHOOK_ID},
        result=obj({"delivered": BOOLEAN, "http_status": nullable(INTEGER), "body": nullable(STRING),
                    "duration_ms": nullable(INTEGER), "error": nullable(STRING), "delivery_id": INTEGER}),
        faults=("webhook_not_found",),
    ),
    "event.list": Doc(
        "The merchant's events after an event id, oldest first (a polling feed).",
        args={
            "after_id": Arg(nullable({"type": ["integer", "string"], "minimum": 0}), "0 or null: from the start"),
            "limit": Arg(nullable({"type": ["integer", "string"], "minimum": 1, "maximum": webhook_domain.EVENT_LIST_MAX}),
                         f"at most this many (default {webhook_domain.EVENT_LIST_DEFAULT})"),
        },
        result=array_of(EVENT),
        faults=("event_invalid_data",),
        description="Ids are taken when an event is written, not when it commits: re-read a small overlap.",
    ),
}


# ------------------------------------------------------------------ top-level methods

SESSION = Arg({"type": ["string", "null"], "pattern": "^[0-9a-f]{32}$"},
              "the session id from login; null with HTTP Basic credentials (username and API key)")

TOP_LEVEL_DESCRIPTIONS: dict[str, Doc] = {
    "login": Doc(
        "Log in with a username and API key; answers a session id.",
        args={"username": Arg(STRING), "api_key": Arg(STRING)},
        result={"type": "string", "pattern": "^[0-9a-f]{32}$"},
        result_description="a 32-hex session id, valid 24 hours by default",
        faults=("required_parameter", "access_denied"),
    ),
    "call": Doc(
        "Call one resource.method.",
        args={
            "session": SESSION,
            "method": Arg({"type": "string", "pattern": r"^[a-z_]+\.[a-z_]+$"}, "the resource.method, such as order.info"),
            "args": Arg({}, "an array is spread as positional arguments, an object passes named arguments, any other "
                            "value (or null) is the single argument; absent means no arguments"),
        },
        result={},
        result_description="the method's result",
        faults=("session_expired", "access_denied", "invalid_api_path", "required_parameter"),
    ),
    "multiCall": Doc(
        "Call several resource.methods in one request; each runs on its own.",
        args={
            "session": SESSION,
            "calls": Arg(array_of(array_of({}, minItems=1, maxItems=2)), "[[\"resource.method\", args], ...]"),
            "options": Arg(or_none(obj({"break": {}}, closed=False)), "{\"break\": true} stops at the first fault"),
        },
        result=array_of({}),
        result_description="one entry per call: its result, or {\"isFault\": true, \"faultCode\": N, \"faultMessage\": \"...\"}",
        faults=("session_expired",),
    ),
    "endSession": Doc(
        "End a session.",
        args={"session": Arg({"type": "string"})},
        result=TRUE_RESULT,
        faults=("session_expired",),
    ),
    # Also registered as a resource.method (call(session, "rpc.discover"), every role); one
    # entry describes both.
    "rpc.discover": Doc(
        "This OpenRPC document (no session needed).",
        result={"type": "object", "description": "an OpenRPC 1.3 document"},
        description="Also answered by call(session, \"rpc.discover\") for every role, and by GET /openrpc.json; "
                    "GET /docs renders it as HTML.",
    ),
}
