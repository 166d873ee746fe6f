"""webhook.create / list / update_status / delete, their faults, tenancy, and event.list."""

from __future__ import annotations

from typing import Any

import pytest

from rpc_fulfillment.webhooks.rules import TOPICS
from tests.api.conftest import basic
from tests.api.order_helpers import assert_fault, merchant_id
from tests.api.webhook_helpers import create_webhook

URL = "https://example.com/hooks/shipstream"
NOT_EXISTS = "Webhook not exists."
EVENT_NOT_EXISTS = "Event not exists."


@pytest.fixture
async def session(rpc, users):
    return await rpc.login(users["merchant"])


async def webhook_count(db) -> int:
    return await db.fetchval("SELECT count(*) FROM webhooks")


# --------------------------------------------------------------------------- create and list


async def test_create_returns_true_and_list_shows_the_webhook(rpc, session, db):
    data = {
        "is_active": True,
        "url": URL,
        "topics": ["order:created", "order:canceled"],
        "extra_headers": "X-Middleware-Id: abc123\nX-Other:   two words  ",
        "secret_key": "k3y",
    }
    assert await rpc.result(session, "webhook.create", [data]) is True
    (hook,) = await rpc.result(session, "webhook.list")
    webhook_id = await db.fetchval("SELECT webhook_id FROM webhooks")
    assert hook == {
        "webhook_id": webhook_id,
        "is_active": 1,
        "topics": "order:created,order:canceled",
        "url": URL,
        "extra_headers": "X-Middleware-Id: abc123\nX-Other: two words",
        "secret_key": "k3y",
        "last_increment_id": 0,
        "created_at": hook["created_at"],
    }
    assert hook["created_at"].endswith("+00:00")


@pytest.mark.parametrize(
    "topics, stored",
    [
        ("order:created", "order:created"),
        ("order:created,order:canceled", "order:created,order:canceled"),
        (" order:created , order:canceled ,", "order:created,order:canceled"),
        (["shipment:shipped", "shipment:shipped", "inventory:adjusted"], "shipment:shipped,inventory:adjusted"),
        (["delivery:committed"], "delivery:committed"),  # documented by ShipStream, not emitted here: accepted
    ],
)
async def test_topics_as_a_string_or_an_array(rpc, session, topics, stored):
    hook = await create_webhook(rpc, session, URL, topics)
    assert hook["topics"] == stored


async def test_every_documented_topic_is_accepted(rpc, session):
    hook = await create_webhook(rpc, session, URL, sorted(TOPICS))
    assert hook["topics"].split(",") == sorted(TOPICS)


async def test_secret_key_is_generated_when_absent(rpc, session):
    first = await create_webhook(rpc, session, URL, "order:created")
    second = await create_webhook(rpc, session, URL + "2", "order:created", secret_key="")
    assert len(first["secret_key"]) >= 40 and len(second["secret_key"]) >= 40
    assert first["secret_key"] != second["secret_key"]


@pytest.mark.parametrize("value, stored", [(False, 0), (0, 0), ("0", 0), (1, 1), ("true", 1), (None, 1)])
async def test_is_active_accepts_php_style_flags(rpc, session, value, stored):
    hook = await create_webhook(rpc, session, URL, "order:created", is_active=value)
    assert hook["is_active"] == stored


async def test_the_middleware_setup_call_with_http_basic(rpc, users, db):
    """ShipStream's middleware registers its webhook with a null session and HTTP Basic
    (reference §4.1, run.php --setup-webhook), then finds it by url in webhook.list."""
    user = users["merchant"]
    body = await rpc.call(None, "webhook.create", [{
        "is_active": True, "url": "https://mw.example/respond", "topics": ["order:created", "shipment:packed"],
        "secret_key": "k", "extra_headers": "X-Middleware-Id: 42",
    }], headers=basic(user.username, user.api_key))
    assert body["result"] is True
    listed = (await rpc.call(None, "webhook.list", headers=basic(user.username, user.api_key)))["result"]
    assert [(h["url"], h["extra_headers"]) for h in listed] == [("https://mw.example/respond", "X-Middleware-Id: 42")]
    stale = listed[0]["webhook_id"]
    assert (await rpc.call(None, "webhook.delete", [stale], headers=basic(user.username, user.api_key)))["result"] is True
    assert await webhook_count(db) == 0


def invalid(detail: str) -> tuple[int, str]:
    return 101, f"Invalid data given: {detail}"


BAD_CREATES: list[tuple[Any, tuple[int, str]]] = [
    ("nope", invalid("webhook data must be an object {is_active, topics, url, extra_headers, secret_key}")),
    ({"topics": "order:created"}, invalid("'url' is required: the http or https URL to POST events to")),
    ({"url": "ftp://example.com/x", "topics": "order:created"},
     invalid("'url' must be an http or https URL, got 'ftp://example.com/x'")),
    ({"url": "https:///path", "topics": "order:created"}, invalid("'url' has no host: 'https:///path'")),
    ({"url": "https://exa mple.com", "topics": "order:created"}, invalid("'url' may not contain spaces or control characters")),
    ({"url": "http://example.com:99999/", "topics": "order:created"},
     invalid("'url' is not a valid URL (Port out of range 0-65535): 'http://example.com:99999/'")),
    ({"url": "http://[2606:4700::1]x/hook", "topics": "order:created"},  # urlsplit takes it, the worker's parser does not
     invalid("'url' is not a valid URL (Invalid IPv6 URL): 'http://[2606:4700::1]x/hook'")),
    ({"url": "https://example.com/" + "x" * 2100, "topics": "order:created"}, invalid("'url' is longer than 2048 characters")),
    ({"url": URL}, invalid(
        "'topics' is required: an array of topics or a comma-separated string such as \"order:created,order:canceled\"")),
    ({"url": URL, "topics": ""}, invalid("'topics' names no topic: give at least one, such as order:created")),
    ({"url": URL, "topics": []}, invalid("'topics' names no topic: give at least one, such as order:created")),
    ({"url": URL, "topics": "order:created,order:unholded"},
     invalid("'topics': 'order:unholded' is not a known topic (order:unholded does not exist: use order:status_changed)")),
    ({"url": URL, "topics": ["order:created", "order:exploded"]}, invalid("'topics': 'order:exploded' is not a known topic")),
    ({"url": URL, "topics": [1]}, invalid("'topics' must contain topic names (strings), got 1")),
    ({"url": URL, "topics": "order:created", "is_active": "maybe"},
     invalid("'is_active' must be true or false (or 1 or 0), got 'maybe'")),
    ({"url": URL, "topics": "order:created", "extra_headers": "NoColonHere"},
     invalid("'extra_headers' line 1 is not \"Name: value\": 'NoColonHere'")),
    ({"url": URL, "topics": "order:created", "extra_headers": "X-A: 1\nBad Name: 2"},
     invalid("'extra_headers' line 2 is not \"Name: value\": 'Bad Name: 2'")),
    ({"url": URL, "topics": "order:created", "extra_headers": "Content-Type: text/plain"},
     invalid("'extra_headers' line 1: Content-Type is set by the server and cannot be replaced")),
    ({"url": URL, "topics": "order:created", "extra_headers": "X-Plugin-Hmac-Sha256: forged"},
     invalid("'extra_headers' line 1: X-Plugin-Hmac-Sha256 is set by the server and cannot be replaced")),
    ({"url": URL, "topics": "order:created", "extra_headers": {"X-A": "1"}},
     invalid("'extra_headers' must be \"Name: value\" lines (a string, one header per line)")),
    ({"url": URL, "topics": "order:created", "secret_key": 12345}, invalid("'secret_key' must be a string, got 12345")),
    ({"url": URL, "topics": "order:created", "secret_key": "k" * 256}, invalid("'secret_key' is longer than 255 characters")),
    ({"url": URL, "topics": "order:created", "webhook_id": 5},
     invalid("unknown key(s) 'webhook_id' (use is_active, topics, url, extra_headers, secret_key)")),
]


@pytest.mark.parametrize("data, expected", BAD_CREATES, ids=[str(i) for i in range(len(BAD_CREATES))])
async def test_bad_create_names_the_problem_and_stores_nothing(rpc, session, db, data, expected):
    error = await rpc.fault(session, "webhook.create", [data])
    assert_fault(error, *expected)
    assert await webhook_count(db) == 0


async def test_a_header_value_with_a_newline_cannot_be_smuggled(rpc, session, db):
    error = await rpc.fault(session, "webhook.create", [{"url": URL, "topics": "order:created",
                                                          "extra_headers": ["X-A: one\rX-Injected: two"]}])
    assert_fault(error, 101, "Invalid data given: 'extra_headers' line 1: the value of X-A contains a control character")
    assert await webhook_count(db) == 0


async def test_create_without_data_is_fault_6(rpc, session, db):
    error = await rpc.fault(session, "webhook.create")
    assert_fault(error, 6, 'Required parameter is missing, for more details see "exception.log".')


async def test_a_merchant_has_at_most_50_webhooks(rpc, session, db):
    await db.execute(
        """INSERT INTO webhooks (merchant_id, url, topics, secret_key)
           SELECT $1, 'https://example.com/' || g, '{order:created}', 'k' FROM generate_series(1, 50) g""",
        await merchant_id(db),
    )
    error = await rpc.fault(session, "webhook.create", [{"url": URL, "topics": "order:created"}])
    assert_fault(error, 106, "Webhook not created: a merchant may have at most 50 webhooks; delete one first")
    assert await webhook_count(db) == 50


# --------------------------------------------------------------------------- status and delete


async def test_update_status_and_delete(rpc, session, db):
    hook = await create_webhook(rpc, session, URL, "order:created")
    webhook_id = hook["webhook_id"]
    assert await rpc.result(session, "webhook.update_status", [webhook_id, 0]) is True
    assert (await rpc.result(session, "webhook.list"))[0]["is_active"] == 0
    assert await rpc.result(session, "webhook.update_status", [str(webhook_id), True]) is True
    assert (await rpc.result(session, "webhook.list"))[0]["is_active"] == 1
    assert await rpc.result(session, "webhook.delete", [webhook_id]) is True
    assert await rpc.result(session, "webhook.list") == []
    assert_fault(await rpc.fault(session, "webhook.delete", [webhook_id]), 103, NOT_EXISTS)


@pytest.mark.parametrize("status", [2, -1, "on", [1], 0.5])
async def test_update_status_with_a_bad_status_is_fault_100(rpc, session, db, status):
    hook = await create_webhook(rpc, session, URL, "order:created")
    error = await rpc.fault(session, "webhook.update_status", [hook["webhook_id"], status])
    assert_fault(error, 100, f"Error changing status for specified webhook: status must be 1 (active) or 0 (inactive), got {status!r}")
    assert (await rpc.result(session, "webhook.list"))[0]["is_active"] == 1


@pytest.mark.parametrize("webhook_id", [999999, "abc", -1, 1.5, True, {"id": 1}])
@pytest.mark.parametrize("method", ["webhook.delete", "webhook.deliveries", "webhook.test"])
async def test_no_such_webhook_is_fault_103(rpc, session, method, webhook_id):
    error = await rpc.fault(session, method, [webhook_id])
    assert_fault(error, 103, NOT_EXISTS)


STATUS_NOT_CHANGED = "Error changing status for specified webhook: "


@pytest.mark.parametrize("target, detail", [
    (999999, "no webhook 999999"),
    ("abc", "'abc' is neither a topic nor a webhook id"),
    (-1, "-1 is neither a topic nor a webhook id"),
    (1.5, "1.5 is neither a topic nor a webhook id"),
    (True, "True is neither a topic nor a webhook id"),
    ("order:nope", "'order:nope' is not a known topic"),
    ("order:canceled", "no webhook subscribed to order:canceled"),
    ({"id": 1}, "unknown key(s) 'id' (use topic, webhook_id, status)"),
    ({"topic": "order:created", "webhook_id": 1}, "give topic or webhook_id, not both"),
    ({"topic": "nope"}, "'nope' is not a known topic"),
    ({"webhook_id": "x"}, "'x' is neither a topic nor a webhook id"),
], ids=repr)
async def test_update_status_refusals_are_the_documented_fault_100(rpc, session, db, target, detail):
    """webhook.update_status documents one fault: 100, the detail as its message."""
    await create_webhook(rpc, session, URL, "order:created", is_active=False)
    error = await rpc.fault(session, "webhook.update_status", [target, 1])
    assert_fault(error, 100, STATUS_NOT_CHANGED + detail)
    is_active = (await rpc.result(session, "webhook.list"))[0]["is_active"]
    assert (is_active, type(is_active)) == (0, int)  # the docs' 1/0


async def test_update_status_of_a_topic_as_documented(rpc, session, db):
    """webhook.update_status(topic, status): every webhook subscribed to the topic."""
    created = await create_webhook(rpc, session, URL, "order:created")
    both = await create_webhook(rpc, session, URL + "/2", ["order:created", "order:canceled"])
    canceled = await create_webhook(rpc, session, URL + "/3", "order:canceled")

    async def active() -> dict[int, bool]:
        return {hook["webhook_id"]: hook["is_active"] for hook in await rpc.result(session, "webhook.list")}

    assert await rpc.result(session, "webhook.update_status", ["order:created", 0]) is True
    assert await active() == {created["webhook_id"]: False, both["webhook_id"]: False, canceled["webhook_id"]: True}
    assert await rpc.result(session, "webhook.update_status", ["order:canceled", "0"]) is True
    assert set((await active()).values()) == {False}
    # The docs' example: [{"status": 1}], no topic: every webhook of the merchant.
    body = await rpc.request("call", [session, "webhook.update_status", [{"status": 1}]])
    assert body["result"] is True
    assert set((await active()).values()) == {True}
    assert await rpc.result(session, "webhook.update_status", [{"topic": "order:canceled", "status": 0}]) is True
    assert await active() == {created["webhook_id"]: True, both["webhook_id"]: False, canceled["webhook_id"]: False}
    assert await rpc.result(session, "webhook.update_status", [{"webhook_id": both["webhook_id"]}, 1]) is True
    assert await active() == {created["webhook_id"]: True, both["webhook_id"]: True, canceled["webhook_id"]: False}
    error = await rpc.fault(session, "webhook.update_status", [{"status": 1}, 0])
    assert_fault(error, 100, STATUS_NOT_CHANGED + "give status once: in the object or as the second argument")


async def test_update_status_of_another_merchants_topic_changes_nothing(rpc, users, db):
    acme = await rpc.login(users["merchant"])
    other = await rpc.login(users["other"])
    await create_webhook(rpc, acme, URL, "order:created")
    error = await rpc.fault(other, "webhook.update_status", ["order:created", 0])
    assert_fault(error, 100, STATUS_NOT_CHANGED + "no webhook subscribed to order:created")
    error = await rpc.fault(other, "webhook.update_status", [{"status": 0}])
    assert_fault(error, 100, STATUS_NOT_CHANGED + "no webhook")
    is_active = (await rpc.result(acme, "webhook.list"))[0]["is_active"]
    assert (is_active, type(is_active)) == (1, int)  # the docs' 1/0


# --------------------------------------------------------------------------- tenancy and roles


async def test_another_merchants_webhook_does_not_exist(rpc, users, db):
    acme = await rpc.login(users["merchant"])
    other = await rpc.login(users["other"])
    hook = await create_webhook(rpc, acme, URL, "order:created")
    webhook_id = hook["webhook_id"]
    assert await rpc.result(other, "webhook.list") == []
    assert_fault(await rpc.fault(other, "webhook.update_status", [webhook_id, 0]), 100,
                 f"{STATUS_NOT_CHANGED}no webhook {webhook_id}")
    for method, args in (
        ("webhook.delete", [webhook_id]),
        ("webhook.deliveries", [webhook_id]),
        ("webhook.test", [webhook_id]),
        ("webhook.replay", [1, webhook_id]),
    ):
        if method == "webhook.replay":
            await db.execute("INSERT INTO events (merchant_id, topic, message) VALUES ($1, 'order:created', '{}')",
                             await merchant_id(db, "other"))
            args = [await db.fetchval("SELECT event_id FROM events ORDER BY seq DESC LIMIT 1"), webhook_id]
        assert_fault(await rpc.fault(other, method, args), 103, NOT_EXISTS)
    assert (await rpc.result(acme, "webhook.list"))[0]["is_active"] == 1
    assert await webhook_count(db) == 1


async def test_the_admin_of_a_merchant_manages_its_webhooks_and_the_warehouse_may_not(rpc, users):
    admin = await rpc.login(users["admin"])
    warehouse = await rpc.login(users["warehouse"])
    await create_webhook(rpc, admin, URL, "order:created")
    for method, args in (("webhook.create", [{"url": URL, "topics": "order:created"}]), ("webhook.list", []), ("event.list", [])):
        assert_fault(await rpc.fault(warehouse, method, args), 2, "Access denied.")
    merchant = await rpc.login(users["merchant"])
    assert len(await rpc.result(merchant, "webhook.list")) == 1


# --------------------------------------------------------------------------- replay faults


async def test_replay_of_an_unknown_or_foreign_event_is_fault_107(rpc, users, db):
    session = await rpc.login(users["merchant"])
    assert_fault(await rpc.fault(session, "webhook.replay", [424242]), 107, EVENT_NOT_EXISTS)
    assert_fault(await rpc.fault(session, "webhook.replay", ["x"]), 107, EVENT_NOT_EXISTS)
    event_id = await db.fetchval(
        "INSERT INTO events (merchant_id, topic, message) VALUES ($1, 'order:created', '{}') RETURNING event_id",
        await merchant_id(db, "other"),
    )
    assert_fault(await rpc.fault(session, "webhook.replay", [event_id]), 107, EVENT_NOT_EXISTS)


async def test_replay_to_a_webhook_not_subscribed_or_inactive_is_fault_101(rpc, session, db):
    hook = await create_webhook(rpc, session, URL, "order:canceled")
    event_id = await db.fetchval(
        "INSERT INTO events (merchant_id, topic, message) VALUES ($1, 'order:created', '{}') RETURNING event_id",
        await merchant_id(db),
    )
    error = await rpc.fault(session, "webhook.replay", [event_id, hook["webhook_id"]])
    assert_fault(error, 101, f"Invalid data given: webhook {hook['webhook_id']} does not subscribe to order:created")
    other = await create_webhook(rpc, session, URL + "/2", "order:created", is_active=False)
    error = await rpc.fault(session, "webhook.replay", [event_id, other["webhook_id"]])
    assert_fault(error, 101, f"Invalid data given: webhook {other['webhook_id']} is inactive; "
                             "activate it with webhook.update_status first")
    # No webhook wants it: nothing to queue, and nothing queued.
    assert await rpc.result(session, "webhook.replay", [event_id]) == []
    assert await db.fetchval("SELECT count(*) FROM webhook_deliveries") == 0


# --------------------------------------------------------------------------- event.list


async def test_event_list_pages_through_the_merchants_events_in_order(rpc, users, db):
    session = await rpc.login(users["merchant"])
    acme, other = await merchant_id(db), await merchant_id(db, "other")
    await db.execute(
        """INSERT INTO events (merchant_id, topic, message)
           SELECT CASE WHEN g % 3 = 0 THEN $2::bigint ELSE $1::bigint END, 'order:created', jsonb_build_object('n', g)
             FROM generate_series(1, 30) g""",
        acme, other,
    )
    seen, after = [], 0
    while True:
        page = await rpc.result(session, "event.list", [after, 7])
        if not page:
            break
        assert len(page) <= 7
        seen.extend(page)
        after = page[-1]["event_id"]
    assert [e["message"]["n"] for e in seen] == [n for n in range(1, 31) if n % 3]
    assert len({e["event_id"] for e in seen}) == len(seen)  # each once (ids are not ordered: see test_ids_not_countable)
    first = seen[0]
    assert set(first) == {"event_id", "topic", "event_timestamp", "message"}
    assert first["topic"] == "order:created" and first["event_timestamp"].endswith("+00:00")
    # Defaults: from the start, 100 at most.
    assert len(await rpc.result(session, "event.list")) == 20
    other_session = await rpc.login(users["other"])
    assert [e["message"]["n"] for e in await rpc.result(other_session, "event.list", [0, 1000])] == list(range(3, 31, 3))


@pytest.mark.parametrize(
    "args, detail",
    [
        ([-1], "'after_id' must be a whole number >= 0, got -1"),
        (["x"], "'after_id' must be a whole number >= 0, got 'x'"),
        ([0, 0], "'limit' must be a whole number from 1 to 1000, got 0"),
        ([0, 1001], "'limit' must be a whole number from 1 to 1000, got 1001"),
        ([0, "ten"], "'limit' must be a whole number from 1 to 1000, got 'ten'"),
    ],
)
async def test_event_list_bad_arguments(rpc, session, args, detail):
    assert_fault(await rpc.fault(session, "event.list", args), 101, f"Invalid data given: {detail}")


async def test_replay_of_an_event_not_yet_fanned_out_says_so(make_client, users, db):
    rpc = await make_client(webhook_delivery=False)  # nobody fans the queue out
    session = await rpc.login(users["merchant"])
    await create_webhook(rpc, session, URL, "order:created")
    event_id = await db.fetchval(
        "INSERT INTO events (merchant_id, topic, message) VALUES ($1, 'order:created', '{}') RETURNING event_id",
        await merchant_id(db),
    )
    error = await rpc.fault(session, "webhook.replay", [event_id])
    assert_fault(error, 101, f"Invalid data given: event {event_id} is still waiting for its first delivery; nothing to replay yet")
    assert await db.fetchval("SELECT count(*) FROM webhook_deliveries") == 0
