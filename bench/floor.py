"""The floor: the least a Python aiohttp server can do for the same request.

    python bench/floor.py --port 9000 [--kind echo] [--config floor.json] [--workers N]

Each kind in ``FLOORS`` builds the handler for ``POST /api/jsonrpc``; ``GET /health`` answers
when the server is up. The server under test runs on the same event loop implementation with
the same access-log setting (none), so the gap between the two is our code, jsonrpcserver and
the database, not aiohttp.

Kinds:
  echo   read the body, parse it with orjson, answer {"jsonrpc":"2.0","id":<its id>,"result":R}
         where R is the fixed ``result`` from the config (the case captures a real answer, so
         the floor sends back the same bytes as the server).

  order_insert
         the least a server can do for order.create: read and parse the body, then write the
         same rows the server writes for that order (the order, its items, allocations, the
         stock update, stock movements, status history and the order:created event) with ONE
         SQL statement, the server's own ``INSERT_ORDERS``, and answer with the order's
         properties as captured from the server (``result``), its new order_id and unique_id
         put in. The statement's arguments are built once at startup, by the same domain code
         the server uses (parse_order, draft_order), for each of ``orders`` (order.create
         arguments; request id i writes order i % len(orders), as the server gets it), with
         ``merchant_id`` and ``api_user_id`` from the config. What the
         floor leaves out is what the server adds: the session and rate-limit check,
         validation per request, the store and product lookups, locking the stock rows and
         deciding the allocation, BEGIN/COMMIT and the projection of the answer.

  order_minimal
         the least any order-taking server could write: read and parse the body, then ONE
         statement inserting the order row (its NOT NULL columns), one item row and the stock
         update for that item (the first line of the case's first order, one warehouse), and
         answer with the same captured ``result``. No allocation rows, movements, history or
         event: the gap between this floor and ``order_insert`` is the price of our rows.

A kind that needs the database sets ``needs_db`` and gets ``app[POOL]``, an asyncpg pool on
``config["database_url"]`` (with the server's JSON codecs), and may ``setup`` once on it.
"""

from __future__ import annotations

import argparse
import multiprocessing
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable

import orjson
from aiohttp import web

POOL: web.AppKey[Any] = web.AppKey("pool", object)
JSON_HEADERS = {"Content-Type": "application/json"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Floor:
    make_handler: Callable[[dict[str, Any]], Handler]
    needs_db: bool = False
    # Runs once with the pool before the first request: (app, config) -> None.
    setup: Callable[[web.Application, dict[str, Any]], Awaitable[None]] | None = None


def _echo(config: dict[str, Any]) -> Handler:
    result = config.get("result", True)

    async def handle(request: web.Request) -> web.Response:
        parsed = orjson.loads(await request.read())
        answer = {"jsonrpc": "2.0", "id": parsed.get("id"), "result": result}
        return web.Response(body=orjson.dumps(answer), headers=JSON_HEADERS)

    return handle


ORDER_ARGUMENTS: web.AppKey[list[list[Any]]] = web.AppKey("order_arguments", list)


async def _draft_order_arguments(app: web.Application, config: dict[str, Any]) -> None:
    """INSERT_ORDERS' arguments for each of the case's orders, built once by the server's own
    code; request id i writes order i % len(orders), as the server gets it."""
    app[ORDER_ARGUMENTS] = [await _draft_one(app, config, args) for args in config["orders"]]


async def _draft_one(app: web.Application, config: dict[str, Any], args: list[Any]) -> list[Any]:
    from rpc_fulfillment.orders.draft import ProductIndex, draft_order, match_products
    from rpc_fulfillment.orders.input import parse_order
    from rpc_fulfillment.orders import queries as store
    from rpc_fulfillment.orders.create import available_stock, order_write, product_from_row

    merchant_id = config["merchant_id"]
    order = parse_order(*args, *([None] * (5 - len(args))))
    async with app[POOL].acquire() as conn:
        lookup = await store.lookup_for_create(conn, merchant_id, [None], [item.lookup for item in order.items], [],
                                               lock=False)
    products = match_products(order.items, ProductIndex([product_from_row(row) for row in lookup.products]))
    draft = draft_order(order, products, available_stock(lookup.stock))
    write = order_write(merchant_id, config["api_user_id"], order, draft, lookup.stores[None])
    return store.orders_arguments([write], store.StockAsRead())


async def _insert_with_retry(pool: Any, sql: str, arguments: list[Any]) -> Any:
    """The one statement, again when PostgreSQL picks it as a deadlock victim: without the
    server's ordered SELECT ... FOR UPDATE first, two statements can lock the same stock rows
    in opposite orders (the server retries such a call too)."""
    import asyncpg

    for _ in range(2):
        try:
            async with pool.acquire() as conn:
                return await conn.fetchrow(sql, *arguments)
        except asyncpg.DeadlockDetectedError:
            continue
    async with pool.acquire() as conn:
        return await conn.fetchrow(sql, *arguments)


def _order_insert(config: dict[str, Any]) -> Handler:
    import asyncpg

    from rpc_fulfillment.orders.queries import INSERT_ORDERS

    result = config["result"]

    async def handle(request: web.Request) -> web.Response:
        parsed = orjson.loads(await request.read())
        variants = request.app[ORDER_ARGUMENTS]
        arguments = variants[parsed["id"] % len(variants)]
        try:
            row = await _insert_with_retry(request.app[POOL], INSERT_ORDERS, arguments)
        except asyncpg.PostgresError as error:  # shown by the harness as an error sample
            answer = {"jsonrpc": "2.0", "id": parsed.get("id"), "error": {"code": 1, "message": repr(error)}}
        else:
            answer = {"jsonrpc": "2.0", "id": parsed.get("id"),
                      "result": {**result, "order_id": row["order_id"], "unique_id": row["unique_id"]}}
        return web.Response(body=orjson.dumps(answer), headers=JSON_HEADERS)

    return handle


MINIMAL_ARGUMENTS: web.AppKey[list[Any]] = web.AppKey("minimal_arguments", list)
MINIMAL_INSERT = """
    WITH placed AS (
        INSERT INTO orders (merchant_id, store_id, unique_id, state, status, shipping_method, carrier_code,
                            shipping_address)
        VALUES ($1, $2, 'floor-' || $3::text, $4, $5, $6, $7, $8::jsonb)
        RETURNING order_id, unique_id),
    line AS (
        INSERT INTO order_items (order_id, merchant_id, product_id, line_no, sku, qty_ordered, qty_processing)
        SELECT order_id, $1, $9, 1, $10, $11, $11 FROM placed),
    stock_taken AS (
        UPDATE stock SET qty_allocated = qty_allocated + $11 WHERE product_id = $9 AND warehouse_id = $12)
    SELECT order_id, unique_id FROM placed"""


async def _minimal_arguments(app: web.Application, config: dict[str, Any]) -> None:
    """The statement's arguments but for the unique_id: the first order's first line."""
    items, address = config["orders"][0][1], config["orders"][0][2]
    result = config["result"]
    async with app[POOL].acquire() as conn:
        row = await conn.fetchrow(
            """SELECT st.store_id, p.product_id, s.warehouse_id
                 FROM stores st JOIN products p USING (merchant_id) JOIN stock s USING (product_id)
                WHERE st.merchant_id = $1 AND st.is_default AND p.sku = $2
                ORDER BY s.warehouse_id LIMIT 1""",
            config["merchant_id"], items[0]["sku"])
    app[MINIMAL_ARGUMENTS] = [
        config["merchant_id"], row["store_id"], result["state"], result["status"], result["shipping_method"],
        result["carrier_code"] if "carrier_code" in result else result["shipping_method"].split("_")[0],
        orjson.dumps(address).decode(), row["product_id"], items[0]["sku"], int(items[0]["qty"]), row["warehouse_id"],
    ]


def _order_minimal(config: dict[str, Any]) -> Handler:
    import asyncpg

    result = config["result"]
    counter = iter(range(1 << 62))
    prefix = f"{multiprocessing.current_process().pid}-"

    async def handle(request: web.Request) -> web.Response:
        parsed = orjson.loads(await request.read())
        merchant, store, state, status, method, carrier, address, product, sku, qty, warehouse = (
            request.app[MINIMAL_ARGUMENTS])
        try:
            async with request.app[POOL].acquire() as conn:
                row = await conn.fetchrow(MINIMAL_INSERT, merchant, store, prefix + str(next(counter)), state, status,
                                          method, carrier, address, product, sku, qty, warehouse)
        except asyncpg.PostgresError as error:
            answer = {"jsonrpc": "2.0", "id": parsed.get("id"), "error": {"code": 1, "message": repr(error)}}
        else:
            answer = {"jsonrpc": "2.0", "id": parsed.get("id"),
                      "result": {**result, "order_id": row["order_id"], "unique_id": row["unique_id"]}}
        return web.Response(body=orjson.dumps(answer), headers=JSON_HEADERS)

    return handle


FLOORS: dict[str, Floor] = {
    "echo": Floor(_echo),
    "order_insert": Floor(_order_insert, needs_db=True, setup=_draft_order_arguments),
    "order_minimal": Floor(_order_minimal, needs_db=True, setup=_minimal_arguments),
}


async def _health(_request: web.Request) -> web.Response:
    return web.Response(body=b'{"status":"ok"}', headers=JSON_HEADERS)


def _pool_context(floor: Floor, config: dict[str, Any]):
    async def lifecycle(app: web.Application):
        from rpc_fulfillment.db.pool import create_pool

        # The server's pool settings (codecs, reset) and size (serve's default of 10).
        app[POOL] = await create_pool(config["database_url"], 10)
        if floor.setup is not None:
            await floor.setup(app, config)
        yield
        await app[POOL].close()

    return lifecycle


def create_app(kind: str, config: dict[str, Any]) -> web.Application:
    floor = FLOORS[kind]
    app = web.Application()
    if floor.needs_db:
        app.cleanup_ctx.append(_pool_context(floor, config))
    handler = floor.make_handler(config)
    for path in ("/api/jsonrpc", "/api/jsonrpc/"):
        app.router.add_post(path, handler)
    app.router.add_get("/health", _health)
    return app


def _serve(kind: str, config: dict[str, Any], host: str, port: int, reuse_port: bool) -> None:
    web.run_app(create_app(kind, config), host=host, port=port, reuse_port=reuse_port or None,
                access_log=None, print=None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", default="echo", choices=sorted(FLOORS), help="which floor (default echo)")
    parser.add_argument("--config", type=Path, help="JSON file: the case's floor settings (result, database_url...)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1, help="processes sharing the port, like serve --workers")
    args = parser.parse_args(argv)
    config = orjson.loads(args.config.read_bytes()) if args.config else {}
    if args.workers == 1:
        _serve(args.kind, config, args.host, args.port, False)
        return 0
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_serve, args=(args.kind, config, args.host, args.port, True))
                 for _ in range(args.workers)]
    for process in processes:
        process.start()

    def stop(_signum: int, _frame: Any) -> None:
        for process in processes:
            if process.is_alive():
                process.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for process in processes:
        process.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
