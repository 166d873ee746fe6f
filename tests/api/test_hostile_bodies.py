"""Bodies that cost far more than their size: compressed ones, millions of tiny values, and
requests whose answers are huge (SECURITY.md, Limits)."""

from __future__ import annotations

import time
import zlib

import orjson
import pytest

from rpc_fulfillment.config import Settings
from tests.api.conftest import assert_response_shape

DISCOVER = {"jsonrpc": "2.0", "method": "rpc.discover"}


async def _post(rpc, body: bytes, **headers: str):
    response = await rpc.client.post("/api/jsonrpc", data=body, headers=headers)
    return response, orjson.loads(await response.read())


async def _still_answers(rpc, user) -> None:
    _, answer = await _post(rpc, orjson.dumps({"jsonrpc": "2.0", "id": 9, "method": "login",
                                               "params": [user.username, user.api_key]}))
    assert len(answer["result"]) == 32


def _gzip_of_zeros(mebibytes: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip format
    zeros = bytes(1 << 20)
    return b"".join(compressor.compress(zeros) for _ in range(mebibytes)) + compressor.flush()


async def test_a_gzip_bomb_is_refused_at_once_without_inflating_it(shared_rpc, shared_users):
    bomb = _gzip_of_zeros(512)  # 0.5 MB that inflates to 512 MiB
    began = time.perf_counter()
    response, answer = await _post(shared_rpc, bomb, **{"Content-Encoding": "gzip"})
    elapsed = time.perf_counter() - began
    assert response.status == 415
    assert response.headers["Accept-Encoding"] == "identity"
    assert_response_shape(answer)
    assert answer["error"]["code"] == -32600
    assert answer["error"]["data"] == "Content-Encoding 'gzip' is not accepted: send the request body uncompressed"
    assert elapsed < 2.0, elapsed
    await _still_answers(shared_rpc, shared_users["merchant"])


@pytest.mark.parametrize("encoding, body", [
    ("gzip", b"this is not gzip at all"),
    ("deflate", zlib.compress(b'{"jsonrpc": "2.0", "id": 1, "method": "rpc.discover"}')),
    ("br", b"\x0b\x02\x80"),
    ("GZIP, identity", b"{}"),
])
async def test_any_content_encoding_is_a_clear_415_never_a_500(shared_rpc, encoding, body):
    response, answer = await _post(shared_rpc, body, **{"Content-Encoding": encoding})
    assert response.status == 415
    assert_response_shape(answer)
    assert f"Content-Encoding {encoding!r} is not accepted" in answer["error"]["data"]


@pytest.mark.parametrize("encoding", ["identity", "IDENTITY", ""])
async def test_identity_is_the_body_as_sent(shared_rpc, encoding):
    response, answer = await _post(shared_rpc, orjson.dumps({**DISCOVER, "id": 1}), **{"Content-Encoding": encoding})
    assert response.status == 200 and answer["result"]["openrpc"]


def _empty_arrays(size: int) -> bytes:
    count = (size - 2) // 3
    return b"[" + b",".join([b"[]"] * count) + b"]"


@pytest.mark.parametrize("shape", ["batch", "params"])
async def test_millions_of_empty_arrays_are_refused_before_any_is_built(shared_rpc, shared_users, shape):
    arrays = _empty_arrays(16 * 1024 * 1024 - 100)  # 5.6 million, just under the body limit
    body = arrays if shape == "batch" else (
        b'{"jsonrpc": "2.0", "id": 1, "method": "call", "params": ["s", "order.search", ' + arrays + b"]}")
    began = time.perf_counter()
    response, answer = await _post(shared_rpc, body)
    elapsed = time.perf_counter() - began
    assert response.status == 200
    assert_response_shape(answer)
    assert answer["error"]["code"] == -32600
    assert answer["error"]["data"].startswith(f"the request holds more than {Settings().max_json_values} JSON values")
    # Parsing them took 18 s and 860 MB before the limit (a loaded 2-core machine); the count is
    # three passes over the bytes.
    assert elapsed < 2.0, elapsed
    await _still_answers(shared_rpc, shared_users["merchant"])


async def test_the_value_limit_is_a_setting(make_client, users):
    rpc = await make_client(max_json_values=8)
    user = users["merchant"]
    login = {"jsonrpc": "2.0", "id": 1, "method": "login", "params": [user.username, user.api_key]}
    _, answer = await _post(rpc, orjson.dumps(login))  # 4 commas, 2 brackets, + 1: 7
    assert len(answer["result"]) == 32
    _, answer = await _post(rpc, orjson.dumps([login]))  # 8
    assert len(answer[0]["result"]) == 32
    _, answer = await _post(rpc, orjson.dumps([login, login]))
    assert answer["error"]["data"].startswith("the request holds more than 8 JSON values")


async def test_a_batch_of_discovers_gets_the_document_once(shared_rpc):
    batch = [{**DISCOVER, "id": n} for n in range(100)]
    response = await shared_rpc.client.post("/api/jsonrpc", data=orjson.dumps(batch))
    raw = await response.read()
    answers = orjson.loads(raw)
    assert [a["id"] for a in answers] == list(range(100))
    assert answers[0]["result"]["openrpc"]
    assert {(a["error"]["code"], a["error"]["data"]) for a in answers[1:]} == {
        (-32600, "rpc.discover is answered once per batch")}
    assert len(raw) < 1_000_000, len(raw)  # 15.7 MB before


async def test_an_answer_over_max_response_bytes_is_replaced_by_an_error_with_its_id(make_client, users):
    rpc = await make_client(max_response_bytes=50_000)
    user = users["merchant"]
    response, answer = await _post(rpc, orjson.dumps({**DISCOVER, "id": 7}))
    assert response.status == 200
    assert_response_shape(answer)
    assert answer["id"] == 7 and answer["error"]["code"] == -32010
    assert answer["error"]["message"] == "Response too large."
    assert "exceeds the limit of 50000 bytes: ask for less (a smaller page" in answer["error"]["data"]
    # In a batch only the entry that does not fit is replaced; the others are answered.
    login = {"jsonrpc": "2.0", "id": 1, "method": "login", "params": [user.username, user.api_key]}
    response = await rpc.client.post("/api/jsonrpc", data=orjson.dumps([login, {**DISCOVER, "id": 2}]))
    raw = await response.read()
    first, second = orjson.loads(raw)
    assert len(first["result"]) == 32
    assert second["id"] == 2 and second["error"]["code"] == -32010
    assert len(raw) <= 50_000
