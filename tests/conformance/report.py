"""Run the conformance suite and print its figures:

    python -m tests.conformance.report

(the same as ``pytest -q tests/conformance``; the figures are at the end of the output)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

if __name__ == "__main__":
    sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "-rxX", str(Path(__file__).parent)]))
