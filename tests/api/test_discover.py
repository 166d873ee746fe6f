"""rpc.discover: the OpenRPC document, checked against the OpenRPC 1.3 meta-schema (vendored
in openrpc_meta/), against the live method table (no method missing, none extra, parameters
as the functions take them, roles as the registry gives them) and against the fault table.

A method declared with ``@api_method`` but without a Doc (core/api.py), or with a Doc that does
not match its parameters, fails ``test_every_registered_method_is_described``, which says what
to add.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Iterator

import orjson
import pytest
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from rpc_fulfillment.core.faults import FAULTS
from rpc_fulfillment.fulfillment.address import AddressInput
from rpc_fulfillment.orders.input import InfoInput, ItemInput
from rpc_fulfillment.core.api import Arg, Doc
from rpc_fulfillment.jsonrpc import dispatch as methods
from rpc_fulfillment.jsonrpc.docs import openrpc
from rpc_fulfillment.jsonrpc import registry
from rpc_fulfillment.jsonrpc.top_level_docs import TOP_LEVEL_DESCRIPTIONS

META = Path(__file__).parent / "openrpc_meta"
OPENRPC_META = json.loads((META / "openrpc-meta-schema-1.14.9.json").read_text("utf-8"))
JSON_SCHEMA_META = json.loads((META / "json-schema-tools-meta-schema-1.8.0.json").read_text("utf-8"))

# Draft 7 keywords (validation and annotations) and the few others a schema here may carry.
KNOWN_KEYWORDS = {
    "$id", "$schema", "$ref", "$comment", "title", "description", "default", "readOnly", "writeOnly", "examples",
    "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern",
    "additionalItems", "items", "maxItems", "minItems", "uniqueItems", "contains", "maxProperties", "minProperties",
    "required", "additionalProperties", "definitions", "properties", "patternProperties", "dependencies",
    "propertyNames", "const", "enum", "type", "format", "contentMediaType", "contentEncoding", "if", "then", "else",
    "allOf", "anyOf", "oneOf", "not",
}


def meta_validator() -> Draft7Validator:
    json_schema = Resource.from_contents(JSON_SCHEMA_META, default_specification=DRAFT7)
    resources = Registry().with_resources([
        ("https://meta.json-schema.tools", json_schema),
        ("https://meta.json-schema.tools/", json_schema),
        ("https://meta.open-rpc.org/", Resource.from_contents(OPENRPC_META, default_specification=DRAFT7)),
    ])
    return Draft7Validator(OPENRPC_META, registry=resources)


def meta_errors(document: dict[str, Any]) -> list[str]:
    return sorted(f"{'/'.join(map(str, error.absolute_path))}: {error.message[:200]}"
                  for error in meta_validator().iter_errors(document))


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openrpc.build_document(methods.TOP_LEVEL, methods.METHODS)


def by_name(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {method["name"]: method for method in document["methods"]}


def schemas_of(document: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for method in document["methods"]:
        for param in method["params"]:
            yield f"{method['name']}({param['name']})", param["schema"]
        yield f"{method['name']} result", method["result"]["schema"]
    for name, schema in document["components"]["schemas"].items():
        yield f"components.schemas.{name}", schema


def subschemas(schema: Any) -> Iterator[dict[str, Any]]:
    """Every schema object inside ``schema`` (walking only schema positions, not property names)."""
    if not isinstance(schema, dict):
        return
    yield schema
    for key in ("properties", "patternProperties", "definitions"):
        for sub in schema.get(key, {}).values():
            yield from subschemas(sub)
    for key in ("anyOf", "allOf", "oneOf"):
        for sub in schema.get(key, []):
            yield from subschemas(sub)
    for key in ("items", "additionalProperties", "additionalItems", "not", "contains", "propertyNames", "if", "then", "else"):
        value = schema.get(key)
        for sub in value if isinstance(value, list) else [value]:
            yield from subschemas(sub)


def validator_for(schema: Any, document: dict[str, Any]) -> Draft7Validator:
    """A validator for one schema of the document, its #/components/... refs resolvable."""
    return Draft7Validator({**schema, "components": document["components"]} if isinstance(schema, dict) else schema)


# ------------------------------------------------------------------------ the meta-schema


def test_the_document_is_valid_openrpc_1_3(document):
    assert document["openrpc"].startswith("1.3.")
    assert meta_errors(document) == []
    # what is served is the same document, through JSON
    assert meta_errors(orjson.loads(methods.api_document_json())) == []


@pytest.mark.parametrize("breakage", [
    lambda d: d.pop("info"),
    lambda d: d.update(openrpc="9.9.9"),
    lambda d: d["methods"][0].pop("params"),
    lambda d: d["methods"][-1]["errors"].append({"code": "-32100", "message": "x"}),
    lambda d: d["methods"][-1]["params"].append({"name": "x"}),
    lambda d: d["methods"][-1].update(roles=["admin"]),  # extensions must start with x-
])
def test_the_meta_schema_check_catches_a_broken_document(document, breakage):
    broken = copy.deepcopy(document)
    breakage(broken)
    assert meta_errors(broken) != []


def test_every_schema_is_draft_7_with_known_keywords_and_resolvable_refs(document):
    components = document["components"]["schemas"]
    problems = []
    for where, schema in schemas_of(document):
        try:
            Draft7Validator.check_schema(schema)
        except Exception as exc:  # jsonschema.SchemaError
            problems.append(f"{where}: {exc}")
        for sub in subschemas(schema):
            unknown = set(sub) - KNOWN_KEYWORDS
            if unknown:
                problems.append(f"{where}: unknown keyword(s) {sorted(unknown)}")
            ref = sub.get("$ref")
            if ref is not None and not (ref.startswith(openrpc.REF_PREFIX) and ref[len(openrpc.REF_PREFIX):] in components):
                problems.append(f"{where}: $ref {ref} does not resolve")
    assert problems == []


def test_draft7_renames_pydantic_constraints_only_where_they_are_keywords():
    schema = {"type": "object", "properties": {"gt": {"type": "integer", "gt": 0}, "le": {"le": 5}},
              "anyOf": [{"ge": 1}], "prefixItems": [{"lt": 2}]}
    assert openrpc.draft7(schema) == {
        "type": "object", "properties": {"gt": {"type": "integer", "exclusiveMinimum": 0}, "le": {"maximum": 5}},
        "anyOf": [{"minimum": 1}], "items": [{"exclusiveMaximum": 2}], "additionalItems": False,
    }


# ------------------------------------------------------------------ the live method table


def description_problems(methods_table: dict[str, registry.ApiMethod]) -> list[str]:
    """What is wrong with the methods' Docs, as instructions."""
    problems = []
    for path, method in methods_table.items():
        doc = method.declaration.doc
        if doc is None:
            problems.append(f"{path} is declared without a Doc: give its @api_method one (summary, args, result, faults)")
            continue
        taken = [p.name for p in method.parameters]
        described = list(doc.args)
        if set(taken) != set(described):
            problems.append(f"{path}: the function takes {taken}, the description has {described}")
        problems += [f"{path}: fault {name!r} is not in core/faults.py FAULTS" for name in doc.faults if name not in FAULTS]
    return problems


def resource_methods() -> dict[str, registry.ApiMethod]:
    """METHODS less the names that are also top-level methods (rpc.discover), which the
    top-level entry describes."""
    return {path: method for path, method in methods.METHODS.items() if path not in methods.TOP_LEVEL}


def test_every_registered_method_is_described():
    assert description_problems(resource_methods()) == []


def test_rpc_discover_is_both_and_described_once():
    assert "rpc.discover" in methods.METHODS and "rpc.discover" in methods.TOP_LEVEL
    assert methods.METHODS["rpc.discover"].declaration.doc is TOP_LEVEL_DESCRIPTIONS["rpc.discover"]


def test_the_completeness_check_names_a_method_registered_without_a_description(add_method):
    async def thing_do(ctx, first, second=None):
        return True

    async def thing_done(ctx, first, second=None):
        return True

    add_method("thing.do", thing_do)
    assert description_problems(resource_methods()) == [
        "thing.do is declared without a Doc: give its @api_method one (summary, args, result, faults)",
    ]
    add_method("thing.do", thing_done, doc=Doc("x", result={}, args={"first": Arg({})}, faults=("nope",)))
    assert description_problems(resource_methods()) == [
        "thing.do: the function takes ['first', 'second'], the description has ['first']",
        "thing.do: fault 'nope' is not in core/faults.py FAULTS",
    ]


def test_an_undescribed_method_is_still_listed_honestly(add_method):
    async def thing_do(ctx, first, second=None):
        return True

    add_method("thing.do", thing_do)
    document = methods.api_document()
    method = by_name(document)["thing.do"]
    assert method["summary"] == openrpc.NOT_DESCRIBED
    assert [(p["name"], p["required"], p["schema"]) for p in method["params"]] == [("first", True, {}), ("second", False, {})]
    assert meta_errors(document) == []


def test_every_top_level_method_is_described_with_its_parameters():
    assert set(TOP_LEVEL_DESCRIPTIONS) == set(methods.TOP_LEVEL)
    for name, function in methods.TOP_LEVEL.items():
        taken = [parameter.name for parameter in registry.parameters_of(function)]
        assert set(TOP_LEVEL_DESCRIPTIONS[name].args) == set(taken), name


def test_no_method_missing_none_extra(document):
    names = [method["name"] for method in document["methods"]]
    assert len(names) == len(set(names))
    assert set(names) == set(methods.METHODS) | set(methods.TOP_LEVEL)
    for name, method in by_name(document).items():
        assert method["x-invocation"] == ("direct" if name in methods.TOP_LEVEL else "call"), name
        assert method["summary"] != openrpc.NOT_DESCRIBED, name


def test_parameters_follow_the_signatures(document):
    described = by_name(document)
    for path, method in resource_methods().items():
        params = described[path]["params"]
        assert [(p["name"], p["required"]) for p in params] == [(p.name, p.required) for p in method.parameters], path
        assert described[path]["paramStructure"] == "either"


def test_roles_are_the_registrys(document):
    described = by_name(document)
    for path, method in resource_methods().items():
        assert described[path]["x-roles"] == sorted(method.roles), path
    assert all("x-roles" not in described[name] for name in methods.TOP_LEVEL)


def test_every_fault_is_in_the_fault_table_with_its_message(document):
    table = {(spec.wire_code, spec.message) for spec in FAULTS.values()}
    for method in document["methods"]:
        assert method["errors"], method["name"]
        for error in method["errors"]:
            assert (error["code"], error["message"]) in table, (method["name"], error)
    for doc in [*(method.declaration.doc for method in resource_methods().values()), *TOP_LEVEL_DESCRIPTIONS.values()]:
        assert set(doc.faults) <= set(FAULTS), doc.summary


def test_each_method_lists_its_own_faults_and_calls(document):
    described = by_name(document)
    for path, method in resource_methods().items():
        codes = [(e["code"], e["message"]) for e in described[path]["errors"]]
        expected = [(FAULTS[name].wire_code, FAULTS[name].message) for name in method.declaration.doc.faults]
        expected += [(FAULTS[name].wire_code, FAULTS[name].message) for name in openrpc.CALL_FAULTS]
        if any(p.required for p in method.parameters):
            expected.append((FAULTS["required_parameter"].wire_code, FAULTS["required_parameter"].message))
        assert codes == list(dict.fromkeys(expected)), path
    cancel = {e["code"]: e["message"] for e in described["order.cancel"]["errors"]}
    assert cancel[-32100] == "Requested order does not exist."
    assert cancel[-32103] == "Order status not changed. Details in error message."


# ----------------------------------------------------------- schemas from the pydantic models


def test_argument_schemas_are_the_models_own(document):
    components = document["components"]["schemas"]
    for model in (ItemInput, AddressInput, InfoInput):
        generated = model.model_json_schema(ref_template=openrpc.REF_PREFIX + "{model}")
        generated.pop("$defs", None)
        assert components[model.__name__] == openrpc.draft7(generated)
    create = {p["name"]: p["schema"] for p in by_name(document)["order.create"]["params"]}
    assert create["address"] == {"$ref": openrpc.REF_PREFIX + "AddressInput"}
    assert create["info"] == {"$ref": openrpc.REF_PREFIX + "InfoInput"}
    shapes = create["items"]["anyOf"]
    assert shapes[0]["type"] == "object" and shapes[1]["items"] == {"$ref": openrpc.REF_PREFIX + "ItemInput"}


ORDER_CREATE_GOOD = {
    "storeCode": None,
    "items": [{"sku": "SKU-1", "qty": 2}, {"barcode": "0123", "qty": 1, "order_item_ref": "line-2"}],
    "address": {"firstname": "Ada", "lastname": "Lovelace", "street1": "1 Main St", "city": "Newark",
                "region": "NJ", "postcode": "07102", "country": "US", "classification": "res"},
    "info": {"shipping_method": "ups_03", "order_ref": "PO-1", "priority": 10, "hold_indefinitely": False},
    "flags": {"unique_order_ref": "-3 days"},
}


@pytest.mark.parametrize("argument, value", [
    ("items", {"SKU-1": 2}),
    ("items", [{"sku": "SKU-1", "qty": 1, "colour": "red"}]),  # unknown key
    ("items", []),
    ("address", {"firstname": "Ada", "postcode": ["07102"]}),  # a wrong type (unknown address keys are ignored)
    ("address", {"classification": "castle"}),
    ("info", {"priority": 101}),
    ("info", {"signature_required": "maybe"}),
    ("flags", {"unique": True}),
])
def test_the_schemas_accept_good_arguments_and_refuse_bad_ones(document, argument, value):
    params = {p["name"]: p["schema"] for p in by_name(document)["order.create"]["params"]}
    for name, good in ORDER_CREATE_GOOD.items():
        assert list(validator_for(params[name], document).iter_errors(good)) == [], name
    errors = list(validator_for(params[argument], document).iter_errors(value))
    assert (errors == []) == (value == {"SKU-1": 2})


def test_search_filters_come_from_the_field_tables(document):
    from rpc_fulfillment.products.rules import SEARCH_FIELDS, SORT_FIELDS

    params = {p["name"]: p["schema"] for p in by_name(document)["product.search"]["params"]}
    filters = params["filters"]["anyOf"][0]
    assert set(filters["properties"]) == set(SEARCH_FIELDS)
    validator = validator_for(params["filters"], document)
    assert list(validator.iter_errors({"sku": {"starts": "AB"}, "status": 1, "created_at": {"from": "2024-01-01"}})) == []
    assert list(validator.iter_errors({"colour": "red"})) != []
    assert list(validator.iter_errors({"sku": {"like": "AB"}})) != []
    options = params["options"]["anyOf"][0]
    assert set(options["properties"]["sort_field"]["enum"]) == set(SORT_FIELDS)


def test_the_order_lifecycle_is_the_engines_table(document):
    from rpc_fulfillment.fulfillment.states import RULES, STATUSES_BY_STATE

    life = document["x-order-lifecycle"]
    assert {s["state"]: tuple(st["status"] for st in s["statuses"]) for s in life["states"]} == STATUSES_BY_STATE
    assert [(r["action"], {(f["state"], f["status"]) for f in r["from"]}, r["to_state"], r["to_status"]) for r in life["rules"]] == [
        (rule.action, set(rule.from_), rule.to_state, rule.to_status) for rule in RULES
    ]


# ---------------------------------------------------------------------------- over the wire


def served(document: dict[str, Any]) -> Any:
    return orjson.loads(orjson.dumps(document))


async def test_rpc_discover_needs_no_session(shared_rpc):
    body = await shared_rpc.request("rpc.discover", [])
    assert body["result"] == served(methods.api_document())
    status, absent = await shared_rpc.post({"jsonrpc": "2.0", "id": 7, "method": "rpc.discover"})
    assert status == 200 and absent["result"]["openrpc"] == openrpc.OPENRPC_VERSION


async def test_rpc_discover_with_arguments_is_invalid_params(shared_rpc):
    body = await shared_rpc.request("rpc.discover", ["surplus"])
    assert body["error"]["code"] == -32602


@pytest.mark.parametrize("role", ["merchant", "warehouse", "admin"])
async def test_rpc_discover_through_call_for_every_role(shared_rpc, shared_users, role):
    session = await shared_rpc.login(shared_users[role])
    assert await shared_rpc.result(session, "rpc.discover") == served(methods.api_document())


async def test_get_openrpc_json(shared_rpc):
    response = await shared_rpc.client.get("/openrpc.json")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert orjson.loads(await response.read()) == served(methods.api_document())


# ------------------------------------------------- the schemas and the server agree


async def test_what_the_schemas_accept_the_server_accepts(rpc, users, db):
    from tests.api.order_helpers import add_product

    await add_product(db, "SKU-1", stock=5)
    document = methods.api_document()
    params = [p["name"] for p in by_name(document)["order.create"]["params"]]
    schemas = {p["name"]: p["schema"] for p in by_name(document)["order.create"]["params"]}
    session = await rpc.login(users["admin"])
    assert await rpc.result(session, "product.create", ["SKU-2", {"name": "Two", "barcode": "0123"}])
    await rpc.result(session, "inventory.adjust", ["SKU-2", 1, 5])
    good = copy.deepcopy(ORDER_CREATE_GOOD)
    for name in params:
        assert list(validator_for(schemas[name], document).iter_errors(good[name])) == [], name
    created = await rpc.result(session, "order.create", [good[name] for name in params])
    assert created["status"] == "new" and created["order_ref"] == "PO-1"
    # the same arguments by name, as call's object form passes them
    again = {**good, "info": {**good["info"], "order_ref": "PO-2"}}
    assert (await rpc.result(session, "order.create", again))["order_ref"] == "PO-2"


@pytest.mark.parametrize("argument, value", [
    ("info", {"shipping_method": "ups_03", "priority": 101}),
    ("address", {**ORDER_CREATE_GOOD["address"], "classification": "castle"}),
    ("items", [{"sku": "SKU-1", "qty": 1, "colour": "red"}]),
    ("flags", {"unique": True}),
])
async def test_what_the_schemas_refuse_the_server_refuses(rpc, users, db, argument, value):
    from tests.api.order_helpers import add_product

    await add_product(db, "SKU-1", stock=5)
    document = methods.api_document()
    schemas = {p["name"]: p["schema"] for p in by_name(document)["order.create"]["params"]}
    assert list(validator_for(schemas[argument], document).iter_errors(value)) != []
    session = await rpc.login(users["merchant"])
    args = {**ORDER_CREATE_GOOD, "items": {"SKU-1": 1}, argument: value}
    fault = await rpc.fault(session, "order.create", args)
    assert fault["code"] == -32102  # listed among order.create's errors, with the detail as the message
    assert -32102 in {e["code"] for e in by_name(document)["order.create"]["errors"]}
    assert fault["message"].startswith(argument), fault


async def test_results_match_their_documented_schemas(rpc, users, db):
    """Real answers of the server validate against the result schemas of the document, so a
    field added to an answer without its description (or the reverse) shows here."""
    document = methods.api_document()
    results = {m["name"]: m["result"]["schema"] for m in document["methods"]}
    admin = await rpc.login(users["admin"])
    calls = [
        ("store.list", None), ("warehouse.list", None),
        ("product.create", ["RS-1", {"name": "Result schema", "barcode": "999", "weight": 1.5}]),
        ("product.info", ["RS-1"]), ("product.search", [{"sku": {"starts": "RS-"}}]),
        ("inventory.adjust", ["RS-1", 1, 3, "received"]), ("inventory.list", [["RS-1"]]),
        ("stock_movement.list", [{"sku": "RS-1"}]),
        ("order.create", {**ORDER_CREATE_GOOD, "items": {"RS-1": 2}}),
        ("order.info", [None, ["*", "items", "status_history"]]),
        ("order.search", [{"status": "new"}]),
        ("order.comment", [None, "a comment"]), ("order.hold", [None]), ("order.unhold", [None]),
        ("order.cancel", [None, {"unfulfilled_items": True}]),
        ("webhook.create", [{"url": "http://127.0.0.1:9/hook", "topics": ["order:created"]}]),
        ("webhook.list", None), ("event.list", [0, 10]),
        ("rpc.discover", None),
    ]
    unique_id = None
    checked = []
    for path, args in calls:
        if isinstance(args, list) and args and args[0] is None:
            args = [unique_id, *args[1:]]
        result = await rpc.result(admin, path) if args is None else await rpc.result(admin, path, args)
        if path == "order.create":
            unique_id = result["unique_id"]
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:150]}"
                  for e in validator_for(results[path], document).iter_errors(result)]
        assert errors == [], (path, errors)
        checked.append(path)
    assert len(checked) == len(calls)
