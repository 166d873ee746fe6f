"""What every service function receives: who is calling, and where the data lives."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from rpc_fulfillment.config import Settings


@dataclass(frozen=True)
class Principal:
    """An authenticated API user. Every query a service makes is scoped to ``merchant_id``."""

    api_user_id: int
    username: str
    role: str
    merchant_id: int
    merchant_code: str


@dataclass(frozen=True)
class CallContext:
    pool: asyncpg.Pool | CallConnection
    settings: Settings
    principal: Principal
    request_id: str


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


class _Required:
    """Default marking an API argument as required even though an optional one precedes it
    (order.create's storeCode may be null, its items may not)."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: object = _Required()
