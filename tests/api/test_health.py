"""GET /health: 200 while the database answers, 503 when it does not; the API's answers
during a database outage, and its end."""

from __future__ import annotations

import logging
import uuid

import orjson

from rpc_fulfillment.accounts import provisioning
from rpc_fulfillment.app import create_app
from rpc_fulfillment.config import Settings
from rpc_fulfillment.core.faults import UNAVAILABLE_RETRY_AFTER
from rpc_fulfillment.db.pool import connect
from tests.conftest import _execute, database_url_for


async def test_health_ok(shared_rpc):
    response = await shared_rpc.client.get("/health")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = orjson.loads(await response.read())
    assert body["status"] == "ok" and body["database"] == "ok"
    assert isinstance(body["version"], str)


def _post(client, body):
    return client.post("/api/jsonrpc", data=orjson.dumps(body))


async def _unavailable(response) -> dict:
    """The body of an answer that says the database is unavailable, as README's Errors says."""
    assert response.status == 503, await response.text()
    assert int(response.headers["Retry-After"]) == UNAVAILABLE_RETRY_AFTER
    return orjson.loads(await response.read())


def _is_unavailable(error: dict) -> bool:
    return (error["code"] == -32053 and error["message"] == "Service temporarily unavailable."
            and error["data"]["retry_after"] == UNAVAILABLE_RETRY_AFTER)


async def test_a_database_outage_is_503_logged_once_and_ends_by_itself(aiohttp_client, admin_url, template_database,
                                                                       caplog):
    """While the database is gone, /health and every API request answer 503 with Retry-After and
    fault 53 (a batch too when all its calls failed for it, not when one was answered otherwise),
    the log has one WARNING for all of them and no traceback; when it is back, the same app
    answers again and logs that it is."""
    name = f"rpcf_health_{uuid.uuid4().hex[:8]}"
    await _execute(admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    url = database_url_for(admin_url, name)
    connection = await connect(url)
    await provisioning.create_merchant(connection, "acme", "Acme Inc")
    user = await provisioning.create_api_user(connection, "acme", "admin", "acme-admin")
    await connection.close()
    login = {"jsonrpc": "2.0", "id": 1, "method": "login", "params": [user.username, user.api_key]}
    try:
        # Without webhook delivery, whose LISTEN connection says when it closes.
        settings = Settings(database_url=url, db_pool_size=2, webhook_delivery=False)
        client = await aiohttp_client(create_app(settings, url))
        assert (await client.get("/health")).status == 200
        session = orjson.loads(await (await _post(client, login)).read())["result"]
        call = {"jsonrpc": "2.0", "id": 2, "method": "call", "params": [session, "store.list"]}
        multi = {"jsonrpc": "2.0", "id": 3, "method": "multiCall", "params": [session, [["store.list"], ["warehouse.list"]]]}
        caplog.set_level(logging.INFO)
        caplog.clear()
        # Dropping the database closes the pool's connections and makes reconnecting fail.
        await _execute(admin_url, f'DROP DATABASE "{name}" WITH (FORCE)')

        response = await client.get("/health")
        assert response.status == 503 and int(response.headers["Retry-After"]) == UNAVAILABLE_RETRY_AFTER
        body = orjson.loads(await response.read())
        assert body["status"] == "unavailable" and body["database"].startswith("unreachable")
        for request in (login, call, multi):
            answer = await _unavailable(await _post(client, request))
            assert _is_unavailable(answer["error"]) and answer["id"] == request["id"], answer
        answers = await _unavailable(await _post(client, [login, call, multi]))
        assert [a["id"] for a in answers] == [1, 2, 3] and all(_is_unavailable(a["error"]) for a in answers)
        mixed = await _post(client, [call, {"jsonrpc": "2.0", "id": 4, "method": "nothing"}])
        assert mixed.status == 200 and "Retry-After" not in mixed.headers
        records = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(records) == 1 and "database unreachable" in records[0].getMessage(), [r.getMessage() for r in records]
        assert not any(r.exc_info for r in caplog.records)

        await _execute(admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
        assert (await client.get("/health")).status == 200
        back = [r.getMessage() for r in caplog.records if "reachable again" in r.getMessage()]
        assert len(back) == 1 and "requests were refused" in back[0], back
    finally:
        await _execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
