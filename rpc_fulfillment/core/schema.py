"""JSON Schema building blocks for the API description (core/api.py's Doc and Arg): the
shapes every resource shares, and the search filters and options generated from the same
field tables the parsers check against."""

from __future__ import annotations

from typing import Any, Mapping

from rpc_fulfillment.core.api import Arg, Doc, Schema
from rpc_fulfillment.core.filters import ALLOWED, DEFAULT_LIMIT, MAX_LIMIT, MAX_LIST, Kind, Search

STRING = {"type": "string"}
BOOLEAN = {"type": "boolean"}
INTEGER = {"type": "integer"}
FLAG = {"enum": [0, 1], "description": "1 (yes) or 0 (no)"}
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
    Kind.IDENTIFIER: {"type": ["string", "number"], "description": "compared in Unicode NFC, as identifiers are stored"},
    Kind.TIMESTAMP: {"type": "string", "description": "a date (2024-01-31: that whole day, UTC) or an ISO 8601 date-time"},
    Kind.DATE: {"type": "string", "description": "a date such as 2024-01-31"},
    Kind.TEXT_LIST: {"type": ["string", "number"], "description": "matches when any of the values is this"},
}


def filters_schema(fields: Mapping[str, Kind]) -> dict[str, Any]:
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


def options_schema(sort_fields: frozenset[str] | set[str], default_sort: str) -> dict[str, Any]:
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


def search_args(search: Search) -> dict[str, Arg]:
    """The ``filters`` and ``options`` arguments of a search method."""
    return {"filters": Arg(filters_schema(search.fields)),
            "options": Arg(options_schema(search.sort_fields, search.default_sort))}


def search_doc(summary: str, search: Search, result: Schema, *, fields: Arg | None = None,
               description: str = "") -> Doc:
    """The declaration of a search method: ``filters``, ``options`` (and ``fields`` when it
    selects properties) in, ``result`` out, the search's fault for bad ones."""
    args = {**search_args(search), **({"fields": fields} if fields is not None else {})}
    return Doc(summary, result, args, (search.fault,), description)


def paginated_schema(item: Schema) -> dict[str, Any]:
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


WIRE_ERROR = obj(
    {"error": obj({"code": INTEGER, "message": STRING, "data": {}}, required=("code", "message"))},
    required=("error",),
)
