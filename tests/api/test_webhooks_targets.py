"""The SSRF guard (webhook_allow_private off, the default): webhook.create and activation refuse URLs that
name a private, loopback or link-local address; the worker refuses, at delivery, any host
that is or resolves to one, records the refusal as a failed attempt and retries on the
schedule. Every receiver is on 127.0.0.1; names resolve through a stub."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest
from aiohttp import web

from rpc_fulfillment.config import Settings
from rpc_fulfillment.workers.webhooks import WebhookWorker
from tests.api.order_helpers import assert_fault, merchant_id
from tests.api.webhook_helpers import StubResolver, create_webhook, deliveries, start_receiver, wait_until

GUARDED = {"webhook_allow_private": Settings().webhook_allow_private}  # the default: the guard on
PUBLIC = "https://hooks.example.com/shipstream"
REFUSED_URLS = [
    ("http://127.0.0.1:5432/", "127.0.0.1 is a loopback address"),
    ("http://localhost:8080/hook", "localhost is a loopback name"),
    ("http://10.0.0.7/hook", "10.0.0.7 is a private address (RFC 1918)"),
    ("https://192.168.1.1/hook", "192.168.1.1 is a private address (RFC 1918)"),
    ("http://172.20.0.5:9000/", "172.20.0.5 is a private address (RFC 1918)"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address (where cloud metadata services live)"),
    ("http://[::1]:8080/hook", "::1 is a loopback address"),
    ("http://[fd00:ec2::254]/latest", "fd00:ec2::254 is a private address (unique local, fc00::/7)"),
    ("http://[fe80::1]/hook", "fe80::1 is a link-local address (where cloud metadata services live)"),
    ("http://[::ffff:127.0.0.1]/hook", "::ffff:127.0.0.1 means ::ffff:7f00:1 is an IPv6 address carrying 127.0.0.1 (a loopback address)"),
    ("http://0.0.0.0:8080/", "0.0.0.0 is the unspecified address"),
    ("http://2130706433/", "2130706433 means 127.0.0.1 is a loopback address"),
]


def refusal(url: str, reason: str) -> str:
    return (f"Invalid data given: 'url' may not point at a private network: {reason} ({url!r}); "
            "webhooks go to public addresses only on this server")


async def webhook_count(db) -> int:
    return await db.fetchval("SELECT count(*) FROM webhooks")


@pytest.mark.parametrize("url, reason", REFUSED_URLS, ids=[u for u, _ in REFUSED_URLS])
async def test_create_refuses_private_targets_by_default(make_client, users, db, url, reason):
    rpc = await make_client(**GUARDED)
    session = await rpc.login(users["merchant"])
    error = await rpc.fault(session, "webhook.create", [{"url": url, "topics": "order:created"}])
    assert_fault(error, 101, refusal(url, reason))
    assert await webhook_count(db) == 0
    # A name is accepted: it is checked after DNS, at delivery.
    assert await rpc.result(session, "webhook.create", [{"url": PUBLIC, "topics": "order:created"}]) is True


async def test_with_private_targets_allowed_create_accepts_them(make_client, users, db):
    rpc = await make_client(webhook_allow_private=True)
    session = await rpc.login(users["merchant"])
    for url, _ in REFUSED_URLS:
        assert await rpc.result(session, "webhook.create", [{"url": url, "topics": "order:created"}]) is True
    assert await webhook_count(db) == len(REFUSED_URLS)


@pytest.mark.parametrize("url, reason", [REFUSED_URLS[0], REFUSED_URLS[5], REFUSED_URLS[7]], ids=["loopback", "metadata", "ula"])
async def test_activating_a_webhook_with_a_private_target_is_refused(make_client, users, db, url, reason):
    # Registered while private targets were allowed; the operator then turned the guard on.
    open_rpc = await make_client()
    session = await open_rpc.login(users["merchant"])
    hook = await create_webhook(open_rpc, session, url, is_active=False)
    rpc = await make_client(**GUARDED)
    session = await rpc.login(users["merchant"])
    error = await rpc.fault(session, "webhook.update_status", [hook["webhook_id"], 1])
    # webhook.update_status's one documented fault is 100, its detail the same as create's.
    detail = refusal(url, reason).removeprefix("Invalid data given: ")
    assert_fault(error, 100, f"Error changing status for specified webhook: webhook {hook['webhook_id']}: {detail}")
    assert await db.fetchval("SELECT is_active FROM webhooks") is False
    # Deactivating is always allowed, and so is activating with the guard off.
    assert await rpc.result(session, "webhook.update_status", [hook["webhook_id"], 0]) is True
    assert await open_rpc.result(session, "webhook.update_status", [hook["webhook_id"], 1]) is True
    assert await db.fetchval("SELECT is_active FROM webhooks") is True


async def add_event(db, topic: str = "product:created") -> None:
    await db.execute("INSERT INTO events (merchant_id, topic, message) VALUES ($1, $2, '{}')", await merchant_id(db, "acme"), topic)


async def first_attempt(rpc, session, webhook_id: int) -> dict:
    async def attempted() -> bool:
        found = await deliveries(rpc, session, webhook_id)
        return bool(found and found[0]["attempts"])

    await wait_until(attempted, what="an attempt recorded")
    (delivery,) = await deliveries(rpc, session, webhook_id)
    return delivery


async def test_a_name_that_resolves_to_loopback_is_refused_at_delivery(make_client, users, db, settings, aiohttp_server):
    """DNS rebinding: the name passed webhook.create (it is not an address), and at delivery
    it resolves to 127.0.0.1, where a receiver listens: nothing reaches it."""
    receiver = await start_receiver(aiohttp_server)
    url = receiver.url.replace("127.0.0.1", "rebound.example")
    rpc = await make_client(webhook_delivery=False, **GUARDED)
    session = await rpc.login(users["merchant"])
    hook = await create_webhook(rpc, session, url, "product:created")
    await add_event(db)
    stub = StubResolver({"rebound.example": "127.0.0.1"})
    worker = WebhookWorker(settings.database_url, replace(settings, webhook_retry_schedule="60,120", webhook_interval=0.2,
                                                          **GUARDED), resolver=stub)
    await worker.start()
    try:
        delivery = await first_attempt(rpc, session, hook["webhook_id"])
    finally:
        await worker.stop()
    assert stub.asked == ["rebound.example"]
    assert receiver.requests == []
    error = ("refused: rebound.example resolves to 127.0.0.1, a loopback address; "
             "webhooks go to public addresses only on this server")
    (attempt,) = delivery["attempts"]
    assert (attempt["http_status"], attempt["error"]) == (None, error)
    assert (delivery["status"], delivery["attempt_count"], delivery["last_error"]) == ("pending", 1, error)
    # A refusal is a failed attempt like any other: the next one is the schedule's, 60 s later.
    waited = datetime.fromisoformat(delivery["next_attempt_at"]) - datetime.fromisoformat(attempt["time"])
    assert 59 < waited.total_seconds() < 70


async def test_the_same_name_is_delivered_when_private_targets_are_allowed(make_client, users, db, settings, aiohttp_server):
    """The control of the test above: the stub does lead to the receiver."""
    receiver = await start_receiver(aiohttp_server)
    rpc = await make_client(webhook_delivery=False)
    session = await rpc.login(users["merchant"])
    hook = await create_webhook(rpc, session, receiver.url.replace("127.0.0.1", "rebound.example"), "product:created")
    await add_event(db)
    worker = WebhookWorker(settings.database_url, replace(settings, webhook_interval=0.2),
                           resolver=StubResolver({"rebound.example": "127.0.0.1"}))
    await worker.start()
    try:
        await receiver.wait_count(1)
        await wait_until(lambda: _status_is(rpc, session, hook["webhook_id"], "delivered"), what="delivered")
    finally:
        await worker.stop()


async def _status_is(rpc, session, webhook_id: int, status: str) -> bool:
    found = await deliveries(rpc, session, webhook_id)
    return bool(found) and found[0]["status"] == status


async def test_a_literal_loopback_url_registered_before_the_guard_is_refused_at_delivery(make_client, users, db, settings, aiohttp_server):
    receiver = await start_receiver(aiohttp_server)
    rpc = await make_client(webhook_delivery=False)  # registered while private targets were allowed
    session = await rpc.login(users["merchant"])
    hook = await create_webhook(rpc, session, receiver.url, "product:created")
    await add_event(db)
    stub = StubResolver({})
    worker = WebhookWorker(settings.database_url, replace(settings, webhook_retry_schedule="60", webhook_interval=0.2,
                                                          **GUARDED), resolver=stub)
    await worker.start()
    try:
        delivery = await first_attempt(rpc, session, hook["webhook_id"])
    finally:
        await worker.stop()
    assert receiver.requests == [] and stub.asked == []
    assert delivery["attempts"][0]["error"] == ("refused: 127.0.0.1 is a loopback address; "
                                                "webhooks go to public addresses only on this server")
    assert delivery["status"] == "pending"


async def test_webhook_test_says_why_it_was_refused(make_client, users, aiohttp_server):
    receiver = await start_receiver(aiohttp_server)
    open_rpc = await make_client(webhook_delivery=False)
    session = await open_rpc.login(users["merchant"])
    hook = await create_webhook(open_rpc, session, receiver.url.replace("127.0.0.1", "localhost"))
    rpc = await make_client(**GUARDED)  # this app's worker delivers, with the guard on
    session = await rpc.login(users["merchant"])
    answer = await rpc.result(session, "webhook.test", [hook["webhook_id"]])
    assert answer["delivered"] is False and answer["http_status"] is None
    assert answer["error"] == ("refused: localhost is a loopback name; "
                               "webhooks go to public addresses only on this server")
    assert receiver.requests == []


async def test_a_redirect_is_not_followed(make_client, users, aiohttp_server):
    """A public receiver cannot bounce a delivery inward: a 3xx is a failed attempt."""
    inner = await start_receiver(aiohttp_server)

    async def bounce(_):
        raise web.HTTPFound(inner.url)

    outer = await start_receiver(aiohttp_server, bounce)
    rpc = await make_client()
    session = await rpc.login(users["merchant"])
    hook = await create_webhook(rpc, session, outer.url)
    answer = await rpc.result(session, "webhook.test", [hook["webhook_id"]])
    assert (answer["delivered"], answer["http_status"], answer["error"]) == (False, 302, "HTTP 302")
    assert len(outer.requests) == 1 and inner.requests == []
