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

A kind that needs the database (later: "order_insert", the same rows as order.create written by
one SQL statement) sets ``needs_db`` and gets ``app[POOL]``, an asyncpg pool on
``config["database_url"]``.
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


def _echo(config: dict[str, Any]) -> Handler:
    result = config.get("result", True)

    async def handle(request: web.Request) -> web.Response:
        parsed = orjson.loads(await request.read())
        answer = {"jsonrpc": "2.0", "id": parsed.get("id"), "result": result}
        return web.Response(body=orjson.dumps(answer), headers=JSON_HEADERS)

    return handle


FLOORS: dict[str, Floor] = {
    "echo": Floor(_echo),
}


async def _health(_request: web.Request) -> web.Response:
    return web.Response(body=b'{"status":"ok"}', headers=JSON_HEADERS)


def _pool_context(database_url: str):
    async def lifecycle(app: web.Application):
        import asyncpg

        app[POOL] = await asyncpg.create_pool(database_url, min_size=1, max_size=10)
        yield
        await app[POOL].close()

    return lifecycle


def create_app(kind: str, config: dict[str, Any]) -> web.Application:
    floor = FLOORS[kind]
    app = web.Application()
    if floor.needs_db:
        app.cleanup_ctx.append(_pool_context(config["database_url"]))
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
