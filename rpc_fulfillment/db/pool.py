"""The asyncpg pool: one per process, JSON columns decoded with orjson."""

from __future__ import annotations

import os

import asyncpg
import orjson

from rpc_fulfillment.db.outage import OUTAGE
from rpc_fulfillment.db.uow import Statements

# What a query function is given: an API call's connection (its unit of work's statements), a
# connection of its own, or one borrowed from the pool (the workers).
Connection = Statements | asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()


async def _init_connection(connection: asyncpg.Connection) -> None:
    OUTAGE.reached()  # a new connection: the database is up, if it was down
    for kind in ("json", "jsonb"):
        await connection.set_type_codec(kind, encoder=_dumps, decoder=orjson.loads, schema="pg_catalog")


async def _rollback_if_needed(connection: asyncpg.Connection) -> None:
    """What a released connection needs here. asyncpg's default reset also unlocks advisory
    locks, closes cursors, unlistens and resets settings, none of which our code leaves
    behind (advisory locks are transaction-scoped; LISTEN uses a connection of its own); that
    query cost 15% of a simple call's time."""
    if connection.is_in_transaction():
        await connection.execute("ROLLBACK")


# The settings of the pool's connections, sent with the connection's startup message.
# plan_cache_mode: every prepared statement keeps its generic plan, planned once. Under the
# default (auto) a hot statement could flip between generic and custom plans, and a custom plan
# costs ~700 µs of planning a statement; the searches whose best plan depends on the values
# ask for custom plans in their transaction (db/search.py CUSTOM_PLANS).
# statement_timeout: the server ends a statement running past a minute. It replaces asyncpg's
# command_timeout, which armed a timer on every query (~15 µs a call).
POOL_SETTINGS = {"plan_cache_mode": "force_generic_plan", "statement_timeout": "60s"}
# Seconds to open a connection: past it the database counts as unreachable (asyncpg's default,
# 60 s, would keep every call of an outage waiting that long where packets are dropped).
CONNECT_TIMEOUT = 5.0


async def create_pool(database_url: str, size: int) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        database_url,
        # No floor of idle connections: asyncpg (0.32) would keep one by reconnecting in the
        # background, logging a traceback at each attempt while the database is down.
        # Connections are opened when calls need them, and closed after 5 idle minutes.
        min_size=0,
        max_size=size,
        timeout=CONNECT_TIMEOUT,
        init=_init_connection,
        reset=_rollback_if_needed,
        # Each process's connections carry its pid: pg_stat_activity tells which server holds what.
        server_settings={**POOL_SETTINGS, "application_name": f"rpc-fulfillment pid {os.getpid()}"},
    )


async def connect(database_url: str) -> asyncpg.Connection:
    connection = await asyncpg.connect(database_url, timeout=CONNECT_TIMEOUT)
    await _init_connection(connection)
    return connection
