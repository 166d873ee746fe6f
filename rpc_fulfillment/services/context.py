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
