"""The ``rpc-fulfillment`` command: serve, and the operator's provisioning commands."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import Any, Awaitable, Callable

import asyncpg

from rpc_fulfillment.config import (
    ENVIRONMENT, EVERY_COMMAND, SERVE, USER_CREATE, WORKER, ZERO_MEANS_OFF, Settings, SettingsError, load_settings,
    settings_of,
)
from rpc_fulfillment.db.database import open_database
from rpc_fulfillment.accounts import provisioning
from rpc_fulfillment.accounts.provisioning import NewApiUser, ProvisioningError
from rpc_fulfillment.db.pool import connect
from rpc_fulfillment.log_redaction import configure_logging

log = logging.getLogger("rpc_fulfillment")


# Flags that `user limits` uses for an API user's own limits, not the server's.
USER_LIMITS = ("rate_limit", "rate_burst", "concurrency_limit")
_SETTINGS = {setting.name: setting for setting in fields(Settings)}


def _setting_flags(parser: argparse.ArgumentParser, command: str) -> None:
    for setting in settings_of(command):
        name, default = setting.name, setting.default
        help_text = f"{setting.metadata['help']} (env {ENVIRONMENT[name]}, default {setting.metadata['shown'] or default})"
        flag = f"--{name.replace('_', '-')}"
        if setting.type == "bool":
            action = argparse.BooleanOptionalAction if default else "store_true"
            parser.add_argument(flag, action=action, default=None, help=help_text)
        elif name in ZERO_MEANS_OFF or setting.type not in ("int", "float", "Path"):
            parser.add_argument(flag, help=help_text)  # text: "off", "none", a level, a schedule
        else:
            parser.add_argument(flag, type={"int": int, "float": float, "Path": Path}[setting.type], help=help_text)


def _user_limit_flags(parser: argparse.ArgumentParser) -> None:
    for flag, what in (("--rate-limit", "requests per second"), ("--rate-burst", "burst"),
                       ("--concurrency-limit", "requests at once")):
        parser.add_argument(flag, help=f"this user's {what}; 0: none; default: the server's setting")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rpc-fulfillment", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the JSON-RPC server")
    _setting_flags(serve, SERVE)
    serve.add_argument("--access-log", action="store_true", help="log every HTTP request")
    serve.add_argument("--demo", action="store_true", help="create the demo merchant and API user if the database has no merchant")
    serve.add_argument("--no-webhook-delivery", dest="webhook_delivery", action="store_const", const=False,
                       help="do not deliver webhooks in the server processes; run `rpc-fulfillment worker` instead "
                       "(env RPCF_WEBHOOK_DELIVERY=false)")

    worker = commands.add_parser("worker", help="deliver webhooks (run any number beside the servers)")
    _setting_flags(worker, WORKER)

    merchant = commands.add_parser("merchant", help="create and list merchants").add_subparsers(dest="action", required=True)
    create = merchant.add_parser("create", help="create a merchant and its default store")
    create.add_argument("code")
    create.add_argument("name")
    _setting_flags(create, EVERY_COMMAND)
    _setting_flags(merchant.add_parser("list", help="list merchants"), EVERY_COMMAND)

    store = commands.add_parser("store", help="create and list stores").add_subparsers(dest="action", required=True)
    create = store.add_parser("create", help="add a store to a merchant")
    create.add_argument("--merchant", required=True, help="merchant code")
    create.add_argument("code")
    create.add_argument("name")
    _setting_flags(create, EVERY_COMMAND)
    listing = store.add_parser("list", help="list stores")
    listing.add_argument("--merchant", help="only this merchant's stores")
    _setting_flags(listing, EVERY_COMMAND)

    warehouse = commands.add_parser("warehouse", help="create and list warehouses").add_subparsers(dest="action", required=True)
    create = warehouse.add_parser("create", help="add a warehouse (shared by all merchants)")
    create.add_argument("name")
    for part in ("street1", "street2", "city", "region", "postcode", "country"):
        create.add_argument(f"--{part}")
    _setting_flags(create, EVERY_COMMAND)
    _setting_flags(warehouse.add_parser("list", help="list warehouses"), EVERY_COMMAND)

    user = commands.add_parser("user", help="create, list and revoke API users").add_subparsers(dest="action", required=True)
    create = user.add_parser("create", help="create an API user and print its key once")
    create.add_argument("--merchant", required=True, help="merchant code")
    create.add_argument("--role", required=True, choices=provisioning.ROLES)
    create.add_argument("name")
    _setting_flags(create, USER_CREATE)
    listing = user.add_parser("list", help="list API users")
    listing.add_argument("--merchant", help="only this merchant's users")
    _setting_flags(listing, EVERY_COMMAND)
    limits = user.add_parser("limits", help="set an API user's own rate and concurrency limits")
    limits.add_argument("name")
    _user_limit_flags(limits)
    _setting_flags(limits, EVERY_COMMAND)
    revoke = user.add_parser("revoke", help="revoke an API user and end its sessions")
    revoke.add_argument("name")
    _setting_flags(revoke, EVERY_COMMAND)

    from rpc_fulfillment import importer  # an API client: no database flags

    importer.add_parser(commands)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings({
        name: getattr(args, name, None) for name in _SETTINGS if args.command == "serve" or name not in USER_LIMITS
    })


def _print_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("(none)")
        return
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(row[c] if row[c] is not None else "")) for row in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(str(row[c] if row[c] is not None else "").ljust(widths[c]) for c in columns))


def _print_new_user(user: NewApiUser, settings: Settings | None = None) -> None:
    print(f"API user:  {user.username}  (merchant {user.merchant_code}, role {user.role})")
    print(f"API key:   {user.api_key}")
    print("The key is shown only now; only its hash is stored.")
    if settings is not None:
        url = f"http://{settings.host}:{settings.port}/api/jsonrpc"
        body = f'{{"jsonrpc":"2.0","id":1,"method":"login","params":["{user.username}","{user.api_key}"]}}'
        print(f"Log in:    curl -s {url} -d '{body}'")


async def _with_connection(settings: Settings, work: Callable[[Any], Awaitable[None]]) -> None:
    database = await open_database(settings)
    connection = await connect(database.url)
    try:
        await work(connection)
    finally:
        await connection.close()


async def _provision(args: argparse.Namespace, settings: Settings) -> None:
    from rpc_fulfillment.accounts import admin_queries as admin

    async def work(conn: Any) -> None:
        key = (args.command, args.action)
        if key == ("merchant", "create"):
            await provisioning.create_merchant(conn, args.code, args.name)
            print(f"created merchant {args.code!r} with its default store 'default'")
        elif key == ("merchant", "list"):
            _print_table([dict(r) for r in await admin.list_merchants(conn)])
        elif key == ("store", "create"):
            store_id = await provisioning.create_store(conn, args.merchant, args.code, args.name)
            print(f"created store {args.code!r} (store_id {store_id}) for merchant {args.merchant!r}")
        elif key == ("store", "list"):
            _print_table([dict(r) for r in await admin.list_stores(conn, args.merchant)])
        elif key == ("warehouse", "create"):
            address = {p: getattr(args, p) for p in ("street1", "street2", "city", "region", "postcode", "country")}
            warehouse_id = await provisioning.create_warehouse(conn, args.name, address)
            print(f"created warehouse {args.name!r} (warehouse_id {warehouse_id})")
        elif key == ("warehouse", "list"):
            _print_table([dict(r) for r in await admin.list_warehouses(conn)])
        elif key == ("user", "create"):
            _print_new_user(await provisioning.create_api_user(
                conn, args.merchant, args.role, args.name, max_keys=settings.max_api_keys))
        elif key == ("user", "limits"):
            values = _user_limits(args)
            await provisioning.set_api_user_limits(conn, args.name, values)
            changed = ", ".join(f"{k} {'(server default)' if v is None else v}" for k, v in values.items()) or "nothing"
            print(f"API user {args.name!r}: {changed}")
        elif key == ("user", "list"):
            _print_table([dict(r) for r in await provisioning.list_api_users(conn, args.merchant)])
        elif key == ("user", "revoke"):
            await provisioning.revoke_api_user(conn, args.name)
            print(f"revoked API user {args.name!r}; its sessions are ended")

    await _with_connection(settings, work)


def _user_limits(args: argparse.Namespace) -> dict[str, float | int | None]:
    """The limits given to `user limits`: a number, 0 or off (none), or default (the server's)."""
    values: dict[str, float | int | None] = {}
    for name in provisioning.LIMIT_COLUMNS:
        raw = getattr(args, name, None)
        if raw is None:
            continue
        text = str(raw).strip().lower()
        if text == "default":
            values[name] = None
            continue
        try:
            number = 0.0 if text in ("off", "none") else float(text)
        except ValueError:
            raise ProvisioningError(f"{name} must be a number, 0 or off (none), or default, got {raw!r}") from None
        if name != "rate_limit":
            if not number.is_integer():
                raise ProvisioningError(f"{name} must be a whole number, got {raw!r}")
            values[name] = int(number)
        else:
            values[name] = number
    return values


async def _prepare_to_serve(settings: Settings, demo: bool) -> tuple[str, Any]:
    database = await open_database(settings)
    connection = await connect(database.url)
    try:
        demo_user = await provisioning.create_demo(connection) if (database.created or demo) else None
    finally:
        await connection.close()
    where = f"embedded PostgreSQL in {settings.data_dir.resolve()}" if database.embedded else "external PostgreSQL"
    print(f"rpc-fulfillment: database ready ({where})")
    if demo_user is not None:
        print("Created the demo merchant 'demo' with its default store and an API user:")
        _print_new_user(demo_user, settings)
    return database.url, database.embedded


def _run_server(settings: Settings, database_url: str, access_log: bool, reuse_port: bool) -> int:
    """Serve until SIGTERM or SIGINT, then stop gracefully (rpc_fulfillment/serving.py)."""
    from rpc_fulfillment.app import create_app
    from rpc_fulfillment.serving import serve

    configure_logging(settings.log_level)
    return asyncio.run(serve(
        create_app(settings, database_url),
        host=settings.host,
        port=settings.port,
        reuse_port=reuse_port,
        shutdown_timeout=settings.shutdown_timeout,
        access_log=logging.getLogger("aiohttp.access") if access_log else None,
    ))


def _worker_process(settings: Settings, database_url: str, access_log: bool) -> None:
    sys.exit(_run_server(settings, database_url, access_log, True))


def _serve_workers(settings: Settings, database_url: str, access_log: bool) -> int:
    """N processes on one port with SO_REUSEPORT; the kernel spreads connections. SIGTERM or
    SIGINT is passed on to every worker, which stops gracefully; the exit status is 0 when
    every worker exited 0 (or was stopped before it could serve), 1 otherwise. A worker still
    running shutdown_timeout + 15 s after the signal is killed."""
    from multiprocessing.connection import wait

    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_worker_process, args=(settings, database_url, access_log), daemon=False)
        for _ in range(settings.workers)
    ]
    deadline: list[float] = []

    def stop(signum: int, _frame: Any) -> None:
        if not deadline:
            log.info("%s: stopping %d worker(s)", signal.Signals(signum).name, len(processes))
            deadline.append(time.monotonic() + settings.shutdown_timeout + 15)
        for process in processes:
            if process.pid is not None and process.exitcode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for process in processes:
        process.start()
    reported: set[int] = set()
    while any(process.exitcode is None for process in processes):
        wait([process.sentinel for process in processes if process.exitcode is None], timeout=1.0)
        for process in processes:
            if process.exitcode is not None and not deadline and process.pid not in reported:
                log.error("worker %d exited with status %s while serving", process.pid, process.exitcode)
                reported.add(process.pid)
        if deadline and time.monotonic() > deadline[0]:
            for process in processes:
                if process.exitcode is None:
                    log.error("worker %d did not stop in time; killing it", process.pid)
                    process.kill()
                    process.join(5)
            return 1
    # A worker killed by the SIGTERM we sent before it had set up its own handler served nothing.
    clean = (0, -signal.SIGTERM) if deadline else (0,)
    return 0 if all(process.exitcode in clean for process in processes) else 1


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    configure_logging(settings.log_level)
    database_url, embedded = asyncio.run(_prepare_to_serve(settings, args.demo))
    print(f"rpc-fulfillment: serving http://{settings.host}:{settings.port}/api/jsonrpc "
          f"with {settings.workers} worker(s); Ctrl+C stops", flush=True)
    if settings.webhook_allow_private and settings.host not in ("127.0.0.1", "::1", "localhost"):
        log.warning("webhooks may target loopback, private and link-local (cloud metadata) addresses "
                    "(--webhook-allow-private); when merchants are not trusted, leave it off: SECURITY.md")
    if settings.workers == 1:
        status = _run_server(settings, database_url, args.access_log, False)
    else:
        status = _serve_workers(settings, database_url, args.access_log)
    if embedded is not None:
        embedded.stop()
    return status


def _work(settings: Settings) -> None:
    """``rpc-fulfillment worker``: webhook delivery only, until SIGINT or SIGTERM. With the
    embedded database it joins the cluster of the data directory and leaves it running."""
    from rpc_fulfillment.workers.webhooks import BATCH, run_worker

    configure_logging(settings.log_level)

    async def run() -> None:
        database = await open_database(settings, stop_embedded_on_exit=False)
        print(f"rpc-fulfillment: delivering webhooks, up to {settings.webhook_concurrency * BATCH} at once; Ctrl+C stops",
              flush=True)
        await run_worker(database.url, settings)

    asyncio.run(run())


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.command == "import":
        from rpc_fulfillment import importer

        return importer.run(args)
    try:
        settings = _settings(args)
        if args.command == "serve":
            return _serve(args, settings)
        elif args.command == "worker":
            _work(settings)
        else:
            asyncio.run(_provision(args, settings))
    except (ProvisioningError, SettingsError) as exc:
        print(f"rpc-fulfillment: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"rpc-fulfillment: error: {exc}", file=sys.stderr)
        return 1
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        # A database that does not exist, wrong credentials, an invalid URL...
        print(f"rpc-fulfillment: error: database: {exc}", file=sys.stderr)
        return 1
    return 0
