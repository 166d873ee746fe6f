from typing import Any

from tests.conformance import figures


def pytest_terminal_summary(terminalreporter: Any) -> None:
    figures.print_summary(terminalreporter)
