"""order.create's optimistic write going stale: creates decided on stock read without a lock,
refused by their own write (units taken meanwhile, or the stock a backorder was decided on
changed) and decided again under locks within the same call. Never a fault 1, the stock never
over-allocated, every order with its event, and each event's stock figure as the write found it."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from rpc_fulfillment.core.faults import StoreRefused
from rpc_fulfillment.orders import create as order_create
from tests.api.order_helpers import ADDRESS, INFO, add_product, check_invariants, events_of, stock_of
from tests.stress.test_order_races import call, outcomes, together

ROUNDS = 10


@pytest.fixture
def refusals(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """The optimistic writes refused, by kind (Stale, ConstraintViolated, Conflict)."""
    seen: Counter = Counter()
    decided_on_changed_data = order_create._decided_on_changed_data

    def counted(refused: StoreRefused) -> bool:
        seen[type(refused).__name__] += 1
        return decided_on_changed_data(refused)

    monkeypatch.setattr(order_create, "_decided_on_changed_data", counted)
    return seen


def create(rpc, session, items: Any) -> Any:
    return call(rpc, session, "order.create", [None, items, ADDRESS, INFO])


async def test_creates_with_backorders_against_one_unit(rpc, users, db, refusals):
    """Each round: one unit on hand, 8 creates of 2 units at once. Each reads 1 available and
    backorders 1; the first write takes the unit, the others find the stock changed (Stale) or
    the unit gone (the CHECK) and decide again under locks: all backordered."""
    session = await rpc.login(users["merchant"])
    for round_ in range(ROUNDS):
        product = await add_product(db, f"ONE-{round_}", stock=1)
        bodies = await together(*(create(rpc, session, {f"ONE-{round_}": 2}) for _ in range(8)))
        assert outcomes(bodies) == {"ok": 8}, bodies
        assert Counter(body["result"]["status"] for body in bodies) == {"partial_backorder": 1, "backordered": 7}
        assert await stock_of(db, product) == (1, 1)
    assert refusals["Stale"] > 0, refusals
    await check_invariants(db)


async def test_creates_racing_stock_arrivals(rpc, users, db, refusals):
    """Creates backordering while units arrive (inventory.adjust reserves them for the orders
    waiting): a create decided before an arrival must not leave it unused."""
    merchant, warehouse = await rpc.login(users["merchant"]), await rpc.login(users["warehouse"])
    product = await add_product(db, "ARRIVE", stock=1)
    calls = [create(rpc, merchant, {"ARRIVE": 2}) for _ in range(20)]
    calls += [call(rpc, warehouse, "inventory.adjust", ["ARRIVE", 1, 1]) for _ in range(10)]
    bodies = await together(*calls)
    assert outcomes(bodies) == {"ok": 30}, [body for body in bodies if "error" in body]
    on_hand, allocated = await stock_of(db, product)
    assert on_hand == 11
    ordered = await db.fetchval("SELECT sum(qty_ordered) FROM order_items")
    # No unit left on hand while an order still waits for one.
    assert allocated == min(on_hand, ordered)
    await check_invariants(db)


async def test_each_event_says_what_its_write_left_available(rpc, users, db, refusals):
    """30 creates of one unit each against 20 on hand, at once: whatever each read, the events
    say 19, 18, ... 0 left, once each, as the writes happened one after another."""
    session = await rpc.login(users["merchant"])
    await add_product(db, "COUNTED", stock=20)
    bodies = await together(*(create(rpc, session, {"COUNTED": 1}) for _ in range(30)))
    assert outcomes(bodies) == {"ok": 30}
    left = [event["stock_adjustments"]["COUNTED"]["qty_available"]
            for event in await events_of(db, "order:created") if event["stock_adjustments"]]
    assert sorted(left) == list(range(20))
    advertised = [event["stock_adjustments"]["COUNTED"]["qty_advertised"]
                  for event in await events_of(db, "order:created") if event["stock_adjustments"]]
    assert sorted(advertised) == list(range(20))
    await check_invariants(db)


async def test_a_refused_optimistic_write_draws_no_unique_id(rpc, users, db, refusals):
    """Refused writes never reach the unique_id: the numbers stay consecutive."""
    session = await rpc.login(users["merchant"])
    await add_product(db, "SEQ", stock=3)
    bodies = await together(*(create(rpc, session, {"SEQ": 1}) for _ in range(12)))
    assert outcomes(bodies) == {"ok": 12}
    numbers = sorted(int(body["result"]["unique_id"]) for body in bodies)
    assert numbers == list(range(100000001, 100000013))
    await check_invariants(db)
