"""Each merchant's share of a process's database pool.

At most ``per_merchant`` of one merchant's API calls hold a pool connection at once, so that
one merchant's calls cannot take the whole pool and make every other merchant's wait. The API
call's lease (jsonrpc/lease.py) takes a permit with its connection and gives it back with it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from rpc_fulfillment.config import Settings


@dataclass
class _Share:
    in_use: int = 0
    waiting: deque[asyncio.Future[None]] = field(default_factory=deque)


class MerchantShares:
    """In one process, at most ``per_merchant`` calls of one merchant hold a connection at once
    (0: no cap); the others wait, first come first served, holding nothing."""

    def __init__(self, per_merchant: int) -> None:
        self.per_merchant = per_merchant
        self._shares: dict[int, _Share] = {}

    @classmethod
    def of(cls, settings: Settings) -> MerchantShares:
        """``merchant_pool_share`` of the pool, at least one connection (0: no cap)."""
        share = settings.merchant_pool_share
        return cls(max(1, int(settings.db_pool_size * share)) if share > 0 else 0)

    def try_enter(self, merchant_id: int) -> bool:
        """Take a permit if one is free now."""
        if self.per_merchant <= 0:
            return True
        share = self._shares.setdefault(merchant_id, _Share())
        if share.in_use >= self.per_merchant:
            return False
        share.in_use += 1
        return True

    async def enter(self, merchant_id: int) -> None:
        """Take a permit, waiting for one if the merchant's calls hold them all."""
        if self.try_enter(merchant_id):
            return
        share = self._shares[merchant_id]
        turn = asyncio.get_running_loop().create_future()
        share.waiting.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # handed a permit just as it was cancelled
                self.leave(merchant_id)
            else:
                share.waiting.remove(turn)
            raise

    def leave(self, merchant_id: int) -> None:
        """Give a permit back: to the first call waiting for one, if any."""
        if self.per_merchant <= 0:
            return
        share = self._shares[merchant_id]
        while share.waiting:
            turn = share.waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        share.in_use -= 1
        if share.in_use == 0:
            del self._shares[merchant_id]
