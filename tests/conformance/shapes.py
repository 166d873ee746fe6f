"""Key paths of a documented example response, and whether an answer carries them.

A documented value's key paths: every key of every object, reached through arrays with ``[]``
(``[].hts_country_code[].country_id``), each with its JSON type (``object``, ``array``,
``string``, ``number``, ``boolean``, or ``null``, which accepts any type: the docs write null
for "no value here"). The elements of a documented array are merged into one element shape
(the union of their keys): a path that every documented element shows must be in every
answered element; a path that only some show (an item's ``package_data``, present when it has
serial numbers) must be in at least one. An answer whose array is empty where the docs show
elements does not carry those paths.
Pure Python, no I/O: used by the conformance test and its report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ROOT = "result"


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


@dataclass(frozen=True)
class Documented:
    kind: str  # the JSON type; "null" accepts any
    everywhere: bool  # every documented element of each array on the way shows it


def documented_paths(value: Any, path: str = ROOT) -> dict[str, Documented]:
    """path -> its documented type, for ``value`` and everything inside it."""
    paths = {path: Documented(json_type(value), True)}
    if isinstance(value, dict):
        for key, item in value.items():
            paths.update(documented_paths(item, f"{path}.{key}"))
    elif isinstance(value, list):
        seen: dict[str, list[Documented]] = {}
        for element in value:
            for element_path, documented in documented_paths(element, f"{path}[]").items():
                seen.setdefault(element_path, []).append(documented)
        for element_path, shown in seen.items():
            concrete = [entry.kind for entry in shown if entry.kind != "null"]
            everywhere = len(shown) == len(value) and all(entry.everywhere for entry in shown)
            paths[element_path] = Documented(concrete[0] if concrete else "null", everywhere)
    return paths


def _split(path: str) -> list[str]:
    """``result[].a.b[]`` -> ["[]", "a", "b", "[]"] (below the root)."""
    parts: list[str] = []
    for name in path[len(ROOT):].replace("[]", ".[]").split("."):
        if name:
            parts.append(name)
    return parts


def _values_at(value: Any, parts: list[str], everywhere: bool) -> list[Any] | None:
    """The values at the path through the array elements: None when it is missing (from any
    element when ``everywhere``, else from all of them)."""
    if not parts:
        return [value]
    head, rest = parts[0], parts[1:]
    if head == "[]":
        if not isinstance(value, list) or not value:
            return None
        per_element = [_values_at(element, rest, everywhere) for element in value]
        if everywhere and None in per_element:
            return None
        found = [item for values in per_element if values is not None for item in values]
        return found or None
    if not isinstance(value, dict) or head not in value:
        return None
    return _values_at(value[head], rest, everywhere)


@dataclass(frozen=True)
class PathCheck:
    path: str
    documented: str
    problem: str | None  # None when the answer carries the path with the documented type


def check(answer: Any, documented: Any) -> list[PathCheck]:
    """Each documented key path of ``documented`` checked against ``answer``."""
    checks = []
    for path, shown in documented_paths(documented).items():
        kind = shown.kind
        values = _values_at(answer, _split(path), shown.everywhere)
        if values is None:
            problem: str | None = "missing"
        else:
            wrong = sorted({json_type(value) for value in values} - {kind}) if kind != "null" else []
            problem = f"{'/'.join(wrong)}, documented {kind}" if wrong else None
        checks.append(PathCheck(path, kind, problem))
    return checks
