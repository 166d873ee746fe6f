"""Apply the numbered steps of schema.sql that the database has not seen yet."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

# Any fixed number works: it only has to be the same in every process of the installation.
MIGRATION_LOCK = 0x72706366

_STEP_HEADER = re.compile(r"^-- step (\d+): (.+)$", re.MULTILINE)


@dataclass(frozen=True)
class Step:
    version: int
    title: str
    sql: str


def load_steps(text: str | None = None) -> list[Step]:
    """Split schema.sql into its steps, checking they are numbered 1, 2, 3..."""
    if text is None:
        text = resources.files("rpc_fulfillment.db").joinpath("schema.sql").read_text("utf-8")
    headers = list(_STEP_HEADER.finditer(text))
    if not headers:
        raise RuntimeError("schema.sql has no steps: each starts with a line '-- step N: title'")
    preamble = text[: headers[0].start()]
    if any(line.strip() and not line.lstrip().startswith("--") for line in preamble.splitlines()):
        raise RuntimeError("schema.sql has SQL before '-- step 1:', which would never be applied")
    steps = []
    for index, header in enumerate(headers):
        end = headers[index + 1].start() if index + 1 < len(headers) else len(text)
        steps.append(Step(int(header.group(1)), header.group(2).strip(), text[header.end():end]))
    versions = [step.version for step in steps]
    if versions != list(range(1, len(steps) + 1)):
        raise RuntimeError(f"schema.sql steps must be numbered 1..n in order, found {versions}")
    return steps


async def migrate(connection: asyncpg.Connection) -> list[int]:
    """Bring the schema up to date; returns the versions applied now (empty if none).

    Runs in one transaction under an advisory lock, so several processes starting at once
    apply each step exactly once.
    """
    applied_now: list[int] = []
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await connection.execute(
            """CREATE TABLE IF NOT EXISTS schema_version (
                   version    integer PRIMARY KEY,
                   title      text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {row["version"] for row in await connection.fetch("SELECT version FROM schema_version")}
        for step in load_steps():
            if step.version in done:
                continue
            await connection.execute(step.sql)
            await connection.execute(
                "INSERT INTO schema_version (version, title) VALUES ($1, $2)", step.version, step.title
            )
            applied_now.append(step.version)
    return applied_now


async def schema_version(connection: asyncpg.Connection) -> int:
    return await connection.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
