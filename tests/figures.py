"""Figures the reliability suites report at the end of a pytest run (fuzz examples, crash rounds,
race runs): each suite records lines here, and tests/conftest.py prints them in the terminal
summary, so CI logs carry the numbers SECURITY.md quotes. Under pytest-xdist each worker
records its own; tests/conftest.py sends a worker's ``snapshot()`` to the controller, which
``merge``s them before printing.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

# section -> lines, in the order they were recorded
_lines: dict[str, list[str]] = defaultdict(list)
# counters any suite may bump: ("fuzz", "examples"), ...
counters: Counter[tuple[str, str]] = Counter()
# the stress tests' runs (tests/stress/conftest.py): file -> outcomes, and their time
race_runs: dict[str, Counter[str]] = defaultdict(Counter)
race_seconds = [0.0]


def record(section: str, line: str) -> None:
    _lines[section].append(line)


def snapshot() -> dict[str, Any]:
    """This process's figures as plain data (what pytest-xdist can send between processes)."""
    return {
        "lines": dict(_lines),
        "counters": [[list(key), n] for key, n in counters.items()],
        "race_runs": {name: dict(counts) for name, counts in race_runs.items()},
        "race_seconds": race_seconds[0],
    }


def merge(figures: dict[str, Any]) -> None:
    """Add a worker's ``snapshot()`` to this process's figures."""
    for section, lines in figures["lines"].items():
        _lines[section].extend(lines)
    for key, n in figures["counters"]:
        counters[tuple(key)] += n  # type: ignore[index]
    for name, counts in figures["race_runs"].items():
        race_runs[name].update(counts)
    race_seconds[0] += figures["race_seconds"]


def _race_summary() -> str | None:
    if not race_runs:
        return None
    outcomes: Counter[str] = Counter()
    for counts in race_runs.values():
        outcomes.update(counts)
    files = ", ".join(f"{name} {sum(counts.values())}" for name, counts in sorted(race_runs.items()))
    result = ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items()))
    return f"{sum(outcomes.values())} stress tests run ({result}) in {race_seconds[0]:.1f} s: {files}"


def report(terminalreporter: Any) -> None:
    races = _race_summary()
    if not _lines and races is None:
        return
    terminalreporter.write_sep("=", "reliability figures")
    if races is not None:
        terminalreporter.write_line(f"stress: {races}")
    for section, lines in _lines.items():
        for line in lines:
            terminalreporter.write_line(f"{section}: {line}")
