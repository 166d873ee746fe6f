"""The merchant log (SQL)."""

from __future__ import annotations

import asyncpg

from rpc_fulfillment.merchant_log.rules import LogEntry

# One statement: the entry is written only when its store_id is null or one of the merchant's
# stores, and the merchant's entries older than the newest ``keep`` are deleted. The DELETE
# sees the table as it was before the INSERT: it keeps keep - 1 older entries ($9) besides the new one.
_WRITE = """
WITH entry AS (
    INSERT INTO merchant_log (merchant_id, api_user_id, store_id, severity, facility, entity, message, detail)
    SELECT $1, $2, $3, $4, $5, $6, $7, $8
    WHERE $3::bigint IS NULL OR EXISTS (SELECT 1 FROM stores WHERE store_id = $3 AND merchant_id = $1)
    RETURNING log_id
), trimmed AS (
    DELETE FROM merchant_log
    WHERE merchant_id = $1 AND EXISTS (SELECT 1 FROM entry) AND log_id <= (
        SELECT log_id FROM merchant_log WHERE merchant_id = $1 ORDER BY log_id DESC OFFSET $9 LIMIT 1
    )
)
SELECT count(*) FROM entry
"""


async def write_entry(conn: asyncpg.Connection, merchant_id: int, api_user_id: int, entry: LogEntry, keep: int) -> bool:
    """True when written; False when its store_id is not one of the merchant's stores."""
    written = await conn.fetchval(
        _WRITE, merchant_id, api_user_id, entry.store_id, entry.severity, entry.facility, entry.entity,
        entry.message, entry.detail, keep - 1,
    )
    return written == 1
