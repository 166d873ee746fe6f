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
    # A one-shot job that is not a stream of requests (an import): the load generator calls
    # ``await job(url, context, concurrency, window)`` instead of its request loop. The job does
    # its unmeasured setup, calls ``window.open()``, does the measured work, calls
    # ``window.close()`` and returns {"requests": units done, "errors": n, "error_samples": [...]}
    # ("requests" is whatever unit the case counts: orders for the import). Python driver only.
    job: Callable[[str, dict[str, Any], int, Any], Awaitable[dict[str, Any]]] | None = None


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

# --- import: 50,000 orders end to end ---------------------------------------------------

IMPORT_ORDERS = 50_000
IMPORT_SKUS = [f"IMP-{n:02d}" for n in range(20)]
IMPORT_COLUMNS = ["order_key", "order_ref", "shipping_method", "sku", "qty", "firstname", "lastname", "street1",
                  "city", "region", "postcode", "country", "email"]


async def _prepare_import(env: Env) -> Prepared:
    """20 products with plenty of stock (through the API; the stock by an admin user of the
    merchant, as inventory.adjust is the warehouse's)."""
    from rpc_fulfillment.services import provisioning

    connection = await env.connect()
    try:
        admin = await provisioning.create_api_user(connection, env.merchant_code, "admin", "bench-import-admin")
    finally:
        await connection.close()
    session = await env.login()
    admin_session = await env.rpc("login", [admin.username, admin.api_key])
    for sku in IMPORT_SKUS:
        await env.rpc("call", [session, "product.create", [sku, {"name": f"Import product {sku}"}]])
        await env.rpc("call", [admin_session, "inventory.adjust", [sku, 1, 10_000_000, "bench import"]])
    return Prepared(context={"username": env.username, "api_key": env.api_key, "orders": IMPORT_ORDERS}, floor={})


def write_import_csv(path: Any, orders: int, run: str) -> int:
    """A CSV of ``orders`` orders of 1 to 3 lines (one row per line); returns the row count."""
    import csv

    rows = 0
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(IMPORT_COLUMNS)
        for n in range(orders):
            key = f"{run}-{n:06d}"
            for line in range(1 + n % 3):
                sku = IMPORT_SKUS[(n + 7 * line) % len(IMPORT_SKUS)]
                writer.writerow([key, f"REF-{n}", "ups_03", sku, 1 + (n + line) % 2, "Ada", "Lovelace",
                                 f"{n} Main St", "Boston", "MA", "02134", "US", "ada@example.com"])
                rows += 1
    return rows


async def _import_job(url: str, context: dict[str, Any], concurrency: int, window: Any) -> dict[str, Any]:
    """What ``rpc-fulfillment import FILE`` does, through its library functions: read and group
    the CSV, send it through order.bulk_create in chunks of 100 with ``concurrency`` requests in
    flight, count the outcomes. The file is written before the window opens."""
    import tempfile
    import uuid
    from pathlib import Path

    from rpc_fulfillment import importer
    from rpc_fulfillment.client import AsyncClient

    with tempfile.TemporaryDirectory(prefix="rpcf-bench-import-") as directory:
        path = Path(directory) / "orders.csv"
        write_import_csv(path, context["orders"], uuid.uuid4().hex[:8])  # fresh unique_ids every run
        window.open()
        _, orders, _ = importer.read_orders(path)
        report = importer.ImportReport()
        async with AsyncClient(url, context["username"], context["api_key"], timeout=300,
                               max_connections=concurrency) as client:
            await importer.send_orders(client, orders, report, chunk_size=100, concurrency=concurrency)
        importer.tally(orders, report)
        window.close()
    samples = [f"{o.fault}: {o.message}" for o in report.outcomes.values() if o.status != "created"][:5]
    if report.stopped:
        samples.insert(0, report.stopped)
    return {"requests": report.created, "errors": report.orders - report.created, "error_samples": samples}


IMPORT = Case(
    name="import",
    description="rpc-fulfillment import of a 50,000-order CSV (1-3 lines each): order.bulk_create x 100, "
                "4 in flight; 'requests' are orders",
    prepare=_prepare_import,
    body=lambda i, context: b"",
    floor="",  # no floor: the figure is orders per second end to end
    concurrency=4,
    requests=IMPORT_ORDERS,
    warmup=0,
    job=_import_job,
)

# Later issues: order.create (own floor "order_insert"), order.bulk_create, order.search over a
# million seeded orders (prepare seeds with COPY through env.connect()).

CASES: dict[str, Case] = {case.name: case for case in (STORE_LIST, IMPORT)}
