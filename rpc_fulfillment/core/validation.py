"""Turning pydantic validation errors into one sentence that names each field and problem."""

from __future__ import annotations

from typing import Any

import pycountry
from pydantic import BaseModel, ConfigDict, ValidationError

COUNTRIES = frozenset(country.alpha_2 for country in pycountry.countries)
CURRENCIES = frozenset(currency.alpha_3 for currency in pycountry.currencies)


class InputModel(BaseModel):
    """An API argument's model: unknown keys refused, strings stripped, values immutable."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


def _location(prefix: str, loc: tuple[Any, ...]) -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part not in ("function-after", "function-before", "function-plain") and not str(part).startswith(("function-", "constrained-")):
            path += f".{part}" if path else str(part)
    return path or "value"


def describe(error: ValidationError, prefix: str = "") -> str:
    """``info.priority: must be at most 100; info.foo: unknown key``"""
    problems = []
    for item in error.errors(include_url=False):
        loc = tuple(part for part in item["loc"] if not (isinstance(part, str) and part[:1].isupper() and "[" in part))
        where = _location(prefix, loc)
        if item["type"] == "extra_forbidden":
            problems.append(f"{where}: unknown key")
        elif item["type"] == "missing":
            problems.append(f"{where}: is required")
        else:
            message = str(item["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
            problems.append(f"{where}: {message[0].lower() + message[1:] if message else message}")
    return "; ".join(problems)


def check_country(value: str) -> str:
    code = value.strip().upper()
    if code not in COUNTRIES:
        raise ValueError(f"'{value}' is not an ISO 3166-1 alpha-2 country code")
    return code


def check_currency(value: str) -> str:
    code = value.strip().upper()
    if code not in CURRENCIES:
        raise ValueError(f"'{value}' is not an ISO 4217 currency code")
    return code


def nul_location(value: Any, path: str) -> str | None:
    """Where in a JSON value a string or an object key holds U+0000 (which PostgreSQL text and
    jsonb cannot store), as ``info.custom_fields.x``; None when nowhere."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            name = str(key)
            if "\x00" in name:
                return f"{path}." + name.replace("\x00", "\\u0000")
            where = f"{path}.{name}"
            if (found := nul_location(item, where)) is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if (found := nul_location(item, f"{path}[{index}]")) is not None:
                return found
    return None
