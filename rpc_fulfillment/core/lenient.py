"""What loosely typed clients (PHP's json_encode, CSV imports) send for a typed value, read
as the value they mean: "3" and 3.0 for 3."""

from __future__ import annotations

import re
from typing import Any


def whole_quantity(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("must be a positive whole number")
    if isinstance(value, str) and re.fullmatch(r"\s*\d+(\.0*)?\s*", value):
        value = float(value) if "." in value else int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or value <= 0:
        raise ValueError(f"must be a positive whole number, got {value!r}")
    if value > 1_000_000:
        raise ValueError("must be at most 1000000")
    return value
