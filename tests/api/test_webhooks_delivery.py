"""Webhook delivery through the real app: envelope, signature, headers, increment ids, retries
on the (shortened) schedule, the delivery log, replay, test:ping, commit versus rollback, and
LISTEN/NOTIFY. Receivers are small aiohttp servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
from datetime import datetime

import orjson
import pytest

from tests.api.catalog_helpers import call_concurrently
from tests.api.order_helpers import ADDRESS, INFO, add_product, assert_fault, merchant_id
from tests.api.webhook_helpers import (FAST, Received, create_webhook, deliveries, signature, start_receiver, wait_until,
                                       wait_until_all_sent)


async def product(rpc, session, sku: str) -> None:
    await rpc.result(session, "product.create", [sku, {"name": sku.title()}])


async def test_an_event_is_posted_signed_in_shipstreams_envelope(make_client, users, db, aiohttp_server):
    receiver = await start_receiver(aiohttp_server)
    rpc = await make_client(**FAST)
    session = await rpc.login(users["merchant"])
    await create_webhook(rpc, session, receiver.url, "product:created", secret_key="s3cret",
                         extra_headers="X-Middleware-Id: mw-42\nAuthorization: Bearer abc")
    await product(rpc, session, "SKU-1")
    (got,) = await receiver.wait_count(1)
    # The signature, recomputed here from the raw body and the secret (reference §4.1).
    assert got.headers["X-Plugin-Hmac-Sha256"] == signature("s3cret", got.body)
    assert got.headers["X-Middleware-Id"] == "mw-42"
    assert got.headers["Authorization"] == "Bearer abc"
    assert got.headers["Content-Type"] == "application/json"
    assert got.path == "/hook"
    body = got.json
    assert list(body) == ["merchant_id", "merchant_code", "topic", "message"]
    assert body["merchant_id"] == str(await merchant_id(db)) and body["merchant_code"] == "acme"
    assert body["topic"] == "product:created"
    event = await db.fetchrow("SELECT message, created_at FROM events WHERE topic = 'product:created'")
    assert body["message"] == {**event["message"], "webhook_increment_id": 1, "event_timestamp": body["message"]["event_timestamp"]}
    stamp = datetime.fromisoformat(body["message"]["event_timestamp"])
    assert stamp.utcoffset() is not None and abs((stamp - event["created_at"]).total_seconds()) < 1
    assert body["message"]["sku"] == "SKU-1"
    # A wrong secret does not verify.
    assert got.headers["X-Plugin-Hmac-Sha256"] != signature("other", got.body)


async def test_only_subscribed_topics_of_active_webhooks_are_sent(make_client, users, db, aiohttp_server):
    created = await start_receiver(aiohttp_server)
    updated = await start_receiver(aiohttp_server)
    rpc = await make_client(**FAST)
    session = await rpc.login(users["merchant"])
    await create_webhook(rpc, session, created.url, "product:created")
    hook = await create_webhook(rpc, session, updated.url, "product:updated,product:created")
    await rpc.result(session, "webhook.update_status", [hook["webhook_id"], 0])
    await product(rpc, session, "SKU-1")
    await rpc.result(session, "product.update", ["SKU-1", {"name": "Renamed"}])
    await created.wait_count(1)
    await rpc.result(session, "webhook.update_status", [hook["webhook_id"], 1])
    await rpc.result(session, "product.update", ["SKU-1", {"name": "Renamed again"}])
    (got,) = await updated.wait_count(1)
    # Events written while the webhook was inactive are not queued for it; later ones are.
    assert (got.topic, got.json["message"]["name"], got.increment_id) == ("product:updated", "Renamed again", 1)
    await wait_until_all_sent(db)
    assert [r.topic for r in created.requests] == ["product:created"]
    assert len(updated.requests) == 1


async def test_other_merchants_events_never_reach_a_webhook(make_client, users, db, aiohttp_server):
    """The other merchant has a webhook on the same topic, so its event is queued and fanned
    out too (the positive control: it reaches their receiver), and still never ours."""
    receiver = await start_receiver(aiohttp_server)
    theirs = await start_receiver(aiohttp_server)
    rpc = await make_client(**FAST)
    acme = await rpc.login(users["merchant"])
    other = await rpc.login(users["other"])
    await create_webhook(rpc, acme, receiver.url, "product:created")
    await create_webhook(rpc, other, theirs.url, "product:created")
    await product(rpc, other, "THEIRS")
    await product(rpc, acme, "OURS")
    await receiver.wait_count(1)
    await theirs.wait_count(1)
    await wait_until_all_sent(db)
    assert [r.json["message"]["sku"] for r in receiver.requests] == ["OURS"]
    assert {r.json["merchant_code"] for r in receiver.requests} == {"acme"}
    assert [(r.json["merchant_code"], r.json["message"]["sku"]) for r in theirs.requests] == [("other", "THEIRS")]


async def test_increment_ids_are_sequential_per_webhook_without_gaps(make_client, users, db, aiohttp_server):
    one = await start_receiver(aiohttp_server)
    two = await start_receiver(aiohttp_server)
    rpc = await make_client(**FAST)
    session = await rpc.login(users["merchant"])
    await create_webhook(rpc, session, one.url, "product:created")
    await create_webhook(rpc, session, two.url, "product:created,product:updated")
    # Concurrent writers: the increment ids still come out 1..n, each once.
    bodies = await call_concurrently(rpc, session, "product.create", [[f"SKU-{n}", {"name": "x"}] for n in range(40)])
    bodies += await call_concurrently(rpc, session, "product.update", [[f"SKU-{n}", {"name": "y"}] for n in range(10)])
    assert all(body["result"] is True for body in bodies)
    await one.wait_count(40)
    await two.wait_count(50)
    assert sorted(r.increment_id for r in one.requests) == list(range(1, 41))
    assert sorted(r.increment_id for r in two.requests) == list(range(1, 51))
    # Increment ids follow the order events are fanned out (about commit order), which is not
    # always event_id order: concurrent transactions do not commit in the order of their ids.
    rows = await db.fetch("SELECT webhook_id, webhook_increment_id FROM webhook_deliveries ORDER BY 1, 2")
    for webhook_id in {r["webhook_id"] for r in rows}:
        ids = [r["webhook_increment_id"] for r in rows if r["webhook_id"] == webhook_id]
        assert ids == list(range(1, len(ids) + 1))
    assert [h["last_increment_id"] for h in await rpc.result(session, "webhook.list")] == [40, 50]


async def test_a_receiver_failing_three_times_gets_the_event_four_times(make_client, users, db, aiohttp_server):
    async def flaky(received: Received):
        return (500, "boom") if received.number <= 3 else (200, "thanks")

    receiver = await start_receiver(aiohttp_server, flaky)
    rpc = await make_client(**{**FAST, "webhook_retry_schedule": "0.3,0.6,0.9,5"})
    session = await rpc.login(users["merchant"])
    hook = await create_webhook(rpc, session, receiver.url, "product:created")
    await product(rpc, session, "SKU-1")
    got = await receiver.wait_count(4, timeout=15)
    assert {r.increment_id for r in got} == {1}
    assert len({r.body for r in got}) == 1  # the same body (and signature) every time
    gaps = [b.at - a.at for a, b in zip(got, got[1:])]
    for gap, scheduled in zip(gaps, (0.3, 0.6, 0.9)):
        assert scheduled - 0.05 <= gap < scheduled + 1.5, gaps

    async def logged() -> bool:
        (d,) = await deliveries(rpc, session, hook["webhook_id"])
        return d["status"] == "delivered"

    await wait_until(logged, what="delivered")
    (delivery,) = await deliveries(rpc, session, hook["webhook_id"])
    assert delivery["status"] == "delivered" and delivery["attempt_count"] == 4
    assert [a["http_status"] for a in delivery["attempts"]] == [500, 500, 500, 200]
    assert [a["error"] for a in delivery["attempts"]] == ["HTTP 500"] * 3 + [None]
    assert all(isinstance(a["duration_ms"], int) and a["duration_ms"] >= 0 for a in delivery["attempts"])
    assert all(a["time"].endswith("+00:00") for a in delivery["attempts"])
    assert delivery["next_attempt_at"] is None and delivery["delivered_at"] is not None
    assert (delivery["webhook_increment_id"], delivery["topic"], delivery["last_http_status"]) == (1, "product:created", 200)


async def test_a_receiver_that_times_out_ends_failed_then_replay_delivers(make_client, users, db, aiohttp_server):
    answering = asyncio.Event()  # set: the receiver answers; until then it keeps every request waiting

    async def respond(received: Received):
        await answering.wait()
        return 200

    receiver = await start_receiver(aiohttp_server, respond)
    rpc = await make_client(**{**FAST, "webhook_timeout": 0.4, "webhook_retry_schedule": "0.2,0.2"})
    session = await rpc.login(users["merchant"])
    hook = await create_webhook(rpc, session, receiver.url, "product:created")
    await product(rpc, session, "SKU-1")

    async def failed() -> bool:
        found = await deliveries(rpc, session, hook["webhook_id"])
        return bool(found) and found[0]["status"] == "failed"

    await wait_until(failed, timeout=15, what="failed")
    (delivery,) = await deliveries(rpc, session, hook["webhook_id"])
    assert delivery["attempt_count"] == 3  # the first try and the two retries of the schedule
    assert [a["http_status"] for a in delivery["attempts"]] == [None, None, None]
    assert all(a["error"].startswith("timed out after") for a in delivery["attempts"])
    assert all(350 <= a["duration_ms"] < 2000 for a in delivery["attempts"])
    assert delivery["next_attempt_at"] is None
    assert len(receiver.requests) == 3
    # The failed delivery can be seen by status, and repaired.
    assert len(await deliveries(rpc, session, hook["webhook_id"], {"status": "failed"})) == 1
    assert await deliveries(rpc, session, hook["webhook_id"], {"status": "pending"}) == []
    answering.set()
    event_id = delivery["event_id"]
    queued = await rpc.result(session, "webhook.replay", [event_id])
    assert queued == [{"webhook_id": hook["webhook_id"], "delivery_id": delivery["delivery_id"], "webhook_increment_id": 1}]
    await receiver.wait_count(4)

    async def delivered() -> bool:
        return (await deliveries(rpc, session, hook["webhook_id"]))[0]["status"] == "delivered"

    await wait_until(delivered, what="delivered after replay")
    (delivery,) = await deliveries(rpc, session, hook["webhook_id"])
    assert delivery["attempt_count"] == 4 and delivery["attempts"][-1]["http_status"] == 200
    assert receiver.requests[-1].increment_id == 1  # the gap the receiver saw is filled


async def test_a_receiver_that_is_down_ends_failed_and_pending_shows_the_next_attempt(make_client, users, db, aiohttp_server, unused_tcp_port):
    rpc = await make_client(**{**FAST, "webhook_retry_schedule": "0.2,30"})
    session = await rpc.login(users["merchant"])
    hook = await create_webhook(rpc, session, f"http://127.0.0.1:{unused_tcp_port}/down", "product:created")
    await product(rpc, session, "SKU-1")

    async def waiting_for_the_second_retry() -> bool:
        found = await deliveries(rpc, session, hook["webhook_id"])
        return bool(found) and found[0]["attempt_count"] == 2

    await wait_until(waiting_for_the_second_retry, what="two attempts")
    (delivery,) = await deliveries(rpc, session, hook["webhook_id"])
    assert delivery["status"] == "pending"
    assert delivery["attempts"][0]["error"].startswith("ClientConnectorError")
    next_at = datetime.fromisoformat(delivery["next_attempt_at"])
    last_at = datetime.fromisoformat(delivery["last_attempt_at"])
    assert 28 <= (next_at - last_at).total_seconds() <= 32


async def test_replay_of_an_event_older_than_the_webhook_takes_the_next_increment_id(make_client, users, db, aiohttp_server):
    receiver = await start_receiver(aiohttp_server)
    rpc = await make_client(**FAST)
    session = await rpc.login(users["merchant"])
    await product(rpc, session, "OLD")  # no webhook yet: not queued
    old_event = await db.fetchval("SELECT event_id FROM events WHERE message->>'sku' = 'OLD'")
    hook = await create_webhook(rpc, session, receiver.url, "product:created")
    await product(rpc, session, "NEW")
    await receiver.wait_count(1)
    queued = await rpc.result(session, "webhook.replay", [old_event, hook["webhook_id"]])
    assert [(q["webhook_id"], q["webhook_increment_id"]) for q in queued] == [(hook["webhook_id"], 2)]
    got = await receiver.wait_count(2)
    assert [(r.json["message"]["sku"], r.increment_id) for r in got] == [("NEW", 1), ("OLD", 2)]
    # Replaying a delivered event sends it again with the same increment id.
    await rpc.result(session, "webhook.replay", [old_event])
    got = await receiver.wait_count(3)
    assert (got[2].json["message"]["sku"], got[2].increment_id) == ("OLD", 2)


async def test_webhook_test_sends_a_signed_ping_and_answers_the_status_never_the_body(make_client, users, db, aiohttp_server,
                                                                                    monkeypatch):
    import rpc_fulfillment.webhooks.api as service

    # webhook.test answers once the ping's outcome is recorded, not when its wait runs out: an
    # hour's wait proves it (the hang guard below fails long before).
    monkeypatch.setattr(service, "TEST_GRACE_SECONDS", 3600)
    answers = iter([(200, "pong"), (503, "down for maintenance " * 100)])

    async def respond(received: Received):
        return next(answers)

    receiver = await start_receiver(aiohttp_server, respond)
    rpc = await make_client(**FAST)
    session = await rpc.login(users["merchant"])
    hook = await create_webhook(rpc, session, receiver.url, "product:created", secret_key="k", is_active=False)
    async with asyncio.timeout(30):  # a hang guard
        answer = await rpc.result(session, "webhook.test", [hook["webhook_id"]])
    assert answer == {"delivered": True, "http_status": 200, "duration_ms": answer["duration_ms"],
                      "error": None, "delivery_id": answer["delivery_id"]}
    (ping,) = receiver.requests
    assert ping.topic == "test:ping"
    assert ping.headers["X-Plugin-Hmac-Sha256"] == signature("k", ping.body)
    assert ping.json["message"]["webhook_increment_id"] == 0
    assert ping.json["message"]["webhook_id"] == hook["webhook_id"]
    async with asyncio.timeout(30):
        failed = await rpc.result(session, "webhook.test", [hook["webhook_id"]])
    assert (failed["delivered"], failed["http_status"], failed["error"]) == (False, 503, "HTTP 503")
    # What the receiver answered reaches no merchant-visible method: not webhook.test's answer,
    # not webhook.deliveries.
    log = await rpc.call(session, "webhook.deliveries", [hook["webhook_id"]])
    assert b"pong" not in orjson.dumps(answer) and b"maintenance" not in orjson.dumps([failed, log])
    # A ping is tried once (no retries), shows in the log, and takes no increment id.
    await wait_until_all_sent(db)
    assert len(receiver.requests) == 2
    log = await deliveries(rpc, session, hook["webhook_id"], {"topic": "test:ping"}, sort_field="created_at")
    assert [(d["status"], d["attempt_count"], d["webhook_increment_id"]) for d in log] == [("delivered", 1, None), ("failed", 1, None)]
    await rpc.result(session, "webhook.update_status", [hook["webhook_id"], 1])
    await product(rpc, session, "SKU-1")
    await receiver.wait_count(3)
    assert receiver.requests[2].increment_id == 1


async def test_webhook_test_against_a_dead_url_reports_the_error(make_client, users, unused_tcp_port):
    rpc = await make_client(**FAST)
    session = await rpc.login(users["merchant"])
    hook = await create_webhook(rpc, session, f"http://127.0.0.1:{unused_tcp_port}/", "order:created")
    answer = await rpc.result(session, "webhook.test", [hook["webhook_id"]])
    assert answer["delivered"] is False and answer["http_status"] is None
    assert answer["error"].startswith("ClientConnectorError")


async def test_webhook_test_without_any_worker_says_so(make_client, users, db, aiohttp_server):
    receiver = await start_receiver(aiohttp_server)
    rpc = await make_client(webhook_delivery=False, webhook_timeout=0.1)
    session = await rpc.login(users["merchant"])
    hook = await create_webhook(rpc, session, receiver.url, "order:created")
    import rpc_fulfillment.webhooks.api as service

    service_grace, service.TEST_GRACE_SECONDS = service.TEST_GRACE_SECONDS, 0.5
    try:
        answer = await rpc.result(session, "webhook.test", [hook["webhook_id"]])
    finally:
        service.TEST_GRACE_SECONDS = service_grace
    assert answer["delivered"] is False and answer["error"] == "not sent: no webhook worker took the test within 0.6 s"
    # ... and it is not sent later.
    assert await db.fetchval("SELECT status FROM webhook_deliveries") == "failed"


async def test_a_committed_change_is_delivered_and_a_rolled_back_one_never(make_client, users, db, aiohttp_server):
    receiver = await start_receiver(aiohttp_server)
    rpc = await make_client(**FAST)
    session = await rpc.login(users["merchant"])
    await add_product(db, "SKU-A", stock=10)
    hook = await create_webhook(rpc, session, receiver.url, ["order:created", "order:canceled"])
    order = await rpc.result(session, "order.create", [None, {"SKU-A": 1}, ADDRESS, {**INFO, "unique_id": "W-1"}])
    # The same unique_id again: the service fails inside its transaction, after nothing is kept.
    error = await rpc.fault(session, "order.create", [None, {"SKU-A": 1}, ADDRESS, {**INFO, "unique_id": "W-1"}])
    assert_fault(error, 104)
    # A product that does not exist: refused, no event either.
    assert_fault(await rpc.fault(session, "order.create", [None, {"NOPE": 1}, ADDRESS, {**INFO, "unique_id": "W-2"}]), 107)
    (got,) = await receiver.wait_count(1)
    assert got.json["message"]["unique_id"] == "W-1" and got.json["message"]["order_id"] == order["order_id"]
    await rpc.result(session, "order.cancel", ["W-1", {"all_items": True}])
    await receiver.wait_count(2)
    await wait_until_all_sent(db)
    assert [(r.topic, r.increment_id) for r in receiver.requests] == [("order:created", 1), ("order:canceled", 2)]
    # Every event written has its delivery, and there is no delivery without its event.
    assert await db.fetchval(
        """SELECT count(*) FROM events e WHERE e.topic = ANY ('{order:created,order:canceled}')
              AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.event_id)""") == 0
    assert await db.fetchval("SELECT count(*) FROM webhook_deliveries WHERE webhook_id = $1", hook["webhook_id"]) == 2
    assert await db.fetchval("SELECT count(*) FROM event_fanout") == 0


async def test_notify_wakes_the_worker_not_its_timer(make_client, users, db, aiohttp_server):
    """The worker's timer is an hour: each delivery here (each within the 30 s hang guard) is
    one that a NOTIFY woke the worker for."""
    receiver = await start_receiver(aiohttp_server)
    rpc = await make_client(**{**FAST, "webhook_interval": 3600})
    session = await rpc.login(users["merchant"])
    await create_webhook(rpc, session, receiver.url, "product:created")
    for n in range(3):
        await product(rpc, session, f"SKU-{n}")
        await receiver.wait_count(n + 1, timeout=30)
        await wait_until_all_sent(db)  # recorded: the worker goes back to sleep on its timer


async def test_deliveries_pages_and_filters(make_client, users, db, aiohttp_server):
    receiver = await start_receiver(aiohttp_server)
    rpc = await make_client(**FAST)
    session = await rpc.login(users["merchant"])
    hook = await create_webhook(rpc, session, receiver.url, "product:created")
    for n in range(5):
        await product(rpc, session, f"SKU-{n}")
    await receiver.wait_count(5)

    async def all_delivered() -> bool:
        return len(await deliveries(rpc, session, hook["webhook_id"], {"status": "delivered"})) == 5

    await wait_until(all_delivered, what="all delivered")
    page = await rpc.result(session, "webhook.deliveries", [hook["webhook_id"], {"webhook_increment_id": {"gteq": 2}},
                                                            {"limit": 2, "page": 2, "sort_field": "webhook_increment_id", "sort_dir": "desc"}])
    assert (page["totalCount"], page["numPages"]) == (4, 2)
    assert [d["webhook_increment_id"] for d in page["results"]] == [3, 2]
    error = await rpc.fault(session, "webhook.deliveries", [hook["webhook_id"], {"colour": "red"}])
    assert error["code"] == -32101 and error["message"].startswith("Invalid filters given: cannot filter on 'colour'")
    error = await rpc.fault(session, "webhook.deliveries", [hook["webhook_id"], None, {"limit": 500}])
    assert_fault(error, 101, "Invalid filters given: option limit must be a whole number from 1 to 100")


@pytest.mark.parametrize("topic_call", ["inventory.adjust", "order.hold"])
async def test_other_topics_are_delivered_too(make_client, users, db, aiohttp_server, topic_call):
    receiver = await start_receiver(aiohttp_server)
    rpc = await make_client(**FAST)
    merchant = await rpc.login(users["merchant"])
    await add_product(db, "SKU-A", stock=10)
    if topic_call == "inventory.adjust":
        await create_webhook(rpc, merchant, receiver.url, "inventory:adjusted")
        warehouse = await rpc.login(users["warehouse"])
        await rpc.result(warehouse, "inventory.adjust", ["SKU-A", 1, 5, "recount"])
        (got,) = await receiver.wait_count(1)
        assert got.topic == "inventory:adjusted" and "stock_adjustments" in got.json["message"]
    else:
        await create_webhook(rpc, merchant, receiver.url, "order:holded,order:status_changed")
        await rpc.result(merchant, "order.create", [None, {"SKU-A": 1}, ADDRESS, {**INFO, "unique_id": "H-1"}])
        await rpc.result(merchant, "order.hold", ["H-1"])
        got = await receiver.wait_count(3)  # order:status_changed at creation, then the hold's two
        assert sorted((r.increment_id, r.topic) for r in got) == [
            (1, "order:status_changed"), (2, "order:status_changed"), (3, "order:holded")]
        assert all(r.json["message"]["unique_id"] == "H-1" for r in got)


async def test_a_whole_order_lifecycle_delivers_every_event_once_in_order(make_client, users, db, aiohttp_server):
    """Order, shipment, pack, ship, deliver, then a second order canceled: every event the
    changes wrote reaches a webhook subscribed to every emitted topic, once, with the message
    as written, and (the calls being one after the other) in the order they were committed."""
    from rpc_fulfillment.webhooks.rules import EMITTED
    from tests.api.shipment_helpers import through

    receiver = await start_receiver(aiohttp_server)
    rpc = await make_client(**FAST)
    merchant = await rpc.login(users["merchant"])
    warehouse = await rpc.login(users["warehouse"])
    await add_product(db, "SKU-A", stock=10)
    await create_webhook(rpc, merchant, receiver.url, list(EMITTED))
    await rpc.result(merchant, "order.create", [None, {"SKU-A": 2}, ADDRESS, {**INFO, "unique_id": "L-1"}])
    await through(rpc, warehouse, "L-1", "pack", "ship", "deliver")
    await rpc.result(merchant, "order.create", [None, {"SKU-A": 1}, ADDRESS, {**INFO, "unique_id": "L-2"}])
    await rpc.result(merchant, "order.cancel", ["L-2", {"all_items": True}])
    await rpc.result(warehouse, "inventory.adjust", ["SKU-A", 1, 3, "found"])
    events = await db.fetch("SELECT topic, message FROM events WHERE merchant_id = $1 ORDER BY seq", await merchant_id(db))
    topics = {e["topic"] for e in events}
    assert {"order:created", "shipment:packed", "shipment:shipped", "shipment:delivered", "order:canceled",
            "inventory:adjusted"} <= topics
    got = await receiver.wait_count(len(events))
    await wait_until_all_sent(db)
    assert len(receiver.requests) == len(events)
    by_increment = sorted(got, key=lambda r: r.increment_id)
    assert [r.increment_id for r in by_increment] == list(range(1, len(events) + 1))
    delivered = [(r.topic, {k: v for k, v in r.json["message"].items() if k not in ("webhook_increment_id", "event_timestamp")})
                 for r in by_increment]
    assert delivered == [(e["topic"], e["message"]) for e in events]
