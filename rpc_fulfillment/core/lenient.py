"""What loosely typed clients (PHP's json_encode, CSV imports) send for a typed value, read
as the value they mean: "3" and 3.0 for 3."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from rpc_fulfillment.core.validation import check_currency


# The one rule for a number written in a string, wherever the API reads one (quantities, whole
# numbers and ids, money, measures, filter values): digits 0-9 with an optional sign and decimal
# fraction, spaces around it ignored. Python's int(), float() and Decimal() would also take other
# scripts' digits (the Arabic-Indic "\u0663" is 3), "_" separators, exponents and "NaN".
_NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
NOT_A_NUMBER = "must be a number written with the digits 0-9"


def number_text(value: str) -> str | None:
    """``value`` without the spaces around it when it is a number by that rule; else None."""
    text = value.strip(" \t\r\n")
    return text if _NUMBER_TEXT.fullmatch(text) else None


def ascii_number(value: Any) -> Any:
    """A string given for a number: refused unless it is one by the rule above (pydantic's own
    int and Decimal parsing would take "1_000", and Decimal "\u0663")."""
    if isinstance(value, str) and number_text(value) is None:
        raise ValueError(f"{NOT_A_NUMBER}, got {value[:40]!r}")
    return value


def whole_quantity(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("must be a positive whole number")
    if isinstance(value, str) and (text := number_text(value)) is not None:
        value = float(text) if "." in text else int(text)
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
        text = number_text(value)
        if text is not None and "." not in text and len(text.lstrip("+-")) <= 18:
            return int(text)
    return None


def text_or_number(value: Any) -> Any:
    """Identifiers, SKUs and postcodes may arrive as numbers from loosely typed clients."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


# Identifiers a merchant chooses (SKUs, vendor SKUs, an order's unique_id, order_ref and its items'
# order_item_ref) are stored and looked up in Unicode NFC, so that the precomposed and the
# decomposed spelling of "\u00e9" are one identifier, not two records. Characters nobody sees are
# refused in them: controls (Cc), format characters such as zero-width spaces and joiners, bidi
# overrides and isolates, the BOM (Cf), line and paragraph separators (Zl, Zp) and lone surrogates
# (Cs); they would make two identifiers that look the same, or one that reads differently.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def identifier_key(value: str) -> str:
    """The spelling an identifier is stored and looked up under: its NFC form. Lookups refuse
    nothing, so a row stored before the rule with an invisible character stays reachable."""
    return unicodedata.normalize("NFC", value)


def check_identifier(value: str) -> str:
    """A new identifier: its NFC spelling; ValueError naming the first invisible character."""
    text = identifier_key(value)
    for position, char in enumerate(text, start=1):
        if unicodedata.category(char) in _INVISIBLE_CATEGORIES:
            raise ValueError(f"must not contain invisible or control characters (U+{ord(char):04X} at position {position})")
    return text


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
Money = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2), BeforeValidator(ascii_number)]
Currency = Annotated[str, AfterValidator(check_currency)]
Flag = Annotated[bool, Field(strict=False)]
# A whole number an integer (int4) column holds: checked here, since the database would refuse it
# only after the call had begun writing.
Int32 = Annotated[int, BeforeValidator(not_bool), BeforeValidator(ascii_number), Field(ge=-(2**31), le=2**31 - 1)]
Quantity = Annotated[int, BeforeValidator(whole_quantity)]  # units of an item: 1 to 1,000,000


def Identifier(max_length: int, *, min_length: int = 0) -> Any:  # noqa: N802 (a type, like the others)
    """The pydantic type of an identifier of ``min_length`` to ``max_length`` characters."""
    return Annotated[str, Field(min_length=min_length, max_length=max_length), BeforeValidator(text_or_number),
                     AfterValidator(check_identifier)]
