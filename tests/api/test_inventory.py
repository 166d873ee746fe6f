"""inventory.list and inventory.adjust through the real app and database."""

from __future__ import annotations

import pytest

from tests.api.catalog_helpers import (
    add_backorder,
    add_warehouse,
    allocate,
    call_concurrently,
    create_product,
    events_of,
    fault_code,
    login_all,
    product_row,
    stock_row,
)

ZERO = "0.0000"


def item(sku: str, on_hand: int = 0, allocated: int = 0, backordered: int | None = 0) -> dict:
    """An inventory item; ``backordered`` None for one warehouse's item, which has no qty_backordered."""
    available = f"{on_hand - allocated}.0000"
    listed = {
        "sku": sku,
        "qty_expected": ZERO,
        "qty_unreceived": ZERO,
        "qty_processed": ZERO,
        "qty_putaway": ZERO,
        "qty_available": available,
        "qty_allocated": f"{allocated}.0000",
        "qty_reserved": ZERO,
        "qty_picked": ZERO,
        "qty_backordered": f"{backordered}.0000",
        "qty_advertised": available,
        "qty_on_hand": f"{on_hand}.0000",
    }
    if backordered is None:
        del listed["qty_backordered"]
    return listed


@pytest.fixture
async def sessions(rpc, users):
    return await login_all(rpc, users)


@pytest.fixture
async def east(db):
    return await add_warehouse(db, "East")


async def adjust(rpc, session, sku, warehouse_id, qty, reason=None):
    return await rpc.result(session, "inventory.adjust", [sku, warehouse_id, qty, reason])


async def movements(db):
    return await db.fetch("SELECT * FROM stock_movements ORDER BY movement_id")


# -- inventory.adjust --------------------------------------------------------------------------


async def test_first_receipt_creates_the_stock_row(rpc, sessions, db, users):
    await create_product(rpc, sessions["merchant"], "W-1", external_id="ext-1")
    product_id = (await product_row(db, "W-1"))["product_id"]

    result = await adjust(rpc, sessions["warehouse"], "W-1", 1, 10, "cycle count")

    assert result == {**item("W-1", on_hand=10), "warehouse_id": 1}
    assert await stock_row(db, "W-1") == (10, 0)
    [movement] = await movements(db)
    assert movement["entity_type"] == "stock" and movement["entity_action"] == "adjust"  # ShipStream's type (was "adjustment")
    assert movement["entity_id"] is None
    assert movement["product_id"] == product_id and movement["warehouse_id"] == 1
    assert movement["qty_on_hand_delta"] == 10 and movement["qty_allocated_delta"] == 0
    assert movement["comment"] == "cycle count"
    assert movement["api_user_id"] == await db.fetchval(
        "SELECT api_user_id FROM api_users WHERE username = $1", users["warehouse"].username
    )
    [event] = await events_of(db, "inventory:adjusted")
    assert event["merchant_code"] == "acme"
    assert event["message"] == {
        "stock_adjustments": {
            "W-1": {
                "sku": "W-1",
                "external_id": "ext-1",
                "product_id": product_id,
                "qty_adjust": 10,
                "qty_available": 10,
                "qty_advertised": 10,
            }
        }
    }


async def test_receive_and_remove_across_warehouses(rpc, sessions, db, east):
    await create_product(rpc, sessions["merchant"], "W-2")
    session = sessions["admin"]
    await adjust(rpc, session, "W-2", 1, 10)
    await adjust(rpc, session, "W-2", east, "7")  # a numeric string is a whole number too
    result = await adjust(rpc, session, "W-2", 1, -4, "damaged")
    assert result == {**item("W-2", on_hand=6), "warehouse_id": 1}
    assert await stock_row(db, "W-2", 1) == (6, 0)
    assert await stock_row(db, "W-2", east) == (7, 0)
    assert [(m["warehouse_id"], m["qty_on_hand_delta"], m["comment"]) for m in await movements(db)] == [
        (1, 10, ""),
        (east, 7, ""),
        (1, -4, "damaged"),
    ]
    # Events carry the change and the totals over all warehouses.
    adjusted = [e["message"]["stock_adjustments"]["W-2"] for e in await events_of(db, "inventory:adjusted")]
    assert [(a["qty_adjust"], a["qty_available"], a["qty_advertised"]) for a in adjusted] == [
        (10, 10, 10),
        (7, 17, 17),
        (-4, 13, 13),
    ]


async def test_remove_everything_available(rpc, sessions, db):
    await create_product(rpc, sessions["merchant"], "ALL")
    await adjust(rpc, sessions["warehouse"], "ALL", 1, 5)
    await allocate(db, "ALL", 2)
    result = await adjust(rpc, sessions["warehouse"], "ALL", 1, -3)
    assert result == {**item("ALL", on_hand=2, allocated=2), "warehouse_id": 1}
    assert await stock_row(db, "ALL") == (2, 2)


async def test_removing_more_than_available_changes_nothing(rpc, sessions, db):
    await create_product(rpc, sessions["merchant"], "SHORT")
    await adjust(rpc, sessions["warehouse"], "SHORT", 1, 6)
    await allocate(db, "SHORT", 3)  # 6 on hand, 3 allocated: 3 available

    error = await rpc.fault(sessions["warehouse"], "inventory.adjust", ["SHORT", 1, -4, "oops"])

    assert error == {
        "code": fault_code(103),
        "message": "Stock not adjusted: SKU 'SHORT' in warehouse 1 has 3 available, 4 requested for removal",
    }
    assert await stock_row(db, "SHORT") == (6, 3)
    assert len(await movements(db)) == 1  # the receipt only
    assert len(await events_of(db, "inventory:adjusted")) == 1


async def test_removing_where_there_is_no_stock(rpc, sessions, db, east):
    await create_product(rpc, sessions["merchant"], "NONE")
    await adjust(rpc, sessions["warehouse"], "NONE", 1, 5)
    error = await rpc.fault(sessions["warehouse"], "inventory.adjust", ["NONE", east, -1])
    assert error == {
        "code": fault_code(103),
        "message": f"Stock not adjusted: SKU 'NONE' in warehouse {east} has 0 available, 1 requested for removal",
    }
    assert await stock_row(db, "NONE", east) == (0, 0)  # every product has a row in every warehouse
    assert len(await movements(db)) == 1


@pytest.mark.parametrize("qty", [10, -1])
async def test_sku_not_found(rpc, sessions, db, qty):
    await create_product(rpc, sessions["other"], "THEIRS")
    for sku in ("NOPE", "THEIRS"):
        error = await rpc.fault(sessions["warehouse"], "inventory.adjust", [sku, 1, qty])
        assert error["code"] == fault_code(101) and error["message"] == "Product not exists."
    assert await db.fetchval("SELECT count(*) FROM stock WHERE qty_on_hand <> 0") == 0
    assert await movements(db) == []
    assert await events_of(db, "inventory:adjusted") == []


@pytest.mark.parametrize("qty", [10, -1])
async def test_unknown_warehouse(rpc, sessions, db, qty):
    await create_product(rpc, sessions["merchant"], "WH")
    error = await rpc.fault(sessions["warehouse"], "inventory.adjust", ["WH", 999, qty])
    assert error == {"code": fault_code(102), "message": "Invalid data given: warehouse 999 does not exist"}
    assert await db.fetchval("SELECT count(*) FROM stock WHERE qty_on_hand <> 0") == 0
    assert await movements(db) == [] and await events_of(db, "inventory:adjusted") == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["Q", 1, 0], "'qty_delta' must be a non-zero whole number from -1000000000 to 1000000000, not '0'"),
        (["Q", 1, 1.5], "'qty_delta' must be a non-zero whole number from -1000000000 to 1000000000, not '1.5'"),
        (["Q", 1, "ten"], "'qty_delta' must be a non-zero whole number from -1000000000 to 1000000000, not 'ten'"),
        (["Q", 1, True], "'qty_delta' must be a non-zero whole number from -1000000000 to 1000000000, not 'True'"),
        (["Q", 1, 2_000_000_000], "'qty_delta' must be a non-zero whole number from -1000000000 to 1000000000, not '2000000000'"),
        (["Q", 1, [1]], "'qty_delta' must be a non-zero whole number from -1000000000 to 1000000000, not '[1]'"),
        (["Q", "main", 1], "'warehouse_id' must be a warehouse id (a positive whole number), not 'main'"),
        (["Q", 0, 1], "'warehouse_id' must be a warehouse id (a positive whole number), not '0'"),
        (["Q", 1, 1, 5], "'reason' must be a string"),
        (["Q", 1, 1, "x" * 1025], "'reason' must be at most 1024 characters"),
        ([{"sku": "Q"}, 1, 1], "'sku' must be a non-empty string"),
    ],
)
async def test_invalid_arguments(rpc, sessions, db, args, message):
    await create_product(rpc, sessions["merchant"], "Q")
    error = await rpc.fault(sessions["warehouse"], "inventory.adjust", args)
    assert error == {"code": fault_code(102), "message": f"Invalid data given: {message}"}
    assert await movements(db) == []


async def test_missing_arguments_are_fault_6(rpc, sessions):
    error = await rpc.fault(sessions["warehouse"], "inventory.adjust", ["Q", 1])
    assert error["code"] == fault_code(6) and "qty_delta" in error["data"]


async def test_reason_is_optional_and_named_arguments_work(rpc, sessions, db):
    await create_product(rpc, sessions["merchant"], "NAMED")
    result = await rpc.result(sessions["warehouse"], "inventory.adjust", {"sku": "NAMED", "warehouse_id": 1, "qty_delta": 2})
    assert result["qty_on_hand"] == "2.0000"
    assert (await movements(db))[0]["comment"] == ""


async def test_only_warehouse_and_admin_may_adjust(rpc, sessions, db):
    await create_product(rpc, sessions["merchant"], "ROLE")
    for label in ("merchant", "other"):
        error = await rpc.fault(sessions[label], "inventory.adjust", ["ROLE", 1, 5])
        assert error["code"] == fault_code(2) and error["message"] == "Access denied."
    assert await db.fetchval("SELECT count(*) FROM stock WHERE qty_on_hand <> 0") == 0
    await adjust(rpc, sessions["warehouse"], "ROLE", 1, 1)
    await adjust(rpc, sessions["admin"], "ROLE", 1, 1)
    assert await stock_row(db, "ROLE") == (2, 0)


async def test_concurrent_removals_never_go_below_zero(rpc, sessions, db):
    await create_product(rpc, sessions["merchant"], "RACE")
    await adjust(rpc, sessions["warehouse"], "RACE", 1, 10)

    bodies = await call_concurrently(rpc, sessions["warehouse"], "inventory.adjust", [["RACE", 1, -1]] * 20)

    succeeded = [body["result"] for body in bodies if "result" in body]
    failed = [body["error"] for body in bodies if "error" in body]
    assert len(succeeded) == 10 and len(failed) == 10
    assert all(error["code"] == fault_code(103) for error in failed)
    assert all("1 requested for removal" in error["message"] for error in failed)
    # every success saw a different remaining quantity: 9, 8, ..., 0
    assert sorted(result["qty_on_hand"] for result in succeeded) == sorted(f"{n}.0000" for n in range(10))
    assert await stock_row(db, "RACE") == (0, 0)
    assert [m["qty_on_hand_delta"] for m in await movements(db)] == [10] + [-1] * 10
    assert len(await events_of(db, "inventory:adjusted")) == 11


async def test_concurrent_first_receipts_all_count(rpc, sessions, db, east):
    await create_product(rpc, sessions["merchant"], "FIRST")
    args = [["FIRST", 1, 1]] * 10 + [["FIRST", east, 2]] * 10
    bodies = await call_concurrently(rpc, sessions["warehouse"], "inventory.adjust", args)
    assert all("result" in body for body in bodies)
    assert await stock_row(db, "FIRST", 1) == (10, 0)
    assert await stock_row(db, "FIRST", east) == (20, 0)
    assert await db.fetchval("SELECT sum(qty_on_hand_delta) FROM stock_movements") == 30
    assert len(await events_of(db, "inventory:adjusted")) == 20
    assert await rpc.result(sessions["merchant"], "inventory.list", "FIRST") == [item("FIRST", 30)]


async def test_concurrent_mixed_adjustments_keep_the_books(rpc, sessions, db):
    await create_product(rpc, sessions["merchant"], "MIX")
    await adjust(rpc, sessions["warehouse"], "MIX", 1, 5)
    args = [["MIX", 1, -2], ["MIX", 1, 3]] * 10
    bodies = await call_concurrently(rpc, sessions["warehouse"], "inventory.adjust", args)
    applied = sum(a[2] for a, body in zip(args, bodies) if "result" in body)
    on_hand, allocated = await stock_row(db, "MIX")
    assert on_hand == 5 + applied and on_hand >= 0 and allocated == 0
    assert await db.fetchval("SELECT sum(qty_on_hand_delta) FROM stock_movements") == on_hand
    assert await db.fetchval("SELECT count(*) FROM events WHERE topic = 'inventory:adjusted'") == 1 + sum(
        "result" in body for body in bodies
    )


async def test_received_stock_goes_to_backorders_and_the_answer_shows_it(rpc, sessions, db):
    await create_product(rpc, sessions["merchant"], "BO")
    await add_backorder(db, "BO", 4)
    # The order engine's hook (after_stock_received) gives the 2 new units to the backorder.
    result = await adjust(rpc, sessions["warehouse"], "BO", 1, 2)
    assert result == {**item("BO", on_hand=2, allocated=2, backordered=2), "warehouse_id": 1}
    assert await stock_row(db, "BO") == (2, 2)
    [event] = await events_of(db, "inventory:adjusted")
    assert event["message"]["stock_adjustments"]["BO"]["qty_adjust"] == 2
    assert event["message"]["stock_adjustments"]["BO"]["qty_available"] == 0


async def test_backorders_are_counted_for_the_answer(rpc, sessions, db, monkeypatch):
    from rpc_fulfillment.inventory import api as inventory

    async def keep(conn, receipt):  # stock stays available: the backorder waits
        return 0

    monkeypatch.setattr(inventory, "after_stock_received", keep)
    await create_product(rpc, sessions["merchant"], "BO2")
    await add_backorder(db, "BO2", 4)
    result = await adjust(rpc, sessions["warehouse"], "BO2", 1, 2)
    assert result == {**item("BO2", on_hand=2, backordered=4), "warehouse_id": 1}


async def test_concurrent_receipts_with_backorders_do_not_deadlock(rpc, sessions, db, east):
    await create_product(rpc, sessions["merchant"], "BOR")
    await rpc.result(sessions["warehouse"], "inventory.adjust", ["BOR", east, 1])  # both rows exist
    await rpc.result(sessions["warehouse"], "inventory.adjust", ["BOR", 1, 1])
    for _ in range(5):
        await add_backorder(db, "BOR", 3)
    args = [["BOR", 1, 1], ["BOR", east, 1]] * 8
    bodies = await call_concurrently(rpc, sessions["warehouse"], "inventory.adjust", args)
    assert [body.get("error") for body in bodies] == [None] * 16
    rows = [await stock_row(db, "BOR", warehouse) for warehouse in (1, east)]
    assert sum(on_hand for on_hand, _ in rows) == 18  # 2 + 16
    assert sum(allocated for _, allocated in rows) == 15  # every backordered unit


# -- inventory.list -----------------------------------------------------------------------------


async def test_list_is_empty_without_products(rpc, sessions):
    assert await rpc.result(sessions["merchant"], "inventory.list") == []


async def test_list_shapes_and_sums_over_warehouses(rpc, sessions, db, east):
    await create_product(rpc, sessions["merchant"], "L-1")
    await create_product(rpc, sessions["merchant"], "L-2")
    await create_product(rpc, sessions["merchant"], "L-3")
    await adjust(rpc, sessions["warehouse"], "L-1", 1, 10)
    await adjust(rpc, sessions["warehouse"], "L-1", east, 5)
    await adjust(rpc, sessions["warehouse"], "L-2", east, 8)
    await allocate(db, "L-1", 3)
    await add_backorder(db, "L-2", 4)
    await add_backorder(db, "L-2", 1, state="holded", status="holded")
    await add_backorder(db, "L-2", 7, state="canceled", status="canceled")  # closed: not counted
    await add_backorder(db, "L-2", 9, state="complete", status="complete")  # closed: not counted

    everything = await rpc.result(sessions["merchant"], "inventory.list")
    assert everything == [item("L-1", 15, 3), item("L-2", 8, 0, 5), item("L-3")]
    # One warehouse: its stock, and no qty_backordered (the docs: backorders are not
    # apportioned to warehouses; the old answer gave the product's total).
    assert await rpc.result(sessions["merchant"], "inventory.list", [None, east]) == [
        item("L-1", 5, 0, None), item("L-2", 8, 0, None), item("L-3", 0, 0, None)
    ]
    assert await rpc.result(sessions["merchant"], "inventory.list", [None, 1]) == [
        item("L-1", 10, 3, None), item("L-2", 0, 0, None), item("L-3", 0, 0, None)
    ]


async def test_list_sku_arguments(rpc, sessions):
    session = sessions["merchant"]
    for sku in ("A", "B", "C", "123"):
        await create_product(rpc, session, sku)
    assert [i["sku"] for i in await rpc.result(session, "inventory.list", "B")] == ["B"]  # a bare string (MW README)
    assert [i["sku"] for i in await rpc.result(session, "inventory.list", [["C", "A", "nope"]])] == ["A", "C"]
    assert [i["sku"] for i in await rpc.result(session, "inventory.list", [[123]])] == ["123"]
    assert len(await rpc.result(session, "inventory.list", None)) == 4  # null (POM)
    assert len(await rpc.result(session, "inventory.list", [[]])) == 4
    assert len(await rpc.result(session, "inventory.list", {"skus": None, "warehouseId": 1})) == 4
    assert await rpc.result(session, "inventory.list", "nope") == []


async def test_list_excludes_disabled_and_invisible_products(rpc, sessions):
    session = sessions["merchant"]
    await create_product(rpc, session, "ON")
    await create_product(rpc, session, "OFF", status=2)
    await create_product(rpc, session, "HIDDEN", visibility=1)
    assert [i["sku"] for i in await rpc.result(session, "inventory.list")] == ["ON"]
    assert await rpc.result(session, "inventory.list", [["OFF", "HIDDEN"]]) == []
    await rpc.result(session, "product.update", ["OFF", {"status": "enabled"}])
    assert [i["sku"] for i in await rpc.result(session, "inventory.list")] == ["OFF", "ON"]  # SKU order


async def test_list_sees_only_own_stock(rpc, sessions, db):
    await create_product(rpc, sessions["merchant"], "MINE")
    await create_product(rpc, sessions["other"], "MINE")
    await create_product(rpc, sessions["other"], "THEIRS")
    await adjust(rpc, sessions["warehouse"], "MINE", 1, 4)
    assert await rpc.result(sessions["merchant"], "inventory.list") == [item("MINE", 4)]
    assert await rpc.result(sessions["other"], "inventory.list") == [item("MINE"), item("THEIRS")]
    assert await rpc.result(sessions["merchant"], "inventory.list", "THEIRS") == []


async def test_list_updated_since(rpc, sessions, db):
    session = sessions["merchant"]
    for sku in ("OLD", "RESTOCKED", "RENAMED"):
        await create_product(rpc, session, sku)
    await adjust(rpc, sessions["warehouse"], "OLD", 1, 1)
    await adjust(rpc, sessions["warehouse"], "RESTOCKED", 1, 1)
    await db.execute("UPDATE products SET updated_at = '2020-01-01T00:00:00Z', created_at = '2020-01-01T00:00:00Z'")
    await db.execute("UPDATE stock SET updated_at = '2020-01-01T00:00:00Z'")
    assert await rpc.result(session, "inventory.list", [None, None, "2021-01-01T00:00:00+00:00"]) == []

    await adjust(rpc, sessions["warehouse"], "RESTOCKED", 1, 2)
    await rpc.result(session, "product.update", ["RENAMED", {"name": "Renamed"}])
    since = await rpc.result(session, "inventory.list", [None, None, "2021-01-01T00:00:00+00:00"])
    assert [i["sku"] for i in since] == ["RENAMED", "RESTOCKED"]  # SKU order
    assert since[1] == item("RESTOCKED", 3)
    everything = await rpc.result(session, "inventory.list", [None, None, "2019-12-31"])
    assert len(everything) == 3


@pytest.mark.parametrize(
    "args, message",
    [
        ([None, 999], "warehouse 999 does not exist"),
        ([None, "east"], "'warehouseId' must be a warehouse id (a positive whole number), not 'east'"),
        ([None, None, "yesterday"], "'updatedSince': 'yesterday' is not a date or date-time"),
        ([None, None, 20240101], "'updatedSince' must be a date-time string such as 2008-07-01T22:38:07+00:00"),
        ([{"sku": "A"}], "'skus' must be a SKU, an array of SKUs or null"),
        ([["A", None]], "'skus' item 1 must be a string"),
    ],
)
async def test_list_invalid_arguments(rpc, sessions, args, message):
    error = await rpc.fault(sessions["merchant"], "inventory.list", args)
    assert error["code"] == fault_code(102)
    assert error["message"].startswith(f"Invalid data given: {message}")


async def test_warehouse_id_as_string(rpc, sessions):
    await create_product(rpc, sessions["merchant"], "S")
    await adjust(rpc, sessions["warehouse"], "S", "1", 3)
    assert await rpc.result(sessions["merchant"], "inventory.list", [None, "1"]) == [item("S", 3, 0, None)]


# -- the stock-receipt hook (where the order engine will let backorders take new stock) ----------


async def test_receipt_hook_sees_the_receipt_and_its_allocations_are_answered(rpc, sessions, db, monkeypatch):
    from rpc_fulfillment.inventory import api as inventory

    seen = []

    async def allocate_two(conn, receipt):
        seen.append(receipt)
        await conn.execute(
            "UPDATE stock SET qty_allocated = qty_allocated + 2 WHERE product_id = $1 AND warehouse_id = $2",
            receipt.product_id,
            receipt.warehouse_id,
        )
        return 2

    monkeypatch.setattr(inventory, "after_stock_received", allocate_two)
    await create_product(rpc, sessions["merchant"], "HOOK")
    product_id = (await product_row(db, "HOOK"))["product_id"]

    result = await adjust(rpc, sessions["warehouse"], "HOOK", 1, 5)

    assert [(r.product_id, r.sku, r.warehouse_id, r.qty) for r in seen] == [(product_id, "HOOK", 1, 5)]
    assert result == {**item("HOOK", on_hand=5, allocated=2), "warehouse_id": 1}
    [event] = await events_of(db, "inventory:adjusted")
    assert event["message"]["stock_adjustments"]["HOOK"]["qty_available"] == 3
    # removals do not call the hook
    await adjust(rpc, sessions["warehouse"], "HOOK", 1, -1)
    assert len(seen) == 1


async def test_a_failing_receipt_hook_undoes_the_receipt(rpc, sessions, db, monkeypatch):
    from rpc_fulfillment.inventory import api as inventory

    async def broken(conn, receipt):
        raise RuntimeError("order engine exploded")

    monkeypatch.setattr(inventory, "after_stock_received", broken)
    await create_product(rpc, sessions["merchant"], "UNDO")
    error = await rpc.fault(sessions["warehouse"], "inventory.adjust", ["UNDO", 1, 5])
    assert error["code"] == fault_code(1)
    assert await db.fetchval("SELECT count(*) FROM stock WHERE qty_on_hand <> 0") == 0
    assert await movements(db) == [] and await events_of(db, "inventory:adjusted") == []


async def test_stock_adjustments_helper_for_other_events(rpc, sessions, db, east, settings):
    """services.inventory.stock_adjustments: the payload order events reuse."""
    from rpc_fulfillment.inventory.api import stock_adjustments
    from tests.api.catalog_helpers import product_row as row_of

    await create_product(rpc, sessions["merchant"], "SA-1", external_id="e1")
    await create_product(rpc, sessions["merchant"], "SA-2")
    await create_product(rpc, sessions["other"], "SA-3")
    await adjust(rpc, sessions["warehouse"], "SA-1", 1, 4)
    await adjust(rpc, sessions["warehouse"], "SA-1", east, 3)
    await allocate(db, "SA-1", 1)
    ids = {sku: (await row_of(db, sku, "other" if sku == "SA-3" else "acme"))["product_id"] for sku in ("SA-1", "SA-2", "SA-3")}
    acme = await db.fetchval("SELECT merchant_id FROM merchants WHERE code = 'acme'")
    payload = await stock_adjustments(db, acme, {ids["SA-1"]: -1, ids["SA-2"]: 0, ids["SA-3"]: 5})
    assert payload == {
        "SA-1": {"sku": "SA-1", "external_id": "e1", "product_id": ids["SA-1"], "qty_adjust": -1, "qty_available": 6, "qty_advertised": 6},
        "SA-2": {"sku": "SA-2", "external_id": None, "product_id": ids["SA-2"], "qty_adjust": 0, "qty_available": 0, "qty_advertised": 0},
    }
