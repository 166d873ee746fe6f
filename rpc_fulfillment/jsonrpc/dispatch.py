"""The top-level JSON-RPC methods: login, call, multiCall, endSession, rpc.discover.

jsonrpcserver dispatches to these. Each turns its outcome into a jsonrpcserver Result through
``wire_error``, the one place an exception becomes its wire answer: a ShipStream fault becomes
code -(32000 + N) with the exact message, and anything unexpected becomes fault 1 with the
request id, which is also logged. The database being unreachable (db/outage.py) is not a bug:
it is fault 53, which the envelope answers over HTTP 503, and the outage is logged once per
interval rather than per call. A multiCall entry's ``{"isFault": ...}`` is built from the same
answer.

A call (and each entry of a multiCall) runs its service function in the call's unit of work
(db/uow.py): one connection, one transaction per function, the retry of deadlocks and
serialization failures.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from dataclasses import dataclass
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable

import asyncpg
from jsonrpcserver import Error, Success
from jsonrpcserver.result import Result

from rpc_fulfillment.config import Settings
from rpc_fulfillment.core.api import EVERYONE, api_method
from rpc_fulfillment.core.faults import FAULTS, DatabaseUnavailable, Fault, InvalidParams
from rpc_fulfillment.accounts.limits import Admission, LoginGate, effective_limits
from rpc_fulfillment.db.outage import OUTAGE, is_unreachable
from rpc_fulfillment.db.uow import UnitOfWork
from rpc_fulfillment.jsonrpc.basic_auth import basic_credentials
from rpc_fulfillment.jsonrpc.docs import openrpc
from rpc_fulfillment.db.shares import MerchantShares
from rpc_fulfillment.jsonrpc.lease import CallLease
from rpc_fulfillment.jsonrpc.limits import RequestLimits, server_limits
from rpc_fulfillment.jsonrpc.registry import RESOURCE_METHODS, ApiMethod, api_methods
from rpc_fulfillment.jsonrpc.top_level_docs import TOP_LEVEL_DESCRIPTIONS
from rpc_fulfillment.accounts import auth
from rpc_fulfillment.core.context import CallContext, Principal

log = logging.getLogger(__name__)

INVALID_PARAMS = -32602
UNAVAILABLE_CODE = FAULTS["unavailable"].wire_code
ABSENT: Any = object()


@dataclass(frozen=True)
class RequestContext:
    """One HTTP request: what the top-level methods need from the transport."""

    pool: asyncpg.Pool
    shares: MerchantShares  # each merchant's share of the pool in this process
    settings: Settings
    request_id: str
    authorization: str | None
    login_gate: LoginGate  # the login throttle of this process
    remote: str | None = None  # the peer's address: the login throttle counts failures per address
    limits: RequestLimits | None = None  # what the calls of this HTTP request were granted
    deadline: float | None = None  # the event loop's time at which the request's calls stop


@dataclass(frozen=True)
class WireError:
    """What an exception answers: the JSON-RPC error (``code``, ``message``, ``data`` if any),
    and as a multiCall entry ``fault_code`` and ``fault_message``."""

    error: dict[str, Any]
    fault_code: int
    fault_message: str

    def result(self) -> Result:
        return Error(**self.error)

    def entry(self) -> dict[str, Any]:
        return {"isFault": True, "faultCode": self.fault_code, "faultMessage": self.fault_message}

    @property
    def unavailable(self) -> bool:
        return self.error["code"] == UNAVAILABLE_CODE


def wire_error(exception: Exception, ctx: RequestContext, what: str) -> WireError:
    """The one place an exception becomes its wire answer. An unreachable database is fault 53
    (counted by the outage's log, not logged here); anything else unexpected is fault 1, logged
    with the request id (which the answer carries)."""
    if is_unreachable(exception):
        cause = exception.__cause__ if isinstance(exception, DatabaseUnavailable) else exception
        OUTAGE.failed(cause or exception, request=True)
        if not isinstance(exception, DatabaseUnavailable):
            exception = DatabaseUnavailable(ctx.request_id)
    if isinstance(exception, InvalidParams):
        return WireError({"code": INVALID_PARAMS, "message": "Invalid params", "data": exception.detail},
                         INVALID_PARAMS, f"Invalid params: {exception.detail}")
    if isinstance(exception, auth.LimitRefused):
        code, message, data = exception.admission.refusal()
        return WireError({"code": code, "message": message, "data": data}, code, message)
    if not isinstance(exception, Fault):
        log.error("request %s: unexpected error in %s", ctx.request_id, what, exc_info=exception)
        exception = Fault("internal", data={"request_id": ctx.request_id})
    message = exception.message
    if exception.name == "internal":
        message = f"{message} Request id {ctx.request_id}."
    return WireError(exception.to_error(), exception.number, message)


def top_level(func: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Result]]:
    @functools.wraps(func)
    async def wrapper(ctx: RequestContext, *args: Any, **kwargs: Any) -> Result:
        try:
            return Success(await func(ctx, *args, **kwargs))
        except Exception as exception:
            return wire_error(exception, ctx, func.__name__).result()

    # jsonrpcserver checks the arguments against inspect.signature on every request;
    # computing it once here saves most of that cost.
    wrapper.__signature__ = inspect.signature(func)  # type: ignore[attr-defined]
    return wrapper


def _record(ctx: RequestContext, admission: Admission) -> None:
    if ctx.limits is not None:
        ctx.limits.record(admission)


@asynccontextmanager
async def _admitted(ctx: RequestContext, session: object, cost: int = 1,
                    *, one_call: bool = True) -> AsyncIterator[tuple[UnitOfWork, Principal]]:
    """The call's unit of work (its connection: the session check and the service share it),
    its principal, and its admission by the user's rate and concurrency limits, decided in
    the session lookup's own statement, then by its merchant's share of the pool
    (jsonrpc/lease.py). All of it within the request's time limit.
    A refusal raises LimitRefused; the concurrency slot is given back when the call ends: for
    ``one_call``, in the message that commits its transaction (one round trip for both); for a
    multiCall, after its last call.

    HTTP Basic credentials are checked on the pool before the connection is taken: after
    repeated failures a wrong attempt waits, and must not hold a connection meanwhile.
    """
    limits = server_limits(ctx.settings)
    lease = CallLease(ctx.pool, ctx.shares, one_call)
    try:
        async with _within_time_limit(ctx):
            basic = None
            if session is None:
                credentials = basic_credentials(ctx.authorization)
                if credentials is None:
                    raise Fault("session_expired", "no session and no HTTP Basic credentials")
                basic = await auth.authenticate_with_limits(ctx.pool, *credentials, ctx.login_gate, ctx.remote)
                lease.for_merchant(basic[0].merchant_id)
            await lease.come_back()
            if basic is None:
                principal, admission = await auth.admitted_principal_for_session(lease.connection, session, limits, cost)
            else:
                principal = basic[0]
                user = effective_limits(limits, *basic[1])
                admission = await auth.admit(lease.connection, principal.api_user_id, user, cost)
            _record(ctx, admission)
            if admission.refused is not None:
                raise auth.LimitRefused(admission)
            await lease.admitted(principal.merchant_id, principal.api_user_id, admission)
        yield UnitOfWork(lease, ctx.request_id), principal
    finally:
        await lease.leave()


@asynccontextmanager
async def _within_time_limit(ctx: RequestContext) -> AsyncIterator[None]:
    """What runs inside is stopped at the request's time limit (``request_timeout``) and
    answered with fault 8; its open transaction is rolled back (by the unit of work)."""
    if ctx.deadline is None:
        yield
        return
    limit = asyncio.timeout_at(ctx.deadline)
    try:
        async with limit:
            yield
    except TimeoutError:
        if not limit.expired():  # another timeout (connecting to the database): not ours to answer
            raise
        raise _out_of_time(ctx, "stopped; what it had not committed was rolled back") from None


def _out_of_time(ctx: RequestContext, what: str) -> Fault:
    return Fault("request_timeout", f"the request ran past its limit of {ctx.settings.request_timeout:g} s "
                                    f"(request_timeout): this call was {what}")


def _resolve(path: object) -> ApiMethod:
    if not isinstance(path, str) or "." not in path:
        raise Fault("invalid_api_path", "the api path must look like 'resource.method'")
    method = METHODS.get(path)
    if method is None:
        raise Fault("invalid_api_path", f"unknown api path {path[:100]!r}")
    return method


def _arguments(method: ApiMethod, args: Any, more: tuple[Any, ...]) -> tuple[list[Any], dict[str, Any]]:
    """The positional and named arguments of ``call(session, path, args, *more)``, by ShipStream's
    rule: an array is spread positionally, anything else (a scalar, null, an object) is the
    first argument, and the parameters after ``args`` are further positional arguments
    (``[s, "state.get", "foo", true]`` is ``state.get("foo", true)``; ``[s, "order.cancel",
    ["1", {...}], ["status"]]`` is ``order.cancel("1", {...}, ["status"])``). Ours besides: an
    object alone whose keys all name parameters passes them by name; one whose keys name some
    parameters and not others is refused, as a likely misspelt name."""
    if args is ABSENT:
        return [], {}
    if isinstance(args, list):
        return [*args, *more], {}
    if isinstance(args, dict) and not more:
        names = {parameter.name for parameter in method.parameters}
        unknown = sorted(set(args) - names)
        if not unknown:
            return [], dict(args)
        if len(unknown) < len(args):
            raise InvalidParams(f"{method.path} has no argument(s) named {', '.join(unknown)}")
    return [args, *more], {}


def _bind(method: ApiMethod, args: Any, more: tuple[Any, ...] = ()) -> list[Any]:
    """The method's argument values, in parameter order (see ``_arguments``); absent optional
    ones take their defaults, an absent or null required one is fault 6."""
    positional, named = _arguments(method, args, more)
    parameters = method.parameters
    # PHP ignores surplus arguments; we accept surplus nulls (call(s, "store.list", null))
    # and refuse anything else, which is almost certainly a client mistake.
    if any(value is not None for value in positional[len(parameters):]):
        raise InvalidParams(f"{method.path} takes at most {len(parameters)} argument(s), {len(positional)} given")
    values = []
    for index, parameter in enumerate(parameters):
        value = positional[index] if index < len(positional) else named.get(parameter.name, ABSENT)
        if parameter.required and (value is ABSENT or value is None):
            raise Fault("required_parameter", f"{method.path}: required argument '{parameter.name}' is missing")
        values.append(parameter.default if value is ABSENT else value)
    return values


async def _invoke(ctx: RequestContext, uow: UnitOfWork, principal: Principal, path: object, args: Any,
                  more: tuple[Any, ...] = ()) -> Any:
    method = _resolve(path)
    if principal.role not in method.roles:
        raise Fault("access_denied", f"role '{principal.role}' may not call {method.path}")
    values = _bind(method, args, more)
    return await uow.run(method.declaration, method.handler, CallContext(ctx.settings, principal, ctx.request_id, uow), *values)


@top_level
async def login(ctx: RequestContext, username: Any = None, api_key: Any = None) -> str:
    admitted: list[Admission] = []
    try:
        return await auth.login(
            ctx.pool, username, api_key, ctx.settings.session_lifetime,
            ctx.login_gate, ctx.remote, server_limits(ctx.settings), admitted,
        )
    finally:
        for admission in admitted:
            _record(ctx, admission)


@top_level
async def call(ctx: RequestContext, session: Any, method: Any, args: Any = ABSENT, *more: Any) -> Any:
    async with _admitted(ctx, session) as (uow, principal):
        async with _within_time_limit(ctx):
            return await _invoke(ctx, uow, principal, method, args, more)


def _php_truthy(value: Any) -> bool:
    """PHP's truthiness, which Magento's ``$options['break']`` follows: "0" is false too."""
    return bool(value) and value != "0"


async def _one_of_many(ctx: RequestContext, uow: UnitOfWork, principal: Principal, entry: Any) -> tuple[WireError | None, Any]:
    """Run one multiCall entry; returns (its error or None, its result or fault entry)."""
    if not isinstance(entry, list) or not entry:
        # Each call is what call() takes after the session: ["resource.method", args, ...].
        error = wire_error(Fault("invalid_api_path"), ctx, "multiCall")
        return error, error.entry()
    path, *arguments = entry
    args = arguments[0] if arguments else ABSENT
    try:
        if ctx.deadline is not None and asyncio.get_running_loop().time() >= ctx.deadline:
            raise _out_of_time(ctx, "not run")
        async with _within_time_limit(ctx):
            return None, await _invoke(ctx, uow, principal, path, args, tuple(arguments[1:]))
    except Exception as exception:
        error = wire_error(exception, ctx, f"multiCall entry {path!r:.100}")
        return error, error.entry()


@top_level
async def multiCall(ctx: RequestContext, session: Any, calls: Any, options: Any = None) -> list[Any]:  # noqa: N802
    """Magento's multiCall: each call runs on its own; ``{"break": true}`` stops at the first fault."""
    # Each call of a multiCall takes a token; they run one after another in one slot.
    cost = len(calls) if isinstance(calls, list) and 0 < len(calls) <= ctx.settings.max_batch else 1
    async with _admitted(ctx, session, cost, one_call=False) as (uow, principal):
        return await _many(ctx, uow, principal, calls, options)


async def _many(ctx: RequestContext, uow: UnitOfWork, principal: Principal, calls: Any, options: Any) -> list[Any]:
    if not isinstance(calls, list):
        raise InvalidParams("calls must be an array of [\"resource.method\", args] pairs")
    if len(calls) > ctx.settings.max_batch:
        raise InvalidParams(f"multiCall of {len(calls)} calls exceeds the limit of {ctx.settings.max_batch}")
    if options == []:  # PHP's json_encode(array()): empty options from a PHP client
        options = None
    if options is not None and not isinstance(options, dict):
        raise InvalidParams("options must be an object such as {\"break\": true}")
    stop_on_fault = _php_truthy((options or {}).get("break"))
    results = []
    all_unavailable = True
    for entry in calls:
        error, result = await _one_of_many(ctx, uow, principal, entry)
        results.append(result)
        all_unavailable = all_unavailable and error is not None and error.unavailable
        if error is not None and stop_on_fault:
            break
    if results and all_unavailable:  # nothing ran: the whole multiCall is refused (HTTP 503)
        raise DatabaseUnavailable(ctx.request_id)
    return results


@top_level
async def endSession(ctx: RequestContext, session: Any) -> bool:  # noqa: N802
    return await auth.end_session(ctx.pool, session)


@top_level
async def rpc_discover(ctx: RequestContext) -> dict[str, Any]:
    """JSON-RPC's conventional discovery method: the OpenRPC document, no session needed."""
    return api_document()


@api_method("rpc.discover", EVERYONE, TOP_LEVEL_DESCRIPTIONS["rpc.discover"], transaction=None)
async def rpc_discover_in_session(ctx: CallContext) -> dict[str, Any]:
    """rpc.discover as a resource.method, call(session, "rpc.discover"): the same document."""
    return api_document()


TOP_LEVEL = {
    "login": login, "call": call, "multiCall": multiCall, "endSession": endSession, "rpc.discover": rpc_discover,
}
# Every method call() reaches: the resources' and rpc.discover.
METHODS: dict[str, ApiMethod] = {**RESOURCE_METHODS, **api_methods([rpc_discover_in_session])}


def api_document() -> dict[str, Any]:
    """The OpenRPC document of the live tables (jsonrpc/docs/openrpc.py)."""
    return openrpc.document(TOP_LEVEL, METHODS)


def api_document_json() -> bytes:
    return openrpc.document_json(TOP_LEVEL, METHODS)
