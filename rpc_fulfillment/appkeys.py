"""Typed keys for what the aiohttp application holds."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from rpc_fulfillment.accounts.limits import LoginGate
from rpc_fulfillment.config import Settings
from rpc_fulfillment.db.shares import MerchantShares

POOL = web.AppKey("pool", asyncpg.Pool)
SETTINGS = web.AppKey("settings", Settings)
SHARES = web.AppKey("merchant shares of the pool", MerchantShares)
LOGIN_GATE = web.AppKey("login_gate", LoginGate)
