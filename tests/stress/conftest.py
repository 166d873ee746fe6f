"""Counts the stress tests' runs for the figures in the terminal summary (tests/figures.py)."""

from __future__ import annotations

from typing import Any

from tests import figures


def pytest_runtest_logreport(report: Any) -> None:
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        name = report.nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
        figures.race_runs[name][report.outcome] += 1
        figures.race_seconds[0] += report.duration
