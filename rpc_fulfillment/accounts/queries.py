"""SQL for merchants, stores, warehouses, API users and sessions."""

from __future__ import annotations

from typing import Any

import asyncpg

_PRINCIPAL_COLUMNS = "u.api_user_id, u.username, u.role, u.merchant_id, m.code AS merchant_code"


async def find_login_attempt(conn: asyncpg.Connection | asyncpg.Pool, username: str, address: str) -> asyncpg.Record:
    """One row for any username: the active user's principal, key hash and own limits (all
    NULL when there is no such user), and the failed logins recorded for the name from
    ``address`` (``failures`` and ``failing_for`` seconds since the first, NULL when none)."""
    return await conn.fetchrow(
        f"""SELECT {_PRINCIPAL_COLUMNS}, u.key_hash, u.rate_limit, u.rate_burst, u.concurrency_limit,
                   f.failures, extract(epoch FROM now() - f.first_failed_at)::float8 AS failing_for
              FROM (SELECT $1::text AS username) q
              LEFT JOIN login_failures f ON f.username = q.username AND f.address = $2
              LEFT JOIN (api_users u JOIN merchants m USING (merchant_id))
                     ON u.username = q.username AND u.revoked_at IS NULL""",
        username,
        address,
    )


async def insert_session(
    conn: asyncpg.Connection | asyncpg.Pool, session_hash: bytes, api_user_id: int, lifetime_seconds: int
) -> None:
    await conn.execute(
        """INSERT INTO sessions (session_hash, api_user_id, expires_at)
           VALUES ($1, $2, now() + make_interval(secs => $3))""",
        session_hash,
        api_user_id,
        float(lifetime_seconds),
    )


async def find_session_principal(conn: asyncpg.Connection | asyncpg.Pool, session_hash: bytes) -> asyncpg.Record | None:
    """The session's principal and the user's own limits (None: the server's)."""
    return await conn.fetchrow(
        f"""SELECT {_PRINCIPAL_COLUMNS}, u.rate_limit, u.rate_burst, u.concurrency_limit
              FROM sessions s
              JOIN api_users u USING (api_user_id)
              JOIN merchants m USING (merchant_id)
             WHERE s.session_hash = $1 AND s.expires_at > now() AND u.revoked_at IS NULL""",
        session_hash,
    )


async def find_session_principal_admitted(
    conn: asyncpg.Connection | asyncpg.Pool, session_hash: bytes, rate: float, burst: int, concurrency: int, cost: int
) -> asyncpg.Record | None:
    """The session's principal, and in the same statement the admission of one call by the
    user's bucket (rpcf_admit with the user's own limits, else the server's given here)."""
    return await conn.fetchrow(
        f"""SELECT {_PRINCIPAL_COLUMNS}, u.rate_limit, u.rate_burst, u.concurrency_limit,
                   a.refused, a.tokens, a.in_flight, a.slot
              FROM sessions s
              JOIN api_users u USING (api_user_id)
              JOIN merchants m USING (merchant_id)
              LEFT JOIN LATERAL (  -- not called at all when the user has no limit
                   SELECT * FROM rpcf_admit(u.api_user_id, coalesce(u.rate_limit, $2), coalesce(u.rate_burst, $3),
                                            coalesce(u.concurrency_limit, $4), $5)
                    WHERE coalesce(u.rate_limit, $2) > 0 OR coalesce(u.concurrency_limit, $4) > 0) a ON true
             WHERE s.session_hash = $1 AND s.expires_at > now() AND u.revoked_at IS NULL""",
        session_hash,
        float(rate),
        int(burst),
        int(concurrency),
        float(cost),
    )


async def count_active_api_users(conn: asyncpg.Connection, merchant_id: int) -> int:
    """Active (not revoked) API users, that is API keys, of a merchant; locks the merchant's
    row first so that two concurrent creations cannot both pass the cap."""
    await conn.execute("SELECT 1 FROM merchants WHERE merchant_id = $1 FOR UPDATE", merchant_id)
    return await conn.fetchval(
        "SELECT count(*) FROM api_users WHERE merchant_id = $1 AND revoked_at IS NULL", merchant_id
    )


async def delete_session(conn: asyncpg.Connection | asyncpg.Pool, session_hash: bytes) -> bool:
    status = await conn.execute("DELETE FROM sessions WHERE session_hash = $1 AND expires_at > now()", session_hash)
    return status != "DELETE 0"


async def delete_expired_sessions(conn: asyncpg.Connection | asyncpg.Pool) -> int:
    status = await conn.execute("DELETE FROM sessions WHERE expires_at <= now()")
    return int(status.split()[-1])


async def list_stores(conn: asyncpg.Connection | asyncpg.Pool, merchant_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT store_id, code, name, sort_order, is_active
             FROM stores WHERE merchant_id = $1 ORDER BY sort_order, store_id""",
        merchant_id,
    )


async def list_warehouses(conn: asyncpg.Connection | asyncpg.Pool) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT warehouse_id, name, is_active, street1, street2, city, country, region, postcode
             FROM warehouses ORDER BY warehouse_id"""
    )


# Provisioning (the operator's CLI).


async def insert_merchant(conn: asyncpg.Connection, code: str, name: str) -> int:
    return await conn.fetchval(
        "INSERT INTO merchants (code, name) VALUES ($1, $2) RETURNING merchant_id", code, name
    )


async def find_merchant_id(conn: asyncpg.Connection, code: str) -> int | None:
    return await conn.fetchval("SELECT merchant_id FROM merchants WHERE code = $1", code)


async def count_merchants(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM merchants")


async def insert_store(
    conn: asyncpg.Connection, merchant_id: int, code: str, name: str, *, is_default: bool, sort_order: int = 0
) -> int:
    return await conn.fetchval(
        """INSERT INTO stores (merchant_id, code, name, is_default, sort_order)
           VALUES ($1, $2, $3, $4, $5) RETURNING store_id""",
        merchant_id,
        code,
        name,
        is_default,
        sort_order,
    )


async def insert_warehouse(conn: asyncpg.Connection, values: dict[str, Any]) -> int:
    columns = list(values)
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    return await conn.fetchval(
        f"INSERT INTO warehouses ({', '.join(columns)}) VALUES ({placeholders}) RETURNING warehouse_id",
        *values.values(),
    )


async def insert_api_user(conn: asyncpg.Connection, merchant_id: int, username: str, role: str, key_hash: bytes) -> int:
    return await conn.fetchval(
        """INSERT INTO api_users (merchant_id, username, role, key_hash)
           VALUES ($1, $2, $3, $4) RETURNING api_user_id""",
        merchant_id,
        username,
        role,
        key_hash,
    )


async def list_api_users(conn: asyncpg.Connection, merchant_id: int | None) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT u.api_user_id, u.username, u.role, m.code AS merchant_code, u.created_at, u.revoked_at,
                  u.rate_limit, u.rate_burst, u.concurrency_limit
             FROM api_users u JOIN merchants m USING (merchant_id)
            WHERE $1::bigint IS NULL OR u.merchant_id = $1
            ORDER BY u.api_user_id""",
        merchant_id,
    )


async def revoke_api_user(conn: asyncpg.Connection, username: str) -> bool:
    """Revoke the user and end its sessions at once, so the next request is refused."""
    api_user_id = await conn.fetchval(
        "UPDATE api_users SET revoked_at = now() WHERE username = $1 AND revoked_at IS NULL RETURNING api_user_id",
        username,
    )
    if api_user_id is None:
        return False
    await conn.execute("DELETE FROM sessions WHERE api_user_id = $1", api_user_id)
    return True
