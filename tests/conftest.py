"""Test fixtures: a real PostgreSQL (DATABASE_URL when set, otherwise the embedded one), a
fresh database per test cloned from a migrated template, and the real aiohttp app.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import orjson
import pytest

from rpc_fulfillment.app import create_app
from rpc_fulfillment.config import Settings
from rpc_fulfillment.accounts import provisioning
from rpc_fulfillment.db.pool import connect
from rpc_fulfillment.db.migrate import migrate
from tests import figures
from tests.conformance import figures as conformance_figures

ABSENT: Any = object()


def database_url_for(admin_url: str, name: str) -> str:
    """The same server as ``admin_url``, database ``name``."""
    parts = urlsplit(admin_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _execute(url: str, *statements: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def admin_url() -> Iterator[str]:
    """A PostgreSQL server on which tests may create and drop databases."""
    external = os.environ.get("DATABASE_URL")
    if external:
        yield external
        return
    from rpc_fulfillment.embedded import start_embedded

    directory = tempfile.mkdtemp(prefix="rpcf-test-")
    os.chmod(directory, 0o755)
    embedded = start_embedded(Path(directory))
    # A throwaway cluster: durability buys nothing, and without fsync creating and dropping
    # a database per test costs a fraction of the time.
    asyncio.run(_execute(
        embedded.url("postgres"),
        "ALTER SYSTEM SET fsync = off",
        "ALTER SYSTEM SET synchronous_commit = off",
        "ALTER SYSTEM SET full_page_writes = off",
        "SELECT pg_reload_conf()",
    ))
    try:
        yield embedded.url("postgres")
    finally:
        embedded.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def template_database(admin_url: str) -> Iterator[str]:
    """A database with the schema applied, cloned for every test."""
    name = f"rpcf_template_{uuid.uuid4().hex[:8]}"
    asyncio.run(_execute(admin_url, f'CREATE DATABASE "{name}"'))

    async def apply_schema() -> None:
        connection = await connect(database_url_for(admin_url, name))
        try:
            await migrate(connection)
        finally:
            await connection.close()

    asyncio.run(apply_schema())
    yield name
    asyncio.run(_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def database_url(admin_url: str, template_database: str) -> AsyncIterator[str]:
    """A fresh, migrated database of this test's own."""
    name = f"rpcf_test_{uuid.uuid4().hex[:12]}"
    await _execute(admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    yield database_url_for(admin_url, name)
    await _execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection to the test's database, for arranging data and checking rows."""
    connection = await connect(database_url)
    yield connection
    await connection.close()


@pytest.fixture
def settings(database_url: str) -> Settings:
    # Tests run many calls of one user at once (the races, all of one merchant): no rate or
    # concurrency limit and no cap on a merchant's share of the pool unless a test asks for one
    # (make_client(rate_limit=..., concurrency_limit=..., merchant_pool_share=...)). Their webhook
    # receivers run on 127.0.0.1 (tests/api/test_webhooks_targets.py turns the guard on). Many
    # tests log in wrongly on purpose: a wrong attempt waits no time unless a test asks for the
    # throttle (tests/api/test_credentials.py: login_max_delay=...).
    return Settings(database_url=database_url, db_pool_size=5, rate_limit=0, concurrency_limit=0,
                    merchant_pool_share=0, webhook_allow_private=True, login_max_delay=0)


@dataclass
class ApiUser:
    username: str
    api_key: str
    merchant_code: str
    role: str


@pytest.fixture
async def users(db: asyncpg.Connection) -> dict[str, ApiUser]:
    """Merchant 'acme' with a user of every role, and merchant 'other' with a merchant user."""
    await provisioning.create_merchant(db, "acme", "Acme Inc")
    await provisioning.create_merchant(db, "other", "Other Co")
    created = {}
    for label, merchant, role in (
        ("merchant", "acme", "merchant"),
        ("warehouse", "acme", "warehouse"),
        ("admin", "acme", "admin"),
        ("other", "other", "merchant"),
    ):
        user = await provisioning.create_api_user(db, merchant, role, f"{merchant}-{label}")
        created[label] = ApiUser(user.username, user.api_key, merchant, role)
    return created


class Rpc:
    """Speaks JSON-RPC to the app under test."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._next_id = 0

    async def post(self, body: Any, *, raw: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """POST a body (JSON-encoded unless raw bytes are given); returns (status, decoded body or None)."""
        data = raw if raw is not None else orjson.dumps(body)
        response = await self.client.post("/api/jsonrpc", data=data, headers=headers or {})
        text = await response.read()
        return response.status, (orjson.loads(text) if text else None)

    async def request(self, method: str, params: Any, *, headers: dict[str, str] | None = None) -> dict[str, Any]:
        self._next_id += 1
        status, body = await self.post(
            {"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params}, headers=headers
        )
        assert status == 200, body
        assert body["id"] == self._next_id
        return body

    async def login(self, user: ApiUser) -> str:
        body = await self.request("login", [user.username, user.api_key])
        return body["result"]

    async def call(self, session: str | None, path: str, args: Any = ABSENT, **kwargs: Any) -> dict[str, Any]:
        params = [session, path] if args is ABSENT else [session, path, args]
        return await self.request("call", params, **kwargs)

    async def result(self, session: str | None, path: str, args: Any = ABSENT) -> Any:
        """The result of a call that must succeed."""
        body = await self.call(session, path, args)
        assert "error" not in body, body
        return body["result"]

    async def fault(self, session: str | None, path: str, args: Any = ABSENT) -> dict[str, Any]:
        """The error of a call that must fail."""
        body = await self.call(session, path, args)
        assert "error" in body, body
        return body["error"]


# ``settings`` comes before ``aiohttp_client`` in these signatures so that the database is
# set up first and dropped last: the app and its pool close while the database still exists.
@pytest.fixture
async def client(settings: Settings, aiohttp_client: Any) -> Any:
    return await aiohttp_client(create_app(settings, settings.database_url))


@pytest.fixture
def rpc(client: Any) -> Rpc:
    return Rpc(client)


@pytest.fixture
def make_client(settings: Settings, aiohttp_client: Any) -> Any:
    """A client for an app with some settings changed: ``await make_client(max_batch=3)``."""
    async def make(**changes: Any) -> Rpc:
        changed = replace(settings, **changes)
        return Rpc(await aiohttp_client(create_app(changed, changed.database_url)))

    return make


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A pytest-xdist worker hands its figures to the controller (see pytest_testnodedown)."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["rpcf_figures"] = figures.snapshot()
        workeroutput["rpcf_conformance"] = conformance_figures.snapshot()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """The controller of pytest-xdist adds a finished worker's figures to its own."""
    output = getattr(node, "workeroutput", {})
    if "rpcf_figures" in output:
        figures.merge(output["rpcf_figures"])
        conformance_figures.merge(output["rpcf_conformance"])


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The figures of the reliability suites (fuzz, crash, races: tests/figures.py) and of the
    conformance suite (tests/conformance/figures.py)."""
    figures.report(terminalreporter)
    conformance_figures.print_summary(terminalreporter)
