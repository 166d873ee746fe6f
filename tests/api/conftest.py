"""Helpers for the API tests: dummy API methods patched into the real method table, and an
app on a shared database for tests that write nothing."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Callable, Iterable, Iterator

import aiohttp
import pytest

from rpc_fulfillment.app import create_app
from rpc_fulfillment.config import Settings
from rpc_fulfillment.rpc import registry
from tests.conftest import Rpc, _execute, database_url_for


@pytest.fixture
def add_method(monkeypatch: pytest.MonkeyPatch) -> Callable[..., registry.ApiMethod]:
    """Add ``path`` -> ``handler`` to the API method table for this test only.

    The entry is built by the registry's own helper, so parameters (required or not) are
    read from the handler's signature exactly as for the real methods.
    """

    def add(path: str, handler: Any, roles: Iterable[str] = registry.EVERYONE) -> registry.ApiMethod:
        method = registry._table({path: (handler, frozenset(roles))})[path]
        monkeypatch.setitem(registry.METHODS, path, method)
        return method

    return add


@pytest.fixture(scope="session")
def shared_database_url(admin_url: str, template_database: str) -> Iterator[str]:
    """One migrated database for the whole session, for tests that never write to it."""
    name = f"rpcf_shared_{uuid.uuid4().hex[:8]}"
    asyncio.run(_execute(admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"'))
    yield database_url_for(admin_url, name)
    asyncio.run(_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def bare_rpc(aiohttp_client: Any, shared_database_url: str) -> Rpc:
    """The real app on the shared database (no merchants, no users): only for tests that
    write nothing, such as envelope checks and failing logins. Saves cloning a database."""
    settings = Settings(database_url=shared_database_url, db_pool_size=2)
    return Rpc(await aiohttp_client(create_app(settings, shared_database_url)))


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
