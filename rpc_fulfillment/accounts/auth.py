"""API keys and sessions: login, session lookup, HTTP Basic, endSession."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
from contextlib import nullcontext
from dataclasses import fields

import asyncpg

from rpc_fulfillment.core.faults import Fault
from rpc_fulfillment.accounts.limits import Admission, Limits, LoginGate, LoginPolicy, effective_limits
from rpc_fulfillment.core.context import Principal
from rpc_fulfillment.accounts import queries as accounts
from rpc_fulfillment.accounts import limit_queries as limits_store

log = logging.getLogger(__name__)

_SESSION_ID = re.compile(r"^[0-9a-f]{32}$")
# Provisioning allows usernames of at most 128 characters from [A-Za-z0-9_.@-]. Anything longer,
# or with a NUL (which PostgreSQL text cannot hold at all), names no user: refused unqueried.
_MAX_USERNAME = 128
# Compared against when the username is unknown, so a miss costs the same as a wrong key.
_NO_SUCH_KEY = hashlib.sha256(b"no such key").digest()


def new_api_key() -> str:
    """160 random bits as 40 hex characters."""
    return secrets.token_hex(20)


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


_PRINCIPAL_COLUMNS = tuple(column.name for column in fields(Principal))


def _principal(row: asyncpg.Record) -> Principal:
    return Principal(*(row[column] for column in _PRINCIPAL_COLUMNS))


async def authenticate_with_limits(
    pool: asyncpg.Pool,
    username: object,
    api_key: object,
    gate: LoginGate,
    remote: str | None = None,
) -> tuple[Principal, tuple[float | None, int | None, int | None]]:
    """Check a username and API key: fault 6 when either is missing, fault 2 when wrong. Gives
    the user and its own limits (rate, burst, concurrency; None: the server's).

    The key is checked first, so a right one is never delayed. After too many failures of the
    username from ``remote`` (the source address) a wrong attempt is answered late (the
    gate's policy), and attempts beyond the gate's places are refused unchecked (LoginGate).
    ``pool`` must be the pool itself, not a connection held for the call: a wrong attempt
    waits holding no connection. A failure is counted and logged with the username and
    ``remote`` (never the key).
    """
    policy = gate.policy
    if not isinstance(username, str) or not username:
        raise Fault("required_parameter", "username is required")
    if not isinstance(api_key, str) or not api_key:
        raise Fault("required_parameter", "api_key is required")
    if len(username) > _MAX_USERNAME or "\x00" in username:
        log.warning("login refused: a malformed username (%d characters) from %s", len(username), remote or "?")
        raise Fault("access_denied")
    address = remote or ""
    pair = (username, address)
    if gate.full(pair):  # refused without a query
        raise _unchecked(policy, address)
    row = await accounts.find_login_attempt(pool, username, address)
    throttled = policy.delay(row["failures"], row["failing_for"]) > 0
    if throttled and gate.full(pair):  # places taken while this attempt read its row
        raise _unchecked(policy, address)
    with gate.place(pair) if throttled else nullcontext():
        known = row["api_user_id"] is not None
        expected = row["key_hash"] if known else _NO_SUCH_KEY
        if hmac.compare_digest(hash_secret(api_key), expected) and known:
            if row["failures"]:
                await limits_store.clear_login_failures(pool, username, address)
            return _principal(row), (row["rate_limit"], row["rate_burst"], row["concurrency_limit"])
        failures = await limits_store.record_login_failure(pool, username, address, policy.window)
        delay = policy.answer_delay(failures)
        log.warning(
            "login failed for username %r from %s (%s user; %d failure(s) within %g s%s)",
            username, remote or "?", "an active" if known else "no such active", failures, policy.window,
            f"; answered {delay:g} s late" if delay else "",
        )
        if delay > 0:
            await asyncio.sleep(delay)
        raise Fault("access_denied")


def _unchecked(policy: LoginPolicy, address: str) -> Fault:
    """The refusal of an attempt whose key was not checked (not logged: a flood of them would
    flood the log; the wrong attempts that filled the places were)."""
    return Fault("access_denied", (
        f"{policy.max_waiting} attempts for this username from {address or 'your address'} are already "
        f"being answered after failed logins; this one was not checked: retry after {policy.max_delay:g} s"))


def user_limits(server: Limits, own: tuple[float | None, int | None, int | None]) -> Limits:
    return effective_limits(server, *own)


async def login(
    pool: asyncpg.Pool,
    username: object,
    api_key: object,
    lifetime_seconds: int,
    gate: LoginGate,
    remote: str | None = None,
    limits: Limits | None = None,
    admitted: list[Admission] | None = None,
) -> str:
    """A new session. With ``limits`` (the server's) the login is a request of the user like
    any other and takes a token from the user's bucket (no concurrency slot); a refusal
    raises LimitRefused before the session is made. ``admitted`` receives the admission."""
    principal, own = await authenticate_with_limits(pool, username, api_key, gate, remote)
    if limits is not None:
        user = user_limits(limits, own)
        admission = await limits_store.admit(pool, principal.api_user_id, Limits(user.rate, user.burst, 0))
        admission = Admission(user, admission.refused, admission.tokens, None, None, admission.cost)
        if admitted is not None:
            admitted.append(admission)
        if admission.refused is not None:
            raise LimitRefused(admission)
    session_id = secrets.token_hex(16)
    await accounts.insert_session(pool, hash_secret(session_id), principal.api_user_id, lifetime_seconds)
    return session_id


async def admit(conn: asyncpg.Connection, api_user_id: int, limits: Limits, cost: int = 1) -> Admission:
    """One call of the user charged to ``limits`` (a call with HTTP Basic credentials; a session's
    call is admitted by its lookup). A refusal is returned, not raised."""
    return await limits_store.admit(conn, api_user_id, limits, cost)


async def release_slot(conn: asyncpg.Connection, api_user_id: int, slot: int) -> None:
    """Give back the concurrency slot a call took, on the connection that took it."""
    await limits_store.release(conn, api_user_id, slot)


class LimitRefused(Exception):
    """A call refused by the user's rate or concurrency limit (HTTP 429 or 409)."""

    def __init__(self, admission: Admission) -> None:
        super().__init__(admission.refused)
        self.admission = admission


async def admitted_principal_for_session(
    conn: asyncpg.Connection, session_id: object, limits: Limits, cost: int = 1
) -> tuple[Principal, Admission]:
    """The user behind a live session, and one call of theirs admitted in the same statement
    (fault 5 for anything unknown, expired or revoked; a refusal is returned, not raised, so that the caller
    knows the limits either way)."""
    if not isinstance(session_id, str) or not _SESSION_ID.match(session_id):
        raise Fault("session_expired")
    if not limits.any:
        # The server's limits are off: the plain lookup, and a statement of its own only for
        # a user who has limits of their own.
        row = await accounts.find_session_principal(conn, hash_secret(session_id))
        if row is None:
            raise Fault("session_expired")
        user = effective_limits(limits, row["rate_limit"], row["rate_burst"], row["concurrency_limit"])
        return _principal(row), await limits_store.admit(conn, row["api_user_id"], user, cost)
    row = await accounts.find_session_principal_admitted(
        conn, hash_secret(session_id), limits.rate, limits.burst, limits.concurrency, cost
    )
    if row is None:
        raise Fault("session_expired")
    user = effective_limits(limits, row["rate_limit"], row["rate_burst"], row["concurrency_limit"])
    return _principal(row), limits_store.admission(user, row, cost)


async def end_session(pool: asyncpg.Pool, session_id: object) -> bool:
    if not isinstance(session_id, str) or not _SESSION_ID.match(session_id):
        raise Fault("session_expired")
    if not await accounts.delete_session(pool, hash_secret(session_id)):
        raise Fault("session_expired")
    return True
