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
    pool: asyncpg.Pool
    settings: Settings
    principal: Principal
    request_id: str


class _Required:
    """Default marking an API argument as required even though an optional one precedes it
    (order.create's storeCode may be null, its items may not)."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: object = _Required()
