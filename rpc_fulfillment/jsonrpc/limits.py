"""The HTTP side of the limits: what one request's calls were granted or refused (headers
and status), and the size checks on the parsed body (nesting depth, string length).

Rate and concurrency limits are decided per call in PostgreSQL (accounts/limit_queries.py), where the
user is known; the envelope then answers as ShipStream does: HTTP 429 with ``Retry-After``
when the rate was exceeded, 409 when too many of the user's requests were running, and
``RateLimit-Limit`` / ``RateLimit-Remaining`` (plus ``X-Concurrency-Limit`` /
``X-Concurrency-Current``) on every response. The body is still a JSON-RPC error.

Batches: every call of a batch is admitted on its own. The HTTP status is 429/409 only when
every call that reached the limiter was refused (nothing ran, so the whole request can be sent
again); a batch where some calls ran answers 200, the refused ones with their JSON-RPC error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rpc_fulfillment.config import Settings
from rpc_fulfillment.accounts.limits import CONCURRENCY_LIMITED, RATE_LIMITED, Admission, Limits, LoginGate, LoginPolicy

TOO_DEEP = "depth"
TOO_LONG = "string"
# A string under a key of this name is a file in base64 (order instructions): it has a limit of its own.
FILE_CONTENT_KEY = "file_content"
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602


def server_limits(settings: Settings) -> Limits:
    return Limits(settings.rate_limit, settings.rate_burst, settings.concurrency_limit)


def login_gate(settings: Settings) -> LoginGate:
    """The login throttle of one server process (its places live as long as the app)."""
    return LoginGate(LoginPolicy(settings.login_max_failures, settings.login_failure_window,
                                 settings.login_max_delay, settings.login_max_waiting))


class RequestLimits:
    """The admissions of one HTTP request's calls, and what the response says about them."""

    __slots__ = ("server", "admissions")

    def __init__(self, server: Limits) -> None:
        self.server = server
        self.admissions: list[Admission] = []

    def record(self, admission: Admission) -> None:
        self.admissions.append(admission)

    def status(self) -> int | None:
        """429 or 409 when every call that met the limiter was refused; None otherwise."""
        if not self.admissions or any(a.refused is None for a in self.admissions):
            return None
        return 429 if any(a.refused == RATE_LIMITED for a in self.admissions) else 409

    def headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        rated = [a for a in self.admissions if a.limits.rate > 0 and a.tokens is not None]
        if rated:
            tightest = min(rated, key=lambda a: a.remaining or 0)
            headers["RateLimit-Limit"] = str(tightest.limits.per_minute())
            headers["RateLimit-Remaining"] = str(tightest.remaining)
        elif not self.admissions and self.server.rate > 0:
            # No user's bucket was charged (login failed, no valid session, a malformed
            # request): the server's limit, and a remaining count that nothing here used.
            headers["RateLimit-Limit"] = str(self.server.per_minute())
            headers["RateLimit-Remaining"] = str(self.server.burst)
        counted = [a for a in self.admissions if a.limits.concurrency > 0 and a.in_flight is not None]
        if counted:
            busiest = max(counted, key=lambda a: a.in_flight or 0)
            headers["X-Concurrency-Limit"] = str(busiest.limits.concurrency)
            headers["X-Concurrency-Current"] = str(busiest.in_flight)
        elif not self.admissions and self.server.concurrency > 0:
            headers["X-Concurrency-Limit"] = str(self.server.concurrency)
        waits = [a.retry_after() for a in self.admissions if a.refused == RATE_LIMITED]
        if waits and self.status() == 429:
            headers["Retry-After"] = str(max(waits))
        return headers


# ------------------------------------------------------------------------ size of the body


def scan(value: Any, max_depth: int, max_string: int, max_file: int) -> str | None:
    """TOO_DEEP when containers nest deeper than ``max_depth``, TOO_LONG when a string (or an
    object key) is longer than ``max_string`` (``max_file`` under a ``file_content`` key),
    None when neither: one iterative pass, no recursion limit."""
    stack = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        current, depth = pop()
        if depth > max_depth:
            return TOO_DEEP
        if isinstance(current, dict):
            for key, child in current.items():
                if len(key) > max_string:
                    return TOO_LONG
                if isinstance(child, str):
                    if len(child) > max_string and (key != FILE_CONTENT_KEY or len(child) > max_file):
                        return TOO_LONG
                elif isinstance(child, (dict, list)):
                    push((child, depth + 1))
        else:
            for child in current:
                if isinstance(child, str):
                    if len(child) > max_string:
                        return TOO_LONG
                elif isinstance(child, (dict, list)):
                    push((child, depth + 1))
    return None


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def _step(key: Any) -> str:
    if isinstance(key, int):
        return f"[{key}]"
    if _NAME.match(key):
        return f".{key}"
    shown = key if len(key) <= 40 else key[:40] + "..."
    return f"[{shown!r}]"


@dataclass(frozen=True)
class LongString:
    path: str  # e.g. params[2].items[0].sku
    length: int
    limit: int
    in_params: bool

    def message(self) -> str:
        return f"{self.path}: a string of {self.length} characters exceeds the limit of {self.limit}"


def find_long_string(value: Any, max_depth: int, max_string: int, max_file: int) -> LongString | None:
    """Where the first over-long string of a request object is (depth-first, in order)."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(value, ())]
    while stack:
        current, path = stack.pop()
        if len(path) >= max_depth:
            continue
        items = current.items() if isinstance(current, dict) else enumerate(current)
        children = []
        for key, child in items:
            here = (*path, key)
            if isinstance(key, str) and len(key) > max_string:
                return _long(path, f"a key ({key[:20]!r}...)", len(key), max_string)
            if isinstance(child, str):
                limit = max_file if key == FILE_CONTENT_KEY else max_string
                if len(child) > limit:
                    return _long(here, None, len(child), limit)
            elif isinstance(child, (dict, list)):
                children.append((child, here))
        stack.extend(reversed(children))
    return None


def _long(path: tuple[Any, ...], suffix: str | None, length: int, limit: int) -> LongString:
    text = "".join(_step(key) for key in path).lstrip(".") or "the request"
    if suffix:
        text = f"{text} {suffix}" if path else suffix
    return LongString(text, length, limit, bool(path) and path[0] == "params")


@dataclass(frozen=True)
class Refused:
    """A batch entry (or a single request) answered by the envelope itself, before dispatch."""

    answer: dict[str, Any] | None


def refuse_long_strings(parsed: Any, settings: Settings) -> Any:
    """The parsed body with every request object that holds an over-long string replaced by
    its answer: -32602 (with the request's id) when the string is in ``params``, -32600 when
    it is elsewhere (the method, the id, an unknown member)."""
    if isinstance(parsed, list):
        return [_refuse_one(entry, settings) for entry in parsed]
    return _refuse_one(parsed, settings)


def _refuse_one(entry: Any, settings: Settings) -> Any:
    if not isinstance(entry, (dict, list)):
        return entry
    found = find_long_string(entry, settings.max_depth, settings.max_string_length, settings.max_file_content_length)
    if found is None:
        return entry
    request_id = entry.get("id") if isinstance(entry, dict) else None
    valid_id = isinstance(request_id, (str, int, float, type(None))) and not isinstance(request_id, bool)
    if found.in_params and isinstance(entry, dict) and valid_id:
        if "id" not in entry:
            return Refused(None)  # a notification: no answer
        error = {"code": INVALID_PARAMS, "message": "Invalid params", "data": found.message()}
        return Refused({"jsonrpc": "2.0", "error": error, "id": request_id})
    error = {"code": INVALID_REQUEST, "message": "Invalid Request", "data": found.message()}
    return Refused({"jsonrpc": "2.0", "error": error, "id": None})


__all__ = [
    "CONCURRENCY_LIMITED", "RATE_LIMITED", "TOO_DEEP", "TOO_LONG", "RequestLimits", "Refused", "scan",
    "find_long_string", "refuse_long_strings", "server_limits", "login_gate",
]
