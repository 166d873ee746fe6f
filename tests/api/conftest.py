"""Helpers for the API tests: dummy API methods patched into the real method table, and an
app on a shared database for tests that only read (and log in).

Cloning a database per test costs a few tenths of a second; most envelope and auth tests
need no database of their own. They use ``shared_rpc`` and ``shared_users``: the same
merchants and users as the ``users`` fixture, created once per session. Tests on the shared
database may create sessions but must not assert on row counts there; a test that checks
rows uses ``rpc``, ``users`` and ``db``, which give it a fresh database.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Callable, Iterable, Iterator

import aiohttp
import pytest

from rpc_fulfillment.app import create_app
from rpc_fulfillment.config import Settings
from rpc_fulfillment.core.api import EVERYONE, Doc, api_method
from rpc_fulfillment.jsonrpc import dispatch, registry
from rpc_fulfillment.accounts import provisioning
from rpc_fulfillment.db.pool import connect
from tests.conftest import ApiUser, Rpc, _execute, database_url_for

USERS = (
    ("merchant", "acme", "merchant"),
    ("warehouse", "acme", "warehouse"),
    ("admin", "acme", "admin"),
    ("other", "other", "merchant"),
)


@pytest.fixture
def add_method(monkeypatch: pytest.MonkeyPatch) -> Callable[..., registry.ApiMethod]:
    """Add ``path`` -> ``handler`` to the API method table for this test only.

    The handler is declared with ``@api_method`` (no Doc, no transaction unless given) and the
    entry built by the registry's own helper, so parameters (required or not) are read from
    the handler's signature exactly as for the real methods.
    """

    def add(path: str, handler: Any, roles: Iterable[str] = EVERYONE, doc: Doc | None = None, **declared: Any) -> registry.ApiMethod:
        declared.setdefault("transaction", None)
        [method] = registry.api_methods([api_method(path, frozenset(roles), doc, **declared)(handler)]).values()
        monkeypatch.setitem(dispatch.METHODS, path, method)
        return method

    return add


async def _provision_users(url: str) -> dict[str, ApiUser]:
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


@pytest.fixture(scope="session")
def _shared(admin_url: str, template_database: str) -> Iterator[tuple[str, dict[str, ApiUser]]]:
    name = f"rpcf_shared_{uuid.uuid4().hex[:8]}"
    asyncio.run(_execute(admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"'))
    url = database_url_for(admin_url, name)
    yield url, asyncio.run(_provision_users(url))
    asyncio.run(_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def shared_users(_shared: tuple[str, dict[str, ApiUser]]) -> dict[str, ApiUser]:
    """The ``users`` of the shared database (see the module docstring)."""
    return _shared[1]


@pytest.fixture
async def shared_rpc(aiohttp_client: Any, _shared: tuple[str, dict[str, ApiUser]]) -> Rpc:
    """The real app on the shared database (see the module docstring)."""
    url = _shared[0]
    settings = Settings(database_url=url, db_pool_size=2, rate_limit=0, concurrency_limit=0, login_max_delay=0)
    return Rpc(await aiohttp_client(create_app(settings, url)))


def assert_response_shape(body: Any) -> None:
    """Every JSON-RPC 2.0 response: "jsonrpc": "2.0", an id, and exactly one of result/error."""
    assert isinstance(body, dict), body
    assert body["jsonrpc"] == "2.0", body
    assert "id" in body, body
    assert ("result" in body) != ("error" in body), body
    if "error" in body:
        assert isinstance(body["error"]["code"], int), body
        assert isinstance(body["error"]["message"], str), body


def basic(username: str, password: str) -> dict[str, str]:
    """The Authorization header aiohttp's client sends for these HTTP Basic credentials."""
    if hasattr(aiohttp, "encode_basic_auth"):  # aiohttp >= 3.14 deprecates BasicAuth
        return {"Authorization": aiohttp.encode_basic_auth(username, password)}
    return {"Authorization": aiohttp.BasicAuth(username, password).encode()}
