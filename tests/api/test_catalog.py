"""store.list and warehouse.list in ShipStream's shapes (reference §4 Misc)."""

from __future__ import annotations

from rpc_fulfillment.accounts import provisioning


async def test_store_list_shape_and_tenancy(rpc, users, db):
    await provisioning.create_store(db, "acme", "web", "Acme Web Shop")
    await db.execute("UPDATE stores SET sort_order = -1, is_active = false WHERE code = 'web'")
    acme = await rpc.result(await rpc.login(users["merchant"]), "store.list")
    ids = {row["code"]: row["store_id"] for row in await db.fetch(
        "SELECT s.code, s.store_id FROM stores s JOIN merchants m USING (merchant_id) WHERE m.code = 'acme'")}
    assert acme == [
        {"store_id": ids["web"], "code": "web", "name": "Acme Web Shop", "sort_order": -1, "is_active": 0},
        {"store_id": ids["default"], "code": "default", "name": "Acme Inc Default Store", "sort_order": 0, "is_active": 1},
    ]
    # Another merchant sees only its own store; every role of acme sees acme's.
    other = await rpc.result(await rpc.login(users["other"]), "store.list")
    assert [(s["code"], s["name"]) for s in other] == [("default", "Other Co Default Store")]
    assert not {s["store_id"] for s in other} & set(ids.values())
    for label in ("warehouse", "admin"):
        assert await rpc.result(await rpc.login(users[label]), "store.list") == acme


async def test_warehouse_list_shape(rpc, users, db):
    await provisioning.create_warehouse(
        db, "East", {"street1": "1 Dock Rd", "street2": "Unit 4", "city": "Newark", "region": "NJ", "postcode": "07101", "country": "US"}
    )
    await provisioning.create_warehouse(db, "Closed", {"country": "CA"})
    await db.execute("UPDATE warehouses SET is_active = false WHERE name = 'Closed'")
    ids = {r["name"]: r["warehouse_id"] for r in await db.fetch("SELECT name, warehouse_id FROM warehouses")}
    for label in ("merchant", "warehouse", "admin", "other"):
        warehouses = await rpc.result(await rpc.login(users[label]), "warehouse.list")
        assert warehouses == [
            {"warehouse_id": ids["Main Warehouse"], "name": "Main Warehouse", "is_active": 1,
             "address": {"street1": "", "street2": "", "city": "", "country": "US", "region": "", "postcode": ""}},
            {"warehouse_id": ids["East"], "name": "East", "is_active": 1,
             "address": {"street1": "1 Dock Rd", "street2": "Unit 4", "city": "Newark", "country": "US", "region": "NJ",
                         "postcode": "07101"}},
            {"warehouse_id": ids["Closed"], "name": "Closed", "is_active": 0,
             "address": {"street1": "", "street2": "", "city": "", "country": "CA", "region": "", "postcode": ""}},
        ], label
