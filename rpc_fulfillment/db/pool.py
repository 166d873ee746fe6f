"""The asyncpg pool: one per process, JSON columns decoded with orjson."""

from __future__ import annotations

import asyncpg
import orjson

from rpc_fulfillment.db.uow import Statements

# What a query function is given: an API call's connection (its unit of work's statements), a
# connection of its own, or one borrowed from the pool (the workers).
Connection = Statements | asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


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
        # The server stops a statement after 60 s: no client-side timer per query (asyncpg's
        # command_timeout arms one for every statement).
        server_settings={"statement_timeout": "60s"},
    )


async def connect(database_url: str) -> asyncpg.Connection:
    connection = await asyncpg.connect(database_url)
    await _init_connection(connection)
    return connection
