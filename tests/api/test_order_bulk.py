"""order.bulk_create: every order succeeds or fails alone; results keyed like the input, an
order's properties or {"error": {"code": -321xx, "message": ...}}; the key limit."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.order_helpers import (  # noqa: F401 (invariants is a fixture)
    invariants,
    ADDRESS,
    EXISTS,
    INFO,
    NO_PRODUCT,
    add_product,
    assert_fault,
    check_invariants,
    events_of,
    snapshot,
    stock_of,
)

pytestmark = pytest.mark.usefixtures("invariants")


@pytest.fixture
async def session(rpc, users):
    return await rpc.login(users["merchant"])


def entry(items: Any, store: str | None = None, flags: Any = None, **info: Any) -> list[Any]:
    args = [store, items, ADDRESS, {**INFO, **info}]
    return args + [flags] if flags is not None else args


async def bulk(rpc, session, orders: Any) -> dict[str, Any]:
    return await rpc.result(session, "order.bulk_create", [orders])


async def test_each_order_alone(rpc, session, db):
    product = await add_product(db, "A", stock=10)
    await rpc.result(session, "order.create", entry({"A": 1}, unique_id="TAKEN"))
    before = await snapshot(db)
    result = await bulk(rpc, session, {
        "good": entry({"A": 2}, order_ref="G-1"),
        "duplicate": entry({"A": 3}, unique_id="TAKEN"),
        "unknown": entry({"A": 1, "NOPE": 1}),
        "invalid": entry({"A": 1}, priority=500),
        "also good": entry([{"sku": "A", "qty": 1}]),
    })
    assert list(result) == ["good", "duplicate", "unknown", "invalid", "also good"]
    assert result["duplicate"]["error"]["code"] == -32104
    assert result["duplicate"]["error"]["message"] == EXISTS
    assert result["unknown"] == {"error": {"code": -32107, "message": NO_PRODUCT, "data": {"sku": "NOPE"}}}
    assert result["invalid"] == {"error": {"code": -32102, "message": "info.priority: input should be less than or equal to 100"}}
    for key in ("good", "also good"):
        assert result[key] == await rpc.result(session, "order.info", [result[key]["unique_id"], "*"])
    assert (result["good"]["unique_id"], result["good"]["order_ref"], result["good"]["status"]) == ("100000001", "G-1", "new")
    assert result["also good"]["unique_id"] == "100000002"
    after = await snapshot(db)
    assert after["orders"] == before["orders"] + 2
    assert after["events"] == before["events"] + 2 * 2  # each: order:created, order:status_changed
    assert after["stock_movements"] == before["stock_movements"] + 2
    assert await stock_of(db, product) == (10, 1 + 2 + 1)
    created = [event["unique_id"] for event in await events_of(db, "order:created")]
    assert created == ["TAKEN", "100000001", "100000002"]
    await check_invariants(db)


async def test_a_unique_id_taken_meanwhile_writes_the_bulk_order_by_order(rpc, session, db, monkeypatch):
    """The bulk's one statement meets a unique_id that another call took after the bulk looked
    (simulated: the look finds nothing). Nothing of that statement stays; the bulk is written
    order by order with the same outcome per order."""
    from rpc_fulfillment.orders import queries as order_store

    lookup_for_create = order_store.lookup_for_create

    async def sees_nothing(*args, **kwargs):
        lookup = await lookup_for_create(*args, **kwargs)
        lookup.unique_ids_taken.clear()
        return lookup

    product = await add_product(db, "A", stock=5)
    await rpc.result(session, "order.create", entry({"A": 1}, unique_id="TAKEN"))
    monkeypatch.setattr(order_store, "lookup_for_create", sees_nothing)
    result = await bulk(rpc, session, {"first": entry({"A": 2}), "duplicate": entry({"A": 2}, unique_id="TAKEN"),
                                       "last": entry({"A": 3}, order_ref="L-1")})
    assert (result["duplicate"]["error"]["code"], result["duplicate"]["error"]["message"]) == (-32104, EXISTS)
    assert [result[key]["status"] for key in ("first", "last")] == ["new", "partial_backorder"]
    for key in ("first", "last"):
        assert result[key] == await rpc.result(session, "order.info", [result[key]["unique_id"], "*"])
    assert await stock_of(db, product) == (5, 5)
    created = [event["unique_id"] for event in await events_of(db, "order:created")]
    assert created == ["TAKEN", result["first"]["unique_id"], result["last"]["unique_id"]]
    assert await db.fetchval("SELECT count(*) FROM stock_movements WHERE entity_action = 'allocate'") == 3
    await check_invariants(db)


async def test_orders_of_one_bulk_share_the_stock_in_order(rpc, session, db):
    product = await add_product(db, "A", stock=5)
    result = await bulk(rpc, session, {"x": entry({"A": 3}), "y": entry({"A": 3}), "z": entry({"A": 1})})
    assert [result[k]["status"] for k in "xyz"] == ["new", "partial_backorder", "backordered"]
    items = (await rpc.result(session, "order.info", [result["y"]["unique_id"], ["items"]]))["items"]
    assert (items[0]["qty_processing"], items[0]["qty_backordered"]) == ("2.0000", "1.0000")
    assert await stock_of(db, product) == (5, 5)
    await check_invariants(db)


async def test_a_failed_order_gives_its_stock_back_to_the_next(rpc, session, db):
    product = await add_product(db, "A", stock=6)
    await rpc.result(session, "order.create", entry({"A": 1}, unique_id="TAKEN"))
    result = await bulk(rpc, session, {"dup": entry({"A": 4}, unique_id="TAKEN"), "next": entry({"A": 5})})
    assert result["dup"]["error"]["code"] == -32104
    assert result["next"]["status"] == "new"
    assert await stock_of(db, product) == (6, 6)
    assert await db.fetchval("SELECT count(*) FROM stock_movements") == 2
    await check_invariants(db)


async def test_duplicate_unique_id_inside_one_bulk(rpc, session, db):
    await add_product(db, "A", stock=10)
    result = await bulk(rpc, session, {"a": entry({"A": 1}, unique_id="SAME"), "b": entry({"A": 1}, unique_id="SAME")})
    assert result["a"]["unique_id"] == "SAME"
    assert result["b"]["error"]["code"] == -32104
    assert result["b"]["error"]["message"] == EXISTS
    assert await db.fetchval("SELECT count(*) FROM orders") == 1
    await check_invariants(db)


async def test_unique_order_ref_inside_one_bulk(rpc, session, db):
    await add_product(db, "A", stock=10)
    result = await bulk(rpc, session, {
        "a": entry({"A": 1}, order_ref="R-1"),
        "b": entry({"A": 1}, flags={"unique_order_ref": True}, order_ref="R-1"),
        "c": entry({"A": 1}, order_ref="R-1"),
    })
    assert result["a"]["order_ref"] == "R-1"
    assert (result["b"]["error"]["code"], result["b"]["error"]["message"]) == (-32104, EXISTS)
    assert result["c"]["order_ref"] == "R-1"
    assert await db.fetchval("SELECT count(*) FROM orders") == 2


async def test_auto_ids_skip_numbers_chosen_explicitly(rpc, session, db):
    await add_product(db, "A", stock=10)
    await rpc.result(session, "order.create", entry({"A": 1}, unique_id="100000002"))
    result = await bulk(rpc, session, {"a": entry({"A": 1}), "b": entry({"A": 1}), "c": entry({"A": 1}, unique_id="100000004")})
    assert [result[k].get("unique_id") for k in "abc"] == ["100000001", "100000003", "100000004"]
    assert (await bulk(rpc, session, {"d": entry({"A": 1})}))["d"]["unique_id"] == "100000005"
    await check_invariants(db)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("order", "each order must be [storeCode, items, address, info] or [..., flags]"),
        ([None, {"A": 1}, ADDRESS], "each order must be [storeCode, items, address, info] or [..., flags]"),
        ([None, {"A": 1}, ADDRESS, INFO, None, None], "each order must be [storeCode, items, address, info] or [..., flags]"),
        ([None, {"A": 1}, ADDRESS, {"order_ref": "x"}], "info.shipping_method: is required"),
        ([None, {"A": 1}, ADDRESS, INFO, {"unique_order_ref": "never"}],
         "flags.unique_order_ref: must be true, false or a window such as \"-3 days\", got 'never'"),
        (["nope", {"A": 1}, ADDRESS, INFO], "storeCode: no store with code 'nope'"),
        ([None, {"A": 1}, {"city": "x"}, INFO], "address.firstname: is required; address.lastname: is required; "
         "address.street1: is required; address.country: is required"),
        ({"items": {"A": 1}, "address": ADDRESS}, "info.shipping_method: is required"),
        ({"items": {"A": 1}, "info": INFO}, "address must be an object"),
    ],
)
async def test_malformed_entries_are_errors_of_their_own(rpc, session, db, args, message):
    await add_product(db, "A", stock=10)
    result = await bulk(rpc, session, {"bad": args, "good": entry({"A": 1})})
    assert result["bad"] == {"error": {"code": -32102, "message": message}}
    assert result["good"]["unique_id"] == "100000001"
    assert await db.fetchval("SELECT count(*) FROM orders") == 1
    await check_invariants(db)


async def test_named_arguments_in_an_entry(rpc, session, db):
    await add_product(db, "A", stock=10)
    result = await bulk(rpc, session, {"named": {"storeCode": None, "items": {"A": 2}, "address": ADDRESS,
                                                 "info": {**INFO, "order_ref": "N-1"}}})
    assert (result["named"]["order_ref"], result["named"]["status"]) == ("N-1", "new")


async def test_a_list_of_orders_is_keyed_by_position(rpc, session, db):
    await add_product(db, "A", stock=10)
    result = await bulk(rpc, session, [entry({"A": 1}), entry({"NOPE": 1})])
    assert list(result) == ["0", "1"]
    assert result["0"]["unique_id"] == "100000001"
    assert result["1"]["error"]["code"] == -32107


async def test_an_empty_bulk_does_nothing(rpc, session, db):
    before = await snapshot(db)
    assert await bulk(rpc, session, {}) == {}
    assert await bulk(rpc, session, []) == {}
    assert await snapshot(db) == before


async def test_another_merchants_sku_is_an_error_entry(rpc, users, db):
    await add_product(db, "THEIRS", stock=10, merchant="other")
    await add_product(db, "A", stock=10)
    session = await rpc.login(users["merchant"])
    result = await bulk(rpc, session, {"x": entry({"THEIRS": 1}), "y": entry({"A": 1})})
    assert result["x"] == {"error": {"code": -32107, "message": NO_PRODUCT, "data": {"sku": "THEIRS"}}}
    assert result["y"]["status"] == "new"
    assert await stock_of(db, await db.fetchval("SELECT product_id FROM products WHERE sku = 'THEIRS'")) == (10, 0)


@pytest.mark.parametrize("orders", ["orders", 5, True])
async def test_orders_must_be_an_object(rpc, session, db, orders):
    error = await rpc.fault(session, "order.bulk_create", [orders])
    assert_fault(error, 102, "orders must be an object mapping your keys to order.create arguments")


async def test_bulk_needs_its_argument(rpc, session):
    assert_fault(await rpc.fault(session, "order.bulk_create", []), 6, 'Required parameter is missing, for more details see "exception.log".')


async def test_more_keys_than_the_limit_is_fault_102_and_writes_nothing(make_client, users, db):
    await add_product(db, "A", stock=10)
    rpc = await make_client(max_bulk_orders=2)
    session = await rpc.login(users["merchant"])
    before = await snapshot(db)
    error = await rpc.fault(session, "order.bulk_create", [{str(n): entry({"A": 1}) for n in range(3)}])
    assert_fault(error, 102, "orders: at most 2 orders per order.bulk_create, got 3")
    assert await snapshot(db) == before
    result = await rpc.result(session, "order.bulk_create", [{str(n): entry({"A": 1}) for n in range(2)}])
    assert [value["unique_id"] for value in result.values()] == ["100000001", "100000002"]


async def test_the_default_limit_is_1000_keys(rpc, session, db):
    await add_product(db, "A", stock=10)
    before = await snapshot(db)
    error = await rpc.fault(session, "order.bulk_create", [{str(n): entry({"A": 1}) for n in range(1001)}])
    assert_fault(error, 102, "orders: at most 1000 orders per order.bulk_create, got 1001")
    assert await snapshot(db) == before


async def test_warehouse_role_may_not_bulk_create(rpc, users, db):
    await add_product(db, "A", stock=10)
    warehouse = await rpc.login(users["warehouse"])
    assert_fault(await rpc.fault(warehouse, "order.bulk_create", [{"a": entry({"A": 1})}]), 2, "Access denied.")
    assert await db.fetchval("SELECT count(*) FROM orders") == 0
