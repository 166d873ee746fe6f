"""Rate and concurrency limits per API user, as ShipStream has them (reference §5).

A token bucket (rate_limit requests/s, rate_burst at once) answered with HTTP 429 and
Retry-After, a concurrency limit answered with 409, RateLimit-* and X-Concurrency-* headers on
every response, the body a JSON-RPC error either way. The buckets live in PostgreSQL, so two
app instances on one database (two server processes) share them.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import asyncpg
import orjson
import pytest

from rpc_fulfillment.config import SettingsError, load_settings
from rpc_fulfillment.accounts.limits import Admission, Limits, LoginPolicy
from rpc_fulfillment.accounts import provisioning
from tests.api.conftest import assert_response_shape, basic

LIMITED = {"rate_limit": 10, "rate_burst": 60, "concurrency_limit": 5}
RATE_CODE, CONCURRENCY_CODE = -32029, -32009


async def post(rpc: Any, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
    """(status, decoded body, headers) of one POST."""
    response = await rpc.client.post("/api/jsonrpc", data=orjson.dumps(body), headers=headers or {})
    raw = await response.read()
    return response.status, (orjson.loads(raw) if raw else None), response.headers


def call_body(session: str | None, path: str = "store.list", args: Any = None, request_id: Any = 1) -> dict[str, Any]:
    params = [session, path] if args is None else [session, path, args]
    return {"jsonrpc": "2.0", "id": request_id, "method": "call", "params": params}


async def slots_held(db: Any) -> int:
    """Concurrency slots (session-level advisory locks) held in the test's database: the keys
    of rpcf_slot_key, 0x7270 in the top 16 bits (the webhook worker's lock is not one)."""
    return await db.fetchval(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND classid::bigint >> 16 = 29296"
    )


async def slow(ctx: Any, seconds: float = 0.5) -> str:
    await asyncio.sleep(seconds)
    return "done"


# ------------------------------------------------------------------------------- headers


async def test_headers_on_every_response(make_client, users):
    rpc = await make_client(**LIMITED)
    user = users["merchant"]
    status, body, headers = await post(rpc, {"jsonrpc": "2.0", "id": 1, "method": "login",
                                             "params": [user.username, user.api_key]})
    assert status == 200 and len(body["result"]) == 32
    # ShipStream: RateLimit-Limit is "the maximum number of requests you can make per minute".
    assert headers["RateLimit-Limit"] == "600"
    assert headers["RateLimit-Remaining"] == "59"  # the login took a token
    session = body["result"]
    status, body, headers = await post(rpc, call_body(session))
    assert status == 200 and body["result"][0]["code"] == "default"
    assert (headers["RateLimit-Limit"], headers["RateLimit-Remaining"]) == ("600", "58")
    assert (headers["X-Concurrency-Limit"], headers["X-Concurrency-Current"]) == ("5", "1")
    assert "Retry-After" not in headers
    # Answers that charged no bucket still carry the server's limits.
    for request in (call_body("0" * 32), {"jsonrpc": "2.0", "id": 1, "method": "login", "params": ["x", "y"]},
                    {"jsonrpc": "2.0", "method": "nope"}, "not a request"):
        status, body, headers = await post(rpc, request)
        assert headers["RateLimit-Limit"] == "600" and headers["RateLimit-Remaining"] == "60", request
        assert headers["X-Concurrency-Limit"] == "5"
    response = await rpc.client.post("/api/jsonrpc", data=b"{not json")
    assert response.status == 200 and response.headers["RateLimit-Limit"] == "600"
    response = await rpc.client.get("/api/jsonrpc")
    assert response.status == 405 and response.headers["RateLimit-Limit"] == "600"


async def test_no_limit_headers_when_the_limits_are_off(rpc, users):
    session = await rpc.login(users["merchant"])
    for _ in range(80):  # past any burst
        response = await rpc.client.post("/api/jsonrpc", data=orjson.dumps(call_body(session)))
        assert response.status == 200
    for name in ("RateLimit-Limit", "RateLimit-Remaining", "X-Concurrency-Limit", "X-Concurrency-Current"):
        assert name not in response.headers


# ------------------------------------------------------------------------------- the rate


async def test_burst_then_429_with_retry_after_then_refill(make_client, users, db):
    rpc = await make_client(rate_limit=2, rate_burst=5, concurrency_limit=5)
    session = await rpc.login(users["merchant"])  # 1 token
    for expected in (3, 2, 1, 0):
        status, body, headers = await post(rpc, call_body(session))
        assert status == 200 and "result" in body
        assert headers["RateLimit-Remaining"] == str(expected)
        assert headers["RateLimit-Limit"] == "120"
    status, body, headers = await post(rpc, call_body(session, request_id="r-7"))
    assert status == 429
    assert headers["Content-Type"].startswith("application/json")
    assert headers["Retry-After"] == "1"
    assert headers["RateLimit-Remaining"] == "0"
    assert_response_shape(body)
    assert body["id"] == "r-7"
    error = body["error"]
    assert (error["code"], error["message"]) == (RATE_CODE, "Too many requests.")
    assert error["data"]["retry_after"] == 1 and error["data"]["rate_limit"] == 2 and error["data"]["burst"] == 5
    assert "2 requests per second" in error["data"]["detail"]
    # A refused call takes nothing: waiting Retry-After is enough.
    await asyncio.sleep(0.6)
    status, _, headers = await post(rpc, call_body(session))
    assert status == 200


async def test_a_refused_call_changes_nothing(make_client, users, db):
    rpc = await make_client(rate_limit=0.01, rate_burst=2, concurrency_limit=0)
    session = await rpc.login(users["merchant"])
    assert await rpc.result(session, "product.create", ["SKU-1", {"name": "One"}]) is True
    status, body, _ = await post(rpc, call_body(session, "product.create", ["SKU-2", {"name": "Two"}]))
    assert status == 429 and body["error"]["code"] == RATE_CODE
    assert await db.fetchval("SELECT count(*) FROM products") == 1
    # 1 token per 100 s: a wait of that long
    assert body["error"]["data"]["retry_after"] == 100


async def test_the_bucket_is_per_user(make_client, users):
    rpc = await make_client(rate_limit=0.01, rate_burst=3, concurrency_limit=0)
    mine = await rpc.login(users["merchant"])
    theirs = await rpc.login(users["other"])
    for _ in range(2):
        assert (await post(rpc, call_body(mine)))[0] == 200
    assert (await post(rpc, call_body(mine)))[0] == 429
    status, _, headers = await post(rpc, call_body(theirs))
    assert status == 200 and headers["RateLimit-Remaining"] == "1"


async def test_basic_credentials_are_charged_too(make_client, users):
    rpc = await make_client(rate_limit=0.01, rate_burst=2, concurrency_limit=0)
    user = users["merchant"]
    auth = basic(user.username, user.api_key)
    assert (await post(rpc, call_body(None), auth))[0] == 200
    assert (await post(rpc, call_body(None), auth))[0] == 200
    status, body, headers = await post(rpc, call_body(None), auth)
    assert status == 429 and body["error"]["code"] == RATE_CODE and int(headers["Retry-After"]) >= 1


async def test_login_is_charged_and_refused_without_a_session(make_client, users, db):
    rpc = await make_client(rate_limit=0.01, rate_burst=1, concurrency_limit=0)
    user = users["merchant"]
    await rpc.login(user)
    status, body, headers = await post(rpc, {"jsonrpc": "2.0", "id": 1, "method": "login",
                                             "params": [user.username, user.api_key]})
    assert status == 429 and body["error"]["code"] == RATE_CODE and "Retry-After" in headers
    assert await db.fetchval("SELECT count(*) FROM sessions") == 1


async def test_multicall_takes_a_token_per_call(make_client, users):
    rpc = await make_client(rate_limit=0.01, rate_burst=10, concurrency_limit=0)
    session = await rpc.login(users["merchant"])  # 9 left
    body = {"jsonrpc": "2.0", "id": 1, "method": "multiCall", "params": [session, [["store.list"]] * 5]}
    status, answer, headers = await post(rpc, body)
    assert status == 200 and len(answer["result"]) == 5
    assert headers["RateLimit-Remaining"] == "4"
    status, answer, _ = await post(rpc, body)  # 4 tokens < 5: refused whole
    assert status == 429 and answer["error"]["code"] == RATE_CODE


async def test_a_multicall_larger_than_the_burst_runs_with_a_full_bucket(make_client, users):
    rpc = await make_client(rate_limit=0.01, rate_burst=3, concurrency_limit=0, max_batch=10)
    user = users["merchant"]
    auth = basic(user.username, user.api_key)
    body = {"jsonrpc": "2.0", "id": 1, "method": "multiCall", "params": [None, [["store.list"]] * 8]}
    status, answer, headers = await post(rpc, body, auth)
    assert status == 200 and len(answer["result"]) == 8
    assert headers["RateLimit-Remaining"] == "0"  # in debt: -5 tokens
    status, answer, headers = await post(rpc, call_body(None), auth)
    assert status == 429 and answer["error"]["data"]["retry_after"] == 600  # 6 tokens at 0.01/s


async def test_batch_answers_429_only_when_every_call_was_refused(make_client, users):
    rpc = await make_client(rate_limit=0.01, rate_burst=4, concurrency_limit=0)
    session = await rpc.login(users["merchant"])  # 3 tokens left
    batch = [call_body(session, request_id=i) for i in range(5)]
    status, answers, headers = await post(rpc, batch)
    # Some calls ran: HTTP 200 (a client must not resend the whole batch), the others refused.
    assert status == 200 and "Retry-After" not in headers
    codes = sorted("result" if "result" in a else str(a["error"]["code"]) for a in answers)
    assert codes == [str(RATE_CODE)] * 2 + ["result"] * 3
    status, answers, headers = await post(rpc, batch[:2])
    assert status == 429 and headers["Retry-After"] == "100"
    assert [a["error"]["code"] for a in answers] == [RATE_CODE, RATE_CODE]


async def test_end_session_is_not_charged(make_client, users):
    rpc = await make_client(rate_limit=0.01, rate_burst=1, concurrency_limit=0)
    session = await rpc.login(users["merchant"])
    status, body, _ = await post(rpc, {"jsonrpc": "2.0", "id": 1, "method": "endSession", "params": [session]})
    assert status == 200 and body["result"] is True


# ------------------------------------------------------------------------- concurrency


async def test_concurrency_limit_is_409(make_client, users, add_method):
    add_method("test.slow", slow)
    rpc = await make_client(rate_limit=0, concurrency_limit=2)
    session = await rpc.login(users["merchant"])
    first = asyncio.create_task(post(rpc, call_body(session, "test.slow", [0.8], 1)))
    second = asyncio.create_task(post(rpc, call_body(session, "test.slow", [0.8], 2)))
    await asyncio.sleep(0.3)
    status, body, headers = await post(rpc, call_body(session, request_id=3))
    assert status == 409
    assert_response_shape(body)
    assert body["id"] == 3
    assert (body["error"]["code"], body["error"]["message"]) == (CONCURRENCY_CODE, "Too many concurrent requests.")
    assert body["error"]["data"]["concurrency_limit"] == 2
    assert (headers["X-Concurrency-Limit"], headers["X-Concurrency-Current"]) == ("2", "2")
    assert "Retry-After" not in headers
    for task, request_id in ((first, 1), (second, 2)):
        status, body, headers = await task
        assert status == 200 and body == {"jsonrpc": "2.0", "result": "done", "id": request_id}
    # The slots are back.
    status, _, headers = await post(rpc, call_body(session))
    assert status == 200 and headers["X-Concurrency-Current"] == "1"


async def test_a_429_reports_the_calls_actually_in_flight(make_client, users, add_method):
    """Issue 13 item 11: X-Concurrency-Current on a 429 reported the concurrency limit."""
    add_method("test.slow", slow)
    rpc = await make_client(rate_limit=0.2, rate_burst=3, concurrency_limit=4)
    session = await rpc.login(users["merchant"])  # token 1 of 3
    running = asyncio.create_task(post(rpc, call_body(session, "test.slow", [0.8], 1)))  # token 2
    await asyncio.sleep(0.3)
    status, _, headers = await post(rpc, call_body(session))  # token 3, beside the slow call
    assert status == 200 and headers["X-Concurrency-Current"] == "2"
    status, _, headers = await post(rpc, call_body(session))
    assert status == 429
    assert (headers["X-Concurrency-Limit"], headers["X-Concurrency-Current"]) == ("4", "1")
    assert (await running)[0] == 200
    status, _, headers = await post(rpc, call_body(session))
    assert status == 429 and headers["X-Concurrency-Current"] == "0"


async def test_a_refused_call_leaves_the_slots_alone(make_client, users, add_method, db):
    add_method("test.slow", slow)
    rpc = await make_client(rate_limit=0, concurrency_limit=1)
    session = await rpc.login(users["merchant"])
    running = asyncio.create_task(post(rpc, call_body(session, "test.slow", [0.5])))
    await asyncio.sleep(0.2)
    for _ in range(5):
        assert (await post(rpc, call_body(session)))[0] == 409
    assert (await running)[0] == 200
    assert await slots_held(db) == 0


async def test_slots_are_given_back_when_a_call_fails(make_client, users, add_method, db):
    async def broken(ctx: Any) -> None:
        raise RuntimeError("boom")

    add_method("test.broken", broken)
    rpc = await make_client(rate_limit=0, concurrency_limit=1)
    session = await rpc.login(users["merchant"])
    for _ in range(3):
        assert (await rpc.fault(session, "test.broken"))["code"] == -32001
        assert (await rpc.fault(session, "order.info", ["no-such-order"]))["code"] == -32100
    assert await slots_held(db) == 0
    assert (await post(rpc, call_body(session)))[0] == 200


async def test_a_slot_held_by_a_connection_that_dies_is_freed(make_client, users, db, database_url):
    """A slot is an advisory lock of the connection running the call: when a server process
    dies mid-call its connections close and PostgreSQL frees the slots."""
    rpc = await make_client(rate_limit=0, concurrency_limit=1)
    session = await rpc.login(users["merchant"])
    user_id = await db.fetchval("SELECT api_user_id FROM api_users WHERE username = $1", users["merchant"].username)
    stranger = await asyncpg.connect(database_url)  # stands for a server process's connection
    assert await stranger.fetchval("SELECT pg_try_advisory_lock(rpcf_slot_key($1, 0))", user_id)
    status, body, headers = await post(rpc, call_body(session))
    assert status == 409 and headers["X-Concurrency-Current"] == "1"
    stranger.terminate()  # the process dies: no release ever runs
    await asyncio.sleep(0.2)
    status, _, headers = await post(rpc, call_body(session))
    assert status == 200 and headers["X-Concurrency-Current"] == "1"
    assert await slots_held(db) == 0


async def test_batch_entries_each_take_a_slot(make_client, users, add_method):
    add_method("test.slow", slow)
    rpc = await make_client(rate_limit=0, concurrency_limit=2)
    session = await rpc.login(users["merchant"])
    batch = [call_body(session, "test.slow", [0.3], i) for i in range(3)]
    status, answers, _ = await post(rpc, batch)
    assert status == 200  # two ran
    outcomes = sorted("result" if "result" in a else str(a["error"]["code"]) for a in answers)
    assert outcomes == [str(CONCURRENCY_CODE), "result", "result"]


# ------------------------------------------------------------- several server processes


async def test_the_bucket_is_shared_by_two_app_instances(make_client, users):
    """Two apps on one database stand for two server processes (or hosts)."""
    first = await make_client(rate_limit=0.01, rate_burst=5, concurrency_limit=0)
    second = await make_client(rate_limit=0.01, rate_burst=5, concurrency_limit=0)
    session = await first.login(users["merchant"])  # 4 left
    for rpc, remaining in ((first, "3"), (second, "2"), (first, "1"), (second, "0")):
        status, _, headers = await post(rpc, call_body(session))
        assert status == 200 and headers["RateLimit-Remaining"] == remaining
    assert (await post(first, call_body(session)))[0] == 429
    assert (await post(second, call_body(session)))[0] == 429


async def test_concurrency_is_shared_by_two_app_instances(make_client, users, add_method):
    add_method("test.slow", slow)
    first = await make_client(rate_limit=0, concurrency_limit=1)
    second = await make_client(rate_limit=0, concurrency_limit=1)
    session = await first.login(users["merchant"])
    running = asyncio.create_task(post(first, call_body(session, "test.slow", [0.6])))
    await asyncio.sleep(0.25)
    status, body, _ = await post(second, call_body(session))
    assert status == 409 and body["error"]["code"] == CONCURRENCY_CODE
    assert (await running)[0] == 200
    assert (await post(second, call_body(session)))[0] == 200


async def test_many_concurrent_calls_from_two_instances_never_exceed_the_limit(make_client, users, add_method):
    peak = 0
    current = 0

    async def counted(ctx: Any) -> None:
        nonlocal peak, current
        current += 1
        peak = max(peak, current)
        await asyncio.sleep(0.05)
        current -= 1

    add_method("test.counted", counted)
    apps = [await make_client(rate_limit=0, concurrency_limit=3, db_pool_size=10) for _ in range(2)]
    session = await apps[0].login(users["merchant"])
    results = await asyncio.gather(*(post(apps[i % 2], call_body(session, "test.counted")) for i in range(40)))
    statuses = [status for status, _, _ in results]
    assert peak <= 3
    assert statuses.count(200) >= 3 and set(statuses) <= {200, 409}


async def test_the_rate_holds_across_instances_under_load(make_client, users):
    """60 concurrent calls through two instances with a burst of 20: exactly 20 pass."""
    apps = [await make_client(rate_limit=0.01, rate_burst=21, concurrency_limit=0, db_pool_size=10) for _ in range(2)]
    session = await apps[0].login(users["merchant"])  # 20 left
    results = await asyncio.gather(*(post(apps[i % 2], call_body(session)) for i in range(60)))
    statuses = [status for status, _, _ in results]
    assert statuses.count(200) == 20 and statuses.count(429) == 40


# ------------------------------------------------------------------------ per user, off


async def test_a_users_own_limits_win(make_client, users, db):
    rpc = await make_client(rate_limit=0.01, rate_burst=2, concurrency_limit=5)
    await provisioning.set_api_user_limits(db, users["merchant"].username, {"rate_limit": 0, "concurrency_limit": 0})
    await provisioning.set_api_user_limits(db, users["other"].username, {"rate_burst": 4})
    free = await rpc.login(users["merchant"])
    for _ in range(10):
        status, _, headers = await post(rpc, call_body(free))
        assert status == 200 and "RateLimit-Remaining" not in headers and "X-Concurrency-Limit" not in headers
    other = await rpc.login(users["other"])  # 3 left of its own burst of 4
    for remaining in ("2", "1", "0"):
        status, _, headers = await post(rpc, call_body(other))
        assert status == 200 and headers["RateLimit-Remaining"] == remaining
    assert (await post(rpc, call_body(other)))[0] == 429
    # Back to the server's limits.
    await provisioning.set_api_user_limits(db, users["merchant"].username, {"rate_limit": None})
    assert await db.fetchval("SELECT rate_limit FROM api_users WHERE username = $1", users["merchant"].username) is None


async def test_a_user_can_be_limited_when_the_server_is_not(make_client, users, db):
    rpc = await make_client(rate_limit=0, concurrency_limit=0)
    await provisioning.set_api_user_limits(db, users["merchant"].username, {"rate_limit": 0.01, "rate_burst": 2})
    session = await rpc.login(users["merchant"])
    assert (await post(rpc, call_body(session)))[0] == 200
    assert (await post(rpc, call_body(session)))[0] == 429
    other = await rpc.login(users["other"])
    assert all([(await post(rpc, call_body(other)))[0] == 200 for _ in range(5)])


async def test_set_api_user_limits_errors(db, users):
    with pytest.raises(provisioning.ProvisioningError, match="no API user named 'nobody'"):
        await provisioning.set_api_user_limits(db, "nobody", {"rate_limit": 1})
    with pytest.raises(provisioning.ProvisioningError, match="rate_burst must be at least 1"):
        await provisioning.set_api_user_limits(db, users["merchant"].username, {"rate_burst": 0})
    with pytest.raises(provisioning.ProvisioningError, match="rate_limit must be 0"):
        await provisioning.set_api_user_limits(db, users["merchant"].username, {"rate_limit": -1})


def test_limit_settings():
    assert (load_settings({}, {}).rate_limit, load_settings({}, {}).rate_burst) == (10.0, 60)
    assert load_settings({}, {}).concurrency_limit == 5
    env = {"RPCF_RATE_LIMIT": "off", "RPCF_CONCURRENCY_LIMIT": "0", "RPCF_RATE_BURST": "100"}
    settings = load_settings({}, env)
    assert (settings.rate_limit, settings.concurrency_limit, settings.rate_burst) == (0.0, 0, 100)
    assert load_settings({"rate_limit": "2.5"}, {}).rate_limit == 2.5
    for name, value in (("rate_limit", "-1"), ("concurrency_limit", "1.5"), ("concurrency_limit", "lots"),
                        ("rate_burst", "0"), ("shutdown_timeout", "0")):
        with pytest.raises(SettingsError):
            load_settings({name: value}, {})


def test_admission_rules():
    limits = Limits(2.0, 10, 3)
    assert Admission(limits, "rate", tokens=0.5).retry_after() == 1
    assert Admission(limits, "rate", tokens=-7.0).retry_after() == 4
    assert Admission(limits, "rate", tokens=0.0, cost=50).retry_after() == 5  # needs a full bucket: 10
    assert Admission(limits, None, tokens=3.7).remaining == 3
    assert Admission(limits, None, tokens=-2.0).remaining == 0
    assert Limits(0.5, 1, 0).per_minute() == 30
    policy = LoginPolicy(free_failures=3, window=60, max_delay=5)
    assert [policy.delay(n, 1.0) for n in (None, 0, 2, 3, 4, 5, 6, 50)] == [0, 0, 0, 1, 2, 4, 5, 5]
    assert policy.delay(10, 61.0) == 0  # the window has passed


# --------------------------------------------------------------------------- the CLI

from tests.api.test_cli import cli, query, url  # noqa: E402,F401  (fixtures)


def test_user_limits_command(cli, url):
    cli("merchant", "create", "shop", "Shop Ltd")
    cli("user", "create", "--merchant", "shop", "--role", "merchant", "alice")
    code, out, err = cli("user", "limits", "alice", "--rate-limit", "50", "--rate-burst", "200",
                         "--concurrency-limit", "off")
    assert (code, err) == (0, ""), err
    assert "rate_limit 50.0" in out and "concurrency_limit 0" in out
    row = query(url, "SELECT rate_limit, rate_burst, concurrency_limit FROM api_users WHERE username = 'alice'")[0]
    assert row == {"rate_limit": 50.0, "rate_burst": 200, "concurrency_limit": 0}
    code, out, _ = cli("user", "list")
    assert re.search(r"alice.*50\.0\s+200\s+0", out), out
    assert cli("user", "limits", "alice", "--rate-limit", "default")[0] == 0
    assert query(url, "SELECT rate_limit FROM api_users WHERE username = 'alice'")[0]["rate_limit"] is None
    code, _, err = cli("user", "limits", "alice", "--rate-burst", "1.5")
    assert code == 1 and "rate_burst must be a whole number" in err
    code, _, err = cli("user", "limits", "alice", "--rate-limit", "fast")
    assert code == 1 and "rate_limit must be a number" in err
    code, _, err = cli("user", "limits", "bob", "--rate-limit", "1")
    assert code == 1 and "no API user named 'bob'" in err


def test_serve_flags_reach_the_settings():
    from rpc_fulfillment.cli import _build_parser, _settings

    args = _build_parser().parse_args(["serve", "--rate-limit", "off", "--rate-burst", "7", "--concurrency-limit", "2",
                                       "--shutdown-timeout", "3.5", "--max-string-length", "99", "--max-order-items", "5",
                                       "--login-max-failures", "9", "--login-max-delay", "1.5"])
    settings = _settings(args)
    assert (settings.rate_limit, settings.rate_burst, settings.concurrency_limit) == (0.0, 7, 2)
    assert (settings.shutdown_timeout, settings.max_string_length, settings.max_order_items) == (3.5, 99, 5)
    assert (settings.login_max_failures, settings.login_max_delay) == (9, 1.5)
