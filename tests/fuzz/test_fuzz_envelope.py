"""Fuzzing the JSON-RPC envelope: random bytes and JSON, request objects with every member of
the wrong type, batches (empty, nested, notifications, too many), deep nesting, huge numbers,
Unicode, and HTTP Basic with a null session. Every answer is checked by the harness (no HTTP
5xx, well-formed JSON-RPC, ids echoed, never fault 1); afterwards the server answers /health and
the invariants hold."""

from __future__ import annotations

import base64
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from rpc_fulfillment.jsonrpc.dispatch import METHODS
from tests.fuzz.conftest import MINIMUM_ENVELOPE_EXAMPLES, SCALE, count, encode, examples_of_whole_module, fuzz_settings
from tests.fuzz.strategies import FLOATS, INTS, JSON, SCALARS, TEXT, WRONG

TOP_LEVEL = ["login", "call", "multiCall", "endSession", "rpc.discover"]
LABELS = ["merchant", "warehouse", "admin", "other"]
VERSIONS = st.sampled_from(["2.0", 2.0, 2, "2", "1.0", "2.0 ", None, True]) | SCALARS
IDS = INTS | FLOATS | TEXT | st.none() | st.booleans() | st.lists(SCALARS, max_size=2) | st.dictionaries(TEXT, SCALARS, max_size=2)
METHOD_NAMES = st.sampled_from(TOP_LEVEL + ["Call", "call ", "rpc.other", "order.create", ""]) | TEXT | WRONG
PATHS = st.sampled_from(sorted(METHODS)) | st.sampled_from(["order", "order.", ".create", "order.create.x", "nope.nope"]) | TEXT | WRONG


def sessions(harness: Any) -> st.SearchStrategy[Any]:
    return st.sampled_from([harness.sessions[label] for label in LABELS]) | st.none() | TEXT | WRONG


def params_for(harness: Any) -> st.SearchStrategy[Any]:
    """Parameters of the right shape for one of the top-level methods, or anything."""
    session = sessions(harness)
    usernames = st.sampled_from(sorted(harness.usernames.values())) | TEXT | WRONG
    call = st.tuples(session, PATHS, JSON).map(list) | st.tuples(session, PATHS).map(list)
    named_call = st.fixed_dictionaries({"session": session, "method": PATHS}, optional={"args": JSON, "extra": JSON})
    entries = st.lists(st.tuples(PATHS, JSON).map(list) | st.tuples(PATHS).map(list) | WRONG, max_size=4)
    multi = st.tuples(session, entries | WRONG).map(list) | st.tuples(session, entries, JSON).map(list)
    login = st.tuples(usernames, TEXT | WRONG).map(list) | st.fixed_dictionaries({"username": usernames, "api_key": TEXT})
    # endSession only with sessions that are not the harness's own (those must live on)
    end = st.tuples(TEXT | WRONG).map(list)
    return st.one_of(call, named_call, multi, login, end, st.just([]), JSON)


_cache: dict[str, st.SearchStrategy[Any]] = {}


def cached(name: str, build: Any) -> st.SearchStrategy[Any]:
    """Strategies are built once: a new strategy tree per example costs more than the request."""
    if name not in _cache:
        _cache[name] = build()
    return _cache[name]


def request_objects(harness: Any) -> st.SearchStrategy[dict[str, Any]]:
    return cached("requests", lambda: _request_objects(harness))


def _request_objects(harness: Any) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {},
        optional={"jsonrpc": VERSIONS, "id": IDS, "method": METHOD_NAMES, "params": params_for(harness), "extra": JSON},
    ) | st.fixed_dictionaries(
        {"jsonrpc": st.just("2.0"), "method": st.sampled_from(TOP_LEVEL), "params": params_for(harness)},
        optional={"id": INTS | TEXT | st.none()},
    )


def ends_our_session(body: Any, harness: Any) -> bool:
    """True when ``body`` would end one of the harness's own sessions (which must live on)."""
    entries = body if isinstance(body, list) else [body]
    ours = set(harness.sessions.values())
    for entry in entries:
        if isinstance(entry, dict) and entry.get("method") == "endSession":
            params = entry.get("params")
            values = params if isinstance(params, list) else list(params.values()) if isinstance(params, dict) else [params]
            if any(isinstance(v, str) and v in ours for v in values):
                return True
    return False


RANDOM_BODIES = (
    st.binary(max_size=300)
    | st.text(max_size=300).map(lambda t: t.encode("utf-8"))
    | JSON.map(encode)
    | st.sampled_from([b"", b"{", b"[", b"[]", b"{}", b"null", b"[[]]", b"\xff\xfe", b'{"jsonrpc": "2.0"', b"[1,2,3]", b"\x00"])
)


@given(data=st.data())
@fuzz_settings(500)
def test_random_bodies(harness, data):
    raw = data.draw(RANDOM_BODIES, label="body")
    count("envelope")
    harness.send(raw=raw)


@given(data=st.data())
@fuzz_settings(900)
def test_request_objects(harness, data):
    body = data.draw(cached("safe requests", lambda: request_objects(harness).filter(lambda b: not ends_our_session(b, harness))),
                     label="request")
    count("envelope")
    harness.send(body)


@given(data=st.data())
@fuzz_settings(400)
def test_batches(harness, data):
    def batches() -> st.SearchStrategy[Any]:
        entry = request_objects(harness) | WRONG
        return (
            st.lists(entry | st.lists(entry, max_size=3), max_size=8)
            | st.just([])
            | st.integers(99, 105).map(lambda n: [{"jsonrpc": "2.0", "id": i, "method": "rpc.discover"} for i in range(n)])
        )

    batch = data.draw(cached("batches", batches), label="batch")
    if ends_our_session(batch, harness):
        return
    count("envelope")
    answer = harness.send(batch)
    if answer is None:  # only notifications: every entry a valid request object without id
        assert batch and all(isinstance(e, dict) and "id" not in e for e in batch), batch


def _nest(value: Any, depth: int, kind: str) -> Any:
    for _ in range(depth):
        value = [value] if kind == "list" else {"k": value}
    return value


@given(data=st.data())
@fuzz_settings(250)
def test_nesting_huge_numbers_and_unicode(harness, data):
    session = harness.sessions["admin"]
    shape = data.draw(st.sampled_from(["nested params", "nested body", "number literal", "unicode"]), label="shape")
    if shape == "nested params":
        depth, kind = data.draw(st.integers(1, 200)), data.draw(st.sampled_from(["list", "dict"]))
        body = {"jsonrpc": "2.0", "id": 1, "method": "call", "params": [session, data.draw(st.sampled_from(sorted(METHODS))), _nest(1, depth, kind)]}
        raw = encode(body)
    elif shape == "nested body":
        depth = data.draw(st.integers(1, 300))
        raw = b"[" * depth + b'{"jsonrpc":"2.0","id":1,"method":"rpc.discover"}' + b"]" * depth
    elif shape == "number literal":
        literal = data.draw(
            st.sampled_from(["1e400", "-1e400", "123456789012345678901234567890", "18446744073709551616", "9223372036854775808",
                             "-9223372036854775809", "1.7976931348623157e309", "0.000000000000000000001", "1E2", "-0", "NaN", "Infinity"])
            | st.integers(-(10**40), 10**40).map(str),
            label="literal",
        )
        path = data.draw(st.sampled_from(sorted(METHODS)))
        place = data.draw(st.sampled_from(["id", "args", "arg", "session", "nested"]))
        template = {
            "id": '{"jsonrpc":"2.0","id":%s,"method":"call","params":["%s","%s",[]]}',
            "args": '{"jsonrpc":"2.0","id":1,"method":"call","params":["%s","%s",%s]}',
            "arg": '{"jsonrpc":"2.0","id":1,"method":"call","params":["%s","%s",[%s, %s, %s]]}',
            "session": '{"jsonrpc":"2.0","id":1,"method":"call","params":[%s,"%s",[]]}',
            "nested": '{"jsonrpc":"2.0","id":1,"method":"call","params":["%s","%s",[{"sku": %s, "qty": %s}]]}',
        }[place]
        values = {
            "id": (literal, session, path),
            "args": (session, path, literal),
            "arg": (session, path, literal, literal, literal),
            "session": (literal, path),
            "nested": (session, path, literal, literal),
        }[place]
        raw = (template % values).encode()
    else:
        text = data.draw(st.text(st.characters(codec="utf-8"), min_size=1, max_size=50), label="text")
        path = data.draw(st.sampled_from(sorted(METHODS)))
        ascii_only = data.draw(st.booleans())
        body = {"jsonrpc": "2.0", "id": text, "method": "call", "params": [session, path, [text, text, {text: text}]]}
        import json

        raw = json.dumps(body, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
        if data.draw(st.booleans()):  # a lone surrogate, escaped: not valid Unicode
            raw = raw.replace(b'"method"', b'"\\ud800":1,"method"', 1)
    count("envelope")
    harness.send(raw=raw)


@given(data=st.data())
@fuzz_settings(150)
def test_http_basic_with_null_session(harness, data):
    username = data.draw(st.sampled_from(sorted(harness.usernames.values())) | TEXT, label="username")
    credentials = data.draw(
        st.sampled_from(["basic", "garbage", "no colon", "bearer"]).flatmap(
            lambda kind: st.tuples(st.just(kind), TEXT)
        ),
        label="credentials",
    )
    kind, secret = credentials
    if kind == "basic":
        header = "Basic " + base64.b64encode(f"{username}:{secret}".encode("utf-8", "surrogatepass")).decode()
    elif kind == "garbage":
        header = "Basic " + secret.encode("ascii", "ignore").decode()
    elif kind == "no colon":
        header = "Basic " + base64.b64encode(username.encode("utf-8", "surrogatepass")).decode()
    else:
        header = "Bearer " + secret.encode("ascii", "ignore").decode()
    path = data.draw(st.sampled_from(sorted(METHODS)), label="path")
    count("envelope")
    harness.send({"jsonrpc": "2.0", "id": 7, "method": "call", "params": [None, path, []]},
                 # aiohttp answers a header line past 8 KB with its own HTTP 400: stay below
                 headers={"Authorization": "".join(ch for ch in header if " " <= ch <= "~")[:6000]})


def test_server_healthy_after_envelope_fuzz(harness):
    harness.health()
    harness.check_invariants()
    examples = examples_of_whole_module(globals())
    if examples is not None and SCALE >= 1:
        assert examples >= MINIMUM_ENVELOPE_EXAMPLES, examples
