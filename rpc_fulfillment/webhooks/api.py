"""webhook.create / list / update_status / delete / deliveries / replay / test, and event.list.

A merchant sees and changes only its own webhooks: another merchant's webhook "does not
exist" (fault 103). Delivery itself is the worker's (rpc_fulfillment/workers/webhooks.py);
webhook.test queues a test:ping for it and waits for the answer, so the HTTP client lives in
one place and the test goes through exactly the code that delivers events.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from rpc_fulfillment.webhooks import rules as domain
from rpc_fulfillment.core.faults import Fault
from rpc_fulfillment.core.filters import paginated, parse_filters, parse_options
from rpc_fulfillment.core.context import CallContext
from rpc_fulfillment.webhooks import queries as store

# How long webhook.test waits for a worker beyond the HTTP timeout itself.
TEST_GRACE_SECONDS = 5.0
TEST_POLL_SECONDS = 0.05


async def webhook_create(ctx: CallContext, data: Any) -> bool:
    """Returns ``true`` as ShipStream does; webhook.list shows the new webhook's id (and its
    secret_key when the server generated one)."""
    webhook = domain.parse_webhook_data(data, ctx.settings.webhook_allow_private)
    merchant_id = ctx.principal.merchant_id
    async with ctx.pool.acquire() as conn, conn.transaction():
        await store.lock_merchant_webhooks(conn, merchant_id)  # the limit holds under concurrency
        if await store.count_webhooks(conn, merchant_id) >= domain.MAX_WEBHOOKS:
            raise Fault(
                "webhook_not_created",
                f"Webhook not created: a merchant may have at most {domain.MAX_WEBHOOKS} webhooks; delete one first",
            )
        await store.insert_webhook(
            conn, merchant_id, webhook.url, webhook.topics, webhook.is_active, webhook.extra_headers, webhook.secret_key
        )
    return True


async def webhook_list(ctx: CallContext) -> list[dict[str, Any]]:
    async with ctx.pool.acquire() as conn:
        rows = await store.list_webhooks(conn, ctx.principal.merchant_id)
    return [domain.webhook_view(row) for row in rows]


async def webhook_update_status(ctx: CallContext, webhook_id: Any, status: Any) -> bool:
    """Activate (1) or deactivate (0). Events of an inactive webhook's topics are not queued
    for it; deliveries already queued wait, and go out once it is active again. Without
    private targets allowed, a webhook whose URL names a private address (registered while
    they were) cannot be activated: fault 101 naming 'url'."""
    number = domain.parse_webhook_id(webhook_id)
    is_active = domain.parse_status(status)
    async with ctx.pool.acquire() as conn, conn.transaction():
        if is_active and not ctx.settings.webhook_allow_private:
            webhook = await store.find_webhook(conn, ctx.principal.merchant_id, number)
            if webhook is not None:
                domain.check_target(webhook["url"])
        found = await store.set_active(conn, ctx.principal.merchant_id, number, is_active)
    if not found:
        raise Fault("webhook_not_found", f"no webhook {number}")
    return True


async def webhook_delete(ctx: CallContext, webhook_id: Any) -> bool:
    """Deletes the webhook with its queued deliveries and its delivery log."""
    number = domain.parse_webhook_id(webhook_id)
    async with ctx.pool.acquire() as conn, conn.transaction():
        found = await store.delete_webhook(conn, ctx.principal.merchant_id, number)
    if not found:
        raise Fault("webhook_not_found", f"no webhook {number}")
    return True


async def webhook_deliveries(ctx: CallContext, webhook_id: Any, filters: Any = None, options: Any = None) -> dict[str, Any]:
    """The webhook's deliveries, each with its attempts: ``{results, totalCount, numPages}``."""
    number = domain.parse_webhook_id(webhook_id)
    conditions = parse_filters(filters, domain.DELIVERY_FIELDS, domain.INVALID_DATA)
    page = parse_options(options, domain.DELIVERY_SORT_FIELDS, domain.DELIVERY_DEFAULT_SORT, domain.INVALID_DATA)
    merchant_id = ctx.principal.merchant_id
    async with ctx.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        if await store.find_webhook(conn, merchant_id, number) is None:
            raise Fault("webhook_not_found", f"no webhook {number}")
        rows, total = await store.search_deliveries(conn, merchant_id, number, conditions, page)
        attempts = await store.attempts_of(conn, [row["delivery_id"] for row in rows]) if rows else {}
    return paginated([domain.delivery_view(row, attempts.get(row["delivery_id"], [])) for row in rows], total, page)


async def webhook_replay(ctx: CallContext, event_id: Any, webhook_id: Any = None) -> list[dict[str, Any]]:
    """Queue an event again for the merchant's active webhooks that subscribe to its topic (or
    for one webhook). A delivery the event already had is due again now with a fresh retry
    schedule and keeps its webhook_increment_id (a receiver that saw a gap sees it filled);
    a webhook that never had the event gets it with its next increment id."""
    event_number = domain.parse_event_id(event_id)
    only = None if webhook_id is None else domain.parse_webhook_id(webhook_id)
    merchant_id = ctx.principal.merchant_id
    queued = []
    async with ctx.pool.acquire() as conn, conn.transaction():
        event = await store.find_event(conn, merchant_id, event_number)
        if event is None:
            raise Fault("webhook_event_not_found", f"no event {event_number}")
        await store.pause_fan_out(conn)
        webhooks = await store.lock_webhooks(conn, merchant_id, only)
        if only is not None:
            if not webhooks:
                raise Fault("webhook_not_found", f"no webhook {only}")
            if event["topic"] not in webhooks[0]["topics"]:
                raise domain.invalid(f"webhook {only} does not subscribe to {event['topic']}")
            if not webhooks[0]["is_active"]:
                raise domain.invalid(f"webhook {only} is inactive; activate it with webhook.update_status first")
        # No fan-out runs now, and one that ran took the event off its queue and created its
        # deliveries in one transaction: the event is either still queued or fanned out.
        if await store.awaiting_fan_out(conn, event_number):
            raise domain.invalid(f"event {event_number} is still waiting for its first delivery; nothing to replay yet")
        for webhook in webhooks:
            if webhook["is_active"] and event["topic"] in webhook["topics"]:
                row = await store.requeue_or_add(conn, merchant_id, webhook["webhook_id"], event)
                queued.append(dict(row))
        if queued:
            await store.notify(conn)
    return queued


async def webhook_test(ctx: CallContext, webhook_id: Any) -> dict[str, Any]:
    """Send ``test:ping`` to the webhook now (active or not) and answer what the receiver
    said: ``{delivered, http_status, body, duration_ms, error, delivery_id}``. The ping is
    signed like any event, is tried once, and shows in webhook.deliveries; its
    ``webhook_increment_id`` is 0 (it is outside the sequence)."""
    number = domain.parse_webhook_id(webhook_id)
    merchant_id = ctx.principal.merchant_id
    async with ctx.pool.acquire() as conn, conn.transaction():
        if await store.find_webhook(conn, merchant_id, number) is None:
            raise Fault("webhook_not_found", f"no webhook {number}")
        delivery_id = await store.add_test_delivery(conn, merchant_id, number, domain.TEST_TOPIC)
    wait = ctx.settings.webhook_timeout + TEST_GRACE_SECONDS
    deadline = time.monotonic() + wait
    outcome = None
    while time.monotonic() < deadline:
        await asyncio.sleep(TEST_POLL_SECONDS)
        async with ctx.pool.acquire() as conn:
            outcome = await store.delivery_outcome(conn, delivery_id)
        if outcome is None or outcome["status"] != "pending":
            break
    else:
        async with ctx.pool.acquire() as conn:
            await store.give_up_test(conn, delivery_id, f"not sent: no webhook worker took the test within {wait:g} s")
            outcome = await store.delivery_outcome(conn, delivery_id)
    if outcome is None:  # the webhook was deleted meanwhile
        raise Fault("webhook_not_found", f"no webhook {number}")
    if outcome["status"] == "pending" or outcome["attempted_at"] is None:
        return {"delivered": False, "http_status": None, "body": None, "duration_ms": None,
                "error": f"not sent: no webhook worker took the test within {wait:g} s", "delivery_id": delivery_id}
    return {
        "delivered": outcome["status"] == "delivered",
        "http_status": outcome["http_status"],
        "body": outcome["response_excerpt"],
        "duration_ms": outcome["duration_ms"],
        "error": outcome["error"],
        "delivery_id": delivery_id,
    }


async def event_list(ctx: CallContext, after_id: Any = None, limit: Any = None) -> list[dict[str, Any]]:
    """The merchant's events with event_id > after_id, oldest first, at most ``limit``.

    event_ids are taken when an event is written, not when its transaction commits, so an
    event with a smaller id can become visible just after a larger one: a poller should
    re-read a small overlap (ask from a little before its last id, or from the last id seen a
    few seconds ago) and skip ids it already has, or use webhooks, whose increment ids follow
    delivery order and have no gaps."""
    after, limit_n = domain.parse_event_list(after_id, limit)
    async with ctx.pool.acquire() as conn:
        rows = await store.list_events(conn, ctx.principal.merchant_id, after, limit_n)
    return [domain.event_view(row) for row in rows]
