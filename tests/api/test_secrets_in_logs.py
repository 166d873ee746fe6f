"""No credential reaches the log of a real `rpc-fulfillment serve --access-log` process
(rpc_fulfillment/log_redaction.py): requests aiohttp cannot parse, which it logs by quoting
their bytes, carry an API key in Authorization; a failed login carries a key in its body; a
session id travels in a query string. The log still says what happened to each."""

from __future__ import annotations

import asyncio
import base64
import logging
import signal

import aiohttp
import orjson
import pytest

from rpc_fulfillment.core.faults import FAULTS
from rpc_fulfillment.log_redaction import RedactingFilter, redact
from tests.stress.test_shutdown import LIMIT, Server

WRONG_KEY = "wrongKEY0123456789abcdefSECRET"
ACCESS_DENIED = FAULTS["access_denied"].wire_code


def basic_token(username: str, api_key: str) -> str:
    return base64.b64encode(f"{username}:{api_key}".encode()).decode()


async def send_raw(port: int, request: bytes) -> bytes:
    """The server's answer to bytes no HTTP client would send."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), LIMIT)
    finally:
        writer.close()


def malformed_requests(authorization: str) -> dict[str, bytes]:
    head = b"POST /api/jsonrpc HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    value = authorization.encode()
    return {
        "control character in the header": head + b"Authorization: " + value + b"\x01tail\r\nContent-Length: 0\r\n\r\n",
        "header over 8190 bytes": head + b"Authorization: " + value + b"A" * 9000 + b"\r\nContent-Length: 0\r\n\r\n",
        "malformed request line": b"POST /api/jsonrpc?api_key=" + value.split()[-1] + b" HTTP/1.1 junk\r\n"
                                  b"Authorization: " + value + b"\r\n\r\n",
    }


async def call(http: aiohttp.ClientSession, url: str, method: str, params: list) -> dict:
    body = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    async with http.post(url, data=body, headers={"Content-Type": "application/json"}) as response:
        return orjson.loads(await response.read())


async def test_no_credential_reaches_the_log(database_url, users):
    user = users["merchant"]
    server = await Server(database_url, "--access-log", "--no-webhook-delivery").start()
    try:
        for token in (basic_token(user.username, user.api_key), user.api_key):
            for scheme in ("Basic", "Bearer"):
                for what, request in malformed_requests(f"{scheme} {token}").items():
                    answer = await send_raw(server.port, request)
                    assert answer.startswith(b"HTTP/1.") and b" 400 " in answer.split(b"\r\n")[0], (what, answer[:80])
        async with aiohttp.ClientSession() as http:
            failed = await call(http, server.url, "login", [user.username, WRONG_KEY])
            assert failed["error"]["code"] == ACCESS_DENIED
            wrong_basic = {"Authorization": f"Basic {basic_token(user.username, WRONG_KEY)}"}
            async with http.post(server.url, data=b'{"jsonrpc":"2.0","id":1,"method":"call","params":[null,"store.list"]}',
                                 headers=wrong_basic) as response:
                assert (await response.json())["error"]["code"] == ACCESS_DENIED
            session = (await call(http, server.url, "login", [user.username, user.api_key]))["result"]
            async with http.post(f"{server.url}?session={session}", data=orjson.dumps(
                    {"jsonrpc": "2.0", "id": 1, "method": "call", "params": [session, "store.list"]})) as response:
                assert "result" in await response.json()
        server.signal(signal.SIGTERM)
        assert await server.wait(LIMIT) == 0
    finally:
        server.kill()
    log = server.output.decode("utf-8", "replace")

    secrets = {user.api_key, WRONG_KEY, session, basic_token(user.username, user.api_key),
               basic_token(user.username, WRONG_KEY)}
    leaked = [secret for secret in secrets if secret in log]
    assert not leaked, f"credentials in the log: {leaked}\n{log}"
    # The log still says what happened: each malformed request (4 times each), the failed logins.
    for event in ("Error handling request from 127.0.0.1: 400 Invalid header value char",
                  "Error handling request from 127.0.0.1: 400 Got more than 8190 bytes when reading",
                  "Error handling request from 127.0.0.1: 400 Bad status line: Expected CRLF after version"):
        assert log.count(event) == 4, f"{event!r}\n{log}"
    assert f"login failed for username {user.username!r} from 127.0.0.1" in log
    assert "aiohttp.access" in log and "/api/jsonrpc?session=[redacted]" in log
    assert "Traceback" not in log  # a client's malformed request is not a server error


@pytest.mark.parametrize("text, expected", [
    ("Authorization: Basic dXNlcjprZXk=", "Authorization: [redacted]"),
    ("b'authorization: Bearer abc.def.ghi\\x01x'", "b'authorization: [redacted]'"),
    ("reading: b'Bearer 0123456789abcdefAAAA...'", "reading: b'Bearer [redacted]'"),
    ('"POST /api/jsonrpc?api_key=k3y&x=1&session=5e55 HTTP/1.1"', '"POST /api/jsonrpc?api_key=[redacted]&x=1&session=[redacted] HTTP/1.1"'),
    ("a basic check of the order", "a basic check of the order"),
])
def test_redact(text, expected):
    assert redact(text) == expected


def test_a_traceback_is_redacted_and_kept():
    try:
        raise ValueError("bad header: Authorization: Bearer 0123456789abcdef")
    except ValueError as error:
        record = logging.LogRecord("aiohttp.server", logging.ERROR, __file__, 1, "Unhandled exception %s", ("x",),
                                   (type(error), error, error.__traceback__))
    assert RedactingFilter().filter(record)
    text = logging.Formatter().format(record)
    assert "0123456789abcdef" not in text
    assert "Unhandled exception x" in text and "ValueError: bad header: Authorization: [redacted]" in text
