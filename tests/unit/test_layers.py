"""Imports flow one way (design §1): jsonrpc -> resources -> core, resources -> db; the pure
modules (a resource's rules, input, views, the state matrix, core) do no I/O; and no module or
package imports itself back through another.

Read with ast, so nothing is imported to check it and a lazy import inside a function
counts as much as one at the top.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Callable

import pytest

import rpc_fulfillment

PACKAGE = Path(rpc_fulfillment.__file__).parent
ROOT_MODULES = (
    "app", "appkeys", "cli", "client", "config", "connections", "embedded", "importer", "log_redaction", "serving", "__main__"
)
SHARED = ("core", "db", "jsonrpc", "workers")
RESOURCES = tuple(sorted(
    path.name for path in PACKAGE.iterdir()
    if path.is_dir() and (path / "__init__.py").exists() and path.name not in SHARED
))
# A resource's pure modules, by name: decisions and shapes, no I/O.
PURE_NAMES = ("rules", "input", "views", "fields", "states", "policies", "allocation", "cancellation", "draft",
              "search_fields", "limits", "payloads")
IO_AND_TRANSPORT = ("aiohttp", "asyncpg", "jsonrpcserver", "httpx")


def _project(*names: str) -> tuple[str, ...]:
    return tuple(f"rpc_fulfillment.{name}" for name in names)


# What each layer may not import. The transport and the process (app, cli, workers) sit on
# top; nothing below reaches up to them.
TOP = _project("jsonrpc", "app", "appkeys", "cli", "connections", "log_redaction", "serving", "workers", "importer", "client")
CORE_MAY_NOT_IMPORT = ("aiohttp", "jsonrpcserver", *TOP, *_project("db", *RESOURCES))
DB_MAY_NOT_IMPORT = ("aiohttp", "jsonrpcserver", *TOP, *_project(*RESOURCES))
RESOURCES_MAY_NOT_IMPORT = ("aiohttp", "jsonrpcserver", *TOP)
PURE_MAY_NOT_IMPORT = (*IO_AND_TRANSPORT, *TOP, "rpc_fulfillment.db", "rpc_fulfillment.core.context")
# The transport reaches the data through a resource's methods only: no SQL of its own.
JSONRPC_MAY_NOT_IMPORT = tuple(f"rpc_fulfillment.{name}.queries" for name in RESOURCES)


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


def modules_in(place: str) -> list[Path]:
    return sorted((PACKAGE / place).rglob("*.py"))


def violations(layer: str, forbidden: tuple[str, ...], files: list[Path] | None = None) -> list[str]:
    files = modules_in(layer) if files is None else files
    assert files, f"no modules found in {layer}"
    bad = []
    for path in files:
        for name in imports_of(path.read_text("utf-8"), module_name(path), path.name == "__init__.py"):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                bad.append(f"{module_name(path)} imports {name}")
    return sorted(bad)


def pure_modules() -> list[Path]:
    return [path for name in RESOURCES for path in modules_in(name) if path.stem in PURE_NAMES] + [
        path for path in modules_in("core") if path.stem != "context"
    ]


def test_every_package_is_a_known_layer():
    assert RESOURCES, "no resource packages found"
    assert {"orders", "shipments", "products", "inventory", "webhooks", "accounts"} <= set(RESOURCES)
    strays = sorted(path.stem for path in PACKAGE.glob("*.py") if path.stem not in (*ROOT_MODULES, "__init__"))
    assert strays == [], "a module at the top of the package belongs in a layer"


def test_core_is_shared_by_all_and_depends_on_none():
    assert violations("core", CORE_MAY_NOT_IMPORT) == []


def test_the_database_layer_knows_no_resource():
    assert violations("db", DB_MAY_NOT_IMPORT) == []


@pytest.mark.parametrize("resource", RESOURCES)
def test_resources_know_nothing_of_the_transport(resource):
    assert violations(resource, RESOURCES_MAY_NOT_IMPORT) == []


def test_rules_inputs_and_views_are_pure():
    assert violations("pure modules", PURE_MAY_NOT_IMPORT, pure_modules()) == []


def test_the_transport_goes_through_methods_not_queries():
    assert violations("jsonrpc", JSONRPC_MAY_NOT_IMPORT) == []


def import_graph(group: Callable[[str], str] = lambda module: module) -> dict[str, set[str]]:
    """Who imports whom among the package's modules (or their groups, e.g. packages)."""
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        for imported in imports_of(path.read_text("utf-8"), name, path.name == "__init__.py"):
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != "rpc_fulfillment" and group(imported) != group(name):
                graph.setdefault(group(name), set()).add(group(imported))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def package_of(module: str) -> str:
    return module.split(".")[1] if module.count(".") >= 1 else module


def test_no_module_imports_itself_back():
    assert cycles(import_graph()) == []


def test_no_package_imports_itself_back():
    assert cycles(import_graph(package_of)) == []


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize(
    "source, found",
    [
        ("import asyncpg", "asyncpg"),
        ("import aiohttp.web as w", "aiohttp.web"),
        ("from aiohttp import web", "aiohttp"),
        ("from rpc_fulfillment import rpc", "rpc_fulfillment.rpc"),
        ("from rpc_fulfillment.db.pool import connect", "rpc_fulfillment.db.pool"),
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
    assert "rpc_fulfillment.core.faults" in imports_of("from .faults import Fault", "rpc_fulfillment.core", is_package=True)


def test_the_checker_finds_a_planted_violation(tmp_path, monkeypatch):
    (tmp_path / "rpc_fulfillment" / "core").mkdir(parents=True)
    (tmp_path / "rpc_fulfillment" / "core" / "bad.py").write_text("from ..orders import queries\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "rpc_fulfillment")
    assert violations("core", CORE_MAY_NOT_IMPORT) == [
        "rpc_fulfillment.core.bad imports rpc_fulfillment.orders",
        "rpc_fulfillment.core.bad imports rpc_fulfillment.orders.queries",
    ]


def test_the_cycle_check_sees_a_planted_cycle(tmp_path, monkeypatch):
    package = tmp_path / "rpc_fulfillment"
    for name, source in (("a", "from rpc_fulfillment.b import x\n"), ("b", "def f():\n    from rpc_fulfillment import a\n")):
        (package / name).mkdir(parents=True)
        (package / name / "__init__.py").write_text("")
        (package / name / "m.py").write_text(source)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", package)
    assert cycles(import_graph(package_of)) == [["a", "b"]]
