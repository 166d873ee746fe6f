"""The webhook topics of orders and shipments as a receiver gets them, held key by key and JSON
type by type to the examples of ShipStream's topics page (fixtures/shipstream_topics.json,
extracted from shipstream-docs/2015-06-12-topics.md), each triggered by its cause: the
shipment:* / package:* / track:created / order:shipped family through a warehouse's create,
pack, ship, deliver and cancel; order:status_changed and order:holded at creation;
order:shipping_options_changed from order.edit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rpc_fulfillment.webhooks.rules import EMITTED
from tests.api.order_helpers import ADDRESS, INFO, add_product, merchant_id
from tests.api.webhook_helpers import FAST, Receiver, create_webhook, start_receiver
from tests.conformance.shapes import json_type

DOCUMENTED = json.loads((Path(__file__).parent / "fixtures" / "shipstream_topics.json").read_text())
ENVELOPE = {"webhook_increment_id", "event_timestamp"}
# What we cannot know, following no carrier: null where the docs show a value.
NOT_TRACKED = {"est_delivery_at", "is_est_delivery_at_date", "original_est_delivery_at",
               "is_original_est_delivery_at_date", "signed_by"}
TRACKING_URL = "https://wwwapps.ups.com/tracking/tracking.cgi?tracknum=1Z999AA10123456784"


def shape_problems(actual: Any, documented: Any, path: str, nulls: set[str], ours: set[str]) -> list[str]:
    """Where ``actual`` differs from the documented example: a documented key missing, a key the
    docs do not have (unless in ``ours``), a different JSON type (null where the docs show a
    value only for keys in ``nulls``). Array elements are compared with the example's first."""
    if documented is None:
        return []
    key = path.rsplit(".", 1)[-1].split("[")[0]
    if actual is None:
        return [] if key in nulls else [f"{path}: null, documented {json_type(documented)}"]
    if json_type(actual) != json_type(documented):
        return [f"{path}: {json_type(actual)}, documented {json_type(documented)}"]
    if isinstance(documented, dict):
        problems = [f"{path}.{k}: missing" for k in documented if k not in actual]
        problems += [f"{path}.{k}: not documented" for k in actual if k not in documented and k not in ours]
        for k in documented:
            if k in actual:
                problems += shape_problems(actual[k], documented[k], f"{path}.{k}", nulls, ours)
        return problems
    if isinstance(documented, list) and documented:
        return [p for n, element in enumerate(actual) for p in shape_problems(element, documented[0], f"{path}[{n}]", nulls, ours)]
    return []


def assert_documented(message: dict[str, Any], topic: str, *, nulls: set[str] = frozenset(), ours: set[str] = frozenset()) -> None:
    assert shape_problems(message, DOCUMENTED[topic]["message"], topic, set(nulls), set(ours)) == []


def messages(receiver: Receiver, topic: str) -> list[dict[str, Any]]:
    return [r.json["message"] for r in sorted(receiver.of_topic(topic), key=lambda r: r.increment_id)]


async def received_all(receiver: Receiver, db: Any) -> list[str]:
    """Once every event written so far has reached the receiver: their topics, in order."""
    topics = [row["topic"] for row in await db.fetch(
        "SELECT topic FROM events WHERE merchant_id = $1 ORDER BY seq", await merchant_id(db))]
    await receiver.wait_count(len(topics))
    assert set(topics) <= set(EMITTED)
    return [r.topic for r in sorted(receiver.requests, key=lambda r: r.increment_id)]


@pytest.fixture
async def wired(make_client, users, db, aiohttp_server):
    """(rpc, merchant session, warehouse session, receiver) with a webhook for every topic we send."""
    receiver = await start_receiver(aiohttp_server)
    rpc = await make_client(**FAST)
    merchant = await rpc.login(users["merchant"])
    warehouse = await rpc.login(users["warehouse"])
    await create_webhook(rpc, merchant, receiver.url, list(EMITTED))
    return rpc, merchant, warehouse, receiver


ORDER_INFO = {**INFO, "unique_id": "W-1", "order_ref": "9099", "source": "magento:100000031"}
PACKAGE = {"weight": "1.75", "tracking_numbers": [{"number": "1Z999AA10123456784", "carrier": "ups",
                                                   "description": "UPS Ground", "track_url": TRACKING_URL}]}


async def test_a_shipment_packed_shipped_and_delivered_sends_the_documented_payloads(wired, db):
    rpc, merchant, warehouse, receiver = wired
    await add_product(db, "SKU-A", stock=5, weight=1.1)
    await rpc.result(merchant, "order.create", [None, {"SKU-A": 2}, ADDRESS, ORDER_INFO])
    shipment = await rpc.result(warehouse, "shipment.create", ["W-1"])
    shipment_id = shipment["shipment_id"]
    assert await rpc.result(merchant, "shipment.update", [shipment_id, {"source": "100000099"}]) is True
    await rpc.result(warehouse, "shipment.pack", [shipment_id, [PACKAGE]])
    await rpc.result(warehouse, "shipment.ship", [shipment_id])
    await rpc.result(warehouse, "shipment.deliver", [shipment_id])
    topics = await received_all(receiver, db)
    fulfillment = [t for t in topics if not t.startswith("order:")]
    assert fulfillment == ["package:packed", "track:created", "shipment:packed", "package:shipped", "shipment:shipped",
                           "package:delivered", "shipment:delivered"]

    [updated] = messages(receiver, "order:shipments_updated")
    assert_documented(updated, "order:shipments_updated", ours={"status"})
    assert updated["shipments"] == [{"unique_id": shipment_id, "warehouse_id": 1, "carrier": "ups", "status": "new",
                                     "service": "03"}]

    [packed] = messages(receiver, "shipment:packed")
    # target_ship_date: we compute none; order_ref and the like are set, so null only where we know nothing
    assert_documented(packed, "shipment:packed", nulls=NOT_TRACKED | {"target_ship_date"})
    assert (packed["unique_id"], packed["warehouse_id"], packed["status"], packed["order_status"]) == (
        shipment_id, "1", "packed", "complete")
    # what the OpenMage plugin reads: the order's source, the shipment's own (external_id), the packages' numbers
    assert (packed["source"], packed["external_id"], packed["order_unique_id"], packed["order_ref"]) == (
        "magento:100000031", "100000099", "W-1", "9099")
    assert (packed["carrier"], packed["service"], packed["shipping_method"]) == ("ups", "03", "ups_03")
    order_item_id = await db.fetchval("SELECT order_item_id FROM order_items WHERE sku = 'SKU-A'")
    item = {"order_item_id": str(order_item_id), "order_item_ref": None, "order_item_sku": "SKU-A", "sku": "SKU-A",
            "quantity": "2.0000"}
    assert packed["items"] == [{**item, "lot_data": []}]
    [package] = packed["packages"]
    assert package["items"] == [{**item, "order_item_qty": 2}]
    assert (package["status"], package["weight"], package["weight_unit"]) == ("packed", "1.7500", "lb")
    assert (package["tracking_numbers"], package["tracking_urls"]) == (["1Z999AA10123456784"], [TRACKING_URL])
    [tracker] = packed["trackers"]
    assert tracker["tracker_id"] == package["tracker_id"]
    assert (tracker["status"], tracker["carrier"], tracker["tracking_number"], tracker["carrier_tracking_url"]) == (
        "unknown", "ups", "1Z999AA10123456784", TRACKING_URL)
    assert (packed["total_weight"], packed["total_qty"], packed["total_item_weight"]) == (1.75, "2.0000", "2.2000")
    assert (packed["shipped_weight"], packed["shipped_weight_unit"], packed["shipped_at"]) == (None, None, None)

    [package_packed] = messages(receiver, "package:packed")
    assert_documented(package_packed, "package:packed")
    assert package_packed["package_id"] == int(package["package_id"]) and package_packed["status"] == "packed"
    [track] = messages(receiver, "track:created")
    assert_documented(track, "track:created")
    assert {k: track[k] for k in ("order_ref", "order_unique_id", "shipment_unique_id", "warehouse_id", "package_id",
                                  "source", "carrier", "service", "number", "url")} == {
        "order_ref": "9099", "order_unique_id": "W-1", "shipment_unique_id": shipment_id, "warehouse_id": 1,
        "package_id": int(package["package_id"]), "source": "magento:100000031", "carrier": "ups", "service": "03",
        "number": "1Z999AA10123456784", "url": TRACKING_URL}

    [shipped] = messages(receiver, "shipment:shipped")
    assert_documented(shipped, "shipment:shipped", nulls=NOT_TRACKED)
    assert (shipped["status"], shipped["shipped_weight"], shipped["shipped_weight_unit"]) == ("shipped", 1.75, "lb")
    assert shipped["trackers"][0]["status"] == "in_transit" and shipped["packages"][0]["status"] == "shipped"
    [package_shipped] = messages(receiver, "package:shipped")
    assert_documented(package_shipped, "package:shipped")
    [order_shipped] = messages(receiver, "order:shipped")
    assert_documented(order_shipped, "order:shipped", nulls=NOT_TRACKED | {"delivered_at"})
    [entry] = order_shipped["shipments"]
    assert entry["trackers"][0]["tracker_id"] == int(package["tracker_id"])
    assert (entry["unique_id"], entry["status"], entry["trackers"][0]["status"]) == (shipment_id, "shipped", "in_transit")

    [delivered] = messages(receiver, "shipment:delivered")
    assert_documented(delivered, "shipment:delivered", nulls=NOT_TRACKED)
    assert delivered["trackers"][0]["status"] == "delivered" and delivered["delivered_at"] is not None
    assert delivered["trackers"][0]["delivered_at"] == delivered["delivered_at"]
    [package_delivered] = messages(receiver, "package:delivered")
    assert_documented(package_delivered, "package:delivered")
    [order_delivered] = messages(receiver, "order:delivered")
    assert_documented(order_delivered, "order:delivered", nulls=NOT_TRACKED)
    assert order_delivered["shipments"][0]["trackers"][0]["delivered_at"] == delivered["delivered_at"]


async def test_canceling_a_packed_shipment_reverts_it_and_an_unpacked_one_does_not(wired, db):
    rpc, merchant, warehouse, receiver = wired
    await add_product(db, "SKU-A", stock=5)
    await rpc.result(merchant, "order.create", [None, {"SKU-A": 1}, ADDRESS, ORDER_INFO])
    first = await rpc.result(warehouse, "shipment.create", ["W-1"])
    await rpc.result(warehouse, "shipment.cancel", [first["shipment_id"]])
    second = await rpc.result(warehouse, "shipment.create", ["W-1"])
    await rpc.result(merchant, "shipment.update", [second["shipment_id"], {"source": "100000042:t"}])
    await rpc.result(warehouse, "shipment.pack", [second["shipment_id"], [PACKAGE]])
    await rpc.result(warehouse, "shipment.cancel", [second["shipment_id"]])
    topics = await received_all(receiver, db)
    assert topics[-2:] == ["order:shipments_updated", "shipment:reverted"]
    [reverted] = messages(receiver, "shipment:reverted")
    assert_documented(reverted, "shipment:reverted", nulls=NOT_TRACKED | {"target_ship_date"})
    assert (reverted["unique_id"], reverted["status"], reverted["order_status"]) == (second["shipment_id"], "canceled", "new")
    assert (reverted["source"], reverted["external_id"]) == ("magento:100000031", "100000042:t")
    assert reverted["packages"][0]["tracking_numbers"] == ["1Z999AA10123456784"]
    assert reverted["items"][0]["quantity"] == "1.0000"


async def test_an_order_created_sends_its_status_and_on_hold_order_holded(wired, db):
    rpc, merchant, _, receiver = wired
    await add_product(db, "SKU-A", stock=5)
    await rpc.result(merchant, "order.create", [None, {"SKU-A": 1}, ADDRESS, ORDER_INFO])
    await rpc.result(merchant, "order.create", [None, {"SKU-A": 9}, ADDRESS,
                                                {**ORDER_INFO, "unique_id": "W-2", "hold_indefinitely": True}])
    assert await received_all(receiver, db) == [
        "order:created", "order:status_changed", "order:created", "order:status_changed", "order:holded"]
    first, second = messages(receiver, "order:status_changed")
    for message in (first, second):
        assert_documented(message, "order:status_changed", nulls={"old_status", "old_state"})
    reference = {"order_ref": "9099", "source": "magento:100000031"}
    assert {k: first[k] for k in ("unique_id", "order_ref", "source", "old_status", "status", "old_state", "state")} == {
        "unique_id": "W-1", **reference, "old_status": None, "status": "new", "old_state": None, "state": "new"}
    assert (second["unique_id"], second["status"], second["state"]) == ("W-2", "holded", "holded")
    [holded] = messages(receiver, "order:holded")
    assert_documented(holded, "order:holded", ours={"status", "state"})
    assert {k: holded[k] for k in ("unique_id", "order_ref", "source")} == {"unique_id": "W-2", **reference}


async def test_order_edit_of_shipping_options_sends_the_changed_ones(wired, db):
    rpc, merchant, _, receiver = wired
    await add_product(db, "SKU-A", stock=5)
    await rpc.result(merchant, "order.create", [None, {"SKU-A": 1}, ADDRESS, ORDER_INFO])
    await rpc.result(merchant, "order.edit", ["W-1", None, {"gift_message": "Happy birthday"}])
    await rpc.result(merchant, "order.edit", ["W-1", {"city": "Boston"}, None])
    await rpc.result(merchant, "order.edit", ["W-1", None, {"saturday_delivery": True, "shipping_method": "fedex_GROUND",
                                                            "signature_required": "none"}])
    topics = await received_all(receiver, db)
    assert topics.count("order:shipping_options_changed") == 1
    [changed] = messages(receiver, "order:shipping_options_changed")
    # the options are a map of those that changed: the example shows saturday_delivery alone
    assert_documented(changed, "order:shipping_options_changed", ours={"shipping_method"})
    assert {k: changed[k] for k in ("unique_id", "order_ref", "source", "status", "state")} == {
        "unique_id": "W-1", "order_ref": "9099", "source": "magento:100000031", "status": "new", "state": "new"}
    # only what changed (signature_required was "none" already), old and new as order.info shows them
    assert changed["shipping_options"] == {"shipping_method": "fedex_GROUND", "saturday_delivery": True}
    assert changed["old_shipping_options"] == {"shipping_method": "ups_03", "saturday_delivery": False}


async def test_voiding_a_packed_shipments_labels_sends_labels_voided_and_it_packs_again(wired, db):
    rpc, merchant, warehouse, receiver = wired
    await add_product(db, "SKU-A", stock=5)
    await rpc.result(merchant, "order.create", [None, {"SKU-A": 1}, ADDRESS, ORDER_INFO])
    shipment = await rpc.result(warehouse, "shipment.create", ["W-1"])
    shipment_id = shipment["shipment_id"]
    await rpc.result(warehouse, "shipment.pack", [shipment_id, [PACKAGE]])
    assert (await rpc.result(merchant, "order.info", ["W-1", "*"]))["status"] == "complete"
    voided = await rpc.result(warehouse, "shipment.void_labels", [shipment_id])
    assert (voided["status"], voided["packed_at"], voided["packages"], voided["tracking_numbers"]) == ("picked", None, [], [])
    assert await db.fetchval("SELECT count(*) FROM packages") == 0
    info = await rpc.result(merchant, "order.info", ["W-1", ["*", "status_history"]])
    assert (info["state"], info["status"]) == ("processing", "processing")
    assert info["status_history"][-1]["comment"] == f"Shipment {shipment_id}: labels voided"
    again = await rpc.fault(warehouse, "shipment.void_labels", [shipment_id])
    assert (again["code"], again["message"]) == (-32108, f"Shipment {shipment_id} cannot be unpacked (labels voided): "
                                                         "its status is 'picked'")
    await rpc.result(warehouse, "shipment.pack", [shipment_id, [{"tracking_numbers": ["1Z2"]}]])
    topics = await received_all(receiver, db)
    assert topics.count("shipment:labels_voided") == 1
    [message] = messages(receiver, "shipment:labels_voided")
    # ours: the items, as in every other shipment:* payload (the docs' example has none)
    assert_documented(message, "shipment:labels_voided", nulls=NOT_TRACKED | {"target_ship_date"}, ours={"items"})
    assert (message["unique_id"], message["status"], message["packed_at"], message["order_status"]) == (
        shipment_id, "picked", None, "processing")
    # what was voided: the plugin rolls back when the first package had tracking numbers
    assert message["packages"][0]["tracking_numbers"] == ["1Z999AA10123456784"]
    assert [t["tracking_number"] for t in message["trackers"]] == ["1Z999AA10123456784"]
    assert (await rpc.result(merchant, "order.info", ["W-1", "*"]))["status"] == "complete"
