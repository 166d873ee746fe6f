"""The database being unreachable, told apart from a bug, and logged once per interval.

While PostgreSQL is down (refused, lost, shutting down or starting up), every request that
needs it fails the same way within milliseconds: the API answers them 503 (jsonrpc/dispatch.py)
and the background workers wait and try again. Logging each of them would write thousands of
identical tracebacks a second; ``OUTAGE`` writes a WARNING when the outage starts, one every
REPORT_INTERVAL seconds while it lasts with the count of refused requests, and an INFO when a
connection succeeds again (db/pool.py calls ``reached`` for every new connection).

Nothing needs to be reset when the database returns: the pools drop connections that failed
and open new ones on demand, and each worker loop tries again on its own.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

import asyncpg

from rpc_fulfillment.core.faults import DatabaseUnavailable

log = logging.getLogger(__name__)

REPORT_INTERVAL = 30.0  # seconds between the WARNINGs of one outage
# What the database, or the way to it, being down looks like: no connection (refused, reset,
# timed out: OSError), a connection lost (SQLSTATE class 08), the server shutting down or
# crashed (57P01, 57P02), starting up or recovering (57P03), out of connection slots (53300),
# and what only connecting can meet: no such database (3D000: dropped, or DATABASE_URL names
# another), credentials refused (28000, 28P01).
# Not the rest of class 57: a statement cancelled by statement_timeout (57014) is the call's.
# And asyncpg's InternalClientError: the server ended the connection between two statements of a
# call (its FATAL message came first, the socket is not closed yet) and the next one finds the
# protocol still waiting for the end of that message.
UNREACHABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError, asyncpg.PostgresConnectionError, asyncpg.AdminShutdownError, asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError, asyncpg.InvalidCatalogNameError,
    asyncpg.InvalidAuthorizationSpecificationError, asyncpg.exceptions.InternalClientError,
)


def is_unreachable(error: BaseException) -> bool:
    return isinstance(error, (*UNREACHABLE_ERRORS, DatabaseUnavailable))


def _describe(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class Outage:
    """The current outage of this process's database, if any, and its log lines."""

    def __init__(self, interval: float = REPORT_INTERVAL, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self.started: float | None = None
        self._reported = 0.0
        self._refused = 0  # requests answered 503 in this outage

    def failed(self, error: BaseException, *, request: bool) -> None:
        """The database could not be reached (``request``: an API request was refused for it)."""
        now = self._clock()
        self._refused += request
        if self.started is None:
            self.started = self._reported = now
            log.warning("database unreachable (%s): requests are answered 503 and background work waits "
                        "until it is back", _describe(error))
        elif now - self._reported >= self.interval:
            self._reported = now
            log.warning("database still unreachable after %.0f s (%s): %d requests refused so far",
                        now - self.started, _describe(error), self._refused)

    def reached(self) -> None:
        """A connection to the database succeeded: the outage, if there was one, is over."""
        if self.started is None:
            return
        log.info("database reachable again after %.1f s; %d requests were refused meanwhile",
                 self._clock() - self.started, self._refused)
        self.started, self._refused = None, 0


OUTAGE = Outage()


def _what_happened(error: Exception) -> Exception:
    """The error to report. A connection lost inside ``async with conn.transaction()`` surfaces
    as asyncpg's InterfaceError "cannot call Transaction.__aexit__(): the underlying connection
    is closed", raised while handling the error that lost it (its ``__context__``): that one."""
    lost = error.__context__
    if isinstance(error, asyncpg.InterfaceError) and isinstance(lost, Exception) and is_unreachable(lost):
        return lost
    return error


def background_failure(logger: logging.Logger, what: str, error: Exception) -> None:
    """A background loop's round failed: an unreachable database is the outage's to log (once
    per interval), another database error a WARNING, anything else an ERROR with its traceback.
    The loop goes on either way and tries again at its next round."""
    error = _what_happened(error)
    if is_unreachable(error):
        OUTAGE.failed(error, request=False)
    elif isinstance(error, (asyncpg.PostgresError, asyncpg.InterfaceError)):
        logger.warning("%s: %s", what, _describe(error))
    else:
        logger.error("%s: unexpected error", what, exc_info=error)
