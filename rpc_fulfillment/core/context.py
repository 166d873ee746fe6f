"""What every service function receives: who is calling, and the call's unit of work."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from rpc_fulfillment.config import Settings


@dataclass(frozen=True)
class Principal:
    """An authenticated API user. Every query a service makes is scoped to ``merchant_id``."""

    api_user_id: int
    username: str
    role: str
    merchant_id: int
    merchant_code: str


class UnitOfWork(Protocol):
    """The call's unit of work (db/uow.py), as a service sees it."""

    @property
    def conn(self) -> Any:
        """The call's connection: its statements run inside the call's transaction."""

    def begin(self) -> None:
        """Begin the declared transaction (one declared WRITE_ON_BEGIN) with the next statement."""

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """A nested transaction: an error inside undoes only what was written inside it."""

    async def commit(self) -> None:
        """Commit now; the statements after it each commit on their own."""

    def away(self) -> AbstractAsyncContextManager[None]:
        """Wait outside the database (on the network, on a worker) holding no connection:
        commits now, like ``commit``, and takes a connection again after the wait."""

    async def rollback(self) -> None:
        """Undo what this call wrote so far; the next statement starts a fresh transaction."""


@dataclass(frozen=True)
class CallContext:
    settings: Settings
    principal: Principal
    request_id: str
    uow: UnitOfWork

    @property
    def conn(self) -> Any:
        return self.uow.conn


class AfterCommit:
    """A service's answer finished once its transaction has committed (order.create projects
    the new order after the commit, so its stock rows stay locked no longer than the write)."""

    def __init__(self, finish: Callable[[], Any]) -> None:
        self.finish = finish


class _Required:
    """Default marking an API argument as required even though an optional one precedes it
    (order.create's storeCode may be null, its items may not)."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: object = _Required()
