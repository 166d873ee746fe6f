"""Idle, slow and too many connections (connections.py, SECURITY.md Limits): each is closed
after its timeout, and over the cap a connection is answered 503 while /health still answers.
Raw sockets on 127.0.0.1 against a live server with small timeouts."""

from __future__ import annotations

import socket
import time
from contextlib import ExitStack

import orjson
import pytest

from tests.api.live_server import *  # noqa: F401,F403
from tests.api.live_server import settings_for

KEEPALIVE, HEADERS, BODY, MAX_CONNECTIONS = 4.0, 1.0, 1.0, 8
HEALTH = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.fixture
def live_settings(live_database):
    return settings_for(live_database, keepalive_timeout=KEEPALIVE, header_timeout=HEADERS, body_timeout=BODY,
                        max_connections=MAX_CONNECTIONS)


def _connect(live) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", live.server.port), timeout=10)
    connection.settimeout(10)
    return connection


def _read_until_closed(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (10 s at most)."""
    received = b""
    try:
        while chunk := connection.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def _seconds_until_closed(connection: socket.socket) -> float:
    began = time.monotonic()
    _read_until_closed(connection)
    return time.monotonic() - began


def test_a_connection_that_sends_nothing_is_closed_after_the_keepalive_timeout(live):
    with _connect(live) as idle:
        waited = _seconds_until_closed(idle)
    assert KEEPALIVE - 0.5 < waited < KEEPALIVE + 3, waited


def test_an_idle_keepalive_connection_is_closed_after_the_keepalive_timeout(live):
    with _connect(live) as connection:
        connection.sendall(HEALTH)
        began = time.monotonic()
        first = connection.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        _read_until_closed(connection)
        waited = time.monotonic() - began
    assert KEEPALIVE - 0.5 < waited < KEEPALIVE + 3, waited


def test_headers_sent_a_byte_at_a_time_are_cut_after_the_header_timeout(live):
    with _connect(live) as slow:
        began = time.monotonic()
        closed = False
        for byte in HEALTH[:-2]:  # never the blank line that ends the headers
            try:
                slow.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.1)
            if time.monotonic() - began > HEADERS + 3:
                break
        if not closed:
            slow.settimeout(KEEPALIVE + 3)
            _read_until_closed(slow)
        waited = time.monotonic() - began
    assert waited < HEADERS + 2, waited  # not the keep-alive time


def test_a_body_sent_too_slowly_is_answered_408_and_the_connection_closed(live):
    head = (b"POST /api/jsonrpc HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n")
    with _connect(live) as slow:
        began = time.monotonic()
        slow.sendall(head + b'{"jsonrpc": "2.0", ')
        received = _read_until_closed(slow)
        waited = time.monotonic() - began
    assert received.startswith(b"HTTP/1.1 408"), received[:200]
    answer = orjson.loads(received.split(b"\r\n\r\n", 1)[1])
    assert answer["error"] == {"code": -32600, "message": "Invalid Request",
                               "data": f"the request body was not received within {BODY:g} seconds"}
    assert BODY - 0.5 < waited < BODY + 2, waited


def test_connections_over_the_cap_get_503_and_health_still_answers(live):
    with ExitStack() as held:
        for _ in range(MAX_CONNECTIONS - 1):  # idle clients, each holding a connection
            held.enter_context(_connect(live))
        with _connect(live) as health:  # the last one under the cap
            began = time.monotonic()
            health.sendall(HEALTH)
            assert health.recv(65536).startswith(b"HTTP/1.1 200")
            assert time.monotonic() - began < 1.0
            with _connect(live) as over:
                refused = _read_until_closed(over)
    assert refused.startswith(b"HTTP/1.1 503"), refused[:200]
    assert b"Retry-After: 1" in refused
    answer = orjson.loads(refused.split(b"\r\n\r\n", 1)[1])
    assert answer["error"]["code"] == -32053
    assert answer["error"]["data"] == {
        "detail": f"this server process has {MAX_CONNECTIONS} connections open, its limit: try again", "retry_after": 1}
    # Once they are closed, connections are admitted again.
    deadline = time.monotonic() + 5
    while True:
        with _connect(live) as again:
            again.sendall(HEALTH)
            reply = again.recv(65536)
        if reply.startswith(b"HTTP/1.1 200") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
