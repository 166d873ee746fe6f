"""The API method table: every ``resource.method`` declared with ``@api_method`` (core/api.py)
in the resource API modules below, with the parameters read once from its function's
signature. The declarations are the only place permissions are decided.

Adding a method: decorate its service function with ``@api_method(path, roles, Doc(...))``
in one of API_MODULES (or add its module here). ``tests/api/test_discover.py`` fails until
the Doc describes every parameter.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Awaitable, Callable, Iterable, NamedTuple

from rpc_fulfillment.accounts import catalog
from rpc_fulfillment.core.api import Declaration, declaration_of
from rpc_fulfillment.core.context import REQUIRED
from rpc_fulfillment.inventory import api as inventory
from rpc_fulfillment.merchant_log import api as merchant_log
from rpc_fulfillment.orders import actions as order_actions
from rpc_fulfillment.orders import create as order_create
from rpc_fulfillment.orders import edit as order_edit
from rpc_fulfillment.orders import read as order_read
from rpc_fulfillment.products import api as products
from rpc_fulfillment.shipments import api as shipments
from rpc_fulfillment.shipments import read as shipment_read
from rpc_fulfillment.state import api as state
from rpc_fulfillment.webhooks import api as webhooks

API_MODULES: tuple[ModuleType, ...] = (
    catalog, products, inventory, order_create, order_read, order_edit, order_actions, shipments, shipment_read, webhooks,
    state, merchant_log,
)

Handler = Callable[..., Awaitable[Any]]


class Parameter(NamedTuple):
    """One JSON-RPC argument: its name and its default, REQUIRED when it has none."""

    name: str
    default: Any

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class ApiMethod:
    handler: Handler
    declaration: Declaration
    parameters: tuple[Parameter, ...]

    @property
    def path(self) -> str:
        return self.declaration.path

    @property
    def roles(self) -> frozenset[str]:
        return self.declaration.roles


def parameters_of(function: Callable[..., Any]) -> tuple[Parameter, ...]:
    """The JSON-RPC arguments of a function: everything after its context. A ``*more``
    (call's further positional arguments) is not a named parameter: its Doc describes it."""
    listed = [p for p in list(inspect.signature(function).parameters.values())[1:] if p.kind is not p.VAR_POSITIONAL]
    return tuple(Parameter(p.name, REQUIRED if p.default is inspect.Parameter.empty else p.default) for p in listed)


def api_methods(functions: Iterable[Handler]) -> dict[str, ApiMethod]:
    """The table of these decorated functions, by path."""
    table: dict[str, ApiMethod] = {}
    for function in functions:
        declaration = declaration_of(function)
        if declaration is None:
            raise ValueError(f"{function.__qualname__} is not declared with @api_method")
        if declaration.path in table:
            raise ValueError(f"{declaration.path} is declared twice")
        table[declaration.path] = ApiMethod(function, declaration, parameters_of(function))
    return table


def declared_in(modules: Iterable[ModuleType]) -> list[Handler]:
    """The functions these modules define (not import) with an ``@api_method`` declaration."""
    return [
        value for module in modules for value in vars(module).values()
        if declaration_of(value) is not None and getattr(value, "__module__", None) == module.__name__
    ]


RESOURCE_METHODS: dict[str, ApiMethod] = api_methods(declared_in(API_MODULES))
