"""state.get / state.set: argument checks and answers. Pure Python, no I/O.

State data is a small key-value store per merchant (ShipStream state.md), for an
integration's last sync time or its lock. A value is any JSON value and comes back as it was
set (the official plugins store strings, ``true`` and arrays). Limits: a key is 1 to 255
bytes (UTF-8), a value at most 2 KB (a string's UTF-8 bytes; any other value's compact JSON
text), and a merchant keeps at most MAX_KEYS keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

import orjson

from rpc_fulfillment.core.faults import Fault
from rpc_fulfillment.core.lenient import parse_flag, text_or_number, whole_number

INVALID = "state_invalid_data"
KEY_MAX_BYTES = 255
VALUE_MAX_BYTES = 2048
MAX_KEYS = 1000  # per merchant; also the most keys one call reads or writes
UPDATED_AT_FORMAT = "%Y-%m-%d %H:%M:%S"  # the docs' "2017-03-24 16:43:11", UTC
_NUMBER_TEXT = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?")


def invalid(detail: str) -> Fault:
    return Fault(INVALID, f"Invalid data given: {detail}")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_key(value: Any) -> str:
    """One key: a string (a number is read as its digits) of 1 to 255 bytes."""
    key = text_or_number(value)
    if not isinstance(key, str):
        raise invalid(f"a state key must be a string, got {_shown(value)}")
    size = len(key.encode())
    if size == 0:
        raise invalid("a state key must not be empty")
    if size > KEY_MAX_BYTES:
        raise invalid(f"the state key {_shown(key)} is {size} bytes long; at most {KEY_MAX_BYTES} bytes")
    if "\x00" in key:
        raise invalid(f"the state key {_shown(key)} contains a NUL character")
    return key


def _check_count(count: int, what: str) -> None:
    if count > MAX_KEYS:
        raise invalid(f"{what} names {count} keys; at most {MAX_KEYS} at once")


def parse_get_keys(keys: Any) -> tuple[list[str], bool]:
    """state.get's keys: one key (answered with its value) or an array of keys (answered with
    an object of them). Returns the keys and whether an object is answered."""
    if isinstance(keys, list):
        _check_count(len(keys), "keys")
        return list(dict.fromkeys(parse_key(key) for key in keys)), True
    return [parse_key(keys)], False


def parse_detailed(value: Any) -> bool:
    detailed = False if value is None else parse_flag(value)
    if detailed is None:
        raise invalid(f"detailed must be true or false, got {_shown(value)}")
    return detailed


def encode_value(key: str, value: Any) -> str | None:
    """The JSON text stored for ``value``; None for null (which deletes the key)."""
    if value is None:
        return None
    try:
        text = orjson.dumps(value).decode()
    except orjson.JSONEncodeError as error:  # integers beyond 64 bits
        raise invalid(f"the value of {_shown(key)} cannot be stored: {error}") from None
    size = len(value.encode()) if isinstance(value, str) else len(text.encode())
    if size > VALUE_MAX_BYTES:
        raise invalid(f"the value of {_shown(key)} is {size} bytes long; at most {VALUE_MAX_BYTES} bytes")
    return text


def if_equals_texts(value: Any) -> list[str] | None:
    """The stored JSON texts that ``ifEquals`` matches; None when it is not given. Compared as
    PHP's == compares a string and a number: 5 and "5" match either of "5" and 5."""
    if value is None:
        return None
    number = whole_number(value) if not isinstance(value, str) else None
    if number is not None:
        return [str(number), orjson.dumps(str(number)).decode()]
    if not isinstance(value, str):
        raise invalid(f"ifEquals must be a string or a whole number, got {_shown(value)}")
    texts = [orjson.dumps(value).decode()]
    if _NUMBER_TEXT.fullmatch(value):
        texts.append(value)
    return texts


@dataclass(frozen=True)
class StateWrite:
    """What one state.set writes: the keys to set (to their JSON text), the keys to delete,
    and the stored texts a key must have for its write to happen (None: unconditional)."""

    values: dict[str, str]
    deletes: list[str]
    if_equals: list[str] | None


def parse_set(keys: Any, data: Any, if_equals: Any) -> StateWrite:
    """state.set's arguments: a key and its value, or an object of keys and values (``data``
    then null); a null value deletes its key."""
    if isinstance(keys, dict) or keys == []:  # PHP's json_encode writes an empty array as []
        if data is not None:
            raise invalid("data must be null when keys is an object of keys and values")
        pairs = dict(keys or {})
        _check_count(len(pairs), "keys")
    elif isinstance(keys, list):
        raise invalid("keys must be a key or an object of keys and values, not an array")
    else:
        pairs = {keys: data}
    values: dict[str, str] = {}
    deletes: list[str] = []
    for raw_key, value in pairs.items():
        key = parse_key(raw_key)
        text = encode_value(key, value)
        if text is None:
            deletes.append(key)
        else:
            values[key] = text
    return StateWrite(values, deletes, if_equals_texts(if_equals))


def state_view(row: Mapping[str, Any] | None, detailed: bool) -> Any:
    """A key's answer: its value, or with ``detailed`` {value, updated_at, update_count};
    null for a key that is not set."""
    if row is None:
        return None
    value = orjson.loads(row["value"])
    if not detailed:
        return value
    updated_at: datetime = row["updated_at"]
    return {
        "value": value,
        "updated_at": updated_at.astimezone(timezone.utc).strftime(UPDATED_AT_FORMAT),
        "update_count": row["update_count"],
    }


def get_answer(keys: list[str], as_object: bool, rows: list[Mapping[str, Any]], detailed: bool) -> Any:
    """state.get's answer: one key's value, or an object of every asked key (null where unset)."""
    found = {row["state_key"]: row for row in rows}
    if not as_object:
        return state_view(found.get(keys[0]), detailed)
    return {key: state_view(found.get(key), detailed) for key in keys}
