"""The top-level JSON-RPC methods: login, call, multiCall, endSession.

jsonrpcserver dispatches to these. Each turns its outcome into a jsonrpcserver Result: a
ShipStream fault becomes code -(32000 + N) with the exact message, and anything unexpected
becomes fault 1 with the request id, which is also logged.

A call (and each entry of a multiCall) whose transaction PostgreSQL aborts as a deadlock
victim or a serialization failure is run again, up to CALL_ATTEMPTS times in all: one service
function is one transaction, so the failed attempt left nothing behind.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import random
from dataclasses import dataclass, replace
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable

import asyncpg
from jsonrpcserver import Error, Success
from jsonrpcserver.result import Result

from rpc_fulfillment.config import Settings
from rpc_fulfillment.core.faults import Fault
from rpc_fulfillment.accounts.limits import Admission, LoginPolicy, effective_limits
from rpc_fulfillment.jsonrpc.basic_auth import basic_credentials
from rpc_fulfillment.jsonrpc.limits import RequestLimits, server_limits
from rpc_fulfillment.jsonrpc.registry import METHODS, NOT_RETRIED, ApiMethod
from rpc_fulfillment.accounts import auth
from rpc_fulfillment.core.context import CallConnection, CallContext, Principal

log = logging.getLogger(__name__)

INVALID_PARAMS = -32602
ABSENT: Any = object()
# PostgreSQL's "try the transaction again" errors (SQLSTATE 40P01 and 40001): the whole
# transaction was rolled back, and running it again may well succeed.
TRANSIENT_ERRORS = (asyncpg.exceptions.DeadlockDetectedError, asyncpg.exceptions.SerializationError)
CALL_ATTEMPTS = 3  # in all, the first included
RETRY_BACKOFF = 0.004  # seconds: the n-th retry waits a random 50-100% of RETRY_BACKOFF * 2**(n-1)


@dataclass(frozen=True)
class RequestContext:
    """One HTTP request: what the top-level methods need from the transport."""

    pool: asyncpg.Pool | CallConnection
    settings: Settings
    request_id: str
    authorization: str | None
    remote: str | None = None  # the peer's address, for the log of failed logins
    limits: RequestLimits | None = None  # what the calls of this HTTP request were granted


class InvalidParams(Exception):
    """Arguments that do not fit the method's signature: JSON-RPC -32602."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def _error(code: int, message: str, data: Any = None) -> Result:
    return Error(code, message, data) if data is not None else Error(code, message)


def _internal_fault(ctx: RequestContext, what: str) -> Fault:
    log.exception("request %s: unexpected error in %s", ctx.request_id, what)
    return Fault("internal", data={"request_id": ctx.request_id})


def top_level(func: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Result]]:
    @functools.wraps(func)
    async def wrapper(ctx: RequestContext, *args: Any, **kwargs: Any) -> Result:
        try:
            return Success(await func(ctx, *args, **kwargs))
        except Fault as fault:
            return _error(fault.spec.wire_code, fault.message, fault.data)
        except InvalidParams as exc:
            return _error(INVALID_PARAMS, "Invalid params", exc.detail)
        except auth.LimitRefused as exc:
            return _error(*exc.admission.refusal())
        except Exception:
            fault = _internal_fault(ctx, func.__name__)
            return _error(fault.spec.wire_code, fault.message, fault.data)

    # jsonrpcserver checks the arguments against inspect.signature on every request;
    # computing it once here saves most of that cost.
    wrapper.__signature__ = inspect.signature(func)  # type: ignore[attr-defined]
    return wrapper


def _login_policy(settings: Settings) -> LoginPolicy:
    return LoginPolicy(settings.login_max_failures, settings.login_failure_window, settings.login_max_delay)


def _record(ctx: RequestContext, admission: Admission) -> None:
    if ctx.limits is not None:
        ctx.limits.record(admission)


@asynccontextmanager
async def _admitted(ctx: RequestContext, session: object, cost: int = 1) -> AsyncIterator[tuple[RequestContext, Principal]]:
    """The call's one connection (a CallConnection standing in for the pool, so that the
    session check and the service share it), its principal, and its admission by
    the user's rate and concurrency limits, decided in the session lookup's own statement.
    A refusal raises LimitRefused; the concurrency slot is given back when the call ends.

    HTTP Basic credentials are checked on the pool before the connection is taken: after
    repeated failures an attempt waits, and must not hold a connection meanwhile.
    """
    limits = server_limits(ctx.settings)
    basic = None
    if session is None:
        credentials = basic_credentials(ctx.authorization)
        if credentials is None:
            raise Fault("session_expired", "no session and no HTTP Basic credentials")
        basic = await auth.authenticate_with_limits(ctx.pool, *credentials, _login_policy(ctx.settings), ctx.remote)
    async with ctx.pool.acquire() as connection:
        if basic is None:
            principal, admission = await auth.admitted_principal_for_session(connection, session, limits, cost)
        else:
            principal = basic[0]
            user = effective_limits(limits, *basic[1])
            admission = await auth.admit(connection, principal.api_user_id, user, cost)
        _record(ctx, admission)
        if admission.refused is not None:
            raise auth.LimitRefused(admission)
        try:
            yield replace(ctx, pool=CallConnection(connection)), principal
        finally:
            if admission.slot is not None:
                await _release_slot(connection, principal.api_user_id, admission.slot)


async def _release_slot(connection: asyncpg.Connection, api_user_id: int, slot: int) -> None:
    """Give the concurrency slot back (an advisory lock of this connection). If that fails the
    connection is ended, which makes PostgreSQL release the lock. A failure here never changes
    the answer of a call that has run."""
    try:
        await auth.release_slot(connection, api_user_id, slot)
    except asyncio.CancelledError:
        connection.terminate()
        raise
    except Exception as exc:  # the call's answer stands; the slot is recovered as above
        log.warning("could not release a concurrency slot of API user %s: %s", api_user_id, exc)
        connection.terminate()


def _resolve(path: object) -> ApiMethod:
    if not isinstance(path, str) or "." not in path:
        raise Fault("invalid_api_path", "the api path must look like 'resource.method'")
    method = METHODS.get(path)
    if method is None:
        raise Fault("invalid_api_path", f"unknown api path {path[:100]!r}")
    return method


def _bind(method: ApiMethod, args: Any) -> list[Any]:
    """Spread ``args`` as ShipStream does: a list positionally, an object by name, anything
    else (a scalar or null) as the single argument, absent as no arguments."""
    if args is ABSENT:
        positional, named = [], {}
    elif isinstance(args, list):
        positional, named = args, {}
    elif isinstance(args, dict):
        positional, named = [], dict(args)
    else:
        positional, named = [args], {}
    parameters = method.parameters
    # PHP ignores surplus arguments; we accept surplus nulls (call(s, "store.list", null))
    # and refuse anything else, which is almost certainly a client mistake.
    if any(value is not None for value in positional[len(parameters):]):
        raise InvalidParams(f"{method.path} takes at most {len(parameters)} argument(s), {len(positional)} given")
    values = []
    for index, parameter in enumerate(parameters):
        value = positional[index] if index < len(positional) else named.pop(parameter.name, ABSENT)
        if parameter.required and (value is ABSENT or value is None):
            raise Fault("required_parameter", f"{method.path}: required argument '{parameter.name}' is missing")
        values.append(parameter.default if value is ABSENT else value)
    if named:
        raise InvalidParams(f"{method.path} has no argument(s) named {', '.join(sorted(named))}")
    return values


def _retryable(ctx: RequestContext, method: ApiMethod) -> bool:
    """Whether the call may be run again: a method that commits once, and its transaction over
    (rolled back by its ``async with`` when the error went through it), so that the next
    attempt starts on a fresh transaction."""
    if method.path in NOT_RETRIED:
        return False
    return not (isinstance(ctx.pool, CallConnection) and ctx.pool.is_in_transaction())


async def _run(ctx: RequestContext, method: ApiMethod, call_context: CallContext, values: list[Any]) -> Any:
    """The service function, run again after a deadlock or a serialization failure; the last
    attempt's error goes on (fault 1 for the client)."""
    attempt = 1
    while True:
        try:
            return await method.handler(call_context, *values)
        except TRANSIENT_ERRORS as error:
            if attempt >= CALL_ATTEMPTS or not _retryable(ctx, method):
                raise
            delay = RETRY_BACKOFF * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)
            log.warning(
                "request %s: %s attempt %d of %d failed (%s %s: %s); retrying in %.1f ms",
                ctx.request_id, method.path, attempt, CALL_ATTEMPTS, type(error).__name__, error.sqlstate,
                error, delay * 1000,
            )
            await asyncio.sleep(delay)
            attempt += 1


async def _invoke(ctx: RequestContext, principal: Principal, path: object, args: Any) -> Any:
    method = _resolve(path)
    if principal.role not in method.roles:
        raise Fault("access_denied", f"role '{principal.role}' may not call {method.path}")
    values = _bind(method, args)
    call_context = CallContext(ctx.pool, ctx.settings, principal, ctx.request_id)
    try:
        return await _run(ctx, method, call_context, values)
    except (asyncpg.CharacterNotInRepertoireError, asyncpg.UntranslatableCharacterError):
        # JSON strings may hold U+0000, PostgreSQL text and jsonb may not; the call's
        # transaction is rolled back like any failed call's.
        raise InvalidParams(f"{method.path}: text may not contain the NUL character (\\u0000)") from None


@top_level
async def login(ctx: RequestContext, username: Any = None, api_key: Any = None) -> str:
    admitted: list[Admission] = []
    try:
        return await auth.login(
            ctx.pool, username, api_key, ctx.settings.session_lifetime,
            _login_policy(ctx.settings), ctx.remote, server_limits(ctx.settings), admitted,
        )
    finally:
        for admission in admitted:
            _record(ctx, admission)


@top_level
async def call(ctx: RequestContext, session: Any, method: Any, args: Any = ABSENT) -> Any:
    async with _admitted(ctx, session) as (ctx, principal):
        return await _invoke(ctx, principal, method, args)


def _php_truthy(value: Any) -> bool:
    """PHP's truthiness, which Magento's ``$options['break']`` follows: "0" is false too."""
    return bool(value) and value != "0"


def _fault_entry(number: int, message: str) -> dict[str, Any]:
    return {"isFault": True, "faultCode": number, "faultMessage": message}


async def _one_of_many(ctx: RequestContext, principal: Principal, entry: Any) -> tuple[bool, Any]:
    """Run one multiCall entry; returns (failed, result or fault entry)."""
    if not isinstance(entry, list) or not entry or len(entry) > 2:
        # Each call must be ["resource.method"] or ["resource.method", args].
        fault = Fault("invalid_api_path")
        return True, _fault_entry(fault.number, fault.message)
    try:
        return False, await _invoke(ctx, principal, entry[0], entry[1] if len(entry) == 2 else ABSENT)
    except Fault as fault:
        return True, _fault_entry(fault.number, fault.message)
    except InvalidParams as exc:
        return True, _fault_entry(INVALID_PARAMS, f"Invalid params: {exc.detail}")
    except Exception:
        fault = _internal_fault(ctx, f"multiCall entry {entry[0]!r:.100}")
        return True, _fault_entry(fault.number, f"{fault.message} Request id {ctx.request_id}.")


@top_level
async def multiCall(ctx: RequestContext, session: Any, calls: Any, options: Any = None) -> list[Any]:  # noqa: N802
    """Magento's multiCall: each call runs on its own; ``{"break": true}`` stops at the first fault."""
    # Each call of a multiCall takes a token; they run one after another in one slot.
    cost = len(calls) if isinstance(calls, list) and 0 < len(calls) <= ctx.settings.max_batch else 1
    async with _admitted(ctx, session, cost) as (ctx, principal):
        return await _many(ctx, principal, calls, options)


async def _many(ctx: RequestContext, principal: Principal, calls: Any, options: Any) -> list[Any]:
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
    for entry in calls:
        failed, result = await _one_of_many(ctx, principal, entry)
        results.append(result)
        if failed and stop_on_fault:
            break
    return results


@top_level
async def endSession(ctx: RequestContext, session: Any) -> bool:  # noqa: N802
    return await auth.end_session(ctx.pool, session)


@top_level
async def rpc_discover(ctx: RequestContext) -> dict[str, Any]:
    """JSON-RPC's conventional discovery method: the OpenRPC document, no session needed."""
    from rpc_fulfillment.jsonrpc.docs.openrpc import document  # lazy: the document reads this module

    return document()


TOP_LEVEL = {
    "login": login, "call": call, "multiCall": multiCall, "endSession": endSession, "rpc.discover": rpc_discover,
}
