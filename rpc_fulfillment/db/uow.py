"""The unit of work of one API call: its connection, its transaction, the retry, and the
database's errors in the domain's terms.

A call gets one pooled connection (the admission statements and the service share it). Each
service function runs in one transaction, as its declaration says (core/api.py): begun by
its first statement (a call refused before it reads anything costs no BEGIN/ROLLBACK),
committed when the function returns, rolled back when it raises. A function declared
WRITE_ON_BEGIN runs its statements each in its own transaction until it calls ``begin()``. A transaction PostgreSQL
aborts as a deadlock victim or a serialization failure is run again, the whole function in
a fresh transaction, up to CALL_ATTEMPTS times in all: the failed attempt left nothing behind.

The connection is a lease (``Lease``): a call that waits on something outside the database
(the network, a worker) does it inside ``away()``, which commits, gives the connection back
for the wait and takes one again after it, so that no call holds a connection while it waits.

The driver's errors stop here: a refused unique, check or foreign-key constraint becomes
core's Conflict / ConstraintViolated (with the constraint's name), a number too large
OutOfRange, a statement's own re-check refusing (SQLSTATE RF001) Stale, text with a NUL character the -32602 answer, a lost
connection DatabaseUnavailable (db/outage.py: HTTP 503, logged once per interval).
"""

from __future__ import annotations

import asyncio
import logging
import random
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable, Protocol

import asyncpg

from rpc_fulfillment.core.api import Declaration, Transaction
from rpc_fulfillment.core.context import AfterCommit
from rpc_fulfillment.core.faults import Conflict, ConstraintViolated, DatabaseUnavailable, InvalidParams, OutOfRange, Stale
from rpc_fulfillment.db.outage import UNREACHABLE_ERRORS

log = logging.getLogger(__name__)

# PostgreSQL's "try the transaction again" errors (SQLSTATE 40P01 and 40001): the whole
# transaction was rolled back, and running it again may well succeed.
TRANSIENT_ERRORS = (asyncpg.exceptions.DeadlockDetectedError, asyncpg.exceptions.SerializationError)
CALL_ATTEMPTS = 3  # in all, the first included
RETRY_BACKOFF = 0.004  # seconds: the n-th retry waits a random 50-100% of RETRY_BACKOFF * 2**(n-1)
# JSON strings may hold U+0000, PostgreSQL text and jsonb may not.
NUL_ERRORS = (asyncpg.CharacterNotInRepertoireError, asyncpg.UntranslatableCharacterError)
# Raised by a statement whose re-check finds what it was decided on changed (rpcf_stock_as_read,
# migration 0011); asyncpg knows no class for our own SQLSTATEs.
STALE_SQLSTATE = "RF001"


def _refused(error: asyncpg.PostgresError) -> Exception:
    """The store's refusal in core's terms; an unknown SQLSTATE other than ours stays as it is."""
    constraint = getattr(error, "constraint_name", None)
    if isinstance(error, asyncpg.UniqueViolationError):
        return Conflict(constraint, str(error))
    if isinstance(error, asyncpg.IntegrityConstraintViolationError):
        return ConstraintViolated(constraint, str(error))
    if isinstance(error, asyncpg.NumericValueOutOfRangeError):
        return OutOfRange(constraint, str(error))
    return Stale(None, str(error)) if error.sqlstate == STALE_SQLSTATE else error


REFUSALS = (asyncpg.IntegrityConstraintViolationError, asyncpg.NumericValueOutOfRangeError,
            asyncpg.exceptions.UnknownPostgresError)


class Statements:
    """The call's connection as services and queries see it: each statement runs inside the
    unit's transaction (the first one begins it), and the database's refusals come out as
    core's StoreRefused exceptions."""

    def __init__(self, unit: UnitOfWork) -> None:
        self._unit = unit

    async def _run(self, method: str, query: str, *args: Any) -> Any:
        """One statement by the connection's ``method``, in the unit's transaction."""
        connection = await self._unit.begun()
        try:
            return await getattr(connection, method)(query, *args)
        except REFUSALS as error:
            raise _refused(error) from None

    async def execute(self, query: str, *args: Any) -> str:
        return await self._run("execute", query, *args)

    async def executemany(self, query: str, args: Any) -> None:
        await self._run("executemany", query, args)

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        return await self._run("fetch", query, *args)

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        return await self._run("fetchrow", query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        return await self._run("fetchval", query, *args)


class Lease(Protocol):
    """Where a unit of work's connection comes from and goes back to between its uses."""

    connection: asyncpg.Connection  # the connection held now
    # The concurrency slot (an advisory lock key) to give back in the message that commits the
    # call's transaction (COMMIT and the unlock cost one round trip, not two); None: none.
    slot_to_release: int | None

    async def leave(self) -> None:
        """Give the connection (and what rides on it) back; hold nothing until ``come_back``."""

    async def come_back(self) -> None:
        """Take a connection again (``connection``) after ``leave``."""


class UnitOfWork:
    """One API call's connection; ``run`` runs a service function in its transaction."""

    def __init__(self, lease: Lease, request_id: str) -> None:
        self.lease = lease
        self.request_id = request_id
        self.conn = Statements(self)
        self._declared: Transaction | None = None  # the running function's transaction
        self._pending: Transaction | None = None  # declared, not begun yet
        self._open = False  # a transaction is begun and not ended
        self._savepoints = 0

    @property
    def connection(self) -> asyncpg.Connection:
        """The raw connection held now, for the admission's statements."""
        return self.lease.connection

    async def begun(self) -> asyncpg.Connection:
        """The connection, with the declared transaction begun if it was not yet. Transactions
        are plain SQL, not asyncpg's Transaction objects, so that COMMIT can share a message."""
        if self._pending is not None:
            declared, self._pending = self._pending, None
            await self.connection.execute(_begin_sql(declared))
            self._open = True
        return self.connection

    def begin(self) -> None:
        """Begin the declared transaction with the next statement (for a function declared
        WRITE_ON_BEGIN; a transaction begun already goes on)."""
        if not self._open:
            self._pending = self._declared

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A nested transaction: an error inside undoes only what was written inside it."""
        connection = await self.begun()
        self._savepoints += 1
        name = f"uow_{self._savepoints}"
        await connection.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            if not connection.is_closed():
                await connection.execute(f"ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}")
            raise
        await connection.execute(f"RELEASE SAVEPOINT {name}")

    async def commit(self) -> None:
        """Commit now; the statements after it each commit on their own (webhook.test commits
        its ping, then waits for the worker to send it)."""
        await self._commit(release=False)

    @asynccontextmanager
    async def away(self) -> AsyncIterator[None]:
        """Wait outside the database: commit what is open, give the connection back for the
        wait, take one again after it. The statements after it each commit on their own (as
        after ``commit``). A wait that raises (cancelled at the request's time limit) ends the
        call: no connection is taken again for it."""
        await self.commit()
        await self.lease.leave()
        yield
        await self.lease.come_back()

    async def _commit(self, *, release: bool) -> None:
        """COMMIT, with the slot's unlock in the same message when the call ends here."""
        was_open, self._open, self._pending = self._open, False, None
        if not was_open:
            return
        lease = self.lease
        slot = lease.slot_to_release if release else None
        unlock = f"; SELECT pg_advisory_unlock({int(slot)})" if slot is not None else ""
        await self.connection.execute(f"COMMIT{unlock}")
        if slot is not None:
            lease.slot_to_release = None

    async def rollback(self) -> None:
        """Undo what this attempt wrote so far; the next statement begins a fresh transaction."""
        was_open, self._open, self._pending = self._open, False, self._declared
        if was_open:
            await self.connection.execute("ROLLBACK")

    async def run(self, declaration: Declaration, service: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """``service(*args)`` in its transaction, run again after a deadlock or a serialization
        failure (unless declared not to be); the last attempt's error goes on."""
        attempt = 1
        while True:
            try:
                return await self._attempt(declaration.transaction, service, args)
            except TRANSIENT_ERRORS as error:
                if attempt >= CALL_ATTEMPTS or not declaration.retry:
                    raise
                delay = RETRY_BACKOFF * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)
                log.warning(
                    "request %s: %s attempt %d of %d failed (%s %s: %s); retrying in %.1f ms",
                    self.request_id, declaration.path, attempt, CALL_ATTEMPTS, type(error).__name__, error.sqlstate,
                    error, delay * 1000,
                )
                await asyncio.sleep(delay)
                attempt += 1
            except NUL_ERRORS:
                raise InvalidParams(f"{declaration.path}: text may not contain the NUL character (\\u0000)") from None
            except UNREACHABLE_ERRORS as error:
                raise DatabaseUnavailable(self.request_id) from error
            except asyncpg.InterfaceError as error:
                if self.connection.is_closed():  # lost earlier, in another statement of the call
                    raise DatabaseUnavailable(self.request_id) from error
                raise

    async def _attempt(self, declared: Transaction | None, service: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> Any:
        self._declared = declared
        self._pending = None if declared is None or declared.on_begin else declared
        try:
            result = await service(*args)
            await self._commit(release=True)
        except BaseException:
            if self._open and not self.connection.is_closed():
                await self.rollback()
            raise
        finally:
            self._declared = self._pending = None
            self._open = False
        return result.finish() if isinstance(result, AfterCommit) else result


def _begin_sql(declared: Transaction) -> str:
    isolation = f" ISOLATION LEVEL {declared.isolation.replace('_', ' ').upper()}" if declared.isolation else ""
    return f"BEGIN{isolation}{' READ ONLY' if declared.readonly else ''}"


@asynccontextmanager
async def unit_of_work(lease: Lease, request_id: str) -> AsyncIterator[UnitOfWork]:
    """A call's unit of work on a connection of ``lease``, given back when the call ends."""
    await lease.come_back()
    try:
        yield UnitOfWork(lease, request_id)
    finally:
        await lease.leave()
