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

import datetime
import itertools
import os
import sys
import uuid
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
        from rpc_fulfillment.db.pool import connect

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
    # Units of work per request (orders per order.bulk_create call), and another case whose
    # server throughput (in units) this one's is compared with in the same run.
    units_per_request: int = 1
    compare_with: str | None = None
    # Latency is also reported per label of request i (order.search: per kind of query).
    label: Callable[[int, dict[str, Any]], str] | None = None


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


async def _stock_products(env: Env, skus: list[str], qty: int) -> str:
    """Create the products through the API (those that do not exist yet: several cases share
    them) and receive ``qty`` of each into warehouse 1 (by an admin user of the merchant:
    inventory.adjust is the warehouse's); returns a session."""
    from rpc_fulfillment.accounts import provisioning

    connection = await env.connect()
    try:
        admin = await provisioning.create_api_user(connection, env.merchant_code, "admin",
                                                   f"bench-admin-{uuid.uuid4().hex[:8]}")
        existing = {row["sku"] for row in await connection.fetch("SELECT sku FROM products WHERE sku = ANY($1)", skus)}
    finally:
        await connection.close()
    session = await env.login()
    admin_session = await env.rpc("login", [admin.username, admin.api_key])
    for sku in skus:
        if sku not in existing:
            await env.rpc("call", [session, "product.create", [sku, {"name": f"Bench product {sku}", "weight": 1.25}]])
        await env.rpc("call", [admin_session, "inventory.adjust", [sku, 1, qty, "bench stock"]])
    return session


async def _prepare_import(env: Env) -> Prepared:
    """20 products with plenty of stock."""
    await _stock_products(env, IMPORT_SKUS, 10_000_000)
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

# --- order.create and order.bulk_create ----------------------------------------------------

ORDER_SKUS = [f"ORD-{n:02d}" for n in range(20)]
ORDER_VARIANTS = 20  # request i sends order i % 20: 1 to 3 lines over 20 products
ADDRESS = {"firstname": "Ada", "lastname": "Lovelace", "street": "12 Main St\nSuite 4", "city": "Boston",
           "region": "MA", "postcode": "02134", "country": "US", "email": "ada@example.com"}


def order_arguments(n: int) -> list[Any]:
    """order.create's arguments for order variant n (no unique_id: the server numbers it)."""
    lines = 1 + n % 3
    items = [{"sku": ORDER_SKUS[(n + 7 * line) % len(ORDER_SKUS)], "qty": 1 + (n + line) % 2} for line in range(lines)]
    return [None, items, ADDRESS, {"order_ref": f"REF-{n}", "shipping_method": "ups_03", "note": "bench order"}]


async def _prepare_orders(env: Env) -> tuple[str, dict[str, Any]]:
    """The products with stock for a billion units; returns a session and a real order.create
    answer (for the floor)."""
    session = await _stock_products(env, ORDER_SKUS, 1_000_000_000)
    result = await env.rpc("call", [session, "order.create", order_arguments(0)])
    connection = await env.connect()
    try:
        ids = await connection.fetchrow(
            """SELECT m.merchant_id, u.api_user_id FROM merchants m JOIN api_users u USING (merchant_id)
                WHERE m.code = $1 AND u.username = $2""", env.merchant_code, env.username)
    finally:
        await connection.close()
    return session, {"result": result, "merchant_id": ids["merchant_id"], "api_user_id": ids["api_user_id"]}


async def _prepare_order_create(env: Env) -> Prepared:
    session, floor = await _prepare_orders(env)
    floor["orders"] = [order_arguments(n) for n in range(ORDER_VARIANTS)]
    return Prepared(context={"session": session}, floor=floor)


def _order_create_body(i: int, context: dict[str, Any]) -> bytes:
    params = [context["session"], "order.create", order_arguments(i % ORDER_VARIANTS)]
    return orjson.dumps({"jsonrpc": "2.0", "id": i, "method": "call", "params": params})


ORDER_CREATE = Case(
    name="order.create",
    description="call(session, 'order.create'): 1-3 lines over 20 products in stock, no unique_id; "
                "floor: the same rows written by one SQL statement",
    prepare=_prepare_order_create,
    body=_order_create_body,
    floor="order_insert",
)

ORDER_CREATE_MINIMAL = Case(
    name="order.create.minimal_floor",
    description="order.create again, against the least any server could write for an order: one statement "
                "inserting the order, one item and the stock update",
    prepare=_prepare_order_create,
    body=_order_create_body,
    floor="order_minimal",
)

BULK_SIZE = 100


async def _prepare_bulk(env: Env) -> Prepared:
    session, _ = await _prepare_orders(env)
    return Prepared(context={"session": session}, floor={})


def _bulk_body(i: int, context: dict[str, Any]) -> bytes:
    orders = {f"k{n}": order_arguments(i * BULK_SIZE + n) for n in range(BULK_SIZE)}
    return orjson.dumps({"jsonrpc": "2.0", "id": i, "method": "call",
                         "params": [context["session"], "order.bulk_create", [orders]]})


def _all_created(status: int, data: bytes) -> bool:
    """A result, and every one of its orders created (none answered with an error)."""
    if not jsonrpc_result(status, data):
        return False
    results = orjson.loads(data)["result"]
    return len(results) == BULK_SIZE and all("error" not in order for order in results.values())


ORDER_BULK_CREATE = Case(
    name="order.bulk_create",
    description=f"call(session, 'order.bulk_create') with {BULK_SIZE} orders like order.create's, "
                "4 clients; figures per call, orders/s = req/s x 100, compared with order.create",
    prepare=_prepare_bulk,
    body=_bulk_body,
    floor="",
    check=_all_created,
    concurrency=4,
    units_per_request=BULK_SIZE,
    compare_with="order.create",
)

# --- order.search over a million orders ----------------------------------------------------

SEARCH_ORDERS = int(os.environ.get("BENCH_SEARCH_ORDERS", "1000000"))
SEARCH_SKUS = 1000
# Seeded with SQL (a million API calls would take an hour): one merchant's orders over the last
# year, the newest 3% still open (new, processing, backorders, holds), the rest complete (94%)
# or canceled; 1 to 3 lines each over 1,000 products; quantities that add up in each line.
SEED_ORDERS = """
INSERT INTO orders (merchant_id, store_id, unique_id, order_ref, state, status, shipping_method, carrier_code,
                    priority, shipping_address, weight, total_item_count, submitted_by_id,
                    created_at, updated_at, completed_at)
SELECT $1, $2, (500000000 + g)::text, 'SREF-' || g, s.state, s.status, 'ups_03', 'ups',
       (g::bigint * 7919) % 101, $3::jsonb, 1.25 * (1 + g % 3), 1 + g % 3, $4,
       t.at, t.at + CASE WHEN s.state = 'complete' THEN interval '2 days' ELSE interval '0' END,
       CASE WHEN s.state = 'complete' THEN t.at + interval '2 days' END
  FROM generate_series(1, $5::int) AS g,
       LATERAL (SELECT now() - ($5::int - g) * interval '365 days' / $5::int AS at) AS t,
       LATERAL (SELECT CASE
                  WHEN g <= $5::int * 0.97 THEN CASE WHEN g % 50 < 3 THEN 'canceled' ELSE 'complete' END
                  ELSE (ARRAY['new', 'new', 'new', 'new', 'new', 'new', 'processing', 'processing',
                              'partial_backorder', 'backordered', 'holded'])[1 + g % 11] END AS status) AS st,
       LATERAL (SELECT CASE WHEN st.status IN ('partial_backorder', 'backordered') THEN 'new'
                            ELSE st.status END AS state, st.status) AS s
"""
SEED_ITEMS = """
INSERT INTO order_items (order_id, merchant_id, product_id, line_no, sku, name, qty_ordered, qty_processing,
                         qty_shipped, qty_canceled, qty_backordered, weight)
SELECT o.order_id, o.merchant_id, p.product_id, line, p.sku, p.name, 1 + line % 2,
       CASE WHEN o.status IN ('new', 'processing', 'holded') THEN 1 + line % 2 ELSE 0 END,
       CASE WHEN o.status = 'complete' THEN 1 + line % 2 ELSE 0 END,
       CASE WHEN o.status = 'canceled' THEN 1 + line % 2 ELSE 0 END,
       CASE WHEN o.status IN ('partial_backorder', 'backordered') THEN 1 + line % 2 ELSE 0 END,
       1.25
  FROM orders o
  CROSS JOIN LATERAL generate_series(1, 1 + o.order_id::int % 3) AS line
  JOIN products p ON p.merchant_id = o.merchant_id
                 AND p.sku = 'SRCH-' || lpad(((o.order_id * 31 + line * 17) % $2)::text, 4, '0')
 WHERE o.merchant_id = $1
"""


def search_queries(newest: str, day: str, next_day: str) -> list[list[Any]]:
    """order.search arguments [filters, options, fields] as integrations send them: each a
    filtered page of one merchant's million orders, all properties but the expansions."""
    every = "*"
    return [
        [{"status": "new"}, {"limit": 50}, every],
        [{"updated_at": {"from": newest}}, {"sort_field": "updated_at", "sort_dir": "asc", "limit": 100}, every],
        [{"created_at": {"from": day, "to": next_day}}, {"page": 2, "limit": 50}, every],
        [{"sku": "SRCH-0123"}, {"sort_field": "order_id", "sort_dir": "desc", "limit": 50}, every],
        [{"order_ref": {"starts": "SREF-12345"}}, {"limit": 50}, every],
        [{"state": {"in": ["new", "processing", "holded"]}, "priority": {"lteq": 10}}, {"limit": 50}, every],
        [{"unique_id": {"in": [str(500000000 + n) for n in range(1, 200_000, 20_000)]}}, {}, every],
    ]


class _Explaining:
    """Stands in for a connection: runs each statement under EXPLAIN ANALYZE first, keeps the
    plan, then runs it for real; so the store's own code shows its plans."""

    def __init__(self, connection: Any) -> None:
        self.connection, self.plans = connection, []

    async def _explain(self, sql: str, args: tuple[Any, ...]) -> None:
        if sql.startswith("EXPLAIN"):  # the store's own look at the planner's estimate
            return
        rows = await self.connection.fetch(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}", *args)
        self.plans.append("\n".join(row[0] for row in rows))

    async def execute(self, sql: str, *args: Any) -> Any:
        return await self.connection.execute(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        await self._explain(sql, args)
        return await self.connection.fetchval(sql, *args)

    async def fetch(self, sql: str, *args: Any) -> Any:
        await self._explain(sql, args)
        return await self.connection.fetch(sql, *args)


async def _explain_searches(connection: Any, merchant_id: int, queries: list[list[Any]]) -> None:
    """Print each query's plans (count and page), as the server's store code builds them."""
    from rpc_fulfillment.orders.search_fields import DEFAULT_SORT, SEARCH_FIELDS, SORT_FIELDS
    from rpc_fulfillment.core.filters import parse_filters, parse_options
    from rpc_fulfillment.orders import search_queries as order_search

    for filters, options, _ in queries:
        conditions = parse_filters(filters, SEARCH_FIELDS, "order_invalid_filters")
        page = parse_options(options, SORT_FIELDS, DEFAULT_SORT, "order_invalid_filters")
        explaining = _Explaining(connection)
        async with connection.transaction(readonly=True):
            await order_search.search(explaining, merchant_id, conditions, page)
        plans = "\n  --\n".join("  " + plan.replace("\n", "\n  ") for plan in explaining.plans)
        print(f"[bench] EXPLAIN order.search {orjson.dumps(filters).decode()} "
              f"{orjson.dumps(options).decode()}:\n{plans}", file=sys.stderr, flush=True)


SEARCH_MERCHANT = "bench-search"


async def _prepare_search(env: Env) -> Prepared:
    """A merchant of its own (the other cases' orders must not change what the queries find)
    with its million orders."""
    import time

    from rpc_fulfillment.accounts import provisioning

    connection = await env.connect()
    try:
        await provisioning.create_merchant(connection, SEARCH_MERCHANT, "Benchmark Search Merchant")
        user = await provisioning.create_api_user(connection, SEARCH_MERCHANT, "merchant", SEARCH_MERCHANT)
        session = await env.rpc("login", [user.username, user.api_key])
        ids = await connection.fetchrow(
            """SELECT m.merchant_id, s.store_id FROM merchants m JOIN stores s ON s.merchant_id = m.merchant_id AND s.is_default
                WHERE m.code = $1""", SEARCH_MERCHANT)
        merchant_id = ids["merchant_id"]
        started = time.monotonic()
        await connection.execute(
            """INSERT INTO products (merchant_id, sku, name, weight)
               SELECT $1, 'SRCH-' || lpad(n::text, 4, '0'), 'Search product ' || n, 1.25
                 FROM generate_series(0, $2::int - 1) AS n""", merchant_id, SEARCH_SKUS)
        await connection.execute(SEED_ORDERS, merchant_id, ids["store_id"], ADDRESS, user.api_user_id, SEARCH_ORDERS)
        await connection.execute(SEED_ITEMS, merchant_id, SEARCH_SKUS)
        await connection.execute("VACUUM (ANALYZE) orders")
        await connection.execute("VACUUM (ANALYZE) order_items")
        print(f"[bench] order.search: seeded {SEARCH_ORDERS:,} orders in {time.monotonic() - started:.0f} s",
              file=sys.stderr, flush=True)
        newest, day = await connection.fetchrow(
            "SELECT max(updated_at) - interval '1 day', min(created_at) + interval '100 days' FROM orders WHERE merchant_id = $1",
            merchant_id)
        queries = search_queries(newest.isoformat(), day.date().isoformat(),
                                 (day.date() + datetime.timedelta(days=1)).isoformat())
        await _explain_searches(connection, merchant_id, queries)
    finally:
        await connection.close()
    result = await env.rpc("call", [session, "order.search", queries[0]])
    return Prepared(context={"session": session, "queries": queries}, floor={"result": result})


def _search_body(i: int, context: dict[str, Any]) -> bytes:
    queries = context["queries"]
    params = [context["session"], "order.search", queries[i % len(queries)]]
    return orjson.dumps({"jsonrpc": "2.0", "id": i, "method": "call", "params": params})


def _search_label(i: int, context: dict[str, Any]) -> str:
    queries = context["queries"]
    filters, options, _ = queries[i % len(queries)]
    return orjson.dumps(filters).decode()[:60] + (" " + orjson.dumps(options).decode() if options else "")


ORDER_SEARCH = Case(
    name="order.search",
    description=f"call(session, 'order.search'): 7 kinds of filtered page, fields '*', over {SEARCH_ORDERS:,} "
                "seeded orders of a merchant of its own (2M lines); 1 client; p99 is the figure",
    prepare=_prepare_search,
    body=_search_body,
    floor="echo",
    # One client: the figure is a page's latency, not a queue's (2 cores: more clients wait on
    # each other, and p99 becomes clients x the slowest query).
    concurrency=1,
    label=_search_label,
)

CASES: dict[str, Case] = {case.name: case for case in (STORE_LIST, ORDER_CREATE, ORDER_CREATE_MINIMAL, ORDER_BULK_CREATE, ORDER_SEARCH, IMPORT)}
