"""Extract the example requests and responses of ShipStream's Merchant API documentation into
``tests/conformance/examples.json``, the fixtures of the conformance suite (test_examples.py).

    python -m tests.conformance.extract [DOCS_DIR]

DOCS_DIR defaults to ../shared/reference/shipstream-docs next to the repository. The fixtures
are committed, so the suite runs on a fresh clone without the docs; rerun this when the docs
change and review the diff.

What is taken: in every ``*.md`` file, each "#### Example Request" section's ```json blocks and
the "#### Example Response" blocks after it, the JSON data only. Each example records the
file, the heading of the method it documents (an ``<h1>``, a setext heading or a ``~~~ slim``
signature line) and the sentence that introduces the block ("Get all inventory:"). Requests
and responses pair by position; when a section shows fewer responses than requests, the last
response stands for the remaining requests (state.set's two requests share one answer), and
responses beyond the requests (login's expired-session error) are left out. Two responses
elide keys with ``...`` (order.create, order.edit): the marker is dropped and the example is
flagged ``elided``, so only the keys shown are checked.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "examples.json"
DEFAULT_DOCS = HERE.parents[2] / "shared" / "reference" / "shipstream-docs"

_H1 = re.compile(r'^<h1 id="[^"]*">\s*$')
_ATX = re.compile(r"^#{1,3} (.+)$")
_SETEXT_UNDERLINE = re.compile(r"^(=+|-+)\s*$")
_SIGNATURE = re.compile(r"^~~~ slim\s*$")
_ELLIPSIS_LINE = re.compile(r"^\s*\.\.\.,?\s*$")
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


@dataclass
class _Section:
    heading: str
    requests: list[tuple[str, Any, bool]] = field(default_factory=list)
    responses: list[tuple[str, Any, bool]] = field(default_factory=list)


def _parse_json(text: str) -> tuple[Any, bool]:
    """The block's data, and whether the docs elided part of it with ``...``."""
    lines = text.split("\n")
    kept = [line for line in lines if not _ELLIPSIS_LINE.match(line)]
    elided = len(kept) != len(lines)
    return json.loads(_TRAILING_COMMA.sub(r"\1", "\n".join(kept))), elided


def _sections(lines: list[str]) -> Iterator[_Section]:
    heading = ""
    section: _Section | None = None
    mode: str | None = None  # "request" or "response" inside an example section
    label = ""
    index = 0
    while index < len(lines):
        line = lines[index]
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if _H1.match(line) or _SIGNATURE.match(line):
            heading, mode = following.strip().split(" ")[0], None
            index += 1
        elif line.strip() and _SETEXT_UNDERLINE.match(following) and not line.startswith(("|", "<")):
            heading, mode = line.strip().split(" ")[0], None
            index += 1
        elif line.startswith("#### Example Request"):
            if section is not None:
                yield section
            section, mode, label = _Section(heading), "request", ""
        elif line.startswith("#### Example Response"):
            mode, label = ("response" if section is not None else None), ""
        elif _ATX.match(line) or line.startswith("####"):
            mode = None
        elif mode and line.startswith("```"):
            end = index + 1
            while not lines[end].startswith("```"):
                end += 1
            data, elided = _parse_json("\n".join(lines[index + 1:end]))
            assert section is not None
            (section.requests if mode == "request" else section.responses).append((label, data, elided))
            index = end
        elif mode and line.strip() and not line.lstrip().startswith("<"):
            label = line.strip()
        index += 1
    if section is not None:
        yield section


def _method(request: dict[str, Any]) -> str:
    """The API path an example calls: ``call``'s second parameter, else the top-level method."""
    if request.get("method") == "call":
        return request["params"][1]
    return request["method"]


def extract(docs: Path) -> list[dict[str, Any]]:
    examples: list[dict[str, Any]] = []
    for path in sorted(docs.glob("*.md")):
        for section in _sections(path.read_text(encoding="utf-8").split("\n")):
            results = [entry for entry in section.responses]
            for position, (label, request, _) in enumerate(section.requests):
                if not results:
                    raise ValueError(f"{path.name} {section.heading}: an example request without a response")
                _, response, elided = results[min(position, len(results) - 1)]
                method = _method(request)
                examples.append({
                    "id": method if len(section.requests) == 1 else f"{method} #{position + 1}",
                    "file": path.name,
                    "heading": section.heading,
                    "label": label,
                    "request": request,
                    "response": response,
                    "elided": elided,
                })
    ids = [example["id"] for example in examples]
    duplicates = sorted({name for name in ids if ids.count(name) > 1})
    if duplicates:
        raise ValueError(f"examples with the same id: {duplicates}")
    return examples


def main(argv: list[str]) -> None:
    docs = Path(argv[0]) if argv else DEFAULT_DOCS
    examples = extract(docs)
    FIXTURES.write_text(json.dumps(examples, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(examples)} examples from {docs} -> {FIXTURES.relative_to(Path.cwd()) if FIXTURES.is_relative_to(Path.cwd()) else FIXTURES}")


if __name__ == "__main__":
    main(sys.argv[1:])
