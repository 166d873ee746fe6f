"""Deleting expired sessions. Lookups already ignore them; this only keeps the table small."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from rpc_fulfillment.store.accounts import delete_expired_sessions

log = logging.getLogger(__name__)


async def expire_sessions_forever(pool: asyncpg.Pool, interval: float = 600.0) -> None:
    while True:
        try:
            deleted = await delete_expired_sessions(pool)
            if deleted:
                log.info("deleted %d expired sessions", deleted)
        except (asyncpg.PostgresError, OSError) as exc:
            log.warning("could not delete expired sessions: %s", exc)
        await asyncio.sleep(interval)
