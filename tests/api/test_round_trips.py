"""How many messages a call sends to PostgreSQL, so that the figure cannot grow unnoticed: the
statements of the call's connection (the one that sent the admission) are recorded through
asyncpg's query methods, patched for the test; the app's background work on other connections
is left out."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from tests.api.order_helpers import ADDRESS, INFO, add_product


class Sent(list):
    """(connection, SQL) of each message, one per query method call."""

    def of_the_call(self) -> list[str]:
        """The messages of the connection that admitted the call (its first statement)."""
        admitting = next(connection for connection, query in self if "rpcf_admit" in query)
        return [query for connection, query in self if connection is admitting]


@pytest.fixture
def sent(monkeypatch) -> Sent:
    messages = Sent()
    for name in ("execute", "fetch", "fetchrow", "fetchval"):
        original = getattr(asyncpg.Connection, name)

        async def recording(self: asyncpg.Connection, query: str, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            messages.append((self, " ".join(query.split())))
            return await __original(self, query, *args, **kwargs)

        monkeypatch.setattr(asyncpg.Connection, name, recording)
    return messages


async def test_a_write_commits_and_gives_its_slot_back_in_one_message(make_client, users, db, sent):
    rpc = await make_client(rate_limit=1000, rate_burst=1000, concurrency_limit=5)
    await add_product(db, "A", stock=10)
    session = await rpc.login(users["merchant"])
    unique_id = (await rpc.result(session, "order.create", [None, {"A": 1}, ADDRESS, INFO]))["unique_id"]
    sent.clear()
    assert await rpc.result(session, "order.hold", [unique_id]) is True
    messages = sent.of_the_call()
    assert messages[1] == "BEGIN"
    assert messages[-1].startswith("COMMIT; SELECT pg_advisory_unlock(")
    assert not any(message.startswith("SELECT pg_advisory_unlock") for message in messages)


async def test_a_refused_call_gives_its_slot_back_on_its_own(make_client, users, db, sent):
    rpc = await make_client(rate_limit=1000, rate_burst=1000, concurrency_limit=1)
    session = await rpc.login(users["merchant"])
    sent.clear()
    await rpc.fault(session, "order.create", [None, {"A": 1}, ADDRESS, {"shipping_method": "nope"}])
    messages = sent.of_the_call()
    assert [message for message in messages if "BEGIN" in message or "COMMIT" in message] == []
    assert len(messages) == 2 and messages[-1].startswith("SELECT pg_advisory_unlock")
    # the slot is free again: the next call of this user with a limit of one is admitted
    assert isinstance(await rpc.result(session, "store.list"), list)
