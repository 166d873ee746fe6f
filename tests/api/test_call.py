"""call(session, "resource.method", args): argument spreading, api paths, roles, required
arguments, fault encoding, and unexpected exceptions (fault 1)."""

from __future__ import annotations

import logging
from decimal import Decimal

import orjson
import pytest

from rpc_fulfillment.core.faults import FAULTS, Fault, FaultSpec
from rpc_fulfillment.core.api import WAREHOUSE
from tests.api.conftest import assert_response_shape, basic
from tests.conftest import ABSENT


def show(value):
    return "absent" if value is ABSENT else repr(value)


async def echo(ctx, first=None, second="default"):
    """A dummy API method with two optional arguments."""
    return {"first": first, "second": second, "user": ctx.principal.username, "merchant": ctx.principal.merchant_code}


async def needs_sku(ctx, sku, qty=1):
    """A dummy API method with a required argument."""
    return [sku, qty]


@pytest.fixture
async def session(shared_rpc, shared_users):
    return await shared_rpc.login(shared_users["merchant"])


@pytest.fixture
def with_echo(add_method):
    add_method("test.echo", echo)
    add_method("test.needs_sku", needs_sku)


@pytest.mark.parametrize(
    "args, first, second",
    [
        (ABSENT, None, "default"),  # absent: no arguments
        ([], None, "default"),
        (["a"], "a", "default"),
        (["a", 2], "a", 2),  # a list is spread positionally
        ([["x", "y"], {"k": 1}], ["x", "y"], {"k": 1}),
        ("SKU-A", "SKU-A", "default"),  # a scalar is the single first argument
        (5, 5, "default"),
        (0, 0, "default"),
        (1.5, 1.5, "default"),
        (True, True, "default"),
        (False, False, "default"),
        ("", "", "default"),
        (None, None, "default"),  # null is passed as the single argument
        ({"second": 3, "first": "x"}, "x", 3),  # an object whose keys all name parameters: named arguments
        ({"second": 3}, None, 3),
        ({}, None, "default"),
        ({"foo": "bar"}, {"foo": "bar"}, "default"),  # any other object is the first argument (state.set, log.write)
        (["a", 2, None, None], "a", 2),  # surplus nulls are tolerated, as PHP ignores extras
    ],
    ids=show,
)
async def test_argument_spreading(shared_rpc, shared_users, session, with_echo, args, first, second):
    result = await shared_rpc.result(session, "test.echo", args)
    assert result == {"first": first, "second": second, "user": shared_users["merchant"].username, "merchant": "acme"}


@pytest.mark.parametrize(
    "params, first, second",
    [
        (["a", 2], "a", 2),  # the docs' state.get("foo", true)
        ([["a"], 2], "a", 2),  # the docs' order.cancel(["100000114", {...}], ["status", "items"])
        ([["a", 2]], "a", 2),
        ([[], "a", 2], "a", 2),
        ([None, 2], None, 2),
        ([{"k": 1}, 2], {"k": 1}, 2),
        ([{"second": 1}, 2], {"second": 1}, 2),  # followed by further arguments an object is positional
        (["a", 2, None], "a", 2),  # surplus nulls tolerated here too
    ],
    ids=repr,
)
async def test_further_params_after_args_are_further_positional_arguments(shared_rpc, session, with_echo, params, first,
                                                                          second):
    body = await shared_rpc.request("call", [session, "test.echo", *params])
    assert body["result"]["first"] == first and body["result"]["second"] == second


@pytest.mark.parametrize("params", [["a", 2, 3], [["a", 2], 3], [[], "a", 2, "c"]], ids=repr)
async def test_too_many_further_params_are_invalid_params(shared_rpc, session, with_echo, params):
    body = await shared_rpc.request("call", [session, "test.echo", *params])
    assert body["error"] == {"code": -32602, "message": "Invalid params",
                             "data": "test.echo takes at most 2 argument(s), 3 given"}


@pytest.mark.parametrize("args", [["a", 2, 3], [None, None, "x"], {"first": 1, "other": 2}], ids=repr)
async def test_arguments_that_do_not_fit_are_invalid_params(shared_rpc, session, with_echo, args):
    body = await shared_rpc.call(session, "test.echo", args)
    assert_response_shape(body)
    assert body["error"]["code"] == -32602
    assert body["error"]["message"] == "Invalid params"
    assert "test.echo" in body["error"]["data"]


@pytest.mark.parametrize("args", [None, [], [None], [None, None], ABSENT], ids=show)
async def test_store_list_tolerates_absent_empty_and_null_args(shared_rpc, session, args):
    stores = await shared_rpc.result(session, "store.list", args)
    assert [store["code"] for store in stores] == ["default"]


@pytest.mark.parametrize("args", ["x", 1, ["x"], [1], {"a": 1}], ids=repr)
async def test_store_list_refuses_arguments(shared_rpc, session, args):
    error = await shared_rpc.fault(session, "store.list", args)
    assert error["code"] == -32602


@pytest.mark.parametrize(
    "args", [ABSENT, None, [], [None], [None, 3], {"qty": 3}, {"sku": None}], ids=show
)
async def test_missing_required_argument_is_fault_6_naming_it(shared_rpc, session, with_echo, args):
    error = await shared_rpc.fault(session, "test.needs_sku", args)
    assert error["code"] == -32006
    assert error["message"] == 'Required parameter is missing, for more details see "exception.log".'
    assert "'sku'" in error["data"]
    assert "test.needs_sku" in error["data"]


@pytest.mark.parametrize(
    "args, expected", [("A", ["A", 1]), (["A"], ["A", 1]), (["A", 3], ["A", 3]), ({"sku": "A", "qty": 2}, ["A", 2])], ids=repr
)
async def test_required_argument_given(shared_rpc, session, with_echo, args, expected):
    assert await shared_rpc.result(session, "test.needs_sku", args) == expected


@pytest.mark.parametrize(
    "path",
    ["storelist", "", "store", ".", "nope.nope", "store.", ".list", "store.list.extra", "STORE.LIST", "store.List",
     " store.list", "store.list ", "order.create" + "x" * 10000],
    ids=lambda p: repr(p[:30]),
)
async def test_invalid_api_path_is_fault_3(shared_rpc, session, path):
    error = await shared_rpc.fault(session, path)
    assert error["code"] == -32003
    assert error["message"] == "Invalid api path."
    assert len(orjson.dumps(error)) < 1000  # the detail does not echo a huge path back


@pytest.mark.parametrize("path", [None, 5, 1.5, True, [], ["store.list"], {"a": "store.list"}], ids=repr)
async def test_api_path_that_is_not_a_string_is_fault_3(shared_rpc, session, path):
    error = await shared_rpc.fault(session, path)
    assert error["code"] == -32003 and error["message"] == "Invalid api path."


async def test_session_is_checked_before_the_path(shared_rpc):
    error = await shared_rpc.fault("0" * 32, "nope")
    assert error["code"] == -32005


async def test_role_denial_is_fault_2(shared_rpc, shared_users, add_method):
    add_method("test.ops_only", needs_sku, roles={WAREHOUSE})
    sessions = {label: await shared_rpc.login(shared_users[label]) for label in ("merchant", "warehouse", "admin", "other")}
    assert await shared_rpc.result(sessions["warehouse"], "test.ops_only", ["A"]) == ["A", 1]
    for label in ("merchant", "admin", "other"):
        error = await shared_rpc.fault(sessions[label], "test.ops_only", ["A"])
        assert (error["code"], error["message"]) == (-32002, "Access denied."), label
    # The role is checked before the arguments: a denied caller learns nothing about them.
    error = await shared_rpc.fault(sessions["merchant"], "test.ops_only")
    assert error["code"] == -32002


async def test_role_denial_with_basic_credentials(shared_rpc, shared_users, add_method):
    add_method("test.ops_only", needs_sku, roles={WAREHOUSE})
    user = shared_users["merchant"]
    body = await shared_rpc.call(None, "test.ops_only", ["A"], headers=basic(user.username, user.api_key))
    assert body["error"]["code"] == -32002


@pytest.mark.parametrize(
    "name, number, message",
    [
        ("unknown", 0, "Unknown Error"),
        ("internal", 1, "Internal Error. Please see log for details."),
        ("access_denied", 2, "Access denied."),
        ("invalid_api_path", 3, "Invalid api path."),
        ("resource_not_callable", 4, "Resource path is not callable."),
        ("session_expired", 5, "Session expired. Try to relogin."),
        ("required_parameter", 6, 'Required parameter is missing, for more details see "exception.log".'),
    ],
)
async def test_global_faults_on_the_wire(shared_rpc, session, add_method, name, number, message):
    async def raise_fault(ctx, detail=None):
        raise Fault(name, detail)

    add_method("test.fault", raise_fault)
    error = await shared_rpc.fault(session, "test.fault")
    assert error == {"code": -(32000 + number), "message": message}
    error = await shared_rpc.fault(session, "test.fault", "which field")
    assert error == {"code": -(32000 + number), "message": message, "data": "which field"}


async def test_details_in_message_faults_carry_the_detail_as_message(shared_rpc, session, add_method, monkeypatch):
    monkeypatch.setitem(FAULTS, "test_details", FaultSpec(102, "Invalid data given. Details in error message."))
    monkeypatch.setitem(FAULTS, "test_fixed", FaultSpec(104, "An order with the specified ID already exists."))

    async def raise_fault(ctx, name, detail=None, data=None):
        raise Fault(name, detail, data)

    add_method("test.fault", raise_fault)
    error = await shared_rpc.fault(session, "test.fault", ["test_details", "qty must be positive for SKU 'A'"])
    assert error == {"code": -32102, "message": "qty must be positive for SKU 'A'"}
    error = await shared_rpc.fault(session, "test.fault", ["test_details"])
    assert error == {"code": -32102, "message": "Invalid data given. Details in error message."}
    error = await shared_rpc.fault(session, "test.fault", ["test_fixed", "unique_id 100000001"])
    assert error == {"code": -32104, "message": "An order with the specified ID already exists.", "data": "unique_id 100000001"}
    error = await shared_rpc.fault(session, "test.fault", ["test_fixed", "detail", {"unique_id": "1"}])
    assert error == {"code": -32104, "message": "An order with the specified ID already exists.", "data": {"unique_id": "1"}}


async def test_unexpected_exception_is_fault_1_with_a_request_id(shared_rpc, session, add_method, caplog):
    async def boom(ctx):
        raise RuntimeError("secret detail from /srv/app/services/x.py")

    add_method("test.boom", boom)
    caplog.set_level(logging.ERROR)
    body = {"jsonrpc": "2.0", "id": 9, "method": "call", "params": [session, "test.boom"]}
    response = await shared_rpc.client.post("/api/jsonrpc", data=orjson.dumps(body))
    text = await response.text()
    answer = orjson.loads(text)
    assert response.status == 200
    assert_response_shape(answer)
    request_id = answer["error"]["data"]["request_id"]
    assert answer == {
        "jsonrpc": "2.0",
        "id": 9,
        "error": {"code": -32001, "message": "Internal Error. Please see log for details.", "data": {"request_id": request_id}},
    }
    assert request_id and response.headers["X-Request-Id"] == request_id
    for leak in ("Traceback", "RuntimeError", "secret detail", "x.py"):
        assert leak not in text
    # The log has the request id and the traceback.
    logged = [record for record in caplog.records if request_id in record.getMessage()]
    assert logged, caplog.text
    assert logged[0].exc_info and logged[0].exc_info[0] is RuntimeError
    assert "secret detail" in caplog.text


async def test_result_that_cannot_be_serialized_is_fault_1_not_http_500(shared_rpc, shared_users, session, add_method, caplog):
    async def returns_decimal(ctx):
        return {"price": Decimal("1.10")}

    add_method("test.decimal", returns_decimal)
    caplog.set_level(logging.ERROR)
    response = await shared_rpc.client.post(
        "/api/jsonrpc",
        data=orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "call", "params": [session, "test.decimal"]}),
    )
    assert response.status == 200
    answer = orjson.loads(await response.read())
    assert answer["id"] == 1
    assert answer["error"]["code"] == -32001
    assert answer["error"]["data"]["request_id"] == response.headers["X-Request-Id"]
    assert response.headers["X-Request-Id"] in caplog.text
    # In a batch only that entry fails; the others are answered.
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "call", "params": [session, "test.decimal"]},
        {"jsonrpc": "2.0", "id": 2, "method": "call", "params": [session, "store.list"]},
    ]
    status, body = await shared_rpc.post(batch)
    assert status == 200
    assert body[0]["id"] == 1 and body[0]["error"]["code"] == -32001
    assert body[1]["id"] == 2 and body[1]["result"][0]["code"] == "default"


async def test_handler_receives_the_callers_principal_with_basic(shared_rpc, shared_users, with_echo):
    user = shared_users["other"]
    body = await shared_rpc.call(None, "test.echo", [], headers=basic(user.username, user.api_key))
    assert body["result"]["user"] == user.username and body["result"]["merchant"] == "other"


async def test_pool_connections_keep_generic_plans_and_a_server_side_timeout(database_url):
    """Generic plans for every prepared statement (searches that need custom plans ask for them
    in their transaction) and the statement timeout kept by the server, not by a timer per query."""
    from rpc_fulfillment.db.pool import create_pool

    pool = await create_pool(database_url, 1)
    try:
        async with pool.acquire() as connection:
            assert await connection.fetchval("SHOW plan_cache_mode") == "force_generic_plan"
            assert await connection.fetchval("SHOW statement_timeout") == "1min"
            assert connection._config.command_timeout is None  # noqa: SLF001  (no per-query timer)
    finally:
        await pool.close()
