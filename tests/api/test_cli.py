"""The operator's provisioning commands: rpc_fulfillment.cli.main with argv.

cli.main runs asyncio.run itself, so these tests are plain functions with a database of
their own made synchronously; API checks run the real app in their own event loop.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any, Awaitable, Callable, Iterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from rpc_fulfillment.app import create_app
from rpc_fulfillment.cli import main
from rpc_fulfillment.config import Settings
from tests.conftest import ApiUser, Rpc, _execute, database_url_for


@pytest.fixture
def url(admin_url: str, template_database: str) -> Iterator[str]:
    """A fresh, migrated database, made without an event loop of the test's own."""
    name = f"rpcf_cli_{uuid.uuid4().hex[:12]}"
    asyncio.run(_execute(admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"'))
    yield database_url_for(admin_url, name)
    asyncio.run(_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def cli(url: str, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run the command with --database-url; returns (exit code, stdout, stderr)."""

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([*argv, "--database-url", url])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def query(url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    async def fetch() -> list[dict[str, Any]]:
        import asyncpg

        connection = await asyncpg.connect(url)
        try:
            return [dict(row) for row in await connection.fetch(sql, *args)]
        finally:
            await connection.close()

    return asyncio.run(fetch())


def with_api(url: str, work: Callable[[Rpc], Awaitable[Any]]) -> Any:
    """Run ``work`` against the real app on ``url``, in an event loop of its own."""

    async def run() -> Any:
        app = create_app(Settings(database_url=url, db_pool_size=2), url)
        async with TestClient(TestServer(app)) as client:
            return await work(Rpc(client))

    return asyncio.run(run())


def created_user(out: str, merchant: str, role: str) -> ApiUser:
    username = re.search(r"^API user:\s+(\S+)", out, re.MULTILINE).group(1)
    key = re.search(r"^API key:\s+([0-9a-f]{40})$", out, re.MULTILINE).group(1)
    return ApiUser(username, key, merchant, role)


def test_merchant_create_makes_the_default_store(cli, url):
    code, out, err = cli("merchant", "create", "shop", "Shop Ltd")
    assert (code, err) == (0, "")
    assert "created merchant 'shop'" in out
    rows = query(url, "SELECT m.code, m.name, s.code AS store, s.name AS store_name, s.is_default "
                      "FROM merchants m JOIN stores s USING (merchant_id)")
    assert rows == [{"code": "shop", "name": "Shop Ltd", "store": "default", "store_name": "Shop Ltd Default Store",
                     "is_default": True}]
    code, out, _ = cli("merchant", "list")
    assert code == 0 and re.search(r"^\d+\s+shop\s+Shop Ltd", out, re.MULTILINE), out


def test_merchant_create_duplicate(cli, url):
    assert cli("merchant", "create", "shop", "Shop Ltd")[0] == 0
    code, out, err = cli("merchant", "create", "shop", "Another")
    assert code == 1
    assert err == "rpc-fulfillment: error: a merchant with code 'shop' already exists\n"
    assert query(url, "SELECT count(*) AS n FROM merchants") == [{"n": 1}]
    assert query(url, "SELECT count(*) AS n FROM stores") == [{"n": 1}]


@pytest.mark.parametrize("code, name", [("Shop", "x"), ("_shop", "x"), ("sh op", "x"), ("x" * 65, "x"), ("shop", " ")])
def test_merchant_create_invalid(cli, url, code, name):
    exit_code, _, err = cli("merchant", "create", code, name)
    assert exit_code == 1
    assert err.startswith("rpc-fulfillment: error: merchant ")
    assert "invalid" in err or "characters" in err
    assert query(url, "SELECT count(*) AS n FROM merchants") == [{"n": 0}]


def test_store_create_and_list(cli, url):
    cli("merchant", "create", "shop", "Shop Ltd")
    code, out, err = cli("store", "create", "--merchant", "shop", "web", "Web Shop")
    assert code == 0 and "created store 'web'" in out
    code, _, err = cli("store", "create", "--merchant", "shop", "web", "Again")
    assert code == 1 and err == "rpc-fulfillment: error: merchant 'shop' already has a store with code 'web'\n"
    code, out, _ = cli("store", "list", "--merchant", "shop")
    assert code == 0
    assert re.search(r"shop\s+default\s+Shop Ltd Default Store\s+True", out), out
    assert re.search(r"shop\s+web\s+Web Shop\s+False", out), out


def test_store_create_for_unknown_merchant(cli, url):
    code, out, err = cli("store", "create", "--merchant", "nope", "web", "Web Shop")
    assert code == 1 and out == ""
    assert err == "rpc-fulfillment: error: no merchant with code 'nope' (see: rpc-fulfillment merchant list)\n"
    assert query(url, "SELECT count(*) AS n FROM stores") == [{"n": 0}]


def test_warehouse_create_and_list(cli, url):
    code, out, err = cli("warehouse", "create", "East Coast", "--street1", "1 Dock Rd", "--city", "Newark",
                         "--region", "NJ", "--postcode", "07101", "--country", "US")
    assert code == 0 and "created warehouse 'East Coast'" in out
    rows = query(url, "SELECT street1, street2, city, region, postcode, country FROM warehouses WHERE name = 'East Coast'")
    assert rows == [{"street1": "1 Dock Rd", "street2": "", "city": "Newark", "region": "NJ", "postcode": "07101",
                     "country": "US"}]
    code, out, _ = cli("warehouse", "list")
    assert code == 0 and "Main Warehouse" in out and re.search(r"East Coast\s+True\s+Newark\s+NJ\s+US", out), out
    code, _, err = cli("warehouse", "create", "East Coast")
    assert code == 1 and err == "rpc-fulfillment: error: a warehouse named 'East Coast' already exists\n"
    code, _, err = cli("warehouse", "create", "West", "--country", "usa")
    assert code == 1 and "ISO 3166" in err
    # The new warehouse is in the API's warehouse.list.
    cli("merchant", "create", "shop", "Shop")
    _, out, _ = cli("user", "create", "--merchant", "shop", "--role", "warehouse", "ops")
    user = created_user(out, "shop", "warehouse")

    async def listed(rpc: Rpc) -> list[str]:
        return [w["name"] for w in await rpc.result(await rpc.login(user), "warehouse.list")]

    assert with_api(url, listed) == ["Main Warehouse", "East Coast"]


def test_user_create_prints_a_key_that_logs_in(cli, url):
    cli("merchant", "create", "shop", "Shop Ltd")
    code, out, err = cli("user", "create", "--merchant", "shop", "--role", "merchant", "shop-api")
    assert (code, err) == (0, "")
    user = created_user(out, "shop", "merchant")
    assert user.username == "shop-api"
    assert "only its hash is stored" in out
    # Only the hash is in the database.
    assert user.api_key not in str(query(url, "SELECT u::text FROM api_users u"))

    async def use(rpc: Rpc) -> list[str]:
        session = await rpc.login(user)
        return [store["code"] for store in await rpc.result(session, "store.list")]

    assert with_api(url, use) == ["default"]


def test_user_create_errors(cli, url):
    code, _, err = cli("user", "create", "--merchant", "nope", "--role", "merchant", "someone")
    assert code == 1 and "no merchant with code 'nope'" in err
    cli("merchant", "create", "shop", "Shop Ltd")
    assert cli("user", "create", "--merchant", "shop", "--role", "admin", "someone")[0] == 0
    code, _, err = cli("user", "create", "--merchant", "shop", "--role", "admin", "someone")
    assert code == 1 and err == "rpc-fulfillment: error: an API user named 'someone' already exists\n"
    code, _, err = cli("user", "create", "--merchant", "shop", "--role", "admin", "bad name")
    assert code == 1 and "username 'bad name' is invalid" in err
    with pytest.raises(SystemExit) as exit_info:
        cli("user", "create", "--merchant", "shop", "--role", "boss", "x")
    assert exit_info.value.code == 2  # argparse refuses the role


def test_user_list(cli, url):
    cli("merchant", "create", "shop", "Shop Ltd")
    cli("merchant", "create", "other", "Other")
    cli("user", "create", "--merchant", "shop", "--role", "merchant", "alice")
    cli("user", "create", "--merchant", "other", "--role", "warehouse", "bob")
    code, out, _ = cli("user", "list")
    assert code == 0
    assert re.search(r"alice\s+merchant\s+shop", out) and re.search(r"bob\s+warehouse\s+other", out), out
    code, out, _ = cli("user", "list", "--merchant", "other")
    assert "bob" in out and "alice" not in out
    assert not re.search(r"[0-9a-f]{40}", out)  # no key, and no hash


def test_user_revoke_ends_sessions_and_logins(cli, url):
    cli("merchant", "create", "shop", "Shop Ltd")
    _, out, _ = cli("user", "create", "--merchant", "shop", "--role", "merchant", "alice")
    alice = created_user(out, "shop", "merchant")
    _, out, _ = cli("user", "create", "--merchant", "shop", "--role", "merchant", "carol")
    carol = created_user(out, "shop", "merchant")

    async def scenario(rpc: Rpc) -> None:
        session = await rpc.login(alice)
        kept = await rpc.login(carol)
        assert await rpc.result(session, "store.list")
        code = await asyncio.to_thread(main, ["user", "revoke", "alice", "--database-url", url])
        assert code == 0
        assert (await rpc.fault(session, "store.list"))["code"] == -32005
        body = await rpc.request("login", [alice.username, alice.api_key])
        assert body["error"] == {"code": -32002, "message": "Access denied."}
        # Other users are untouched.
        assert await rpc.result(kept, "store.list")

    with_api(url, scenario)
    code, _, err = cli("user", "revoke", "alice")
    assert code == 1 and err == "rpc-fulfillment: error: no active API user named 'alice'\n"
    code, out, _ = cli("user", "list")
    revoked = [line for line in out.splitlines() if "alice" in line][0]
    assert re.search(r"\d{4}-\d\d-\d\d.*\d{4}-\d\d-\d\d", revoked), revoked  # created_at and revoked_at


def test_database_that_does_not_exist_is_a_clear_error(admin_url, capsys):
    missing = database_url_for(admin_url, f"rpcf_missing_{uuid.uuid4().hex[:8]}")
    code = main(["merchant", "list", "--database-url", missing])
    out, err = capsys.readouterr()
    assert code == 1
    assert err.startswith("rpc-fulfillment: error: database: ") and "does not exist" in err
    assert "Traceback" not in err


def test_invalid_database_url_is_a_clear_error(capsys):
    code = main(["merchant", "list", "--database-url", "not a url"])
    _, err = capsys.readouterr()
    assert code == 1 and err.startswith("rpc-fulfillment: error: database: ")


def test_bad_setting_in_the_environment_is_a_clear_error(cli, monkeypatch):
    monkeypatch.setenv("RPCF_MAX_BATCH", "lots")
    code, out, err = cli("merchant", "list")
    assert code == 1
    assert err == "rpc-fulfillment: error: max_batch must be a whole number, got 'lots'\n"
