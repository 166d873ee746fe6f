"""Turning parsed search conditions into a parameterised SQL WHERE clause."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from rpc_fulfillment.domain.search import Condition, Page

_SQL_COMPARISON = {"eq": "=", "neq": "<>", "gt": ">", "lt": "<", "gteq": ">=", "lteq": "<=", "from": ">=", "to": "<="}


@dataclass(frozen=True)
class Column:
    """How a filterable field maps to SQL: an expression, optionally inside a wrapper such as
    ``EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.order_id AND {})``."""

    expression: str
    wrapper: str | None = None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class WhereBuilder:
    def __init__(self, params: list[Any] | None = None) -> None:
        self.params: list[Any] = params if params is not None else []
        self.clauses: list[str] = []

    def param(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"

    def add(self, clause: str) -> None:
        self.clauses.append(clause)

    def add_condition(self, condition: Condition, column: Column) -> None:
        expression, op, value = column.expression, condition.op, condition.value
        if op in _SQL_COMPARISON:
            test = f"{expression} {_SQL_COMPARISON[op]} {self.param(value)}"
        elif op == "in":
            test = f"{expression} = ANY({self.param(value)})"
        elif op == "nin":
            test = f"{expression} <> ALL({self.param(value)})"
        elif op == "null":
            test = f"{expression} IS NULL"
        elif op == "notnull":
            test = f"{expression} IS NOT NULL"
        elif op == "starts":
            test = f"{expression} LIKE {self.param(_escape_like(value) + '%')}"
        else:
            raise ValueError(f"operator {op!r} has no SQL")
        self.add(column.wrapper.format(test) if column.wrapper else test)

    def add_conditions(self, conditions: Sequence[Condition], columns: Mapping[str, Column]) -> None:
        for condition in conditions:
            self.add_condition(condition, columns[condition.field])

    @property
    def sql(self) -> str:
        return " AND ".join(self.clauses) if self.clauses else "TRUE"


def order_by(page: Page, columns: Mapping[str, Column], tiebreak: str) -> str:
    """ORDER BY ... LIMIT ... OFFSET ...; the tiebreak keeps pages stable."""
    direction = "DESC" if page.descending else "ASC"
    expression = columns[page.sort_field].expression
    keys = f"{expression} {direction}" + (f", {tiebreak} {direction}" if expression != tiebreak else "")
    return f"ORDER BY {keys} LIMIT {int(page.limit)} OFFSET {int(page.offset)}"
