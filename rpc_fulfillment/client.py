"""A Python client for the Merchant API (rpc-fulfillment or ShipStream): ``Client`` and ``AsyncClient``.

    from rpc_fulfillment.client import Client, RpcFault

    with Client("http://127.0.0.1:8080/api/jsonrpc", "demo", "YOUR_API_KEY") as client:
        order = client.order.create(items=[{"sku": "TSHIRT", "qty": 1}], address={...},
                                    info={"shipping_method": "ups_03"})
        client.call("order.info", [order["unique_id"]])
        try:
            client.order.hold("no-such-order")
        except RpcFault as fault:
            print(fault.fault, fault.message, fault.data)   # 100 Requested order does not exist. ...

Both clients log in on the first call (``login(username, api_key)``) and keep the session; when
a call answers fault 5 (session expired or ended) they log in again once and repeat the call.
With ``basic=True`` there is no session at all: every call sends HTTP Basic credentials with a
null session. Errors are exceptions: ``RpcFault`` (a ShipStream fault: ``fault`` is the number N
decoded from the wire code -(32000 + N), with ``message`` and ``data``; subclasses for the common
ones), ``ProtocolError`` (JSON-RPC -32700/-32600/-32601/-32602/-32603), ``HttpError`` (an HTTP
status the API does not answer with, or a 429/409 still there after the retries) and
``TransportError`` (no connection, a timeout). Answers HTTP 429 and 409 are retried with
exponential backoff, honouring ``Retry-After``, at most ``max_attempts`` times; a connection that
could not be opened is retried the same way (the request was never sent). Connections are kept
alive and reused (one ``httpx`` pool per client).
"""

from __future__ import annotations

import asyncio
import email.utils
import itertools
import random
import threading
import time
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Generator, Generic, Mapping, Sequence, TypeVar

import httpx
import orjson

__all__ = [
    "AccessDenied", "AlreadyExists", "AsyncClient", "Client", "HttpError", "InternalError", "InvalidApiPath",
    "InvalidData", "NotFound", "ProtocolError", "RequiredParameterMissing", "RpcError", "RpcFault",
    "SessionExpired", "TransportError", "fault_from_error",
]

# ----------------------------------------------------------------------------- exceptions

PROTOCOL_CODES = {-32700: "parse error", -32600: "invalid request", -32601: "method not found",
                  -32602: "invalid params", -32603: "internal error"}


class RpcError(Exception):
    """Anything that went wrong with a call."""


class TransportError(RpcError):
    """No answer: the connection failed or timed out (the call may or may not have run)."""


class HttpError(RpcError):
    """An HTTP status other than 200 without a JSON-RPC error in the body, or 429/409 after
    every retry. ``retry_after`` is the server's Retry-After in seconds, when it gave one."""

    def __init__(self, status: int, body: bytes, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}")
        self.status = status
        self.body = body
        self.retry_after = retry_after


class ProtocolError(RpcError):
    """A JSON-RPC 2.0 protocol error (-32700, -32600, -32601, -32602, -32603) or an answer that
    is not JSON-RPC at all (``code`` is then 0)."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{code} {message}" + (f": {data}" if data is not None else ""))
        self.code = code
        self.message = message
        self.data = data


class RpcFault(RpcError):
    """A ShipStream fault: ``fault`` is N, ``code`` the wire code -(32000 + N); ``message`` is
    ShipStream's message and ``data`` the details when the message is fixed. ``method`` is the
    ``resource.method`` called (fault numbers mean different things per resource)."""

    def __init__(self, fault: int, message: str, data: Any = None, method: str | None = None) -> None:
        super().__init__(f"fault {fault}: {message}" + (f" ({data})" if data is not None else ""))
        self.fault = fault
        self.message = message
        self.data = data
        self.method = method

    @property
    def code(self) -> int:
        return -(32000 + self.fault)


class InternalError(RpcFault):
    """Fault 1; ``data["request_id"]`` is in the server's log."""


class AccessDenied(RpcFault):
    """Fault 2: wrong credentials, or a method the user's role may not call."""


class InvalidApiPath(RpcFault):
    """Fault 3: no such ``resource.method``."""


class SessionExpired(RpcFault):
    """Fault 5 (raised only when logging in again did not help, or in Basic mode)."""


class RequiredParameterMissing(RpcFault):
    """Fault 6."""


class NotFound(RpcFault):
    """The order, product, shipment or webhook does not exist (order 100, product 101, ...)."""


class InvalidData(RpcFault):
    """Invalid data given (102 for orders, products, inventory and shipments; 101 for webhooks)."""


class AlreadyExists(RpcFault):
    """Order 104 (an order with that unique_id or order_ref exists), product 107 (SKU exists)."""


_GLOBAL_FAULTS: dict[int, type[RpcFault]] = {
    1: InternalError, 2: AccessDenied, 3: InvalidApiPath, 5: SessionExpired, 6: RequiredParameterMissing,
}
# Fault numbers 100 and up are per resource.
_RESOURCE_FAULTS: dict[tuple[str, int], type[RpcFault]] = {
    ("order", 100): NotFound, ("order", 102): InvalidData, ("order", 104): AlreadyExists,
    ("product", 101): NotFound, ("product", 102): InvalidData, ("product", 107): AlreadyExists,
    ("inventory", 101): NotFound, ("inventory", 102): InvalidData,
    ("shipment", 100): NotFound, ("shipment", 102): InvalidData,
    ("webhook", 103): NotFound, ("webhook", 101): InvalidData,
}


def fault_class(number: int, method: str | None = None) -> type[RpcFault]:
    if number in _GLOBAL_FAULTS:
        return _GLOBAL_FAULTS[number]
    resource = method.split(".", 1)[0] if method else ""
    return _RESOURCE_FAULTS.get((resource, number), RpcFault)


def fault_from_error(error: Mapping[str, Any], method: str | None = None) -> RpcError:
    """The exception for a JSON-RPC ``error`` object: RpcFault (or a subclass) for ShipStream
    faults, ProtocolError for the JSON-RPC 2.0 codes."""
    code, message, data = error.get("code"), str(error.get("message", "")), error.get("data")
    if not isinstance(code, int) or isinstance(code, bool):
        return ProtocolError(0, f"an error without an integer code: {dict(error)!r:.200}")
    if code in PROTOCOL_CODES or code > -32000:
        return ProtocolError(code, message, data)
    number = -code - 32000
    return fault_class(number, method)(number, message, data, method)


def fault_from_entry(entry: Mapping[str, Any], method: str | None = None) -> RpcFault:
    """The exception for a multiCall fault entry ``{"isFault": true, "faultCode": N, "faultMessage"}``."""
    number = int(entry.get("faultCode", 0))
    return fault_class(number, method)(number, str(entry.get("faultMessage", "")), None, method)


# ------------------------------------------------------------------------ shared plumbing

NO_ARGS: Any = object()  # call(path) with no args at all (not even null)
_UNSET: Any = object()
RETRY_STATUSES = frozenset({409, 429})
JSON = {"Content-Type": "application/json"}
# One call's conversation (_Core.exchange): it yields a body to POST or seconds to wait.
Exchange = Generator[bytes | float, Any, Any]


def _resume(exchange: Exchange, outcome: httpx.Response | httpx.HTTPError) -> bytes | float:
    """Hand a POST's outcome back to the exchange: the response, or the error thrown in."""
    return exchange.throw(outcome) if isinstance(outcome, httpx.HTTPError) else exchange.send(outcome)


def _retry_after(headers: httpx.Headers) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date."""
    value = headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, (moment - datetime.now(timezone.utc)).total_seconds())


class _Core:
    """What both clients share: credentials, session, request bodies, answers, retry delays."""

    def __init__(self, url: str, username: str, api_key: str, *, basic: bool, timeout: float,
                 max_attempts: int, backoff: float, max_backoff: float, max_retry_after: float) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.url = url
        self.username = username
        self.api_key = api_key
        self.basic = basic
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self.session: str | None = None
        self._ids = itertools.count(1)

    def body(self, method: str, params: list[Any]) -> tuple[int, bytes]:
        request_id = next(self._ids)
        return request_id, orjson.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})

    def exchange(self, method: str, params: list[Any], path: str | None) -> Exchange:
        """One call with its retries, without I/O, for both clients: yields a request body to
        POST (the client sends back the response, or throws the httpx error) or seconds to
        sleep; returns the decoded result (StopIteration's value)."""
        for attempt in itertools.count(1):
            request_id, body = self.body(method, params)
            try:
                response = yield body
            except httpx.ConnectError as exc:
                if attempt >= self.max_attempts:
                    raise TransportError(f"cannot connect to {self.url}: {exc}") from exc
                yield float(self.delay(attempt, None))
                continue
            except httpx.HTTPError as exc:
                raise TransportError(f"{type(exc).__name__} from {self.url}: {exc}") from exc
            wait = self.should_retry(response, attempt)
            if wait is None:
                return self.decode(response, request_id, path)
            yield float(wait)
        raise AssertionError("unreachable")

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before attempt ``attempt + 1``: Retry-After when given, otherwise
        exponential backoff with jitter."""
        if retry_after is not None:
            return retry_after
        return min(self.max_backoff, self.backoff * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)

    def should_retry(self, response: httpx.Response, attempt: int) -> float | None:
        """The wait before retrying this answer, or None to stop here."""
        if response.status_code not in RETRY_STATUSES or attempt >= self.max_attempts:
            return None
        retry_after = _retry_after(response.headers)
        if retry_after is not None and retry_after > self.max_retry_after:
            return None
        return self.delay(attempt, retry_after)

    @staticmethod
    def decode(response: httpx.Response, request_id: int, method: str | None) -> Any:
        """The result of a JSON-RPC answer, or the exception it stands for."""
        content = response.content
        try:
            answer = orjson.loads(content) if content else None
        except orjson.JSONDecodeError:
            answer = None
        error = answer.get("error") if isinstance(answer, dict) else None
        if response.status_code != 200:
            if isinstance(error, dict) and response.status_code not in RETRY_STATUSES:
                raise fault_from_error(error, method)  # e.g. HTTP 413 with a JSON-RPC -32600
            raise HttpError(response.status_code, content, _retry_after(response.headers))
        if not isinstance(answer, dict) or answer.get("jsonrpc") != "2.0":
            raise ProtocolError(0, f"not a JSON-RPC 2.0 answer: {content[:200]!r}")
        if answer.get("id") != request_id:
            raise ProtocolError(0, f"answer for id {answer.get('id')!r}, expected {request_id}")
        if error is not None:
            raise fault_from_error(error if isinstance(error, dict) else {}, method)
        if "result" not in answer:
            raise ProtocolError(0, "an answer with neither result nor error")
        return answer["result"]

    def auth(self) -> tuple[str, str] | None:
        return (self.username, self.api_key) if self.basic else None


def _args(*values: Any) -> list[Any]:
    """Positional arguments without the trailing ones not given (so the server's defaults apply)."""
    listed = list(values)
    while listed and listed[-1] is _UNSET:
        listed.pop()
    return [None if value is _UNSET else value for value in listed]


def _multicall_results(calls: Sequence[Sequence[Any]], results: list[Any]) -> list[Any]:
    out = []
    for entry, result in zip(calls, results):
        if isinstance(result, dict) and result.get("isFault") is True:
            out.append(fault_from_entry(result, str(entry[0]) if entry else None))
        else:
            out.append(result)
    return out


R = TypeVar("R")


class OrderMethods(Generic[R]):
    """``client.order.create(...)`` and friends: thin wrappers over ``client.call``, with the
    arguments in ShipStream's order. Arguments left out are not sent, so the server's defaults
    apply. On an ``AsyncClient`` each returns an awaitable."""

    def __init__(self, call: Callable[[str, Any], R]) -> None:
        self._call = call

    def create(self, items: Any, address: Mapping[str, Any], info: Mapping[str, Any], *,
               store_code: str | None = None, flags: Mapping[str, Any] | None = None) -> R:
        """order.create(storeCode, items, address, info, flags): the new order's properties."""
        return self._call("order.create", _args(store_code, items, address, info, _UNSET if flags is None else flags))

    def bulk_create(self, orders: Mapping[str, Any] | Sequence[Any]) -> R:
        """order.bulk_create: each key maps to the order's properties or to
        ``{"error": {"code", "message"}}`` (use ``bulk_errors`` to turn those into RpcFaults)."""
        return self._call("order.bulk_create", [orders])

    def info(self, unique_id: str, fields: Any = _UNSET) -> R:
        return self._call("order.info", _args(unique_id, fields))

    def search(self, filters: Mapping[str, Any] | None = None, options: Mapping[str, Any] | None = None,
               fields: Any = _UNSET) -> R:
        """``{results, totalCount, numPages}``."""
        return self._call("order.search", _args(filters, options, fields))

    def edit(self, unique_id: str, address: Mapping[str, Any] | None = None, info: Mapping[str, Any] | None = None,
             custom_fields: Mapping[str, Any] | None = None) -> R:
        return self._call("order.edit", _args(unique_id, _UNSET if address is None else address,
                                              _UNSET if info is None else info,
                                              _UNSET if custom_fields is None else custom_fields))

    def hold(self, unique_id: str) -> R:
        return self._call("order.hold", [unique_id])

    def unhold(self, unique_id: str) -> R:
        return self._call("order.unhold", [unique_id])

    def cancel(self, unique_id: str, options: Mapping[str, Any] | None = None, fields: Any = _UNSET) -> R:
        """Default options: ``{"all_items": true}``."""
        return self._call("order.cancel", _args(unique_id, options if options is not None else {"all_items": True}, fields))

    def comment(self, unique_id: str, comment: str) -> R:
        return self._call("order.comment", [unique_id, comment])


def bulk_errors(results: Mapping[str, Any], method: str = "order.bulk_create") -> dict[str, RpcFault]:
    """The failed entries of an order.bulk_create result, as exceptions (not raised)."""
    failed = {}
    for key, value in results.items():
        if isinstance(value, dict) and isinstance(value.get("error"), dict) and len(value) == 1:
            exception = fault_from_error(value["error"], method)
            if isinstance(exception, RpcFault):
                failed[key] = exception
    return failed


# --------------------------------------------------------------------------- sync client


class Client:
    """The synchronous client (thread-safe: one httpx connection pool, one session)."""

    def __init__(self, url: str, username: str, api_key: str, *, basic: bool = False, timeout: float = 30.0,
                 max_attempts: int = 5, backoff: float = 0.5, max_backoff: float = 30.0,
                 max_retry_after: float = 120.0, http: httpx.Client | None = None) -> None:
        """``url``: the endpoint, ``http://host:port/api/jsonrpc``. ``timeout``: seconds for
        connecting, and between bytes of the answer. ``max_attempts``: tries per request on
        HTTP 429/409 and on connection failures; waits ``backoff`` * 2^n seconds (jittered, at
        most ``max_backoff``), or the server's ``Retry-After`` unless that exceeds
        ``max_retry_after``. ``http``: your own httpx.Client (you then close it)."""
        self._core = _Core(url, username, api_key, basic=basic, timeout=timeout, max_attempts=max_attempts,
                           backoff=backoff, max_backoff=max_backoff, max_retry_after=max_retry_after)
        self._http = http or httpx.Client(timeout=timeout)
        self._own_http = http is None
        self._lock = threading.Lock()
        self.order: OrderMethods[Any] = OrderMethods(self.call)

    # -- plumbing

    def _post(self, method: str, params: list[Any], path: str | None) -> Any:
        exchange = self._core.exchange(method, params, path)
        step = next(exchange)
        try:
            while True:
                step = exchange.send(time.sleep(step)) if isinstance(step, float) else _resume(exchange, self._send(step))
        except StopIteration as done:
            return done.value

    def _send(self, body: bytes) -> httpx.Response | httpx.HTTPError:
        try:
            return self._http.post(self._core.url, content=body, auth=self._core.auth(), headers=JSON)
        except httpx.HTTPError as exc:
            return exc

    # -- the API

    @property
    def session(self) -> str | None:
        """The current session id (None before the first call, and in Basic mode)."""
        return self._core.session

    def login(self) -> str:
        """Log in now (calls do it by themselves when needed); returns the session id."""
        session = self._post("login", [self._core.username, self._core.api_key], None)
        self._core.session = session
        return session

    def _session_for_call(self) -> str | None:
        if self._core.basic:
            return None
        with self._lock:
            if self._core.session is None:
                self.login()
            return self._core.session

    def _relogin(self, stale: str | None) -> None:
        with self._lock:
            if self._core.session == stale:  # nobody else has logged in again meanwhile
                self.login()

    def _with_session(self, method: str, params_for: Callable[[str | None], list[Any]], path: str | None) -> Any:
        session = self._session_for_call()
        try:
            return self._post(method, params_for(session), path)
        except SessionExpired:
            if self._core.basic:
                raise
        self._relogin(session)
        return self._post(method, params_for(self._core.session), path)

    def call(self, path: str, args: Any = NO_ARGS) -> Any:
        """``call(session, path, args)``: a list is spread positionally, an object passes named
        arguments, anything else is the single argument; no ``args`` means no arguments."""
        return self._with_session("call", lambda s: [s, path] if args is NO_ARGS else [s, path, args], path)

    def multi_call(self, calls: Sequence[Sequence[Any]], *, stop_on_fault: bool = False) -> list[Any]:
        """``multiCall``: one entry per call, its result or an RpcFault (returned, not raised)."""
        payload = [list(entry) for entry in calls]
        options = {"break": True} if stop_on_fault else None
        results = self._with_session("multiCall", lambda s: [s, payload] + ([options] if options else []), None)
        return _multicall_results(payload, results)

    def end_session(self) -> bool:
        """End the session on the server (a later call logs in again); False when there was
        none, or it had expired already."""
        with self._lock:
            session, self._core.session = self._core.session, None
        if session is None:
            return False
        try:
            return bool(self._post("endSession", [session], None))
        except SessionExpired:  # gone already (expired, or ended elsewhere)
            return False

    def close(self) -> None:
        """Close the connections (the session stays valid until it expires; see end_session)."""
        if self._own_http:
            self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# -------------------------------------------------------------------------- async client


class AsyncClient:
    """The asyncio client: the same API as ``Client``, every method a coroutine (and
    ``client.order.*`` awaitables). Safe to share between tasks: concurrent calls that meet
    fault 5 log in again once between them."""

    def __init__(self, url: str, username: str, api_key: str, *, basic: bool = False, timeout: float = 30.0,
                 max_attempts: int = 5, backoff: float = 0.5, max_backoff: float = 30.0,
                 max_retry_after: float = 120.0, max_connections: int = 10,
                 http: httpx.AsyncClient | None = None) -> None:
        """As ``Client``; ``max_connections`` bounds the keep-alive pool (and so the requests
        in flight)."""
        self._core = _Core(url, username, api_key, basic=basic, timeout=timeout, max_attempts=max_attempts,
                           backoff=backoff, max_backoff=max_backoff, max_retry_after=max_retry_after)
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._http = http or httpx.AsyncClient(timeout=timeout, limits=limits)
        self._own_http = http is None
        self._lock = asyncio.Lock()
        self.order: OrderMethods[Awaitable[Any]] = OrderMethods(self.call)

    async def _post(self, method: str, params: list[Any], path: str | None) -> Any:
        exchange = self._core.exchange(method, params, path)
        step = next(exchange)
        try:
            while True:
                if isinstance(step, float):
                    step = exchange.send(await asyncio.sleep(step))
                else:
                    step = _resume(exchange, await self._send(step))
        except StopIteration as done:
            return done.value

    async def _send(self, body: bytes) -> httpx.Response | httpx.HTTPError:
        try:
            return await self._http.post(self._core.url, content=body, auth=self._core.auth(), headers=JSON)
        except httpx.HTTPError as exc:
            return exc

    @property
    def session(self) -> str | None:
        return self._core.session

    async def login(self) -> str:
        session = await self._post("login", [self._core.username, self._core.api_key], None)
        self._core.session = session
        return session

    async def _session_for_call(self) -> str | None:
        if self._core.basic:
            return None
        if self._core.session is None:
            async with self._lock:
                if self._core.session is None:
                    await self.login()
        return self._core.session

    async def _with_session(self, method: str, params_for: Callable[[str | None], list[Any]], path: str | None) -> Any:
        session = await self._session_for_call()
        try:
            return await self._post(method, params_for(session), path)
        except SessionExpired:
            if self._core.basic:
                raise
        async with self._lock:
            if self._core.session == session:
                await self.login()
        return await self._post(method, params_for(self._core.session), path)

    async def call(self, path: str, args: Any = NO_ARGS) -> Any:
        return await self._with_session("call", lambda s: [s, path] if args is NO_ARGS else [s, path, args], path)

    async def multi_call(self, calls: Sequence[Sequence[Any]], *, stop_on_fault: bool = False) -> list[Any]:
        payload = [list(entry) for entry in calls]
        options = {"break": True} if stop_on_fault else None
        results = await self._with_session("multiCall", lambda s: [s, payload] + ([options] if options else []), None)
        return _multicall_results(payload, results)

    async def end_session(self) -> bool:
        session, self._core.session = self._core.session, None
        if session is None:
            return False
        try:
            return bool(await self._post("endSession", [session], None))
        except SessionExpired:
            return False

    async def close(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
