"""The documentation of the top-level JSON-RPC methods (jsonrpc/dispatch.py TOP_LEVEL):
login, call, multiCall, endSession and rpc.discover. A resource.method is documented on its
own function (core/api.py)."""

from __future__ import annotations

from rpc_fulfillment.core.api import Arg, Doc
from rpc_fulfillment.core.schema import STRING, TRUE_RESULT, array_of, obj, or_none

SESSION = Arg({"type": ["string", "null"], "pattern": "^[0-9a-f]{32}$"},
              "the session id from login; null with HTTP Basic credentials (username and API key)")

TOP_LEVEL_DESCRIPTIONS: dict[str, Doc] = {
    "login": Doc(
        "Log in with a username and API key; answers a session id.",
        args={"username": Arg(STRING), "api_key": Arg(STRING)},
        result={"type": "string", "pattern": "^[0-9a-f]{32}$"},
        result_description="a 32-hex session id, valid 24 hours by default",
        faults=("required_parameter", "access_denied"),
    ),
    "call": Doc(
        "Call one resource.method.",
        args={
            "session": SESSION,
            "method": Arg({"type": "string", "pattern": r"^[a-z_]+\.[a-z_]+$"}, "the resource.method, such as order.info"),
            "args": Arg({}, "an array is spread as positional arguments, any other value (or null) is the first "
                            "argument, and further parameters after args are further positional arguments "
                            "([s, \"state.get\", \"foo\", true] is state.get(\"foo\", true)); an object alone whose keys "
                            "all name parameters passes named arguments; absent means no arguments"),
        },
        result={},
        result_description="the method's result",
        faults=("session_expired", "access_denied", "invalid_api_path", "required_parameter"),
    ),
    "multiCall": Doc(
        "Call several resource.methods in one request; each runs on its own.",
        args={
            "session": SESSION,
            "calls": Arg(array_of(array_of({}, minItems=1)),
                         "[[\"resource.method\", args, further arguments...], ...]: each entry is what call takes "
                         "after the session"),
            "options": Arg(or_none(obj({"break": {}}, closed=False)), "{\"break\": true} stops at the first fault"),
        },
        result=array_of({}),
        result_description="one entry per call: its result, or {\"isFault\": true, \"faultCode\": N, \"faultMessage\": \"...\"}",
        faults=("session_expired",),
    ),
    "endSession": Doc(
        "End a session.",
        args={"session": Arg({"type": "string"})},
        result=TRUE_RESULT,
        faults=("session_expired",),
    ),
    # Also registered as a resource.method (call(session, "rpc.discover"), every role); one
    # entry describes both.
    "rpc.discover": Doc(
        "This OpenRPC document (no session needed).",
        result={"type": "object", "description": "an OpenRPC 1.3 document"},
        description="Also answered by call(session, \"rpc.discover\") for every role, and by GET /openrpc.json; "
                    "GET /docs renders it as HTML.",
    ),
}
