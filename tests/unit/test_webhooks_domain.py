"""Webhooks without I/O: signature, envelope, retry schedule, input rules, settings."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from rpc_fulfillment.config import Settings, SettingsError, load_settings, parse_retry_schedule
from rpc_fulfillment.webhooks import rules as webhooks
from rpc_fulfillment.core.faults import FAULTS


def test_signature_is_base64_of_hmac_sha256_over_the_raw_body():
    # The well-known HMAC-SHA256 test vector, base64-encoded as PHP's
    # base64_encode(hash_hmac('sha256', $json, $key, TRUE)) does.
    assert webhooks.sign("key", b"The quick brown fox jumps over the lazy dog") == "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg="


def test_envelope_shape_and_timestamp():
    created = datetime(2021, 12, 7, 11, 8, 15, 123456, tzinfo=timezone(timedelta(hours=-5)))
    body = webhooks.envelope(9, "acme_inc", "order:created", {"unique_id": "1", "webhook_increment_id": "spoofed"}, 7, created)
    assert orjson.loads(body) == {
        "merchant_id": "9",
        "merchant_code": "acme_inc",
        "topic": "order:created",
        "message": {"unique_id": "1", "webhook_increment_id": 7, "event_timestamp": "2021-12-07T16:08:15+00:00"},
    }


def test_request_headers():
    body = b"{}"
    headers = webhooks.request_headers("s", body, "X-A: 1\nX-B: two")
    assert headers == [("Content-Type", "application/json"), ("X-Plugin-Hmac-Sha256", webhooks.sign("s", body)),
                       ("X-A", "1"), ("X-B", "two")]


def test_shipstreams_schedule_is_the_default():
    schedule = parse_retry_schedule(webhooks.DEFAULT_RETRY_SCHEDULE)
    minutes = [s / 60 for s in schedule]
    assert minutes == [1, 2, 4, 8, 15, 30, 60, 120, 240, 480, 960, 1440, 1440, 1440]
    assert Settings().webhook_retry_schedule == webhooks.DEFAULT_RETRY_SCHEDULE


def test_retry_delay_walks_the_schedule_then_gives_up():
    schedule = (1.0, 2.0, 4.0)
    assert [webhooks.retry_delay(n, schedule, False) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, None]
    assert webhooks.retry_delay(1, schedule, True) is None  # a test:ping is tried once
    assert webhooks.retry_delay(1, (), False) is None


@pytest.mark.parametrize(
    "text, error",
    [
        ("1,x", "retry schedule: 'x' is not a number of seconds"),
        ("1,,2", "retry schedule: '' is not a number of seconds"),
        ("-1", "retry schedule: '-1' must be a positive number of seconds"),
        ("inf", "retry schedule: 'inf' must be a positive number of seconds"),
        (",".join(["1"] * 101), "retry schedule: at most 100 retries"),
    ],
)
def test_bad_retry_schedules(text, error):
    with pytest.raises(ValueError) as raised:
        parse_retry_schedule(text)
    assert str(raised.value) == error


def test_retry_schedule_setting_from_flag_or_environment():
    assert load_settings({"webhook_retry_schedule": "0.5, 1"}, {}).webhook_retry_schedule == "0.5, 1"
    assert load_settings({}, {"RPCF_WEBHOOK_RETRY_SCHEDULE": "none"}).webhook_retry_schedule == "none"
    assert parse_retry_schedule("none") == ()
    with pytest.raises(SettingsError, match="webhook_retry_schedule: retry schedule: 'soon' is not a number of seconds"):
        load_settings({}, {"RPCF_WEBHOOK_RETRY_SCHEDULE": "60,soon"})


def test_other_webhook_settings():
    settings = load_settings({}, {"RPCF_WEBHOOK_DELIVERY": "false", "RPCF_WEBHOOK_CONCURRENCY": "3",
                                  "RPCF_WEBHOOK_INTERVAL": "0.5", "RPCF_WEBHOOK_TIMEOUT": "2"})
    assert (settings.webhook_delivery, settings.webhook_concurrency, settings.webhook_interval, settings.webhook_timeout) == (
        False, 3, 0.5, 2.0)
    defaults = Settings()
    assert (defaults.webhook_delivery, defaults.webhook_timeout) == (True, 5.0)
    with pytest.raises(SettingsError):
        load_settings({"webhook_concurrency": 0}, {})
    with pytest.raises(SettingsError):
        load_settings({}, {"RPCF_WEBHOOK_TIMEOUT": "-1"})


def test_webhook_faults_are_shipstreams():
    expected = {
        "webhook_status_not_changed": (100, "Error changing status for specified webhook. Details in error message."),
        "webhook_invalid_data": (101, "Invalid data given. Details in error message."),
        "webhook_create_error": (102, "An unexpected error occurred while creating the webhook."),
        "webhook_not_found": (103, "Webhook not exists."),
        "webhook_delete_error": (104, "An unexpected error occurred while deleting the webhook."),
        "webhook_not_deleted": (105, "Webhook not deleted. Details in error message."),
        "webhook_not_created": (106, "Webhook not created. Details in error message."),
    }
    for name, (number, message) in expected.items():
        assert (FAULTS[name].number, FAULTS[name].message) == (number, message)


def test_the_topic_list_is_shipstreams_51_and_every_emitted_topic_is_in_it():
    assert len(webhooks.TOPICS) == 51
    assert set(webhooks.EMITTED) <= set(webhooks.TOPICS)
    assert "order:unholded" not in webhooks.TOPICS and "order:processing" not in webhooks.TOPICS


@pytest.mark.parametrize("url", ["http://example.com", "https://example.com:8443/a/b?c=d", "HTTPS://EXAMPLE.COM/x",
                                 "http://127.0.0.1:9/", "http://[::1]:8080/hook"])
def test_good_urls(url):
    assert webhooks.parse_url(url) == url


def test_extra_headers_forms():
    assert webhooks.parse_extra_headers(None) == []
    assert webhooks.parse_extra_headers("") == []
    assert webhooks.parse_extra_headers("A: 1\r\n\r\nB:2") == [("A", "1"), ("B", "2")]
    assert webhooks.parse_extra_headers(["A: x: y"]) == [("A", "x: y")]
    with pytest.raises(Exception, match="at most 20"):
        webhooks.parse_extra_headers("\n".join(f"X-{n}: v" for n in range(21)))


def test_the_readme_topic_table_says_what_topics_says():
    """README "Webhooks and events", Topics: one row per topic (``delivery:*`` standing for all
    of its resource's), "not yet" exactly for those TOPICS gives a reason for."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("- **Topics**"):readme.index("- **Payload**")]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        if not line.strip().startswith("| `"):
            continue
        first, sent = line.strip().strip("|").split("|")[:2]
        for name in re.findall(r"`([a-z_]+:[a-z_*]+)`", first):
            matching = [t for t in webhooks.TOPICS if t == name or (name.endswith(":*") and t.startswith(name[:-1]))]
            assert matching, name
            for topic in matching:
                assert topic not in rows, topic
                rows[topic] = sent.strip()
    assert set(rows) == set(webhooks.TOPICS)
    for topic, not_sent in webhooks.TOPICS.items():
        assert rows[topic].startswith("not yet") == (not_sent is not None), topic
