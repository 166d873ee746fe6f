"""The asyncpg pool: one per process, JSON columns decoded with orjson."""

from __future__ import annotations

import asyncpg
import orjson


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()


async def _init_connection(connection: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await connection.set_type_codec(kind, encoder=_dumps, decoder=orjson.loads, schema="pg_catalog")


async def _rollback_if_needed(connection: asyncpg.Connection) -> None:
    """What a released connection needs here. asyncpg's default reset also unlocks advisory
    locks, closes cursors, unlistens and resets settings, none of which our code leaves
    behind (advisory locks are transaction-scoped; LISTEN uses a connection of its own); that
    query cost 15% of a simple call's time."""
    if connection.is_in_transaction():
        await connection.execute("ROLLBACK")


async def create_pool(database_url: str, size: int) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        database_url,
        min_size=1,
        max_size=size,
        init=_init_connection,
        reset=_rollback_if_needed,
        command_timeout=60,
    )


async def connect(database_url: str) -> asyncpg.Connection:
    connection = await asyncpg.connect(database_url)
    await _init_connection(connection)
    return connection


class CallConnection:
    """One pooled connection standing in for the pool during one API call, so the session
    check and the service share it: one acquire and release per call instead of two.

    ``acquire()`` hands out the same connection (nested acquires get it too, and a nested
    transaction becomes a savepoint); the one-statement helpers run on it directly.
    """

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    def acquire(self) -> "_Borrowed":
        return _Borrowed(self._connection)

    def is_in_transaction(self) -> bool:
        """Whether a transaction is still open on the call's connection (none is between the
        call's statements: a service's transaction ends, committed or rolled back, with it)."""
        return self._connection.is_in_transaction()

    async def fetch(self, query: str, *args: object) -> list[asyncpg.Record]:
        return await self._connection.fetch(query, *args)

    async def fetchrow(self, query: str, *args: object) -> asyncpg.Record | None:
        return await self._connection.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: object) -> object:
        return await self._connection.fetchval(query, *args)

    async def execute(self, query: str, *args: object) -> str:
        return await self._connection.execute(query, *args)


class _Borrowed:
    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def __aenter__(self) -> asyncpg.Connection:
        return self._connection

    async def __aexit__(self, *exc_info: object) -> None:
        return None
