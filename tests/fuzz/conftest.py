"""The fuzz harness: the real aiohttp app in-process (aiohttp's test server on 127.0.0.1), one
database for the whole fuzz package (what the fuzz writes is garbage anyway), seeded with a few
products, orders, shipments, webhooks and events of merchant 'acme' and of merchant 'other'.

Hypothesis drives synchronous tests; the harness owns an event loop and runs each request on it.
Every exchange is checked here (``Harness.send``): no HTTP 5xx, a well-formed JSON-RPC answer
(ids echoed), and never fault 1 (-32001), -32603, -32000 or a multiCall/bulk entry with fault 1:
the failure message prints the request. ``Depth`` counts how many method examples reached
their service function and ran SQL in it; the figures print the shares, per method.

Examples per run: ``RPCF_FUZZ_SCALE`` multiplies every test's ``max_examples`` (default 1, which
runs about 4,400 in all); under CI (``CI`` set) the runs are derandomized, so a failure
in CI is reproduced by running the same test again.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import json
import math
import os
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from typing import Any, Iterator

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, settings

from rpc_fulfillment.app import create_app
from rpc_fulfillment.config import Settings
from rpc_fulfillment.db.uow import Statements
from rpc_fulfillment.jsonrpc.dispatch import METHODS
from rpc_fulfillment.accounts import provisioning
from rpc_fulfillment.db.pool import connect
from tests import figures
from tests.api.order_helpers import ADDRESS, INFO, add_product, check_invariants
from tests.conftest import _execute, database_url_for
from tests.fuzz.strategies import GENERIC, Seeds

settings.register_profile(
    "rpcf-fuzz",
    deadline=None,
    database=None,  # nothing written to .hypothesis/ in the work tree
    derandomize=bool(os.environ.get("CI")),
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                           HealthCheck.large_base_example],
)
SCALE = float(os.environ.get("RPCF_FUZZ_SCALE", "1"))
# Examples a whole run must reach (each test file checks its own: pytest-xdist runs a file in
# one process, not always the same as the other file): 2,200 envelopes and 2,160 method calls
# are asked for, a strategy that runs out of values may give a few less.
MINIMUM_ENVELOPE_EXAMPLES = 2000
MINIMUM_METHOD_EXAMPLES = 2000


def fuzz_settings(max_examples: int) -> settings:
    return settings(settings.get_profile("rpcf-fuzz"), max_examples=max(1, round(max_examples * SCALE)))


# Codes that mean the server failed, not the client: fault 1, JSON-RPC's internal error, and
# -32000 (fault 0, which no fault of ours is: an exception that escaped as a server error).
SERVER_FAILURES = {-32000, -32001, -32603}
REQUEST_TIMEOUT = 30.0


def app_settings(database_url: str, **wanted: Any) -> Settings:
    """Settings for an app under fuzz or crash test: per-user rate and concurrency limits off
    (thousands of requests from four users), failed logins never slowed down, webhooks to the
    sink on 127.0.0.1 allowed; fields a checkout does not have yet are left out."""
    known = {f.name for f in dataclasses.fields(Settings)}
    values = {"database_url": database_url, "db_pool_size": 5, "rate_limit": 0, "concurrency_limit": 0,
              "login_max_failures": 10**9, "webhook_allow_private": True, **wanted}
    return Settings(**{name: value for name, value in values.items() if name in known})


def encode(body: Any) -> bytes:
    """JSON as a client might send it: big integers and all, via the standard library."""
    return json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _shown(raw: bytes, limit: int = 3000) -> str:
    text = raw.decode("utf-8", "replace")
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _well_formed(answer: Any, raw: bytes, expected_id: Any = ...) -> None:
    where = f"\nrequest: {_shown(raw)}\nanswer: {str(answer)[:3000]}"
    assert isinstance(answer, dict), f"not a response object{where}"
    assert answer.get("jsonrpc") == "2.0", f"jsonrpc is not \"2.0\"{where}"
    assert "id" in answer, f"no id{where}"
    assert ("result" in answer) != ("error" in answer), f"not exactly one of result/error{where}"
    if "error" in answer:
        error = answer["error"]
        assert isinstance(error, dict) and isinstance(error.get("code"), int) and not isinstance(error["code"], bool), f"bad error{where}"
        assert isinstance(error.get("message"), str), f"bad error message{where}"
        assert set(error) <= {"code", "message", "data"}, f"unexpected error members{where}"
        assert error["code"] not in SERVER_FAILURES, f"server failure for bad input{where}"
    if expected_id is not ... and answer.get("error", {}).get("code") not in (-32600, -32700):
        assert answer["id"] == expected_id and type(answer["id"]) is type(expected_id), f"id not echoed{where}"


def _no_nested_fault_1(value: Any, raw: bytes) -> None:
    """multiCall entries and bulk_create results carry faults inside a result."""
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            if current.get("isFault") is True:
                assert current.get("faultCode") != 1, f"fault 1 inside a result\nrequest: {_shown(raw)}\nentry: {current}"
            error = current.get("error")
            if isinstance(error, dict):
                assert error.get("code") not in SERVER_FAILURES, f"fault 1 inside a result\nrequest: {_shown(raw)}\nentry: {current}"
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)


def _request_id(entry: Any) -> Any:
    """The id a response to ``entry`` must carry (as the server reads it: orjson takes integers
    past 64 bits as floats), ... when the test cannot say."""
    if isinstance(entry, dict) and "id" in entry and isinstance(entry["id"], (str, int, float)) and not isinstance(entry["id"], bool):
        if isinstance(entry["id"], float) and not math.isfinite(entry["id"]):
            return ...  # sent as Infinity or NaN, which is not JSON: the answer is a parse error, id null
        return orjson.loads(encode(entry["id"]))
    return ...


# The method whose service function is running in this task (set by ``Depth``'s wrapper).
_SERVICE: contextvars.ContextVar[str | None] = contextvars.ContextVar("fuzzed_service", default=None)


class Depth:
    """How deep the calls went: each registered method's service function (the body of its
    ``@api_method`` function, past the envelope, the session, the role and the binding of the
    arguments) wrapped to count its runs, and the unit of work's statements counted while one
    runs. Installed over ``METHODS`` for the fuzz only (the table's entries are replaced, and
    put back by ``remove``)."""

    def __init__(self) -> None:
        self.services = 0  # service functions entered
        self.statements = 0  # SQL statements a service function ran in its unit of work
        self._replaced: dict[str, Any] = {}
        self._run_statement: Any = None

    def install(self) -> None:
        for path, method in METHODS.items():
            self._replaced[path] = method
            METHODS[path] = dataclasses.replace(method, handler=self._counted(path, method.handler))
        self._run_statement = run = Statements._run

        @functools.wraps(run)
        async def counted_statement(statements: Statements, *args: Any) -> Any:
            if _SERVICE.get() is not None:
                self.statements += 1
            return await run(statements, *args)

        Statements._run = counted_statement  # type: ignore[method-assign]

    def _counted(self, path: str, handler: Any) -> Any:
        @functools.wraps(handler)
        async def counted(*args: Any) -> Any:
            self.services += 1
            token = _SERVICE.set(path)
            try:
                return await handler(*args)
            finally:
                _SERVICE.reset(token)

        return counted

    def remove(self) -> None:
        METHODS.update(self._replaced)
        if self._run_statement is not None:
            Statements._run = self._run_statement  # type: ignore[method-assign]

    def snapshot(self) -> tuple[int, int]:
        return self.services, self.statements


# The fuzz's API users: label, merchant, role.
USERS = (("merchant", "acme", "merchant"), ("warehouse", "acme", "warehouse"), ("admin", "acme", "admin"),
         ("other", "other", "merchant"), ("other_admin", "other", "admin"))


class Harness:
    """The app under fuzz and its database, driven from synchronous hypothesis tests."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.loop = asyncio.new_event_loop()
        self.client: TestClient | None = None
        self.sink: TestServer | None = None
        self.sessions: dict[str, str] = {}
        self.seeds: Seeds | None = None
        self.codes: Counter[Any] = Counter()
        self.requests = 0
        self.failed = False  # a check failed (hypothesis then shrinks; the figures say so)
        self.depth = Depth()
        self.started = time.monotonic()

    def run(self, coroutine: Any, timeout: float = REQUEST_TIMEOUT) -> Any:
        return self.loop.run_until_complete(asyncio.wait_for(coroutine, timeout))

    # ------------------------------------------------------------------------ exchanges

    async def _post(self, raw: bytes, headers: dict[str, str] | None) -> tuple[int, bytes]:
        assert self.client is not None
        response = await self.client.post("/api/jsonrpc", data=raw, headers=headers or {})
        return response.status, await response.read()

    def send(self, body: Any = None, *, raw: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
        """POST a body (``body`` encoded, or ``raw`` bytes), check the answer, return it decoded."""
        raw = raw if raw is not None else encode(body)
        try:
            return self._checked(body, raw, headers)
        except AssertionError:
            self.failed = True
            raise

    def _checked(self, body: Any, raw: bytes, headers: dict[str, str] | None) -> Any:
        status, answer_bytes = self.run(self._post(raw, headers))
        self.requests += 1
        assert status < 500, f"HTTP {status}\nrequest: {_shown(raw)}\nanswer: {_shown(answer_bytes)}"
        assert status in (200, 204, 413, 409, 429), f"HTTP {status}\nrequest: {_shown(raw)}\nanswer: {_shown(answer_bytes)}"
        if status == 204:
            assert answer_bytes == b"", f"a 204 with a body\nrequest: {_shown(raw)}"
            self.codes["no content"] += 1
            return None
        try:
            answer = orjson.loads(answer_bytes)
        except orjson.JSONDecodeError:
            raise AssertionError(f"the answer is not JSON\nrequest: {_shown(raw)}\nanswer: {_shown(answer_bytes)}") from None
        if isinstance(answer, list):
            assert isinstance(body, list) or raw.lstrip().startswith(b"["), f"a batch answer to a single request\nrequest: {_shown(raw)}"
            assert answer, f"an empty batch answer (should be 204)\nrequest: {_shown(raw)}"
            ids = [_request_id(entry) for entry in body] if isinstance(body, list) else []
            for one in answer:
                _well_formed(one, raw)
                if ids and one["id"] is not None and "error" not in one:
                    assert one["id"] in ids, f"an answer id no request had\nrequest: {_shown(raw)}"
                self.codes[one.get("error", {}).get("code", "result")] += 1
        else:
            _well_formed(answer, raw, _request_id(body) if isinstance(body, dict) else ...)
            self.codes[answer.get("error", {}).get("code", "result")] += 1
        _no_nested_fault_1(answer, raw)
        return answer

    def call(self, session: str | None, path: str, *args: Any) -> Any:
        """A call that must succeed (for seeding)."""
        answer = self.send({"jsonrpc": "2.0", "id": 1, "method": "call", "params": [session, path, list(args)]})
        assert "result" in answer, answer
        return answer["result"]

    def health(self) -> dict[str, Any]:
        async def get() -> tuple[int, Any]:
            assert self.client is not None
            response = await self.client.get("/health")
            return response.status, await response.json()

        status, body = self.run(get())
        assert status == 200 and body["status"] == "ok", body
        return body

    def check_invariants(self) -> None:
        async def check() -> None:
            connection = await connect(self.database_url)
            try:
                await check_invariants(connection)
            finally:
                await connection.close()

        self.run(check(), 120)

    # --------------------------------------------------------------------------- set-up

    async def _start(self) -> None:
        async def sink(request: web.Request) -> web.Response:
            await request.read()
            return web.Response(text="ok")

        sink_app = web.Application()
        sink_app.router.add_route("*", "/{tail:.*}", sink)
        self.sink = TestServer(sink_app, host="127.0.0.1")
        await self.sink.start_server()
        app = create_app(app_settings(self.database_url, webhook_timeout=2.0), self.database_url)
        self.client = TestClient(TestServer(app, host="127.0.0.1"))
        await self.client.start_server()

    async def _provision(self) -> dict[str, Any]:
        connection = await connect(self.database_url)
        try:
            await provisioning.create_merchant(connection, "acme", "Acme Inc")
            await provisioning.create_merchant(connection, "other", "Other Co")
            users = {}
            for label, merchant, role in USERS:
                users[label] = await provisioning.create_api_user(connection, merchant, role, f"fuzz-{merchant}-{label}")
            for sku, stock in (("FZ-A", 100_000), ("FZ-B", 5), ("FZ-C", 0)):
                await add_product(connection, sku, stock=stock)
            await add_product(connection, "OT-A", stock=1000, merchant="other")
            return users
        finally:
            await connection.close()

    def start(self) -> "Harness":
        self.run(self._start(), 60)
        users = self.run(self._provision(), 60)
        for label, user in users.items():
            answer = self.send({"jsonrpc": "2.0", "id": 1, "method": "login", "params": [user.username, user.api_key]})
            self.sessions[label] = answer["result"]
        self.usernames = {label: user.username for label, user in users.items()}
        admin, other = self.sessions["admin"], self.sessions["other_admin"]

        def order(session: str, sku: str) -> str:
            info = {**INFO, "unique_id": f"FZ-{uuid.uuid4().hex[:10]}"}
            return self.call(session, "order.create", None, {sku: 1}, ADDRESS, info)["unique_id"]

        order_ids = [order(admin, "FZ-A") for _ in range(6)] + [order(admin, "FZ-B")]
        other_order_ids = [order(other, "OT-A") for _ in range(2)]
        assert self.sink is not None
        sink_url = f"http://127.0.0.1:{self.sink.port}/hook"
        shipment_ids = [str(self.call(session, "shipment.create", unique_id)["shipment_id"])
                        for session, unique_id in ((admin, order_ids[0]), (admin, order_ids[1]), (other, other_order_ids[0]))]
        webhook_ids = []
        for session in (admin, other):
            self.call(session, "webhook.create", {"url": sink_url, "topics": ["order:created"], "is_active": True})
            webhook_ids += [hook["webhook_id"] for hook in self.call(session, "webhook.list")]
        event_ids = [event["event_id"] for event in self.call(admin, "event.list", None, 5)]
        self.seeds = Seeds(["FZ-A", "FZ-B", "FZ-C"], ["OT-A"], order_ids, other_order_ids, shipment_ids, webhook_ids, event_ids,
                           sink_url)
        self.depth.install()
        self.started = time.monotonic()
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self.client is not None:
                await self.client.close()
            if self.sink is not None:
                await self.sink.close()

        try:
            self.run(close(), 60)
        finally:
            self.depth.remove()
            self.loop.close()


@pytest.fixture(scope="package")
def harness(admin_url: str, template_database: str) -> Iterator[Harness]:
    name = f"rpcf_fuzz_{uuid.uuid4().hex[:10]}"
    asyncio.run(_execute(admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"'))
    harness = Harness(database_url_for(admin_url, name))
    try:
        yield harness.start()
    finally:
        harness.stop()
        examples = figures.counters[("fuzz", "examples")]
        if examples:
            seconds = time.monotonic() - harness.started
            codes = ", ".join(f"{code}: {n}" for code, n in sorted(harness.codes.items(), key=lambda kv: -kv[1])[:12])
            figures.record("fuzz", f"{examples} examples ({figures.counters[('fuzz', 'envelope')]} envelopes, "
                                   f"{figures.counters[('fuzz', 'method')]} method calls over {len(METHODS)} methods), "
                                   f"{harness.requests} requests in {seconds:.1f} s; "
                                   + ("FAILURES: see the failed tests" if harness.failed else "0 HTTP 5xx, 0 fault 1, 0 malformed answers"))
            figures.record("fuzz", f"answers by code: {codes}")
            figures.record("fuzz", depth_figures())
            if GENERIC:
                figures.record("fuzz", f"methods fuzzed without a plan (generic arguments): {', '.join(sorted(GENERIC))}")
        asyncio.run(_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def count(kind: str) -> None:
    figures.counters[("fuzz", "examples")] += 1
    figures.counters[("fuzz", kind)] += 1
    figures.counters[("fuzz test", _current_test())] += 1


def _current_test() -> str:
    """The running test function's name (pytest names the test in PYTEST_CURRENT_TEST)."""
    nodeid = os.environ["PYTEST_CURRENT_TEST"].rsplit(" ", 1)[0]
    return nodeid.split("::")[-1].split("[")[0]


def examples_of_whole_module(module_globals: dict[str, Any]) -> int | None:
    """The examples of a test module's fuzz tests, when every one of them ran in this process
    (None when some were deselected or ran elsewhere)."""
    names = [name for name, test in module_globals.items() if name.startswith("test_") and hasattr(test, "hypothesis")]
    examples = [figures.counters[("fuzz test", name)] for name in names]
    return sum(examples) if all(examples) else None


@contextmanager
def method_example(harness: Harness, path: str) -> Iterator[None]:
    """One example of ``path``'s fuzz: counted, and whether it reached the method's service
    function and whether that ran SQL (``Depth``), for the figures."""
    count("method")
    services, statements = harness.depth.snapshot()
    yield
    figures.counters[("fuzz examples", path)] += 1
    figures.counters[("fuzz service", path)] += harness.depth.services > services
    figures.counters[("fuzz sql", path)] += harness.depth.statements > statements


def depth_figures() -> str:
    """The share of method examples that reached a service and ran SQL, overall and per method
    (shallowest first)."""
    def total(kind: str, path: str) -> int:
        return figures.counters[(kind, path)]

    paths = [path for path in METHODS if total("fuzz examples", path)]
    examples = sum(total("fuzz examples", path) for path in paths)
    reached = sum(total("fuzz service", path) for path in paths)
    ran_sql = sum(total("fuzz sql", path) for path in paths)
    if not examples:
        return "no method examples"
    by_share = sorted(paths, key=lambda path: (total("fuzz service", path) / total("fuzz examples", path), path))
    each = ", ".join(f"{path} {total('fuzz service', path)}/{total('fuzz sql', path)}/{total('fuzz examples', path)}"
                     for path in by_share)
    return (f"method examples that reached the service function: {reached} of {examples} ({100 * reached / examples:.0f} %), "
            f"that ran SQL in it: {ran_sql} ({100 * ran_sql / examples:.0f} %); per method, service/SQL/examples: {each}")

