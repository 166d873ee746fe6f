"""Rate limits, concurrency limits and the login throttle, as rules without I/O.

A call is admitted or refused by one statement in PostgreSQL (accounts/limit_queries.py), so that every
server process shares the same buckets. What is decided here: the limits in force for a user
(their own, else the server's), what a refusal says, and how long a failed login waits.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

RATE_LIMITED = "rate"
CONCURRENCY_LIMITED = "concurrency"

# JSON-RPC codes of the two refusals. They sit in the fault space (-(32000 + N)) at numbers
# ShipStream does not use, chosen to recall the HTTP statuses that carry them: 29 (429) and 9 (409).
RATE_LIMITED_CODE = -32029
CONCURRENCY_LIMITED_CODE = -32009
RATE_LIMITED_MESSAGE = "Too many requests."
CONCURRENCY_LIMITED_MESSAGE = "Too many concurrent requests."


@dataclass(frozen=True)
class Limits:
    """The limits of one API user: ``rate`` requests per second refilling a bucket of ``burst``
    tokens, and at most ``concurrency`` calls in flight. 0 turns a limit off."""

    rate: float
    burst: int
    concurrency: int

    @property
    def any(self) -> bool:
        return self.rate > 0 or self.concurrency > 0

    def per_minute(self) -> int:
        """ShipStream's RateLimit-Limit: the requests one may make per minute."""
        return int(round(self.rate * 60))


def effective_limits(server: Limits, rate: float | None, burst: int | None, concurrency: int | None) -> Limits:
    """A user's own limits (columns of api_users; None: the server's)."""
    return Limits(
        server.rate if rate is None else float(rate),
        server.burst if burst is None else int(burst),
        server.concurrency if concurrency is None else int(concurrency),
    )


@dataclass(frozen=True)
class Admission:
    """What admitting one call gave: ``refused`` is None (admitted), RATE_LIMITED or
    CONCURRENCY_LIMITED; ``tokens`` are left in the bucket (None without a rate limit);
    ``in_flight`` counts the user's calls running as the slot search saw them (slots are
    taken lowest first: this call's slot + 1; the limit when every slot was busy; the busy
    slots below the one found when the rate refused the call, which does not run);
    ``slot`` is the advisory lock key of the concurrency slot taken (None when none was)."""

    limits: Limits
    refused: str | None = None
    tokens: float | None = None
    in_flight: int | None = None
    slot: int | None = None
    cost: int = 1

    @property
    def remaining(self) -> int | None:
        """RateLimit-Remaining: whole requests that could be made at once now."""
        if self.tokens is None or self.limits.rate <= 0:
            return None
        return max(0, math.floor(self.tokens))

    def retry_after(self) -> int:
        """Whole seconds until the bucket holds what this call needs (at least 1)."""
        if self.limits.rate <= 0 or self.tokens is None:
            return 1
        needed = min(self.cost, self.limits.burst) - self.tokens
        return max(1, math.ceil(needed / self.limits.rate))

    def refusal(self) -> tuple[int, str, dict[str, object]]:
        """(JSON-RPC code, message, data) of a refused call."""
        limits = self.limits
        if self.refused == CONCURRENCY_LIMITED:
            detail = (f"at most {limits.concurrency} requests of one API user may run at once; "
                      "retry when one of them has been answered")
            return CONCURRENCY_LIMITED_CODE, CONCURRENCY_LIMITED_MESSAGE, {
                "detail": detail, "concurrency_limit": limits.concurrency}
        wait = self.retry_after()
        detail = (f"the limit is {limits.rate:g} requests per second per API user (bursts of {limits.burst}); "
                  f"retry after {wait} s")
        return RATE_LIMITED_CODE, RATE_LIMITED_MESSAGE, {
            "detail": detail, "retry_after": wait, "rate_limit": limits.rate, "burst": limits.burst}


@dataclass(frozen=True)
class LoginPolicy:
    """Failed logins per (username, source address): the first ``free_failures`` within
    ``window`` seconds cost nothing; after them every wrong attempt of that pair is answered
    1, 2, 4... seconds late, at most ``max_delay``. A right key is never delayed. The count
    starts again ``window`` seconds after the first failure, and a successful login from the
    address clears it. At most ``max_waiting`` attempts of a throttled pair are answered at
    once in one process (0: no cap); see LoginGate."""

    free_failures: int = 5
    window: float = 900.0
    max_delay: float = 10.0
    max_waiting: int = 4

    def delay(self, failures: int | None, failing_for: float | None) -> float:
        """Seconds a wrong attempt waits, given the failures recorded before it, the first of
        them ``failing_for`` seconds ago."""
        if not failures or failing_for is None or failing_for >= self.window:
            return 0.0
        excess = failures - self.free_failures
        if excess < 0:
            return 0.0
        return float(min(self.max_delay, 2.0 ** min(excess, 62)))

    def answer_delay(self, failures: int) -> float:
        """Seconds the wrong attempt that brought the count within the window to ``failures`` waits."""
        return self.delay(failures - 1, 0.0)


class LoginGate:
    """The attempts of throttled (username, address) pairs being answered in this process.

    An attempt of a pair whose next failure would wait holds a place while its key is checked
    and, when wrong, while it waits; with ``policy.max_waiting`` places taken, further attempts
    of the pair are refused before their key is checked (so that the refusal says nothing about
    the key). That bounds the guesses one address can have in flight against one username to
    ``max_waiting`` per process, and the memory they take. Pairs that are not throttled (every
    client whose keys are right) never hold a place and are never refused. In memory only: a
    pair's entry lives while it has an attempt in progress.
    """

    def __init__(self, policy: LoginPolicy) -> None:
        self.policy = policy
        self._held: dict[tuple[str, str], int] = {}

    def full(self, pair: tuple[str, str]) -> bool:
        return 0 < self.policy.max_waiting <= self._held.get(pair, 0)

    @contextmanager
    def place(self, pair: tuple[str, str]) -> Iterator[None]:
        """Hold a place for one attempt of ``pair`` (the caller checked ``full`` with no await
        since)."""
        self._held[pair] = self._held.get(pair, 0) + 1
        try:
            yield
        finally:
            left = self._held[pair] - 1
            if left:
                self._held[pair] = left
            else:
                del self._held[pair]
