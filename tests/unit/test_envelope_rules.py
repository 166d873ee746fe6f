"""The envelope's pure rules: what a valid request object is, nesting depth, HTTP Basic."""

from __future__ import annotations

import base64

import pytest

from rpc_fulfillment.core.faults import Fault
from rpc_fulfillment.jsonrpc.basic_auth import basic_credentials
from rpc_fulfillment.jsonrpc.envelope import _too_deep, request_problem


def request(**changes):
    entry = {"jsonrpc": "2.0", "id": 1, "method": "login", "params": []}
    entry.update(changes)
    return {k: v for k, v in entry.items() if v is not ...}


@pytest.mark.parametrize(
    "entry",
    [request(), request(jsonrpc=2.0), request(jsonrpc=2), request(id="x"), request(id=None), request(id=1.5), request(id=...),
     request(params=...), request(params={"a": 1})],
    ids=repr,
)
def test_valid_requests(entry):
    assert request_problem(entry) is None


@pytest.mark.parametrize(
    "entry, problem",
    [
        ([], "a request must be a JSON object"),
        ("x", "a request must be a JSON object"),
        (request(jsonrpc="1.0"), 'jsonrpc must be "2.0"'),
        (request(jsonrpc=True), 'jsonrpc must be "2.0"'),
        (request(jsonrpc=False), 'jsonrpc must be "2.0"'),
        (request(jsonrpc=3), 'jsonrpc must be "2.0"'),
        (request(jsonrpc=2.5), 'jsonrpc must be "2.0"'),
        (request(jsonrpc="2"), 'jsonrpc must be "2.0"'),
        (request(jsonrpc=None), 'jsonrpc must be "2.0"'),
        (request(jsonrpc=...), 'jsonrpc must be "2.0"'),
        (request(method=...), "method must be a string"),
        (request(method=1), "method must be a string"),
        (request(params="x"), "params must be an array or an object"),
        (request(params=None), "params must be an array or an object"),
        (request(id=True), "id must be a string, a number or null"),
        (request(id=[1]), "id must be a string, a number or null"),
        (request(id={}), "id must be a string, a number or null"),
    ],
    ids=repr,
)
def test_invalid_requests(entry, problem):
    assert request_problem(entry) == problem


def nested(depth):
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def test_depth():
    assert not _too_deep(nested(3), 3)
    assert _too_deep(nested(4), 3)
    assert not _too_deep({"a": [{"b": 1}]}, 3)
    assert _too_deep({"a": [{"b": []}]}, 3)
    assert not _too_deep([[], {}, [[1]]], 3)
    # Iterative: far deeper than Python's recursion limit is fine.
    assert _too_deep(nested(100_000), 64)


def encode(text: bytes) -> str:
    return "Basic " + base64.b64encode(text).decode()


def test_basic_credentials():
    assert basic_credentials(encode(b"user:key")) == ("user", "key")
    assert basic_credentials(encode(b"user:key:with:colons")) == ("user", "key:with:colons")
    assert basic_credentials(encode("us\u00e9r:k\u00e9y".encode())) == ("us\u00e9r", "k\u00e9y")
    assert basic_credentials("basic " + base64.b64encode(b"u:k").decode()) == ("u", "k")


@pytest.mark.parametrize("header", [None, "", "Bearer abc", "Digest x=y"])
def test_no_basic_credentials(header):
    assert basic_credentials(header) is None


@pytest.mark.parametrize(
    "header", ["Basic", "Basic !!!", encode(b"nocolon"), encode(b":key"), encode(b"user:"), encode(b"\xff:k")]
)
def test_malformed_basic_credentials_are_access_denied(header):
    with pytest.raises(Fault) as fault:
        basic_credentials(header)
    assert fault.value.number == 2
