"""Webhooks: the input rules of webhook.create and friends, the payload envelope, its signature,
the retry schedule and the wire shapes. Pure Python, no I/O.

A webhook is a merchant's URL subscribed to some topics. Every event of a subscribed topic is
POSTed to it as ``{"merchant_id", "merchant_code", "topic", "message": {...,
"webhook_increment_id", "event_timestamp"}}`` with the header ``X-Plugin-Hmac-Sha256`` =
base64(HMAC-SHA256(secret_key, raw body)) (reference §4.1).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping
from urllib.parse import urlsplit

import orjson
from yarl import URL

from rpc_fulfillment.core import formats
from rpc_fulfillment.core.faults import Fault
from rpc_fulfillment.core.lenient import parse_flag, whole_number
from rpc_fulfillment.core.filters import Kind

# ShipStream's 51 documented topics (topics.md), in its order: each with None when this server
# sends it, or why it does not yet. A webhook may subscribe to any of them, so an integration
# written for ShipStream registers unchanged. The README's topic table says the same.
_NO_DELIVERIES = "deliveries (inbound shipments, receiving) are not a resource here yet"
_NO_MANIFESTS = "carrier manifests are not a resource here"
_NO_CARRIER_TRACKING = "no carrier's tracking is followed: a tracker changes only with shipment.ship and shipment.deliver"
TOPICS: dict[str, str | None] = {
    **{f"delivery:{a}": _NO_DELIVERIES for a in (
        "created", "canceled", "accepted", "processed", "exception", "putaway", "committed", "status_changed")},
    "delivery_label:created": _NO_DELIVERIES,
    "delivery_label:voided": _NO_DELIVERIES,
    "import:created": "imports (import.create) are not a resource here yet",
    "import:completed": "imports (import.create) are not a resource here yet",
    "inventory:adjusted": None,
    "order:created": None,
    "order:canceled": None,
    "order:items_updated": None,
    "order:holded": None,
    "order:completed": None,
    "order:shipped": None,
    "order:delivered": None,
    "order:address_validation_failed": "addresses are not validated against a carrier's address service",
    "order:address_changed": None,
    "order:status_changed": None,
    "order:shipments_updated": None,
    "order:shipping_options_changed": None,
    "product:created": None,
    "product:updated": None,
    "product:sku_changed": "a product's SKU cannot be changed here (product.update refuses a new sku)",
    "product:deleted": "products cannot be deleted here (no product.delete)",
    **{f"product_media:{a}": "product media are not a resource here yet" for a in ("created", "updated", "deleted")},
    **{f"serial_number:{a}": "serial numbers are not tracked here yet" for a in ("created", "updated", "checkin", "checkout")},
    "shipment:packed": None,
    "shipment:shipped": None,
    "shipment:delivered": None,
    "shipment:reverted": None,
    "shipment:labels_voided": None,
    "package:packed": None,
    "package:manifested": _NO_MANIFESTS,
    "package:shipped": None,
    "package:delivered": None,
    "track:created": None,
    "tracker:updated": _NO_CARRIER_TRACKING,
    "tracker:delivered": _NO_CARRIER_TRACKING,
    "tracker:exception": _NO_CARRIER_TRACKING,
    "manifest:sealed": _NO_MANIFESTS,
    "manifest:loaded": _NO_MANIFESTS,
}
EMITTED: tuple[str, ...] = tuple(topic for topic, not_sent in TOPICS.items() if not_sent is None)
TEST_TOPIC = "test:ping"

SIGNATURE_HEADER = "X-Plugin-Hmac-Sha256"
# Headers the server sets itself; extra_headers may not replace them.
RESERVED_HEADERS = frozenset({
    "content-type", "content-length", "content-encoding", "transfer-encoding", "host", "connection",
    "x-plugin-hmac-sha256", "expect", "te", "upgrade", "trailer", "keep-alive",
})
MAX_WEBHOOKS = 50  # per merchant
URL_MAX = 2048
SECRET_MAX = 255
HEADERS_MAX = 20
HEADER_LINE_MAX = 1024

# ShipStream: 14 retries after the first attempt, +1m ... +24h, then failed.
DEFAULT_RETRY_SCHEDULE = "60,120,240,480,900,1800,3600,7200,14400,28800,57600,86400,86400,86400"

INVALID_DATA = "webhook_invalid_data"
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
_DATA_KEYS = ("is_active", "topics", "url", "extra_headers", "secret_key")


def invalid(detail: str) -> Fault:
    return Fault(INVALID_DATA, f"Invalid data given: {detail}")


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class WebhookInput:
    url: str
    topics: list[str]
    is_active: bool
    extra_headers: str  # normalised "Name: value" lines joined by "\n" ("" for none)
    secret_key: str


# --------------------------------------------------------------------------- where webhooks may go
#
# Merchants may not be trusted by the operator: unless the operator allows private targets
# (Settings.webhook_allow_private), a webhook may not make the server POST to its own
# machine, to the operator's network or to a cloud metadata service. webhook.create refuses a
# URL whose host is written as such an address (or is localhost); the worker checks every
# address a host name resolves to before it connects (so a name that resolves to 127.0.0.1 at
# delivery time is refused as well).

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_RFC1918 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598; Alibaba Cloud's metadata is 100.100.100.200
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# What inet_aton accepts (and so getaddrinfo): 1 to 4 parts, each decimal, octal or hex.
_IPV4_PART = re.compile(r"^(?:0x[0-9a-f]+|0[0-7]*|[1-9][0-9]*)$", re.IGNORECASE)


def _address_class(ip: Address) -> str | None:
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (where cloud metadata services live)"
    if ip.is_multicast:
        return "a multicast address"
    if any(ip in network for network in _RFC1918):
        return "a private address (RFC 1918)"
    if ip.version == 6 and ip in _UNIQUE_LOCAL:
        return "a private address (unique local, fc00::/7)"
    if ip.version == 6 and ip.is_site_local:
        return "a site-local address (fec0::/10)"
    if ip in _SHARED:
        return "a shared address (100.64.0.0/10, carrier-grade NAT)"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        return "a special-purpose address that is not globally routable"
    return None


def address_class(address: str | Address) -> str | None:
    """What keeps webhooks from this IP address when private targets are not allowed ("a
    loopback address"), or None for a public address. An IPv6 address that carries an IPv4
    one (::ffff:a.b.c.d, 6to4, NAT64) is judged by that too. A string that is not an IP
    address is refused."""
    if isinstance(address, str):
        try:
            address = ipaddress.ip_address(address)
        except ValueError:
            return "not an IP address"
    if address.version == 6:
        inner = address.ipv4_mapped or address.sixtofour
        if inner is None and address in _NAT64:
            inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if inner is not None:  # the IPv4 address is where the packets go
            reason = _address_class(inner)
            return None if reason is None else f"an IPv6 address carrying {inner} ({reason})"
    return _address_class(address)


def address_refusal(address: str | Address) -> str | None:
    """``"127.0.0.1 is a loopback address"`` (see address_class), or None."""
    reason = address_class(address)
    return None if reason is None else f"{address} is {reason}"


def _legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The address of "127.1", "2130706433", "0x7f.0.0.1"... as inet_aton reads them."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_IPV4_PART.match(part) for part in parts):
        return None
    numbers = [int(p, 16) if p[:2].lower() == "0x" else int(p, 8) if p.startswith("0") else int(p) for p in parts]
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (4 - len(leading)):
        return None
    value = last
    for position, number in enumerate(leading):
        value += number << (8 * (3 - position))
    return ipaddress.IPv4Address(value)


def host_refusal(host: str) -> str | None:
    """Why a URL's host, as written, may not be a webhook's target when private targets are
    not allowed: localhost (and *.localhost), or an IP address (in any notation
    getaddrinfo reads) that address_refusal refuses. None for other names: those are
    checked after DNS resolution, at delivery."""
    name = unicodedata.normalize("NFKC", host).strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    bare = name.rstrip(".")
    if bare == "localhost" or bare.endswith(".localhost"):
        return f"{host} is a loopback name"
    try:
        address: Address | None = ipaddress.ip_address(name)
    except ValueError:
        if ":" in name:
            return f"{host!r} is not a valid address"
        address = _legacy_ipv4(bare)
        if address is None:
            return None  # a name
    reason = address_refusal(address)
    if reason is None:
        return None
    return reason if host == str(address) else f"{host} means {reason}"


def parse_url(value: Any, allow_private: bool = True) -> str:
    if not isinstance(value, str) or not value.strip():
        raise invalid("'url' is required: the http or https URL to POST events to")
    url = value.strip()
    if len(url) > URL_MAX:
        raise invalid(f"'url' is longer than {URL_MAX} characters")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise invalid("'url' may not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
        URL(url).raw_host  # as the worker reads it (yarl): a URL it refuses is never delivered
    except ValueError as exc:
        raise invalid(f"'url' is not a valid URL ({exc}): {_short(url)}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise invalid(f"'url' must be an http or https URL, got {_short(url)}")
    if not parts.hostname:
        raise invalid(f"'url' has no host: {_short(url)}")
    if port == 0:
        raise invalid(f"'url' has port 0: {_short(url)}")
    if not allow_private:
        check_target(url)
    return url


def target_refusal(url: str) -> str | None:
    """Why webhooks may not go to this URL (private targets not allowed): its host is localhost
    or a literal address they may not reach; None when they may."""
    reason = host_refusal(urlsplit(url).hostname or "")
    if reason is None:
        return None
    return (f"'url' may not point at a private network: {reason} ({_short(url)}); "
            "webhooks go to public addresses only on this server")


def check_target(url: str) -> None:
    """Fault 101 naming 'url' when webhooks may not go to it (target_refusal)."""
    reason = target_refusal(url)
    if reason is not None:
        raise invalid(reason)


def parse_topics(value: Any) -> list[str]:
    """An array of topics or a comma-separated string; each must be a known topic."""
    if isinstance(value, str):
        items: list[Any] = value.split(",")
    elif isinstance(value, list):
        items = value
    else:
        raise invalid("'topics' is required: an array of topics or a comma-separated string such as \"order:created,order:canceled\"")
    topics: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise invalid(f"'topics' must contain topic names (strings), got {_short(item)}")
        topic = item.strip()
        if not topic:
            continue
        if topic not in TOPICS:
            hint = " (order:unholded does not exist: use order:status_changed)" if topic == "order:unholded" else ""
            raise invalid(f"'topics': {_short(topic)} is not a known topic{hint}")
        if topic not in topics:
            topics.append(topic)
    if not topics:
        raise invalid("'topics' names no topic: give at least one, such as order:created")
    return topics


def parse_extra_headers(value: Any) -> list[tuple[str, str]]:
    """``"Name: value"`` lines (a string with one per line, or an array of lines); null or ""
    for none. Returns (name, value) pairs."""
    if value is None:
        return []
    if isinstance(value, str):
        lines = value.replace("\r\n", "\n").split("\n")
    elif isinstance(value, list) and all(isinstance(line, str) for line in value):
        lines = value
    else:
        raise invalid("'extra_headers' must be \"Name: value\" lines (a string, one header per line)")
    headers: list[tuple[str, str]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if len(line) > HEADER_LINE_MAX:
            raise invalid(f"'extra_headers' line {number} is longer than {HEADER_LINE_MAX} characters")
        name, colon, text = line.partition(":")
        name, text = name.strip(), text.strip()
        if not colon or not _HEADER_NAME.match(name):
            raise invalid(f"'extra_headers' line {number} is not \"Name: value\": {_short(line)}")
        if any(ord(ch) < 32 and ch != "\t" or ord(ch) == 127 for ch in text):
            raise invalid(f"'extra_headers' line {number}: the value of {name} contains a control character")
        if name.lower() in RESERVED_HEADERS:
            raise invalid(f"'extra_headers' line {number}: {name} is set by the server and cannot be replaced")
        headers.append((name, text))
    if len(headers) > HEADERS_MAX:
        raise invalid(f"'extra_headers' has {len(headers)} headers; at most {HEADERS_MAX}")
    return headers


def format_extra_headers(headers: list[tuple[str, str]]) -> str:
    return "\n".join(f"{name}: {value}" for name, value in headers)


def new_secret_key() -> str:
    return secrets.token_urlsafe(32)


def parse_secret_key(value: Any) -> str:
    """The signing key; absent, null or "" means "generate one" (webhook.list shows it)."""
    if value is None or value == "":
        return new_secret_key()
    if not isinstance(value, str):
        raise invalid(f"'secret_key' must be a string, got {_short(value)}")
    if len(value) > SECRET_MAX:
        raise invalid(f"'secret_key' is longer than {SECRET_MAX} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise invalid("'secret_key' may not contain control characters")
    return value


def parse_webhook_data(data: Any, allow_private: bool = True) -> WebhookInput:
    """webhook.create's argument; fault 101 naming the problem for anything wrong. Without
    ``allow_private`` the URL may not name a private, loopback, link-local... address."""
    if not isinstance(data, dict):
        raise invalid("webhook data must be an object {is_active, topics, url, extra_headers, secret_key}")
    unknown = [key for key in data if key not in _DATA_KEYS]
    if unknown:
        raise invalid(f"unknown key(s) {', '.join(_short(k, 40) for k in unknown)} (use {', '.join(_DATA_KEYS)})")
    url = parse_url(data.get("url"), allow_private)
    topics = parse_topics(data.get("topics"))
    active = data.get("is_active", True)
    is_active = True if active is None else parse_flag(active)
    if is_active is None:
        raise invalid(f"'is_active' must be true or false (or 1 or 0), got {_short(active)}")
    headers = format_extra_headers(parse_extra_headers(data.get("extra_headers")))
    return WebhookInput(url, topics, is_active, headers, parse_secret_key(data.get("secret_key")))


def parse_webhook_id(value: Any) -> int:
    """A webhook id; anything that cannot be one names no webhook (fault 103)."""
    number = _whole(value)
    if number is None or number <= 0:
        raise Fault("webhook_not_found", f"no webhook {_short(value)}")
    return number


def status_not_changed(detail: str) -> Fault:
    """webhook.update_status's one documented fault (100), for every refusal."""
    return Fault("webhook_status_not_changed", f"Error changing status for specified webhook: {detail}")


def parse_status(value: Any) -> bool:
    flag = parse_flag(value)
    if flag is None:
        raise status_not_changed(f"status must be 1 (active) or 0 (inactive), got {_short(value)}")
    return flag


@dataclass(frozen=True)
class StatusChange:
    """Which of the merchant's webhooks webhook.update_status changes: those subscribed to
    ``topic``, the one ``webhook_id``, or (neither given) all of them; and to what."""

    is_active: bool
    topic: str | None = None
    webhook_id: int | None = None

    @property
    def target(self) -> str:
        if self.topic is not None:
            return f"webhook subscribed to {self.topic}"
        return "webhook" if self.webhook_id is None else f"webhook {self.webhook_id}"


_STATUS_CHANGE_KEYS = ("topic", "webhook_id", "status")


def parse_status_change(topic: Any, status: Any) -> StatusChange:
    """webhook.update_status's arguments. ``topic`` is ShipStream's topic (the webhooks
    subscribed to it), or ours: a webhook id (that webhook), or an object as in the docs'
    example ``[{"status": 1}]`` with ``status`` and at most one of ``topic`` and ``webhook_id``
    (neither: all the merchant's webhooks)."""
    if isinstance(topic, dict):
        unknown = sorted(set(topic) - set(_STATUS_CHANGE_KEYS))
        if unknown:
            raise status_not_changed(f"unknown key(s) {', '.join(_short(k, 40) for k in unknown)} "
                                     f"(use {', '.join(_STATUS_CHANGE_KEYS)})")
        if "topic" in topic and "webhook_id" in topic:
            raise status_not_changed("give topic or webhook_id, not both")
        if "status" in topic and status is not None:
            raise status_not_changed("give status once: in the object or as the second argument")
        is_active = parse_status(topic.get("status", status))
        if "topic" in topic:
            return StatusChange(is_active, topic=_status_topic(topic["topic"]))
        if "webhook_id" in topic:
            return StatusChange(is_active, webhook_id=_status_webhook_id(topic["webhook_id"]))
        return StatusChange(is_active)
    is_active = parse_status(status)
    if isinstance(topic, str) and ":" in topic:
        return StatusChange(is_active, topic=_status_topic(topic))
    return StatusChange(is_active, webhook_id=_status_webhook_id(topic))


def _status_topic(value: Any) -> str:
    if value not in TOPICS:
        raise status_not_changed(f"{_short(value)} is not a known topic")
    return value


def _status_webhook_id(value: Any) -> int:
    number = _whole(value)
    if number is None or number <= 0:
        raise status_not_changed(f"{_short(value)} is neither a topic nor a webhook id")
    return number


def _whole(value: Any) -> int | None:
    """A whole number a bigint column holds; None for anything else."""
    number = whole_number(value)
    return number if number is not None and -(2**63) <= number < 2**63 else None


def parse_event_id(value: Any, fault: str = "webhook_event_not_found") -> int:
    number = _whole(value)
    if number is None or number <= 0:
        raise Fault(fault, f"no event {_short(value)}")
    return number


EVENT_LIST_MAX = 1000
EVENT_LIST_DEFAULT = 100


def parse_event_list(after_id: Any, limit: Any) -> tuple[int, int]:
    """event.list's arguments: after_id (0 or absent: from the start) and limit (1..1000)."""
    after = 0 if after_id is None else _whole(after_id)
    if after is None or after < 0:
        raise Fault("event_invalid_data", f"Invalid data given: 'after_id' must be a whole number >= 0, got {_short(after_id)}")
    count = EVENT_LIST_DEFAULT if limit is None else _whole(limit)
    if count is None or not 1 <= count <= EVENT_LIST_MAX:
        raise Fault("event_invalid_data", f"Invalid data given: 'limit' must be a whole number from 1 to {EVENT_LIST_MAX}, got {_short(limit)}")
    return after, count


# --------------------------------------------------------------------------- delivery


def envelope(
    merchant_id: int, merchant_code: str, topic: str, message: Mapping[str, Any], increment_id: int, created_at: datetime
) -> bytes:
    """The raw body POSTed to a receiver. ``merchant_id`` is a string, as ShipStream sends it."""
    body = {
        "merchant_id": str(merchant_id),
        "merchant_code": merchant_code,
        "topic": topic,
        "message": {**message, "webhook_increment_id": increment_id, "event_timestamp": formats.timestamp(created_at)},
    }
    return orjson.dumps(body)


def sign(secret_key: str, body: bytes) -> str:
    """base64(HMAC-SHA256(secret_key, raw body)), the X-Plugin-Hmac-Sha256 header."""
    return base64.b64encode(hmac.new(secret_key.encode(), body, hashlib.sha256).digest()).decode()


def request_headers(secret_key: str, body: bytes, extra_headers: str) -> list[tuple[str, str]]:
    headers = [("Content-Type", "application/json"), (SIGNATURE_HEADER, sign(secret_key, body))]
    return headers + parse_extra_headers(extra_headers)


def is_success(status: int | None) -> bool:
    return status is not None and 200 <= status < 300


def retry_delay(round_attempts: int, schedule: tuple[float, ...], is_test: bool) -> float | None:
    """Seconds until the next try after ``round_attempts`` failed tries, or None: failed.
    A test:ping is tried once."""
    if is_test or round_attempts > len(schedule):
        return None
    return schedule[round_attempts - 1]


# --------------------------------------------------------------------------- wire shapes


def webhook_view(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "webhook_id": row["webhook_id"],
        "is_active": formats.flag(row["is_active"]),
        "topics": ",".join(row["topics"]),
        "url": row["url"],
        "extra_headers": row["extra_headers"],
        "secret_key": row["secret_key"],
        "last_increment_id": row["last_increment_id"],
        "created_at": formats.timestamp(row["created_at"]),
    }


DELIVERY_FIELDS: dict[str, Kind] = {
    "delivery_id": Kind.INTEGER,
    "event_id": Kind.INTEGER,
    "topic": Kind.TEXT,
    "webhook_increment_id": Kind.INTEGER,
    "status": Kind.TEXT,
    "attempt_count": Kind.INTEGER,
    "last_http_status": Kind.INTEGER,
    "created_at": Kind.TIMESTAMP,
    "next_attempt_at": Kind.TIMESTAMP,
    "last_attempt_at": Kind.TIMESTAMP,
    "delivered_at": Kind.TIMESTAMP,
}
DELIVERY_SORT_FIELDS = frozenset(DELIVERY_FIELDS)
DELIVERY_DEFAULT_SORT = "delivery_id"


def attempt_view(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "time": formats.timestamp(row["attempted_at"]),
        "http_status": row["http_status"],
        "duration_ms": row["duration_ms"],
        "error": row["error"],
    }


def delivery_view(row: Mapping[str, Any], attempts: list[Mapping[str, Any]]) -> dict[str, Any]:
    return {
        "delivery_id": row["delivery_id"],
        "webhook_id": row["webhook_id"],
        "event_id": row["event_id"],
        "topic": row["topic"],
        "webhook_increment_id": row["webhook_increment_id"],
        "status": row["status"],
        "attempt_count": row["attempts"],
        "created_at": formats.timestamp(row["created_at"]),
        "last_attempt_at": formats.timestamp(row["last_attempt_at"]),
        "next_attempt_at": formats.timestamp(row["next_attempt_at"]),
        "delivered_at": formats.timestamp(row["delivered_at"]),
        "last_http_status": row["last_http_status"],
        "last_error": row["last_error"],
        "attempts": [attempt_view(a) for a in attempts],
    }


def event_view(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "event_id": row["event_id"],
        "topic": row["topic"],
        "event_timestamp": formats.timestamp(row["created_at"]),
        "message": row["message"],
    }
