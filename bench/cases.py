"""The benchmark cases: what to send, how to get ready for it, and which floor to compare with.

A case is a ``Case`` in ``CASES``. The harness (run.py) calls ``prepare`` once against the live
server and database; the load generator (loadgen.py, its own process) imports this module,
looks the case up by name and calls ``body(i, context)`` for request number i. Everything a
case needs from ``prepare`` travels to the load generator as JSON, so keep ``context`` plain.

Adding a case (order.create, order.bulk_create, order.search, a 50,000-order import...):

1. write ``prepare`` (async, gets an ``Env``: log in, seed rows with SQL through
   ``env.connect()``, capture a real answer for the floor) returning ``Prepared``;
2. write ``body(i, context) -> bytes`` (request i; vary it by i when each request must be
   unique, e.g. a fresh ``unique_id`` per order);
3. name the floor to compare with (a key of ``floor.FLOORS``; add one there when the case
   needs its own, e.g. "order_insert": the same rows written by one SQL statement);
4. if the tables must be emptied between the floor run and the server run, give ``reset``;
5. for a one-shot job rather than a steady load, set ``requests`` (a fixed number of
   requests; the figure that matters is then the elapsed time) and usually ``warmup=0``;
6. append it to ``CASES``. ``python bench/run.py --list`` shows it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import orjson

# --- what a case gets and gives -----------------------------------------------------------


@dataclass
class Env:
    """The live system a case prepares against."""

    server_url: str  # http://127.0.0.1:PORT/api/jsonrpc
    database_url: str  # the throwaway database, for seeding with SQL
    username: str  # an API user of merchant ``merchant_code``
    api_key: str
    merchant_code: str
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    async def rpc(self, method: str, params: Any) -> Any:
        """One JSON-RPC request to the server; returns ``result`` or raises with the error."""
        import aiohttp

        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        async with aiohttp.ClientSession() as session:
            async with session.post(self.server_url, data=orjson.dumps(body), headers=JSON) as response:
                answer = orjson.loads(await response.read())
        if "error" in answer:
            raise RuntimeError(f"{method} failed: {answer['error']}")
        return answer["result"]

    async def login(self) -> str:
        return await self.rpc("login", [self.username, self.api_key])

    async def connect(self) -> Any:
        """An asyncpg connection to the throwaway database (close it when done)."""
        from rpc_fulfillment.store.db import connect

        return await connect(self.database_url)


@dataclass
class Prepared:
    context: dict[str, Any]  # handed to body(i, context) in the load generator
    floor: dict[str, Any]  # handed to the floor server (floor.py --config); e.g. {"result": ...}


Check = Callable[[int, bytes], bool]


def jsonrpc_result(status: int, data: bytes) -> bool:
    """The default check: HTTP 200 and a JSON-RPC response carrying a ``result``."""
    if status != 200:
        return False
    try:
        answer = orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return isinstance(answer, dict) and "result" in answer and "error" not in answer


@dataclass(frozen=True)
class Case:
    name: str
    description: str
    prepare: Callable[[Env], Awaitable[Prepared]]
    body: Callable[[int, dict[str, Any]], bytes]
    floor: str = "echo"  # a key of floor.FLOORS
    check: Check = jsonrpc_result
    # Called before each measured run (floor and server) when the runs would otherwise see
    # each other's writes.
    reset: Callable[[Env, Prepared], Awaitable[None]] | None = None
    concurrency: int | None = None  # None: the --concurrency option
    requests: int | None = None  # a fixed number of requests instead of --duration
    warmup: float | None = None  # seconds; None: the --warmup option
    # The body does not depend on i (apart from the id), so wrk can send body(0) over and over.
    static_body: bool = False


JSON = {"Content-Type": "application/json"}

# --- call store.list ----------------------------------------------------------------------


async def _prepare_store_list(env: Env) -> Prepared:
    session = await env.login()
    result = await env.rpc("call", [session, "store.list"])
    # The floor answers with this same result, so both send the same bytes back.
    return Prepared(context={"session": session}, floor={"result": result})


def _store_list_body(i: int, context: dict[str, Any]) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": i, "method": "call", "params": [context["session"], "store.list"]})


STORE_LIST = Case(
    name="store.list",
    description="call(session, 'store.list'): session lookup + one small SELECT",
    prepare=_prepare_store_list,
    body=_store_list_body,
    floor="echo",
    static_body=True,
)

# Later issues: order.create (own floor "order_insert"), order.bulk_create, order.search over a
# million seeded orders (prepare seeds with COPY through env.connect()), a 50,000-order import
# (requests=500 x order.bulk_create of 100, warmup=0).

CASES: dict[str, Case] = {case.name: case for case in (STORE_LIST,)}
