"""The conformance suite's figures: examples answered with a result and documented key paths
present with their documented type, for the methods we have and for all examples. Recorded by
each example's test, printed at the end of the pytest run (conftest.py)."""

from __future__ import annotations

from dataclasses import astuple, dataclass
from typing import Any, Sequence

from tests.conformance.shapes import PathCheck


@dataclass(frozen=True)
class Outcome:
    example_id: str
    method_exists: bool  # we have the method (issue 15 adds the others)
    expected_to_pass: bool  # no expected-failure mark
    answered: bool
    paths_present: int
    paths_documented: int
    problems: tuple[str, ...]


outcomes: list[Outcome] = []


def record_example(example_id: str, method_exists: bool, expected_to_pass: bool, answered: bool,
                   checks: Sequence[PathCheck], documented: int) -> None:
    present = sum(1 for c in checks if c.problem is None)
    problems = tuple(f"{c.path}: {c.problem}" for c in checks if c.problem)
    outcomes.append(Outcome(example_id, method_exists, expected_to_pass, answered, present, documented, problems))


def snapshot() -> list[list[Any]]:
    """The outcomes as plain data, for a pytest-xdist worker to send to the controller."""
    return [list(astuple(outcome)) for outcome in outcomes]


def merge(recorded: list[list[Any]]) -> None:
    """Add a worker's ``snapshot()`` to this process's outcomes."""
    outcomes.extend(Outcome(*fields[:-1], tuple(fields[-1])) for fields in recorded)


def _line(label: str, selected: list[Outcome]) -> str:
    answered = sum(o.answered for o in selected)
    present = sum(o.paths_present for o in selected)
    documented = sum(o.paths_documented for o in selected)
    share = f"{100 * present / documented:.0f} %" if documented else "-"
    return (f"{label}: {answered} of {len(selected)} examples answered with a result; "
            f"{present} of {documented} documented key paths present with their type ({share})")


def lines() -> list[str]:
    if not outcomes:
        return []
    report = [
        _line("all examples", outcomes),
        _line("examples of methods we have", [o for o in outcomes if o.method_exists]),
        _line("examples expected to pass", [o for o in outcomes if o.expected_to_pass]),
    ]
    for outcome in outcomes:
        if outcome.method_exists and (not outcome.answered or outcome.problems):
            detail = "; ".join(outcome.problems[:4]) + (" ..." if len(outcome.problems) > 4 else "")
            report.append(f"  {outcome.example_id}: {'answered' if outcome.answered else 'NOT answered'}"
                          f"{', ' + detail if detail else ''}")
    return report


def print_summary(terminalreporter: Any) -> None:
    report = lines()
    if report:
        terminalreporter.write_sep("=", "conformance with the docs' examples")
        for line in report:
            terminalreporter.write_line(line)
