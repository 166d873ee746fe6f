"""The key path check itself: it must find what an answer lacks."""

from __future__ import annotations

from tests.conformance.shapes import check

DOCUMENTED = [
    {"sku": "a", "weight": 12.75, "length": None, "codes": [{"id": "BB"}], "serials": [{"v": "1"}]},
    {"sku": "b", "weight": 1, "length": None, "codes": [{"id": "FO"}]},
]


def problems(answer):
    return {c.path: c.problem for c in check(answer, DOCUMENTED) if c.problem}


def test_an_answer_like_the_docs_has_every_path():
    assert problems([{"sku": "x", "weight": 2, "length": 5, "codes": [{"id": "US"}], "serials": []}]) == {
        # shown by only some documented elements: enough in one answered element, but here in none
        "result[].serials[]": "missing", "result[].serials[].v": "missing",
    }
    assert problems(DOCUMENTED) == {}


def test_types_keys_and_every_element_are_checked():
    answer = [
        {"sku": "x", "weight": "2.0000", "length": None, "codes": [{"id": "US"}], "serials": [{"v": "1"}]},
        {"sku": "y", "length": None, "codes": [{}]},
    ]
    assert problems(answer) == {
        "result[].weight": "missing",  # the second element lacks it
        "result[].codes[].id": "missing",
    }
    assert problems([{**answer[0], "weight": "2.0000"}])["result[].weight"] == "string, documented number"


def test_an_empty_array_carries_none_of_the_element_paths():
    assert set(problems([])) == {path.path for path in check(DOCUMENTED, DOCUMENTED) if path.path != "result"}
    assert problems({"results": []}) == {"result": "object, documented array"} | {
        path.path: "missing" for path in check(DOCUMENTED, DOCUMENTED) if path.path != "result"
    }
