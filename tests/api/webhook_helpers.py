"""Webhook tests: a receiver (a small aiohttp server on 127.0.0.1) and shortcuts."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import inspect
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import orjson
from aiohttp import web

from tests.conftest import Rpc

# Settings for tests that watch deliveries: retries in tenths of a second, a short timeout.
FAST = {"webhook_retry_schedule": "0.2,0.2,0.2", "webhook_timeout": 1.0, "webhook_interval": 0.5}


@dataclass
class Received:
    number: int  # 1 for the first request the receiver got
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def topic(self) -> str:
        return self.json["topic"]

    @property
    def increment_id(self) -> int:
        return self.json["message"]["webhook_increment_id"]


# What a receiver answers: a status, or (status, text); may sleep first.
Respond = Callable[[Received], Awaitable[Any]]


async def ok(_: Received) -> int:
    return 200


class Receiver:
    def __init__(self, respond: Respond = ok) -> None:
        self.respond = respond
        self.requests: list[Received] = []
        self._arrived = asyncio.Event()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        received = Received(len(self.requests) + 1, request.path, dict(request.headers), await request.read())
        self.requests.append(received)
        self._arrived.set()
        answer = await self.respond(received)
        status, text = answer if isinstance(answer, tuple) else (answer, "ok")
        return web.Response(status=status, text=text)

    def of_topic(self, topic: str) -> list[Received]:
        return [r for r in self.requests if r.topic == topic]

    async def wait_for(self, condition: Callable[[list[Received]], bool], timeout: float = 10.0) -> list[Received]:
        """Wait until ``condition(requests)`` holds; fails the test after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not condition(self.requests):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"receiver: condition not met in {timeout} s; got {len(self.requests)} requests: "
                                     f"{[(r.topic, r.body[:200]) for r in self.requests][:20]}")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), min(remaining, 0.1))
            except asyncio.TimeoutError:
                pass
        return self.requests

    async def wait_count(self, count: int, timeout: float = 10.0) -> list[Received]:
        return await self.wait_for(lambda requests: len(requests) >= count, timeout)


async def start_receiver(aiohttp_server: Any, respond: Respond = ok) -> Receiver:
    receiver = Receiver(respond)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receiver.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    receiver.url = str(server.make_url("/hook"))
    return receiver


def signature(secret: str, body: bytes) -> str:
    """What X-Plugin-Hmac-Sha256 must be (reference §4.1), computed independently of the server."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


async def create_webhook(rpc: Rpc, session: str, url: str, topics: Any = "order:created", **data: Any) -> dict[str, Any]:
    """webhook.create, then the new webhook as webhook.list shows it (ids are not ordered: the
    one that was not listed before)."""
    before = {w["webhook_id"] for w in await rpc.result(session, "webhook.list")}
    assert await rpc.result(session, "webhook.create", [{"url": url, "topics": topics, **data}]) is True
    (created,) = [w for w in await rpc.result(session, "webhook.list") if w["webhook_id"] not in before]
    return created


async def deliveries(rpc: Rpc, session: str, webhook_id: int, filters: Any = None, **options: Any) -> list[dict[str, Any]]:
    page = await rpc.result(session, "webhook.deliveries", [webhook_id, filters, {"limit": 100, **options}])
    return page["results"]


async def wait_until(check: Callable[[], bool | Awaitable[bool]], timeout: float = 10.0, what: str = "condition") -> None:
    """Until ``check()`` (a plain or an async check) is true, at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await _checked(check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met in {timeout} s")
        await asyncio.sleep(0.05)


async def _checked(outcome: bool | Awaitable[bool]) -> bool:
    return await outcome if inspect.isawaitable(outcome) else outcome


async def wait_until_all_sent(db: Any, timeout: float = 10.0) -> None:
    """Wait until the workers have nothing left to send: every queued event fanned out (the
    queue row is written in the event's own transaction) and no delivery pending, so each one
    was delivered or failed and its attempts are recorded. From then on, with no new event,
    no receiver gets anything more: what the receivers got is final, and a check that
    something was NOT sent is a real check, not a guess that it would have come by now."""
    async def nothing_left() -> bool:
        return await db.fetchval("SELECT NOT EXISTS (SELECT FROM event_fanout)"
                                 " AND NOT EXISTS (SELECT FROM webhook_deliveries WHERE status = 'pending')")

    await wait_until(nothing_left, timeout, "every event fanned out and every delivery ended")


class StubResolver:
    """DNS for tests (aiohttp's resolver interface): names to addresses from a table, each
    name asked recorded; nothing leaves the machine."""

    def __init__(self, names: dict[str, str | list[str]]) -> None:
        self.names = {name: [found] if isinstance(found, str) else found for name, found in names.items()}
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[dict[str, Any]]:
        self.asked.append(host)
        return [{"hostname": host, "host": address, "port": port, "proto": 0, "flags": socket.AI_NUMERICHOST,
                 "family": socket.AF_INET6 if ":" in address else socket.AF_INET} for address in self.names[host]]

    async def close(self) -> None:
        pass
