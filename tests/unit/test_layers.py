"""Imports flow one way (design §1): rpc -> services -> domain, services -> store.

Read with ast, so nothing is imported to check it and a lazy import inside a function
counts as much as one at the top.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import rpc_fulfillment

PACKAGE = Path(rpc_fulfillment.__file__).parent

DOMAIN_MAY_NOT_IMPORT = (
    "aiohttp", "asyncpg", "jsonrpcserver",
    "rpc_fulfillment.rpc", "rpc_fulfillment.services", "rpc_fulfillment.store", "rpc_fulfillment.app",
    "rpc_fulfillment.appkeys", "rpc_fulfillment.cli", "rpc_fulfillment.database", "rpc_fulfillment.embedded",
    "rpc_fulfillment.workers",
)
SERVICES_MAY_NOT_IMPORT = ("aiohttp", "jsonrpcserver", "rpc_fulfillment.rpc", "rpc_fulfillment.app", "rpc_fulfillment.appkeys")
# rpc reaches the data through services only: no SQL, and no store table read for the API
# description (the fields of a search are the domain's).
RPC_MAY_NOT_IMPORT = ("rpc_fulfillment.store",)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every module ``source`` imports, relative imports resolved against ``module``."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            found.add(prefix)
            # "from rpc_fulfillment import rpc" imports the module rpc_fulfillment.rpc
            found.update(f"{prefix}.{alias.name}" for alias in node.names)
    return found


def violations(layer: str, forbidden: tuple[str, ...]) -> list[str]:
    files = sorted((PACKAGE / layer).rglob("*.py"))
    assert files, f"no modules found in {layer}"
    bad = []
    for path in files:
        for name in imports_of(path.read_text("utf-8"), module_name(path), path.name == "__init__.py"):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                bad.append(f"{module_name(path)} imports {name}")
    return sorted(bad)


def test_domain_is_pure():
    assert violations("domain", DOMAIN_MAY_NOT_IMPORT) == []


def test_services_know_nothing_of_the_transport():
    assert violations("services", SERVICES_MAY_NOT_IMPORT) == []


def test_rpc_goes_through_services_not_the_store():
    assert violations("rpc", RPC_MAY_NOT_IMPORT) == []


@pytest.mark.parametrize(
    "source, found",
    [
        ("import asyncpg", "asyncpg"),
        ("import aiohttp.web as w", "aiohttp.web"),
        ("from aiohttp import web", "aiohttp"),
        ("from rpc_fulfillment import rpc", "rpc_fulfillment.rpc"),
        ("from rpc_fulfillment.store.db import connect", "rpc_fulfillment.store.db"),
        ("from ..store import accounts", "rpc_fulfillment.store"),
        ("from .. import rpc", "rpc_fulfillment.rpc"),
        ("def f():\n    import jsonrpcserver\n", "jsonrpcserver"),
        ("if TYPE_CHECKING:\n    from asyncpg import Pool\n", "asyncpg"),
    ],
)
def test_the_checker_sees_every_kind_of_import(source, found):
    assert found in imports_of(source, "rpc_fulfillment.domain.example")


def test_the_checker_resolves_relative_imports_in_a_package():
    assert "rpc_fulfillment.store" in imports_of("from ..store import x", "rpc_fulfillment.domain", is_package=True)
    assert "rpc_fulfillment.domain.faults" in imports_of("from .faults import Fault", "rpc_fulfillment.domain", is_package=True)


def test_the_checker_finds_a_planted_violation(tmp_path, monkeypatch):
    (tmp_path / "rpc_fulfillment" / "domain").mkdir(parents=True)
    (tmp_path / "rpc_fulfillment" / "domain" / "bad.py").write_text("from ..store import accounts\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "rpc_fulfillment")
    assert violations("domain", DOMAIN_MAY_NOT_IMPORT) == [
        "rpc_fulfillment.domain.bad imports rpc_fulfillment.store",
        "rpc_fulfillment.domain.bad imports rpc_fulfillment.store.accounts",
    ]
