"""State data (SQL). Every write is one statement that decides and writes at once: two
callers racing for the same key are ordered by its row lock, and the second one's condition
is evaluated on the first one's result (PostgreSQL re-checks an UPDATE's and an ON CONFLICT
DO UPDATE's WHERE on the newest row version). A write of the value a key already has is no
update: it changes nothing and is not counted."""

from __future__ import annotations

from typing import Any

import asyncpg


async def fetch_states(conn: asyncpg.Connection, merchant_id: int, keys: list[str]) -> list[Any]:
    return await conn.fetch(
        "SELECT state_key, value, update_count, updated_at FROM state_values WHERE merchant_id = $1 AND state_key = ANY($2)",
        merchant_id, keys,
    )


async def upsert_states(conn: asyncpg.Connection, merchant_id: int, values: dict[str, str]) -> tuple[int, bool]:
    """Inserts or changes the keys; returns how many were written and whether any was new."""
    rows = await conn.fetch(
        """
        INSERT INTO state_values AS s (merchant_id, state_key, value)
        SELECT $1, k.state_key, k.value FROM unnest($2::text[], $3::text[]) AS k(state_key, value)
        ON CONFLICT (merchant_id, state_key) DO UPDATE
            SET value = EXCLUDED.value, update_count = s.update_count + 1, updated_at = now()
            WHERE s.value <> EXCLUDED.value
        RETURNING s.update_count = 0 AS inserted
        """,
        merchant_id, list(values), list(values.values()),
    )
    return len(rows), any(row["inserted"] for row in rows)


async def update_states_if_equal(conn: asyncpg.Connection, merchant_id: int, values: dict[str, str],
                                 if_equals: list[str]) -> int:
    """Changes the keys whose value is one of ``if_equals``; returns how many changed."""
    status = await conn.execute(
        """
        UPDATE state_values AS s SET value = k.value, update_count = s.update_count + 1, updated_at = now()
        FROM unnest($2::text[], $3::text[]) AS k(state_key, value)
        WHERE s.merchant_id = $1 AND s.state_key = k.state_key AND s.value = ANY($4) AND s.value <> k.value
        """,
        merchant_id, list(values), list(values.values()), if_equals,
    )
    return int(status.split()[-1])


async def delete_states(conn: asyncpg.Connection, merchant_id: int, keys: list[str], if_equals: list[str] | None) -> int:
    """Deletes the keys (only those whose value is one of ``if_equals``, when given)."""
    status = await conn.execute(
        "DELETE FROM state_values WHERE merchant_id = $1 AND state_key = ANY($2) AND ($3::text[] IS NULL OR value = ANY($3))",
        merchant_id, keys, if_equals,
    )
    return int(status.split()[-1])


async def count_keys(conn: asyncpg.Connection, merchant_id: int) -> int:
    return await conn.fetchval("SELECT count(*) FROM state_values WHERE merchant_id = $1", merchant_id)
