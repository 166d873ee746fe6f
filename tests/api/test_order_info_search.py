"""order.info and order.search: the fields projection, fault 100, every search operator and
filterable field, sorting and paging, and fault 101 with its details."""

from __future__ import annotations

from typing import Any

import pytest

from rpc_fulfillment.orders import search_queries as order_search
from tests.api.order_helpers import ADDRESS, ADDRESS_ANSWERED, INFO, NOT_FOUND, add_product, add_store, assert_fault, invariants, number_in_creation_order  # noqa: F401 (a fixture)
from tests.order_properties import EXPANSIONS, STAR

BASE = {"order_id", "unique_id", "order_ref"}

pytestmark = pytest.mark.usefixtures("invariants")


@pytest.fixture
async def session(rpc, users, db):
    await add_product(db, "A", stock=100)
    await add_product(db, "B")
    return await rpc.login(users["merchant"])


async def new_order(rpc, session, items: Any = None, store: str | None = None, **info: Any) -> dict[str, Any]:
    return await rpc.result(session, "order.create", [store, items or {"A": 1}, ADDRESS, {**INFO, **info}])


# ----------------------------------------------------------------------------- order.info


async def test_null_fields_give_the_three_ids(rpc, session):
    order = await new_order(rpc, session, order_ref="PO-1")
    assert await rpc.result(session, "order.info", [order["unique_id"], None]) == {
        "order_id": order["order_id"], "unique_id": order["unique_id"], "order_ref": "PO-1"}


@pytest.mark.parametrize("fields", ["*", ["*"], []])
async def test_star_gives_every_scalar_property(rpc, session, fields):
    order = await new_order(rpc, session)
    info = await rpc.result(session, "order.info", [order["unique_id"], fields])
    assert list(info) == list(STAR)
    assert not set(EXPANSIONS) & set(info)
    assert info == order


async def test_absent_fields_mean_star(rpc, session):
    order = await new_order(rpc, session)
    assert await rpc.result(session, "order.info", [order["unique_id"]]) == order
    assert await rpc.result(session, "order.info", order["unique_id"]) == order


@pytest.mark.parametrize(
    ("fields", "keys"),
    [
        (["status"], BASE | {"status"}),
        ("status", BASE | {"status"}),
        (["status", "created_at", "order_id"], BASE | {"status", "created_at"}),
        (["shipping_address"], BASE | {"shipping_address"}),
        (["items", "status_history"], BASE | {"items", "status_history"}),
        ({"0": "status", "1": "items"}, BASE | {"status", "items"}),
        ({}, set(STAR)),
        (["*", "shipping_address"], set(STAR) | {"shipping_address"}),
        (["*", *EXPANSIONS], set(STAR) | set(EXPANSIONS)),
    ],
)
async def test_a_list_adds_to_the_three_ids(rpc, session, fields, keys):
    order = await new_order(rpc, session)
    info = await rpc.result(session, "order.info", [order["unique_id"], fields])
    assert set(info) == keys
    for name in keys & set(order):
        assert info[name] == order[name]


async def test_expansions_for_a_new_order(rpc, session):
    order = await new_order(rpc, session, note="hello")
    info = await rpc.result(session, "order.info", [order["unique_id"], list(EXPANSIONS)])
    assert info["shipping_address"] == ADDRESS_ANSWERED
    assert [item["sku"] for item in info["items"]] == ["A"]
    assert [(h["state"], h["status"], h["comment"]) for h in info["status_history"]] == [("new", "new", "hello")]
    assert (info["shipments"], info["tracking_numbers"], info["packages"], info["serial_number_data"]) == ([], [], [], [])


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (["colour"], "fields: unknown order property 'colour'"),
        (["*", "status", "nope"], "fields: unknown order property 'nope'"),
        ("nope", "fields: unknown order property 'nope'"),
        ([1], "fields must be null, '*' or an array of property names"),
        (5, "fields must be null, '*' or an array of property names"),
    ],
)
async def test_unknown_fields_are_a_fault(rpc, session, fields, message):
    order = await new_order(rpc, session)
    assert_fault(await rpc.fault(session, "order.info", [order["unique_id"], fields]), 102, message)
    assert_fault(await rpc.fault(session, "order.search", [None, None, fields]), 101, message)


async def test_a_numeric_unique_id_finds_the_order(rpc, session):
    order = await new_order(rpc, session)
    assert (await rpc.result(session, "order.info", [int(order["unique_id"]), None]))["order_id"] == order["order_id"]


@pytest.mark.parametrize("unique_id", ["100000999", 100000999, "", "100000001 ", True, ["100000001"]])
async def test_an_unknown_order_is_fault_100(rpc, session, unique_id):
    await new_order(rpc, session)
    assert_fault(await rpc.fault(session, "order.info", [unique_id]), 100, NOT_FOUND)


async def test_order_info_needs_the_unique_id(rpc, session):
    assert_fault(await rpc.fault(session, "order.info", []), 6, 'Required parameter is missing, for more details see "exception.log".')


async def test_the_warehouse_may_read_orders(rpc, users, session):
    order = await new_order(rpc, session)
    warehouse = await rpc.login(users["warehouse"])
    assert await rpc.result(warehouse, "order.info", [order["unique_id"]]) == order
    assert (await rpc.result(warehouse, "order.search", [None]))["totalCount"] == 1


# ---------------------------------------------------------------------------- order.search


@pytest.fixture
async def orders(rpc, session, db) -> dict[str, dict[str, Any]]:
    """Four orders with known properties and timestamps, their order_ids in the order made (the
    default sort is by order_id)."""
    await number_in_creation_order(db, "orders.order_id")
    await add_store(db, "web")
    made = {
        "one": await new_order(rpc, session, {"A": 1}, order_ref="PO-100", priority=10, source="magento:1",
                               requested_ship_date="2030-01-10"),
        "two": await new_order(rpc, session, {"B": 1}, "web", order_ref="PO-200", shipping_method="fedex_FEDEX_GROUND",
                               requested_ship_date="2030-01-20"),
        "three": await new_order(rpc, session, {"A": 1, "B": 2}, priority=90, shipping_method="usps_US-PM"),
        "four": await new_order(rpc, session, {"A": 2}, order_ref="XO_300", unique_id="CUSTOM-1", hold_indefinitely=True,
                                source="erp"),
    }
    times = {
        "one": ("2024-01-01 10:00:00+00", "2024-01-05 00:00:00+00", None),
        "two": ("2024-01-02 23:30:00+00", "2024-01-02 23:30:00+00", "2024-01-09 08:00:00+00"),
        "three": ("2024-01-03 00:00:00+00", "2024-01-06 12:00:00+00", None),
        "four": ("2024-02-01 12:00:00+00", "2024-02-01 12:00:00+00", None),
    }
    for name, (created, updated, shipped) in times.items():
        await db.execute(
            """UPDATE orders SET created_at = $2::text::timestamptz, updated_at = $3::text::timestamptz,
                                 shipped_at = $4::text::timestamptz, completed_at = $4::text::timestamptz,
                                 delivered_at = $4::text::timestamptz + interval '1 day'
                WHERE unique_id = $1""",
            made[name]["unique_id"], created, updated, shipped,
        )
    return made


async def names(rpc, session, orders, filters: Any, options: Any = None) -> list[str]:
    result = await rpc.result(session, "order.search", [filters, options, None])
    by_id = {order["unique_id"]: name for name, order in orders.items()}
    found = [by_id[row["unique_id"]] for row in result["results"]]
    assert result["totalCount"] == len(found) or options, result
    return found


async def test_statuses_of_the_arranged_orders(rpc, session, orders):
    assert [o["status"] for o in orders.values()] == ["new", "backordered", "partial_backorder", "holded"]


@pytest.mark.parametrize("filters", [None, {}, []])
async def test_no_filters_give_every_order_by_order_id(rpc, session, orders, filters):
    result = await rpc.result(session, "order.search", [filters])
    assert [row["unique_id"] for row in result["results"]] == [o["unique_id"] for o in orders.values()]
    assert (result["totalCount"], result["numPages"]) == (4, 1)
    # the default fields are '*'
    assert list(result["results"][0]) == list(STAR)


async def test_search_fields(rpc, session, orders):
    plain = await rpc.result(session, "order.search", [{"order_ref": "PO-100"}, None, None])
    assert plain["results"] == [{key: orders["one"][key] for key in ("order_id", "unique_id", "order_ref")}]
    expanded = await rpc.result(session, "order.search", [{"order_ref": {"starts": "PO"}}, None, ["status", "items"]])
    assert [(r["status"], [i["sku"] for i in r["items"]]) for r in expanded["results"]] == [("new", ["A"]), ("backordered", ["B"])]
    assert set(expanded["results"][0]) == BASE | {"status", "items"}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        # bare scalar, eq, neq
        ({"order_ref": "PO-100"}, ["one"]),
        ({"status": {"eq": "backordered"}}, ["two"]),
        ({"status": {"neq": "new"}}, ["two", "three", "four"]),
        ({"order_ref": {"neq": "PO-100"}}, ["two", "three", "four"]),
        # starts: a prefix, with LIKE's wildcards taken literally
        ({"order_ref": {"starts": "PO-"}}, ["one", "two"]),
        ({"order_ref": {"starts": "XO_"}}, ["four"]),
        ({"order_ref": {"starts": "X%"}}, []),
        ({"unique_id": {"starts": "1000000"}}, ["one", "two", "three"]),
        # comparisons
        ({"priority": {"gt": 10}}, ["two", "three", "four"]),
        ({"priority": {"lt": 50}}, ["one"]),
        ({"priority": {"gteq": 50}}, ["two", "three", "four"]),
        ({"priority": {"lteq": 50}}, ["one", "two", "four"]),
        ({"priority": {"gt": "10", "lt": "90"}}, ["two", "four"]),
        # in / nin
        ({"status": {"in": ["new", "holded"]}}, ["one", "four"]),
        ({"status": {"nin": ["new", "holded"]}}, ["two", "three"]),
        ({"order_ref": {"nin": ["PO-100"]}}, ["two", "three", "four"]),
        ({"unique_id": {"in": [100000001, "CUSTOM-1"]}}, ["one", "four"]),
        # null / notnull
        ({"order_ref": {"null": 1}}, ["three"]),
        ({"order_ref": {"notnull": 1}}, ["one", "two", "four"]),
        ({"completed_at": {"null": True}}, ["one", "three", "four"]),
        ({"shipped_at": {"notnull": 1}}, ["two"]),
        # every other filterable field
        ({"state": "holded"}, ["four"]),
        ({"state": {"in": ["new"]}}, ["one", "two", "three"]),
        ({"store_code": "web"}, ["two"]),
        ({"store_code": {"neq": "web"}}, ["one", "three", "four"]),
        ({"shipping_method": {"starts": "fedex_"}}, ["two"]),
        ({"carrier_code": {"in": ["usps", "fedex"]}}, ["two", "three"]),
        ({"source": "erp"}, ["four"]),
        ({"source": {"starts": "magento:"}}, ["one"]),
        ({"requested_ship_date": {"from": "2030-01-10", "to": "2030-01-15"}}, ["one"]),
        ({"requested_ship_date": {"gt": "2030-01-10"}}, ["two"]),
        ({"requested_ship_date": "2030-01-20"}, ["two"]),
        ({"requested_ship_date": {"null": 1}}, ["three", "four"]),
        ({"sku": "B"}, ["two", "three"]),
        ({"sku": {"eq": "A"}}, ["one", "three", "four"]),
        ({"sku": {"in": ["B", "Z"]}}, ["two", "three"]),
        ({"sku": {"starts": "A"}}, ["one", "three", "four"]),
        # negations over an order's lines: orders WITHOUT a line of the SKU
        ({"sku": {"neq": "A"}}, ["two"]),
        ({"sku": {"neq": "B"}}, ["one", "four"]),
        ({"sku": {"nin": ["B", "Z"]}}, ["one", "four"]),
        ({"sku": {"nin": ["A", "B"]}}, []),
        ({"sku": {"notnull": 1}}, ["one", "two", "three", "four"]),
        ({"sku": {"null": 1}}, []),
        # several fields: AND
        ({"sku": "A", "priority": {"gt": 50}}, ["three"]),
        ({"status": {"neq": "complete"}, "order_ref": {"starts": "PO"}, "store_code": "default"}, ["one"]),
    ],
)
async def test_operators_and_fields(rpc, session, orders, filters, expected):
    assert await names(rpc, session, orders, filters) == expected


async def test_order_id_filters(rpc, session, orders):
    one, three = orders["one"]["order_id"], orders["three"]["order_id"]
    assert await names(rpc, session, orders, {"order_id": one}) == ["one"]
    assert await names(rpc, session, orders, {"order_id": {"in": [str(one), three]}}) == ["one", "three"]
    assert await names(rpc, session, orders, {"order_id": {"nin": [one, three]}}) == ["two", "four"]
    assert await names(rpc, session, orders, {"order_id": {"gt": one, "lteq": three}}) == ["two", "three"]
    assert await names(rpc, session, orders, {"order_id": {"from": one + 1, "to": three}}) == ["two", "three"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        # a date alone covers the whole day: from its first second, to its last
        ({"created_at": {"from": "2024-01-02"}}, ["two", "three", "four"]),
        ({"created_at": {"to": "2024-01-02"}}, ["one", "two"]),
        ({"created_at": {"from": "2024-01-02", "to": "2024-01-02"}}, ["two"]),
        ({"created_at": {"eq": "2024-01-02"}}, ["two"]),
        ({"created_at": "2024-01-03"}, ["three"]),
        ({"created_at": {"gt": "2024-01-02"}}, ["three", "four"]),
        ({"created_at": {"gteq": "2024-01-03"}}, ["three", "four"]),
        ({"created_at": {"lt": "2024-01-03"}}, ["one", "two"]),
        ({"created_at": {"lteq": "2024-01-01"}}, ["one"]),
        # with a time: that moment
        ({"created_at": {"from": "2024-01-02 23:30:00", "datetime": True}}, ["two", "three", "four"]),
        ({"created_at": {"from": "2024-01-02 23:30:01", "datetime": True}}, ["three", "four"]),
        ({"created_at": {"to": "2024-01-02T23:29:59Z", "datetime": True}}, ["one"]),
        ({"created_at": {"from": "2024-01-03T00:30:00+01:00", "datetime": True}}, ["two", "three", "four"]),
        ({"created_at": {"from": "2024-01-01T10:00:00", "to": "2024-01-03T00:00:00"}}, ["one", "two", "three"]),
        ({"created_at": {"in": ["2024-01-01T10:00:00Z", "2024-01-03"]}}, ["one", "three"]),
        ({"created_at": {"notnull": 1}}, ["one", "two", "three", "four"]),
        ({"updated_at": {"from": "2024-01-05"}}, ["one", "three", "four"]),
        ({"updated_at": {"to": "2024-01-04"}}, ["two"]),
        ({"completed_at": {"from": "2024-01-09", "to": "2024-01-09"}}, ["two"]),
        ({"shipped_at": {"gteq": "2024-01-09T08:00:00Z"}}, ["two"]),
        ({"delivered_at": "2024-01-10"}, ["two"]),
        ({"delivered_at": {"lt": "2024-01-10"}}, []),
    ],
)
async def test_date_filters(rpc, session, orders, filters, expected):
    assert await names(rpc, session, orders, filters) == expected


# ------------------------------------------------------------------------ sorting and paging


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"sort_field": "priority", "sort_dir": "desc"}, ["three", "four", "two", "one"]),
        ({"sort_field": "priority"}, ["one", "two", "four", "three"]),
        ({"sort_field": "created_at", "sort_dir": "DESC"}, ["four", "three", "two", "one"]),
        ({"sort_field": "updated_at"}, ["two", "one", "three", "four"]),
        ({"sort_field": "order_id", "sort_dir": "desc"}, ["four", "three", "two", "one"]),
        ({"sort_field": "status"}, ["two", "four", "one", "three"]),
        ({"sort_field": "unique_id", "sort_dir": "desc"}, ["four", "three", "two", "one"]),
        ({"sort_field": "requested_ship_date", "sort_dir": "asc"}, ["one", "two", "three", "four"]),
        ({"sort_field": "order_ref", "limit": 2}, ["one", "two"]),
        ({"limit": 3, "page": 2}, ["four"]),
        ({"limit": "2", "page": "2"}, ["three", "four"]),
        ({"limit": 2, "page": 3}, []),
        ([], ["one", "two", "three", "four"]),
        ({}, ["one", "two", "three", "four"]),
    ],
)
@pytest.mark.parametrize("sort_matches_up_to", [order_search.SORT_MATCHES_UP_TO, 0], ids=["sorted matches", "index order"])
async def test_sort_and_page(rpc, session, orders, options, expected, sort_matches_up_to, monkeypatch):
    monkeypatch.setattr(order_search, "SORT_MATCHES_UP_TO", sort_matches_up_to)
    assert await names(rpc, session, orders, None, options) == expected


async def test_both_ways_of_cutting_a_page_agree(rpc, session, orders, monkeypatch):
    """A page cut from the sorted matches (few matches) equals the page of an ordered scan."""
    searches = [
        ({"sku": "A"}, {"sort_field": "created_at", "sort_dir": "desc", "limit": 2}),
        ({"sku": "A"}, {"sort_field": "created_at", "sort_dir": "desc", "limit": 2, "page": 2}),
        ({"status": {"in": ["new", "holded", "backordered"]}}, {"sort_field": "priority", "limit": 2, "page": 2}),
        ({"order_ref": {"starts": "PO-"}}, {"sort_field": "order_ref", "sort_dir": "desc"}),
        ({"priority": {"gteq": 10}}, {"sort_field": "requested_ship_date", "limit": 3}),
        ({"store_code": "default"}, {"sort_field": "status", "sort_dir": "desc"}),
    ]
    answers = {}
    for up_to in (order_search.SORT_MATCHES_UP_TO, 0):
        monkeypatch.setattr(order_search, "SORT_MATCHES_UP_TO", up_to)
        answers[up_to] = [await rpc.result(session, "order.search", [f, o, "*"]) for f, o in searches]
    assert answers[0] == answers[order_search.SORT_MATCHES_UP_TO]
    assert all(answer["results"] for answer in answers[0])


@pytest.mark.parametrize(("limit", "pages"), [(1, 4), (2, 2), (3, 2), (4, 1), (100, 1)])
async def test_total_count_and_pages(rpc, session, orders, limit, pages):
    result = await rpc.result(session, "order.search", [None, {"limit": limit, "page": 9}])
    assert result == {"results": [], "totalCount": 4, "numPages": pages}
    filtered = await rpc.result(session, "order.search", [{"sku": "A"}, {"limit": limit}])
    assert (filtered["totalCount"], len(filtered["results"])) == (3, min(3, limit))


async def test_nothing_found(rpc, session, orders):
    assert await rpc.result(session, "order.search", [{"order_ref": "NOPE"}]) == {"results": [], "totalCount": 0, "numPages": 0}


async def test_default_limit_is_50_and_at_most_100(rpc, session, db):
    await number_in_creation_order(db, "orders.order_id")
    orders = {str(n): [None, {"A": 1}, ADDRESS, INFO] for n in range(101)}
    created = await rpc.result(session, "order.bulk_create", [orders])
    assert all("error" not in value for value in created.values())
    first = await rpc.result(session, "order.search", [None, None, None])
    assert (len(first["results"]), first["totalCount"], first["numPages"]) == (50, 101, 3)
    third = await rpc.result(session, "order.search", [None, {"page": 3}, None])
    assert [row["unique_id"] for row in third["results"]] == ["100000101"]
    most = await rpc.result(session, "order.search", [None, {"limit": 100}, None])
    assert (len(most["results"]), most["numPages"]) == (100, 2)
    assert_fault(await rpc.fault(session, "order.search", [None, {"limit": 101}]), 101,
                 "Invalid filters given: option limit must be a whole number from 1 to 100")


# ---------------------------------------------------------------------------------- fault 101


@pytest.mark.parametrize(
    ("filters", "options", "detail"),
    [
        ({"colour": "red"}, None, "cannot filter on 'colour' (filterable: carrier_code, completed_at, created_at, "
         "customer_id, delivered_at, order_id, order_ref, priority, requested_ship_date, shipped_at, shipping_method, sku, source, "
         "state, status, store_code, unique_id, updated_at)"),
        ({"status": {"like": "n%"}}, None, "unknown operator 'like' for 'status' (use one of eq, from, gt, gteq, in, lt, "
         "lteq, neq, nin, notnull, null, starts, to)"),
        ({"order_id": {"starts": "1"}}, None, "operator 'starts' does not apply to 'order_id' (use one of eq, from, gt, "
         "gteq, in, lt, lteq, neq, nin, notnull, null, to)"),
        ({"order_id": {"eq": "abc"}}, None, "'order_id' eq: 'abc' is not a whole number"),
        ({"order_id": {"eq": 1.5}}, None, "'order_id' eq: 1.5 is not a whole number"),
        ({"priority": {"in": "1,2"}}, None, "'priority' in: expected a non-empty array"),
        ({"status": {"in": []}}, None, "'status' in: expected a non-empty array"),
        ({"status": {"eq": ["new"]}}, None, "'status' eq: expected a single value (a string or a number)"),
        ({"status": {"eq": None}}, None, "'status' eq: expected a single value (a string or a number)"),
        ({"status": {}}, None, "'status' needs an operator such as eq"),
        ({"created_at": {"from": "yesterday"}}, None, "'created_at' from: 'yesterday' is not a date or date-time "
         "(use 2024-01-31 or 2024-01-31T12:00:00+00:00)"),
        ({"created_at": {"from": 20240101}}, None, "'created_at' from: expected a date string such as 2024-01-31"),
        ({"requested_ship_date": {"eq": "soon"}}, None, "'requested_ship_date' eq: 'soon' is not a date (use 2024-01-31)"),
        ("status=new", None, "filters must be an object such as {\"status\": {\"eq\": \"new\"}}"),
        (None, {"sort_field": "colour"}, "cannot sort on 'colour' (sortable: created_at, customer_id, order_id, order_ref, priority, "
         "requested_ship_date, status, unique_id, updated_at)"),
        (None, {"sort_dir": "up"}, "option sort_dir must be asc or desc"),
        (None, {"page": 0}, "option page must be a whole number from 1 to 2147483647"),
        (None, {"page": "two"}, "option page must be a whole number from 1 to 2147483647"),
        (None, {"limit": 0}, "option limit must be a whole number from 1 to 100"),
        (None, {"limit": True}, "option limit must be a whole number from 1 to 100"),
        (None, {"offset": 5}, "unknown option(s) offset (use sort_field, sort_dir, page, limit)"),
        (None, "limit=5", "options must be an object such as {\"page\": 1, \"limit\": 50}"),
    ],
)
async def test_invalid_filters_and_options_are_fault_101(rpc, session, filters, options, detail):
    assert_fault(await rpc.fault(session, "order.search", [filters, options]), 101, f"Invalid filters given: {detail}")
