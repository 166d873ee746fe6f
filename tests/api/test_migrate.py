"""Applying the migrations: idempotent, safe when several processes start at once, and a failing
migration leaves the ones before it applied."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from rpc_fulfillment.db.pool import connect
from rpc_fulfillment.db.migrate import load_migrations, migrate, schema_version
from tests.conftest import _execute, database_url_for


async def test_migrate_is_idempotent(db):
    migrations = load_migrations()
    assert await migrate(db) == []
    assert await schema_version(db) == len(migrations)
    rows = await db.fetch("SELECT version, title FROM schema_version ORDER BY version")
    assert [(r["version"], r["title"]) for r in rows] == [(m.version, m.title) for m in migrations]


async def test_concurrent_migrations_apply_each_migration_once(admin_url):
    name = f"rpcf_migrate_{uuid.uuid4().hex[:8]}"
    await _execute(admin_url, f'CREATE DATABASE "{name}"')
    try:
        url = database_url_for(admin_url, name)
        connections = [await connect(url) for _ in range(3)]
        try:
            applied = await asyncio.gather(*(migrate(c) for c in connections))
            versions = [m.version for m in load_migrations()]
            assert sorted(applied, key=len) == [[], [], versions]
            assert await connections[0].fetchval("SELECT count(*) FROM schema_version") == len(versions)
            assert await connections[0].fetchval("SELECT count(*) FROM warehouses") == 1  # seeded once
        finally:
            for connection in connections:
                await connection.close()
    finally:
        await _execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_a_failing_migration_keeps_the_ones_before_it(admin_url, tmp_path):
    (tmp_path / "0001_first.sql").write_text("-- first\nCREATE TABLE first_table (id int);\n")
    (tmp_path / "0002_broken.sql").write_text("-- broken\nCREATE TABLE second_table (id int);\nSELECT no_such_column;\n")
    name = f"rpcf_migrate_{uuid.uuid4().hex[:8]}"
    await _execute(admin_url, f'CREATE DATABASE "{name}"')
    try:
        url = database_url_for(admin_url, name)
        connection, other = await connect(url), await connect(url)
        try:
            with pytest.raises(asyncpg.UndefinedColumnError):
                await migrate(connection, tmp_path)
            assert await schema_version(connection) == 1
            assert await connection.fetchval("SELECT to_regclass('first_table')::text") == "first_table"
            assert await connection.fetchval("SELECT to_regclass('second_table')") is None
            # The lock was given back: another process goes on, and applies only what is pending.
            (tmp_path / "0002_broken.sql").write_text("-- fixed\nCREATE TABLE second_table (id int);\n")
            assert await asyncio.wait_for(migrate(other, tmp_path), 10) == [2]
            assert await migrate(connection, tmp_path) == []
        finally:
            await connection.close()
            await other.close()
    finally:
        await _execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
