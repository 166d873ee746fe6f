"""multiCall(session, [[path, args], ...], options): Magento's semantics."""

from __future__ import annotations

import logging

import pytest

from rpc_fulfillment.core.faults import Fault
from rpc_fulfillment.core.api import WAREHOUSE
from tests.api.conftest import assert_response_shape, basic

INVALID_PATH = {"isFault": True, "faultCode": 3, "faultMessage": "Invalid api path."}


async def echo(ctx, first=None, second="default"):
    return [first, second]


async def needs_sku(ctx, sku):
    return sku


@pytest.fixture
async def session(shared_rpc, shared_users, add_method):
    add_method("test.echo", echo)
    add_method("test.needs_sku", needs_sku)
    return await shared_rpc.login(shared_users["merchant"])


async def multicall(rpc, *params, headers=None):
    body = await rpc.request("multiCall", list(params), headers=headers)
    assert_response_shape(body)
    return body


async def test_results_in_order(shared_rpc, session):
    body = await multicall(shared_rpc, session, [
        ["store.list"],
        ["warehouse.list", []],
        ["test.echo", ["a", "b"]],
        ["test.echo", "scalar"],
        ["test.echo", {"second": 2}],
        ["test.echo", None],
        ["test.echo"],
    ])
    stores, warehouses, *echoes = body["result"]
    assert [store["code"] for store in stores] == ["default"]
    assert [w["name"] for w in warehouses] == ["Main Warehouse"]
    assert echoes == [["a", "b"], ["scalar", "default"], [None, 2], [None, "default"], [None, "default"]]


async def test_empty_calls(shared_rpc, session):
    assert (await multicall(shared_rpc, session, []))["result"] == []


async def test_failures_are_fault_entries_and_the_rest_continue(shared_rpc, session):
    body = await multicall(shared_rpc, session, [
        ["test.echo", ["first"]],
        ["nope.nope"],
        ["test.needs_sku"],
        ["test.echo", ["after"]],
        ["test.needs_sku", ["A"]],
    ])
    assert body["result"] == [
        ["first", "default"],
        INVALID_PATH,
        {"isFault": True, "faultCode": 6, "faultMessage": 'Required parameter is missing, for more details see "exception.log".'},
        ["after", "default"],
        "A",
    ]


@pytest.mark.parametrize("options", [{"break": True}, {"break": 1}, {"break": "1"}])
async def test_break_stops_after_the_first_fault(shared_rpc, session, options):
    body = await multicall(shared_rpc, session, [["test.echo", ["a"]], ["nope.nope"], ["test.echo", ["never"]]], options)
    assert body["result"] == [["a", "default"], INVALID_PATH]


@pytest.mark.parametrize("options", [None, {}, [], {"break": False}, {"break": 0}, {"break": "0"}, {"break": None}, {"other": 1}], ids=repr)
async def test_without_break_it_continues(shared_rpc, session, options):
    params = [session, [["nope.nope"], ["test.echo", ["b"]]]] + ([] if options is None else [options])
    body = await multicall(shared_rpc, *params)
    assert body["result"] == [INVALID_PATH, ["b", "default"]]


async def test_break_with_no_fault_runs_everything(shared_rpc, session):
    body = await multicall(shared_rpc, session, [["test.echo", [1]], ["test.echo", [2]]], {"break": True})
    assert body["result"] == [[1, "default"], [2, "default"]]


@pytest.mark.parametrize(
    "entry",
    [[], "store.list", {"path": "store.list"}, 5, None, [5], [None], [["store.list"]]],
    ids=repr,
)
async def test_invalid_entries_are_fault_3(shared_rpc, session, entry):
    body = await multicall(shared_rpc, session, [entry, ["test.echo", ["next"]]])
    assert body["result"] == [INVALID_PATH, ["next", "default"]]


async def test_an_entry_takes_further_arguments_as_call_does(shared_rpc, session):
    body = await multicall(shared_rpc, session, [
        ["test.echo", "a", "b"], ["test.echo", ["a"], "b"], ["test.echo", {"k": 1}, 2], ["store.list", None, None],
    ])
    assert body["result"][:3] == [["a", "b"], ["a", "b"], [{"k": 1}, 2]]
    assert body["result"][3][0]["code"] == "default"


async def test_wrong_arguments_in_an_entry(shared_rpc, session):
    body = await multicall(shared_rpc, session, [["test.echo", [1, 2, 3]], ["store.list", [], "extra"], ["store.list"]])
    first, second, third = body["result"]
    for entry in (first, second):
        assert entry["isFault"] is True and entry["faultCode"] == -32602
        assert entry["faultMessage"].startswith("Invalid params")
    assert third[0]["code"] == "default"


async def test_role_is_checked_per_entry(shared_rpc, shared_users, add_method):
    add_method("test.ops_only", echo, roles={WAREHOUSE})
    merchant = await shared_rpc.login(shared_users["merchant"])
    warehouse = await shared_rpc.login(shared_users["warehouse"])
    calls = [["test.ops_only", ["x"]], ["store.list"]]
    denied, stores = (await multicall(shared_rpc, merchant, calls))["result"]
    assert denied == {"isFault": True, "faultCode": 2, "faultMessage": "Access denied."}
    assert stores[0]["code"] == "default"
    allowed, _ = (await multicall(shared_rpc, warehouse, calls))["result"]
    assert allowed == ["x", "default"]


async def test_details_in_message_and_internal_faults(shared_rpc, session, add_method, caplog):
    async def boom(ctx):
        raise RuntimeError("secret")

    async def fault(ctx, name, detail=None):
        raise Fault(name, detail)

    add_method("test.boom", boom)
    add_method("test.fault", fault)
    caplog.set_level(logging.ERROR)
    body = await multicall(shared_rpc, session, [["test.boom"], ["test.fault", ["access_denied", "why"]]])
    internal, denied = body["result"]
    assert internal["isFault"] is True and internal["faultCode"] == 1
    assert internal["faultMessage"].startswith("Internal Error. Please see log for details.")
    assert "secret" not in internal["faultMessage"]
    request_id = internal["faultMessage"].rsplit(" ", 1)[-1].rstrip(".")
    assert request_id in caplog.text and "RuntimeError: secret" in caplog.text
    assert denied == {"isFault": True, "faultCode": 2, "faultMessage": "Access denied."}


@pytest.mark.parametrize("calls", ["store.list", {"0": ["store.list"]}, None, 5, True], ids=repr)
async def test_calls_not_a_list_is_invalid_params(shared_rpc, session, calls):
    body = await multicall(shared_rpc, session, calls)
    assert body["error"]["code"] == -32602
    assert body["error"]["message"] == "Invalid params"
    assert "calls" in body["error"]["data"]


@pytest.mark.parametrize("options", ["break", 1, [1], True], ids=repr)
async def test_options_not_an_object_is_invalid_params(shared_rpc, session, options):
    body = await multicall(shared_rpc, session, [["store.list"]], options)
    assert body["error"]["code"] == -32602 and "options" in body["error"]["data"]


async def test_multicall_without_calls_is_invalid_params(shared_rpc, session):
    body = await multicall(shared_rpc, session)
    assert body["error"]["code"] == -32602


async def test_session_is_checked_once_for_the_whole_call(shared_rpc, session):
    body = await multicall(shared_rpc, "0" * 32, [["store.list"]])
    assert body["error"] == {"code": -32005, "message": "Session expired. Try to relogin."}
    body = await multicall(shared_rpc, None, [["store.list"]])
    assert body["error"]["code"] == -32005


async def test_null_session_with_basic_credentials(shared_rpc, shared_users, session):
    user = shared_users["warehouse"]
    body = await multicall(shared_rpc, None, [["warehouse.list"]], headers=basic(user.username, user.api_key))
    assert body["result"][0][0]["name"] == "Main Warehouse"
    body = await multicall(shared_rpc, None, [["warehouse.list"]], headers=basic(user.username, "0" * 40))
    assert body["error"]["code"] == -32002


async def test_over_the_limit_is_invalid_params(make_client, users):
    rpc = await make_client(max_batch=3)
    session = await rpc.login(users["merchant"])
    body = await multicall(rpc, session, [["store.list"]] * 3)
    assert len(body["result"]) == 3
    body = await multicall(rpc, session, [["store.list"]] * 4)
    assert body["error"]["code"] == -32602
    assert body["error"]["data"] == "multiCall of 4 calls exceeds the limit of 3"
