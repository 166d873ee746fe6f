"""Turning parsed search conditions into a parameterised SQL WHERE clause."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from rpc_fulfillment.core.filters import Condition, Page

# On a field of the children (Column.wrapper), the operators that ask about the children as a
# whole: (whether NO child may pass, the test a child passes; None: being there at all).
_OF_CHILDREN: dict[str, tuple[bool, str | None]] = {
    "neq": (True, "eq"), "nin": (True, "in"), "null": (True, None), "notnull": (False, None),
}
# Each operator's SQL, as (on a scalar column, on an array column): {e} is the column's
# expression, {v} the value as a parameter typed for the comparison, {p} the value as a plain
# parameter, {like} a LIKE pattern of values starting with it. NULL is "not equal" too:
# {"vendor_sku": {"neq": "x"}} keeps products without one.
_COMPARISONS = {"eq": "=", "gt": ">", "lt": "<", "gteq": ">=", "lteq": "<=", "from": ">=", "to": "<="}
_OPERATOR_SQL: dict[str, tuple[str, str | None]] = {
    **{op: (f"{{e}} {sql} {{v}}", None) for op, sql in _COMPARISONS.items()},
    "eq": ("{e} = {v}", "{e} @> ARRAY[{p}::text]"),
    "neq": ("{e} IS DISTINCT FROM {v}", "NOT ({e} @> ARRAY[{p}::text])"),
    "in": ("{e} = ANY({v})", "{e} && {p}::text[]"),
    "nin": ("({e} IS NULL OR {e} <> ALL({v}))", "NOT ({e} && {p}::text[])"),
    "null": ("{e} IS NULL", "cardinality({e}) = 0"),
    "notnull": ("{e} IS NOT NULL", "cardinality({e}) > 0"),
    "starts": ("{e} LIKE {like}", "EXISTS (SELECT 1 FROM unnest({e}) AS element WHERE element LIKE {like})"),
}


@dataclass(frozen=True)
class Column:
    """How a filterable field maps to SQL: an expression, optionally inside a wrapper such as
    ``EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.order_id AND {})``: a field of
    the row's children (an order's lines). Then a test asks whether SOME child matches, and its
    negation whether NONE does: neq and nin (no line of that SKU), null (no child at all).

    ``array`` marks an array column (``text[]``): eq/neq test whether it contains a value,
    in/nin whether it shares any value with a list, starts whether any element starts with a
    prefix, null/notnull whether it is empty.
    """

    expression: str
    wrapper: str | None = None
    array: bool = False


# Plans for the values of this search, never the statement's generic plan (the pool's
# connections keep generic plans, db/pool.py): for a search whose best plan depends on the
# values, such as a status that selects most rows or very few, or a LIKE prefix on a
# text_pattern_ops index (usable only with the pattern known). SET LOCAL: inside the search's
# transaction.
CUSTOM_PLANS = "SET LOCAL plan_cache_mode = force_custom_plan"


def columns_for(fields: Iterable[str], columns: Mapping[str, Column], what: str) -> dict[str, Column]:
    """The SQL of each of the domain's ``fields`` (a filter or sort table), in its order.
    Raises at import when a field has no SQL or the SQL names a field the domain does not,
    so the API description, the service's checks and the store cannot drift apart."""
    names = list(fields)
    missing, extra = sorted(set(names) - set(columns)), sorted(set(columns) - set(names))
    if missing or extra:
        raise RuntimeError(f"{what}: no SQL for {missing or 'none'}; SQL for fields the domain does not know: {extra or 'none'}")
    return {name: columns[name] for name in names}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class WhereBuilder:
    def __init__(self, params: list[Any] | None = None) -> None:
        self.params: list[Any] = params if params is not None else []
        self.clauses: list[str] = []

    @classmethod
    def for_merchant(cls, merchant_id: int, merchant_column: str, conditions: Sequence[Condition],
                     columns: Mapping[str, Column]) -> "WhereBuilder":
        """The conditions of one merchant's search: every tenant-owned search starts here."""
        where = cls([merchant_id])
        where.add(f"{merchant_column} = $1")
        where.add_conditions(conditions, columns)
        return where

    def param(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"

    def _typed(self, value: Any) -> str:
        """A parameter; whole numbers as bigint, so any 64-bit filter value compares with a
        smallint or integer column instead of overflowing the column's type."""
        placeholder = self.param(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{placeholder}::bigint"
        if isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return f"{placeholder}::bigint[]"
        return placeholder

    def add(self, clause: str) -> None:
        self.clauses.append(clause)

    def _test(self, expression: str, op: str, value: Any, array: bool = False) -> str:
        scalar, on_array = _OPERATOR_SQL.get(op, (None, None))
        template = on_array if array else scalar
        if template is None:
            raise ValueError(f"operator {op!r} " + ("does not apply to an array column" if array else "has no SQL"))
        # Only the placeholders the template uses become parameters.
        values = {
            "v": lambda: self._typed(value),
            "p": lambda: self.param(value),
            "like": lambda: self.param(_escape_like(value) + "%"),
        }
        return template.format(e=expression, **{name: make() for name, make in values.items() if f"{{{name}}}" in template})

    def add_condition(self, condition: Condition, column: Column) -> None:
        if column.wrapper and condition.op in _OF_CHILDREN:
            none, child_op = _OF_CHILDREN[condition.op]
            test = "TRUE" if child_op is None else self._test(column.expression, child_op, condition.value)
            clause = column.wrapper.format(test)
            self.add(f"NOT {clause}" if none else clause)
            return
        test = self._test(column.expression, condition.op, condition.value, column.array)
        self.add(column.wrapper.format(test) if column.wrapper else test)

    def add_conditions(self, conditions: Sequence[Condition], columns: Mapping[str, Column]) -> None:
        for condition in conditions:
            self.add_condition(condition, columns[condition.field])

    @property
    def sql(self) -> str:
        return " AND ".join(self.clauses) if self.clauses else "TRUE"


def order_by(page: Page, columns: Mapping[str, Column], tiebreak: str) -> str:
    """ORDER BY ... LIMIT ... OFFSET ...; the tiebreak (a unique column) keeps pages stable."""
    direction = "DESC" if page.descending else "ASC"
    expression = columns[page.sort_field].expression
    keys = f"{expression} {direction}" + (f", {tiebreak} {direction}" if expression != tiebreak else "")
    return f"ORDER BY {keys} LIMIT {int(page.limit)} OFFSET {int(page.offset)}"


async def fetch_rows(
    conn: Any, source: str, select: str, where: WhereBuilder, page: Page, columns: Mapping[str, Column], tiebreak: str
) -> list[Any]:
    """One page of ``SELECT {select} FROM {source} WHERE {where}``, uncounted: for the searches
    that answer a plain array (product.search, shipment.search)."""
    return await conn.fetch(
        f"SELECT {select} FROM {source} WHERE {where.sql} {order_by(page, columns, tiebreak)}", *where.params
    )


async def fetch_page(
    conn: Any, source: str, select: str, where: WhereBuilder, page: Page, columns: Mapping[str, Column], tiebreak: str
) -> tuple[list[Any], int]:
    """One page of ``SELECT {select} FROM {source} WHERE {where}`` and the total count.

    The count comes with the page (``count(*) OVER ()``: one statement, one snapshot); only a
    page past the end needs a second query to count. Rows carry an extra ``total_count``.
    """
    rows = await conn.fetch(
        f"SELECT {select}, count(*) OVER () AS total_count FROM {source} WHERE {where.sql} "
        f"{order_by(page, columns, tiebreak)}",
        *where.params,
    )
    if rows:
        return rows, rows[0]["total_count"]
    if page.offset == 0:
        return [], 0
    return [], await conn.fetchval(f"SELECT count(*) FROM {source} WHERE {where.sql}", *where.params)
