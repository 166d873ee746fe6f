"""ShipStream search filters and options, parsed and checked (no SQL here).

Filters: ``{"field": {"op": value, ...}, ...}`` combined with AND; a bare scalar means ``eq``.
Operators: eq, neq, starts, gt, lt, gteq, lteq, from, to (with ``"datetime": true``), in, nin,
null, notnull. Options: sort_field, sort_dir, page, limit (default 50, at most 100).
Every problem is the resource's "invalid filters" fault with a message naming the field.

Dates: a date-only value (``2024-01-31``) on a timestamp field stands for that whole day in UTC
(we have no per-merchant time zone yet): ``from``/``gteq``/``lt`` compare with its first moment,
``to``/``lteq``/``gt`` with its last, and ``eq`` matches any moment of the day.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Any, Mapping

from rpc_fulfillment.core.faults import Fault
from rpc_fulfillment.core.lenient import identifier_key, number_text, whole_number

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_PAGE = 2**31 - 1
MAX_LIST = 1000  # most values in one in / nin list


class Kind(enum.Enum):
    INTEGER = "integer"
    TEXT = "text"
    # An identifier (SKU, unique_id, order_ref): text, compared in NFC as identifiers are stored.
    IDENTIFIER = "identifier"
    TIMESTAMP = "timestamp"
    DATE = "date"
    # A list of text values (a product's barcodes): eq/neq/in/nin test membership.
    TEXT_LIST = "text list"


COMPARISONS = {"eq", "neq", "gt", "lt", "gteq", "lteq"}
LISTS = {"in", "nin"}
NULLS = {"null", "notnull"}
RANGES = {"from", "to"}
OPERATORS = COMPARISONS | LISTS | NULLS | RANGES | {"starts"}

ALLOWED: dict[Kind, frozenset[str]] = {
    Kind.INTEGER: frozenset(COMPARISONS | LISTS | NULLS | RANGES),
    Kind.TEXT: frozenset(OPERATORS),
    Kind.IDENTIFIER: frozenset(OPERATORS),
    Kind.TIMESTAMP: frozenset(COMPARISONS | LISTS | NULLS | RANGES),
    Kind.DATE: frozenset(COMPARISONS | LISTS | NULLS | RANGES),
    Kind.TEXT_LIST: frozenset({"eq", "neq", "in", "nin", "starts"} | NULLS),
}

# Operators that compare with the upper end of a date-only value's day.
_END_OF_DAY = {"to", "lteq", "gt"}


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class Page:
    sort_field: str
    descending: bool
    page: int
    limit: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


def _problem(fault: str, message: str) -> Fault:
    return Fault(fault, f"Invalid filters given: {message}")


def _is_date_only(text: str) -> bool:
    return len(text.strip()) == 10


class MomentOutOfRange(ValueError):
    """A well-formed date-time outside the years the database and Python both hold (1 to 9999, UTC)."""


def _moment_as_given(value: str, *, end_of_day: bool) -> datetime:
    """A date (the first or last moment of that day, UTC) or a date-time, UTC unless it has an
    offset, which it keeps. Raises ValueError with a sentence for anything else."""
    text = value.strip()
    try:
        if _is_date_only(text):
            day = date.fromisoformat(text)
            return datetime.combine(day, time.max if end_of_day else time.min, tzinfo=timezone.utc)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{value[:40]!r} is not a date or date-time (use 2024-01-31 or 2024-01-31T12:00:00+00:00)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def parse_datetime(value: str, *, end_of_day: bool = False) -> datetime:
    """A date or date-time as ``_moment_as_given`` reads it, in UTC: the database compares and
    stores it in UTC, where a moment of year 1 or 9999 with an offset may fall outside the years
    1 to 9999 that Python holds (MomentOutOfRange, a ValueError, rather than an OverflowError
    when the query is sent)."""
    moment = _moment_as_given(value, end_of_day=end_of_day)
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:
        raise MomentOutOfRange(f"{value[:40]!r} is out of range (years 1 to 9999 in UTC)") from None


def _coerce(kind: Kind, value: Any, *, end_of_day: bool = False) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        raise ValueError("expected a single value (a string or a number)")
    if kind is Kind.INTEGER:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{value!r} is not a whole number")
        if isinstance(value, str):
            text = number_text(value)
            if text is None or "." in text:
                raise ValueError(f"{value[:40]!r} is not a whole number")
            value = text
        try:
            number = int(value)
        except (ValueError, OverflowError):
            raise ValueError(f"{str(value)[:40]!r} is not a whole number") from None
        if not -(2**63) <= number < 2**63:
            raise ValueError("number out of range")
        return number
    if kind in (Kind.TEXT, Kind.TEXT_LIST, Kind.IDENTIFIER):
        text = value if isinstance(value, str) else str(value)
        return identifier_key(text) if kind is Kind.IDENTIFIER else text
    if not isinstance(value, str):
        raise ValueError("expected a date string such as 2024-01-31")
    if kind is Kind.DATE:
        # A date, or a date-time (as clients send for any date field): its date, as given.
        try:
            return _moment_as_given(value, end_of_day=False).date()
        except ValueError:
            raise ValueError(f"{value[:40]!r} is not a date (use 2024-01-31)") from None
    return parse_datetime(value, end_of_day=end_of_day)


def _operand(kind: Kind, op: str, value: Any) -> Any:
    if op in NULLS:
        return None
    if op in LISTS:
        if not isinstance(value, list) or not value:
            raise ValueError("expected a non-empty array")
        if len(value) > MAX_LIST:
            raise ValueError(f"at most {MAX_LIST} values")
        return [_coerce(kind, item) for item in value]
    return _coerce(kind, value, end_of_day=op in _END_OF_DAY)


def _conditions_for(field: str, kind: Kind, spec: Any, fault: str) -> list[Condition]:
    if not isinstance(spec, dict):
        spec = {"eq": spec}
    spec = dict(spec)
    spec.pop("datetime", None)  # accepted for compatibility: a date-only value spans its day
    if not spec:
        raise _problem(fault, f"'{field}' needs an operator such as eq")
    allowed = ALLOWED[kind]
    conditions = []
    for op, value in spec.items():
        if op not in OPERATORS:
            raise _problem(fault, f"unknown operator '{op}' for '{field}' (use one of {', '.join(sorted(allowed))})")
        if op not in allowed:
            raise _problem(fault, f"operator '{op}' does not apply to '{field}' (use one of {', '.join(sorted(allowed))})")
        try:
            if kind is Kind.TIMESTAMP and op == "eq" and isinstance(value, str) and _is_date_only(value):
                # eq with a date: any moment of that day
                conditions.append(Condition(field, "from", _coerce(kind, value)))
                conditions.append(Condition(field, "to", _coerce(kind, value, end_of_day=True)))
                continue
            conditions.append(Condition(field, op, _operand(kind, op, value)))
        except ValueError as exc:
            raise _problem(fault, f"'{field}' {op}: {exc}") from None
    return conditions


def parse_filters(filters: Any, fields: Mapping[str, Kind], fault: str) -> list[Condition]:
    """The conditions of a filters object; ``null``, ``{}`` and ``[]`` (PHP's empty array) mean none."""
    if filters is None or filters == []:
        return []
    if not isinstance(filters, dict):
        raise _problem(fault, "filters must be an object such as {\"status\": {\"eq\": \"new\"}}")
    conditions: list[Condition] = []
    for field, spec in filters.items():
        kind = fields.get(field)
        if kind is None:
            raise _problem(fault, f"cannot filter on '{field}' (filterable: {', '.join(sorted(fields))})")
        conditions.extend(_conditions_for(field, kind, spec, fault))
    return conditions


def _positive_int(name: str, value: Any, fault: str, maximum: int) -> int:
    number = whole_number(value)
    if number is None or not 1 <= number <= maximum:
        raise _problem(fault, f"option {name} must be a whole number from 1 to {maximum}")
    return number


def parse_options(options: Any, sort_fields: frozenset[str] | set[str], default_sort: str, fault: str) -> Page:
    """Search options; ``null``, ``{}`` and ``[]`` mean the defaults."""
    if options is None or options == []:
        options = {}
    if not isinstance(options, dict):
        raise _problem(fault, "options must be an object such as {\"page\": 1, \"limit\": 50}")
    unknown = set(options) - {"sort_field", "sort_dir", "page", "limit"}
    if unknown:
        raise _problem(fault, f"unknown option(s) {', '.join(sorted(unknown))} (use sort_field, sort_dir, page, limit)")
    sort_field = options.get("sort_field")
    if sort_field is None or sort_field == "":
        sort_field = default_sort
    if not isinstance(sort_field, str) or sort_field not in sort_fields:
        raise _problem(fault, f"cannot sort on {sort_field!r:.60} (sortable: {', '.join(sorted(sort_fields))})")
    direction = options.get("sort_dir")
    direction = "asc" if direction is None or direction == "" else direction
    if not isinstance(direction, str) or direction.lower() not in ("asc", "desc"):
        raise _problem(fault, "option sort_dir must be asc or desc")
    page = options.get("page")
    page = 1 if page is None else _positive_int("page", page, fault, MAX_PAGE)
    limit = options.get("limit")
    limit = DEFAULT_LIMIT if limit is None else _positive_int("limit", limit, fault, MAX_LIMIT)
    return Page(sort_field, direction.lower() == "desc", page, limit)


def paginated(results: list[Any], total: int, page: Page) -> dict[str, Any]:
    """ShipStream's paginated shape."""
    return {"results": results, "totalCount": total, "numPages": math.ceil(total / page.limit) if total else 0}


@dataclass(frozen=True)
class Search:
    """One resource's search, declared once: the fields its filters take (with their kinds), the
    fields it sorts by and its default order, and the fault that bad filters or options get."""

    fields: Mapping[str, Kind]
    sort_fields: frozenset[str] | set[str]
    default_sort: str
    fault: str

    def parse(self, filters: Any, options: Any) -> tuple[list[Condition], Page]:
        return (parse_filters(filters, self.fields, self.fault),
                parse_options(options, self.sort_fields, self.default_sort, self.fault))
