"""The conformance suite: every example request of ShipStream's Merchant API documentation,
sent through the real app, its answer held to the documented example response.

The examples (request, response, file and heading) are in ``examples.json``, extracted from
the docs by ``extract.py``. For each one the test seeds what it needs (``SEEDS``: products,
stock, stores, orders with the documented increment ids, ...), sends the documented request as
written (the docs' session id replaced by a real one; a null session by HTTP Basic
credentials), and asserts that it is answered with a result and that every key path of the
documented result is present with the documented JSON type (``shapes.py``), except the few
paths the docs' own prose says a request does not get (``ABSENT_BY_DOCS``), which must be
absent, and the paths where one example contradicts the others (``DOCS_DISAGREE``), which must
be present with the type the others show.

Examples of methods we do not have are expected failures naming issue 15; examples whose
request the docs get wrong are expected failures saying why (``DOCS_ERRATA``).
All are strict: an example that starts passing fails the run until its mark is removed.

Figures: ``python -m tests.conformance.report`` runs the suite and prints them (also printed
at the end of any pytest run that includes this module). On the branch that added the suite:
see README.md, "Conformance".
"""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from rpc_fulfillment.accounts import provisioning
from rpc_fulfillment.jsonrpc.dispatch import METHODS
from tests.api.order_helpers import add_stock, merchant_id, number_in_creation_order
from tests.conformance import figures
from tests.conformance.shapes import check
from tests.conftest import ApiUser, Rpc

EXAMPLES: list[dict[str, Any]] = json.loads((Path(__file__).parent / "examples.json").read_text(encoding="utf-8"))
ADDRESS = {"firstname": "Bill", "lastname": "Gates", "street1": "11 Times Square", "city": "New York",
           "region": "NY", "postcode": "10036", "country": "US"}
WAREHOUSE_ADDRESS = {"street1": "3900 Produce Rd", "city": "Louisville", "region": "KY", "postcode": "40218",
                     "country": "US"}


# -- seeding steps: each does one thing through the API (as the admin user) or the database --


def _example(example_id: str) -> dict[str, Any]:
    return next(example for example in EXAMPLES if example["id"] == example_id)


# The product the docs create (product.create's example data): every property filled in, as
# the documented product.info and product.search answers show them.
DOCUMENTED_PRODUCT: dict[str, Any] = _example("product.create")["request"]["params"][2][1]


@dataclass(frozen=True)
class Product:
    """A product (named after its SKU unless ``data`` says) with ``stock`` units on hand, put
    straight into the stock table: no stock movement, so that stock_movement.list shows only
    what its example documents."""

    sku: str
    stock: int = 0
    warehouse_id: int = 1
    data: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Warehouse:
    """A second warehouse (id 2: the template has warehouse 1)."""


@dataclass(frozen=True)
class Store:
    code: str


@dataclass(frozen=True)
class NextId:
    """The next id ``column`` ("table.column") gives, so that seeded rows get the documented ids:
    this test's database numbers it one by one from ``value``, as ShipStream's examples do (the
    server permutes surrogate ids: README, "Ids"). SHIPMENT_NUMBER is the merchant's own
    sequence of shipment numbers."""

    column: str
    value: int


SHIPMENT_NUMBER = "shipment_increment_id"


@dataclass(frozen=True)
class Order:
    unique_id: str
    sku: str
    qty: int = 1
    hold: bool = False
    order_ref: str | None = None


@dataclass(frozen=True)
class Shipment:
    """A shipment of all of an order's reserved units, taken through ``steps``."""

    order_unique_id: str
    steps: tuple[str, ...] = ()
    source: str | None = None


@dataclass(frozen=True)
class Webhook:
    topics: tuple[str, ...] = ("order:created",)


@dataclass(frozen=True)
class State:
    """A state value of the merchant, set through state.set ``updates`` times (the last time to
    ``value``)."""

    key: str
    value: Any
    updates: int = 1


Step = Product | Warehouse | Store | NextId | Order | Shipment | Webhook | State

PACKAGE = {"weight": 1.5, "length": 10, "width": 8, "height": 4, "tracking_numbers": [
    {"number": "1Z999AA10123456784", "description": "UPS Ground", "track_url": "https://www.ups.com/track?tracknum=1Z999AA10123456784"},
]}

# example id -> what it needs, in order.
SEEDS: dict[str, tuple[Step, ...]] = {
    "inventory.list #1": (Product("BlueWidget-1", 94), Product("BlueWidget-5", 2)),
    "inventory.list #2": (Product("BlueWidget-1", 94), Product("BlueWidget-5")),
    "inventory.list #3": (Warehouse(), Product("BlueWidget-1", 22, warehouse_id=2)),
    "order.create": (Store("mystorecode"), Product("product2", 5)),
    "order.bulk_create": (Store("mystorecode"), Product("product2", 5)),
    "order.edit": (Product("product2", 5), Order("100000309", "product2")),
    "order.search": (Product("product1", 2), Product("product2", 1), NextId("orders.order_id", 114),
                     Order("100000114", "product2"), Order("100000116", "product1", 2)),
    "order.info": (Product("product2", 1), Order("100000114", "product2")),
    "order.hold": (Product("product2", 1), Order("100000112", "product2")),
    "order.unhold": (Product("product2", 1), Order("100000112", "product2", hold=True)),
    "order.cancel": (Product("product2", 1), Order("100000114", "product2"), Shipment("100000114", ("pack",))),
    "order.comment": (Product("product2", 1), Order("100000112", "product2")),
    "product.search": (Product("product2", data=tuple(DOCUMENTED_PRODUCT.items())),),
    "product.info": (Product("product1", data=tuple(DOCUMENTED_PRODUCT.items())),),
    "product.update": (Product("product3"),),
    "shipment.info": (Product("product2", 1), Order("10000015", "product2", order_ref="ABC-54321"),
                      NextId(SHIPMENT_NUMBER, 100000020), Shipment("10000015", ("pack", "ship"), "123")),
    "shipment.update": (Product("product2", 1), Order("10000015", "product2"),
                        NextId(SHIPMENT_NUMBER, 100000020), Shipment("10000015")),
    "webhook.list": (Webhook(),),
    "webhook.update_status": (Webhook(),),
    "state.get #1": (State("foo", "bar"),),
    "state.get #2": (State("foo", "bar", updates=6),),  # the docs' update_count 5: five changes after the first set
    "state.set #1": (State("foo", "baz"),),  # ifEquals "baz"
    "webhook.delete": (NextId("webhooks.webhook_id", 123), Webhook()),
    "warehouse.list": (Warehouse(),),
    "stock_movement.list #1": (Product("12-345-6789", 5), Order("100000001", "12-345-6789")),
    "stock_movement.list #2": (Warehouse(), Product("12-345-6789", 5, warehouse_id=2), Order("100000001", "12-345-6789")),
}

# Where one documented example contradicts the others, the answer follows the majority:
# example id -> {path: why}. The path must be present; its JSON type is not held to this example.
_ITEM_NUMBERS = ("weight", "row_weight", "qty_ordered", "qty_processing", "qty_backordered", "qty_canceled",
                 "qty_shipped", "qty_delivered", "qty_picked", "qty_packed")
_ITEMS_AS_STRINGS = ("the example shows numbers for the Order Item quantities and weights; order.search's example "
                     "and every order:* webhook example show strings")
DOCS_DISAGREE: dict[str, dict[str, str]] = {
    "order.info": {f"result.items[].{name}": _ITEMS_AS_STRINGS for name in _ITEM_NUMBERS},
    "order.cancel": {f"result.order.items[].{name}": _ITEMS_AS_STRINGS for name in _ITEM_NUMBERS},
    "shipment.info": {"result.packages[].delivered_at": "the example's shipment is 'packing' yet its package has a "
                                                        "delivery time; ours is null until the package is delivered"},
}

# Data we do not keep yet: the key must be in the answer, null or an empty array until the
# resource that holds it exists. Key -> what it is and when it comes. A documented key of this
# name anywhere in a result may be null (or empty), and what the docs show inside it is not
# held to the answer.
NOT_KEPT: dict[str, str] = {
    "package_data": "data captured at packing (serial numbers and the like): issue 15",
    "lot_data": "lots: issue 15",
    "ssccs": "SSCC labels: issue 15",
    "serial_number_data": "serial numbers: issue 15",
    "tpb_group_id": "third-party billing groups: issue 15",
    "manifest_courier_code": "manifests: not kept (no carrier manifests here)",
    "manifest_courier_name": "manifests: not kept (no carrier manifests here)",
    "dimensional_weight": "dimensional weights: not kept (we rate no carrier)",
    "dimensional_weight_divisor": "dimensional weights: not kept (we rate no carrier)",
    "dimensional_weight_divisor_unit": "dimensional weights: not kept (we rate no carrier)",
}

# The same, for one example only: example id -> {key: what and when}. (Orders keep their custom
# fields; shipments have none yet.)
NOT_KEPT_IN: dict[str, dict[str, str]] = {
    "shipment.info": {"custom_fields": "shipment custom fields: issue 15"},
}


def _not_kept(example_id: str, path: str, problem: str | None) -> bool:
    """Whether a problem at ``path`` is only that we keep no such data: the key is there (null
    or empty), and the docs' contents of it are not held to the answer."""
    for name in {**NOT_KEPT, **NOT_KEPT_IN.get(example_id, {})}:
        segment = f".{name}"
        at = path.find(segment)
        if at < 0:
            continue
        rest = path[at + len(segment):]
        if rest and rest[0] in ".[":
            return True
        if not rest and problem is not None and problem.startswith("null"):
            return True
    return False

# Examples that need a resource of issue 15 although their method exists: example id -> what.
NEEDS_ISSUE_15: dict[str, str] = {
    "order.edit": "custom fields (its customFields argument and the custom_fields it answers)",
}

# Examples whose documented request is wrong, so that refusing it is right: example id -> why.
DOCS_ERRATA: dict[str, str] = {
    "product.update": "the docs' example sends dimension_unit \"lb\", a weight unit: fault 102 naming it is right",
}

# Paths of the documented response that the docs' prose says this request does not get:
# example id -> {path: the docs' words}. The answer must not have them.
ABSENT_BY_DOCS: dict[str, dict[str, str]] = {
    "inventory.list #3": {
        "result[].qty_backordered": "2014-07-15-inventory.md, Inventory Item: \"This quantity will not be present for "
                                    "single-warehouse requests since backordered amounts are not apportioned\"",
    },
}


class Seeder:
    def __init__(self, rpc: Rpc, db: asyncpg.Connection, session: str) -> None:
        self.rpc, self.db, self.session = rpc, db, session

    async def apply(self, step: Step) -> None:
        rpc, session = self.rpc, self.session
        match step:
            case Product(sku, stock, warehouse_id, data):
                await rpc.result(session, "product.create", [sku, {"name": sku, "weight": 1.25, **dict(data)}])
                if stock:
                    product_id = await self.db.fetchval(
                        "SELECT product_id FROM products WHERE merchant_id = $1 AND sku = $2", await merchant_id(self.db), sku)
                    await add_stock(self.db, product_id, stock, warehouse_id)
            case Warehouse():
                await provisioning.create_warehouse(self.db, "Warehouse 2", WAREHOUSE_ADDRESS)
            case Store(code):
                await provisioning.create_store(self.db, "acme", code, f"Store {code}")
            case NextId(column, value) if column == SHIPMENT_NUMBER:
                await self.db.execute("SELECT setval(format('%s_%s', $1::text, $2::bigint), $3, false)",
                                      SHIPMENT_NUMBER, await merchant_id(self.db), value)
            case NextId(column, value):
                await number_in_creation_order(self.db, column, value)
            case Order(unique_id, sku, qty, hold, order_ref):
                info = {"shipping_method": "ups_03", "unique_id": unique_id, "order_ref": order_ref}
                await rpc.result(session, "order.create", [None, [{"sku": sku, "qty": qty}], ADDRESS, info])
                if hold:
                    await rpc.result(session, "order.hold", [unique_id])
            case Shipment(order_unique_id, steps, source):
                shipment = await rpc.result(session, "shipment.create", [order_unique_id])
                for name in steps:
                    args = [shipment["shipment_id"]] + ([[PACKAGE]] if name == "pack" else [])
                    await rpc.result(session, f"shipment.{name}", args)
                if source is not None:
                    await rpc.result(session, "shipment.update", [shipment["shipment_id"], {"source": source}])
            case Webhook(topics):
                await rpc.result(session, "webhook.create", [{"url": "https://example.com/hooks", "topics": list(topics)}])
            case State(key, value, updates):
                for update in range(updates):
                    await rpc.result(session, "state.set", [key, value if update == updates - 1 else f"{value}-{update}"])


def _request(example: dict[str, Any], user: ApiUser, session: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The documented request with our credentials in place of the docs' ones."""
    request = copy.deepcopy(example["request"])
    headers: dict[str, str] = {}
    params = request["params"]
    if request["method"] == "login":
        params[:2] = [user.username, user.api_key]
    elif isinstance(params[0], str):  # the docs' session id (they use several)
        params[0] = session
    elif params[0] is None:
        token = base64.b64encode(f"{user.username}:{user.api_key}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    return request, headers


def _method(example: dict[str, Any]) -> str:
    request = example["request"]
    return request["params"][1] if request["method"] == "call" else request["method"]


def _method_exists(example: dict[str, Any]) -> bool:
    return _method(example) in METHODS or _method(example) == "login"


def _marks(example: dict[str, Any]) -> list[Any]:
    if example["id"] in NEEDS_ISSUE_15:
        return [pytest.mark.xfail(strict=True, reason=f"issue 15: the rest of the Merchant API adds {NEEDS_ISSUE_15[example['id']]}")]
    if example["id"] in DOCS_ERRATA:
        return [pytest.mark.xfail(strict=True, reason=f"docs erratum: {DOCS_ERRATA[example['id']]}")]
    if not _method_exists(example):
        return [pytest.mark.xfail(strict=True, reason=f"issue 15: the rest of the Merchant API adds {_method(example)}")]
    return []


def test_every_seed_and_mark_names_an_example() -> None:
    ids = {example["id"] for example in EXAMPLES}
    for table in (SEEDS, NEEDS_ISSUE_15, DOCS_ERRATA, ABSENT_BY_DOCS, DOCS_DISAGREE, NOT_KEPT_IN):
        assert set(table) <= ids


@pytest.mark.parametrize(
    "example", [pytest.param(example, id=example["id"], marks=_marks(example)) for example in EXAMPLES]
)
async def test_documented_example(example: dict[str, Any], rpc: Rpc, db: asyncpg.Connection, users: dict[str, ApiUser]) -> None:
    seeder = Seeder(rpc, db, await rpc.login(users["admin"]))
    for step in SEEDS.get(example["id"], ()):
        await seeder.apply(step)
    user = users["merchant"]
    request, headers = _request(example, user, await rpc.login(user))
    status, body = await rpc.post(request, headers=headers)
    assert status == 200, body
    assert body["id"] == example["request"]["id"]
    documented = example["response"]["result"]
    absent = ABSENT_BY_DOCS.get(example["id"], {})
    disagree = DOCS_DISAGREE.get(example["id"], {})
    checks = [c for c in check(body.get("result"), documented) if c.path not in absent] if "result" in body else []
    checks = [c for c in checks if not (c.path in disagree and c.problem and c.problem != "missing")
              and not (c.problem and _not_kept(example["id"], c.path, c.problem))]
    expected_paths = len(check(documented, documented)) - len(absent)
    figures.record_example(example["id"], _method_exists(example), _marks(example) == [], "result" in body, checks, expected_paths)
    assert "error" not in body, f"{example['file']} {example['heading']}: {body['error']}"
    problems = [f"{c.path}: {c.problem}" for c in checks if c.problem]
    problems += [f"{c.path}: present, but {absent[c.path]}" for c in check(body["result"], documented)
                 if c.path in absent and c.problem != "missing"]
    assert not problems, f"{example['file']} {example['heading']}: " + "; ".join(problems)
