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
from rpc_fulfillment.core.filters import paginated, Search
from rpc_fulfillment.core.context import CallContext
from rpc_fulfillment.webhooks import queries as store
from rpc_fulfillment.core.api import INTEGRATION, SNAPSHOT, Arg, Doc, api_method
from rpc_fulfillment.core.schema import BOOLEAN, FLAG, INTEGER, STRING, TIMESTAMP, TRUE_RESULT, array_of, nullable, obj, paginated_schema, search_args


WEBHOOK_ID = Arg({"type": ["integer", "string"], "minimum": 1}, "the webhook's webhook_id (see webhook.list)")
WEBHOOK = obj({
    "webhook_id": INTEGER, "is_active": FLAG, "topics": {"type": "string", "description": "comma-separated topics"},
    "url": STRING,
    "extra_headers": STRING, "secret_key": STRING, "last_increment_id": INTEGER, "created_at": TIMESTAMP,
})
TOPIC = {"enum": sorted(domain.TOPICS)}
STATUS = {"type": ["boolean", "integer", "string"]}
WEBHOOK_DATA = obj(
    {
        "url": {"type": "string", "maxLength": domain.URL_MAX, "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://",
                "description": "the http or https URL events are POSTed to"},
        "topics": {"anyOf": [array_of(TOPIC, minItems=1), {"type": "string", "description": "comma-separated topics"}]},
        "is_active": {"type": ["boolean", "integer", "string", "null"], "default": True,
                      "description": "true/false, 1/0 or \"1\"/\"0\""},
        "extra_headers": {"anyOf": [STRING, array_of(STRING), {"type": "null"}],
                          "description": f"\"Name: value\" lines, at most {domain.HEADERS_MAX}"},
        "secret_key": {"type": ["string", "null"], "maxLength": domain.SECRET_MAX,
                       "description": "the signing key; absent, null or \"\" generates one (webhook.list shows it)"},
    },
    required=("url", "topics"),
)
ATTEMPT = obj({"time": TIMESTAMP, "http_status": nullable(INTEGER), "duration_ms": nullable(INTEGER), "error": nullable(STRING)})
DELIVERY = obj({
    "delivery_id": INTEGER, "webhook_id": INTEGER, "event_id": INTEGER, "topic": STRING,
    "webhook_increment_id": INTEGER, "status": STRING, "attempt_count": INTEGER, "created_at": TIMESTAMP,
    "last_attempt_at": TIMESTAMP, "next_attempt_at": TIMESTAMP, "delivered_at": TIMESTAMP,
    "last_http_status": nullable(INTEGER), "last_error": nullable(STRING), "attempts": array_of(ATTEMPT),
})
EVENT = obj({"event_id": INTEGER, "topic": STRING, "event_timestamp": TIMESTAMP, "message": {"type": "object"}})

# How long webhook.test waits for a worker beyond the HTTP timeout itself, and how often it
# looks (each look takes a connection for one statement; the wait between holds none).
TEST_GRACE_SECONDS = 5.0
TEST_POLL_SECONDS = 0.1


@api_method("webhook.create", INTEGRATION, Doc(
    "Subscribe a URL to event topics.",
    args={"data": Arg(WEBHOOK_DATA)},
    result=TRUE_RESULT,
    faults=("webhook_invalid_data", "webhook_not_created"),
    description=f"At most {domain.MAX_WEBHOOKS} webhooks per merchant; webhook.list shows the new "
                f"one's id and secret_key. Deliveries are signed with {domain.SIGNATURE_HEADER}.",
))
async def webhook_create(ctx: CallContext, data: Any) -> bool:
    """Returns ``true`` as ShipStream does; webhook.list shows the new webhook's id (and its
    secret_key when the server generated one)."""
    webhook = domain.parse_webhook_data(data, ctx.settings.webhook_allow_private)
    merchant_id = ctx.principal.merchant_id
    conn = ctx.conn
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


@api_method("webhook.list", INTEGRATION, Doc("The merchant's webhooks.", result=array_of(WEBHOOK)), transaction=None)
async def webhook_list(ctx: CallContext) -> list[dict[str, Any]]:
    conn = ctx.conn
    rows = await store.list_webhooks(conn, ctx.principal.merchant_id)
    return [domain.webhook_view(row) for row in rows]


@api_method("webhook.update_status", INTEGRATION, Doc(
    "Activate (1) or deactivate (0) the webhooks of a topic, or one webhook.",
    args={
        "topic": Arg({"anyOf": [TOPIC, WEBHOOK_ID.schema, obj({"topic": TOPIC, "webhook_id": WEBHOOK_ID.schema,
                                                                "status": STATUS})]},
                     "a topic: the webhooks subscribed to it; ours besides: a webhook_id (that webhook), or an "
                     "object {topic or webhook_id, status} (neither: every webhook of the merchant)"),
        "status": Arg(STATUS, "1 (active) or 0 (inactive); true and false too"),
    },
    result=TRUE_RESULT,
    faults=("webhook_status_not_changed",),
))
async def webhook_update_status(ctx: CallContext, topic: Any, status: Any = None) -> bool:
    """Events of an inactive webhook's topics are not queued for it; deliveries already queued
    wait, and go out once it is active again. Without private targets allowed, a webhook whose
    URL names a private address (registered while they were) cannot be activated. Every
    refusal is fault 100, ShipStream's only one for this method; it changes nothing."""
    change = domain.parse_status_change(topic, status)
    changed = await store.set_active(ctx.conn, ctx.principal.merchant_id, change.is_active, change.webhook_id, change.topic)
    if not changed:
        raise domain.status_not_changed(f"no {change.target}")
    if change.is_active and not ctx.settings.webhook_allow_private:
        for webhook in changed:
            reason = domain.target_refusal(webhook["url"])
            if reason is not None:  # the fault rolls the whole change back
                raise domain.status_not_changed(f"webhook {webhook['webhook_id']}: {reason}")
    return True


@api_method("webhook.delete", INTEGRATION, Doc(
    "Delete a webhook with its queued deliveries and delivery log.", TRUE_RESULT, {"webhook_id": WEBHOOK_ID},
    ("webhook_not_found",)))
async def webhook_delete(ctx: CallContext, webhook_id: Any) -> bool:
    """Deletes the webhook with its queued deliveries and its delivery log."""
    number = domain.parse_webhook_id(webhook_id)
    conn = ctx.conn
    found = await store.delete_webhook(conn, ctx.principal.merchant_id, number)
    if not found:
        raise Fault("webhook_not_found", f"no webhook {number}")
    return True


DELIVERY_SEARCH = Search(domain.DELIVERY_FIELDS, domain.DELIVERY_SORT_FIELDS, domain.DELIVERY_DEFAULT_SORT,
                         domain.INVALID_DATA)


@api_method("webhook.deliveries", INTEGRATION, Doc(
    "A webhook's deliveries, each with its attempts.",
    args={
        "webhook_id": WEBHOOK_ID,
        **search_args(DELIVERY_SEARCH),
    },
    result=paginated_schema(DELIVERY),
    faults=("webhook_not_found", "webhook_invalid_data"),
), transaction=SNAPSHOT)
async def webhook_deliveries(ctx: CallContext, webhook_id: Any, filters: Any = None, options: Any = None) -> dict[str, Any]:
    """The webhook's deliveries, each with its attempts: ``{results, totalCount, numPages}``."""
    number = domain.parse_webhook_id(webhook_id)
    conditions, page = DELIVERY_SEARCH.parse(filters, options)
    merchant_id = ctx.principal.merchant_id
    conn = ctx.conn
    if await store.find_webhook(conn, merchant_id, number) is None:
        raise Fault("webhook_not_found", f"no webhook {number}")
    rows, total = await store.search_deliveries(conn, merchant_id, number, conditions, page)
    attempts = await store.attempts_of(conn, [row["delivery_id"] for row in rows]) if rows else {}
    return paginated([domain.delivery_view(row, attempts.get(row["delivery_id"], [])) for row in rows], total, page)


@api_method("webhook.replay", INTEGRATION, Doc(
    "Queue an event again for the webhooks subscribed to its topic (or for one webhook).",
    args={"event_id": Arg({"type": ["integer", "string"], "minimum": 1}, "the event (see event.list)"),
          "webhook_id": Arg(nullable(WEBHOOK_ID.schema), "only this webhook")},
    result=array_of({"type": "object", "description": "the queued delivery"}),
    faults=("webhook_event_not_found", "webhook_not_found", "webhook_invalid_data"),
))
async def webhook_replay(ctx: CallContext, event_id: Any, webhook_id: Any = None) -> list[dict[str, Any]]:
    """Queue an event again for the merchant's active webhooks that subscribe to its topic (or
    for one webhook). A delivery the event already had is due again now with a fresh retry
    schedule and keeps its webhook_increment_id (a receiver that saw a gap sees it filled);
    a webhook that never had the event gets it with its next increment id."""
    event_number = domain.parse_event_id(event_id)
    only = None if webhook_id is None else domain.parse_webhook_id(webhook_id)
    merchant_id = ctx.principal.merchant_id
    queued = []
    conn = ctx.conn
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


@api_method("webhook.test", INTEGRATION, Doc(
    "Send test:ping to a webhook now and answer the receiver's HTTP status and timing.",
    args={"webhook_id": WEBHOOK_ID},
    result=obj({"delivered": BOOLEAN, "http_status": nullable(INTEGER),
                "duration_ms": nullable(INTEGER), "error": nullable(STRING), "delivery_id": INTEGER}),
    faults=("webhook_not_found",),
), retry=False)
async def webhook_test(ctx: CallContext, webhook_id: Any) -> dict[str, Any]:
    """Send ``test:ping`` to the webhook now (active or not) and answer how it went:
    ``{delivered, http_status, duration_ms, error, delivery_id}``; never what the receiver
    answered (a webhook may point anywhere the server can reach). The ping is signed like any
    event, is tried once, and shows in webhook.deliveries; its ``webhook_increment_id`` is 0
    (it is outside the sequence). While the worker sends it the call holds no connection."""
    number = domain.parse_webhook_id(webhook_id)
    merchant_id = ctx.principal.merchant_id
    conn = ctx.conn
    if await store.find_webhook(conn, merchant_id, number) is None:
        raise Fault("webhook_not_found", f"no webhook {number}")
    delivery_id = await store.add_test_delivery(conn, merchant_id, number, domain.TEST_TOPIC)
    wait = ctx.settings.webhook_timeout + TEST_GRACE_SECONDS
    deadline = time.monotonic() + wait
    outcome = None
    while time.monotonic() < deadline:
        async with ctx.uow.away():  # commits the ping first: the worker sends it once committed
            await asyncio.sleep(TEST_POLL_SECONDS)
        outcome = await store.delivery_outcome(conn, delivery_id)
        if outcome is None or outcome["status"] != "pending":
            break
    else:
        await store.give_up_test(conn, delivery_id, f"not sent: no webhook worker took the test within {wait:g} s")
        outcome = await store.delivery_outcome(conn, delivery_id)
    if outcome is None:  # the webhook was deleted meanwhile
        raise Fault("webhook_not_found", f"no webhook {number}")
    if outcome["status"] == "pending" or outcome["attempted_at"] is None:
        return {"delivered": False, "http_status": None, "duration_ms": None,
                "error": f"not sent: no webhook worker took the test within {wait:g} s", "delivery_id": delivery_id}
    return {
        "delivered": outcome["status"] == "delivered",
        "http_status": outcome["http_status"],
        "duration_ms": outcome["duration_ms"],
        "error": outcome["error"],
        "delivery_id": delivery_id,
    }


@api_method("event.list", INTEGRATION, Doc(
    "The merchant's events after an event id, oldest first (a polling feed).",
    args={
        "after_id": Arg(nullable({"type": ["integer", "string"], "minimum": 0}), "0 or null: from the start"),
        "limit": Arg(nullable({"type": ["integer", "string"], "minimum": 1, "maximum": domain.EVENT_LIST_MAX}),
                     f"at most this many (default {domain.EVENT_LIST_DEFAULT})"),
    },
    result=array_of(EVENT),
    faults=("event_invalid_data",),
    description="Event ids are not ordered: after_id is the last event_id you saw, and the feed resumes after it "
                "in the order events were written. That order is taken when an event is written, not when it commits: "
                "re-read a small overlap.",
), transaction=None)
async def event_list(ctx: CallContext, after_id: Any = None, limit: Any = None) -> list[dict[str, Any]]:
    """The merchant's events written after the event ``after_id``, oldest first, at most ``limit``.

    event_ids are a keyed permutation (not countable, not ordered); the feed's order is the
    position each event was written at, which rpcf_id_position() recovers from the event_id a
    client saw. Positions are taken when an event is written, not when its transaction commits,
    so an earlier event can become visible just after a later one: a poller should re-read a
    small overlap (ask from the event_id it saw a few seconds ago) and skip ids it already has,
    or use webhooks, whose increment ids follow delivery order and have no gaps."""
    after, limit_n = domain.parse_event_list(after_id, limit)
    conn = ctx.conn
    rows = await store.list_events(conn, ctx.principal.merchant_id, after, limit_n)
    return [domain.event_view(row) for row in rows]
