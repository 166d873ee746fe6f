"""Fuzzing the arguments of every method registered in ``METHODS``: valid calls with one thing
changed, calls shaped after the pydantic input models with arbitrary contents, and random JSON
(see strategies.py), sent as ``call``, as a ``multiCall`` entry or in a batch, by every role and
by the other merchant. The harness checks each answer (no HTTP 5xx, never fault 1, well-formed
JSON-RPC); afterwards the server answers /health and the invariants of design §8 hold."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rpc_fulfillment.jsonrpc.dispatch import METHODS
from tests import figures
from tests.fuzz.conftest import MINIMUM_EXAMPLES, SCALE, fuzz_settings, method_example
from tests.fuzz.strategies import ABSENT, TEXT, call_arguments

# The envelope tests run 2,200 examples; the methods share the rest of the 5,000 and more.
PER_METHOD = max(90, math.ceil(3000 / len(METHODS)))
ROLES = ["admin", "admin", "admin", "merchant", "warehouse", "other"]

_strategies: dict[str, Any] = {}


def arguments(harness: Any, path: str) -> Any:
    if path not in _strategies:
        names = [parameter.name for parameter in METHODS[path].parameters]
        _strategies[path] = call_arguments(path, names, harness.seeds)
    return _strategies[path]


def _params(session: Any, path: str, args: Any) -> list[Any]:
    return [session, path] if args is ABSENT else [session, path, args]


@pytest.mark.parametrize("path", sorted(METHODS))
@given(data=st.data())
@fuzz_settings(PER_METHOD)
def test_method_arguments(harness, path, data):
    args = data.draw(arguments(harness, path), label="args")
    role = data.draw(st.sampled_from(ROLES), label="role")
    session = harness.sessions[role] if data.draw(st.integers(0, 19), label="bad session") else data.draw(TEXT)
    how = data.draw(st.sampled_from(["call"] * 8 + ["multiCall", "batch"]), label="how")
    with method_example(harness, path):
        _send(harness, data, session, path, args, how)


def _send(harness: Any, data: Any, session: Any, path: str, args: Any, how: str) -> None:
    if how == "call":
        harness.send({"jsonrpc": "2.0", "id": 1, "method": "call", "params": _params(session, path, args)})
    elif how == "multiCall":
        entry = [path] if args is ABSENT else [path, args]
        options = data.draw(st.sampled_from([None, {"break": True}, []]), label="options")
        harness.send({"jsonrpc": "2.0", "id": "m", "method": "multiCall", "params": [session, [entry, entry], options]})
    else:
        harness.send([
            {"jsonrpc": "2.0", "id": 1, "method": "call", "params": _params(session, path, args)},
            {"jsonrpc": "2.0", "method": "call", "params": _params(session, path, args)},  # a notification
            {"jsonrpc": "2.0", "id": 2, "method": "call", "params": [session, path]},
        ])


def test_server_healthy_after_method_fuzz(harness):
    harness.health()
    harness.check_invariants()
    examples = figures.counters[("fuzz", "examples")]
    if figures.counters[("fuzz", "envelope")] and SCALE >= 1:  # the whole fuzz suite ran
        assert examples >= MINIMUM_EXAMPLES, examples
