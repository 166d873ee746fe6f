"""A call's database connection (db/uow.py's Lease), shared fairly between merchants.

What an API call holds while it uses the database: a connection of the pool, a permit of its
merchant's share of that pool (db/shares.py: at most so many of one merchant's calls hold a
connection at once in this process, so that one merchant cannot take the whole pool), and
the user's concurrency slot (an advisory lock of that connection, accounts/limit_queries.py).
``leave`` gives all three back, ``come_back`` takes them again, in this order: the permit
(waited for holding nothing), the connection, the slot. A call that waits on the network does
it between the two (``UnitOfWork.away``), so the wait holds nothing of the database.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from rpc_fulfillment.accounts import auth
from rpc_fulfillment.accounts.limits import Admission, Limits
from rpc_fulfillment.db.outage import background_failure
from rpc_fulfillment.db.shares import MerchantShares

log = logging.getLogger(__name__)


class CallLease:
    """One API call's lease (db/uow.py ``Lease``). ``admitted`` says whose call it is once the
    session or credentials are checked; from then on ``come_back`` takes the merchant's permit
    and the user's concurrency slot with the connection. With ``slot_with_commit`` (a call, not a
    multiCall) the slot is given back in the message that commits the call's last transaction."""

    def __init__(self, pool: asyncpg.Pool, shares: MerchantShares, slot_with_commit: bool) -> None:
        self.pool = pool
        self.shares = shares
        self.slot_with_commit = slot_with_commit
        self.connection: asyncpg.Connection | None = None
        self.merchant_id: int | None = None
        self.slot: int | None = None  # the concurrency slot held (an advisory lock key)
        self._api_user_id: int | None = None
        self._limits: Limits | None = None
        self._permit = False

    @property
    def slot_to_release(self) -> int | None:
        return self.slot if self.slot_with_commit else None

    @slot_to_release.setter
    def slot_to_release(self, slot: int | None) -> None:
        self.slot = slot

    def for_merchant(self, merchant_id: int) -> None:
        """The merchant whose share the connection counts against, known before admission (HTTP
        Basic): the permit is then taken before the connection."""
        self.merchant_id = merchant_id

    async def admitted(self, merchant_id: int, api_user_id: int, admission: Admission) -> None:
        """The call is admitted with ``admission``'s slot: take the merchant's permit. When the
        merchant's calls hold every permit, give everything back and wait for one holding
        nothing (the slot is taken again after the wait)."""
        self.merchant_id, self._api_user_id, self._limits = merchant_id, api_user_id, admission.limits
        self.slot = admission.slot
        if self._permit:
            return
        if self.shares.try_enter(merchant_id):
            self._permit = True
            return
        await self.leave()
        await self.come_back()

    async def come_back(self) -> None:
        if self.merchant_id is not None and not self._permit:
            await self.shares.enter(self.merchant_id)
            self._permit = True
        self.connection = await self.pool.acquire()
        if self._api_user_id is not None and self._limits is not None and self._limits.concurrency > 0:
            # The slot only: the call's tokens were charged when it was admitted.
            limits = Limits(0, 0, self._limits.concurrency)
            again = await auth.admit(self.connection, self._api_user_id, limits)
            if again.refused is not None:
                raise auth.LimitRefused(Admission(self._limits, again.refused, None, again.in_flight))
            self.slot = again.slot

    async def leave(self) -> None:
        connection, self.connection = self.connection, None
        slot, self.slot = self.slot, None
        try:
            if connection is not None and slot is not None:
                await _release_slot(connection, self._api_user_id, slot)
        finally:
            if connection is not None:
                await self.pool.release(connection)
            if self._permit:
                self._permit = False
                self.shares.leave(self.merchant_id)


async def _release_slot(connection: asyncpg.Connection, api_user_id: int | None, slot: int) -> None:
    """Give the concurrency slot back (an advisory lock of this connection). If that fails the
    connection is ended, which makes PostgreSQL release the lock. A failure here never changes
    the answer of a call that has run."""
    if _lost(connection):  # the lock went with it
        return
    try:
        await auth.release_slot(connection, api_user_id, slot)
    except asyncio.CancelledError:
        _end(connection)
        raise
    except Exception as exc:  # the call's answer stands; the slot is recovered as above
        # Logged as the background loops log theirs: a lost connection (its backend terminated,
        # the database going away) by the outage, once per interval.
        background_failure(log, f"could not release a concurrency slot of API user {api_user_id}", exc)
        _end(connection)


def _lost(connection: asyncpg.Connection) -> bool:
    """The connection is gone: closed, or taken back by the pool, which asyncpg does as soon as
    it sees the socket closed (the pool's proxy then raises InterfaceError on every method)."""
    try:
        return connection.is_closed()
    except asyncpg.InterfaceError:
        return True


def _end(connection: asyncpg.Connection) -> None:
    """End the connection unless it is gone already: PostgreSQL then frees its advisory locks."""
    if not _lost(connection):
        connection.terminate()
