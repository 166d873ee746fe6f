"""GET /docs: the HTML reference rendered from the OpenRPC document."""

from __future__ import annotations

import copy
import html
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from rpc_fulfillment.core.faults import FAULTS
from rpc_fulfillment.fulfillment.states import RULES
from rpc_fulfillment.jsonrpc import dispatch as methods
from rpc_fulfillment.jsonrpc.docs import openrpc
from rpc_fulfillment.jsonrpc.docs.page import render_docs
from tests.order_lifecycle import ALLOWED_STARTS, DOCUMENTED_LABELS, DOCUMENTED_STATUSES_BY_STATE

VOID = {"meta", "br", "hr", "img", "input", "link", "wbr", "col", "area", "base", "source"}
# What a reader comes for, written out: ShipStream's methods that we serve (by their documented
# names), the top-level methods, and the answers a client must handle.
SHIPSTREAM_METHODS = (
    "order.create", "order.bulk_create", "order.edit", "order.search", "order.info", "order.hold", "order.unhold",
    "order.cancel", "order.comment", "product.create", "product.update", "product.info", "product.search",
    "inventory.list", "inventory.adjust", "shipment.info", "shipment.search", "shipment.update", "store.list",
    "warehouse.list", "webhook.create", "webhook.list", "webhook.delete", "webhook.update_status",
    "stock_movement.list", "state.get", "state.set", "log.write",
)
TOP_LEVEL_METHODS = ("login", "call", "multiCall", "endSession", "rpc.discover")
FAULT_MESSAGES = (
    "Requested order does not exist.", "An order with the specified ID already exists.",
    "Order status not changed. Details in error message.", "Session expired. Try to relogin.", "Access denied.",
)
PAYLOAD = "\"'><script>alert(1)</script><img src=x onerror=alert(2)>&amp;"


class Structure(HTMLParser):
    """Collects tags, ids, text and nesting problems."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.tags: set[str] = set()
        self.ids: set[str] = set()
        self.attributes: list[tuple[str, str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes += [(tag, name, value) for name, value in attrs]
        self.ids.update(value for name, value in attrs if name == "id" and value)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> Structure:
    parser = Structure()
    parser.feed(page)
    parser.close()
    return parser


@pytest.fixture(scope="module")
def page() -> str:
    return render_docs(openrpc.build_document(methods.TOP_LEVEL, methods.METHODS))


async def test_get_docs(shared_rpc):
    response = await shared_rpc.client.get("/docs")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    body = (await response.read()).decode("utf-8")
    assert body.startswith("<!DOCTYPE html>")
    structure = parse(body)
    assert structure.problems == [] and structure.stack == []
    for name in (*SHIPSTREAM_METHODS, *TOP_LEVEL_METHODS):
        assert f"method-{name}" in structure.ids, name
    text = " ".join(structure.text)
    for message in FAULT_MESSAGES:
        assert message in text, message


def test_the_page_is_well_formed_and_self_contained(page):
    structure = parse(page)
    assert structure.problems == [] and structure.stack == []
    assert not structure.tags & {"script", "img", "link", "iframe", "object", "embed", "form"}
    assert "<script" not in page.lower()
    for tag, name, value in structure.attributes:
        assert not name.startswith("on"), (tag, name)
        if name in ("href", "src"):
            assert value is not None and (value.startswith("#") or value in ("/openrpc.json",)), (tag, name, value)
    assert "url(" not in page and "@import" not in page


def test_every_method_is_there(page):
    structure = parse(page)
    text = " ".join(structure.text)
    for name in [*methods.TOP_LEVEL, *methods.METHODS]:
        assert f"method-{name}" in structure.ids, name
        assert f'href="#method-{name}"' in page, name
        assert name in text
    # grouped by resource
    for resource in {path.split(".")[0] for path in methods.METHODS if path not in methods.TOP_LEVEL}:
        assert f"group-{resource}" in structure.ids, resource
    assert f"group-{openrpc.TOP_LEVEL_TAG}" in structure.ids


def test_every_internal_link_has_its_target(page):
    structure = parse(page)
    targets = {value[1:] for tag, name, value in structure.attributes if name == "href" and value and value.startswith("#")}
    assert targets - structure.ids == set()


def test_a_methods_params_roles_and_faults(page):
    section = re.search(r'<section class="method" id="method-order.cancel">.*?</section>', page, re.S).group(0)
    for argument in ("orderUniqueId", "options", "fields"):
        assert f"<code>{argument}</code>" in section
    assert "<span>admin</span><span>merchant</span>" in section
    assert "Order status not changed. Details in error message." in section
    assert "<code>-32103</code>" in section
    create = re.search(r'<section class="method" id="method-order.create">.*?</section>', page, re.S).group(0)
    assert 'href="#schema-ItemInput"' in create and 'href="#schema-AddressInput"' in create


def test_the_wire_format_is_explained(page):
    text = " ".join(parse(page).text)
    for words in ("login(username, api_key)", "multiCall", "-(32000 + N)", "HTTP Basic", "spread positionally"):
        assert words in text, words


def test_every_status_and_action_of_the_matrix(page):
    structure = parse(page)
    text = " ".join(structure.text)
    for state, statuses in DOCUMENTED_STATUSES_BY_STATE.items():
        for status in statuses:
            assert f"{state}/{status}" in text, (state, status)
            assert DOCUMENTED_LABELS[status] in text
    for action in ALLOWED_STARTS:
        assert f"<code>{action}</code>" in page, action
    for rule in RULES:
        assert rule.description in text


def test_the_matrix_cells_follow_the_rules(page):
    """Each row of the matrix (state/status) has a cell per action: a dash where the written
    table (tests/order_lifecycle.py) says the action cannot start, the rule's target elsewhere."""
    matrix = re.search(r'<table class="matrix">(.*?)</table>', page, re.S).group(1)
    rows = re.findall(r"<tr><th><code>([a-z_]+)/([a-z_]+)</code></th>(.*?)</tr>", matrix, re.S)
    assert {(state, status) for state, status, _ in rows} == {
        (state, status) for state, statuses in DOCUMENTED_STATUSES_BY_STATE.items() for status in statuses}
    from rpc_fulfillment.fulfillment.states import BY_ALLOCATION, BY_FULFILLMENT, SAME, UNCHANGED, rule_for

    columns = re.findall(r"<th>([a-z_]+)</th>", matrix)
    assert set(columns) == set(ALLOWED_STARTS)  # create* start from no status
    words = {SAME: "same state", BY_ALLOCATION: "by allocation", BY_FULFILLMENT: "by fulfillment"}
    for state, status, cells in rows:
        values = re.findall(r"<td[^>]*>(.*?)</td>", cells)
        assert len(values) == len(columns)
        for action, value in zip(columns, values):
            rule = rule_for(action, state, status)
            if (state, status) not in ALLOWED_STARTS[action]:
                expected = "&ndash;"
            elif rule.to_state == UNCHANGED:
                expected = "no change"
            else:
                expected = f"{words.get(rule.to_state, rule.to_state)}/{words.get(rule.to_status, rule.to_status)}"
            assert value == expected, (state, status, action)
    assert "<td>holded/holded</td>" in matrix and "<td>no change</td>" in matrix


def test_every_fault_of_the_document_is_in_the_fault_list(page):
    section = page[page.index('<h2 id="faults">'):page.index('<h2 id="schemas">')]
    for spec in FAULTS.values():
        if f"<code>{spec.wire_code}</code>" in section:
            assert html.escape(spec.message) in section or any(
                html.escape(other.message) in section for other in FAULTS.values() if other.wire_code == spec.wire_code
            )
    assert "Requested order does not exist." in section and "Session expired. Try to relogin." in section


def _poison(value: Any) -> Any:
    """Every string in the document with markup appended; keys of properties too."""
    if isinstance(value, str):
        return value + PAYLOAD
    if isinstance(value, list):
        return [_poison(item) for item in value]
    if isinstance(value, dict):
        return {(key + PAYLOAD if key not in _STRUCTURAL else key): _poison(item) for key, item in value.items()}
    return value


_STRUCTURAL = {
    "openrpc", "info", "title", "version", "description", "servers", "url", "name", "methods", "summary", "tags",
    "params", "required", "schema", "result", "errors", "code", "message", "x-invocation", "x-roles", "components",
    "schemas", "x-order-lifecycle", "states", "state", "statuses", "status", "label", "actions", "rules", "action",
    "from", "to_state", "to_status", "type", "properties", "anyOf", "oneOf", "items", "enum", "const", "$ref",
    "additionalProperties", "default", "pattern", "paramStructure", "minimum", "maximum",
}


def test_everything_from_the_data_is_escaped():
    document = _poison(copy.deepcopy(openrpc.build_document(methods.TOP_LEVEL, methods.METHODS)))
    page = render_docs(document)
    lowered = page.lower()
    assert "<script" not in lowered and "<img" not in lowered and "onerror=alert(2)>" not in lowered
    structure = parse(page)
    assert structure.problems == [] and not structure.tags & {"script", "img"}
    assert PAYLOAD in " ".join(structure.text)  # shown as text, not dropped
