"""stock_movement.list through the real app and database."""

from __future__ import annotations

import pytest

from tests.api.catalog_helpers import add_warehouse, create_product, fault_code, login_all, product_row


@pytest.fixture
async def sessions(rpc, users):
    return await login_all(rpc, users)


@pytest.fixture
async def history(rpc, sessions, db):
    """Acme: A received 10 in warehouse 1 and 4 in East, 3 removed from 1; B received 2 in 1;
    an order allocated 1 A (written as the order engine does). Other: its own A received 5."""
    east = await add_warehouse(db, "East")
    await create_product(rpc, sessions["merchant"], "A")
    await create_product(rpc, sessions["merchant"], "B")
    await create_product(rpc, sessions["other"], "A")
    for sku, warehouse, qty, reason in (("A", 1, 10, "first"), ("A", east, 4, None), ("A", 1, -3, "broken"), ("B", 1, 2, None)):
        await rpc.result(sessions["warehouse"], "inventory.adjust", [sku, warehouse, qty, reason])
    other_user = await rpc.login(await _other_warehouse_user(db))
    await rpc.result(other_user, "inventory.adjust", ["A", 1, 5])
    a = await product_row(db, "A")
    await db.execute(
        """INSERT INTO stock_movements (merchant_id, product_id, warehouse_id, entity_type, entity_action, entity_id,
                                        qty_allocated_delta)
           VALUES ($1, $2, 1, 'order', 'allocate', '100000001', 1)""",
        a["merchant_id"],
        a["product_id"],
    )
    await db.execute(
        """UPDATE stock_movements SET created_at = timestamptz '2024-03-01 09:00+00' + movement_id * interval '1 hour'"""
    )
    return {"east": east, "a": a["product_id"], "b": (await product_row(db, "B"))["product_id"]}


async def _other_warehouse_user(db):
    from rpc_fulfillment.accounts import provisioning
    from tests.conftest import ApiUser

    user = await provisioning.create_api_user(db, "other", "warehouse", "other-warehouse")
    return ApiUser(user.username, user.api_key, "other", "warehouse")


async def listed(rpc, session, filters=None, options=None):
    return await rpc.result(session, "stock_movement.list", [filters, options])


async def test_rows_and_shape(rpc, sessions, history):
    result = await listed(rpc, sessions["merchant"])
    assert result["totalCount"] == 5 and result["numPages"] == 1
    rows = result["results"]
    assert [int(r["id"]) for r in rows] == sorted(int(r["id"]) for r in rows)
    # The documented shape (shipstream-docs/2024-04-16-stock-movement.md): ids as strings, each
    # quantity's change or null where the movement did not touch it.
    assert rows[0] == {
        "id": rows[0]["id"],
        "entity_type": "stock",
        "entity_action": "adjust",
        "entity_id": None,
        "product_id": str(history["a"]),
        "sku": "A",
        "warehouse_id": "1",
        "qty_expected": None,
        "qty_processed": None,
        "qty_putaway": None,
        "qty_available": "10.0000",
        "qty_allocated": None,
        "qty_reserved": None,
        "qty_picked": None,
        "qty_backordered": None,
        "comment": "first",
        "created_at": rows[0]["created_at"],
        "location": "",
    }
    assert rows[0]["created_at"].endswith("+00:00")
    assert [(r["sku"], r["warehouse_id"], r["qty_available"], r["comment"]) for r in rows[1:4]] == [
        ("A", str(history["east"]), "4.0000", None),
        ("A", "1", "-3.0000", "broken"),
        ("B", "1", "2.0000", None),
    ]
    order = rows[4]
    assert (order["entity_type"], order["entity_action"], order["entity_id"]) == ("order", "allocate", "100000001")
    assert (order["qty_allocated"], order["qty_available"]) == ("1.0000", "-1.0000")


async def test_everyone_may_list_their_own(rpc, sessions, history):
    for label in ("merchant", "warehouse", "admin"):
        assert (await listed(rpc, sessions[label]))["totalCount"] == 5
    other = await listed(rpc, sessions["other"])
    assert other["totalCount"] == 1
    assert other["results"][0]["sku"] == "A" and other["results"][0]["product_id"] != str(history["a"])
    # Filtering on acme's ids from the other merchant finds nothing.
    assert (await listed(rpc, sessions["other"], {"product_id": history["a"]}))["totalCount"] == 0


@pytest.mark.parametrize(
    "filters, expected",
    [
        ({"sku": "B"}, [("B", "2.0000")]),
        ({"sku": {"in": ["A"]}, "warehouse_id": 1}, [("A", "10.0000"), ("A", "-3.0000"), ("A", "-1.0000")]),
        ({"warehouse_id": {"neq": 1}}, [("A", "4.0000")]),
        ({"entity_type": "order"}, [("A", "-1.0000")]),
        ({"entity_action": {"eq": "adjust"}, "sku": "A"}, [("A", "10.0000"), ("A", "4.0000"), ("A", "-3.0000")]),
        ({"entity_id": {"notnull": 1}}, [("A", "-1.0000")]),
        ({"entity_id": {"eq": "100000001"}}, [("A", "-1.0000")]),
        ({"entity_id": {"null": 1}, "sku": "B"}, [("B", "2.0000")]),
        ({"location": {"eq": ""}, "sku": "B"}, [("B", "2.0000")]),
        ({"location": {"null": 1}}, []),
        ({"created_at": {"from": "2024-03-01T12:00:00+00:00", "to": "2024-03-01T13:30:00Z"}}, [("A", "-3.0000"), ("B", "2.0000")]),
        ({"created_at": {"gt": "2024-03-01"}}, []),  # after the whole day
        ({"created_at": "2024-03-01"}, [("A", "10.0000"), ("A", "4.0000"), ("A", "-3.0000"), ("B", "2.0000"), ("A", "-1.0000")]),
    ],
)
async def test_filters(rpc, sessions, history, filters, expected):
    result = await listed(rpc, sessions["merchant"], filters)
    assert [(r["sku"], r["qty_available"]) for r in result["results"]] == expected
    assert result["totalCount"] == len(expected)


async def test_filter_on_id_and_product_id(rpc, sessions, history):
    rows = (await listed(rpc, sessions["merchant"]))["results"]
    ids = [r["id"] for r in rows]
    assert [r["id"] for r in (await listed(rpc, sessions["merchant"], {"id": {"gt": ids[2]}}))["results"]] == ids[3:]
    assert [r["id"] for r in (await listed(rpc, sessions["merchant"], {"id": {"in": [str(ids[0]), ids[4]]}}))["results"]] == [
        ids[0], ids[4]
    ]
    assert (await listed(rpc, sessions["merchant"], {"product_id": history["b"]}))["totalCount"] == 1


async def test_sorting_and_pages(rpc, sessions, history):
    first = await listed(rpc, sessions["merchant"], None, {"sort_field": "id", "sort_dir": "desc", "limit": 2})
    assert first["totalCount"] == 5 and first["numPages"] == 3
    assert [r["entity_type"] for r in first["results"]] == ["order", "stock"]
    last = await listed(rpc, sessions["merchant"], None, {"sort_field": "id", "sort_dir": "desc", "limit": 2, "page": 3})
    assert [r["comment"] for r in last["results"]] == ["first"]
    past = await listed(rpc, sessions["merchant"], None, {"limit": 2, "page": 9})
    assert past == {"results": [], "totalCount": 5, "numPages": 3}
    by_sku = await listed(rpc, sessions["merchant"], None, {"sort_field": "sku", "sort_dir": "desc"})
    assert [r["sku"] for r in by_sku["results"]] == ["B", "A", "A", "A", "A"]


@pytest.mark.parametrize(
    "filters, options, message",
    [
        ({"qty_on_hand": {"gt": 0}}, None, "cannot filter on 'qty_on_hand' (filterable: created_at, entity_action, "
         "entity_id, entity_type, id, location, product_id, sku, warehouse_id)"),
        ({"id": {"eq": "first"}}, None, "'id' eq: 'first' is not a whole number"),
        ({"sku": {"regexp": "A.*"}}, None, "unknown operator 'regexp' for 'sku'"),
        (None, {"sort_field": "location"}, "cannot sort on 'location'"),
        (None, {"page": 0}, "option page must be a whole number"),
    ],
)
async def test_invalid_filters_are_fault_101(rpc, sessions, history, filters, options, message):
    error = await rpc.fault(sessions["merchant"], "stock_movement.list", [filters, options])
    assert error["code"] == fault_code(101)
    assert error["message"].startswith("Invalid filters given: ")
    assert message in error["message"]


async def test_empty_list(rpc, sessions):
    assert await rpc.result(sessions["merchant"], "stock_movement.list") == {"results": [], "totalCount": 0, "numPages": 0}
