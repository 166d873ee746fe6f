"""GET /health: 200 while the database answers, 503 when it does not."""

from __future__ import annotations

import uuid

import orjson

from rpc_fulfillment.app import create_app
from rpc_fulfillment.config import Settings
from tests.conftest import _execute, database_url_for


async def test_health_ok(shared_rpc):
    response = await shared_rpc.client.get("/health")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = orjson.loads(await response.read())
    assert body["status"] == "ok" and body["database"] == "ok"
    assert isinstance(body["version"], str)


async def test_health_is_503_when_the_database_is_gone(aiohttp_client, admin_url, template_database):
    name = f"rpcf_health_{uuid.uuid4().hex[:8]}"
    await _execute(admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    url = database_url_for(admin_url, name)
    try:
        client = await aiohttp_client(create_app(Settings(database_url=url, db_pool_size=2), url))
        assert (await client.get("/health")).status == 200
        # Dropping the database closes the pool's connections and makes reconnecting fail.
        await _execute(admin_url, f'DROP DATABASE "{name}" WITH (FORCE)')
        response = await client.get("/health")
        assert response.status == 503
        body = orjson.loads(await response.read())
        assert body["status"] == "unavailable"
        assert body["database"].startswith("unreachable")
        # The API says so in JSON-RPC too: fault 1, not an HTTP 500.
        response = await client.post(
            "/api/jsonrpc", data=orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "login", "params": ["u", "k"]})
        )
        assert response.status == 200
        assert orjson.loads(await response.read())["error"]["code"] == -32001
    finally:
        await _execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
