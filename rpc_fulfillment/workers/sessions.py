"""Housekeeping in every server process: deleting expired sessions and failed logins older
than their window (lookups already ignore both; this only keeps the tables small), and the
webhook history past its retention (workers.webhooks.prune_history: one process at a time)."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from rpc_fulfillment.accounts.queries import delete_expired_sessions
from rpc_fulfillment.accounts.limit_queries import delete_stale_login_failures
from rpc_fulfillment.db.outage import background_failure
from rpc_fulfillment.workers.webhooks import prune_history

log = logging.getLogger(__name__)


async def expire_sessions_forever(
    pool: asyncpg.Pool, interval: float = 600.0, login_window: float = 900.0, webhook_retention_days: int = 0
) -> None:
    while True:
        try:
            deleted = await delete_expired_sessions(pool)
            if deleted:
                log.info("deleted %d expired sessions", deleted)
            await delete_stale_login_failures(pool, login_window)
        except Exception as exc:  # the loop must outlive any round (a database outage included)
            background_failure(log, "could not delete expired sessions", exc)
        if webhook_retention_days:
            try:
                pruned = await prune_history(pool, webhook_retention_days)
                if pruned is not None and (pruned.deliveries or pruned.events):
                    log.info("webhook retention (%d days): deleted %d deliveries, %d attempts and %d events in %d statements",
                             webhook_retention_days, pruned.deliveries, pruned.attempts, pruned.events, pruned.statements)
            except Exception as exc:
                background_failure(log, "could not prune the webhook history", exc)
        await asyncio.sleep(interval)
