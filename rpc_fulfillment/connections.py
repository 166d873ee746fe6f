"""What aiohttp does not bound about a connection: how many are open, and how long a client may
take to send a request's headers.

aiohttp itself closes a connection that waits longer than ``keepalive_timeout`` for its next
request (set in app.py, from the first byte of the connection and after every answer), and the
envelope gives a body ``body_timeout`` seconds. Left to aiohttp, a client that keeps sending a
header byte now and then would hold its connection for the whole keep-alive time, and nothing
stops a client from opening thousands. Here each connection's protocol (aiohttp's, inside) is
wrapped so that:

- a process holds at most ``max_connections`` connections; one more is answered 503 (fault 53,
  saying so) and closed at once, before anything is read from it;
- from the first byte of a request, its headers must be complete (its handler started) within
  ``header_timeout`` seconds, or the connection is closed.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

import orjson
from aiohttp import web

from rpc_fulfillment.appkeys import SETTINGS
from rpc_fulfillment.config import Settings
from rpc_fulfillment.core.faults import FAULTS


# Seconds a client refused for the cap is told to wait: connections come and go quickly.
BUSY_RETRY_AFTER = 1


def _refusal(max_connections: int) -> bytes:
    """The whole HTTP answer to a connection over the cap: the service-unavailable fault (53),
    as when the database cannot be reached, which clients already retry."""
    unavailable = FAULTS["unavailable"]
    detail = f"this server process has {max_connections} connections open, its limit: try again"
    error = {"code": unavailable.wire_code, "message": unavailable.message,
             "data": {"detail": detail, "retry_after": BUSY_RETRY_AFTER}}
    body = orjson.dumps({"jsonrpc": "2.0", "error": error, "id": None})
    head = ("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nRetry-After: {BUSY_RETRY_AFTER}\r\nConnection: close\r\n\r\n")
    return head.encode() + body


class ConnectionGuard:
    """The open connections of one server process, and their limits."""

    def __init__(self, settings: Settings) -> None:
        self.max_connections = settings.max_connections
        self.header_timeout = settings.header_timeout
        self.refusal = _refusal(settings.max_connections)
        self.open = 0


class GuardedConnection(asyncio.Protocol):
    """One connection: aiohttp's protocol for it is made only once the connection is admitted."""

    def __init__(self, make_protocol: Callable[[], asyncio.Protocol], guard: ConnectionGuard) -> None:
        self._make_protocol = make_protocol
        self._guard = guard
        self._inner: asyncio.Protocol | None = None
        self._transport: asyncio.Transport | None = None
        self._headers_due: asyncio.TimerHandle | None = None
        self._in_request = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if self._guard.open >= self._guard.max_connections:
            transport.write(self._guard.refusal)
            transport.close()
            return
        self._guard.open += 1
        self._transport = transport
        self._inner = self._make_protocol()
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._inner is None:
            return
        if not self._in_request and self._headers_due is None:
            self._headers_due = asyncio.get_running_loop().call_later(
                self._guard.header_timeout, self._headers_overdue)
        self._inner.data_received(data)

    def request_began(self) -> None:
        """A request's headers are complete: its handler runs (called by ``track_requests``)."""
        self._in_request = True
        self._cancel_deadline()

    def request_ended(self) -> None:
        self._in_request = False

    def _headers_overdue(self) -> None:
        self._headers_due = None
        if not self._in_request and self._transport is not None:
            self._transport.close()

    def _cancel_deadline(self) -> None:
        if self._headers_due is not None:
            self._headers_due.cancel()
            self._headers_due = None

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        if self._inner is None:
            return
        self._guard.open -= 1
        self._inner.connection_lost(exc)
        self._inner = None
        self._transport = None


@web.middleware
async def track_requests(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                         ) -> web.StreamResponse:
    """Tells the connection that a request's headers arrived and when its handler is done."""
    connection = request.transport.get_protocol() if request.transport is not None else None
    if not isinstance(connection, GuardedConnection):  # the in-process test client
        return await handler(request)
    connection.request_began()
    try:
        return await handler(request)
    finally:
        connection.request_ended()


class _GuardedServer:
    """aiohttp's Server (the protocol factory the site listens with), making guarded connections;
    everything else (shutdown, the list of connections) is the Server's."""

    def __init__(self, server: web.Server, guard: ConnectionGuard) -> None:
        self._server = server
        self._guard = guard

    def __call__(self) -> GuardedConnection:
        return GuardedConnection(self._server, self._guard)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)


class GuardedRunner(web.AppRunner):
    """``web.AppRunner`` for the app of create_app: its connections are guarded with the app's
    settings."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.guard = ConnectionGuard(app[SETTINGS])

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        return _GuardedServer(server, self.guard)  # type: ignore[return-value]
