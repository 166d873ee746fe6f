"""order.create's automatic unique_id meeting a chosen one that another transaction has written
but not committed yet (and the reverse), the race a burst of creates rarely hits: the chosen
ids a client sends are usually committed before the merchant's sequence reaches them.

The holder is the real order.create service, run on a connection of its own in an open unit
of work that commits (or rolls back) only when the test says so. The racing create is a real
call over HTTP; the test waits until PostgreSQL reports it blocked by the holder, then ends
the holder's transaction. Never fault 1 nor a duplicate key: the automatic id skips to the next
free number (as documented: assigned from 100000001, skipping the numbers taken), the chosen
one is fault 104 when the holder commits and is written when it rolls back.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from rpc_fulfillment.config import Settings
from rpc_fulfillment.core.context import CallContext, Principal
from rpc_fulfillment.db.pool import connect
from rpc_fulfillment.db.uow import UnitOfWork
from rpc_fulfillment.jsonrpc.dispatch import METHODS
from tests.api.order_helpers import (  # noqa: F401 (invariants is a fixture)
    ADDRESS,
    EXISTS,
    INFO,
    add_product,
    assert_fault,
    invariants,
)

pytestmark = pytest.mark.usefixtures("invariants")

FIRST_AUTO_ID = 100000001
BLOCKED_SECONDS = 30.0  # generous: a loaded machine; the wait ends as soon as PostgreSQL says so


class RolledBack(Exception):
    """Raised by a held create told to roll back: its unit of work undoes the write."""


@dataclass
class OneConnection:
    """A unit of work's lease on one connection of the test's own (db/uow.py's Lease)."""

    connection: asyncpg.Connection
    slot_to_release: int | None = None

    async def leave(self) -> None:
        pass

    async def come_back(self) -> None:
        pass


class HeldCreate:
    """order.create run by its own service function in a transaction left open after the write,
    until ``end(commit)``."""

    def __init__(self, connection: asyncpg.Connection, settings: Settings, principal: Principal, args: list[Any]) -> None:
        self.connection = connection
        self._written = asyncio.Event()
        self._end: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        method = METHODS["order.create"]
        uow = UnitOfWork(OneConnection(connection), "held")
        ctx = CallContext(settings, principal, "held", uow)

        async def write_and_hold(ctx: CallContext, *args: Any) -> Any:
            ctx.uow.begin()  # order.create is WRITE_ON_BEGIN: its write would commit on its own
            result = await method.handler(ctx, *args)
            self._written.set()
            if not await self._end:
                raise RolledBack
            return result

        self.task = asyncio.create_task(uow.run(method.declaration, write_and_hold, ctx, *args))

    async def written(self) -> None:
        waiting = asyncio.create_task(self._written.wait())
        try:
            done, _ = await asyncio.wait({self.task, waiting}, timeout=BLOCKED_SECONDS,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
        if self.task in done:
            self.task.result()  # its error, if it failed
        assert self._written.is_set(), "the held create did not write"

    async def end(self, commit: bool) -> dict[str, Any] | None:
        """Commit (the new order's properties) or roll back (None)."""
        if not self._end.done():
            self._end.set_result(commit)
        try:
            return await self.task
        except RolledBack:
            return None


async def principal_of(db: asyncpg.Connection, username: str) -> Principal:
    row = await db.fetchrow(
        """SELECT u.api_user_id, u.username, u.role, u.merchant_id, m.code AS merchant_code
             FROM api_users u JOIN merchants m USING (merchant_id) WHERE u.username = $1""", username)
    return Principal(**dict(row))


async def blocked_by(db: asyncpg.Connection, holder: asyncpg.Connection, racer: asyncio.Task[Any]) -> None:
    """Until the racing call waits on the holder's transaction (PostgreSQL's lock graph)."""
    holder_pid = holder.get_server_pid()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BLOCKED_SECONDS
    while not await db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", holder_pid):
        assert not racer.done(), f"the racing create ended before waiting on the holder: {racer.result()}"
        assert loop.time() < deadline, "the racing create never waited on the holder"
        await asyncio.sleep(0.01)


def order_args(sku: str, unique_id: str | None = None) -> list[Any]:
    return [None, {sku: 1}, ADDRESS, {**INFO, **({"unique_id": unique_id} if unique_id else {})}]


@pytest.fixture
async def hold(database_url, settings, users, db):
    """``hold(args)``: order.create by the merchant user, written and held open on a connection
    of its own (HeldCreate). Afterwards what is still held rolls back and the connections close."""
    principal = await principal_of(db, users["merchant"].username)
    held: list[HeldCreate] = []

    async def hold(args: list[Any]) -> HeldCreate:
        connection = await connect(database_url)  # with the app's codecs (jsonb)
        held.append(HeldCreate(connection, settings, principal, args))
        await held[-1].written()
        return held[-1]

    yield hold
    for holder in held:
        with contextlib.suppress(Exception):
            await holder.end(False)
        await holder.connection.close()


@pytest.mark.parametrize("holders, auto_id", [
    pytest.param((True,), FIRST_AUTO_ID + 1, id="commit"),
    pytest.param((False,), FIRST_AUTO_ID, id="rollback"),
    # The optimistic write, the locked one, then the one-by-one write's retries (AUTO_ID_ATTEMPTS)
    # each meet a chosen id written meanwhile.
    pytest.param((True, True, True), FIRST_AUTO_ID + 3, id="three-commits"),
])
async def test_auto_unique_id_meeting_a_chosen_one_not_committed_yet(
        rpc, users, db, hold, holders, auto_id):
    session = await rpc.login(users["merchant"])
    chosen = [str(FIRST_AUTO_ID + n) for n in range(len(holders))]
    for sku in ["AUTO", *(f"CHOSEN-{n}" for n in chosen)]:  # one stock row each: no lock shared
        await add_product(db, sku, stock=5)
    held = [await hold(order_args(f"CHOSEN-{n}", n)) for n in chosen]

    racer = asyncio.create_task(rpc.call(session, "order.create", order_args("AUTO")))
    answers = []
    for holder, commit in zip(held, holders):
        await blocked_by(db, holder.connection, racer)
        answers.append(await holder.end(commit))
    body = await asyncio.wait_for(racer, BLOCKED_SECONDS)

    assert "error" not in body, body
    assert body["result"]["unique_id"] == str(auto_id)
    committed = [n for n, commit in zip(chosen, holders) if commit]
    assert [answer["unique_id"] for answer in answers if answer is not None] == committed
    rows = await db.fetch("SELECT unique_id FROM orders ORDER BY unique_id")
    assert [row["unique_id"] for row in rows] == sorted([*committed, str(auto_id)])


@pytest.mark.parametrize("commit", [True, False], ids=["commit", "rollback"])
async def test_chosen_unique_id_meeting_an_automatic_one_not_committed_yet(
        rpc, users, db, hold, commit):
    session = await rpc.login(users["merchant"])
    for sku in ("AUTO", "CHOSEN"):
        await add_product(db, sku, stock=5)
    holder = await hold(order_args("AUTO"))

    racer = asyncio.create_task(rpc.call(session, "order.create", order_args("CHOSEN", str(FIRST_AUTO_ID))))
    await blocked_by(db, holder.connection, racer)
    auto = await holder.end(commit)
    body = await asyncio.wait_for(racer, BLOCKED_SECONDS)

    rows = await db.fetch("SELECT o.unique_id, i.sku FROM orders o JOIN order_items i USING (order_id)")
    if commit:
        assert auto is not None and auto["unique_id"] == str(FIRST_AUTO_ID)
        assert_fault(body["error"], 104, EXISTS)
        assert [tuple(row) for row in rows] == [(str(FIRST_AUTO_ID), "AUTO")]
    else:
        assert auto is None
        assert "error" not in body, body
        assert body["result"]["unique_id"] == str(FIRST_AUTO_ID)
        assert [tuple(row) for row in rows] == [(str(FIRST_AUTO_ID), "CHOSEN")]
