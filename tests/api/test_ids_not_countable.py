"""Ids a merchant sees tell nothing of other merchants' activity (issue 13, item 12; SECURITY.md
§2): shipment numbers count per merchant, and every surrogate id (order_id, order_item_id,
product_id, webhook_id, delivery_id, event_id, package_id, tracking_id) is a keyed
permutation of a sequence (migration 0017): unique, in [2^52, 2^53), not ordered by time.
The event feed still pages in the order events were written, and a database migrated with rows
in it keeps their ids."""

from __future__ import annotations

import time
from typing import Any

from rpc_fulfillment.accounts import provisioning
from rpc_fulfillment.db.migrate import migrate
from rpc_fulfillment.webhooks import queries as webhook_store
from tests.api.migration_helpers import database_before
from tests.api.order_helpers import ADDRESS, INFO, add_product, add_stock
from tests.api.webhook_helpers import create_webhook, deliveries
from tests.conftest import ApiUser

FIRST_PERMUTED = 2**52
JS_SAFE_LIMIT = 2**53  # every id is an integer a JavaScript client holds exactly
MIGRATION_NAME = "_ids_not_countable.sql"  # the migration that makes ids permuted, whatever its number


def assert_permuted(ids: list[int]) -> None:
    assert all(type(i) is int and FIRST_PERMUTED <= i < JS_SAFE_LIMIT for i in ids), ids


class Merchant:
    """One merchant's activity through the API, and the ids it was answered."""

    def __init__(self, rpc: Any, db: Any, session: str, shipper: str, code: str) -> None:
        self.rpc, self.db, self.session, self.shipper, self.code = rpc, db, session, shipper, code
        self.made = 0

    async def act(self) -> dict[str, Any]:
        """A product, an order of it, a shipment of the order, and a webhook: their ids."""
        self.made += 1
        sku = f"{self.code}-sku-{self.made}"
        await self.rpc.result(self.session, "product.create", [sku, {"name": sku}])
        product = await self.rpc.result(self.session, "product.info", [sku])
        await add_stock(self.db, product["product_id"], 5)
        order = await self.rpc.result(self.session, "order.create", [None, [{"sku": sku, "qty": 1}], ADDRESS, INFO])
        shipment = await self.rpc.result(self.shipper, "shipment.create", [order["unique_id"]])
        webhook = await create_webhook(self.rpc, self.session, f"http://127.0.0.1:9/{self.code}/{self.made}")
        return {"product_id": product["product_id"], "order_id": order["order_id"],
                "order_item_id": int(shipment["items"][0]["order_item_id"]), "webhook_id": webhook["webhook_id"],
                "shipment_id": shipment["shipment_id"]}


async def test_a_merchants_consecutive_ids_do_not_count_another_merchants_creations(rpc, db, users):
    other_warehouse = await provisioning.create_api_user(db, "other", "warehouse", "other-warehouse")
    acme = Merchant(rpc, db, await rpc.login(users["merchant"]), await rpc.login(users["warehouse"]), "acme")
    other = Merchant(rpc, db, await rpc.login(users["other"]),
                     await rpc.login(ApiUser(other_warehouse.username, other_warehouse.api_key, "other", "warehouse")), "other")
    first = await acme.act()
    between = [await other.act() for _ in range(3)]
    second = await acme.act()

    for key in ("product_id", "order_id", "order_item_id", "webhook_id"):
        pair = [first[key], second[key]]
        assert_permuted(pair)
        # Sequential ids would differ by exactly 1 + what the other merchant created between.
        assert abs(pair[1] - pair[0]) > 1000, (key, pair)
    # Shipment numbers are the merchant's own: 1st, 2nd... whatever others ship between.
    assert (first["shipment_id"], second["shipment_id"]) == ("100000001", "100000002")
    assert [made["shipment_id"] for made in between] == ["100000001", "100000002", "100000003"]

    events = await rpc.result(acme.session, "event.list", [0, 100])
    assert len(events) >= 4
    assert_permuted([event["event_id"] for event in events])
    assert len({event["event_id"] for event in events}) == len(events)

    await webhook_store.fan_out(db, 100)
    delivered = await deliveries(rpc, acme.session, second["webhook_id"]) + await deliveries(rpc, acme.session, first["webhook_id"])
    assert delivered
    assert_permuted([delivery["delivery_id"] for delivery in delivered])


async def test_permuted_ids_are_unique_reversible_and_cheap(db):
    positions = 200_000
    started = time.perf_counter()
    distinct = await db.fetchval("SELECT count(DISTINCT rpcf_public_id(p)) FROM generate_series(0, $1 - 1) p", positions)
    per_id_us = (time.perf_counter() - started) / positions * 1e6
    assert distinct == positions
    edges = await db.fetch(
        """SELECT p, rpcf_public_id(p) AS id, rpcf_id_position(rpcf_public_id(p)) AS back
             FROM unnest(ARRAY[0, 1, 2, 67108863, 67108864, 4503599627370494, 4503599627370495]::bigint[]) p"""
    )
    assert all(row["back"] == row["p"] for row in edges)
    assert_permuted([row["id"] for row in edges])
    assert len({row["id"] for row in edges}) == len(edges)
    # Ids from before the permutation (small) are their own position.
    assert await db.fetchval("SELECT rpcf_id_position(41)") == 41
    assert per_id_us < 100, f"{per_id_us:.1f} us per id"  # a few us on a quiet machine
    # Many rows written at once through the column defaults: all distinct (the keys say so too).
    merchant = await provisioning.create_merchant(db, "bulk", "Bulk")
    ids = await db.fetch(
        "INSERT INTO products (merchant_id, sku) SELECT $1, 'bulk-' || g FROM generate_series(1, 5000) g RETURNING product_id",
        merchant,
    )
    assert len({row["product_id"] for row in ids}) == 5000
    assert_permuted([row["product_id"] for row in ids])


async def test_event_list_pages_every_event_once_in_the_order_written(rpc, db, users):
    acme = await rpc.login(users["merchant"])
    other = await rpc.login(users["other"])
    for n in range(12):
        await rpc.result(acme, "product.create", [f"paged-{n}", {"name": f"paged {n}"}])
        await rpc.result(other, "product.create", [f"noise-{n}", {"name": f"noise {n}"}])
    written = [row["event_id"] for row in await db.fetch(
        "SELECT event_id FROM events WHERE merchant_id = (SELECT merchant_id FROM merchants WHERE code = 'acme') ORDER BY seq"
    )]
    assert len(written) >= 12
    assert written != sorted(written)  # ids alone would not give the order: the feed must not rely on them
    seen: list[int] = []
    after = 0
    while True:
        page = await rpc.result(acme, "event.list", [after, 5])
        if not page:
            break
        seen += [event["event_id"] for event in page]
        after = page[-1]["event_id"]
    assert seen == written


async def test_migrating_a_database_with_rows_keeps_their_ids_and_new_ones_do_not_collide(admin_url, tmp_path):
    async with database_before(admin_url, tmp_path, MIGRATION_NAME) as (conn, to_apply):
        merchant = await provisioning.create_merchant(conn, "old", "Old Co")
        old_products = [await add_product(conn, f"old-{n}", merchant="old") for n in range(3)]
        old_events = [await conn.fetchval(
            "INSERT INTO events (merchant_id, topic, message) VALUES ($1, 'product:created', '{}') RETURNING event_id", merchant,
        ) for _ in range(3)]
        order_id = await conn.fetchval(
            """INSERT INTO orders (merchant_id, store_id, unique_id, state, status, shipping_method, carrier_code,
                                   shipping_address)
               SELECT $1, store_id, 'old-order', 'new', 'new', 'ups_03', 'ups', '{}' FROM stores WHERE merchant_id = $1
               RETURNING order_id""", merchant,
        )
        old_shipment = await conn.fetchval(
            "INSERT INTO shipments (merchant_id, order_id, warehouse_id) VALUES ($1, $2, 1) RETURNING increment_id",
            merchant, order_id,
        )

        assert await migrate(conn) == to_apply

        assert [row["product_id"] for row in await conn.fetch(
            "SELECT product_id FROM products WHERE sku LIKE 'old-%' ORDER BY sku")] == old_products
        assert old_products == list(range(old_products[0], old_products[0] + 3))  # they were sequential
        new_products = [await add_product(conn, f"new-{n}", merchant="old") for n in range(3)]
        assert_permuted(new_products)
        assert await conn.fetchval("SELECT count(DISTINCT product_id) FROM products") == 6
        new_events = [await conn.fetchval(
            "INSERT INTO events (merchant_id, topic, message) VALUES ($1, 'product:created', '{}') RETURNING event_id", merchant,
        ) for _ in range(2)]
        assert_permuted(new_events)
        # The feed resumes after an old event id and after a new one, in the order written.
        feed = [row["event_id"] for row in await webhook_store.list_events(conn, merchant, old_events[0], 10)]
        assert feed == old_events[1:] + new_events
        assert [row["event_id"] for row in await webhook_store.list_events(conn, merchant, new_events[0], 10)] == new_events[1:]
        # The merchant's shipment numbers go on after its own highest.
        assert await conn.fetchval("SELECT rpcf_merchant_nextval('shipment_increment_id', $1)", merchant) == int(old_shipment) + 1
