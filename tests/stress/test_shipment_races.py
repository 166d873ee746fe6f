"""Races around shipments, through two app instances on one database (as two server processes
would be), bounded in time; the invariants are checked after every run.

- two warehouse clients creating shipments for the same order: no unit is in two shipments;
- order.hold against shipment.create: exactly one wins;
- shipment.ship against shipment.cancel: exactly one wins;
- order.cancel (with cancellation requests) against shipment.create;
- shipping and ordering the same products at once: no deadlock (stock rows, then orders).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.api.order_helpers import ADDRESS, INFO, add_product, check_invariants, stock_of
from tests.api.shipment_helpers import PACKAGE, new_order, shipment_invariants

ROUNDS = 8
LIMIT = 90  # seconds for a whole test


@pytest.fixture
async def clients(make_client, users) -> dict[str, Any]:
    """Two apps (two pools) on the test's database, with a session of each user on each."""
    first, second = await make_client(), await make_client()
    return {
        "first": first,
        "second": second,
        "merchant": await first.login(users["merchant"]),
        "warehouse": await first.login(users["warehouse"]),
        "admin": await second.login(users["admin"]),
    }


_ids = iter(range(1, 10**9))


async def outcome(rpc: Any, session: str, method: str, args: Any) -> dict[str, Any]:
    """One call; safe to run concurrently on one client (Rpc.call numbers its requests from a
    counter it checks after the await)."""
    request_id = next(_ids)
    status, body = await rpc.post({"jsonrpc": "2.0", "id": request_id, "method": "call", "params": [session, method, args]})
    assert status == 200 and body["id"] == request_id, body
    if "error" in body:
        # a race may only ever lose with a refusal, never with an internal error (a deadlock)
        assert body["error"]["code"] != -32001, body
    return body


def succeeded(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [body["result"] for body in bodies if "error" not in body]


async def test_two_warehouse_clients_never_share_a_unit(clients, db):
    await add_product(db, "A", stock=4 * ROUNDS)
    first, second = clients["first"], clients["second"]
    async with asyncio.timeout(LIMIT):
        for _ in range(ROUNDS):
            order = await new_order(first, clients["merchant"], {"A": 4})
            unique_id = order["unique_id"]
            bodies = await asyncio.gather(
                outcome(first, clients["warehouse"], "shipment.create", [unique_id]),
                outcome(second, clients["admin"], "shipment.create", [unique_id]),
                outcome(first, clients["warehouse"], "shipment.create", [unique_id, {"A": 3}]),
                outcome(second, clients["admin"], "shipment.create", [unique_id, {"A": 2}]),
            )
            created = succeeded(bodies)
            assert created, bodies
            units = sum(float(item["qty"]) for shipment in created for item in shipment["items"])
            assert units <= 4
            for body in bodies:
                if "error" in body:
                    assert body["error"]["code"] == -32103, body
    assert await db.fetchval("SELECT max(qty_in_shipment) FROM order_items") <= 4
    await check_invariants(db)
    await shipment_invariants(db)


async def test_hold_against_create(clients, db):
    await add_product(db, "A", stock=2 * ROUNDS)
    first, second = clients["first"], clients["second"]
    async with asyncio.timeout(LIMIT):
        for _ in range(ROUNDS):
            order = await new_order(first, clients["merchant"], {"A": 2})
            hold, create = await asyncio.gather(
                outcome(first, clients["merchant"], "order.hold", [order["unique_id"]]),
                outcome(second, clients["admin"], "shipment.create", [order["unique_id"]]),
            )
            assert ("error" in hold) != ("error" in create), (hold, create)
            info = await first.result(clients["merchant"], "order.info", [order["unique_id"], ["state", "shipments"]])
            if "error" in create:
                assert (info["state"], info["shipments"]) == ("holded", [])
                assert create["error"]["code"] == -32103
            else:
                assert info["state"] == "processing" and len(info["shipments"]) == 1
                assert hold["error"]["code"] == -32103
    await check_invariants(db)
    await shipment_invariants(db)


async def test_ship_against_cancel(clients, db):
    product = await add_product(db, "A", stock=2 * ROUNDS)
    first, second = clients["first"], clients["second"]
    shipped = 0
    async with asyncio.timeout(LIMIT):
        for _ in range(ROUNDS):
            order = await new_order(first, clients["merchant"], {"A": 2})
            shipment = await first.result(clients["warehouse"], "shipment.create", [order["unique_id"]])
            await first.result(clients["warehouse"], "shipment.pack", [shipment["shipment_id"], [PACKAGE]])
            ship, cancel = await asyncio.gather(
                outcome(first, clients["warehouse"], "shipment.ship", [shipment["shipment_id"]]),
                outcome(second, clients["admin"], "shipment.cancel", [shipment["shipment_id"]]),
            )
            assert ("error" in ship) != ("error" in cancel), (ship, cancel)
            status = (await first.result(clients["merchant"], "shipment.info", [shipment["shipment_id"]]))["status"]
            assert status == ("canceled" if "error" in ship else "shipped")
            shipped += "error" not in ship
    on_hand, allocated = await stock_of(db, product)
    assert on_hand == 2 * ROUNDS - 2 * shipped
    assert allocated == 2 * (ROUNDS - shipped)  # canceled shipments' units stay reserved
    await check_invariants(db)
    await shipment_invariants(db)


async def test_order_cancel_against_create(clients, db):
    await add_product(db, "A", stock=3 * ROUNDS)
    first, second = clients["first"], clients["second"]
    async with asyncio.timeout(LIMIT):
        for _ in range(ROUNDS):
            order = await new_order(first, clients["merchant"], {"A": 3})
            unique_id = order["unique_id"]
            await asyncio.gather(
                outcome(first, clients["merchant"], "order.cancel", [unique_id, {"cancellation_request": True}]),
                outcome(second, clients["admin"], "shipment.create", [unique_id, {"A": 2}]),
            )
            shipments = await db.fetch(
                "SELECT s.increment_id FROM shipments s JOIN orders o USING (order_id) WHERE o.unique_id = $1", unique_id)
            for shipment in shipments:  # the warehouse resolves the request by canceling the shipment
                await first.result(clients["warehouse"], "shipment.cancel", [shipment["increment_id"]])
            info = await first.result(clients["merchant"], "order.info", [unique_id, "*"])
            if shipments and (info["state"], info["status"]) != ("canceled", "canceled"):
                # create won: the cancel saw the units in the shipment and asked for them
                assert info["state"] in ("new", "processing")
    assert await db.fetchval("SELECT count(*) FROM order_items WHERE qty_in_shipment > 0") == 0
    await check_invariants(db)
    await shipment_invariants(db)


async def test_shipping_and_ordering_the_same_products_do_not_deadlock(clients, db):
    a = await add_product(db, "A", stock=1000)
    b = await add_product(db, "B", stock=1000)
    first, second = clients["first"], clients["second"]
    ready = []
    for n in range(ROUNDS):
        items = {"A": 1, "B": 1} if n % 2 else {"B": 1, "A": 1}
        order = await new_order(first, clients["merchant"], items)
        shipment = await first.result(clients["warehouse"], "shipment.create", [order["unique_id"]])
        await first.result(clients["warehouse"], "shipment.pack", [shipment["shipment_id"], [PACKAGE]])
        ready.append(shipment["shipment_id"])
    async with asyncio.timeout(LIMIT):
        bodies = await asyncio.gather(
            *(outcome(second if n % 2 else first, clients["admin"] if n % 2 else clients["warehouse"],
                      "shipment.ship", [shipment_id]) for n, shipment_id in enumerate(ready)),
            *(outcome(first, clients["merchant"], "order.create",
                      [None, {"B": 2, "A": 2}, ADDRESS, INFO])
              for _ in range(ROUNDS)),
        )
    assert all("error" not in body for body in bodies), [b for b in bodies if "error" in b]
    assert await stock_of(db, a) == (1000 - ROUNDS, 2 * ROUNDS)
    assert await stock_of(db, b) == (1000 - ROUNDS, 2 * ROUNDS)
    await check_invariants(db)
    await shipment_invariants(db)
