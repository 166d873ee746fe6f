"""An entity's fields declared once, in one table, and what is derived from it: the input
model's fields, the columns a write takes, the defaults create and edit apply, the searchable
fields and the wire projection.

A resource's ``fields.py`` holds its table (a ``Fields`` of ``Field`` rows, in the order of the
entity's properties on the wire); its input models, queries and views read the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from pydantic.fields import FieldInfo

from rpc_fulfillment.core.filters import Kind

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Computed:
    """A value computed from the entity's other values (named in ``reads``): a default such as
    "USD when a declared value is given", or a column that follows another (carrier_code)."""

    function: Callable[[Row], Any]
    reads: tuple[str, ...]


def _same(value: Any) -> Any:
    return value


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Field:
    """One field of an entity. ``name`` is its property on the wire, its input key and, when it
    is stored in a column of its own, the column's name.

    Stored: ``sql_type`` (a column of that type), or ``bag`` (a key of that jsonb column), or
    neither (joined in by the read, computed, or input that is not stored as such).
    """

    name: str
    sql_type: str | None = None
    bag: str | None = None
    # Whether the entity's INSERT takes the column from the drafted values (False: the
    # database or the statement itself fills it: ids, timestamps, flags that start false).
    written: bool = True
    # Input: its type (a pydantic annotation; None: not read from input), whether create
    # requires it, and the value stored when it is absent or null (a constant or Computed);
    # ``derived``: a column always computed from others, never given.
    input: Any = None
    required: bool = False
    default: Any = None
    derived: Computed | None = None
    # Why the edit method refuses the key (None: edit may change it).
    not_editable: str | None = None
    # Search: the filter kind (None: not filterable), whether results sort on it, and its SQL
    # when that is not the column itself.
    search: Kind | None = None
    sortable: bool = False
    search_sql: str | None = None
    # Wire: the property's value from the stored one (None: not a property), or from the whole
    # row when it is computed, constant or joined; ``absent`` gives a bag key's value when unset.
    wire: Callable[[Any], Any] | None = _same
    value: Callable[[Row], Any] | None = None
    absent: Callable[[], Any] | None = None
    # What rpc.discover says of the input key, beyond its type.
    doc: str | None = None

    @property
    def column(self) -> bool:
        return self.sql_type is not None

    @property
    def editable(self) -> bool:
        return self.input is not None and self.not_editable is None

    def resolve(self, values: Row) -> Any:
        """The value to store given the entity's ``values``: derived, or given, or the default."""
        if self.derived is not None:
            return self.derived.function(values)
        given = values.get(self.name)
        if given is not None:
            return given
        return self.default.function(values) if isinstance(self.default, Computed) else self.default

    def reads(self) -> tuple[str, ...]:
        computed = self.derived or self.default
        return computed.reads if isinstance(computed, Computed) else ()

    def reader(self) -> Callable[[Row], Any]:
        """The property's wire value from a row (the table's columns plus what the read joins)."""
        wire = self.wire or _same
        if self.value is not None:
            value = self.value
            return lambda row: wire(value(row))
        if self.bag is not None:
            bag, name, absent = self.bag, self.name, self.absent or _nothing
            return lambda row: wire((row[bag] or {}).get(name, absent()))
        name = self.name
        return lambda row: wire(row[name])


def constant(value: Any) -> Callable[[Row], Any]:
    """A property every row has with the same value."""
    return lambda row: value


class Fields:
    """An entity's field table, in the order of its properties on the wire."""

    def __init__(self, *rows: Field) -> None:
        self.rows = rows
        self.by_name = {row.name: row for row in rows}
        if len(self.by_name) != len(rows):
            raise RuntimeError("a field table names a field twice")

    def __getitem__(self, name: str) -> Field:
        return self.by_name[name]

    # ---------------------------------------------------------------------------- input

    def inputs(self, order: Iterable[str] | None = None) -> tuple[Field, ...]:
        """The fields read from input, in table order or in ``order`` (which must name each
        of them exactly once)."""
        fields = tuple(row for row in self.rows if row.input is not None)
        if order is None:
            return fields
        names = tuple(order)
        if sorted(names) != sorted(row.name for row in fields):
            missing = sorted({row.name for row in fields} - set(names))
            unknown = sorted(set(names) - {row.name for row in fields})
            raise RuntimeError(f"input order: missing {missing or 'none'}, not input fields {unknown or 'none'}")
        return tuple(self.by_name[name] for name in names)

    def model_fields(self, order: Iterable[str] | None = None) -> dict[str, tuple[Any, FieldInfo]]:
        """pydantic ``create_model`` field definitions: each input field optional (None)."""
        return {row.name: (row.input | None, FieldInfo(default=None, description=row.doc)) for row in self.inputs(order)}

    def required(self) -> tuple[str, ...]:
        return tuple(row.name for row in self.rows if row.required)

    def editable(self) -> tuple[str, ...]:
        return tuple(row.name for row in self.rows if row.editable)

    def not_editable(self) -> dict[str, str]:
        return {row.name: row.not_editable for row in self.rows if row.not_editable is not None}

    # ---------------------------------------------------------------------------- storage

    def columns(self) -> tuple[tuple[str, str], ...]:
        """(name, SQL type) of every column the INSERT takes from the drafted values."""
        return tuple((row.name, row.sql_type) for row in self.rows if row.sql_type is not None and row.written)

    def in_bag(self, bag: str) -> tuple[str, ...]:
        return tuple(row.name for row in self.rows if row.bag == bag)

    def resolved(self, values: Row, names: Iterable[str] | None = None) -> dict[str, Any]:
        """The value to store of each written column (or of those ``names``), in table order,
        given ``values`` (the draft's, or an edit's merged over the row)."""
        wanted = None if names is None else set(names)
        return {row.name: row.resolve(values) for row in self.rows
                if row.column and row.written and (wanted is None or row.name in wanted)}

    def touched_by(self, given: Iterable[str]) -> tuple[str, ...]:
        """The columns to set when these fields are given: themselves (when stored in a column),
        and those whose default or value reads one of them."""
        given = set(given)
        return tuple(
            row.name for row in self.rows
            if row.column and (row.name in given or given & set(row.reads()))
        )

    # ---------------------------------------------------------------------------- search

    def search_kinds(self) -> dict[str, Kind]:
        return {row.name: row.search for row in self.rows if row.search is not None}

    def sortable(self) -> frozenset[str]:
        return frozenset(row.name for row in self.rows if row.sortable)

    def search_sql(self, alias: str) -> dict[str, str]:
        """Each filterable field's SQL: its own, or the column of the table aliased ``alias``."""
        return {row.name: row.search_sql or f"{alias}.{row.name}" for row in self.rows if row.search is not None}

    # ---------------------------------------------------------------------------- wire

    def properties(self) -> tuple[str, ...]:
        return tuple(row.name for row in self.rows if row.wire is not None)

    def projection(self) -> Callable[[Row], dict[str, Any]]:
        """The wire properties of a row, in table order."""
        readers = tuple((row.name, row.reader()) for row in self.rows if row.wire is not None)
        return lambda row: {name: read(row) for name, read in readers}
