"""Counts the stress tests' runs for the figures in the terminal summary (tests/figures.py), and
fails a race test in which the server retried a call.

The server runs a call again when PostgreSQL aborts its transaction as a deadlock victim
(40P01) or a serialization failure (40001), with a WARNING per retry (db/uow.py ``UnitOfWork.run``).
The race tests assert "no deadlock" through the answers, which a successful retry hides; so
every test of a ``test_*_races.py`` module (all of them run the app in this process) also fails
when any retry was logged, naming the method and the SQLSTATE. The crash and shutdown tests run
the server as a subprocess, whose log this cannot see: they are left alone.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from rpc_fulfillment.db import uow
from tests import figures

# The WARNING of uow.UnitOfWork.run: "request R: order.cancel attempt 1 of 3 failed
# (DeadlockDetectedError 40P01: deadlock detected ...); retrying in 2.1 ms".
_RETRY = re.compile(r"request (?P<request>\S+): (?P<method>\S+) attempt (?P<attempt>\d+) of \d+ failed \((?P<error>\w+) (?P<sqlstate>\w+):")


def pytest_runtest_logreport(report: Any) -> None:
    if getattr(report, "node", None) is not None:
        return  # a pytest-xdist controller sees a worker's report: the worker counted it
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        name = report.nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
        figures.race_runs[name][report.outcome] += 1
        figures.race_seconds[0] += report.duration


@dataclass(frozen=True)
class Retry:
    method: str
    sqlstate: str
    error: str
    request: str
    message: str


class RetryLog(logging.Handler):
    """The retry WARNINGs of db/uow.py while a test runs. Any WARNING of that logger that
    names a transient SQLSTATE counts, even if its wording changed, so that a retry can never
    go unseen (the exact wording only makes the report name the method)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.retries: list[Retry] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        match = _RETRY.match(message)
        if match:
            self.retries.append(Retry(match["method"], match["sqlstate"], match["error"], match["request"], message))
        elif "retrying" in message or "40P01" in message or "40001" in message:
            self.retries.append(Retry("?", "40P01" if "40P01" in message else "40001" if "40001" in message else "?", "?", "?", message))

    def report(self) -> str:
        counts = Counter((r.method, r.sqlstate, r.error) for r in self.retries)
        summary = ", ".join(f"{method} {sqlstate} ({error}) x{n}" for (method, sqlstate, error), n in counts.most_common())
        lines = "\n".join(f"  {r.message}" for r in self.retries[:20])
        more = f"\n  ... and {len(self.retries) - 20} more" if len(self.retries) > 20 else ""
        return (f"the server retried {len(self.retries)} call(s) after a deadlock or serialization failure, "
                f"which the answers do not show: {summary}\n{lines}{more}")


_RETRY_LOG = pytest.StashKey[RetryLog]()


def is_race_test(item: pytest.Item) -> bool:
    return re.fullmatch(r"test_.*_races\.py", Path(str(item.fspath)).name) is not None


@pytest.fixture(autouse=True)
def no_retried_calls(request: pytest.FixtureRequest) -> Iterator[RetryLog | None]:
    """In a race test: the log of the server's retries, which must stay empty (checked at the end
    of the test's call by pytest_runtest_call below, and again after its teardown)."""
    if not is_race_test(request.node):
        yield None
        return
    logger = uow.log
    handler = RetryLog()
    level = logger.level
    if not logger.isEnabledFor(logging.WARNING):
        logger.setLevel(logging.WARNING)
    logger.addHandler(handler)
    request.node.stash[_RETRY_LOG] = handler
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    # Retries after the call's check (in the fixtures' teardown): an error of the test.
    assert not handler.retries, handler.report()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A race test fails when the server retried any call during its set-up or its call."""
    __tracebackhide__ = True
    try:
        result = yield
    except BaseException as exc:
        handler = item.stash.get(_RETRY_LOG, None)
        if handler is not None and handler.retries:
            exc.add_note(handler.report())
            handler.retries.clear()
        raise
    handler = item.stash.get(_RETRY_LOG, None)
    if handler is not None and handler.retries:
        report = handler.report()
        handler.retries.clear()
        raise AssertionError(report)
    return result
