"""Deleting expired sessions, and failed logins older than their window. Lookups already
ignore both; this only keeps the tables small."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from rpc_fulfillment.store.accounts import delete_expired_sessions
from rpc_fulfillment.store.limits import delete_stale_login_failures

log = logging.getLogger(__name__)


async def expire_sessions_forever(pool: asyncpg.Pool, interval: float = 600.0, login_window: float = 900.0) -> None:
    while True:
        try:
            deleted = await delete_expired_sessions(pool)
            if deleted:
                log.info("deleted %d expired sessions", deleted)
            await delete_stale_login_failures(pool, login_window)
        except (asyncpg.PostgresError, OSError) as exc:
            log.warning("could not delete expired sessions: %s", exc)
        await asyncio.sleep(interval)
