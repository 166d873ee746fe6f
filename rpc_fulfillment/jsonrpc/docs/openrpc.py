"""The OpenRPC 1.3 document of the API, built from the live tables.

- which methods exist, who may call them and their parameters (names, order, required or
  not, defaults): the method table and the top-level methods (jsonrpc/dispatch.py, which
  passes them in), with the parameters ``registry.parameters_of`` reads from the functions'
  signatures exactly as ``call`` binds arguments;
- summaries, argument and result schemas, the faults each method raises: the Doc of each
  method's ``@api_method`` declaration and ``top_level_docs`` (argument schemas generated from
  the pydantic models that validate them, collected under ``components.schemas``);
- fault codes and messages: ``core.faults.FAULTS``;
- the order lifecycle (extension ``x-order-lifecycle``): ``fulfillment.states``.

Reached as the top-level JSON-RPC method ``rpc.discover`` (no session), as
``call(session, "rpc.discover")`` and as ``GET /openrpc.json``. ``GET /docs`` renders it.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import orjson
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from rpc_fulfillment import __version__
from rpc_fulfillment.core.faults import FAULTS
from rpc_fulfillment.fulfillment.states import ACTIONS, BY_ALLOCATION, BY_FULFILLMENT, RULES, SAME, STATUS_LABELS, STATUSES_BY_STATE, UNCHANGED
from rpc_fulfillment.core.api import Doc
from rpc_fulfillment.core.context import REQUIRED
from rpc_fulfillment.jsonrpc.registry import ApiMethod, Handler, Parameter, parameters_of
from rpc_fulfillment.jsonrpc.top_level_docs import TOP_LEVEL_DESCRIPTIONS

OPENRPC_VERSION = "1.3.2"
ENDPOINT = "/api/jsonrpc"
REF_PREFIX = "#/components/schemas/"
# Faults any method may answer: a bug, and the database being unreachable (HTTP 503).
SERVER_FAULTS = ("internal", "unavailable")
# call's own faults, added to every resource.method (required_parameter only when the method
# has a required parameter).
CALL_FAULTS = (*SERVER_FAULTS, "access_denied", "session_expired", "request_timeout")
TOP_LEVEL_TAG = "top-level"
NOT_DESCRIBED = "Not described yet: give its @api_method declaration a Doc (core/api.py)."

INTRODUCTION = (
    "ShipStream's Merchant API over JSON-RPC 2.0. POST requests to /api/jsonrpc. Log in with "
    "login(username, api_key) for a session id, then call(session, \"resource.method\", args); "
    "multiCall(session, [[\"resource.method\", args], ...], {\"break\": true}) runs several; "
    "endSession(session) ends it. A null session with HTTP Basic credentials logs in for one "
    "request.\n\n"
    "Methods whose x-invocation is \"call\" (every resource.method) are not JSON-RPC methods of "
    "their own: they are reached through call or multiCall, and their params are call's args. "
    "An array of args is spread positionally, an object passes named arguments, any other value "
    "(or null) is the single argument, and absent args means none.\n\n"
    "Faults: ShipStream fault N is sent as JSON-RPC error code -(32000 + N) with ShipStream's "
    "exact message over HTTP 200. Where the message reads \"Details in error message\", the "
    "message on the wire is the detail itself (which field, which SKU, which status); otherwise "
    "the message is fixed and the detail is in the error's data. Protocol errors use the JSON-RPC "
    "2.0 codes -32700, -32600, -32601 and -32602. Fault numbers are per resource: 102 on an "
    "order method is not 102 on a webhook method; each method lists its own. x-roles lists the "
    "API user roles that may call a method (admin may call every method)."
)


# ------------------------------------------------------------------------------ schemas

_SUBSCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions")
_SUBSCHEMA_LISTS = ("anyOf", "allOf", "oneOf", "prefixItems")
_SUBSCHEMAS = ("items", "additionalProperties", "additionalItems", "not", "contains", "propertyNames", "if", "then", "else")
# pydantic writes some constraints under their Python names where it cannot fold them into a
# type (an int with a BeforeValidator); JSON Schema's names for them:
_NUMERIC_KEYWORDS = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum"}


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _models_in(spec: Any, found: dict[type[BaseModel], None]) -> None:
    if _is_model(spec):
        found[spec] = None
    elif isinstance(spec, Mapping):
        for value in spec.values():
            _models_in(value, found)
    elif isinstance(spec, (list, tuple)):
        for value in spec:
            _models_in(value, found)


def _substitute(spec: Any, refs: Mapping[type[BaseModel], dict[str, Any]]) -> Any:
    """The spec as plain JSON Schema: each model class becomes its $ref."""
    if _is_model(spec):
        return dict(refs[spec])
    if isinstance(spec, Mapping):
        return {key: _substitute(value, refs) for key, value in spec.items()}
    if isinstance(spec, (list, tuple)):
        return [_substitute(value, refs) for value in spec]
    return spec


def draft7(schema: Any) -> Any:
    """pydantic's JSON Schema (2020-12) in draft 7, which OpenRPC uses: prefixItems becomes an
    items array, and constraints written under Python names get their JSON Schema names."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _SUBSCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: draft7(sub) for name, sub in value.items()}
        elif key in _SUBSCHEMA_LISTS and isinstance(value, list):
            out[key] = [draft7(sub) for sub in value]
        elif key in _SUBSCHEMAS:
            out[key] = [draft7(sub) for sub in value] if isinstance(value, list) else draft7(value)
        elif key in _NUMERIC_KEYWORDS and isinstance(value, (int, float)) and not isinstance(value, bool):
            out[_NUMERIC_KEYWORDS[key]] = value
        else:
            out[key] = value
    if "prefixItems" in out:
        tuple_items = out.pop("prefixItems")
        rest = out.pop("items", None)
        out["items"] = tuple_items
        out["additionalItems"] = rest if rest is not None else False
    return out


class _Schemas:
    """Turns description specs into JSON Schema, the models they name into components."""

    def __init__(self, specs: Iterable[Any]) -> None:
        found: dict[type[BaseModel], None] = {}
        for spec in specs:
            _models_in(spec, found)
        if found:
            keys, top = models_json_schema(
                [(model, "validation") for model in found], ref_template=REF_PREFIX + "{model}"
            )
            self.refs = {model: keys[(model, "validation")] for model in found}
            self.components = {name: draft7(schema) for name, schema in top.get("$defs", {}).items()}
        else:
            self.refs, self.components = {}, {}

    def __call__(self, spec: Any) -> Any:
        return draft7(_substitute(spec, self.refs))


# ------------------------------------------------------------------------------ methods

def _json_default(value: Any) -> tuple[bool, Any]:
    """(True, value) when a Python default can be shown as a JSON default."""
    if value is None or value is REQUIRED:
        return False, None
    try:
        orjson.dumps(value)
    except TypeError:
        return False, None
    return True, value


def _content_descriptor(name: str, required: bool, default: Any, doc: Doc | None, schemas: _Schemas) -> dict[str, Any]:
    arg = doc.args.get(name) if doc is not None else None
    schema = schemas(arg.schema) if arg is not None else {}
    has_default, value = _json_default(default)
    if has_default and not required and isinstance(schema, dict):
        schema = {**schema, "default": value}
    descriptor: dict[str, Any] = {"name": name, "required": required, "schema": schema}
    description = arg.description if arg is not None else "Not described: type unknown."
    if description:
        descriptor["description"] = description
    return descriptor


def _errors(names: Iterable[str]) -> list[dict[str, Any]]:
    errors, seen = [], set()
    for name in names:
        if name in seen:
            continue
        seen.add(name)
        spec = FAULTS[name]
        errors.append({"code": spec.wire_code, "message": spec.message})
    return errors


def _method(name: str, parameters: tuple[Parameter, ...], doc: Doc | None, schemas: _Schemas,
            *, invocation: str, faults: Iterable[str], extra: Mapping[str, Any]) -> dict[str, Any]:
    method: dict[str, Any] = {
        "name": name,
        "summary": doc.summary if doc is not None else NOT_DESCRIBED,
        "tags": [{"name": name.split(".")[0] if invocation == "call" else TOP_LEVEL_TAG}],
        "paramStructure": "either",
        "params": [_content_descriptor(p.name, p.required, p.default, doc, schemas) for p in parameters],
        "result": {"name": "result", "schema": schemas(doc.result) if doc is not None else {}},
        "errors": _errors(faults),
        "x-invocation": invocation,
        **extra,
    }
    if doc is not None and doc.description:
        method["description"] = doc.description
    if doc is not None and doc.result_description:
        method["result"]["description"] = doc.result_description
    return method


# ---------------------------------------------------------------------------- lifecycle

def lifecycle() -> dict[str, Any]:
    """domain.states as data for the document: the states, their statuses, and each rule."""

    def target(value: str) -> str:
        return value

    return {
        "description": (
            "An order is in one state and has one of that state's statuses. Each rule says from which "
            f"state/status pairs an action may start and where it leads; {SAME} keeps the state, "
            f"{UNCHANGED} changes nothing, {BY_ALLOCATION} is new/partial_backorder/backordered (or "
            f"processing/partial_backorder) from what is reserved, {BY_FULFILLMENT} is complete once every "
            "remaining unit is packed, processing while shipments are open. Canceling or shipping every "
            "remaining unit ends in canceled or complete."
        ),
        "states": [
            {"state": state, "statuses": [{"status": status, "label": STATUS_LABELS.get(status, status)} for status in statuses]}
            for state, statuses in STATUSES_BY_STATE.items()
        ],
        "actions": list(ACTIONS),
        "rules": [
            {
                "action": rule.action,
                "from": [{"state": state, "status": status} for state, status in sorted(rule.from_)],
                "to_state": target(rule.to_state),
                "to_status": target(rule.to_status),
                "description": rule.description,
            }
            for rule in RULES
        ],
    }


# ----------------------------------------------------------------------------- document

def build_document(top_level: Mapping[str, Handler], methods: Mapping[str, ApiMethod]) -> dict[str, Any]:
    """The document of these top-level functions and this method table."""
    top_docs = TOP_LEVEL_DESCRIPTIONS
    # A name that is both (rpc.discover) is listed once, as the top-level method.
    methods = {path: method for path, method in methods.items() if path not in top_level}
    docs = [top_docs.get(name) for name in top_level] + [method.declaration.doc for method in methods.values()]
    specs: list[Any] = []
    for doc in docs:
        if doc is not None:
            specs.append(doc.result)
            specs.extend(arg.schema for arg in doc.args.values())
    schemas = _Schemas(specs)

    entries = []
    for name, function in top_level.items():
        doc = top_docs.get(name)
        faults = (*(doc.faults if doc is not None else ()), *SERVER_FAULTS)
        entries.append(_method(name, parameters_of(function), doc, schemas, invocation="direct", faults=faults, extra={}))
    for path, method in methods.items():
        doc = method.declaration.doc
        faults = (*(doc.faults if doc is not None else ()), *CALL_FAULTS)
        if any(p.required for p in method.parameters):
            faults = (*faults, "required_parameter")
        entries.append(_method(path, method.parameters, doc, schemas, invocation="call", faults=faults,
                               extra={"x-roles": sorted(method.roles)}))

    return {
        "openrpc": OPENRPC_VERSION,
        "info": {
            "title": "rpc-fulfillment Merchant API",
            "version": __version__,
            "description": INTRODUCTION,
            "license": {"name": "MIT"},
        },
        "servers": [{"name": "JSON-RPC endpoint", "url": ENDPOINT}],
        "methods": entries,
        "components": {"schemas": schemas.components},
        "x-order-lifecycle": lifecycle(),
    }


_cache: dict[str, Any] = {}


def _fingerprint(top_level: Mapping[str, Handler], methods: Mapping[str, ApiMethod]) -> tuple[Any, ...]:
    """Changes when a method is registered or replaced (tests patch the table)."""
    return tuple((name, id(function)) for name, function in top_level.items()) + tuple(
        (path, id(method)) for path, method in methods.items()
    )


def document(top_level: Mapping[str, Handler], methods: Mapping[str, ApiMethod]) -> dict[str, Any]:
    """The document for these live tables, built once per table. Do not modify it."""
    key = _fingerprint(top_level, methods)
    if _cache.get("key") != key:
        built = build_document(top_level, methods)
        _cache.update(key=key, document=built, json=orjson.dumps(built))
    return _cache["document"]


def document_json(top_level: Mapping[str, Handler], methods: Mapping[str, ApiMethod]) -> bytes:
    document(top_level, methods)
    return _cache["json"]
