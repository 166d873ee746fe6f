"""GET /docs: a self-contained HTML reference rendered from the OpenRPC document.

Everything shown comes from the document (``jsonrpc/docs/openrpc.py``): the wire format from its
introduction, the methods grouped by resource with their parameters, results, faults and
roles, the schemas of its components, and the order lifecycle from its
``x-order-lifecycle`` (``fulfillment/states.py``, the table the engine uses). No external assets,
no scripts; every piece of text goes through ``html.escape`` (the ``e`` helper) on its way
into the page, and markup is only ever built from escaped parts.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any, Iterable

from rpc_fulfillment.fulfillment.states import BY_ALLOCATION, BY_FULFILLMENT, SAME, UNCHANGED

ENUM_SHOWN = 12

STYLE = """
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d232a;background:#fff}
header{background:#1d3557;color:#fff;padding:1.2em 2em}header h1{margin:0;font-size:1.6em}
header p{margin:.3em 0 0}header a{color:#cfe3ff}
nav{position:fixed;top:0;bottom:0;left:0;width:15em;overflow:auto;padding:1em;background:#f4f6f8;
border-right:1px solid #dde2e7;font-size:.9em}nav ul{list-style:none;padding-left:.8em;margin:.2em 0}
nav a{color:#1d3557;text-decoration:none}nav a:hover{text-decoration:underline}
.page{margin-left:17em}main{padding:0 2em 3em;max-width:70em}
h2{border-bottom:2px solid #1d3557;padding-bottom:.2em;margin-top:2em}
section.method{border:1px solid #dde2e7;border-radius:6px;padding:.4em 1em 1em;margin:1.2em 0}
section.method h3{font-family:ui-monospace,Menlo,Consolas,monospace;margin:.4em 0}
table{border-collapse:collapse;margin:.5em 0;font-size:.92em}
th,td{border:1px solid #dde2e7;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f4f6f8}code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em}
pre{background:#f4f6f8;padding:.7em;overflow:auto;border-radius:4px}
.roles span,.tag{display:inline-block;background:#e8eef7;border-radius:3px;padding:0 .4em;margin-right:.3em}
.muted{color:#5b6670}.matrix td{text-align:center}.matrix td.no{color:#b0b7be}
details summary{cursor:pointer;color:#1d3557}table.faults td:nth-child(3){min-width:18em}
.matrix{font-size:.85em}
"""

WIRE_EXAMPLES = (
    ("Log in", {"jsonrpc": "2.0", "id": 1, "method": "login", "params": ["demo", "YOUR_API_KEY"]}),
    ("Call a method with the session", {"jsonrpc": "2.0", "id": 2, "method": "call",
                                        "params": ["SESSION_ID", "order.info", ["100000001", ["status", "items"]]]}),
    ("Several calls at once", {"jsonrpc": "2.0", "id": 3, "method": "multiCall",
                               "params": ["SESSION_ID", [["order.hold", ["100000001"]], ["store.list"]], {"break": True}]}),
    ("A fault (order fault 100 on the wire)", {"jsonrpc": "2.0", "id": 2, "error": {
        "code": -32100, "message": "Requested order does not exist."}}),
    ("Discover the API (no session)", {"jsonrpc": "2.0", "id": 4, "method": "rpc.discover"}),
)


def e(value: Any) -> str:
    """Text as HTML, quotes included."""
    return escape(str(value), quote=True)


def _anchor(kind: str, name: str) -> str:
    return e(f"{kind}-{''.join(ch if ch.isalnum() or ch in '._-' else '_' for ch in name)}")


def _json(value: Any) -> str:
    return e(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False))


# ------------------------------------------------------------------------ schema summary

def type_of(schema: Any, depth: int = 0) -> str:
    """A short, readable type for a JSON Schema, as escaped HTML (schema refs are links)."""
    if schema is True or schema == {}:
        return "any"
    if schema is False:
        return "nothing"
    if not isinstance(schema, dict):
        return e(schema)
    if depth > 4:
        return "&hellip;"
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return f'<a href="#{_anchor("schema", name)}"><code>{e(name)}</code></a>'
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " | ".join(type_of(sub, depth + 1) for sub in schema[key])
    if "const" in schema:
        return f"<code>{e(json.dumps(schema['const']))}</code>"
    if "enum" in schema:
        values = [f"<code>{e(json.dumps(v))}</code>" for v in schema["enum"][:ENUM_SHOWN]]
        more = f", &hellip; ({len(schema['enum'])} values)" if len(schema["enum"]) > ENUM_SHOWN else ""
        return "one of " + ", ".join(values) + more
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    parts = []
    for one in kinds:
        if one == "array":
            items = schema.get("items")
            parts.append("array of " + type_of(items, depth + 1) if isinstance(items, dict) else "array")
        elif one == "object":
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict) and extra and not schema.get("properties"):
                parts.append("object of " + type_of(extra, depth + 1))
            elif schema.get("properties"):
                names = list(schema["properties"])
                shown = ", ".join(f"<code>{e(n)}</code>" for n in names[:ENUM_SHOWN])
                more = ", &hellip;" if len(names) > ENUM_SHOWN else ""
                parts.append(f"object {{{shown}{more}}}")
            else:
                parts.append("object")
        else:
            parts.append(e(one))
    return " | ".join(parts) if parts else "any"


def _constraints(schema: Any) -> str:
    if not isinstance(schema, dict):
        return ""
    keys = ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum", "minLength", "maxLength", "pattern",
            "minItems", "maxItems", "default")
    found = [f"{e(key)} <code>{e(json.dumps(schema[key]))}</code>" for key in keys if key in schema]
    return ", ".join(found)


def _schema_details(schema: Any) -> str:
    return f"<details><summary>JSON Schema</summary><pre>{_json(schema)}</pre></details>"


# ---------------------------------------------------------------------------- sections

def _paragraphs(text: str) -> str:
    return "".join(f"<p>{e(part)}</p>" for part in text.split("\n\n") if part.strip())


def _wire_format(document: dict[str, Any]) -> str:
    examples = "".join(
        f"<h4>{e(title)}</h4><pre>{e(json.dumps(body))}</pre>" for title, body in WIRE_EXAMPLES
    )
    servers = ", ".join(f"<code>{e(server.get('url', ''))}</code>" for server in document.get("servers", []))
    return (
        '<h2 id="wire">Wire format</h2>'
        f"<p>Endpoint: {servers} (HTTP POST, JSON body). The machine-readable description of this page is the "
        '<a href="/openrpc.json">OpenRPC document</a>, also answered by the JSON-RPC method '
        "<code>rpc.discover</code>.</p>"
        f"{_paragraphs(document.get('info', {}).get('description', ''))}{examples}"
    )


def _params_table(params: list[dict[str, Any]]) -> str:
    if not params:
        return '<p class="muted">No arguments.</p>'
    rows = "".join(
        "<tr>"
        f"<td><code>{e(p['name'])}</code></td>"
        f"<td>{'required' if p.get('required') else 'optional'}</td>"
        f"<td>{type_of(p.get('schema', {}))}</td>"
        f"<td>{e(p.get('description', ''))}{'<br>' if _constraints(p.get('schema')) else ''}{_constraints(p.get('schema'))}"
        f"{_schema_details(p.get('schema', {}))}</td>"
        "</tr>"
        for p in params
    )
    return f"<table><tr><th>argument</th><th></th><th>type</th><th>description</th></tr>{rows}</table>"


def _fault_number(code: int) -> int:
    return -code - 32000


def _errors_table(errors: list[dict[str, Any]]) -> str:
    if not errors:
        return ""
    rows = "".join(
        f"<tr><td>{e(_fault_number(err['code']))}</td><td><code>{e(err['code'])}</code></td><td>{e(err['message'])}</td></tr>"
        for err in errors
    )
    return f"<table><tr><th>fault</th><th>code</th><th>message</th></tr>{rows}</table>"


def _method(method: dict[str, Any]) -> str:
    name = method["name"]
    if method.get("x-invocation") == "call":
        usage = f"call(session, &quot;{e(name)}&quot;, [{e(', '.join(p['name'] for p in method.get('params', [])))}])"
    else:
        usage = f"{e(name)}({e(', '.join(p['name'] for p in method.get('params', [])))})"
    roles = method.get("x-roles")
    roles_html = (
        '<p class="roles">Roles: ' + "".join(f"<span>{e(role)}</span>" for role in roles) + "</p>"
        if roles is not None else '<p class="roles">No session needed.</p>' if name in ("login", "rpc.discover") else ""
    )
    result = method.get("result", {})
    return (
        f'<section class="method" id="{_anchor("method", name)}">'
        f"<h3>{e(name)}</h3>"
        f"<p>{e(method.get('summary', ''))}</p>"
        f"{'<p>' + e(method['description']) + '</p>' if method.get('description') else ''}"
        f"<p><code>{usage}</code></p>"
        f"{roles_html}"
        f"<h4>Arguments</h4>{_params_table(method.get('params', []))}"
        f"<h4>Result</h4><p>{type_of(result.get('schema', {}))}"
        f"{' &mdash; ' + e(result['description']) if result.get('description') else ''}</p>"
        f"{_schema_details(result.get('schema', {}))}"
        f"<h4>Faults</h4>{_errors_table(method.get('errors', []))}"
        "</section>"
    )


def _groups(document: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for method in document.get("methods", []):
        tags = method.get("tags") or [{"name": "other"}]
        groups.setdefault(str(tags[0].get("name", "other")), []).append(method)
    return list(groups.items())


def _components(document: dict[str, Any]) -> str:
    schemas = document.get("components", {}).get("schemas", {})
    parts = []
    for name, schema in schemas.items():
        required = set(schema.get("required", [])) if isinstance(schema, dict) else set()
        properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
        rows = "".join(
            f"<tr><td><code>{e(prop)}</code></td><td>{'required' if prop in required else ''}</td>"
            f"<td>{type_of(sub)}</td><td>{e(sub.get('description', '') if isinstance(sub, dict) else '')}"
            f"{' ' if _constraints(sub) else ''}{_constraints(sub)}</td></tr>"
            for prop, sub in properties.items()
        )
        description = schema.get("description", "") if isinstance(schema, dict) else ""
        extra = " Unknown keys are refused." if isinstance(schema, dict) and schema.get("additionalProperties") is False else ""
        parts.append(
            f'<section class="method" id="{_anchor("schema", name)}"><h3>{e(name)}</h3>'
            f"<p>{e(description)}{e(extra)}</p>"
            f"<table><tr><th>property</th><th></th><th>type</th><th>notes</th></tr>{rows}</table>"
            f"{_schema_details(schema)}</section>"
        )
    return '<h2 id="schemas">Schemas</h2>' + "".join(parts)


def _pair(state: str, status: str) -> str:
    return f"{state}/{status}"


# How the matrix cells read the markers of a rule's target (fulfillment/states.py).
_TARGET_WORDS = {SAME: "same state", BY_FULFILLMENT: "by fulfillment", BY_ALLOCATION: "by allocation"}


def target(state: str, status: str) -> str:
    """Where a rule leads, in words: ``holded/holded``, ``same state/by allocation``, ``no change``."""
    if state == UNCHANGED:
        return "no change"
    return f"{_TARGET_WORDS.get(state, state)}/{_TARGET_WORDS.get(status, status)}"


def _lifecycle(document: dict[str, Any]) -> str:
    life = document.get("x-order-lifecycle")
    if not isinstance(life, dict):
        return ""
    states_rows = "".join(
        f"<tr><td><code>{e(s['state'])}</code></td><td>"
        + ", ".join(f"<code>{e(st['status'])}</code> ({e(st['label'])})" for st in s["statuses"])
        + "</td></tr>"
        for s in life["states"]
    )
    pairs = [(s["state"], st["status"]) for s in life["states"] for st in s["statuses"]]
    # Actions that start from some status (creating an order starts from none: see the rules).
    actions = [action for action in life["actions"] if any(r["from"] for r in life["rules"] if r["action"] == action)]
    cells: dict[tuple[str, str, str], str] = {}
    for rule in life["rules"]:
        for start in rule["from"]:
            cells[(start["state"], start["status"], rule["action"])] = target(rule["to_state"], rule["to_status"])
    header = "".join(f"<th>{e(action)}</th>" for action in actions)
    body = "".join(
        f"<tr><th><code>{e(_pair(state, status))}</code></th>"
        + "".join(
            f"<td>{e(cells[(state, status, action)])}</td>" if (state, status, action) in cells else '<td class="no">&ndash;</td>'
            for action in actions
        )
        + "</tr>"
        for state, status in pairs
    )
    rules = "".join(
        f"<tr><td><code>{e(rule['action'])}</code></td>"
        f"<td>{e(', '.join(_pair(f['state'], f['status']) for f in rule['from']) or '(a new order)')}</td>"
        f"<td>{e(target(rule['to_state'], rule['to_status']))}</td><td>{e(rule['description'])}</td></tr>"
        for rule in life["rules"]
    )
    return (
        '<h2 id="lifecycle">Order lifecycle</h2>'
        f"<p>{e(life.get('description', ''))}</p>"
        f"<h3>States and statuses</h3><table><tr><th>state</th><th>statuses</th></tr>{states_rows}</table>"
        '<h3>Matrix</h3><p class="muted">Rows: where an order is (state/status). Columns: actions. '
        "A cell is where the action leads (state/status); &ndash; means the action is refused from there; "
        "&quot;by allocation&quot; is the status the order&#x27;s reservations give it (new, partial_backorder or "
        "backordered; processing or partial_backorder once shipments have started).</p>"
        f'<div style="overflow:auto"><table class="matrix"><tr><th></th>{header}</tr>{body}</table></div>'
        f"<h3>Rules</h3><table><tr><th>action</th><th>from</th><th>to</th><th>what</th></tr>{rules}</table>"
    )


def _raised_by(names: list[str], called: list[str]) -> str:
    if called and set(called) <= set(names):
        others = [name for name in names if name not in called]
        return "every resource.method" + (", " + ", ".join(_method_link(name) for name in others) if others else "")
    return ", ".join(_method_link(name) for name in names)


def _faults(document: dict[str, Any]) -> str:
    raised: dict[tuple[int, str], list[str]] = {}
    called = [m["name"] for m in document.get("methods", []) if m.get("x-invocation") == "call"]
    for method in document.get("methods", []):
        for err in method.get("errors", []):
            raised.setdefault((err["code"], err["message"]), []).append(method["name"])
    rows = "".join(
        f"<tr><td>{e(_fault_number(code))}</td><td><code>{e(code)}</code></td><td>{e(message)}</td>"
        f"<td>{_raised_by(names, called)}</td></tr>"
        for (code, message), names in sorted(raised.items(), key=lambda item: (-item[0][0], item[0][1]))
    )
    return (
        '<h2 id="faults">Faults</h2><p>Every fault a method of this document raises. Fault N is sent as code '
        "-(32000 + N). Where the message reads &quot;Details in error message&quot;, the message on the wire is "
        "the detail itself.</p>"
        f'<table class="faults"><tr><th>fault</th><th>code</th><th>message</th><th>raised by</th></tr>{rows}</table>'
    )


def _method_link(name: str) -> str:
    return f'<a href="#{_anchor("method", name)}">{e(name)}</a>'


def _nav(groups: Iterable[tuple[str, list[dict[str, Any]]]]) -> str:
    items = "".join(
        f"<li><strong>{e(group)}</strong><ul>"
        + "".join(f"<li>{_method_link(m['name'])}</li>" for m in methods)
        + "</ul></li>"
        for group, methods in groups
    )
    return (
        '<nav><strong>Contents</strong><ul><li><a href="#wire">Wire format</a></li>'
        f'{items}<li><a href="#lifecycle">Order lifecycle</a></li><li><a href="#faults">Faults</a></li>'
        '<li><a href="#schemas">Schemas</a></li><li><a href="/openrpc.json">OpenRPC document</a></li></ul></nav>'
    )


def render_docs(document: dict[str, Any]) -> str:
    info = document.get("info", {})
    groups = _groups(document)
    methods = "".join(
        f'<h2 id="{_anchor("group", group)}">{e(group)}</h2>' + "".join(_method(m) for m in group_methods)
        for group, group_methods in groups
    )
    return (
        "<!DOCTYPE html>"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(info.get('title', 'API'))} {e(info.get('version', ''))}</title>"
        f"<style>{STYLE}</style></head><body>"
        f"{_nav(groups)}"
        '<div class="page">'
        f"<header><h1>{e(info.get('title', 'API'))}</h1>"
        f"<p>Version {e(info.get('version', ''))} &middot; OpenRPC {e(document.get('openrpc', ''))} &middot; "
        '<a href="/openrpc.json">openrpc.json</a></p></header>'
        "<main>"
        f"{_wire_format(document)}{methods}{_lifecycle(document)}{_faults(document)}{_components(document)}"
        "</main></div></body></html>"
    )
