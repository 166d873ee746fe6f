"""Tenant isolation, method by method (design §4): merchant B ('other') calling any method with
an id of merchant A ('acme') gets exactly the answer it gets for an id that does not exist, so
ids cannot be probed; B's searches and lists show none of A's rows; and nothing B does changes
A's objects.

Every method of ``METHODS`` is classified below: ``FOREIGN_ID`` (takes an id: called with A's
and with a missing one, answers compared), ``LISTS`` (returns rows: none may be A's), or
``NO_FOREIGN_ID`` (with the reason). ``test_every_method_is_classified`` fails for a method
registered without a classification, so a new method cannot skip this matrix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import orjson
import pytest

from rpc_fulfillment.core.api import ADMIN, MERCHANT
from rpc_fulfillment.jsonrpc.dispatch import METHODS
from rpc_fulfillment.accounts import provisioning
from tests import figures
from tests.api.order_helpers import ADDRESS, INFO, add_product, check_invariants, merchant_id
from tests.conftest import ApiUser

MARK = "acme-only"  # in every text of A's objects: B's answers must never contain it
PACKAGE = {"weight": 1, "tracking_numbers": ["1Z999AA10123456784"]}


@dataclass(frozen=True)
class Ids:
    """One merchant's ids: A's are foreign to B; MISSING are nobody's."""

    sku: str
    order: str
    shipment: str
    webhook: int
    event: int


MISSING = Ids(sku="nope-sku-404", order="nope-order-404", shipment="999999999", webhook=2_000_000_001, event=2_000_000_002)


@dataclass(frozen=True)
class Case:
    """A call taking an id: ``args(ids)`` builds the arguments around one merchant's ids."""

    kind: str
    args: Callable[[Ids], list[Any]]


# Methods that take an id of a tenant-owned object, with otherwise valid arguments, so that the
# only thing wrong with B's call is whose id it is.
FOREIGN_ID: dict[str, list[Case]] = {
    "product.info": [Case("product", lambda i: [i.sku])],
    "product.update": [Case("product", lambda i: [i.sku, {"name": "renamed by B"}])],
    "inventory.adjust": [Case("product", lambda i: [i.sku, 1, 5, "B receives"]), Case("product", lambda i: [i.sku, 1, -1])],
    "order.create": [Case("product", lambda i: [None, {i.sku: 1}, ADDRESS, INFO])],
    "order.bulk_create": [Case("product", lambda i: [[[None, {i.sku: 1}, ADDRESS, INFO]]])],
    "order.info": [Case("order", lambda i: [i.order, "*"])],
    "order.edit": [Case("order", lambda i: [i.order, {"city": "Elsewhere"}, {"note": "B was here"}])],
    "order.comment": [Case("order", lambda i: [i.order, "B was here"])],
    "order.hold": [Case("order", lambda i: [i.order])],
    "order.unhold": [Case("order", lambda i: [i.order])],
    "order.cancel": [Case("order", lambda i: [i.order, {"all_items": True}])],
    "shipment.create": [Case("order", lambda i: [i.order])],
    "shipment.pack": [Case("shipment", lambda i: [i.shipment, [PACKAGE]])],
    "shipment.ship": [Case("shipment", lambda i: [i.shipment])],
    "shipment.deliver": [Case("shipment", lambda i: [i.shipment])],
    "shipment.cancel": [Case("shipment", lambda i: [i.shipment])],
    "shipment.void_labels": [Case("shipment", lambda i: [i.shipment])],
    "shipment.update": [Case("shipment", lambda i: [i.shipment, {"source": "B"}])],
    "shipment.info": [Case("shipment", lambda i: [i.shipment])],
    "webhook.update_status": [Case("webhook", lambda i: [i.webhook, 0])],
    "webhook.delete": [Case("webhook", lambda i: [i.webhook])],
    "webhook.deliveries": [Case("webhook", lambda i: [i.webhook])],
    "webhook.test": [Case("webhook", lambda i: [i.webhook])],
    "webhook.replay": [Case("event", lambda i: [i.event]), Case("webhook", lambda i: [B_EVENT[0], i.webhook])],
}
B_EVENT: list[int] = []  # an event of B's own (webhook.replay with A's webhook)

# Methods that return rows: with no arguments and with filters aimed at A's ids, B sees only its
# own rows (none carries MARK or one of A's ids).
LISTS: dict[str, list[Callable[[Ids], list[Any]]]] = {
    "store.list": [lambda i: []],
    "product.search": [lambda i: [], lambda i: [{"sku": {"eq": i.sku}}], lambda i: [{"name": {"starts": MARK}}]],
    "inventory.list": [lambda i: [], lambda i: [[i.sku]], lambda i: [[i.sku], 1]],
    "stock_movement.list": [lambda i: [], lambda i: [{"sku": {"eq": i.sku}}]],
    "order.search": [lambda i: [None, None, "*"], lambda i: [{"unique_id": {"eq": i.order}}, None, "*"]],
    "shipment.search": [lambda i: [None, None, "*"], lambda i: [{"shipment_id": {"eq": i.shipment}}, None, "*"]],
    "webhook.list": [lambda i: []],
    "webhook.deliveries": [lambda i: [B_WEBHOOK[0]]],
    "event.list": [lambda i: [], lambda i: [0, 1000], lambda i: [i.event - 1, 1000]],
}
B_WEBHOOK: list[int] = []

NO_FOREIGN_ID: dict[str, str] = {
    "warehouse.list": "warehouses are shared by all merchants (not tenant-owned)",
    "rpc.discover": "the API description: the same document for everyone, no data",
    "product.create": "names a new product of B's own; a SKU A has is free for B (test_a_s_unique_id_and_sku_are_free_for_b)",
    "webhook.create": "creates a webhook of B's own from a URL and topics; no id of anyone's object",
    "state.get": "a key names a value of the caller's merchant, not an object of anyone's: B's key of A's key's name "
                 "is B's own (test_state.py::test_state_is_per_merchant)",
    "state.set": "as state.get: B writes its own key of that name (test_state.py::test_state_is_per_merchant)",
    "log.write": "writes an entry of B's own; a store_id of A's is refused as a missing one "
                 "(test_log.py::test_a_store_of_another_merchant_is_refused_as_a_missing_one)",
}


def test_every_method_is_classified():
    classified = set(FOREIGN_ID) | set(LISTS) | set(NO_FOREIGN_ID)
    unclassified = sorted(set(METHODS) - classified)
    assert not unclassified, (
        f"registered without an isolation case: {unclassified}; add each to FOREIGN_ID (it takes an id), LISTS (it "
        "returns rows) or NO_FOREIGN_ID (with the reason) in tests/api/test_isolation_matrix.py"
    )
    assert not classified - set(METHODS), f"classified but not registered: {sorted(classified - set(METHODS))}"


# ------------------------------------------------------------------------------- the world


@dataclass
class World:
    rpc: Any
    a: str  # acme admin
    b: dict[str, str]  # other's sessions by role
    acme: Ids
    a_ids: dict[str, set[Any]]  # A's numeric and text ids by the key they appear under


def _collect(value: Any, keys: set[str]) -> dict[str, set[Any]]:
    found: dict[str, set[Any]] = {key: set() for key in keys}
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            for key, item in current.items():
                if key in keys and isinstance(item, (int, str)):
                    found[key].add(item)
                stack.append(item)
        elif isinstance(current, list):
            stack.extend(current)
    return found


async def _a_state(rpc: Any, session: str, ids: Ids) -> Any:
    """Everything of A that B might change."""
    return {
        "product": await rpc.result(session, "product.info", [ids.sku]),
        "inventory": await rpc.result(session, "inventory.list", [[ids.sku]]),
        "order": await rpc.result(session, "order.info", [ids.order, "*"]),
        "held order": await rpc.result(session, "order.info", [f"{MARK}-held", ["state", "status"]]),
        "shipment": await rpc.result(session, "shipment.info", [ids.shipment]),
        "webhooks": await rpc.result(session, "webhook.list"),
        "orders": (await rpc.result(session, "order.search", [None, None, ["unique_id", "status"]]))["totalCount"],
    }


@pytest.fixture
async def world(rpc, users, db) -> World:
    other_admin = await provisioning.create_api_user(db, "other", "admin", "other-admin")
    b_users = {MERCHANT: users["other"], ADMIN: ApiUser(other_admin.username, other_admin.api_key, "other", "admin")}
    b = {role: await rpc.login(user) for role, user in b_users.items()}
    a = await rpc.login(users["admin"])

    # A's objects, every text marked
    sku = f"{MARK}-sku"
    await add_product(db, sku, stock=50, name=f"{MARK} product")
    await add_product(db, "shared-sku", stock=50)  # the same SKU at both merchants
    await add_product(db, "shared-sku", stock=50, merchant="other")
    await add_product(db, "b-sku", stock=50, merchant="other")
    address = {**ADDRESS, "company": f"{MARK} corp"}
    unique_id = f"{MARK}-order"
    await rpc.result(a, "order.create", [None, {sku: 2}, address, {**INFO, "unique_id": unique_id, "order_ref": MARK}])
    shipped_order = f"{MARK}-shipped"
    await rpc.result(a, "order.create", [None, {sku: 1}, address, {**INFO, "unique_id": shipped_order}])
    held = f"{MARK}-held"
    await rpc.result(a, "order.create", [None, {sku: 1}, address, {**INFO, "unique_id": held}])
    await rpc.result(a, "order.hold", [held])
    shipment = (await rpc.result(a, "shipment.create", [shipped_order]))["shipment_id"]
    await rpc.result(a, "shipment.update", [shipment, {"source": MARK}])
    hook_url = f"http://127.0.0.1:9/{MARK}"  # never reachable: the worker's attempts fail at once
    await rpc.result(a, "webhook.create", [{"url": hook_url, "topics": ["order:created"], "is_active": False}])
    webhook = (await rpc.result(a, "webhook.list"))[0]["webhook_id"]
    events = await rpc.result(a, "event.list", [0, 1000])
    acme = Ids(sku=sku, order=unique_id, shipment=str(shipment), webhook=webhook, event=events[0]["event_id"])

    # B's own objects, so that its lists are not empty. Shipment numbers are per merchant (B's
    # first would be A's 100000001, which is B's by right): B's are numbered apart, so that A's
    # number names nothing of B's and a B call that finds it found A's.
    await db.execute("SELECT setval(format('shipment_increment_id_%s', $1::bigint), 500000000)", await merchant_id(db, "other"))
    b_order = await rpc.result(b[MERCHANT], "order.create", [None, {"b-sku": 1, "shared-sku": 1}, ADDRESS, INFO])
    await rpc.result(b[ADMIN], "shipment.create", [b_order["unique_id"]])
    await rpc.result(b[MERCHANT], "webhook.create", [{"url": "http://127.0.0.1:9/b", "topics": ["order:created"], "is_active": False}])
    B_WEBHOOK[:] = [(await rpc.result(b[MERCHANT], "webhook.list"))[0]["webhook_id"]]
    B_EVENT[:] = [(await rpc.result(b[MERCHANT], "event.list", [0, 1]))[0]["event_id"]]

    a_ids = _collect(
        {
            "orders": await rpc.result(a, "order.search", [None, None, "*"]),
            "shipments": await rpc.result(a, "shipment.search", [None, None, "*"]),
            "products": await rpc.result(a, "product.search", []),
            "webhooks": await rpc.result(a, "webhook.list"),
            "events": events,
        },
        {"order_id", "unique_id", "shipment_id", "product_id", "webhook_id", "event_id"},
    )
    # ids both merchants have by design: the shared SKU's name is not an id; unique_ids may
    # coincide (each merchant numbers its own) and are compared through MARK instead
    a_ids.pop("unique_id")
    return World(rpc, a, b, acme, a_ids)


def _session(world: World, path: str) -> str:
    """B's session for ``path``: its merchant user, or its admin for the warehouse's methods."""
    return world.b[MERCHANT] if MERCHANT in METHODS[path].roles else world.b[ADMIN]


def _normalized(error: dict[str, Any], ids: Ids) -> str:
    """The error as JSON with the id it names replaced, so answers for two ids compare."""
    text = orjson.dumps({"message": error.get("message"), "data": error.get("data")}).decode()
    for value in (ids.sku, ids.order, ids.shipment, str(ids.webhook), str(ids.event)):
        text = re.sub(rf"(?<![\w-]){re.escape(value)}(?![\w-])", "<id>", text)
    return f"{error['code']} {text}"


async def test_foreign_ids_get_the_answer_of_missing_ids(world):
    rpc = world.rpc
    before = await _a_state(rpc, world.a, world.acme)
    problems = []
    compared = 0
    for path, cases in FOREIGN_ID.items():
        if path not in METHODS:
            continue
        session = _session(world, path)
        for case in cases:
            foreign = await rpc.call(session, path, case.args(world.acme))
            missing = await rpc.call(session, path, case.args(MISSING))
            compared += 1
            if "error" not in foreign:
                # order.create/bulk_create answer per order; a result must not be A's product
                if path == "order.bulk_create":
                    entry = next(iter(foreign["result"].values()))
                    missing_entry = next(iter(missing["result"].values()))
                    if "error" in entry and _normalized(entry["error"], world.acme) == _normalized(missing_entry["error"], MISSING):
                        continue
                problems.append(f"{path} {case.kind}: B's call on A's {case.kind} succeeded: {str(foreign)[:300]}")
                continue
            if "error" not in missing:
                problems.append(f"{path} {case.kind}: the call with a missing id succeeded: {str(missing)[:300]}")
                continue
            if _normalized(foreign["error"], world.acme) != _normalized(missing["error"], MISSING):
                problems.append(f"{path} {case.kind}: A's id: {foreign['error']} | missing id: {missing['error']}")
            if MARK in _normalized(foreign["error"], world.acme):  # beyond the id B sent itself
                problems.append(f"{path} {case.kind}: the answer shows A's data: {foreign['error']}")
    assert not problems, "\n".join(problems)
    assert compared >= len(FOREIGN_ID)
    methods = sum(1 for path in FOREIGN_ID if path in METHODS)
    figures.record("isolation", f"{compared} calls with another merchant's id over {methods} methods answered as for a "
                                f"missing id; {len(METHODS)} methods classified")
    assert await _a_state(rpc, world.a, world.acme) == before, "B's calls changed A's objects"


async def test_lists_show_none_of_a_s_rows(world, db):
    rpc = world.rpc
    problems = []
    checked = 0
    for path, argument_lists in LISTS.items():
        if path not in METHODS:
            continue
        for role in {MERCHANT, ADMIN} & METHODS[path].roles:
            for args in argument_lists:
                body = await rpc.call(world.b[role], path, args(world.acme))
                assert "error" not in body, (path, body)
                checked += 1
                text = orjson.dumps(body["result"]).decode()
                if MARK in text:
                    problems.append(f"{path} {args(world.acme)} as B's {role}: shows A's text: {text[:300]}")
                leaked = {key: values & world.a_ids[key] for key, values in _collect(body["result"], set(world.a_ids)).items()}
                leaked = {key: values for key, values in leaked.items() if values}
                if leaked:
                    problems.append(f"{path} {args(world.acme)} as B's {role}: A's ids {leaked}")
    assert not problems, "\n".join(problems)
    figures.record("isolation", f"{checked} list and search calls over {len([p for p in LISTS if p in METHODS])} methods "
                                "showed none of another merchant's rows")
    await check_invariants(db)


async def test_a_s_unique_id_and_sku_are_free_for_b(world):
    """Uniqueness is per merchant: B may use A's unique_id and SKU, and learns nothing either way."""
    rpc, b = world.rpc, world.b[MERCHANT]
    created = await rpc.result(b, "order.create", [None, {"b-sku": 1}, ADDRESS, {**INFO, "unique_id": world.acme.order}])
    assert created["unique_id"] == world.acme.order
    assert await rpc.result(b, "product.create", [world.acme.sku, {"name": "B's own"}]) is True
    assert (await rpc.result(b, "product.info", [world.acme.sku]))["name"] == "B's own"
    assert (await rpc.result(world.a, "product.info", [world.acme.sku]))["name"] == f"{MARK} product"
