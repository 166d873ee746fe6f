"""The conformance suite: every example request of ShipStream's Merchant API documentation,
sent through the real app, its answer held to the documented example response.

The examples (request, response, file and heading) are in ``examples.json``, extracted from
the docs by ``extract.py``. For each one the test seeds what it needs (``SEEDS``: products,
stock, stores, orders with the documented increment ids, ...), sends the documented request as
written (the docs' session id replaced by a real one; a null session by HTTP Basic
credentials), and asserts that it is answered with a result and that every key path of the
documented result is present with the documented JSON type (``shapes.py``), except the few
paths the docs' own prose says a request does not get (``ABSENT_BY_DOCS``), which must be
absent.

Examples of methods we do not have are expected failures naming issue 15; examples that wait
for work in progress on issue 12 are expected failures naming that area (``IN_PROGRESS``);
examples whose request the docs get wrong are expected failures saying why (``DOCS_ERRATA``).
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
from tests.api.order_helpers import add_stock, merchant_id
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
    """The next value an identity or sequence gives, so that seeded rows get the documented ids."""

    sequence: str
    value: int


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


Step = Product | Warehouse | Store | NextId | Order | Shipment | Webhook

PACKAGE = {"weight": 1.5, "length": 10, "width": 8, "height": 4, "tracking_numbers": ["1Z999AA10123456784"]}

# example id -> what it needs, in order.
SEEDS: dict[str, tuple[Step, ...]] = {
    "inventory.list #1": (Product("BlueWidget-1", 94), Product("BlueWidget-5", 2)),
    "inventory.list #2": (Product("BlueWidget-1", 94), Product("BlueWidget-5")),
    "inventory.list #3": (Warehouse(), Product("BlueWidget-1", 22, warehouse_id=2)),
    "order.create": (Store("mystorecode"), Product("product2", 5)),
    "order.bulk_create": (Store("mystorecode"), Product("product2", 5)),
    "order.edit": (Product("product2", 5), Order("100000309", "product2")),
    "order.search": (Product("product1", 2), Product("product2", 1), NextId("orders_order_id_seq", 114),
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
                      NextId("shipment_increment_id", 100000020), Shipment("10000015", ("pack", "ship"), "123")),
    "shipment.update": (Product("product2", 1), Order("10000015", "product2"),
                        NextId("shipment_increment_id", 100000020), Shipment("10000015")),
    "webhook.list": (Webhook(),),
    "webhook.update_status": (Webhook(),),
    "webhook.delete": (NextId("webhooks_webhook_id_seq", 123), Webhook()),
    "warehouse.list": (Warehouse(),),
    "stock_movement.list #1": (Product("12-345-6789", 5), Order("100000001", "12-345-6789")),
    "stock_movement.list #2": (Warehouse(), Product("12-345-6789", 5, warehouse_id=2), Order("100000001", "12-345-6789")),
}

# Examples that wait for work under way on issue 12 (another helper's branch): example id -> area.
IN_PROGRESS: dict[str, str] = {
    "state.get #1": "call", "state.get #2": "call", "state.set #1": "call", "state.set #2": "call",
    "log.write": "call", "webhook.update_status": "call",
    "order.cancel": "call",  # its fields come as a further parameter after args
    "order.info": "address", "order.search": "address",  # the order and order item shapes
    "shipment.info": "topics",  # the shipment, package and tracking shapes
}

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
            case NextId(sequence, value):
                await self.db.execute("SELECT setval($1::regclass, $2, false)", sequence, value)
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
    if example["id"] in IN_PROGRESS:
        return [pytest.mark.xfail(strict=True, reason=f"issue 12: {IN_PROGRESS[example['id']]}, in progress")]
    if example["id"] in NEEDS_ISSUE_15:
        return [pytest.mark.xfail(strict=True, reason=f"issue 15: the rest of the Merchant API adds {NEEDS_ISSUE_15[example['id']]}")]
    if example["id"] in DOCS_ERRATA:
        return [pytest.mark.xfail(strict=True, reason=f"docs erratum: {DOCS_ERRATA[example['id']]}")]
    if not _method_exists(example):
        return [pytest.mark.xfail(strict=True, reason=f"issue 15: the rest of the Merchant API adds {_method(example)}")]
    return []


def test_every_seed_and_mark_names_an_example() -> None:
    ids = {example["id"] for example in EXAMPLES}
    for table in (SEEDS, IN_PROGRESS, NEEDS_ISSUE_15, DOCS_ERRATA, ABSENT_BY_DOCS):
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
    checks = [c for c in check(body.get("result"), documented) if c.path not in absent] if "result" in body else []
    expected_paths = len(check(documented, documented)) - len(absent)
    figures.record_example(example["id"], _method_exists(example), _marks(example) == [], "result" in body, checks, expected_paths)
    assert "error" not in body, f"{example['file']} {example['heading']}: {body['error']}"
    problems = [f"{c.path}: {c.problem}" for c in checks if c.problem]
    problems += [f"{c.path}: present, but {absent[c.path]}" for c in check(body["result"], documented)
                 if c.path in absent and c.problem != "missing"]
    assert not problems, f"{example['file']} {example['heading']}: " + "; ".join(problems)
