"""API keys and sessions: login, session lookup, HTTP Basic, endSession."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

import asyncpg

from rpc_fulfillment.domain.faults import Fault
from rpc_fulfillment.services.context import Principal
from rpc_fulfillment.store import accounts

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


def _principal(row: asyncpg.Record) -> Principal:
    return Principal(
        api_user_id=row["api_user_id"],
        username=row["username"],
        role=row["role"],
        merchant_id=row["merchant_id"],
        merchant_code=row["merchant_code"],
    )


async def authenticate(pool: asyncpg.Pool, username: object, api_key: object) -> Principal:
    """Check a username and API key: fault 6 when either is missing, fault 2 when wrong."""
    if not isinstance(username, str) or not username:
        raise Fault("required_parameter", "username is required")
    if not isinstance(api_key, str) or not api_key:
        raise Fault("required_parameter", "api_key is required")
    if len(username) > _MAX_USERNAME or "\x00" in username:
        raise Fault("access_denied")
    row = await accounts.find_user_for_login(pool, username)
    expected = row["key_hash"] if row is not None else _NO_SUCH_KEY
    if not hmac.compare_digest(hash_secret(api_key), expected) or row is None:
        raise Fault("access_denied")
    return _principal(row)


async def login(pool: asyncpg.Pool, username: object, api_key: object, lifetime_seconds: int) -> str:
    principal = await authenticate(pool, username, api_key)
    session_id = secrets.token_hex(16)
    await accounts.insert_session(pool, hash_secret(session_id), principal.api_user_id, lifetime_seconds)
    return session_id


async def principal_for_session(pool: asyncpg.Pool, session_id: object) -> Principal:
    """The user behind a live session; fault 5 for anything unknown, expired or revoked."""
    if not isinstance(session_id, str) or not _SESSION_ID.match(session_id):
        raise Fault("session_expired")
    row = await accounts.find_session_principal(pool, hash_secret(session_id))
    if row is None:
        raise Fault("session_expired")
    return _principal(row)


async def end_session(pool: asyncpg.Pool, session_id: object) -> bool:
    if not isinstance(session_id, str) or not _SESSION_ID.match(session_id):
        raise Fault("session_expired")
    if not await accounts.delete_session(pool, hash_secret(session_id)):
        raise Fault("session_expired")
    return True
