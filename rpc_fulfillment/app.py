"""The aiohttp application: routes, and a cleanup context that owns the pool and workers."""

from __future__ import annotations

import asyncio
import logging
from typing import AsyncIterator

import orjson
from aiohttp import web

from rpc_fulfillment import __version__
from rpc_fulfillment.appkeys import LOGIN_GATE, POOL, SETTINGS, SHARES
from rpc_fulfillment.config import Settings
from rpc_fulfillment.core.faults import UNAVAILABLE_RETRY_AFTER
from rpc_fulfillment.jsonrpc.docs import routes as discovery
from rpc_fulfillment.jsonrpc.envelope import JSON_HEADERS, handle_jsonrpc
from rpc_fulfillment.jsonrpc.limits import login_gate
from rpc_fulfillment.db.outage import OUTAGE, is_unreachable
from rpc_fulfillment.db.shares import MerchantShares
from rpc_fulfillment.db.pool import create_pool
from rpc_fulfillment.log_redaction import install_on_aiohttp_loggers
from rpc_fulfillment.workers.auto_fulfill import auto_fulfill_context
from rpc_fulfillment.workers.scheduler import release_holds_forever
from rpc_fulfillment.workers.sessions import expire_sessions_forever
from rpc_fulfillment.workers.webhooks import WebhookWorker

log = logging.getLogger(__name__)


async def handle_health(request: web.Request) -> web.Response:
    body: dict[str, object] = {"status": "ok", "version": __version__}
    try:
        async with asyncio.timeout(2):
            await request.app[POOL].fetchval("SELECT 1")
        body["database"] = "ok"
    except Exception as exc:  # any failure to reach the database means unhealthy
        if is_unreachable(exc):
            OUTAGE.failed(exc, request=True)  # logged once per interval, not per check
        else:
            log.warning("health check: database unreachable: %s", exc)
        body.update(status="unavailable", database=f"unreachable: {type(exc).__name__}")
        return web.Response(body=orjson.dumps(body), status=503,
                            headers={**JSON_HEADERS, "Retry-After": str(UNAVAILABLE_RETRY_AFTER)})
    return web.Response(body=orjson.dumps(body), status=200, headers=JSON_HEADERS)


def _resources(settings: Settings, database_url: str):
    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        app[POOL] = await create_pool(database_url, settings.db_pool_size)
        app[SHARES] = MerchantShares.of(settings)
        tasks = [
            asyncio.create_task(expire_sessions_forever(app[POOL], login_window=settings.login_failure_window,
                                                        webhook_retention_days=settings.webhook_retention_days)),
            asyncio.create_task(release_holds_forever(app[POOL], settings.scheduler_interval)),
        ]
        yield
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await app[POOL].close()

    return lifecycle


def _webhook_worker(settings: Settings, database_url: str):
    """Webhook delivery in this process (its own small pool, a LISTEN connection, one HTTP
    session); stopped cleanly on shutdown."""
    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        worker = WebhookWorker(database_url, settings)
        await worker.start()
        yield
        await worker.stop()

    return lifecycle


def _auto_fulfill(settings: Settings):
    """The sandbox worker (``--auto-fulfill``): after the pool exists, stopped before it closes."""
    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        async for _ in auto_fulfill_context(app[POOL], settings.auto_fulfill_delay):
            yield

    return lifecycle


def create_app(settings: Settings, database_url: str) -> web.Application:
    # The body limit is enforced by the envelope, which answers in JSON-RPC; aiohttp's own
    # limit sits just above it as a backstop.
    app = web.Application(client_max_size=settings.max_body_bytes + 1)
    install_on_aiohttp_loggers()  # aiohttp quotes a malformed request's headers in its log
    app[SETTINGS] = settings
    app[LOGIN_GATE] = login_gate(settings)
    app.cleanup_ctx.append(_resources(settings, database_url))
    if settings.auto_fulfill:
        app.cleanup_ctx.append(_auto_fulfill(settings))
    if settings.webhook_delivery:
        app.cleanup_ctx.append(_webhook_worker(settings, database_url))
    for path in ("/api/jsonrpc", "/api/jsonrpc/"):
        app.router.add_route("*", path, handle_jsonrpc)
    app.router.add_get("/health", handle_health)
    discovery.add_routes(app)  # GET /openrpc.json, GET /docs
    return app
