"""API keys and sessions: how they are made, stored and compared; revocation in every process;
the cap on active keys per merchant; failed logins logged and slowed down per username and
source address, never delaying a right key."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable

import aiohttp
import orjson
import pytest

from rpc_fulfillment.accounts import auth

from rpc_fulfillment.accounts import provisioning
from tests.api.conftest import basic
from tests.api.webhook_helpers import wait_until
from tests.conftest import ApiUser

KEY_LIMIT = "You've reached your limit of 6 API keys. Please delete any unused API keys and try again."


# ------------------------------------------------------------------------------ the keys


def test_api_keys_are_160_random_bits_from_secrets(monkeypatch):
    drawn = []
    real = auth.secrets.token_hex

    def spy(nbytes: int) -> str:
        drawn.append(nbytes)
        return real(nbytes)

    monkeypatch.setattr(auth.secrets, "token_hex", spy)
    keys = {auth.new_api_key() for _ in range(1000)}
    assert drawn == [20] * 1000  # 20 bytes = 160 bits (>= 128) from the CSPRNG
    assert len(keys) == 1000 and all(re.fullmatch(r"[0-9a-f]{40}", key) for key in keys)


async def test_session_ids_are_128_random_bits_from_secrets(rpc, users, monkeypatch):
    drawn = []
    real = auth.secrets.token_hex
    monkeypatch.setattr(auth.secrets, "token_hex", lambda n: drawn.append(n) or real(n))
    session = await rpc.login(users["merchant"])
    assert drawn == [16] and re.fullmatch(r"[0-9a-f]{32}", session)


async def test_no_key_or_session_id_anywhere_in_the_database(rpc, users, db):
    user = users["merchant"]
    session = await rpc.login(user)
    await rpc.result(session, "store.list")
    body = await rpc.call(None, "store.list", headers=basic(user.username, user.api_key))
    assert "result" in body
    tables = await db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    for row in tables:
        text = await db.fetchval(f'SELECT coalesce(string_agg(t::text, \'\n\'), \'\') FROM "{row["tablename"]}" t')
        for secret in (user.api_key, session):
            assert secret not in text, (row["tablename"], secret[:6])
            assert secret.encode().hex() not in text, row["tablename"]
    stored = await db.fetchval("SELECT key_hash FROM api_users WHERE username = $1", user.username)
    assert stored == hashlib.sha256(user.api_key.encode()).digest()


async def test_keys_are_compared_in_constant_time_for_known_and_unknown_users(shared_rpc, shared_users, monkeypatch):
    """hmac.compare_digest for every attempt, against a dummy hash when the username is
    unknown, so a wrong username and a wrong key cost the same."""
    compared = []
    real = auth.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    user = shared_users["merchant"]
    await shared_rpc.login(user)
    for username, key in ((user.username, "0" * 40), ("nobody-at-all", user.api_key)):
        body = await shared_rpc.request("login", [username, key])
        assert body["error"]["code"] == -32002
    assert compared == [(32, 32)] * 3


# ---------------------------------------------------------------------------- revocation


async def test_revocation_takes_effect_at_once_in_every_process(make_client, users, db):
    """Two app instances stand for two server processes: neither caches a session or a key."""
    first, second = await make_client(), await make_client()
    user, other = users["merchant"], users["other"]
    session = await first.login(user)
    assert await second.result(session, "store.list")
    auth_header = basic(user.username, user.api_key)
    assert "result" in await first.call(None, "store.list", headers=auth_header)
    kept = await second.login(other)
    await provisioning.revoke_api_user(db, user.username)
    for rpc in (first, second):
        assert (await rpc.fault(session, "store.list"))["code"] == -32005
        assert (await rpc.call(None, "store.list", headers=auth_header))["error"]["code"] == -32002
        body = await rpc.request("login", [user.username, user.api_key])
        assert body["error"] == {"code": -32002, "message": "Access denied."}
        assert await rpc.result(kept, "store.list")  # others are untouched


async def test_a_revoked_key_stays_revoked(make_client, users, db):
    rpc = await make_client()
    user = users["merchant"]
    await provisioning.revoke_api_user(db, user.username)
    with pytest.raises(provisioning.ProvisioningError, match="no active API user"):
        await provisioning.revoke_api_user(db, user.username)
    assert (await rpc.request("login", [user.username, user.api_key]))["error"]["code"] == -32002


# --------------------------------------------------------------------- keys per merchant


async def test_at_most_6_active_keys_per_merchant(db, users):
    # acme has 3 users (merchant, warehouse, admin): 3 more fit.
    for number in range(3):
        await provisioning.create_api_user(db, "acme", "merchant", f"acme-extra-{number}")
    with pytest.raises(provisioning.ProvisioningError) as refused:
        await provisioning.create_api_user(db, "acme", "merchant", "acme-seventh")
    assert str(refused.value) == KEY_LIMIT
    assert await db.fetchval("SELECT count(*) FROM api_users WHERE username = 'acme-seventh'") == 0
    # Another merchant is not affected; a revoked key frees its place.
    await provisioning.create_api_user(db, "other", "merchant", "other-second")
    await provisioning.revoke_api_user(db, "acme-extra-0")
    created = await provisioning.create_api_user(db, "acme", "merchant", "acme-seventh")
    assert created.username == "acme-seventh"


async def test_the_key_cap_is_configurable(db, users):
    with pytest.raises(provisioning.ProvisioningError) as refused:
        await provisioning.create_api_user(db, "acme", "merchant", "acme-fourth", max_keys=3)
    assert str(refused.value) == KEY_LIMIT.replace("6", "3")
    await provisioning.create_api_user(db, "acme", "merchant", "acme-fourth", max_keys=10)


async def test_concurrent_creations_cannot_pass_the_cap_together(db, database_url, users):
    from rpc_fulfillment.db.pool import connect

    connections = [await connect(database_url) for _ in range(8)]
    try:
        outcomes = await asyncio.gather(
            *(provisioning.create_api_user(conn, "acme", "merchant", f"acme-race-{i}") for i, conn in enumerate(connections)),
            return_exceptions=True,
        )
    finally:
        for conn in connections:
            await conn.close()
    created = [o for o in outcomes if isinstance(o, provisioning.NewApiUser)]
    refused = [o for o in outcomes if isinstance(o, provisioning.ProvisioningError)]
    assert (len(created), len(refused)) == (3, 5)
    assert all(str(error) == KEY_LIMIT for error in refused)
    assert await db.fetchval("SELECT count(*) FROM api_users u JOIN merchants m USING (merchant_id) "
                             "WHERE m.code = 'acme' AND u.revoked_at IS NULL") == 6


# ---------------------------------------------------------------------- failed logins


async def test_failed_logins_are_logged_without_the_key(rpc, users, caplog):
    user = users["merchant"]
    wrong = "f" * 40
    with caplog.at_level(logging.WARNING, logger="rpc_fulfillment.accounts.auth"):
        body = await rpc.request("login", [user.username, wrong])
        assert body["error"]["code"] == -32002
        await rpc.call(None, "store.list", headers=basic("nobody", user.api_key))
        await rpc.request("login", ["evil\nname", wrong])
    lines = [r.getMessage() for r in caplog.records if r.name == "rpc_fulfillment.accounts.auth"]
    assert len(lines) == 3, lines
    assert "'acme-merchant'" in lines[0] and "from 127.0.0.1" in lines[0] and "an active user" in lines[0]
    assert "'nobody'" in lines[1] and "no such active user" in lines[1]
    assert "'evil\\nname'" in lines[2]  # quoted: no forged log lines
    for line in lines:
        assert wrong not in line and user.api_key not in line
    assert all("\n" not in line for line in lines)


async def test_failed_logins_are_counted_per_username_and_address(rpc, users, db):
    user = users["merchant"]
    for _ in range(3):
        await rpc.request("login", [user.username, "0" * 40])
    await rpc.call(None, "store.list", headers=basic(user.username, "1" * 40))
    await rpc.request("login", ["no-such-user", "0" * 40])  # unknown names are counted too
    rows = {(r["username"], r["address"]): r["failures"]
            for r in await db.fetch("SELECT username, address, failures FROM login_failures")}
    assert rows == {(user.username, "127.0.0.1"): 4, ("no-such-user", "127.0.0.1"): 1}
    # Missing arguments are not attempts.
    await rpc.request("login", [user.username, ""])
    assert await db.fetchval("SELECT failures FROM login_failures WHERE username = $1", user.username) == 4
    # A success clears the count.
    await rpc.login(user)
    assert await db.fetchval("SELECT count(*) FROM login_failures WHERE username = $1", user.username) == 0


async def request(rpc: Any, method: str, params: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """One request; safe to run concurrently on one client (Rpc.request counts ids)."""
    status, body = await rpc.post({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, headers=headers)
    assert status == 200, body
    return body


async def timed_login(rpc: Any, user: ApiUser, key: str | None = None) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    body = await request(rpc, "login", [user.username, key or user.api_key])
    return time.perf_counter() - started, body


class FailureLog:
    """The server's log of failed logins (caplog), read as it grows. A wrong attempt that is
    answered late says so ("answered 1 s late") just before it waits: that line, not a guess at
    how long a request takes, tells a test that the attempt is waiting now, and with what delay;
    one without it was answered at once."""

    LATE = re.compile(r"; answered ([0-9.]+) s late")

    def __init__(self, caplog: Any) -> None:
        caplog.set_level(logging.WARNING, logger=auth.log.name)
        self.caplog = caplog

    def lines(self) -> list[str]:
        return [r.getMessage() for r in self.caplog.records if r.name == auth.log.name and "login failed" in r.getMessage()]

    def delays(self) -> list[float]:
        """The delay each failure logged so far was answered with (0: at once), in order."""
        return [float(late[1]) if (late := self.LATE.search(line)) else 0.0 for line in self.lines()]

    async def wait_for(self, count: int) -> list[float]:
        """Wait until ``count`` failures are logged (a hang guard of 10 s); their delays."""
        async with asyncio.timeout(10):
            while len(self.lines()) < count:
                await asyncio.sleep(0.01)
        return self.delays()


async def test_failed_logins_slow_down_wrong_attempts_only(make_client, users, caplog):
    """Changed by issue 13 item 7: the right key used to wait too (up to the delay); it never
    waits now. "At once" is what the server logged, or an answer that came while a wrong
    attempt sent before it was still waiting: no bound on how long a request takes."""
    failures = FailureLog(caplog)
    rpc = await make_client(login_max_failures=2, login_max_delay=1.0)
    user, other = users["merchant"], users["other"]
    for _ in range(2):  # free
        body = await request(rpc, "login", [user.username, "0" * 40])
        assert body["error"]["code"] == -32002
    assert failures.delays() == [0, 0]
    slowed = asyncio.create_task(timed_login(rpc, user, "0" * 40))  # 2 failures: waits min(2^0, 1.0)
    assert await failures.wait_for(3) == [0, 0, 1.0]
    # The right key gets in while that attempt waits: an attacker can neither lock the user out
    # nor slow them down...
    body = await request(rpc, "login", [user.username, user.api_key])
    assert len(body["result"]) == 32 and not slowed.done()
    elapsed, body = await slowed
    assert body["error"]["code"] == -32002 and elapsed >= 1.0
    # ...and the success ends the slowdown; another username was never slowed down.
    await request(rpc, "login", [user.username, "0" * 40])
    await request(rpc, "login", [other.username, "0" * 40])
    assert failures.delays() == [0, 0, 1.0, 0, 0]
    assert "result" in await request(rpc, "login", [other.username, other.api_key])


async def test_the_delay_grows_and_is_capped(make_client, users, db, caplog):
    failures = FailureLog(caplog)
    rpc = await make_client(login_max_failures=1, login_max_delay=0.5)
    user = users["merchant"]
    await db.execute(
        "INSERT INTO login_failures VALUES ($1, '127.0.0.1', 30, now(), now())", user.username
    )
    async with asyncio.timeout(30):  # a hang guard: uncapped, 2^29 s
        elapsed, body = await timed_login(rpc, user, "0" * 40)
    assert failures.delays() == [0.5] and elapsed >= 0.5  # 2^29 s capped at 0.5
    assert await db.fetchval("SELECT failures FROM login_failures") == 31


async def test_the_count_restarts_after_the_window(make_client, users, db, caplog):
    """The count the login reads and writes restarts, not only the sweep that deletes old rows:
    the stale row is written once the server's first sweep is done (it deleted a probe row) and
    before its next one (600 s later)."""
    failures = FailureLog(caplog)
    stale = ("INSERT INTO login_failures VALUES ($1, '127.0.0.1', 9, now() - interval '61 seconds', "
             "now() - interval '50 seconds')")
    await db.execute(stale, "sweep-probe")
    rpc = await make_client(login_max_failures=1, login_max_delay=5, login_failure_window=60)
    user = users["merchant"]

    async def swept() -> bool:
        return await db.fetchval("SELECT count(*) FROM login_failures") == 0

    await wait_until(swept, what="the first sweep of stale failed logins")
    await db.execute(stale, user.username)
    body = await request(rpc, "login", [user.username, "0" * 40])
    assert body["error"]["code"] == -32002 and failures.delays() == [0]  # not 2^9 capped at 5 s
    assert await db.fetchval("SELECT failures FROM login_failures") == 1


async def test_the_slowdown_is_shared_by_every_process_and_does_not_block_the_loop(make_client, users, caplog):
    failures = FailureLog(caplog)
    first = await make_client(login_max_failures=1, login_max_delay=0.6)
    second = await make_client(login_max_failures=1, login_max_delay=0.6)
    user, other = users["merchant"], users["other"]
    await first.request("login", [user.username, "0" * 40])
    slowed = asyncio.create_task(timed_login(second, user, "0" * 40))
    assert await failures.wait_for(2) == [0, 0.6]  # the second process counted the first's failure
    # While that attempt waits, the same process answers others.
    session = (await request(second, "login", [other.username, other.api_key]))["result"]
    assert (await request(second, "call", [session, "store.list"]))["result"]
    assert not slowed.done()
    elapsed, body = await slowed
    assert elapsed >= 0.6 and body["error"]["code"] == -32002


async def test_a_waiting_basic_attempt_holds_no_database_connection(make_client, users, caplog):
    """The wait happens before a connection is taken: waiting attempts cannot drain the pool."""
    failures = FailureLog(caplog)
    rpc = await make_client(login_max_failures=1, login_max_delay=0.8, login_max_waiting=8, db_pool_size=2)
    user, other = users["merchant"], users["other"]
    await rpc.request("login", [user.username, "0" * 40])
    header = basic(user.username, "0" * 40)
    waiting = [asyncio.create_task(request(rpc, "call", [None, "store.list"], header)) for _ in range(6)]
    assert (await failures.wait_for(7))[1:] == [0.8] * 6  # all six are waiting now
    body = await request(rpc, "call", [None, "store.list"], basic(other.username, other.api_key))
    assert "result" in body and not any(task.done() for task in waiting)
    for body in await asyncio.gather(*waiting):
        assert body["error"]["code"] == -32002


Send = Callable[..., Awaitable[tuple[float, dict[str, Any]]]]


@asynccontextmanager
async def from_address(rpc: Any, address: str) -> AsyncIterator[Send]:
    """Requests to the app under test over TCP connections bound to ``address`` (Linux routes
    all of 127.0.0.0/8 to the loopback): the server sees them come from there. ``send(method,
    params, headers)`` gives (seconds, body)."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        async def send(method: str, params: Any, headers: dict[str, str] | None = None) -> tuple[float, dict[str, Any]]:
            started = time.perf_counter()
            body = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
            async with session.post(rpc.client.make_url("/api/jsonrpc"), data=body, headers=headers) as response:
                assert response.status == 200
                answer = orjson.loads(await response.read())
            return time.perf_counter() - started, answer

        yield send


def store_list(username: str, key: str) -> tuple[str, list[Any], dict[str, str]]:
    """A store.list call with HTTP Basic credentials, as arguments of ``send``."""
    return "call", [None, "store.list"], basic(username, key)


async def test_an_attacker_cannot_slow_down_the_owner(make_client, users, db, caplog):
    """Issue 13 item 7: wrong keys sent for a username from one address delay that address's
    wrong attempts, never a right key (from another address or from the same one): the right
    keys are answered while both guesses, sent before them, are still waiting."""
    failures = FailureLog(caplog)
    rpc = await make_client(login_max_failures=2, login_max_delay=1.5)
    user = users["merchant"]
    async with from_address(rpc, "127.0.0.2") as attacker, from_address(rpc, "127.0.0.3") as owner:
        for _ in range(2):  # free
            elapsed, body = await attacker(*store_list(user.username, "0" * 40))
            assert body["error"]["code"] == -32002
        guesses = [asyncio.create_task(attacker(*store_list(user.username, f"{n}" * 40))) for n in range(1, 3)]
        assert sorted(await failures.wait_for(4)) == [0, 0, 1.0, 1.5]  # both guesses are waiting now
        answers = await asyncio.gather(*(call for send in (owner, attacker) for call in (
            send(*store_list(user.username, user.api_key)), send("login", [user.username, user.api_key]))))
        assert not any(guess.done() for guess in guesses)
        for (_, listed), (_, logged_in) in zip(answers[::2], answers[1::2]):
            assert listed["result"][0]["code"] == "default" and len(logged_in["result"]) == 32, (listed, logged_in)
        for elapsed, body in await asyncio.gather(*guesses):
            assert body["error"]["code"] == -32002 and elapsed >= 1.0
    rows = await db.fetch("SELECT username, address, failures FROM login_failures")
    assert [tuple(row) for row in rows] == []  # the owner's login from 127.0.0.2 cleared that address


async def test_parallel_guesses_over_the_cap_are_refused_unchecked(make_client, users, db, caplog):
    failures = FailureLog(caplog)
    rpc = await make_client(login_max_failures=1, login_max_delay=1.5)  # --login-max-waiting 4
    user = users["merchant"]
    async with from_address(rpc, "127.0.0.2") as attacker, from_address(rpc, "127.0.0.3") as owner:
        await attacker("login", [user.username, "0" * 40])  # free; the pair is throttled from now on
        waiting = [asyncio.create_task(attacker("login", [user.username, f"{n}" * 40])) for n in range(1, 5)]
        assert sorted(await failures.wait_for(5)) == [0, 1.0, 1.5, 1.5, 1.5]  # the four places are taken
        # Refused at once: answered while the four are still waiting, and neither counted nor logged.
        # Unchecked means unchecked: even the right key is refused from the attacker's address
        # while its places are taken (the owner behind the same address retries later), while
        # from anywhere else it gets in at once.
        *flood, (_, attackers_right_key), (_, owners) = await asyncio.gather(
            *(attacker("login", [user.username, f"{n:x}" * 40]) for n in range(5, 16)),
            attacker("login", [user.username, user.api_key]), owner("login", [user.username, user.api_key]))
        assert not any(task.done() for task in waiting) and len(failures.lines()) == 5
        for elapsed, body in flood:
            assert body["error"]["code"] == -32002 and "this one was not checked" in body["error"]["data"], body
        assert "not checked" in attackers_right_key["error"]["data"]
        assert len(owners["result"]) == 32
        for elapsed, body in await asyncio.gather(*waiting):
            assert body["error"]["code"] == -32002 and "data" not in body["error"] and elapsed >= 1.0
        assert await db.fetchval("SELECT failures FROM login_failures WHERE address = '127.0.0.2'") == 5
        # Once the waiting guesses are answered, the next one is checked again (and waits).
        elapsed, body = await attacker("login", [user.username, "f" * 40])
        assert "data" not in body["error"] and elapsed >= 1.5


async def test_parallel_right_keys_are_never_refused(make_client, users):
    """The cap binds only a (username, address) with failures: a client whose keys are right
    may send as many HTTP Basic calls at once as it likes."""
    rpc = await make_client(login_max_failures=1, login_max_delay=1.5, login_max_waiting=1)
    user = users["merchant"]
    header = basic(user.username, user.api_key)
    answers = await asyncio.gather(*(request(rpc, "call", [None, "store.list"], header) for _ in range(12)))
    assert all(body["result"][0]["code"] == "default" for body in answers)


async def test_stale_failures_are_deleted_by_the_session_worker(db, users):
    from rpc_fulfillment.accounts.limit_queries import delete_stale_login_failures

    await db.execute("INSERT INTO login_failures VALUES ('old', '::1', 3, now() - interval '2 hours', "
                     "now() - interval '2 hours')")
    await db.execute("INSERT INTO login_failures VALUES ('new', '::1', 3, now(), now())")
    assert await delete_stale_login_failures(db, 3600) == 1
    assert [r["username"] for r in await db.fetch("SELECT username FROM login_failures")] == ["new"]


def test_user_create_honours_max_api_keys(cli, url, monkeypatch):
    cli("merchant", "create", "shop", "Shop Ltd")
    for name in ("a1", "a2"):
        assert cli("user", "create", "--merchant", "shop", "--role", "merchant", name, "--max-api-keys", "2")[0] == 0
    code, _, err = cli("user", "create", "--merchant", "shop", "--role", "merchant", "a3", "--max-api-keys", "2")
    assert code == 1
    assert err == ("rpc-fulfillment: error: You've reached your limit of 2 API keys. "
                   "Please delete any unused API keys and try again.\n")
    monkeypatch.setenv("RPCF_MAX_API_KEYS", "3")
    assert cli("user", "create", "--merchant", "shop", "--role", "merchant", "a3")[0] == 0
    monkeypatch.delenv("RPCF_MAX_API_KEYS")
    for name in ("a4", "a5", "a6"):
        assert cli("user", "create", "--merchant", "shop", "--role", "merchant", name)[0] == 0
    code, _, err = cli("user", "create", "--merchant", "shop", "--role", "merchant", "a7")
    assert code == 1 and KEY_LIMIT in err


from tests.api.test_cli import cli, url  # noqa: E402,F401  (fixtures)
