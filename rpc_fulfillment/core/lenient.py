"""What loosely typed clients (PHP's json_encode, CSV imports) send for a typed value, read
as the value they mean: "3" and 3.0 for 3."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from rpc_fulfillment.core.validation import check_currency


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


def whole_number(value: Any) -> int | None:
    """An int, an integral float, or a string of up to 18 digits with an optional sign, as the
    int it means; None for anything else (true and false included: they are not 1 and 0)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] in "+-" else text
        if digits.isascii() and digits.isdigit() and len(digits) <= 18:
            return int(text)
    return None


def text_or_number(value: Any) -> Any:
    """Identifiers, SKUs and postcodes may arrive as numbers from loosely typed clients."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def parse_flag(value: Any) -> bool | None:
    """true/false, 1/0 or "1"/"0"/"true"/"false" (PHP clients send any of them); else None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("0", "1", "true", "false"):
        return value.strip().lower() in ("1", "true")
    return None


def not_bool(value: Any) -> Any:
    """JSON true/false are not the numbers 1 and 0 (pydantic's lax int would take them)."""
    if isinstance(value, bool):
        raise ValueError("must be a whole number, not true or false")
    return value


# pydantic types for what such clients send.
Text = Annotated[str, Field(max_length=255)]
LongText = Annotated[str, Field(max_length=65535)]
Money = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
Currency = Annotated[str, AfterValidator(check_currency)]
Flag = Annotated[bool, Field(strict=False)]
# A whole number an integer (int4) column holds: checked here, since the database would refuse it
# only after the call had begun writing.
Int32 = Annotated[int, BeforeValidator(not_bool), Field(ge=-(2**31), le=2**31 - 1)]
Quantity = Annotated[int, BeforeValidator(whole_quantity)]  # units of an item: 1 to 1,000,000
