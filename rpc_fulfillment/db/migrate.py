"""Apply the numbered migrations of db/migrations/ that the database has not seen yet.

Each migration is a file ``NNNN_slug.sql``: NNNN is its version (1, 2, 3... without a gap),
its first line is a comment giving its title, and the rest is its SQL. schema_version records
the versions applied. Never edit a migration that has shipped: add the next one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

import asyncpg

# Any fixed number works: it only has to be the same in every process of the installation.
MIGRATION_LOCK = 0x72706366

MIGRATIONS = resources.files("rpc_fulfillment.db").joinpath("migrations")
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_TITLE_LINE = re.compile(r"^-- (\S.*)$")


@dataclass(frozen=True)
class Migration:
    version: int
    title: str
    sql: str


def load_migrations(directory: Traversable = MIGRATIONS) -> list[Migration]:
    """The migrations of ``directory`` in order, checking they are numbered 1, 2, 3..."""
    migrations = []
    for file in sorted(directory.iterdir(), key=lambda file: file.name):
        if not file.name.endswith(".sql"):
            continue
        name = _FILE_NAME.match(file.name)
        if not name:
            raise RuntimeError(f"migration {file.name}: the name must be NNNN_slug.sql (four digits, a-z, 0-9, _)")
        title_line, _, sql = file.read_text("utf-8").partition("\n")
        title = _TITLE_LINE.match(title_line)
        if not title:
            raise RuntimeError(f"migration {file.name}: the first line must be its title, as '-- title'")
        if not sql.strip():
            raise RuntimeError(f"migration {file.name} has no SQL")
        migrations.append(Migration(int(name.group(1)), title.group(1).strip(), sql))
    if not migrations:
        raise RuntimeError(f"no migrations (NNNN_slug.sql) in {directory}")
    versions = [migration.version for migration in migrations]
    if versions != list(range(1, len(migrations) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps or repeats, found {versions}")
    return migrations


async def migrate(connection: asyncpg.Connection, directory: Traversable = MIGRATIONS) -> list[int]:
    """Bring the schema up to date; returns the versions applied now (empty if none).

    Each migration runs in its own transaction, all under one advisory lock held for the whole
    run, so several processes starting at once apply each migration exactly once, and a
    failing migration leaves the ones before it applied.
    """
    migrations = load_migrations(directory)
    applied_now: list[int] = []
    await connection.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        await connection.execute(
            """CREATE TABLE IF NOT EXISTS schema_version (
                   version    integer PRIMARY KEY,
                   title      text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {row["version"] for row in await connection.fetch("SELECT version FROM schema_version")}
        for migration in migrations:
            if migration.version in done:
                continue
            async with connection.transaction():
                await connection.execute(migration.sql)
                await connection.execute(
                    "INSERT INTO schema_version (version, title) VALUES ($1, $2)",
                    migration.version, migration.title,
                )
            applied_now.append(migration.version)
    finally:
        # A lost connection has released the lock already, and its error is the one to see.
        if not connection.is_closed():
            await connection.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
    return applied_now


async def schema_version(connection: asyncpg.Connection) -> int:
    return await connection.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
