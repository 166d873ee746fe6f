"""order.create in at most 3 round trips to PostgreSQL: the admission (session and limits), the
lookup, the write. Counted here: the statements the call's connection sends (every asyncpg
query method, BEGIN/COMMIT/SAVEPOINT included, as those go through ``execute`` too), once
each connection has prepared them (a statement's first use on a connection costs a Parse
round trip more, as in any asyncpg server)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterator

import asyncpg
import pytest

from rpc_fulfillment.orders.queries import INSERT_ORDERS, LOOKUP_FOR_CREATE
from tests.api.order_helpers import ADDRESS, INFO, add_product

QUERY_METHODS = ("execute", "executemany", "fetch", "fetchrow", "fetchval")


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[int, list[str]]]:
    """Each connection's statements (by id of the connection), while the test runs."""
    sent: dict[int, list[str]] = defaultdict(list)

    def counting(method: Any) -> Any:
        async def send(self: asyncpg.Connection, query: str, *args: Any, **kwargs: Any) -> Any:
            sent[id(self)].append(query)
            return await method(self, query, *args, **kwargs)
        return send

    for name in QUERY_METHODS:
        monkeypatch.setattr(asyncpg.Connection, name, counting(getattr(asyncpg.Connection, name)))
    yield sent


def name(query: str) -> str:
    if query == INSERT_ORDERS:
        return "write"
    if query in LOOKUP_FOR_CREATE.values():
        return "lookup"
    return " ".join(query.split())[:60]


async def create_counted(rpc: Any, session: str, statements: dict[int, list[str]]) -> list[str]:
    """One order.create; the statements of the connection that made its lookup, named."""
    statements.clear()
    result = await rpc.result(session, "order.create", [None, {"A": 1}, ADDRESS, INFO])
    assert result["status"] == "new"
    [sent] = [queries for queries in statements.values() if any(query in LOOKUP_FOR_CREATE.values() for query in queries)]
    return [name(query) for query in sent]


async def test_a_plain_create_is_three_round_trips(rpc, users, db, statements):
    await add_product(db, "A", stock=100)
    session = await rpc.login(users["merchant"])
    for _ in range(3):  # every pooled connection prepares its statements
        await rpc.result(session, "order.create", [None, {"A": 1}, ADDRESS, INFO])
    sent = await create_counted(rpc, session, statements)
    assert len(sent) <= 3, sent
    assert sent[1:] == ["lookup", "write"], sent


async def test_with_limits_on_the_call_is_three_round_trips_and_the_slot_release(make_client, users, db, statements):
    """The rate and concurrency limits are checked by the admission's one statement; the
    concurrency slot is given back after the answer is ready (a statement of its own)."""
    await add_product(db, "A", stock=100)
    rpc = await make_client(rate_limit=1000, concurrency_limit=5)
    session = await rpc.login(users["merchant"])
    for _ in range(3):
        await rpc.result(session, "order.create", [None, {"A": 1}, ADDRESS, INFO])
    sent = await create_counted(rpc, session, statements)
    assert sent[1:3] == ["lookup", "write"], sent
    assert len(sent) <= 4 and all("unlock" in query for query in sent[3:]), sent
