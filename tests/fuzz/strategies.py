"""Hypothesis strategies for the fuzz suites: JSON values, JSON-RPC envelopes, and the arguments
of every API method.

Arguments are drawn per method from what the code declares, so that most examples get past
the envelope, the session, the role and the checks of the arguments into the service and its
SQL (the harness counts how many do: ``Depth`` in conftest.py):
- a *valid* call per method (``PLANS``): seeded SKUs, order, shipment, webhook and event ids;
  filters, options and projections from each search's own field table (``Search``: the
  fields, the operators their kind allows, operands of that kind, the sortable fields); product
  data, addresses and infos with any of the fields they take;
- per-parameter *shapes*: values of the right structure with arbitrary contents, from the plan,
  from the pydantic input models (``model_json_schema()`` turned into a strategy by
  ``from_schema``), or else from the parameter's schema in the OpenRPC document;
- wrong types and plain JSON of any type.
A drawn call is mostly valid (a valid call, one with a parameter's value of its shape, or by
name); the rest is a valid call with a wrong-typed value, a parameter dropped, an unknown key,
surplus arguments, no arguments or any JSON (``call_arguments`` has the weights).

Every name a strategy looks up exists: the tables are imported, not looked up; a seed the
harness did not make, a plan's shape for a parameter its method does not take, a parameter
missing from the OpenRPC document is an error at first use, never a fallback
(test_fuzz_plans.py checks every plan). A method without a plan is still fuzzed from its
OpenRPC schemas (``GENERIC`` lists it in the figures) and fails that test until it has one.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Any, Callable

from hypothesis import strategies as st

from rpc_fulfillment.core.filters import ALLOWED as FILTER_ALLOWED
from rpc_fulfillment.core.filters import LISTS as FILTER_LISTS
from rpc_fulfillment.core.filters import NULLS as FILTER_NULLS
from rpc_fulfillment.core.filters import OPERATORS as FILTER_OPERATORS
from rpc_fulfillment.core.filters import Kind, Search
from rpc_fulfillment.fulfillment import address as order_address
from rpc_fulfillment.inventory import api as inventory_api
from rpc_fulfillment.jsonrpc.dispatch import METHODS, api_document
from rpc_fulfillment.orders import input as order_input
from rpc_fulfillment.orders import read as order_read
from rpc_fulfillment.orders import views as order_views
from rpc_fulfillment.products import api as product_api
from rpc_fulfillment.products import rules as products
from rpc_fulfillment.shipments import read as shipment_read
from rpc_fulfillment.shipments import rules as shipment_rules
from rpc_fulfillment.shipments import views as shipment_views
from rpc_fulfillment.webhooks import api as webhook_api
from rpc_fulfillment.webhooks import rules as webhook_rules
from tests.api.order_helpers import ADDRESS, INFO

# ------------------------------------------------------------------------------ JSON values

# ------------------------------------------------ values at and past every type's limits
# Each bound a value meets on its way to PostgreSQL, exactly at it and one step past it:
# smallint, integer and bigint; the numeric(12,4) and numeric(12,2) columns (weights,
# dimensions, values: largest value, one past, and a scale that rounds past); JSON numbers
# (1e308, the smallest subnormal, inf and nan, which the harness's json.dumps sends as the
# tokens Infinity and NaN); digit strings of hundreds and thousands of digits (past Python's
# 4,300-digit int() limit); moments of years 1 and 9999 with the extreme offsets +14:00 and
# -12:00 (in UTC: years 0 and 10000) and past timestamptz's own range; text at and past every
# length CHECK (64, 255, 2048 characters; 255 bytes of two-byte characters).
INT_LIMITS = [bound + step for bound in (2**15, 2**31, 2**63) for step in (-1, 0)] + [
    -bound + step for bound in (2**15, 2**31, 2**63) for step in (0, -1)]
_DECIMAL_LIMITS = ["99999999.9999", "100000000", "99999999.99995", "0.00005", "-99999999.9999", "-100000000",
                   "9999999999.99", "10000000000", "9999999999.995", "1e308", "-1e308", "1e-400", "1E+400"]
FLOAT_LIMITS = [99999999.9999, 100000000.0, 9999999999.99, 1e10, 1e308, -1e308, 5e-324, float("inf"), float("-inf"),
                float("nan")]
DIGIT_STRINGS = ["9" * 400, "-" + "9" * 400, "1" + "0" * 5000, "0." + "0" * 399 + "1", "9" * 400 + ".5"]
DATE_LIMITS = [
    f"{day}{time}{offset}"
    for day, time in (("0001-01-01", "T00:00:00"), ("9999-12-31", "T23:59:59"), ("9999-12-31", " 23:59:59.999999"))
    for offset in ("+14:00", "-12:00", "Z", "")
] + ["0001-01-01", "9999-12-31", "0000-12-31", "10000-01-01", "-0001-01-01", "294277-01-01T00:00:00Z",
     "4714-11-24 BC", "infinity", "-infinity", "epoch"]
TEXT_LIMITS = [c * n for c in "xé" for n in (32, 33, 64, 65, 127, 128, 255, 256, 2048, 2049)]
NUMBERS_AT_LIMITS = st.sampled_from(INT_LIMITS) | st.sampled_from(FLOAT_LIMITS)
STRINGS_AT_LIMITS = st.sampled_from(
    [str(n) for n in INT_LIMITS] + _DECIMAL_LIMITS + DIGIT_STRINGS + DATE_LIMITS + TEXT_LIMITS)
AT_LIMITS = NUMBERS_AT_LIMITS | STRINGS_AT_LIMITS

BIG_INTS = st.sampled_from([2**31, 2**31 - 1, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, -(2**63), -(2**63) - 1, -1, 0])
INTS = st.integers(-1000, 10**6) | st.integers(-(2**63), 2**64 - 1) | BIG_INTS | st.sampled_from(INT_LIMITS)
FLOATS = (st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([0.5, 1.0, -0.0, 1e308, 1e-308, 2.0**64, 3.0])
          | st.sampled_from(FLOAT_LIMITS))
# Text: ASCII and all of Unicode (including NUL and other control characters), sometimes long.
ALPHABET = st.characters(codec="utf-8")
_SHORT = st.text(string.ascii_letters + string.digits + "-_ .:/", max_size=20)
_UNICODE = st.text(ALPHABET, max_size=40)
_SPECIAL = st.sampled_from(
    ["", " ", "\x00", "a\x00b", "null", "true", "0", "-1", "1e5", "2024-01-31", "ä€😀", "\u202e", "*", "%", "_", "'", '"', "\\"]
)
# Long strings (past every column's length, up to past the request's string limit): 1 in 9.
_LONG = st.builds(lambda n, c: c * n, st.integers(250, 70000), st.sampled_from("aZ9é"))
TEXT = st.one_of(_SHORT, _SHORT, _SHORT, _UNICODE, _UNICODE, _UNICODE, _SPECIAL, _SPECIAL, _LONG, STRINGS_AT_LIMITS)
SCALARS = st.none() | st.booleans() | INTS | FLOATS | TEXT
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(TEXT, children, max_size=5),
    max_leaves=15,
)
# Values of the wrong kind for almost any parameter.
WRONG = st.one_of(st.none(), st.booleans(), INTS, FLOATS, TEXT, st.just([]), st.just({}), JSON, AT_LIMITS)


# ------------------------------------------------------------------ JSON Schema -> strategy


def _bounded_text(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    low = schema.get("minLength", 0)
    high = schema.get("maxLength")
    inside = st.text(ALPHABET, min_size=low, max_size=min(high if high is not None else 40, 40))
    edges = [st.just("")]
    if high is not None:
        edges += [st.just("x" * high), st.just("x" * (high + 1))]
    return inside | st.one_of(edges) | STRINGS_AT_LIMITS


def _number_bounds(schema: dict[str, Any]) -> tuple[Any, Any]:
    low = schema.get("minimum", schema.get("ge"))
    high = schema.get("maximum", schema.get("le"))
    if "exclusiveMinimum" in schema or "gt" in schema:
        low = schema.get("exclusiveMinimum", schema.get("gt"))
    if "exclusiveMaximum" in schema or "lt" in schema:
        high = schema.get("exclusiveMaximum", schema.get("lt"))
    return low, high


def from_schema(schema: dict[str, Any], defs: dict[str, Any] | None = None, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values for a pydantic ``model_json_schema()``: mostly of the schema's shape, with values
    around and beyond its bounds; ``{}`` (any) is plain JSON."""
    defs = defs if defs is not None else schema.get("$defs", {})
    if depth > 6:
        return SCALARS
    if "$ref" in schema:
        return from_schema(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, depth + 1)
    if "enum" in schema:
        return st.sampled_from(schema["enum"]) | TEXT
    if "const" in schema:
        return st.just(schema["const"])
    if "anyOf" in schema or "oneOf" in schema:
        return st.one_of([from_schema(s, defs, depth + 1) for s in schema.get("anyOf", schema.get("oneOf"))])
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([from_schema({**schema, "type": one}, defs, depth + 1) for one in kind])
    if kind == "string":
        return _bounded_text(schema)
    if kind == "integer":
        low, high = _number_bounds(schema)
        inside = st.integers(min_value=low, max_value=high) if (low is not None or high is not None) else st.integers(-5, 1000)
        edges = [st.just(v) for v in (low, high) if v is not None] + [st.just(v + d) for v in (low, high) if v is not None for d in (-1, 1)]
        return inside | st.one_of(edges or [INTS]) | st.integers(-(2**63), 2**64 - 1) | AT_LIMITS
    if kind == "number":
        low, high = _number_bounds(schema)
        return (st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False) | st.integers(-5, 10**6)
                | st.sampled_from(["1.25", "-1", "1e3", "abc", "0.001"]) | AT_LIMITS)
    if kind == "boolean":
        return st.booleans() | st.sampled_from([0, 1, "1", "true", "yes"])
    if kind == "null":
        return st.none()
    if kind == "array":
        item = from_schema(schema.get("items", {}), defs, depth + 1)
        low = schema.get("minItems", 0)
        return st.lists(item, min_size=min(low, 3), max_size=max(min(schema.get("maxItems", 3), 3), min(low, 3)))
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        required = set(schema.get("required", ()))
        extra = schema.get("additionalProperties")
        if properties:
            return st.fixed_dictionaries(
                {name: from_schema(spec, defs, depth + 1) for name, spec in properties.items() if name in required},
                optional={name: from_schema(spec, defs, depth + 1) for name, spec in properties.items() if name not in required},
            )
        values = from_schema(extra, defs, depth + 1) if isinstance(extra, dict) else SCALARS
        return st.dictionaries(TEXT, values, max_size=4)
    return JSON


def from_model(model: Any, hints: dict[str, st.SearchStrategy[Any]] | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """Objects for a pydantic model: its JSON schema, with ``hints`` for fields whose schema
    says nothing useful (validators on ``Any``)."""
    schema = model.model_json_schema()
    hints = hints or {}
    defs = schema.get("$defs", {})
    required = set(schema.get("required", ()))
    strategies = {}
    for name, spec in schema.get("properties", {}).items():
        strategy = from_schema(spec, defs)
        if name in hints:
            strategy = hints[name] | strategy
        strategies[name] = strategy
    return st.fixed_dictionaries(
        {n: s for n, s in strategies.items() if n in required},
        optional={n: s for n, s in strategies.items() if n not in required},
    )


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, each drawn ``weight`` times in the sum of the weights (``one_of``
    takes each distinct strategy once, however often it is listed)."""
    indexes = [index for index, (weight, _) in enumerate(choices) for _ in range(weight)]
    return st.sampled_from(indexes).flatmap(lambda index: choices[index][1])


# ------------------------------------------------------------------------- mutations


@st.composite
def mutated(draw: Any, base: Any, values: st.SearchStrategy[Any] = WRONG) -> Any:
    """``base`` (a dict or a list) with one change: a value replaced, a key or entry dropped, an
    unknown key or entry added; anything else as it is."""
    if isinstance(base, dict) and base:
        choice = draw(st.sampled_from(["replace", "drop", "extra"]))
        copy = dict(base)
        key = draw(st.sampled_from(sorted(copy)))
        if choice == "replace":
            copy[key] = draw(values)
        elif choice == "drop":
            del copy[key]
        else:
            copy[draw(TEXT)] = draw(values)
        return copy
    if isinstance(base, list) and base:
        copy = list(base)
        index = draw(st.integers(0, len(copy) - 1))
        choice = draw(st.sampled_from(["replace", "drop", "extra"]))
        if choice == "replace":
            copy[index] = draw(values)
        elif choice == "drop":
            del copy[index]
        else:
            copy.append(draw(values))
        return copy
    return draw(values)


# ---------------------------------------------------------------------------- seeds


@dataclass
class Seeds:
    """Ids of objects the fuzz database holds, so that generated calls find real things. Every
    list is filled by the harness; a strategy that needs an empty one fails (``known``)."""

    skus: list[str]
    other_skus: list[str]
    order_ids: list[str]
    other_order_ids: list[str]
    shipment_ids: list[str]
    webhook_ids: list[int]
    event_ids: list[int]
    sink_url: str


def known(values: list[Any], what: str) -> st.SearchStrategy[Any]:
    """One of the seeded ``values``: the harness seeds every kind, so none may be missing."""
    if not values:
        raise LookupError(f"the fuzz database has no {what}: the harness must seed them")
    return st.sampled_from(values)


# Each resource's search, as the method declares it: its filterable fields with their kinds,
# its sortable fields.
SEARCHES: dict[str, Search] = {
    "product": product_api.SEARCH,
    "stock_movement": inventory_api.MOVEMENT_SEARCH,
    "order": order_read.SEARCH,
    "shipment": shipment_read.SEARCH,
    "delivery": webhook_api.DELIVERY_SEARCH,
}
ORDER_FIELDS = sorted(order_views.ALL_FIELDS)
SHIPMENT_FIELDS = sorted(shipment_views.ALL_FIELDS)
TOPICS = sorted(webhook_rules.TOPICS)
OPERATORS = sorted(FILTER_OPERATORS) + ["datetime", "like"]
FILTER_VALUES = (SCALARS | st.lists(SCALARS, max_size=4) | st.sampled_from(["2024-01-31", "2024-01-31T12:00:00Z", "new", "1", 1, "acme"])
                 | AT_LIMITS | st.lists(AT_LIMITS, min_size=1, max_size=3))


def filters(resource: str) -> st.SearchStrategy[Any]:
    """Filters of any content: the resource's field names or any text, any operators, any values."""
    names = st.sampled_from(sorted(SEARCHES[resource].fields)) | TEXT
    condition = st.dictionaries(st.sampled_from(OPERATORS) | TEXT, FILTER_VALUES, min_size=1, max_size=3) | FILTER_VALUES
    return st.dictionaries(names, condition, max_size=3) | st.sampled_from([None, [], {}])


def options(resource: str) -> st.SearchStrategy[Any]:
    """Search options of any content."""
    return st.fixed_dictionaries(
        {},
        optional={
            "sort_field": st.sampled_from(sorted(SEARCHES[resource].sort_fields)) | TEXT,
            "sort_dir": st.sampled_from(["asc", "desc", "ASC", "up"]) | TEXT,
            "page": st.integers(-2, 5) | INTS | TEXT,
            "limit": st.integers(-2, 150) | INTS | TEXT,
        },
    ) | st.sampled_from([None, [], {}])


# A value of each kind of filterable field that its filters take.
_OPERAND: dict[Kind, st.SearchStrategy[Any]] = {
    Kind.INTEGER: st.integers(0, 1000) | st.integers(0, 1000).map(str),
    Kind.TEXT: _SHORT | st.sampled_from(["new", "acme", "FZ-A", "ups_03"]),
    Kind.IDENTIFIER: _SHORT | st.sampled_from(["FZ-A", "FZ-B", "PO-1"]),
    Kind.TIMESTAMP: st.sampled_from(["2024-01-31", "2024-01-31T12:00:00Z", "2030-12-31T23:59:59+02:00", "2000-01-01 00:00:00"]),
    Kind.DATE: st.sampled_from(["2024-01-31", "2030-01-01", "2024-01-31T12:00:00Z"]),
    Kind.TEXT_LIST: _SHORT,
}


def _condition(kind: Kind) -> st.SearchStrategy[dict[str, Any]]:
    def operand(op: str) -> st.SearchStrategy[Any]:
        if op in FILTER_NULLS:
            return st.just(True)
        if op in FILTER_LISTS:
            return st.lists(_OPERAND[kind], min_size=1, max_size=3)
        return _OPERAND[kind]

    one = st.sampled_from(sorted(FILTER_ALLOWED[kind])).flatmap(lambda op: operand(op).map(lambda value: {op: value}))
    return st.lists(one, min_size=1, max_size=2).map(lambda parts: {op: value for part in parts for op, value in part.items()})


def valid_filters(resource: str) -> st.SearchStrategy[dict[str, Any]]:
    """Filters the resource's search takes: its fields, each with operators its kind allows
    and operands of that kind."""
    fields = SEARCHES[resource].fields
    pair = st.sampled_from(sorted(fields)).flatmap(lambda name: _condition(fields[name]).map(lambda spec: (name, spec)))
    return st.lists(pair, max_size=2).map(dict)


def valid_options(resource: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={
        "sort_field": st.sampled_from(sorted(SEARCHES[resource].sort_fields)), "sort_dir": st.sampled_from(["asc", "desc"]),
        "page": st.integers(1, 3), "limit": st.integers(1, 100)})


def projection(names: list[str]) -> st.SearchStrategy[Any]:
    return st.lists(st.sampled_from(names + ["*"]) | TEXT, max_size=5) | st.sampled_from(["*", [], None]) | TEXT


def valid_projection(names: list[str]) -> st.SearchStrategy[Any]:
    return st.lists(st.sampled_from(names), max_size=4, unique=True) | st.sampled_from(["*", None])


# ----------------------------------------------------------------- per-method arguments

PRODUCT_HINTS = {
    "name": TEXT,
    "status": st.sampled_from([1, 2, "1", 3]) | AT_LIMITS,
    "weight": st.sampled_from([1, 0.5, "2.25", -1, 0]) | AT_LIMITS,
    "weight_unit": st.sampled_from(["lb", "kg", "oz", "g", "stone"]),
    **{name: st.sampled_from([1, 10.5, "3", -2]) | AT_LIMITS for name in ("length", "width", "height")},
    "customs_value": st.sampled_from([1, 0.01, "12.5", -1]) | AT_LIMITS,
    "dimension_unit": st.sampled_from(["in", "cm", "ft"]),
    "barcode": st.lists(TEXT, max_size=3) | TEXT,
    "goods_type": st.sampled_from(["NORMAL", "normal", "ORMD", "X"]),
    "availability": st.sampled_from([1, 2, 3]) | AT_LIMITS,
    "visibility": st.sampled_from([1, 2, 0]) | AT_LIMITS,
    "customs_value_currency": st.sampled_from(["USD", "usd", "XXX"]),
    "country_of_manufacture": st.sampled_from(["US", "CN", "ZZ"]),
    "hts_country_code": st.sampled_from(["US:1234", [{"country_id": "US", "extension": "12"}], "BH:1000|ZW:1001"]),
    "valid_containers": st.lists(TEXT, max_size=3),
    "unit_qty": st.sampled_from([1, 0, -1, "2"]) | AT_LIMITS,
}
# Values ProductData takes, for product.create and product.update calls that get through: any
# of them, or all at once.
VALID_PRODUCT = {
    "name": _SHORT.filter(str.strip), "status": st.sampled_from([1, 2]), "weight": st.sampled_from([1, 0.5, "2.25", 12]),
    "weight_unit": st.sampled_from(["lb", "kg", "oz", "g"]),
    **{name: st.sampled_from([1, 10.5, "3"]) for name in ("length", "width", "height")},
    "dimension_unit": st.sampled_from(["in", "cm"]), "customs_value": st.sampled_from([1, 0.01, "12.5"]),
    "customs_value_currency": st.just("USD"), "country_of_manufacture": st.sampled_from(["US", "CN"]),
    "barcode": st.lists(st.text(string.digits, min_size=8, max_size=13), min_size=1, max_size=2, unique=True),
    "vendor_sku": _SHORT, "export_description": _SHORT,
}
ITEM = from_model(order_input.ItemInput, {"qty": st.integers(-1, 5) | st.sampled_from(["1", "1.0", 1.5, 10**7]) | AT_LIMITS})
ADDRESS_SHAPE = from_model(order_address.AddressInput, {"country": st.sampled_from(["US", "us", "CA", "DE", "XX"]),
                                                         "country_id": st.sampled_from(["US", "ca", "XX"])})
INFO_SHAPE = from_model(order_input.InfoInput, {"shipping_method": st.sampled_from(["ups_03", "fedex_GROUND", "bad"])})
PRODUCT_DATA = from_model(products.ProductData, PRODUCT_HINTS)
LINE = from_model(shipment_rules.LineInput, {"qty": st.integers(-1, 5) | AT_LIMITS})
PACKAGE = from_model(shipment_rules.PackageInput)


def _unique() -> st.SearchStrategy[str]:
    return st.uuids().map(lambda u: f"FZ{u.hex[:12]}")


def _some_of(values: dict[str, st.SearchStrategy[Any]], base: dict[str, Any] | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """``base`` with any of ``values``' keys added, each with one of its values."""
    return st.fixed_dictionaries({}, optional=values).map(lambda extra: {**(base or {}), **extra})


SeedStrategy = Callable[[Seeds], st.SearchStrategy[Any]]


@dataclass(frozen=True)
class Plan:
    """How to call one method: valid positional arguments (in shape and in content), and per
    parameter a shape (the right structure, any content) where the method's OpenRPC schema
    for it says too little (see ``parameter_shapes``)."""

    valid: Callable[[Seeds], st.SearchStrategy[list[Any]]]
    shapes: dict[str, SeedStrategy] = field(default_factory=dict)


def _sku(seeds: Seeds) -> st.SearchStrategy[Any]:
    return known(seeds.skus + seeds.other_skus, "SKUs") | TEXT | INTS


def _order_id(seeds: Seeds) -> st.SearchStrategy[Any]:
    return known(seeds.order_ids + seeds.other_order_ids, "orders") | TEXT | INTS


def _shipment_id(seeds: Seeds) -> st.SearchStrategy[Any]:
    ids = known(seeds.shipment_ids, "shipments")
    return ids | TEXT | INTS | ids.map(int)


def _webhook_id(seeds: Seeds) -> st.SearchStrategy[Any]:
    ids = known(seeds.webhook_ids, "webhooks")
    return ids | ids.map(str) | INTS | TEXT


def _event_id(seeds: Seeds) -> st.SearchStrategy[Any]:
    return known(seeds.event_ids, "events") | INTS | TEXT


def _items(seeds: Seeds) -> st.SearchStrategy[Any]:
    by_sku = st.dictionaries(known(seeds.skus + seeds.other_skus, "SKUs") | TEXT, st.integers(-1, 3) | WRONG, min_size=1, max_size=3)
    return by_sku | st.lists(ITEM, min_size=1, max_size=3) | st.lists(ITEM.map(lambda i: {**i, "sku": seeds.skus[0]}), min_size=1, max_size=2)


def _valid_items(seeds: Seeds) -> st.SearchStrategy[Any]:
    """Items of the merchant's stocked SKUs (FZ-C has none: backordered), as ShipStream takes
    them: {sku: qty} or a list of {sku, qty}."""
    skus = known(seeds.skus, "SKUs")
    by_sku = st.dictionaries(skus, st.integers(1, 3) | st.integers(1, 3).map(str), min_size=1, max_size=3)
    listed = st.lists(st.fixed_dictionaries({"sku": skus, "qty": st.integers(1, 3)}), min_size=1, max_size=3,
                      unique_by=lambda item: item["sku"])
    return by_sku | listed


# A valid info with most fields given, for changing one of them.
FULL_INFO = {
    **INFO, "order_ref": "PO-1", "note": "a note", "gift_message": "hi", "source": "fuzz", "signature_required": "any",
    "priority": 50, "requested_ship_date": "2030-01-01", "custom_fields": {"color": "red", "n": 1},
    "instructions": [{"note": "fragile", "presentation": "once_per_order"}],
}
# Any of FULL_INFO's fields, as a valid info holds them.
VALID_INFO = _some_of({name: st.just(value) for name, value in FULL_INFO.items() if name != "shipping_method"}, INFO)
VALID_ADDRESS = _some_of({"street2": _SHORT, "phone": st.sampled_from(["555-1234", "+1 212 555 0100"]),
                          "email": st.just("bill@example.com"), "city": st.sampled_from(["Boston", "New York"])}, ADDRESS)


def _address(_: Seeds) -> st.SearchStrategy[Any]:
    return ADDRESS_SHAPE | mutated(ADDRESS) | mutated(ADDRESS, SCALARS) | VALID_ADDRESS


def _info(_: Seeds) -> st.SearchStrategy[Any]:
    return (INFO_SHAPE | mutated(INFO) | mutated(FULL_INFO) | mutated(FULL_INFO, JSON) | INFO_SHAPE.map(lambda info: {**INFO, **info})
            | VALID_INFO)


def _order_args(seeds: Seeds) -> st.SearchStrategy[list[Any]]:
    return st.tuples(
        st.sampled_from([None, "default", ""]),
        _valid_items(seeds),
        VALID_ADDRESS,
        st.tuples(_unique(), VALID_INFO).map(lambda pair: {**pair[1], "unique_id": pair[0]}),
    ).map(list)


def _webhook_data(seeds: Seeds) -> st.SearchStrategy[Any]:
    # Only the sink on 127.0.0.1 or URLs that cannot be reached: the fuzz sends no traffic off
    # this machine (random text never makes a valid http URL with a host).
    urls = st.just(seeds.sink_url) | st.sampled_from(["ftp://127.0.0.1/", "http://", "127.0.0.1", "https:///x", "http://127.0.0.1:0/"]) | TEXT.filter(lambda t: "://" not in t)
    return st.fixed_dictionaries(
        {},
        optional={
            "url": urls,
            "topics": st.lists(st.sampled_from(TOPICS) | TEXT, max_size=4) | st.sampled_from(TOPICS) | TEXT,
            "is_active": st.booleans() | st.sampled_from([0, 1, "1", "maybe"]),
            "extra_headers": st.sampled_from(["X-A: 1", "bad header", "X-A: 1\nX-B: 2"]) | TEXT,
            "secret_key": TEXT,
        },
    )


def _webhook_valid(seeds: Seeds) -> st.SearchStrategy[list[Any]]:
    # Inactive: no deliveries pile up for the sink.
    data = _some_of({"extra_headers": st.sampled_from(["X-A: 1", "X-A: 1\nX-B: 2"]), "secret_key": st.text(string.ascii_letters, min_size=16, max_size=32)},
                    {"url": seeds.sink_url, "is_active": False})
    topics = st.lists(st.sampled_from(TOPICS), min_size=1, max_size=3, unique=True)
    return st.tuples(data, topics).map(lambda pair: [{**pair[0], "topics": pair[1]}])


def _lines(seeds: Seeds) -> st.SearchStrategy[Any]:
    return st.lists(LINE, min_size=1, max_size=3) | st.dictionaries(known(seeds.skus, "SKUs") | TEXT, st.integers(-1, 3), max_size=2) | st.none()


PACKED = st.fixed_dictionaries({"weight": st.sampled_from([1, 2.5, "0.5"]), "tracking_numbers": st.lists(
    st.text(string.ascii_uppercase + string.digits, min_size=6, max_size=18), min_size=1, max_size=2)})


def _packages(_: Seeds) -> st.SearchStrategy[Any]:
    return st.lists(PACKAGE, min_size=1, max_size=2) | PACKAGE | st.lists(PACKED, min_size=1, max_size=2)


def _cancel_options(_: Seeds) -> st.SearchStrategy[Any]:
    flags = st.sampled_from(["backordered_items", "unfulfilled_items", "all_items", "cancellation_request"]) | TEXT
    return st.dictionaries(flags, st.booleans() | WRONG, max_size=3) | st.fixed_dictionaries(
        {"items": st.lists(LINE | ITEM | JSON, max_size=3)}
    )


def _bulk_orders(seeds: Seeds) -> st.SearchStrategy[Any]:
    one = _order_args(seeds) | _order_args(seeds).flatmap(mutated) | st.fixed_dictionaries(
        {"items": _items(seeds), "address": _address(seeds), "info": _info(seeds)}
    ) | JSON
    return st.lists(one, min_size=1, max_size=3) | st.dictionaries(TEXT, one, min_size=1, max_size=3)


_STATE_KEY = st.sampled_from(["lock", "last_sync_at", "p_lock"]) | _SHORT.filter(bool)


def _just(*values: Any) -> Callable[[Seeds], st.SearchStrategy[list[Any]]]:
    return lambda seeds: st.just(list(values))


def _k(strategy: st.SearchStrategy[Any]) -> SeedStrategy:
    return lambda seeds: strategy


def _search(resource: str, *more: st.SearchStrategy[Any]) -> Callable[[Seeds], st.SearchStrategy[list[Any]]]:
    """Valid arguments of a search: filters and options it takes (and ``more``: its projection)."""
    return _k(st.tuples(valid_filters(resource), valid_options(resource), *more).map(list))


def _search_shapes(resource: str, fields: list[str] | None = None) -> dict[str, SeedStrategy]:
    shapes = {"filters": _k(filters(resource)), "options": _k(options(resource))}
    return shapes if fields is None else {**shapes, "fields": _k(projection(fields))}


def _one(ids: SeedStrategy) -> Callable[[Seeds], st.SearchStrategy[list[Any]]]:
    """Valid arguments of a method taking one id: a seeded one."""
    return lambda seeds: ids(seeds).map(lambda value: [value])


def _own_order(seeds: Seeds) -> st.SearchStrategy[str]:
    return known(seeds.order_ids, "orders")


def _own_shipment(seeds: Seeds) -> st.SearchStrategy[str]:
    return known(seeds.shipment_ids, "shipments")


def _own_webhook(seeds: Seeds) -> st.SearchStrategy[int]:
    return known(seeds.webhook_ids, "webhooks")


PLANS: dict[str, Plan] = {
    "store.list": Plan(_just()),
    "warehouse.list": Plan(_just()),
    "rpc.discover": Plan(_just()),
    "webhook.list": Plan(_just()),
    "product.search": Plan(_search("product"), _search_shapes("product")),
    "product.info": Plan(lambda s: known(s.skus, "SKUs").map(lambda sku: [sku]), {"sku": _sku}),
    "product.create": Plan(
        lambda s: st.tuples(_unique(), _some_of(VALID_PRODUCT, {"name": "Fuzz product"}) | st.fixed_dictionaries(VALID_PRODUCT)).map(list),
        {"sku": _sku, "data": _k(PRODUCT_DATA)},
    ),
    "product.update": Plan(
        lambda s: st.tuples(known(s.skus, "SKUs"), _some_of(VALID_PRODUCT) | st.fixed_dictionaries(VALID_PRODUCT)).map(list),
        {"sku": _sku, "data": _k(PRODUCT_DATA)},
    ),
    "inventory.list": Plan(
        lambda s: st.tuples(st.lists(known(s.skus, "SKUs"), max_size=3, unique=True) | st.none(), st.sampled_from([1, None]),
                            st.sampled_from([None, "2024-01-01", "2024-01-01T00:00:00Z"])).map(list),
        {"skus": lambda s: st.lists(_sku(s), max_size=3) | _sku(s), "warehouseId": _k(INTS | TEXT),
         "updatedSince": _k(st.sampled_from(["2024-01-01", "2024-01-01T00:00:00Z", "yesterday", "2024-13-45"]) | TEXT | AT_LIMITS)},
    ),
    "inventory.adjust": Plan(
        lambda s: st.tuples(known(s.skus, "SKUs"), st.just(1), st.integers(1, 3), _SHORT).map(list),
        {"sku": _sku, "warehouse_id": _k(st.sampled_from([1, 2, 0, -1, "1"]) | INTS), "qty_delta": _k(st.integers(-5, 5) | INTS | TEXT),
         "reason": _k(TEXT)},
    ),
    "stock_movement.list": Plan(_search("stock_movement"), _search_shapes("stock_movement")),
    "order.create": Plan(
        _order_args,
        {"storeCode": _k(st.sampled_from([None, "default", "nope", ""]) | TEXT), "items": _items, "address": _address,
         "info": _info, "flags": _k(st.fixed_dictionaries({}, optional={"unique_order_ref": st.sampled_from([True, False, "-3 days", "soon"]) | WRONG}))},
    ),
    "order.bulk_create": Plan(lambda s: st.lists(_order_args(s), min_size=1, max_size=3).map(lambda orders: [orders]),
                              {"orders": _bulk_orders}),
    "order.info": Plan(
        lambda s: st.tuples(_own_order(s), valid_projection(ORDER_FIELDS)).map(list),
        {"orderUniqueId": _order_id, "fields": _k(projection(ORDER_FIELDS))},
    ),
    "order.search": Plan(_search("order", valid_projection(ORDER_FIELDS)), _search_shapes("order", ORDER_FIELDS)),
    "order.edit": Plan(
        lambda s: st.tuples(_own_order(s), st.just({}) | VALID_ADDRESS, st.just({}) | VALID_INFO.map(
            lambda info: {k: v for k, v in info.items() if k not in ("shipping_method", "unique_id")})).map(list),
        {"orderUniqueId": _order_id, "address": _address, "info": _info, "customFields": _k(st.dictionaries(TEXT, SCALARS, max_size=3))},
    ),
    "order.comment": Plan(
        lambda s: st.tuples(_own_order(s), _SHORT.filter(str.strip)).map(list),
        {"orderUniqueId": _order_id, "comment": _k(TEXT)},
    ),
    "order.hold": Plan(_one(_own_order), {"orderUniqueId": _order_id}),
    "order.unhold": Plan(_one(_own_order), {"orderUniqueId": _order_id}),
    "order.cancel": Plan(
        lambda s: st.tuples(_own_order(s), st.sampled_from([{"unfulfilled_items": True}, {"cancellation_request": True}])).map(list),
        {"orderUniqueId": _order_id, "options": _cancel_options, "fields": _k(projection(ORDER_FIELDS))},
    ),
    "shipment.create": Plan(_one(_own_order), {"order_unique_id": _order_id, "items": _lines,
                                               "warehouse_id": _k(st.sampled_from([1, None, 0, "1"]) | INTS)}),
    "shipment.pack": Plan(
        lambda s: st.tuples(_own_shipment(s), st.lists(PACKED, min_size=1, max_size=2)).map(list),
        {"shipment_id": _shipment_id, "packages": _packages},
    ),
    "shipment.ship": Plan(_one(_own_shipment), {"shipment_id": _shipment_id}),
    "shipment.deliver": Plan(_one(_own_shipment), {"shipment_id": _shipment_id}),
    "shipment.cancel": Plan(_one(_own_shipment), {"shipment_id": _shipment_id}),
    "shipment.void_labels": Plan(_one(_own_shipment), {"shipment_id": _shipment_id}),
    "shipment.info": Plan(_one(_own_shipment), {"shipment_id": _shipment_id}),
    "shipment.update": Plan(
        lambda s: st.tuples(_own_shipment(s), st.fixed_dictionaries({"source": st.none() | _SHORT | st.just("magento:1")})).map(list),
        {"shipment_id": _shipment_id, "data": _k(st.fixed_dictionaries({}, optional={"source": SCALARS, "status": SCALARS})),
         "customFields": _k(JSON)},
    ),
    "shipment.search": Plan(_search("shipment", valid_projection(SHIPMENT_FIELDS)), _search_shapes("shipment", SHIPMENT_FIELDS)),
    "webhook.create": Plan(_webhook_valid, {"data": _webhook_data}),
    "webhook.update_status": Plan(
        lambda s: st.tuples(_own_webhook(s) | st.sampled_from(TOPICS), st.sampled_from([0, False, "0"])).map(list),
        {"topic": lambda s: _webhook_id(s) | st.sampled_from(TOPICS) | st.fixed_dictionaries(
            {}, optional={"topic": st.sampled_from(TOPICS) | TEXT, "webhook_id": _webhook_id(s), "status": SCALARS}),
         "status": _k(st.sampled_from([0, 1, True, False, "active", 2]) | WRONG)},
    ),
    "webhook.delete": Plan(_one(_own_webhook), {"webhook_id": _webhook_id}),
    "webhook.deliveries": Plan(
        lambda s: st.tuples(_own_webhook(s), valid_filters("delivery"), valid_options("delivery")).map(list),
        {"webhook_id": _webhook_id, **_search_shapes("delivery")},
    ),
    "webhook.replay": Plan(
        lambda s: st.tuples(known(s.event_ids, "events"), _own_webhook(s) | st.none()).map(list),
        {"event_id": _event_id, "webhook_id": _webhook_id},
    ),
    "webhook.test": Plan(_one(_own_webhook), {"webhook_id": _webhook_id}),
    "event.list": Plan(
        lambda s: st.tuples(known(s.event_ids, "events") | st.none(), st.integers(1, 20)).map(list),
        {"after_id": _event_id, "limit": _k(st.integers(-1, 2000) | INTS | TEXT)},
    ),
    "state.get": Plan(
        _k(st.tuples(_STATE_KEY | st.lists(_STATE_KEY, min_size=1, max_size=3), st.booleans()).map(list)),
        {"keys": _k(_STATE_KEY | st.lists(_STATE_KEY | JSON, max_size=3) | WRONG), "detailed": _k(SCALARS)},
    ),
    "state.set": Plan(
        _k(st.tuples(_STATE_KEY, JSON, st.none() | _STATE_KEY).map(list)
           | st.dictionaries(_STATE_KEY, JSON, min_size=1, max_size=3).map(lambda pairs: [pairs])),
        {"keys": _k(_STATE_KEY | st.dictionaries(TEXT, JSON, max_size=3) | WRONG), "data": _k(JSON),
         "ifEquals": _k(SCALARS | JSON)},
    ),
    "log.write": Plan(
        _k(st.fixed_dictionaries({"message": _SHORT.filter(str.strip)}, optional={
            "severity": st.sampled_from(["debug", "info", "warn", "error"]), "facility": _SHORT, "entity": _SHORT,
            "detail": TEXT, "store_id": st.none() | st.integers(1, 3)}).map(lambda data: [data])),
        {"logData": _k(st.dictionaries(st.sampled_from(["message", "severity", "facility", "entity", "detail",
                                                         "store_id", "other"]), SCALARS, max_size=6) | WRONG)},
    ),
}

# Shapes by parameter name, shared by the plans: the seeded ids they name.
BY_NAME: dict[str, SeedStrategy] = {
    "sku": _sku, "orderUniqueId": _order_id, "order_unique_id": _order_id, "shipment_id": _shipment_id,
    "webhook_id": _webhook_id, "event_id": _event_id,
}
GENERIC: set[str] = set()  # methods fuzzed without a plan (reported in the figures; a test fails on them)


def _document_parameters() -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Each method's parameter schemas in the OpenRPC document (what ``/openrpc.json`` serves),
    and the document's shared schemas."""
    document = api_document()
    params = {method["name"]: {param["name"]: param["schema"] for param in method["params"]} for method in document["methods"]}
    return params, document["components"]["schemas"]


DOCUMENTED, DOCUMENTED_SCHEMAS = _document_parameters()


def parameter_shapes(path: str, seeds: Seeds) -> dict[str, st.SearchStrategy[Any]]:
    """A shape for each parameter of ``path``: the plan's, else the one ``BY_NAME`` has for
    its name, else one built from its schema in the OpenRPC document. A plan's shape for a
    parameter the method does not have is an error, and so is a parameter the document lacks."""
    names = [parameter.name for parameter in METHODS[path].parameters]
    plan = PLANS.get(path, Plan(_just()))
    stale = sorted(set(plan.shapes) - set(names))
    if stale:
        raise LookupError(f"the fuzz plan of {path} has shapes for {stale}, which {path} does not take (it takes {names})")
    shapes = {}
    for name in names:
        if name in plan.shapes:
            shapes[name] = plan.shapes[name](seeds)
        elif name in BY_NAME:
            shapes[name] = BY_NAME[name](seeds)
        else:
            shapes[name] = from_schema(DOCUMENTED[path][name], DOCUMENTED_SCHEMAS)
    return shapes


def _checked_arity(path: str, count: int) -> Callable[[list[Any]], list[Any]]:
    def check(args: list[Any]) -> list[Any]:
        if len(args) > count:
            raise LookupError(f"the fuzz plan of {path} gives {len(args)} arguments, the method takes {count}")
        return args

    return check


def call_arguments(path: str, seeds: Seeds) -> st.SearchStrategy[Any]:
    """The ``args`` of ``call(session, path, args)``: mostly valid in shape and in content (a
    valid call, or one with a parameter's value of the right shape and any content, or by
    name), the rest a valid call with one wrong-typed value, an unknown key, surplus
    arguments, no arguments, or any JSON."""
    plan = PLANS.get(path)
    if plan is None:
        GENERIC.add(path)
        plan = Plan(_just())
    parameters = [parameter.name for parameter in METHODS[path].parameters]
    shapes = parameter_shapes(path, seeds)
    valid = plan.valid(seeds).map(_checked_arity(path, len(parameters)))
    shaped = st.tuples(*(shapes[name] for name in parameters)).map(list) if parameters else st.just([])

    @st.composite
    def one_value_changed(draw: Any, values: Callable[[str], st.SearchStrategy[Any]]) -> list[Any]:
        args = draw(valid)
        if not parameters:
            return args
        args = args + [None] * (len(parameters) - len(args))
        index = draw(st.integers(0, len(parameters) - 1))
        args[index] = draw(values(parameters[index]))
        return args

    @st.composite
    def named(draw: Any, args: st.SearchStrategy[list[Any]], changed: bool) -> dict[str, Any]:
        values = dict(zip(parameters, draw(args)))
        return draw(mutated(values)) if values and changed else values

    return weighted(
        (5, valid), (2, one_value_changed(lambda name: shapes[name])), (1, named(valid, False)),
        (1, one_value_changed(lambda name: WRONG)),
        (1, valid.flatmap(lambda args: mutated(args))),
        (1, shaped | named(shaped, True)),
        (1, valid.map(lambda args: args + [None, "surplus"]) | st.just(ABSENT) | WRONG),
    )


ABSENT: Any = object()
