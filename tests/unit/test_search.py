"""Search filters and options (core/filters.py) and their SQL (db/search.py): no database."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timezone

import pytest

from rpc_fulfillment.core.faults import Fault
from rpc_fulfillment.core.filters import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Condition,
    Kind,
    Page,
    paginated,
    parse_datetime,
    parse_filters,
    parse_options,
)
from rpc_fulfillment.db.search import Column, WhereBuilder, columns_for, order_by

FAULT = "product_invalid_filters"
FIELDS = {
    "id": Kind.INTEGER,
    "sku": Kind.TEXT,
    "created_at": Kind.TIMESTAMP,
    "ship_date": Kind.DATE,
    "barcode": Kind.TEXT_LIST,
}
SORTS = frozenset({"id", "sku", "created_at"})
UTC = timezone.utc


def fault_of(call, *args, **kwargs) -> Fault:
    with pytest.raises(Fault) as caught:
        call(*args, **kwargs)
    return caught.value


def filters_fault(filters) -> str:
    fault = fault_of(parse_filters, filters, FIELDS, FAULT)
    assert fault.name == FAULT and fault.number == 108
    assert fault.message.startswith("Invalid filters given: ")
    return fault.message


# -- parse_filters ---------------------------------------------------------------------------


@pytest.mark.parametrize("empty", [None, [], {}])
def test_no_filters(empty):
    assert parse_filters(empty, FIELDS, FAULT) == []


def test_bare_scalar_means_eq():
    assert parse_filters({"sku": "A-1"}, FIELDS, FAULT) == [Condition("sku", "eq", "A-1")]


def test_several_fields_and_operators_are_anded():
    conditions = parse_filters({"id": {"gt": 5, "lteq": "9"}, "sku": {"starts": "ab"}}, FIELDS, FAULT)
    assert conditions == [Condition("id", "gt", 5), Condition("id", "lteq", 9), Condition("sku", "starts", "ab")]


@pytest.mark.parametrize(
    "value, expected", [(5, 5), ("  12 ", 12), (7.0, 7), ("-3", -3), (2**63 - 1, 2**63 - 1)]
)
def test_integer_values(value, expected):
    assert parse_filters({"id": {"eq": value}}, FIELDS, FAULT) == [Condition("id", "eq", expected)]


@pytest.mark.parametrize("value", ["abc", "", 1.5, True, None, [1], {"a": 1}, 2**63, "1e3"])
def test_bad_integer_values_name_the_field(value):
    message = filters_fault({"id": {"eq": value}})
    assert "'id' eq" in message


def test_text_values_are_strings():
    assert parse_filters({"sku": {"in": [1, "b", 2.5]}}, FIELDS, FAULT) == [Condition("sku", "in", ["1", "b", "2.5"])]


def test_in_and_nin_need_a_non_empty_array():
    assert "non-empty array" in filters_fault({"id": {"in": []}})
    assert "non-empty array" in filters_fault({"id": {"nin": 5}})
    assert "at most 1000" in filters_fault({"id": {"in": list(range(1001))}})


def test_null_and_notnull_ignore_their_value():
    assert parse_filters({"sku": {"null": 1}, "id": {"notnull": True}}, FIELDS, FAULT) == [
        Condition("sku", "null", None),
        Condition("id", "notnull", None),
    ]


def test_unknown_field_lists_the_filterable_ones():
    message = filters_fault({"price": {"eq": 1}})
    assert "cannot filter on 'price'" in message and "barcode, created_at, id, ship_date, sku" in message


def test_unknown_operator():
    message = filters_fault({"sku": {"like": "a%"}})
    assert "unknown operator 'like' for 'sku'" in message


@pytest.mark.parametrize("field, op", [("id", "starts"), ("created_at", "starts"), ("barcode", "gt"), ("barcode", "from")])
def test_operator_that_does_not_apply_to_the_field(field, op):
    message = filters_fault({field: {op: "1"}})
    assert f"operator '{op}' does not apply to '{field}'" in message


def test_operator_object_must_not_be_empty():
    assert "'sku' needs an operator" in filters_fault({"sku": {}})
    assert "'created_at' needs an operator" in filters_fault({"created_at": {"datetime": True}})


@pytest.mark.parametrize("filters", ["sku=1", 5, [1, 2], True])
def test_filters_must_be_an_object(filters):
    assert "filters must be an object" in filters_fault(filters)


def test_timestamps_with_and_without_offset():
    conditions = parse_filters(
        {"created_at": {"from": "2024-01-31 10:00:00", "to": "2024-02-01T12:00:00+02:00", "datetime": True}},
        FIELDS,
        FAULT,
    )
    assert conditions == [
        Condition("created_at", "from", datetime(2024, 1, 31, 10, tzinfo=UTC)),
        Condition("created_at", "to", datetime(2024, 2, 1, 10, tzinfo=UTC)),
    ]
    assert parse_filters({"created_at": {"gt": "2024-01-31T10:00:00Z"}}, FIELDS, FAULT)[0].value == datetime(
        2024, 1, 31, 10, tzinfo=UTC
    )


def test_a_date_stands_for_its_whole_day():
    start = datetime(2024, 1, 31, tzinfo=UTC)
    end = datetime.combine(date(2024, 1, 31), time.max, tzinfo=UTC)
    conditions = parse_filters(
        {"created_at": {"from": "2024-01-31", "to": "2024-01-31", "gt": "2024-01-31", "lt": "2024-01-31",
                        "gteq": "2024-01-31", "lteq": "2024-01-31"}},
        FIELDS,
        FAULT,
    )
    assert [(c.op, c.value) for c in conditions] == [
        ("from", start), ("to", end), ("gt", end), ("lt", start), ("gteq", start), ("lteq", end),
    ]
    # eq on a date: any moment of that day
    assert parse_filters({"created_at": "2024-01-31"}, FIELDS, FAULT) == [
        Condition("created_at", "from", start),
        Condition("created_at", "to", end),
    ]


def test_date_fields():
    assert parse_filters({"ship_date": {"eq": "2024-03-01"}}, FIELDS, FAULT) == [
        Condition("ship_date", "eq", date(2024, 3, 1))
    ]
    assert "'ship_date' eq" in filters_fault({"ship_date": {"eq": "tomorrow"}})
    # A date-time stands for its date; anything after the date that is not a time is refused.
    assert parse_filters({"ship_date": {"gt": "2024-03-01T23:30:00Z"}}, FIELDS, FAULT) == [
        Condition("ship_date", "gt", date(2024, 3, 1))
    ]


@pytest.mark.parametrize("value", ["2030-01-10", " 2030-01-10 ", "2030-01-10T08:00:00+05:00", "20300110"])
def test_good_dates(value):
    assert parse_filters({"ship_date": value}, FIELDS, FAULT) == [Condition("ship_date", "eq", date(2030, 1, 10))]


@pytest.mark.parametrize("value", ["2030-01-10garbage", "2030-01-1", " ", "2030-01-10T25:00", "2030-01-10 and more"])
def test_bad_dates(value):
    assert "is not a date (use 2024-01-31)" in filters_fault({"ship_date": {"eq": value}})


@pytest.mark.parametrize("value", ["yesterday", "2024-13-01", "2024-02-30", 20240101])
def test_bad_timestamps(value):
    message = filters_fault({"created_at": {"from": value}})
    assert "'created_at' from" in message


def test_parse_datetime_message():
    with pytest.raises(ValueError, match="is not a date or date-time"):
        parse_datetime("soon")


def test_text_list_operators():
    conditions = parse_filters({"barcode": {"eq": "123", "nin": ["9"], "starts": "12", "null": 1}}, FIELDS, FAULT)
    assert [c.op for c in conditions] == ["eq", "nin", "starts", "null"]


# -- parse_options ----------------------------------------------------------------------------


def options_fault(options) -> str:
    fault = fault_of(parse_options, options, SORTS, "id", FAULT)
    assert fault.name == FAULT
    return fault.message


@pytest.mark.parametrize("empty", [None, [], {}])
def test_default_options(empty):
    assert parse_options(empty, SORTS, "id", FAULT) == Page("id", False, 1, DEFAULT_LIMIT)


def test_options():
    page = parse_options({"sort_field": "sku", "sort_dir": "DESC", "page": "3", "limit": 20}, SORTS, "id", FAULT)
    assert page == Page("sku", True, 3, 20)
    assert page.offset == 40


def test_null_options_mean_defaults():
    page = parse_options({"sort_field": None, "sort_dir": None, "page": None, "limit": None}, SORTS, "id", FAULT)
    assert page == Page("id", False, 1, DEFAULT_LIMIT)


def test_limit_at_most_100():
    assert parse_options({"limit": MAX_LIMIT}, SORTS, "id", FAULT).limit == 100
    assert "option limit must be a whole number from 1 to 100" in options_fault({"limit": 101})


@pytest.mark.parametrize("value", [0, -1, 1.5, "x", True, [], {}, 2**31, float("inf")])
def test_bad_page(value):
    assert "option page must be a whole number" in options_fault({"page": value})


def test_integral_float_page():
    assert parse_options({"page": 2.0}, SORTS, "id", FAULT).page == 2


@pytest.mark.parametrize("field", ["price", ["sku"], 5, {"a": 1}])
def test_bad_sort_field(field):
    assert "cannot sort on" in options_fault({"sort_field": field})


@pytest.mark.parametrize("direction", ["up", 1, ["asc"]])
def test_bad_sort_dir(direction):
    assert "option sort_dir must be asc or desc" in options_fault({"sort_dir": direction})


def test_unknown_option():
    assert "unknown option(s) offset" in options_fault({"offset": 5})


def test_options_must_be_an_object():
    assert "options must be an object" in options_fault("page=2")


# -- paginated ---------------------------------------------------------------------------------


@pytest.mark.parametrize("total, limit, pages", [(0, 50, 0), (1, 50, 1), (50, 50, 1), (51, 50, 2), (100, 10, 10)])
def test_paginated(total, limit, pages):
    page = Page("id", False, 1, limit)
    assert paginated(["x"], total, page) == {"results": ["x"], "totalCount": total, "numPages": pages}


# -- WhereBuilder and order_by ----------------------------------------------------------------

COLUMNS = {
    "id": Column("t.id"),
    "sku": Column("t.sku"),
    "created_at": Column("t.created_at"),
    "barcode": Column("t.barcodes", array=True),
    "item_sku": Column("i.sku", "EXISTS (SELECT 1 FROM items i WHERE i.t_id = t.id AND {})"),
}


def sql_of(*conditions: Condition, params=None) -> tuple[str, list]:
    where = WhereBuilder(params)
    where.add_conditions(conditions, COLUMNS)
    return where.sql, where.params


def test_no_conditions_is_true():
    assert WhereBuilder().sql == "TRUE"


def test_params_continue_after_given_ones():
    sql, params = sql_of(Condition("sku", "eq", "a"), params=[42])
    assert sql == "t.sku = $2" and params == [42, "a"]


@pytest.mark.parametrize(
    "op, value, sql",
    [
        ("eq", "a", "t.sku = $1"),
        ("gt", "a", "t.sku > $1"),
        ("lt", "a", "t.sku < $1"),
        ("gteq", "a", "t.sku >= $1"),
        ("lteq", "a", "t.sku <= $1"),
        ("from", "a", "t.sku >= $1"),
        ("to", "a", "t.sku <= $1"),
        ("neq", "a", "t.sku IS DISTINCT FROM $1"),
        ("in", ["a"], "t.sku = ANY($1)"),
        ("nin", ["a"], "(t.sku IS NULL OR t.sku <> ALL($1))"),
        ("null", None, "t.sku IS NULL"),
        ("notnull", None, "t.sku IS NOT NULL"),
    ],
)
def test_scalar_operators(op, value, sql):
    assert sql_of(Condition("sku", op, value))[0] == sql


def test_integers_are_compared_as_bigint():
    assert sql_of(Condition("id", "eq", 5)) == ("t.id = $1::bigint", [5])
    assert sql_of(Condition("id", "in", [1, 2])) == ("t.id = ANY($1::bigint[])", [[1, 2]])
    assert sql_of(Condition("id", "nin", [1]))[0] == "(t.id IS NULL OR t.id <> ALL($1::bigint[]))"


def test_starts_escapes_like_wildcards():
    sql, params = sql_of(Condition("sku", "starts", "50%_a\\b"))
    assert sql == "t.sku LIKE $1"
    assert params == ["50\\%\\_a\\\\b%"]


@pytest.mark.parametrize(
    "op, value, sql, param",
    [
        ("eq", "123", "t.barcodes @> ARRAY[$1::text]", "123"),
        ("neq", "123", "NOT (t.barcodes @> ARRAY[$1::text])", "123"),
        ("in", ["1", "2"], "t.barcodes && $1::text[]", ["1", "2"]),
        ("nin", ["1"], "NOT (t.barcodes && $1::text[])", ["1"]),
        ("starts", "4_0", "EXISTS (SELECT 1 FROM unnest(t.barcodes) AS element WHERE element LIKE $1)", "4\\_0%"),
    ],
)
def test_array_operators(op, value, sql, param):
    assert sql_of(Condition("barcode", op, value)) == (sql, [param])


def test_array_null_means_empty():
    assert sql_of(Condition("barcode", "null", None)) == ("cardinality(t.barcodes) = 0", [])
    assert sql_of(Condition("barcode", "notnull", None)) == ("cardinality(t.barcodes) > 0", [])


def test_array_refuses_comparisons():
    with pytest.raises(ValueError):
        sql_of(Condition("barcode", "gt", "1"))


def test_wrapper():
    assert sql_of(Condition("item_sku", "eq", "a"))[0] == "EXISTS (SELECT 1 FROM items i WHERE i.t_id = t.id AND i.sku = $1)"


def test_conditions_are_anded_with_numbered_params():
    sql, params = sql_of(Condition("sku", "eq", "a"), Condition("id", "gt", 3), Condition("sku", "null", None))
    assert sql == "t.sku = $1 AND t.id > $2::bigint AND t.sku IS NULL"
    assert params == ["a", 3]


def test_order_by_with_tiebreak_limit_and_offset():
    assert order_by(Page("sku", True, 3, 20), COLUMNS, "t.id") == "ORDER BY t.sku DESC, t.id DESC LIMIT 20 OFFSET 40"
    assert order_by(Page("id", False, 1, 50), COLUMNS, "t.id") == "ORDER BY t.id ASC LIMIT 50 OFFSET 0"


# -- the store's SQL of each field, keyed by the domain's tables --------------------------------

def test_columns_for_follows_the_domain_table_and_its_order():
    columns = columns_for(["sku", "id"], {"id": Column("t.id"), "sku": Column("t.sku")}, "test")
    assert list(columns) == ["sku", "id"]


@pytest.mark.parametrize(
    "fields, message",
    [(["id", "sku", "name"], "no SQL for ['name']"), (["id"], "the domain does not know: ['sku']")],
    ids=["a field without SQL", "SQL for an unknown field"],
)
def test_columns_for_refuses_a_table_that_drifted(fields, message):
    with pytest.raises(RuntimeError, match=re.escape(message)):
        columns_for(fields, {"id": Column("t.id"), "sku": Column("t.sku")}, "test")


def test_order_and_shipment_search_sql_covers_exactly_the_domain_fields():
    from rpc_fulfillment.orders import search_fields as order_search
    from rpc_fulfillment.shipments import rules as shipments
    from rpc_fulfillment.orders import search_queries as order_sql
    from rpc_fulfillment.shipments import queries as shipment_sql

    assert set(order_sql.COLUMNS) == set(order_search.SEARCH_FIELDS) >= order_search.SORT_FIELDS
    assert set(shipment_sql.COLUMNS) == set(shipments.SEARCH_FIELDS)
    assert set(shipment_sql.SORT_COLUMNS) == shipments.SORT_FIELDS
