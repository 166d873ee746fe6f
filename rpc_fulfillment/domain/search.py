"""ShipStream search filters and options, parsed and checked (no SQL here).

Filters: ``{"field": {"op": value, ...}, ...}`` combined with AND; a bare scalar means ``eq``.
Operators: eq, neq, starts, gt, lt, gteq, lteq, from, to (with ``"datetime": true``), in, nin,
null, notnull. Options: sort_field, sort_dir, page, limit (default 50, at most 100).
Every problem is the resource's "invalid filters" fault with a message naming the field.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Any, Mapping

from rpc_fulfillment.domain.faults import Fault

DEFAULT_LIMIT = 50
MAX_LIMIT = 100


class Kind(enum.Enum):
    INTEGER = "integer"
    TEXT = "text"
    TIMESTAMP = "timestamp"
    DATE = "date"


COMPARISONS = {"eq", "neq", "gt", "lt", "gteq", "lteq"}
LISTS = {"in", "nin"}
NULLS = {"null", "notnull"}
RANGES = {"from", "to"}
OPERATORS = COMPARISONS | LISTS | NULLS | RANGES | {"starts"}


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


def _parse_datetime(value: str, *, end_of_day: bool) -> datetime:
    """A date (the first or last moment of that day) or a date-time, in UTC unless offset."""
    text = value.strip()
    if len(text) == 10:
        day = date.fromisoformat(text)
        return datetime.combine(day, time.max if end_of_day else time.min, tzinfo=timezone.utc)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _coerce(kind: Kind, value: Any, *, end_of_day: bool = False) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        raise ValueError("expected a single value")
    if kind is Kind.INTEGER:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError("expected a whole number")
        number = int(value) if isinstance(value, (int, float)) else int(str(value).strip())
        if not -(2**63) <= number < 2**63:
            raise ValueError("number out of range")
        return number
    if kind is Kind.TEXT:
        return str(value)
    if not isinstance(value, str):
        raise ValueError("expected a date string such as 2024-01-31")
    if kind is Kind.DATE:
        return date.fromisoformat(value.strip()[:10])
    return _parse_datetime(value, end_of_day=end_of_day)


def _conditions_for(field: str, kind: Kind, spec: Any, fault: str) -> list[Condition]:
    if not isinstance(spec, dict):
        spec = {"eq": spec}
    spec = dict(spec)
    spec.pop("datetime", None)  # accepted for compatibility: a date-only value spans its day
    if not spec:
        raise _problem(fault, f"'{field}' needs an operator such as eq")
    conditions = []
    for op, value in spec.items():
        if op not in OPERATORS:
            raise _problem(fault, f"unknown operator '{op}' for '{field}' (use one of {', '.join(sorted(OPERATORS))})")
        try:
            conditions.append(Condition(field, op, _operand(kind, op, value)))
        except ValueError as exc:
            raise _problem(fault, f"'{field}' {op}: {exc}") from None
    return conditions


def _operand(kind: Kind, op: str, value: Any) -> Any:
    if op in NULLS:
        return None
    if op in LISTS:
        if not isinstance(value, list) or not value:
            raise ValueError("expected a non-empty array")
        return [_coerce(kind, item) for item in value]
    if op == "starts":
        if kind is not Kind.TEXT:
            raise ValueError("starts applies only to text fields")
        return _coerce(kind, value)
    return _coerce(kind, value, end_of_day=(op == "to"))


def parse_filters(filters: Any, fields: Mapping[str, Kind], fault: str) -> list[Condition]:
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


def _positive_int(name: str, value: Any, fault: str) -> int:
    if isinstance(value, bool):
        raise _problem(fault, f"option {name} must be a positive whole number")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise _problem(fault, f"option {name} must be a positive whole number") from None
    if number < 1 or number != value and str(number) != str(value).strip():
        raise _problem(fault, f"option {name} must be a positive whole number")
    return number


def parse_options(options: Any, sort_fields: frozenset[str] | set[str], default_sort: str, fault: str) -> Page:
    if options is None or options == []:
        options = {}
    if not isinstance(options, dict):
        raise _problem(fault, "options must be an object such as {\"page\": 1, \"limit\": 50}")
    unknown = set(options) - {"sort_field", "sort_dir", "page", "limit"}
    if unknown:
        raise _problem(fault, f"unknown option(s) {', '.join(sorted(unknown))}")
    sort_field = options.get("sort_field") or default_sort
    if sort_field not in sort_fields:
        raise _problem(fault, f"cannot sort on '{sort_field}' (sortable: {', '.join(sorted(sort_fields))})")
    direction = str(options.get("sort_dir") or "asc").lower()
    if direction not in ("asc", "desc"):
        raise _problem(fault, "option sort_dir must be asc or desc")
    page = _positive_int("page", options.get("page", 1), fault)
    limit = _positive_int("limit", options.get("limit", DEFAULT_LIMIT), fault)
    if limit > MAX_LIMIT:
        raise _problem(fault, f"option limit must be at most {MAX_LIMIT}")
    return Page(sort_field, direction == "desc", page, limit)


def paginated(results: list[Any], total: int, page: Page) -> dict[str, Any]:
    """ShipStream's paginated shape."""
    return {"results": results, "totalCount": total, "numPages": math.ceil(total / page.limit) if total else 0}
