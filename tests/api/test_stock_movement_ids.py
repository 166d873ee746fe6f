"""Stock movement ids count the merchant's own movements only (issue 13, item 12; SECURITY.md
§2): `stock_movement.list`'s `id` is the merchant's movement number (migration 0018), 1, 2,
3... whatever other merchants do, so clients still page the list with {"id": {"gt": last}}."""

from __future__ import annotations

import asyncio

from rpc_fulfillment.accounts import provisioning
from rpc_fulfillment.db.migrate import migrate
from tests.api.catalog_helpers import call_concurrently, create_product
from tests.api.migration_helpers import database_before
from tests.api.order_helpers import ADDRESS, INFO, add_product
from tests.conftest import ApiUser

MIGRATION_NAME = "_stock_movement_numbers.sql"  # the migration that numbers movements per merchant


async def other_warehouse_session(rpc, db) -> str:
    user = await provisioning.create_api_user(db, "other", "warehouse", "other-warehouse")
    return await rpc.login(ApiUser(user.username, user.api_key, "other", "warehouse"))


async def listed_ids(rpc, session: str, filters=None, options=None) -> list[str]:
    return [row["id"] for row in (await rpc.result(session, "stock_movement.list", [filters, options]))["results"]]


async def numbers_per_merchant(db) -> dict[int, list[int]]:
    """Every merchant's movement numbers in the order the movements were written."""
    rows = await db.fetch("""SELECT merchant_id, array_agg(merchant_movement_no ORDER BY movement_id) AS numbers
                               FROM stock_movements GROUP BY merchant_id""")
    return {row["merchant_id"]: row["numbers"] for row in rows}


async def test_a_merchants_movement_ids_are_consecutive_whatever_another_merchant_does(rpc, db, users):
    acme = await rpc.login(users["merchant"])
    acme_warehouse = await rpc.login(users["warehouse"])
    other = await rpc.login(users["other"])
    other_warehouse = await other_warehouse_session(rpc, db)
    for session in (acme, other):
        await create_product(rpc, session, "A")

    await rpc.result(acme_warehouse, "inventory.adjust", ["A", 1, 10])
    for _ in range(3):
        await rpc.result(other_warehouse, "inventory.adjust", ["A", 1, 5])
    # An order's allocation writes its movement through the order engine's own insert.
    await rpc.result(acme, "order.create", [None, [{"sku": "A", "qty": 1}], ADDRESS, INFO])
    await rpc.result(other_warehouse, "inventory.adjust", ["A", 1, -1])
    await rpc.result(acme_warehouse, "inventory.adjust", ["A", 1, -2])

    assert await listed_ids(rpc, acme) == ["1", "2", "3"]
    assert await listed_ids(rpc, other) == ["1", "2", "3", "4"]

    # Both merchants at once: each still gets 1, 2, 3... with no number twice.
    for answers in await asyncio.gather(*(call_concurrently(rpc, session, "inventory.adjust", [["A", 1, 1]] * 8)
                                          for session in (acme_warehouse, other_warehouse))):
        assert all("result" in answer for answer in answers), answers
    assert sorted(map(int, await listed_ids(rpc, acme, None, {"limit": 100}))) == list(range(1, 12))
    assert sorted(map(int, await listed_ids(rpc, other, None, {"limit": 100}))) == list(range(1, 13))


async def test_paging_on_the_last_id_returns_every_movement_once_in_order(rpc, db, users):
    acme_warehouse = await rpc.login(users["warehouse"])
    acme = await rpc.login(users["merchant"])
    other_warehouse = await other_warehouse_session(rpc, db)
    for session in (acme, await rpc.login(users["other"])):
        await create_product(rpc, session, "A")
    for qty in range(1, 14):
        await rpc.result(acme_warehouse, "inventory.adjust", ["A", 1, qty])
        await rpc.result(other_warehouse, "inventory.adjust", ["A", 1, qty])

    seen: list[str] = []
    last = "0"
    while page := await listed_ids(rpc, acme, {"id": {"gt": last}}, {"limit": 5}):
        seen += page
        last = page[-1]
    assert seen == [str(n) for n in range(1, 14)]


async def test_migrating_numbers_existing_movements_per_merchant_and_new_ones_continue(admin_url, tmp_path):
    async with database_before(admin_url, tmp_path, MIGRATION_NAME) as (conn, to_apply):
        merchants = [await provisioning.create_merchant(conn, code, code) for code in ("old", "older", "idle")]
        products = {merchant: await add_product(conn, "A", merchant=code)
                    for merchant, code in zip(merchants, ("old", "older", "idle"))}

        async def move(merchant: int) -> None:
            await conn.execute(
                """INSERT INTO stock_movements (merchant_id, product_id, warehouse_id, entity_type, entity_action,
                                                qty_on_hand_delta)
                   VALUES ($1, $2, 1, 'stock', 'adjust', 1)""", merchant, products[merchant])

        old, older, idle = merchants
        for merchant in (old, older, older, old, older, old, old):
            await move(merchant)

        assert await migrate(conn) == to_apply

        assert await numbers_per_merchant(conn) == {old: [1, 2, 3, 4], older: [1, 2, 3]}
        for merchant in (older, idle, old, older):
            await move(merchant)
        assert await numbers_per_merchant(conn) == {old: [1, 2, 3, 4, 5], older: [1, 2, 3, 4, 5], idle: [1]}
        new_merchant = await provisioning.create_merchant(conn, "new", "new")
        products[new_merchant] = await add_product(conn, "A", merchant="new")
        await move(new_merchant)
        assert (await numbers_per_merchant(conn))[new_merchant] == [1]
