"""ShipStream's wire formats: quantities and weights as decimal strings (product weights and
dimensions as numbers), ISO 8601 timestamps."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal


def quantity(value: int | Decimal | None) -> str | None:
    """12 -> "12.0000", as ShipStream writes quantities."""
    return None if value is None else f"{Decimal(value):.4f}"


def decimal(value: Decimal | int | float | None, places: int = 4) -> str | None:
    return None if value is None else f"{Decimal(value):.{places}f}"


def number(value: Decimal | None) -> int | float | None:
    """A JSON number where ShipStream writes one (product weights and dimensions): 12.75, or 12
    when whole. The stored values have at most 4 decimal places and 8 integer digits, which a
    float holds exactly enough to print the same digits back."""
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def flag(value: bool) -> int:
    """ShipStream's flags (is_active): 1 or 0."""
    return 1 if value else 0


def timestamp(value: datetime | None) -> str | None:
    """UTC with an explicit offset: 2014-07-30T18:52:30+00:00."""
    if value is None:
        return None
    return value.astimezone(timezone.utc).replace(microsecond=0).isoformat()


def day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()
