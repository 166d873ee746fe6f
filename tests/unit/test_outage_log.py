"""The log of a database outage: one WARNING when it starts, one per interval while it lasts
(with the count of refused requests), one INFO when it ends; never a line per request."""

from __future__ import annotations

import logging

import asyncpg

from rpc_fulfillment.core.faults import DatabaseUnavailable
from rpc_fulfillment.db.outage import Outage, is_unreachable


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_outage_of_a_minute_is_four_lines_whatever_the_requests(caplog):
    caplog.set_level(logging.INFO, logger="rpc_fulfillment.db.outage")
    clock = Clock()
    outage = Outage(30.0, clock)
    refused = ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
    for _ in range(65 * 4):  # 4 requests a second for 65 s, and the workers' retries
        outage.failed(refused, request=True)
        outage.failed(refused, request=False)
        clock.now += 0.25
    outage.reached()
    outage.reached()  # a second new connection: nothing more to say
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in lines] == ["WARNING", "WARNING", "WARNING", "INFO"], lines
    assert "ConnectionRefusedError" in lines[0][1]
    assert "after 30 s" in lines[1][1] and "121 requests refused" in lines[1][1]
    assert "after 60 s" in lines[2][1] and "241 requests refused" in lines[2][1]
    assert "reachable again after 65.0 s; 260 requests" in lines[3][1]
    assert not any(r.exc_info for r in caplog.records)
    caplog.clear()
    outage.failed(refused, request=True)  # the next outage starts afresh
    assert [r.levelname for r in caplog.records] == ["WARNING"]


def test_unreachable_is_the_database_down_not_a_bug():
    assert is_unreachable(ConnectionRefusedError())
    assert is_unreachable(asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"))
    assert is_unreachable(asyncpg.CannotConnectNowError("the database system is starting up"))
    assert is_unreachable(DatabaseUnavailable("r1"))
    # A statement cancelled by statement_timeout, a refused constraint, a bug: not an outage.
    assert not is_unreachable(asyncpg.QueryCanceledError("canceling statement due to statement timeout"))
    assert not is_unreachable(asyncpg.UniqueViolationError("duplicate key"))
    assert not is_unreachable(KeyError("x"))
