"""A real listening server for tests of things that open their own connections (the Python
client, the import command, the examples): the app runs on 127.0.0.1 and a free port in a
thread with its own event loop, so synchronous code, subprocesses and other event loops can all
talk to it over TCP.

Fixtures: ``live`` (the real app on a fresh database with the ``users`` of tests/conftest.py)
and ``serve_in_thread`` for any other aiohttp app (a fake endpoint).
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import uuid
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

import asyncpg
import pytest
from aiohttp import web

from rpc_fulfillment.app import create_app
from rpc_fulfillment.config import Settings
from tests.api.conftest import USERS
from tests.conftest import ApiUser, _execute, database_url_for

# The fixtures, for ``from tests.api.live_server import *`` in a test module.
__all__ = ["live", "live_database", "live_delay", "live_settings", "serve_in_thread"]
TIMEOUT = 30.0


class ThreadServer:
    """An aiohttp app served on 127.0.0.1:<free port> by a thread of its own."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, name="live-server", daemon=True)

    def start(self) -> "ThreadServer":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(TIMEOUT)
        return self

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(TIMEOUT)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(TIMEOUT)
        self.loop.close()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/api/jsonrpc"


@dataclass
class Live:
    """The real app, listening; its database; its users (merchant, warehouse, admin, other)."""

    server: ThreadServer
    database_url: str
    users: dict[str, ApiUser]
    settings: Settings

    @property
    def url(self) -> str:
        return self.server.url

    def query(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Rows from the database."""
        async def fetch() -> list[dict[str, Any]]:
            connection = await asyncpg.connect(self.database_url)
            try:
                return [dict(row) for row in await connection.fetch(sql, *args)]
            finally:
                await connection.close()

        # On the server's loop: works from synchronous tests and from async ones alike.
        return asyncio.run_coroutine_threadsafe(fetch(), self.server.loop).result(TIMEOUT)

    def value(self, sql: str, *args: Any) -> Any:
        rows = self.query(sql, *args)
        return next(iter(rows[0].values())) if rows else None


async def _provision(url: str) -> dict[str, ApiUser]:
    from rpc_fulfillment.accounts import provisioning
    from rpc_fulfillment.db.pool import connect

    connection = await connect(url)
    try:
        await provisioning.create_merchant(connection, "acme", "Acme Inc")
        await provisioning.create_merchant(connection, "other", "Other Co")
        created = {}
        for label, merchant, role in USERS:
            user = await provisioning.create_api_user(connection, merchant, role, f"{merchant}-{label}")
            created[label] = ApiUser(user.username, user.api_key, merchant, role)
        return created
    finally:
        await connection.close()


@pytest.fixture
def live_database(admin_url: str, template_database: str) -> Iterator[str]:
    """A fresh, migrated database, made without the test's event loop."""
    name = f"rpcf_live_{uuid.uuid4().hex[:12]}"
    asyncio.run(_execute(admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"'))
    yield database_url_for(admin_url, name)
    asyncio.run(_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def live_settings(live_database: str) -> Settings:
    """Change it (``dataclasses.replace``) in a test's own fixture before ``live`` starts.
    No rate or concurrency limit (where the server has them): tests make many calls at once;
    webhooks may reach receivers on 127.0.0.1."""
    fields = {f.name for f in dataclasses.fields(Settings)}
    no_limits = {name: 0 for name in ("rate_limit", "concurrency_limit") if name in fields}
    return Settings(database_url=live_database, db_pool_size=5, webhook_allow_private=True, **no_limits)


@pytest.fixture
def live_delay() -> float:
    """Seconds the live server waits before each API request (parametrize to slow it down,
    e.g. to interrupt a command in the middle)."""
    return 0.0


def _delayed(seconds: float) -> Any:
    @web.middleware
    async def delay(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/api/"):
            await asyncio.sleep(seconds)
        return await handler(request)

    return delay


@pytest.fixture
def live(live_database: str, live_settings: Settings, live_delay: float) -> Iterator[Live]:
    users = asyncio.run(_provision(live_database))
    app = create_app(live_settings, live_database)
    if live_delay:
        app.middlewares.append(_delayed(live_delay))
    server = ThreadServer(app).start()
    try:
        yield Live(server, live_database, users, live_settings)
    finally:
        server.stop()


@pytest.fixture
def serve_in_thread() -> Iterator[Callable[[web.Application], ThreadServer]]:
    """Serve any aiohttp app on 127.0.0.1 (a fake endpoint); stopped after the test."""
    servers: list[ThreadServer] = []

    def serve(app: web.Application) -> ThreadServer:
        server = ThreadServer(app).start()
        servers.append(server)
        return server

    yield serve
    for server in servers:
        server.stop()


def with_settings(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, **changes)
