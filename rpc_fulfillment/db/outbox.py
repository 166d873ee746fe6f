"""The outbox: events are rows written in the same transaction as the change they describe."""

from __future__ import annotations

from typing import Any

import asyncpg


async def emit(conn: asyncpg.Connection, merchant_id: int, topic: str, message: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO events (merchant_id, topic, message) VALUES ($1, $2, $3)", merchant_id, topic, message
    )


async def emit_many(conn: asyncpg.Connection, merchant_id: int, events: list[tuple[str, dict[str, Any]]]) -> None:
    """Several events in one statement (one round trip)."""
    if not events:
        return
    await conn.execute(
        """INSERT INTO events (merchant_id, topic, message)
           SELECT $1, topic, message FROM unnest($2::text[], $3::jsonb[]) AS e(topic, message)""",
        merchant_id,
        [topic for topic, _ in events],
        [message for _, message in events],
    )
