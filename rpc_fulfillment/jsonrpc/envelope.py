"""The HTTP side of JSON-RPC 2.0: bytes in, bytes out.

Parses with orjson, applies the size, depth and batch limits, validates each request object
(fast, by hand), splits batches so every entry gets its own answer as the 2.0 specification
says, and hands each valid request to jsonrpcserver. A request whose every answer is the
database-unavailable fault (53) is answered HTTP 503 with Retry-After: nothing of it ran.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import orjson
from aiohttp import web
from jsonrpcserver.async_main import dispatch_to_response
from jsonrpcserver.response import to_serializable

from rpc_fulfillment.appkeys import LOGIN_GATE, POOL, SETTINGS, SHARES
from rpc_fulfillment.config import Settings
from rpc_fulfillment.core.faults import FAULTS, UNAVAILABLE_RETRY_AFTER
from rpc_fulfillment.jsonrpc import limits
from rpc_fulfillment.jsonrpc.dispatch import TOP_LEVEL, UNAVAILABLE_CODE, RequestContext

log = logging.getLogger(__name__)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
JSON_HEADERS = {"Content-Type": "application/json"}
# Error data is for people; jsonrpcserver's messages quote what was sent (an unknown named
# parameter, say), which must not come back as megabytes.
MAX_ERROR_DATA = 1000
_SCALAR_ID = (str, int, float, type(None))


def _error_body(code: int, message: str, data: Any = None, request_id: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "error": error, "id": request_id}


def _invalid(data: str) -> dict[str, Any]:
    return _error_body(INVALID_REQUEST, "Invalid Request", data)


def _too_deep(value: Any, limit: int) -> bool:
    """True when containers nest deeper than ``limit`` (iterative: no recursion limit)."""
    stack = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > limit:
            return True
        children = current.values() if isinstance(current, dict) else current
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _is_version_2(version: Any) -> bool:
    """The string "2.0", or the number 2 (``2.0`` or ``2``: PHP's json_encode writes the float
    2.0 as ``2``, and ShipStream's Zend server compares loosely, so existing clients send it).
    Never a boolean: bool is an int subclass in Python, so it is refused by name, not by the
    accident that ``True == 1``."""
    if isinstance(version, str):
        return version == "2.0"
    if isinstance(version, bool):
        return False
    return isinstance(version, (int, float)) and version == 2


def request_problem(entry: Any) -> str | None:
    """Why ``entry`` is not a valid JSON-RPC 2.0 request object, or None when it is."""
    if not isinstance(entry, dict):
        return "a request must be a JSON object"
    if not _is_version_2(entry.get("jsonrpc")):
        return 'jsonrpc must be "2.0"'
    if not isinstance(entry.get("method"), str):
        return "method must be a string"
    if "params" in entry and not isinstance(entry["params"], (list, dict)):
        return "params must be an array or an object"
    if "id" in entry and (isinstance(entry["id"], bool) or not isinstance(entry["id"], _SCALAR_ID)):
        return "id must be a string, a number or null"
    return None


def _identity(value: Any) -> Any:
    return value


async def _answer(entry: Any, ctx: RequestContext) -> dict[str, Any] | None:
    """The response object for one entry, or None for a notification."""
    if isinstance(entry, limits.Refused):
        return entry.answer
    problem = request_problem(entry)
    if problem is not None:
        return _invalid(problem)
    if entry["method"] not in TOP_LEVEL:
        # Answered here rather than by jsonrpcserver, which echoes the whole name as data.
        if "id" not in entry:
            return None
        data = f"no method {entry['method'][:100]!r}: use login, call, multiCall or endSession"
        return _error_body(METHOD_NOT_FOUND, "Method not found", data, entry["id"])
    response = await dispatch_to_response(
        entry, TOP_LEVEL, context=ctx, deserializer=_identity, validator=_identity
    )
    answer = to_serializable(response)
    error = answer.get("error") if answer is not None else None
    if error is not None and isinstance(error.get("data"), str) and len(error["data"]) > MAX_ERROR_DATA:
        error["data"] = error["data"][:MAX_ERROR_DATA] + "..."
    return answer


async def _answer_batch(entries: list[Any], ctx: RequestContext) -> list[dict[str, Any]] | dict[str, Any] | None:
    if not entries:
        return _invalid("an empty batch is not a request")
    limit = ctx.settings.max_batch
    if len(entries) > limit:
        return _invalid(f"a batch of {len(entries)} requests exceeds the limit of {limit}")
    answers = await asyncio.gather(*(_answer(entry, ctx) for entry in entries))
    return [answer for answer in answers if answer is not None] or None


def _encode_one(answer: dict[str, Any], request_id: str) -> bytes:
    try:
        return orjson.dumps(answer)
    except TypeError:  # orjson.JSONEncodeError: a result the service should have formatted
        log.exception("request %s: the result for id %r cannot be encoded as JSON", request_id, answer.get("id"))
        internal = FAULTS["internal"]
        body = _error_body(internal.wire_code, internal.message, {"request_id": request_id}, answer.get("id"))
        return orjson.dumps(body)


def _encode(answer: Any, request_id: str) -> bytes:
    """The response body; an answer that cannot be encoded becomes fault 1, never an HTTP 500."""
    try:
        return orjson.dumps(answer)
    except TypeError:
        pass
    if isinstance(answer, list):
        return b"[" + b",".join(_encode_one(one, request_id) for one in answer) + b"]"
    return _encode_one(answer, request_id)


def _unavailable(answer: dict[str, Any] | list[dict[str, Any]]) -> bool:
    """Every answer is the database-unavailable fault."""
    answers = answer if isinstance(answer, list) else [answer]
    return all((one.get("error") or {}).get("code") == UNAVAILABLE_CODE for one in answers)


def _json(body: Any, status: int = 200, request_id: str = "") -> web.Response:
    return web.Response(
        body=_encode(body, request_id), status=status, headers={**JSON_HEADERS, "X-Request-Id": request_id}
    )


async def _read_body(request: web.Request, limit: int) -> bytes | None:
    if request.content_length is not None and request.content_length > limit:
        return None
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        return None


def _deadline(settings: Settings) -> float | None:
    """When this request's calls stop (the event loop's clock), counted from its start."""
    if not settings.request_timeout:
        return None
    return asyncio.get_running_loop().time() + settings.request_timeout


async def handle_jsonrpc(request: web.Request) -> web.StreamResponse:
    """Answer a POST; every response carries the rate-limit headers, and a request whose
    calls were all refused by the user's limits is answered 429 or 409 (see jsonrpc/limits.py)."""
    granted = limits.RequestLimits(limits.server_limits(request.app[SETTINGS]))
    response = await _handle_jsonrpc(request, granted)
    response.headers.update(granted.headers())
    status = granted.status()
    if status is not None:
        response.set_status(status)
    return response


async def _handle_jsonrpc(request: web.Request, granted: limits.RequestLimits) -> web.StreamResponse:
    request_id = uuid.uuid4().hex[:16]
    if request.method != "POST":
        body = _error_body(INVALID_REQUEST, "Invalid Request", "use HTTP POST with a JSON-RPC body")
        response = _json(body, 405, request_id)
        response.headers["Allow"] = "POST"
        return response
    settings = request.app[SETTINGS]
    deadline = _deadline(settings)
    raw = await _read_body(request, settings.max_body_bytes)
    if raw is None:
        data = f"the request body exceeds the limit of {settings.max_body_bytes} bytes"
        return _json(_invalid(data), 413, request_id)
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _json(_error_body(PARSE_ERROR, "Parse error", str(exc)), 200, request_id)
    if isinstance(parsed, (dict, list)):
        problem = limits.scan(parsed, settings.max_depth, settings.max_string_length, settings.max_file_content_length)
        if problem == limits.TOO_DEEP:
            return _json(_invalid(f"JSON nesting exceeds the limit of {settings.max_depth} levels"), 200, request_id)
        if problem == limits.TOO_LONG:
            parsed = limits.refuse_long_strings(parsed, settings)
    ctx = RequestContext(
        request.app[POOL], request.app[SHARES], settings, request_id, request.headers.get("Authorization"),
        request.app[LOGIN_GATE], request.remote, granted, deadline,
    )
    answer = await (_answer_batch(parsed, ctx) if isinstance(parsed, list) else _answer(parsed, ctx))
    if answer is None:
        return web.Response(status=204, headers={"X-Request-Id": request_id})
    if _unavailable(answer):
        response = _json(answer, 503, request_id)
        response.headers["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER)
        return response
    return _json(answer, 200, request_id)
