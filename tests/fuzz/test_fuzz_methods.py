"""Fuzzing the arguments of every method registered in ``METHODS``: valid calls with one thing
changed, calls shaped after the pydantic input models with arbitrary contents, and random JSON
(see strategies.py), sent as ``call``, as a ``multiCall`` entry or in a batch, by every role and
by the other merchant. The harness checks each answer (no HTTP 5xx, never fault 1, well-formed
JSON-RPC); afterwards the server answers /health and the invariants of design §8 hold."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rpc_fulfillment.jsonrpc.dispatch import METHODS
from tests import figures
from tests.fuzz.conftest import MINIMUM_METHOD_EXAMPLES, SCALE, USERS, depth_figures, fuzz_settings, method_example
from tests.fuzz.strategies import ABSENT, TEXT, call_arguments, weighted

# Fewer examples, most of them deep (they reach the service and its SQL, and cost more each):
# a method that takes arguments gets PER_METHOD, one that takes none (a list, the document)
# has little to vary and gets PER_METHOD_WITHOUT_ARGUMENTS.
PER_METHOD = 60
PER_METHOD_WITHOUT_ARGUMENTS = 15
# The shares of method examples that must reach the service function, and run SQL in it.
MINIMUM_SERVICE_SHARE = 0.7
MINIMUM_SQL_SHARE = 0.5
WITH_ARGUMENTS = sorted(path for path, method in METHODS.items() if method.parameters)
WITHOUT_ARGUMENTS = sorted(path for path, method in METHODS.items() if not method.parameters)
ROLE_OF = {label: role for label, _, role in USERS}

_strategies: dict[str, Any] = {}


def arguments(harness: Any, path: str) -> Any:
    if path not in _strategies:
        _strategies[path] = call_arguments(path, harness.seeds)
    return _strategies[path]


def sessions(harness: Any, path: str) -> st.SearchStrategy[Any]:
    """Mostly the session of a user whose role may call ``path`` (of merchant acme, whose
    objects the plans name, four times as often as of the other merchant); a role that may
    not, 1 in 10; no valid session, 1 in 20."""
    allowed = [label for label, role in ROLE_OF.items() if role in METHODS[path].roles]
    refused = [label for label in ROLE_OF if label not in allowed]
    callers = [label for label in allowed for _ in range(1 if label.startswith("other") else 4)]
    session = st.sampled_from(callers).map(harness.sessions.get)
    return weighted((17, session), (2, st.sampled_from(refused or callers).map(harness.sessions.get)), (1, TEXT))


def _params(session: Any, path: str, args: Any) -> list[Any]:
    return [session, path] if args is ABSENT else [session, path, args]


@pytest.mark.parametrize("path", WITH_ARGUMENTS)
@given(data=st.data())
@fuzz_settings(PER_METHOD)
def test_method_arguments(harness, path, data):
    _example(harness, path, data)


@pytest.mark.parametrize("path", WITHOUT_ARGUMENTS)
@given(data=st.data())
@fuzz_settings(PER_METHOD_WITHOUT_ARGUMENTS)
def test_method_without_arguments(harness, path, data):
    _example(harness, path, data)


def _example(harness: Any, path: str, data: Any) -> None:
    args = data.draw(arguments(harness, path), label="args")
    session = data.draw(sessions(harness, path), label="session")
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
    examples = [figures.counters[("fuzz examples", path)] for path in METHODS]
    if all(examples) and SCALE >= 1:  # every method was fuzzed in this process
        assert sum(examples) >= MINIMUM_METHOD_EXAMPLES, depth_figures()


def test_most_method_examples_reach_the_service_and_its_sql():
    """The fuzz is deep: most examples get past the session, role and argument checks into the
    service function, and most of all examples run SQL there (measured when every method was
    fuzzed: 82 % and 64 %)."""
    examples = [figures.counters[("fuzz examples", path)] for path in METHODS]
    if not all(examples):
        pytest.skip("only some methods were fuzzed in this run")
    reached = sum(figures.counters[("fuzz service", path)] for path in METHODS)
    ran_sql = sum(figures.counters[("fuzz sql", path)] for path in METHODS)
    assert reached >= MINIMUM_SERVICE_SHARE * sum(examples), depth_figures()
    assert ran_sql >= MINIMUM_SQL_SHARE * sum(examples), depth_figures()
