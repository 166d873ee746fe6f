"""SQL for the rate limits (rate_buckets, rpcf_admit in schema.sql) and the login throttle.

A concurrency slot is a session-level advisory lock of the connection that runs the call, so
the slot must be given back on that same connection (and is, by PostgreSQL, if it dies).

Admitting a call is folded into the session lookup (accounts.find_session_principal_admitted);
the statements here serve the other paths: a call with HTTP Basic credentials, login, and
releasing a concurrency slot when a call ends.
"""

from __future__ import annotations

import asyncpg

from rpc_fulfillment.accounts.limits import Admission, Limits

Connection = asyncpg.Connection | asyncpg.Pool

ADMIT = "SELECT refused, tokens, in_flight, slot FROM rpcf_admit($1, $2, $3, $4, $5)"


def admission(limits: Limits, row: asyncpg.Record, cost: int) -> Admission:
    return Admission(limits, row["refused"], row["tokens"], row["in_flight"], row["slot"], cost)


async def admit(conn: Connection, api_user_id: int, limits: Limits, cost: int = 1) -> Admission:
    """Charge one call of the user (``cost`` tokens and, with a concurrency limit, a slot)."""
    if not limits.any:
        return Admission(limits)
    row = await conn.fetchrow(
        ADMIT, api_user_id, float(limits.rate), float(limits.burst), int(limits.concurrency), float(cost)
    )
    return admission(limits, row, cost)


async def release(conn: asyncpg.Connection, api_user_id: int, slot: int) -> None:
    """Give back the concurrency slot a call took: the advisory lock ``slot`` (a key from
    rpcf_slot_key), on the connection that took it. ``api_user_id`` is for the reader."""
    await conn.execute("SELECT pg_advisory_unlock($1)", slot)


async def record_login_failure(conn: Connection, username: str, address: str, window: float) -> int:
    """Count a failed login for ``username`` from ``address``; the count starts again ``window``
    seconds after the first failure. Returns the failures now counted."""
    return await conn.fetchval(
        """INSERT INTO login_failures AS f (username, address, failures, first_failed_at, last_failed_at)
           VALUES ($1, $2, 1, now(), now())
           ON CONFLICT (username, address) DO UPDATE SET
               failures = CASE WHEN f.first_failed_at > now() - make_interval(secs => $3) THEN f.failures + 1 ELSE 1 END,
               first_failed_at = CASE WHEN f.first_failed_at > now() - make_interval(secs => $3)
                                      THEN f.first_failed_at ELSE now() END,
               last_failed_at = now()
           RETURNING failures""",
        username,
        address,
        window,
    )


async def clear_login_failures(conn: Connection, username: str, address: str) -> None:
    await conn.execute("DELETE FROM login_failures WHERE username = $1 AND address = $2", username, address)


async def delete_stale_login_failures(conn: Connection, window: float) -> int:
    """Forget failures older than the window (they no longer slow anyone down)."""
    status = await conn.execute(
        "DELETE FROM login_failures WHERE first_failed_at <= now() - make_interval(secs => $1)", window
    )
    return int(status.split()[-1])


async def set_user_limits(conn: Connection, username: str, values: dict[str, float | int | None]) -> bool:
    """Set some of a user's own limits (rate_limit, rate_burst, concurrency_limit; None: the
    server's). Returns False when there is no such user."""
    columns = [name for name in ("rate_limit", "rate_burst", "concurrency_limit") if name in values]
    if not columns:
        return await conn.fetchval("SELECT true FROM api_users WHERE username = $1", username) is not None
    assignments = ", ".join(f"{name} = ${index}" for index, name in enumerate(columns, start=2))
    status = await conn.execute(
        f"UPDATE api_users SET {assignments} WHERE username = $1", username, *(values[name] for name in columns)
    )
    return status != "UPDATE 0"
