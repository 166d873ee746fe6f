"""The fuzz's strategies name only what exists: every method of ``METHODS`` has a plan, every
plan is for a registered method and gives shapes only for parameters the method takes, every
parameter without a shape of its plan has one by name or in the OpenRPC document, and a
strategy that needs a seed the harness did not make fails instead of falling back to anything.
No server: these check the tables the method fuzz draws from."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rpc_fulfillment.jsonrpc.dispatch import METHODS
from tests.fuzz.strategies import BY_NAME, PLANS, Plan, Seeds, call_arguments, known, parameter_shapes

SEEDS = Seeds(["FZ-A"], ["OT-A"], ["FZ1"], ["OT1"], ["7"], [3], [11], "http://127.0.0.1:9/hook")


def test_every_method_has_a_plan_and_every_plan_a_method():
    assert sorted(set(METHODS) - set(PLANS)) == [], "methods fuzzed without a plan: add one to PLANS in tests/fuzz/strategies.py"
    assert sorted(set(PLANS) - set(METHODS)) == [], "plans for methods that are not registered"


@pytest.mark.parametrize("path", sorted(PLANS))
def test_a_plan_shapes_only_parameters_its_method_takes(path):
    parameters = {parameter.name for parameter in METHODS[path].parameters}
    assert set(PLANS[path].shapes) <= parameters
    assert set(parameter_shapes(path, SEEDS)) == parameters


def test_every_shape_by_name_is_a_parameter_of_some_method():
    names = {parameter.name for method in METHODS.values() for parameter in method.parameters}
    assert sorted(set(BY_NAME) - names) == []


@pytest.mark.parametrize("path", sorted(PLANS))
@settings(max_examples=5, database=None, deadline=None)
@given(data=st.data())
def test_a_plans_valid_call_fits_its_method(path, data):
    args = data.draw(PLANS[path].valid(SEEDS))
    assert isinstance(args, list) and len(args) <= len(METHODS[path].parameters)
    data.draw(call_arguments(path, SEEDS))


def test_a_missing_seed_or_stale_plan_is_an_error_not_a_fallback(monkeypatch):
    with pytest.raises(LookupError, match="no shipments"):
        known([], "shipments")
    no_shipments = Seeds(["FZ-A"], ["OT-A"], ["FZ1"], ["OT1"], [], [3], [11], "http://127.0.0.1:9/hook")
    with pytest.raises(LookupError, match="no shipments"):
        parameter_shapes("shipment.info", no_shipments)
    stale = Plan(PLANS["order.hold"].valid, {"orderId": PLANS["order.hold"].shapes["orderUniqueId"]})
    monkeypatch.setitem(PLANS, "order.hold", stale)
    with pytest.raises(LookupError, match="orderId"):
        parameter_shapes("order.hold", SEEDS)
