"""The committed schema.sql is what the migrations make: applied to a fresh database and dumped."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from rpc_fulfillment.db.schema_dump import COMMAND, generate, pg_dump_major_version

SCHEMA = Path(__file__).resolve().parents[2] / "schema.sql"


async def test_schema_sql_is_generated_from_the_migrations(admin_url):
    connection = await asyncpg.connect(admin_url)
    try:
        server_major = connection.get_server_version().major
    finally:
        await connection.close()
    if server_major != pg_dump_major_version():
        pytest.skip(f"schema.sql is dumped from PostgreSQL {pg_dump_major_version()} (the embedded one); "
                    f"this server is {server_major}, whose dump differs in form")
    generated = await generate(admin_url)
    assert SCHEMA.exists() and SCHEMA.read_text("utf-8") == generated, (
        f"schema.sql is not what the migrations make: run `{COMMAND}` at the repository root to regenerate it"
    )
