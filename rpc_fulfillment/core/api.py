"""A method of the API, declared once: on the service function that runs it.

``@api_method("order.hold", INTEGRATION, Doc(...))`` gives the function its API path, the
roles that may call it, its documentation, and how its unit of work runs it (the transaction,
and whether a deadlock or serialization failure runs it again). ``jsonrpc/registry.py``
collects the decorated functions; the dispatcher, ``rpc.discover``, ``/openrpc.json`` and
``/docs`` all read that one table.

Schemas are JSON Schema (draft 7, as OpenRPC uses). Anywhere in a schema a pydantic model
class may stand for ``{"$ref": "#/components/schemas/<Model>"}``: the model's own
``model_json_schema`` is what goes into the document, so the description and the validation
cannot drift. Where an argument has no model, its schema says what the parser checks; where
even that is open, the schema is ``{}`` and the description says so.

The faults listed in a Doc are the ones the method itself raises; ``call``'s own faults
(1 internal error, 2 access denied, 5 session expired, 6 required parameter missing when the
method has a required parameter) are added to every method by ``jsonrpc/docs/openrpc.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping, TypeVar

Schema = Any  # a JSON Schema dict, a pydantic model class, or a dict containing model classes

MERCHANT, WAREHOUSE, ADMIN = "merchant", "warehouse", "admin"
# "admin may do both": it appears in every set.
EVERYONE = frozenset({MERCHANT, WAREHOUSE, ADMIN})
INTEGRATION = frozenset({MERCHANT, ADMIN})
OPERATIONS = frozenset({WAREHOUSE, ADMIN})


@dataclass(frozen=True)
class Arg:
    """One argument: its JSON Schema and what it means."""

    schema: Schema
    description: str = ""


@dataclass(frozen=True)
class Doc:
    """One method. ``args`` is keyed by the parameter names of the function behind it."""

    summary: str
    result: Schema
    args: Mapping[str, Arg] = field(default_factory=dict)
    faults: tuple[str, ...] = ()
    description: str = ""
    result_description: str = ""


@dataclass(frozen=True)
class Transaction:
    """The transaction a method's statements run in (asyncpg's isolation names; None is the
    server's default, read committed)."""

    isolation: str | None = None
    readonly: bool = False
    # True: no transaction until the service asks for it (``uow.begin()``); the statements
    # before that each commit on their own (order.create reads and writes optimistically in
    # two statements, and begins the transaction only to decide again under locks).
    on_begin: bool = False


WRITE = Transaction()
WRITE_ON_BEGIN = Transaction(on_begin=True)
READ = Transaction(readonly=True)
# One consistent snapshot over several reads (a page and the rows it refers to).
SNAPSHOT = Transaction("repeatable_read", readonly=True)
# ``transaction=None``: no BEGIN/COMMIT, each statement commits on its own (reads of one
# statement, where the two round trips would buy nothing).


@dataclass(frozen=True)
class Declaration:
    """What ``api_method`` says about a service function."""

    path: str
    roles: frozenset[str]
    doc: Doc | None
    transaction: Transaction | None
    # False for a method that commits before it ends (webhook.test commits its ping, then
    # waits for the worker): a failure after that commit cannot be undone by running it again.
    retry: bool


Service = TypeVar("Service", bound=Callable[..., Awaitable[Any]])


def api_method(path: str, roles: frozenset[str], doc: Doc | None, *, transaction: Transaction | None = WRITE,
               retry: bool = True) -> Callable[[Service], Service]:
    """Declare ``path`` as answered by the decorated service function (its first parameter is
    the CallContext, the others are the API arguments, by name and order)."""
    declaration = Declaration(path, frozenset(roles), doc, transaction, retry)

    def declare(function: Service) -> Service:
        function.api_method = declaration  # type: ignore[attr-defined]
        return function

    return declare


def declaration_of(function: Callable[..., Any]) -> Declaration | None:
    return getattr(function, "api_method", None)
