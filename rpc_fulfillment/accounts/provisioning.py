"""The operator's provisioning: merchants, stores, warehouses and API users.

Called by the CLI, which talks to the database directly. Errors are ProvisioningError with a
sentence a person can act on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import asyncpg

from rpc_fulfillment.accounts.auth import hash_secret, new_api_key
from rpc_fulfillment.accounts import queries as accounts
from rpc_fulfillment.accounts import limit_queries as limits_store

ROLES = ("merchant", "warehouse", "admin")
# ShipStream's limit and message (reference §5); the number follows --max-api-keys.
DEFAULT_MAX_API_KEYS = 6
API_KEY_LIMIT_MESSAGE = "You've reached your limit of {limit} API keys. Please delete any unused API keys and try again."
LIMIT_COLUMNS = ("rate_limit", "rate_burst", "concurrency_limit")
DEFAULT_STORE_CODE = "default"
_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")


class ProvisioningError(Exception):
    pass


@dataclass(frozen=True)
class NewApiUser:
    api_user_id: int
    username: str
    role: str
    merchant_code: str
    api_key: str


def _check_code(kind: str, code: str) -> None:
    if not _CODE.match(code):
        raise ProvisioningError(
            f"{kind} code {code!r} is invalid: use 1-64 lowercase letters, digits, '_' or '-', starting with a letter or digit"
        )


def _check_name(kind: str, name: str) -> None:
    if not name.strip() or len(name) > 255:
        raise ProvisioningError(f"{kind} name must be 1-255 characters")


async def _merchant_id(conn: asyncpg.Connection, code: str) -> int:
    merchant_id = await accounts.find_merchant_id(conn, code)
    if merchant_id is None:
        raise ProvisioningError(f"no merchant with code {code!r} (see: rpc-fulfillment merchant list)")
    return merchant_id


async def create_merchant(conn: asyncpg.Connection, code: str, name: str) -> int:
    """Create a merchant and its default store, in one transaction."""
    _check_code("merchant", code)
    _check_name("merchant", name)
    async with conn.transaction():
        try:
            merchant_id = await accounts.insert_merchant(conn, code, name)
        except asyncpg.UniqueViolationError:
            raise ProvisioningError(f"a merchant with code {code!r} already exists") from None
        await accounts.insert_store(conn, merchant_id, DEFAULT_STORE_CODE, f"{name} Default Store", is_default=True)
    return merchant_id


async def create_store(conn: asyncpg.Connection, merchant_code: str, code: str, name: str) -> int:
    _check_code("store", code)
    _check_name("store", name)
    async with conn.transaction():
        merchant_id = await _merchant_id(conn, merchant_code)
        try:
            return await accounts.insert_store(conn, merchant_id, code, name, is_default=False)
        except asyncpg.UniqueViolationError:
            raise ProvisioningError(f"merchant {merchant_code!r} already has a store with code {code!r}") from None


async def create_warehouse(conn: asyncpg.Connection, name: str, address: dict[str, Any]) -> int:
    _check_name("warehouse", name)
    country = address.get("country")
    if country is not None and not re.fullmatch(r"[A-Z]{2}", country):
        raise ProvisioningError(f"country {country!r} must be an ISO 3166 alpha-2 code such as US")
    values = {"name": name, **{k: v for k, v in address.items() if v is not None}}
    try:
        return await accounts.insert_warehouse(conn, values)
    except asyncpg.UniqueViolationError:
        raise ProvisioningError(f"a warehouse named {name!r} already exists") from None


async def create_api_user(
    conn: asyncpg.Connection, merchant_code: str, role: str, username: str, *, max_keys: int = DEFAULT_MAX_API_KEYS
) -> NewApiUser:
    """Create an API user; the key is returned once and only its hash is stored. A merchant
    has at most ``max_keys`` active keys (revoked users do not count)."""
    if role not in ROLES:
        raise ProvisioningError(f"role {role!r} is invalid: use one of {', '.join(ROLES)}")
    if not _USERNAME.match(username):
        raise ProvisioningError(
            f"username {username!r} is invalid: use 1-128 letters, digits, '_', '.', '@' or '-'"
        )
    api_key = new_api_key()
    async with conn.transaction():
        merchant_id = await _merchant_id(conn, merchant_code)
        if await accounts.count_active_api_users(conn, merchant_id) >= max_keys:
            raise ProvisioningError(API_KEY_LIMIT_MESSAGE.format(limit=max_keys))
        try:
            api_user_id = await accounts.insert_api_user(conn, merchant_id, username, role, hash_secret(api_key))
        except asyncpg.UniqueViolationError:
            raise ProvisioningError(f"an API user named {username!r} already exists") from None
    return NewApiUser(api_user_id, username, role, merchant_code, api_key)


async def list_api_users(conn: asyncpg.Connection, merchant_code: str | None) -> list[asyncpg.Record]:
    merchant_id = None if merchant_code is None else await _merchant_id(conn, merchant_code)
    return await accounts.list_api_users(conn, merchant_id)


async def revoke_api_user(conn: asyncpg.Connection, username: str) -> None:
    async with conn.transaction():
        if not await accounts.revoke_api_user(conn, username):
            raise ProvisioningError(f"no active API user named {username!r}")


async def set_api_user_limits(conn: asyncpg.Connection, username: str, values: dict[str, float | int | None]) -> None:
    """Set a user's own rate_limit (requests/s), rate_burst, concurrency_limit; None returns
    one to the server's setting, 0 turns it off for this user."""
    for name, value in values.items():
        if name not in LIMIT_COLUMNS:
            raise ProvisioningError(f"unknown limit {name!r}: use {', '.join(LIMIT_COLUMNS)}")
        if value is not None and (value < 0 or (name == "rate_burst" and value < 1)):
            raise ProvisioningError(f"{name} must be {'at least 1' if name == 'rate_burst' else '0 (off) or more'}, got {value}")
    if not await limits_store.set_user_limits(conn, username, values):
        raise ProvisioningError(f"no API user named {username!r}")


async def create_demo(conn: asyncpg.Connection) -> NewApiUser | None:
    """On an empty installation, a demo merchant with its store and an API user."""
    if await accounts.count_merchants(conn):
        return None
    await create_merchant(conn, "demo", "Demo Merchant")
    return await create_api_user(conn, "demo", "admin", "demo")
