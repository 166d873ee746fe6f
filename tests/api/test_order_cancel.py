"""order.cancel: every option on orders with reserved and backordered units (quantities, stock
released, result shape, events), faults 100/102/103, fulfilled items, and released stock going to
the next backordered order."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.engine_helpers import (
    allocations_of,
    create,
    events_after,
    history_of,
    items_of,
    last_event_seq,
    quantities,
    state_of,
    status_changes,
)
from tests.api.order_helpers import (
    NOT_FOUND,
    add_product,
    assert_fault,
    check_invariants,
    snapshot,
    stock_of,
)

FULFILLED = 'Order contains fulfilled items, please set the "cancellation_request" option to "true" and try again'
RESULT_KEYS = {"success", "warnings", "cancellations", "order"}


@pytest.fixture
async def session(rpc, users):
    return await rpc.login(users["merchant"])


@pytest.fixture
async def mixed(rpc, session, db) -> dict[str, Any]:
    """One order: A 5 ordered with 3 in stock (3 reserved, 2 backordered), B 2 with none
    (backordered), C 2 with 4 in stock (reserved)."""
    products = {
        "A": await add_product(db, "SKU-A", stock=3),
        "B": await add_product(db, "SKU-B"),
        "C": await add_product(db, "SKU-C", stock=4),
    }
    order = await create(rpc, session, [
        {"sku": "SKU-A", "qty": 5, "order_item_ref": "L1"},
        {"sku": "SKU-B", "qty": 2, "order_item_ref": "L2"},
        {"sku": "SKU-C", "qty": 2, "order_item_ref": "L3"},
    ], order_ref="REF-C", source="shop:9")
    assert (order["state"], order["status"]) == ("new", "partial_backorder")
    return {"products": products, "unique_id": order["unique_id"], "order": order}


async def cancel(rpc, session, unique_id: str, options: Any, fields: Any = None) -> dict[str, Any]:
    args = [unique_id, options] if fields is None else [unique_id, options, fields]
    result = await rpc.result(session, "order.cancel", args)
    assert set(result) == RESULT_KEYS, result
    return result


async def allocated(db, products: dict[str, int]) -> dict[str, int]:
    return {name: (await stock_of(db, product))[1] for name, product in products.items()}


# ---------------------------------------------------------------------------------- options


async def test_backordered_items_cancels_only_the_backordered_units(rpc, session, db, mixed):
    unique_id = mixed["unique_id"]
    mark = await last_event_seq(db)
    result = await cancel(rpc, session, unique_id, {"backordered_items": True})
    assert result["success"] is True and result["warnings"] == [] and result["cancellations"] == []
    assert quantities(await items_of(db, unique_id)) == [(3, 0, 2), (0, 0, 2), (2, 0, 0)]
    assert await allocated(db, mixed["products"]) == {"A": 3, "B": 0, "C": 2}
    assert await state_of(db, unique_id) == ("new", "new")
    events = await events_after(db, mark)
    assert [topic for topic, _ in events] == ["order:items_updated", "order:status_changed"]
    updated = events[0][1]
    assert updated["unique_id"] == unique_id and updated["order_ref"] == "REF-C" and updated["source"] == "shop:9"
    items = {item["sku"]: item for item in (await rpc.result(session, "order.info", [unique_id, ["items"]]))["items"]}
    assert updated["items_canceled"] == [
        {"sku": "SKU-A", "order_item_id": items["SKU-A"]["order_item_id"], "order_item_ref": "L1", "qty_canceled": "2.0000"},
        {"sku": "SKU-B", "order_item_id": items["SKU-B"]["order_item_id"], "order_item_ref": "L2", "qty_canceled": "2.0000"},
    ]
    # the lines with units left (B has none), each as order.info answers it
    assert updated["items_remaining"] == [items["SKU-A"], items["SKU-C"]]
    assert (items["SKU-A"]["qty_canceled"], items["SKU-A"]["qty_processing"]) == ("2.0000", "3.0000")
    assert status_changes(events) == [("new", "partial_backorder", "new", "new")]
    assert (await history_of(db, unique_id))[-1] == ("new", "new", "Canceled by order.cancel")
    await check_invariants(db)


@pytest.mark.parametrize(
    "options",
    [{"unfulfilled_items": True}, {"all_items": True}, {"cancellation_request": True},
     {"all_items": True, "cancellation_request": True}, {"backordered_items": True, "unfulfilled_items": "1"}],
)
async def test_options_that_cancel_everything_cancel_the_order(rpc, session, db, mixed, options):
    unique_id = mixed["unique_id"]
    mark = await last_event_seq(db)
    result = await cancel(rpc, session, unique_id, options, ["status", "state", "items"])
    assert result["success"] is True and result["warnings"] == []
    assert (result["order"]["state"], result["order"]["status"]) == ("canceled", "canceled")
    assert [(i["qty_processing"], i["qty_backordered"], i["qty_canceled"]) for i in result["order"]["items"]] == [
        ("0.0000", "0.0000", "5.0000"), ("0.0000", "0.0000", "2.0000"), ("0.0000", "0.0000", "2.0000"),
    ]
    assert quantities(await items_of(db, unique_id)) == [(0, 0, 5), (0, 0, 2), (0, 0, 2)]
    assert await allocations_of(db, unique_id) == {}
    assert await allocated(db, mixed["products"]) == {"A": 0, "B": 0, "C": 0}
    assert await state_of(db, unique_id) == ("canceled", "canceled")
    events = await events_after(db, mark)
    topics = [topic for topic, _ in events]
    assert "order:canceled" in topics
    assert status_changes(events) == [("new", "partial_backorder", "canceled", "canceled")]
    canceled = dict(events)["order:canceled"]
    assert (canceled["unique_id"], canceled["order_ref"], canceled["status"]) == (unique_id, "REF-C", "canceled")
    assert (await history_of(db, unique_id))[-1] == ("canceled", "canceled", "Canceled by order.cancel")
    # The released units are movements of their own.
    released = await db.fetch("SELECT product_id, qty_allocated_delta FROM stock_movements WHERE entity_action = 'deallocate' ORDER BY rpcf_id_position(product_id)")
    assert [(r["product_id"], r["qty_allocated_delta"]) for r in released] == [(mixed["products"]["A"], -3), (mixed["products"]["C"], -2)]
    await check_invariants(db)


async def test_order_canceled_carries_stock_adjustments_and_shipments(rpc, session, db, mixed):
    """reference §4.1: order:canceled adds stock_adjustments (what the cancel gave back, and
    what is available now) and shipments."""
    await db.execute("UPDATE products SET external_id = 'EXT-A' WHERE sku = 'SKU-A'")
    mark = await last_event_seq(db)
    await cancel(rpc, session, mixed["unique_id"], {"all_items": True})
    canceled = [m for topic, m in await events_after(db, mark) if topic == "order:canceled"]
    assert canceled == [{
        "unique_id": mixed["unique_id"], "order_ref": "REF-C", "source": "shop:9", "status": "canceled", "state": "canceled",
        "stock_adjustments": {
            "SKU-A": {"sku": "SKU-A", "external_id": "EXT-A", "product_id": mixed["products"]["A"],
                      "qty_adjust": 3, "qty_available": 3, "qty_advertised": 3},
            "SKU-C": {"sku": "SKU-C", "external_id": None, "product_id": mixed["products"]["C"],
                      "qty_adjust": 2, "qty_available": 4, "qty_advertised": 4},
        },
        "shipments": [],
    }]


async def test_order_canceled_counts_availability_after_backorders_took_the_units(rpc, session, db):
    await add_product(db, "SKU-R", stock=3)
    first = await create(rpc, session, {"SKU-R": 3})
    await create(rpc, session, {"SKU-R": 2})
    mark = await last_event_seq(db)
    await cancel(rpc, session, first["unique_id"], {"all_items": True})
    (canceled,) = [m for topic, m in await events_after(db, mark) if topic == "order:canceled"]
    adjustment = canceled["stock_adjustments"]["SKU-R"]
    assert (adjustment["qty_adjust"], adjustment["qty_available"]) == (3, 1)


async def test_partial_cancel_sends_no_order_canceled(rpc, session, db, mixed):
    mark = await last_event_seq(db)
    await cancel(rpc, session, mixed["unique_id"], {"items": [{"sku": "SKU-C", "qty": 1}]})
    assert "order:canceled" not in [topic for topic, _ in await events_after(db, mark)]


async def test_backordered_items_of_an_all_backordered_order_cancels_the_order(rpc, session, db):
    await add_product(db, "SKU-B")
    order = await create(rpc, session, {"SKU-B": 3})
    result = await cancel(rpc, session, order["unique_id"], {"backordered_items": True}, ["status"])
    assert result["success"] is True
    assert result["order"]["status"] == "canceled"
    assert await state_of(db, order["unique_id"]) == ("canceled", "canceled")
    await check_invariants(db)


async def test_items_by_sku_takes_backordered_units_first_then_reserved(rpc, session, db, mixed):
    unique_id = mixed["unique_id"]
    mark = await last_event_seq(db)
    result = await cancel(rpc, session, unique_id, {"items": [{"sku": "SKU-A", "qty": 3}]}, ["status"])
    assert result["success"] is True
    assert quantities(await items_of(db, unique_id)) == [(2, 0, 3), (0, 2, 0), (2, 0, 0)]
    assert await allocated(db, mixed["products"]) == {"A": 2, "B": 0, "C": 2}
    assert result["order"]["status"] == "partial_backorder"
    events = await events_after(db, mark)
    assert [topic for topic, _ in events] == ["order:items_updated"]
    assert [(entry["sku"], entry["qty_canceled"]) for entry in events[0][1]["items_canceled"]] == [("SKU-A", "3.0000")]
    assert [(entry["sku"], entry["qty_ordered"], entry["qty_canceled"]) for entry in events[0][1]["items_remaining"]] == [
        ("SKU-A", "5.0000", "3.0000"), ("SKU-B", "2.0000", "0.0000"), ("SKU-C", "2.0000", "0.0000")]
    await check_invariants(db)


async def test_items_by_order_item_ref(rpc, session, db, mixed):
    unique_id = mixed["unique_id"]
    result = await cancel(rpc, session, unique_id, {"items": [{"order_item_ref": "L3", "qty": 1}, {"order_item_ref": "L2", "qty": "2"}]})
    assert result["success"] is True
    assert quantities(await items_of(db, unique_id)) == [(3, 2, 0), (0, 0, 2), (1, 0, 1)]
    assert await allocated(db, mixed["products"]) == {"A": 3, "B": 0, "C": 1}
    assert await state_of(db, unique_id) == ("new", "partial_backorder")
    await check_invariants(db)


async def test_items_canceling_every_remaining_unit_cancels_the_order(rpc, session, db, mixed):
    unique_id = mixed["unique_id"]
    await cancel(rpc, session, unique_id, {"items": [{"sku": "SKU-C", "qty": 2}]})
    mark = await last_event_seq(db)
    result = await cancel(rpc, session, unique_id, {"items": [{"sku": "SKU-A", "qty": 5}, {"sku": "SKU-B", "qty": 2}]}, ["status"])
    assert result["order"]["status"] == "canceled"
    assert quantities(await items_of(db, unique_id)) == [(0, 0, 5), (0, 0, 2), (0, 0, 2)]
    assert "order:canceled" in [topic for topic, _ in await events_after(db, mark)]
    await check_invariants(db)


async def test_nothing_backordered_is_a_warning_not_a_fault(rpc, session, db):
    await add_product(db, "SKU-A", stock=5)
    order = await create(rpc, session, {"SKU-A": 2})
    before = await snapshot(db)
    result = await cancel(rpc, session, order["unique_id"], {"backordered_items": True})
    assert result["success"] is False
    assert result["warnings"] == ["Nothing was canceled: the order has no backordered items"]
    assert await snapshot(db) == before


# ----------------------------------------------------------------------------- result shape


async def test_fields_null_gives_the_three_ids(rpc, session, db, mixed):
    result = await rpc.result(session, "order.cancel", [mixed["unique_id"], {"backordered_items": True}, None])
    assert result["order"] == {k: mixed["order"][k] for k in ("order_id", "unique_id", "order_ref")}


async def test_fields_star_and_absent_give_every_scalar_property(rpc, session, db, mixed):
    result = await cancel(rpc, session, mixed["unique_id"], {"items": [{"sku": "SKU-C", "qty": 1}]}, "*")
    assert result["order"] == await rpc.result(session, "order.info", [mixed["unique_id"], "*"])
    assert "items" not in result["order"] and result["order"]["status"] == "partial_backorder"
    absent = await cancel(rpc, session, mixed["unique_id"], {"items": [{"sku": "SKU-C", "qty": 1}]})
    assert absent["order"] == await rpc.result(session, "order.info", [mixed["unique_id"], "*"])


async def test_fields_list_gives_the_ids_and_the_listed(rpc, session, db, mixed):
    result = await cancel(rpc, session, mixed["unique_id"], {"backordered_items": True}, ["status", "items", "status_history"])
    order = result["order"]
    assert set(order) == {"order_id", "unique_id", "order_ref", "status", "items", "status_history"}
    assert [i["qty_canceled"] for i in order["items"]] == ["2.0000", "2.0000", "0.0000"]
    assert order["status_history"][-1]["comment"] == "Canceled by order.cancel"


async def test_the_docs_form_with_fields_as_a_further_parameter(rpc, session, db, mixed):
    """order.md's example: [session, "order.cancel", [unique_id, {"all_items": true}], ["status", "items"]]."""
    body = await rpc.request("call", [session, "order.cancel", [mixed["unique_id"], {"all_items": True}], ["status", "items"]])
    result = body["result"]
    assert set(result) == RESULT_KEYS and result["success"] is True
    assert set(result["order"]) == {"order_id", "unique_id", "order_ref", "status", "items"}
    assert result["order"]["status"] == "canceled"


async def test_bad_fields_is_102_before_anything_changes(rpc, session, db, mixed):
    before = await snapshot(db)
    error = await rpc.fault(session, "order.cancel", [mixed["unique_id"], {"all_items": True}, ["nope"]])
    assert_fault(error, 102)
    assert await snapshot(db) == before


# --------------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({}, "set at least one of"),
        ({"all_items": False, "backordered_items": 0}, "set at least one of"),
        ({"everything": True}, "options.everything: unknown option"),
        ("all_items", "options must be an object"),
        ({"items": {"sku": "SKU-A", "qty": 1}}, "options.items: must be an array"),
        ({"items": [{"sku": "SKU-A", "qty": 6}]}, "only 5 unit(s) of sku 'SKU-A' can be canceled, 6 asked"),
        ({"items": [{"sku": "NOPE", "qty": 1}]}, "no item with sku 'NOPE'"),
        ({"items": [{"sku": "SKU-A", "order_item_ref": "L1", "qty": 1}]}, "exactly one of sku and order_item_ref"),
        ({"items": [{"sku": "SKU-A", "qty": 0}]}, "options.items[0].qty"),
        ({"items": [{"sku": "SKU-A", "qty": 1.5}]}, "options.items[0].qty"),
    ],
)
async def test_invalid_options_are_fault_102_and_change_nothing(rpc, session, db, mixed, options, says):
    before = await snapshot(db)
    error = await rpc.fault(session, "order.cancel", [mixed["unique_id"], options])
    assert_fault(error, 102)
    assert says in error["message"], error
    assert await snapshot(db) == before


async def test_items_lines_add_up_and_may_not_exceed_what_is_cancelable(rpc, session, db, mixed):
    """Two lines for the same SKU ask for 3 + 3 of the 5 cancelable units: refused, not 5 canceled."""
    before = await snapshot(db)
    error = await rpc.fault(session, "order.cancel", [mixed["unique_id"], {"items": [{"sku": "SKU-A", "qty": 3}, {"sku": "SKU-A", "qty": 3}]}])
    assert_fault(error, 102)
    assert "options.items[1]" in error["message"]
    assert await snapshot(db) == before
    await cancel(rpc, session, mixed["unique_id"], {"items": [{"sku": "SKU-A", "qty": 2}, {"order_item_ref": "L1", "qty": 3}]})
    assert quantities(await items_of(db, mixed["unique_id"]))[0] == (0, 0, 5)


async def test_items_on_top_of_backordered_items_cancel_more(rpc, session, db, mixed):
    """The backordered units go by the flag; the line cancels units beyond them."""
    await cancel(rpc, session, mixed["unique_id"], {"backordered_items": True, "items": [{"sku": "SKU-A", "qty": 1}]})
    assert quantities(await items_of(db, mixed["unique_id"])) == [(2, 0, 3), (0, 0, 2), (2, 0, 0)]
    await check_invariants(db)


async def test_a_canceled_order_is_fault_103(rpc, session, db, mixed):
    await cancel(rpc, session, mixed["unique_id"], {"all_items": True})
    before = await snapshot(db)
    error = await rpc.fault(session, "order.cancel", [mixed["unique_id"], {"all_items": True}])
    assert_fault(error, 103, "the order is already canceled")
    assert await snapshot(db) == before


async def test_unknown_and_another_merchants_order_are_fault_100(rpc, users, session, db):
    await add_product(db, "SKU-O", stock=2, merchant="other")
    other = await rpc.login(users["other"])
    theirs = await create(rpc, other, {"SKU-O": 1})
    before = await snapshot(db)
    assert_fault(await rpc.fault(session, "order.cancel", ["100000999", {"all_items": True}]), 100, NOT_FOUND)
    assert_fault(await rpc.fault(session, "order.cancel", [theirs["unique_id"], {"all_items": True}]), 100, NOT_FOUND)
    assert await snapshot(db) == before


async def test_the_warehouse_role_may_not_cancel(rpc, users, session, db, mixed):
    warehouse = await rpc.login(users["warehouse"])
    before = await snapshot(db)
    assert_fault(await rpc.fault(warehouse, "order.cancel", [mixed["unique_id"], {"all_items": True}]), 2, "Access denied.")
    assert await snapshot(db) == before


# ----------------------------------------------------------------------- orders on hold


async def test_partial_cancel_keeps_an_order_on_hold_and_all_items_cancels_it(rpc, session, db, mixed):
    unique_id = mixed["unique_id"]
    await rpc.result(session, "order.hold", [unique_id])
    await cancel(rpc, session, unique_id, {"backordered_items": True})
    assert await state_of(db, unique_id) == ("holded", "holded")
    result = await cancel(rpc, session, unique_id, {"all_items": True}, ["state", "status"])
    assert (result["order"]["state"], result["order"]["status"]) == ("canceled", "canceled")
    assert await allocated(db, mixed["products"]) == {"A": 0, "B": 0, "C": 0}
    await check_invariants(db)


# -------------------------------------------------------------------------- fulfilled items


async def ship(db, unique_id: str, sku: str, qty: int, *, state: str = "processing", status: str = "processing") -> None:
    """Arrange ``qty`` reserved units of ``sku`` as shipped from warehouse 1, consistently:
    the item, its allocation, the stock (allocated and on hand) and the order's state."""
    async with db.transaction():
        item = await db.fetchrow(
            """UPDATE order_items i SET qty_processing = qty_processing - $3, qty_shipped = qty_shipped + $3
                 FROM orders o WHERE o.order_id = i.order_id AND o.unique_id = $1 AND i.sku = $2
            RETURNING i.order_item_id, i.product_id""",
            unique_id, sku, qty,
        )
        await db.execute(
            "UPDATE order_item_allocations SET qty_allocated = qty_allocated - $2 WHERE order_item_id = $1 AND warehouse_id = 1 AND qty_allocated > $2",
            item["order_item_id"], qty,
        )
        await db.execute("DELETE FROM order_item_allocations WHERE order_item_id = $1 AND warehouse_id = 1 AND qty_allocated = $2", item["order_item_id"], qty)
        await db.execute(
            "UPDATE stock SET qty_allocated = qty_allocated - $2, qty_on_hand = qty_on_hand - $2 WHERE product_id = $1 AND warehouse_id = 1",
            item["product_id"], qty,
        )
        await db.execute("UPDATE orders SET state = $2, status = $3 WHERE unique_id = $1", unique_id, state, status)


async def test_all_items_with_shipped_units_asks_for_a_cancellation_request(rpc, session, db):
    product = await add_product(db, "SKU-S", stock=10)
    order = await create(rpc, session, {"SKU-S": 3})
    await ship(db, order["unique_id"], "SKU-S", 2)
    await check_invariants(db)
    before = await snapshot(db)
    result = await cancel(rpc, session, order["unique_id"], {"all_items": True}, ["status", "items"])
    assert result["success"] is False
    assert result["warnings"] == [FULFILLED]
    assert result["cancellations"] == []
    assert result["order"]["status"] == "processing"
    assert result["order"]["items"][0]["qty_shipped"] == "2.0000"
    assert await snapshot(db) == before
    # With cancellation_request the unfulfilled unit is canceled; the shipped ones stay shipped.
    result = await cancel(rpc, session, order["unique_id"], {"all_items": True, "cancellation_request": True}, ["state", "status"])
    assert result["success"] is True and result["warnings"] == []
    assert (result["order"]["state"], result["order"]["status"]) == ("complete", "complete")
    assert await stock_of(db, product) == (8, 0)
    await check_invariants(db)


async def test_all_items_on_a_complete_order(rpc, session, db):
    await add_product(db, "SKU-S", stock=10)
    order = await create(rpc, session, {"SKU-S": 2})
    await ship(db, order["unique_id"], "SKU-S", 2, state="complete", status="complete")
    result = await cancel(rpc, session, order["unique_id"], {"all_items": True}, ["status"])
    assert (result["success"], result["warnings"], result["order"]["status"]) == (False, [FULFILLED], "complete")


async def test_unfulfilled_items_leaves_units_in_a_shipment_and_cancellation_request_asks_for_them(rpc, session, db):
    await add_product(db, "SKU-S", stock=3)
    order = await create(rpc, session, {"SKU-S": 5})
    unique_id = order["unique_id"]
    # Two of the three reserved units are in an open shipment.
    async with db.transaction():
        row = await db.fetchrow("SELECT o.order_id, o.merchant_id, i.order_item_id, i.product_id FROM orders o JOIN order_items i USING (order_id) WHERE o.unique_id = $1", unique_id)
        shipment = await db.fetchval(
            """INSERT INTO shipments (merchant_id, order_id, warehouse_id, increment_id)
               VALUES ($1, $2, 1, rpcf_merchant_nextval('shipment_increment_id', $1)::text) RETURNING increment_id""",
            row["merchant_id"], row["order_id"],
        )
        await db.execute(
            "INSERT INTO shipment_items (shipment_id, order_item_id, merchant_id, product_id, sku, qty) SELECT shipment_id, $1, $2, $3, 'SKU-S', 2 FROM shipments WHERE increment_id = $4",
            row["order_item_id"], row["merchant_id"], row["product_id"], shipment,
        )
        await db.execute("UPDATE order_items SET qty_in_shipment = 2 WHERE order_item_id = $1", row["order_item_id"])
        await db.execute("UPDATE orders SET state = 'processing', status = 'partial_backorder' WHERE order_id = $1", row["order_id"])
    result = await cancel(rpc, session, unique_id, {"unfulfilled_items": True}, ["state", "status"])
    assert result["success"] is True and result["cancellations"] == []
    assert quantities(await items_of(db, unique_id)) == [(2, 0, 3)]
    assert (result["order"]["state"], result["order"]["status"]) == ("processing", "processing")
    assert (await cancel(rpc, session, unique_id, {"all_items": True}))["warnings"] == [FULFILLED]
    result = await cancel(rpc, session, unique_id, {"cancellation_request": True}, ["status"])
    assert result["success"] is True and result["cancellations"] == [shipment]
    assert await db.fetchval("SELECT qty_cancel_requested FROM shipment_items") == 2
    # The units stay in the shipment until the warehouse resolves the request.
    assert quantities(await items_of(db, unique_id)) == [(2, 0, 3)]
    assert result["order"]["status"] == "processing"
    await check_invariants(db)


# ----------------------------------------------------------- released stock goes on


async def test_released_stock_goes_to_the_next_backordered_order(rpc, session, db):
    product = await add_product(db, "SKU-R", stock=3)
    first = await create(rpc, session, {"SKU-R": 3})
    later = await create(rpc, session, {"SKU-R": 2}, order_ref="LATER")
    urgent = await create(rpc, session, {"SKU-R": 2}, priority=10)
    assert later["status"] == urgent["status"] == "backordered"
    mark = await last_event_seq(db)
    await cancel(rpc, session, first["unique_id"], {"items": [{"sku": "SKU-R", "qty": 1}]})
    # One unit freed: the urgent order (lower priority number) takes it although it came last.
    assert await allocations_of(db, urgent["unique_id"]) == {("SKU-R", 1): 1}
    assert await state_of(db, urgent["unique_id"]) == ("new", "partial_backorder")
    assert await state_of(db, later["unique_id"]) == ("new", "backordered")
    await cancel(rpc, session, first["unique_id"], {"all_items": True})
    assert await state_of(db, urgent["unique_id"]) == ("new", "new")
    assert await state_of(db, later["unique_id"]) == ("new", "partial_backorder")
    assert await stock_of(db, product) == (3, 3)
    assert status_changes(await events_after(db, mark, urgent["unique_id"])) == [
        ("new", "backordered", "new", "partial_backorder"), ("new", "partial_backorder", "new", "new"),
    ]
    assert status_changes(await events_after(db, mark, later["unique_id"])) == [("new", "backordered", "new", "partial_backorder")]
    movements = await db.fetch(
        "SELECT entity_action, entity_id, qty_allocated_delta FROM stock_movements WHERE entity_type = 'order' ORDER BY movement_id"
    )
    assert sorted(tuple(m) for m in movements[-5:]) == sorted([
        ("deallocate", first["unique_id"], -1), ("allocate", urgent["unique_id"], 1),
        ("deallocate", first["unique_id"], -2), ("allocate", urgent["unique_id"], 1), ("allocate", later["unique_id"], 1),
    ])
    await check_invariants(db)
