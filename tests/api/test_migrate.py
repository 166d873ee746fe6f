"""Applying schema.sql: idempotent, and safe when several processes start at once."""

from __future__ import annotations

import asyncio
import uuid

from rpc_fulfillment.db.pool import connect
from rpc_fulfillment.db.migrate import load_steps, migrate, schema_version
from tests.conftest import _execute, database_url_for


async def test_migrate_is_idempotent(db):
    steps = load_steps()
    assert await migrate(db) == []
    assert await schema_version(db) == len(steps)
    rows = await db.fetch("SELECT version, title FROM schema_version ORDER BY version")
    assert [(r["version"], r["title"]) for r in rows] == [(s.version, s.title) for s in steps]


async def test_concurrent_migrations_apply_each_step_once(admin_url):
    name = f"rpcf_migrate_{uuid.uuid4().hex[:8]}"
    await _execute(admin_url, f'CREATE DATABASE "{name}"')
    try:
        url = database_url_for(admin_url, name)
        connections = [await connect(url) for _ in range(3)]
        try:
            applied = await asyncio.gather(*(migrate(c) for c in connections))
            steps = [s.version for s in load_steps()]
            assert sorted(applied, key=len) == [[], [], steps]
            assert await connections[0].fetchval("SELECT count(*) FROM schema_version") == len(steps)
            assert await connections[0].fetchval("SELECT count(*) FROM warehouses") == 1  # seeded once
        finally:
            for connection in connections:
                await connection.close()
    finally:
        await _execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
