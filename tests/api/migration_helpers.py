"""A database migrated up to just before one migration, to test what that migration does to
rows written before it."""

from __future__ import annotations

import shutil
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

import asyncpg

from rpc_fulfillment.db.migrate import MIGRATIONS, load_migrations, migrate
from rpc_fulfillment.db.pool import connect
from tests.conftest import _execute, database_url_for


@asynccontextmanager
async def database_before(admin_url: str, tmp_path: Path, migration_name: str) -> AsyncIterator[tuple[asyncpg.Connection, list[int]]]:
    """A new database with every migration before the one whose file name ends with
    ``migration_name`` applied, and the versions still to apply (that one and those after):
    ``await migrate(conn)`` applies them. The database is dropped afterwards."""
    version = next(int(f.name[:4]) for f in MIGRATIONS.iterdir() if f.name.endswith(migration_name))
    for migration in load_migrations():
        if migration.version < version:
            name = next(f.name for f in MIGRATIONS.iterdir() if f.name.startswith(f"{migration.version:04d}_"))
            shutil.copyfile(str(MIGRATIONS.joinpath(name)), tmp_path / name)
    database = f"rpcf_before_{uuid.uuid4().hex[:8]}"
    await _execute(admin_url, f'CREATE DATABASE "{database}"')
    try:
        conn = await connect(database_url_for(admin_url, database))
        try:
            await migrate(conn, tmp_path)
            yield conn, [m.version for m in load_migrations() if m.version >= version]
        finally:
            await conn.close()
    finally:
        await _execute(admin_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
