"""Figures the reliability suites report at the end of a pytest run (fuzz examples, crash rounds,
race runs): each suite records lines here, and tests/conftest.py prints them in the terminal
summary, so CI logs carry the numbers SECURITY.md quotes.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

# section -> lines, in the order they were recorded
_lines: dict[str, list[str]] = defaultdict(list)
# counters any suite may bump: ("fuzz", "examples"), ...
counters: Counter[tuple[str, str]] = Counter()


def record(section: str, line: str) -> None:
    _lines[section].append(line)


def report(terminalreporter: Any) -> None:
    if not _lines:
        return
    terminalreporter.write_sep("=", "reliability figures")
    for section, lines in _lines.items():
        for line in lines:
            terminalreporter.write_line(f"{section}: {line}")
