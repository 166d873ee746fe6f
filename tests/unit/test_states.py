"""The state/status matrix as data: every (action, state, status) either resolves to a status of
its state or is refused with the given fault naming the current status; ``resolve`` on the
quantity edge cases; and STATUSES_BY_STATE is exactly what schema.sql's CHECK allows."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from rpc_fulfillment.core.faults import Fault
from rpc_fulfillment.fulfillment.states import (
    ACTIONS,
    STATUS_LABELS,
    STATUSES_BY_STATE,
    OrderTotals,
    check_allowed,
    initial_rule,
    resolve,
    rule_for,
)
from tests.order_lifecycle import (
    ALLOWED_STARTS,
    DOCUMENTED_LABELS,
    DOCUMENTED_PAIRS,
    DOCUMENTED_STATUSES_BY_STATE,
    UNCHANGING,
)

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "schema.sql"  # generated from the migrations; tests/api/test_schema_file.py keeps it so
# Quantities an order may have: reserved, backordered, shipped, in shipments, open and unpacked shipments.
TOTALS = [
    OrderTotals(processing=p, backordered=b, shipped=s, in_shipment=i, open_shipments=o, unpacked_shipments=u)
    for p, b, s in itertools.product((0, 2), (0, 3), (0, 1))
    for i, o, u in ((0, 0, 0), (p, 1 if p else 0, 1 if p else 0), (p, 1 if p else 0, 0))
]


STARTS = [(action, state, status) for action in ALLOWED_STARTS for state, status in sorted(DOCUMENTED_PAIRS)]


def test_the_states_and_statuses_are_the_documented_ones():
    assert STATUSES_BY_STATE == DOCUMENTED_STATUSES_BY_STATE
    # invalid_address and unable_to_process are documented statuses of no documented state
    assert STATUS_LABELS == {code: label for code, label in DOCUMENTED_LABELS.items()
                             if code not in ("invalid_address", "unable_to_process")}


def test_every_action_is_in_the_written_table():
    assert set(ACTIONS) - {"create", "create_on_hold", "create_delayed"} == set(ALLOWED_STARTS)


@pytest.mark.parametrize(("action", "state", "status"), STARTS)
def test_an_action_starts_only_where_the_table_says_and_ends_in_a_documented_pair(action, state, status):
    if (state, status) not in ALLOWED_STARTS[action]:
        with pytest.raises(Fault) as raised:
            check_allowed(action, state, status, "order_status_not_changed", "cannot")
        assert raised.value.number == 103
        assert raised.value.message == f"cannot: the order's status is '{status}' (state '{state}')"
        return
    rule = check_allowed(action, state, status, "order_status_not_changed", "cannot")
    for totals in TOTALS:
        outcome = resolve(rule, state, status, totals)
        assert outcome in DOCUMENTED_PAIRS, (action, state, status, totals)
        if (state, status) in UNCHANGING.get(action, ()):
            assert outcome == (state, status), (action, totals)


def test_the_fault_given_is_the_fault_raised():
    with pytest.raises(Fault) as raised:
        check_allowed("comment", "unknown-state", "odd", "order_comment_not_added", "no comment")
    assert (raised.value.number, raised.value.name) == (103, "order_comment_not_added")
    assert raised.value.message == "no comment: the order's status is 'odd' (state 'unknown-state')"


def test_initial_rules():
    new = OrderTotals(processing=2, backordered=0)
    assert resolve(initial_rule(False, False), "new", "new", new) == ("new", "new")
    assert resolve(initial_rule(False, False), "new", "new", OrderTotals(1, 1)) == ("new", "partial_backorder")
    assert resolve(initial_rule(False, False), "new", "new", OrderTotals(0, 4)) == ("new", "backordered")
    assert resolve(initial_rule(True, False), "new", "new", new) == ("holded", "holded")
    assert resolve(initial_rule(False, True), "new", "new", new) == ("holded", "delayed_shipment")


# ------------------------------------------------------------------------- resolve edge cases


def _rule(action: str, state: str, status: str):
    rule = rule_for(action, state, status)
    assert rule is not None
    return rule


@pytest.mark.parametrize(("state", "status"), [("new", "new"), ("new", "backordered"), ("processing", "partial_backorder"), ("holded", "holded")])
def test_everything_canceled_is_canceled(state, status):
    assert resolve(_rule("cancel", state, status), state, status, OrderTotals(0, 0)) == ("canceled", "canceled")


def test_some_shipped_and_nothing_open_is_complete():
    totals = OrderTotals(processing=0, backordered=0, shipped=3)
    assert resolve(_rule("cancel", "processing", "processing"), "processing", "processing", totals) == ("complete", "complete")
    assert resolve(_rule("cancel_items", "processing", "partial_backorder"), "processing", "partial_backorder", totals) == ("complete", "complete")
    assert resolve(_rule("pack", "processing", "processing"), "processing", "processing", totals) == ("complete", "complete")


def test_processing_with_backorders_is_partial_backorder():
    totals = OrderTotals(processing=2, backordered=1, in_shipment=2, open_shipments=1, unpacked_shipments=1)
    assert resolve(_rule("start_shipment", "new", "partial_backorder"), "new", "partial_backorder", totals) == ("processing", "partial_backorder")
    assert resolve(_rule("allocate", "processing", "processing"), "processing", "processing", totals) == ("processing", "partial_backorder")
    settled = OrderTotals(processing=3, backordered=0, in_shipment=2, open_shipments=1, unpacked_shipments=1)
    assert resolve(_rule("allocate", "processing", "partial_backorder"), "processing", "partial_backorder", settled) == ("processing", "processing")


@pytest.mark.parametrize(
    ("totals", "status"),
    [(OrderTotals(3, 0), "new"), (OrderTotals(2, 1), "partial_backorder"), (OrderTotals(0, 3), "backordered")],
)
def test_allocation_decides_the_status_of_state_new(totals, status):
    assert resolve(_rule("allocate", "new", "backordered"), "new", "backordered", totals) == ("new", status)
    assert resolve(_rule("unhold", "holded", "holded"), "holded", "holded", totals) == ("new", status)
    assert resolve(_rule("cancel_items", "new", "new"), "new", "new", totals) == ("new", status)


def test_an_order_on_hold_keeps_its_status_when_stock_arrives_or_items_are_canceled():
    for status in DOCUMENTED_STATUSES_BY_STATE["holded"]:
        assert resolve(_rule("allocate", "holded", status), "holded", status, OrderTotals(3, 0)) == ("holded", status)
        assert resolve(_rule("cancel_items", "holded", status), "holded", status, OrderTotals(1, 1)) == ("holded", status)


def test_hold_keeps_reservations_out_of_the_status():
    for status in DOCUMENTED_STATUSES_BY_STATE["new"]:
        assert resolve(_rule("hold", "new", status), "new", status, OrderTotals(1, 1)) == ("holded", "holded")


def test_returned_shipment_without_others_goes_back_to_new():
    totals = OrderTotals(processing=2, backordered=0)
    assert resolve(_rule("return_shipment", "processing", "processing"), "processing", "processing", totals) == ("new", "new")


# ------------------------------------------------------------------ the CHECK in schema.sql


def _check_constraint_pairs() -> set[tuple[str, str]]:
    """The (state, status) pairs of schema.sql's orders_status_in_state, parsed."""
    text = SCHEMA.read_text()
    # pg_dump's form: (state = 'new'::text) AND (status = ANY (ARRAY['new'::text, ...])), or status = 'x'::text
    body = re.search(r"CONSTRAINT orders_status_in_state CHECK (.*),$", text, re.M)
    assert body, "orders_status_in_state not found in schema.sql"
    pairs = set()
    for state, listed, single in re.findall(
        r"\(state = '(\w+)'::text\) AND \(status (?:= ANY \(ARRAY\[([^\]]*)\]\)|= '(\w+)'::text)\)", body.group(1)
    ):
        pairs.update((state, status) for status in (re.findall(r"'(\w+)'", listed) if listed else [single]))
    return pairs


def test_the_readme_table_is_the_matrix():
    """README's "Order lifecycle" table lists each state's statuses in the matrix's order."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Order lifecycle", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| ((?:`\w+`(?:, )?)+) \|", section, re.M)
    assert {state: tuple(re.findall(r"`(\w+)`", statuses)) for state, statuses in rows} == DOCUMENTED_STATUSES_BY_STATE


def test_statuses_by_state_equal_the_schema_check_as_written():
    assert _check_constraint_pairs() == DOCUMENTED_PAIRS


async def test_statuses_by_state_equal_what_the_database_accepts(db):
    """Probe the real constraint: every allowed pair inserts, every other pair of known states
    and statuses is refused by orders_status_in_state."""
    import asyncpg

    from rpc_fulfillment.accounts import provisioning

    merchant = await provisioning.create_merchant(db, "probe", "Probe")
    store = await db.fetchval("SELECT store_id FROM stores WHERE merchant_id = $1", merchant)
    accepted = set()
    for state, status in itertools.product(DOCUMENTED_STATUSES_BY_STATE, DOCUMENTED_LABELS):
        tx = db.transaction()
        await tx.start()
        try:
            await db.execute(
                """INSERT INTO orders (merchant_id, store_id, unique_id, state, status, shipping_method, carrier_code, shipping_address)
                   VALUES ($1, $2, 'probe', $3, $4, 'ups_03', 'ups', '{}')""",
                merchant, store, state, status,
            )
            accepted.add((state, status))
        except asyncpg.CheckViolationError as error:
            assert error.constraint_name == "orders_status_in_state"
        finally:
            await tx.rollback()
    assert accepted == DOCUMENTED_PAIRS
