"""state.get / state.set (ShipStream state.md): the docs' examples, values and their types,
detailed answers, null deletes, ifEquals, the size limits, tenant isolation, and the lock race
of the official plugin (clients/plugin-openmage Plugin.php _lockOrderImport)."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta, timezone

import pytest

from rpc_fulfillment.state import rules as state_rules
from tests.api.order_helpers import assert_fault
from tests.conftest import Rpc


async def state_rows(db, merchant: str = "acme") -> dict[str, tuple[str, int]]:
    rows = await db.fetch(
        "SELECT state_key, value, update_count FROM state_values JOIN merchants USING (merchant_id) WHERE code = $1",
        merchant,
    )
    return {row["state_key"]: (row["value"], row["update_count"]) for row in rows}


@pytest.fixture
async def session(rpc, users):
    return await rpc.login(users["merchant"])


async def call(rpc, session, path, *params):
    """call with the params after the path exactly as given (the docs' form)."""
    return await rpc.request("call", [session, path, *params])


def assert_invalid(error, detail: str) -> None:
    assert_fault(error, 100, f"Invalid data given: {detail}")


# ------------------------------------------------------------------------------ the docs' examples


async def test_the_docs_examples(rpc, session, db):
    await call(rpc, session, "state.set", "foo", "baz")
    # "Set a single value": foo was "baz", so "bar" is written.
    assert await call(rpc, session, "state.set", "foo", "bar", "baz") == {"jsonrpc": "2.0", "id": rpc._next_id, "result": True}
    assert (await call(rpc, session, "state.get", "foo"))["result"] == "bar"
    detailed = (await call(rpc, session, "state.get", "foo", True))["result"]
    assert list(detailed) == ["value", "updated_at", "update_count"]
    assert (detailed["value"], detailed["update_count"]) == ("bar", 1)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", detailed["updated_at"])
    updated_at = datetime.strptime(detailed["updated_at"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    assert abs(datetime.now(timezone.utc) - updated_at) < timedelta(minutes=1)  # UTC
    # "Set multiple values".
    assert (await call(rpc, session, "state.set", {"foo": "bar", "foo2": "bar2"}))["result"] is True
    assert await state_rows(db) == {"foo": ('"bar"', 1), "foo2": ('"bar2"', 0)}


async def test_the_official_clients_argument_arrays(rpc, session):
    """Middleware Plugin/Abstract.php: call('state.set', [$data, $value, $ifEquals]) and
    call('state.get', [$keys, $detailed])."""
    assert await rpc.result(session, "state.set", ["p_lock", "locked", None]) is True
    assert await rpc.result(session, "state.set", [{"p_a": "1", "p_b": None}, None, None]) is True
    assert await rpc.result(session, "state.get", ["p_lock", False]) == "locked"
    answer = await rpc.result(session, "state.get", [["p_lock", "p_a", "p_b"], True])
    assert list(answer) == ["p_lock", "p_a", "p_b"]
    assert (answer["p_lock"]["value"], answer["p_lock"]["update_count"], answer["p_a"]["value"], answer["p_b"]) == (
        "locked", 0, "1", None)
    assert await rpc.result(session, "state.get", [["p_lock", "p_a"]]) == {"p_lock": "locked", "p_a": "1"}
    # PHP's json_encode writes an empty array as [].
    assert await rpc.result(session, "state.set", [[], None, None]) is False
    assert await rpc.result(session, "state.get", [[]]) == {}


async def test_a_key_never_set_is_null(rpc, session):
    assert (await call(rpc, session, "state.get", "never"))["result"] is None
    assert (await call(rpc, session, "state.get", "never", True))["result"] is None
    # An array as args is the arguments (the docs' rule): the keys are an array in it.
    assert (await call(rpc, session, "state.get", [["never", "nor"], True]))["result"] == {"never": None, "nor": None}
    assert (await call(rpc, session, "state.get", [["never", "nor"]], True))["result"] == {"never": None, "nor": None}


@pytest.mark.parametrize("value", [True, False, 0, 17, 2.5, "", "text", [1, "two"], {"my_name": "x", "last_updated": 1}, {}],
                         ids=repr)
async def test_a_value_comes_back_as_it_was_set(rpc, session, value):
    assert (await call(rpc, session, "state.set", "k", value))["result"] is True
    assert (await call(rpc, session, "state.get", "k"))["result"] == value
    # An object keeps its keys' order (the middleware README stores an array and reads it back).
    if isinstance(value, dict):
        assert list((await call(rpc, session, "state.get", "k"))["result"]) == list(value)


async def test_a_number_key_is_read_as_its_digits(rpc, session):
    assert (await call(rpc, session, "state.set", 42, "x"))["result"] is True
    assert (await call(rpc, session, "state.get", "42"))["result"] == "x"


# ------------------------------------------------------------------------------ updates and deletes


async def test_writing_the_value_a_key_has_is_no_update(rpc, session, db):
    assert (await call(rpc, session, "state.set", "k", "a"))["result"] is True
    assert (await call(rpc, session, "state.set", "k", "a"))["result"] is False
    assert (await call(rpc, session, "state.set", "k", "b"))["result"] is True
    assert (await call(rpc, session, "state.set", "k", "c"))["result"] is True
    assert await state_rows(db) == {"k": ('"c"', 2)}
    # Several keys: true when at least one changed.
    assert (await call(rpc, session, "state.set", {"k": "c", "new": 1}))["result"] is True
    assert (await call(rpc, session, "state.set", {"k": "c", "new": 1}))["result"] is False


async def test_null_deletes(rpc, session, db):
    await call(rpc, session, "state.set", {"a": 1, "b": 2, "c": 3})
    assert (await call(rpc, session, "state.set", "a", None))["result"] is True
    assert (await call(rpc, session, "state.set", "a"))["result"] is False  # data absent is null: nothing to delete
    assert (await call(rpc, session, "state.set", {"b": None, "c": 4, "d": None}))["result"] is True
    assert await state_rows(db) == {"c": ("4", 1)}
    assert (await call(rpc, session, "state.get", "a"))["result"] is None
    # A deleted key starts again from update_count 0.
    await call(rpc, session, "state.set", "a", "again")
    assert (await call(rpc, session, "state.get", "a", True))["result"]["update_count"] == 0


async def test_if_equals_writes_only_when_the_value_is_that(rpc, session, db):
    assert (await call(rpc, session, "state.set", "lock", "locked", "unlocked"))["result"] is False  # not set: not equal
    assert await state_rows(db) == {}
    await call(rpc, session, "state.set", "lock", "unlocked")
    assert (await call(rpc, session, "state.set", "lock", "locked", "other"))["result"] is False
    assert (await call(rpc, session, "state.set", "lock", "locked", "unlocked"))["result"] is True
    assert (await call(rpc, session, "state.set", "lock", "locked", "unlocked"))["result"] is False
    assert await state_rows(db) == {"lock": ('"locked"', 1)}
    # Deleting with ifEquals, and several keys: each is compared.
    await call(rpc, session, "state.set", {"x": "v", "y": "w"})
    assert (await call(rpc, session, "state.set", {"x": None, "y": None}, None, "v"))["result"] is True
    assert set(await state_rows(db)) == {"lock", "y"}


@pytest.mark.parametrize("stored, if_equals, written", [
    (5, 5, True), (5, "5", True), ("5", 5, True), ("5", "5", True), ("5", "5.0", False), (5, 6, False),
    ("true", "true", True), (True, "true", False), ("0", 0, True),
], ids=repr)
async def test_if_equals_compares_as_php_compares_a_string_and_a_number(rpc, session, stored, if_equals, written):
    await call(rpc, session, "state.set", "k", stored)
    assert (await call(rpc, session, "state.set", "k", "new", if_equals))["result"] is written


# ------------------------------------------------------------------------------ refusals


KEY_255 = "é" * 127 + "k"  # 255 bytes


@pytest.mark.parametrize("params, detail", [
    (["k" * 256, "v"], "is 256 bytes long; at most 255 bytes"),
    (["é" * 128, "v"], "is 256 bytes long; at most 255 bytes"),
    (["", "v"], "a state key must not be empty"),
    ([True, "v"], "a state key must be a string, got True"),
    ([[["a"]], "v"], "keys must be a key or an object of keys and values, not an array"),
    ([{"a": 1}, "v"], "data must be null when keys is an object of keys and values"),
    ([{"a": 1, "": 2}], "a state key must not be empty"),
    (["k", "x" * 2049], "the value of 'k' is 2049 bytes long; at most 2048 bytes"),
    (["k", "é" * 1025], "the value of 'k' is 2050 bytes long; at most 2048 bytes"),
    (["k", ["x" * 2046]], "the value of 'k' is 2050 bytes long; at most 2048 bytes"),
    (["k", "v", True], "ifEquals must be a string or a whole number, got True"),
    (["k", "v", [1]], "ifEquals must be a string or a whole number, got [1]"),
    (["a\x00b", "v"], "the state key 'a\\x00b' contains a NUL character"),
], ids=lambda value: repr(value)[:40])
async def test_bad_arguments_of_set_are_fault_100_and_change_nothing(rpc, session, db, params, detail):
    await call(rpc, session, "state.set", "k", "before")
    body = await call(rpc, session, "state.set", *params)
    assert_fault(body["error"], 100)
    assert body["error"]["message"].startswith("Invalid data given: ") and detail in body["error"]["message"], body
    assert await state_rows(db) == {"k": ('"before"', 0)}


async def test_the_largest_key_and_value_are_stored(rpc, session):
    assert (await call(rpc, session, "state.set", KEY_255, "x" * 2048))["result"] is True
    assert (await call(rpc, session, "state.get", KEY_255))["result"] == "x" * 2048


@pytest.mark.parametrize("params, detail", [
    ([None], None),
    ([True], "a state key must be a string, got True"),
    ([{"a": 1}], "a state key must be a string, got {'a': 1}"),
    ([[["a", 5, ["b"]]]], "a state key must be a string, got ['b']"),
    (["k" * 256], "is 256 bytes long; at most 255 bytes"),
    (["k", "yes please"], "detailed must be true or false, got 'yes please'"),
    (["k", 2], "detailed must be true or false, got 2"),
], ids=repr)
async def test_bad_arguments_of_get(rpc, session, params, detail):
    error = (await call(rpc, session, "state.get", *params))["error"]
    if detail is None:
        assert_fault(error, 6)  # keys is required
    else:
        assert_fault(error, 100)
        assert error["message"].startswith("Invalid data given: ") and detail in error["message"], error


async def test_a_merchant_keeps_at_most_max_keys(rpc, session, db, monkeypatch):
    monkeypatch.setattr(state_rules, "MAX_KEYS", 3)
    assert (await call(rpc, session, "state.set", {"a": 1, "b": 2, "c": 3}))["result"] is True
    error = (await call(rpc, session, "state.set", "d", 4))["error"]
    assert_invalid(error, "a merchant may keep at most 3 state keys; delete some first")
    assert set(await state_rows(db)) == {"a", "b", "c"}
    # Changing and deleting keys is always allowed; then there is room again.
    assert (await call(rpc, session, "state.set", {"a": 10, "b": None}))["result"] is True
    assert (await call(rpc, session, "state.set", "d", 4))["result"] is True
    error = (await call(rpc, session, "state.set", {"e": 1, "f": 2, "g": 3, "h": 4}))["error"]
    assert_invalid(error, "keys names 4 keys; at most 3 at once")


# ------------------------------------------------------------------------------ tenancy


async def test_state_is_per_merchant(rpc, users, db):
    acme = await rpc.login(users["merchant"])
    acme_warehouse = await rpc.login(users["warehouse"])
    other = await rpc.login(users["other"])
    await call(rpc, acme, "state.set", "lock", "acme-only")
    assert (await call(rpc, other, "state.get", "lock"))["result"] is None
    assert (await call(rpc, other, "state.get", [["lock"], True]))["result"] == {"lock": None}
    assert (await call(rpc, other, "state.set", "lock", "theirs", "acme-only"))["result"] is False
    assert (await call(rpc, other, "state.set", "lock", None))["result"] is False  # nothing of its own to delete
    assert (await call(rpc, other, "state.set", "lock", "theirs"))["result"] is True
    assert (await call(rpc, acme, "state.get", "lock"))["result"] == "acme-only"
    assert (await call(rpc, other, "state.get", "lock"))["result"] == "theirs"
    # Every API user of a merchant shares its state.
    assert (await call(rpc, acme_warehouse, "state.get", "lock"))["result"] == "acme-only"
    assert await state_rows(db, "acme") == {"lock": ('"acme-only"', 0)}
    assert await state_rows(db, "other") == {"lock": ('"theirs"', 0)}


# ------------------------------------------------------------------------------ the lock race


async def _race(rpcs, sessions, db, params) -> list[bool]:
    """Every client sends state.set(*params) while a transaction holds the row of the lock key:
    all of them wait on it together, then race when it is released."""
    async with db.transaction():
        await db.execute("SELECT 1 FROM state_values WHERE state_key = 'lock' FOR UPDATE")
        calls = [asyncio.ensure_future(call(client, session, "state.set", *params)) for client, session in zip(rpcs, sessions)]
        for _ in range(500):
            waiting = await db.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")
            if waiting == len(calls):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError(f"only {waiting} of {len(calls)} calls are waiting for the lock")
    return [body["result"] for body in await asyncio.gather(*calls)]


@pytest.fixture
async def contenders(make_client, users):
    """Two server apps (each with its own connection pool), two clients and sessions on each."""
    apps = [await make_client(), await make_client()]
    rpcs = apps + [Rpc(app.client) for app in apps]
    sessions = [await client.login(users["merchant"]) for client in rpcs]
    return rpcs, sessions


async def test_the_plugins_lock_race_has_exactly_one_winner(rpc, session, db, contenders):
    """The plugin reads the lock, sees it unlocked, and sets it to "locked" without ifEquals:
    of the callers that all saw it unlocked, exactly one is answered true."""
    rpcs, sessions = contenders
    await call(rpc, session, "state.set", "lock", "unlocked")
    for _ in range(3):
        for client, contender in zip(rpcs, sessions):
            assert (await call(client, contender, "state.get", "lock", True))["result"]["value"] == "unlocked"
        results = await _race(rpcs, sessions, db, ["lock", "locked"])
        assert sorted(results) == [False, False, False, True]
        assert await call(rpc, session, "state.set", "lock", "unlocked")  # the winner unlocks


async def test_if_equals_is_an_atomic_compare_and_set(rpc, session, db, contenders):
    rpcs, sessions = contenders
    await call(rpc, session, "state.set", "lock", "free")
    for round_number in range(3):
        results = await _race(rpcs, sessions, db, ["lock", f"owner-{round_number}", "free"])
        assert sorted(results) == [False, False, False, True]
        assert (await call(rpc, session, "state.get", "lock"))["result"] == f"owner-{round_number}"
        await call(rpc, session, "state.set", "lock", "free", f"owner-{round_number}")
    assert await state_rows(db) == {"lock": ('"free"', 6)}
