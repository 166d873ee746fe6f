"""Webhook delivery: fan events out to deliveries, POST them, retry on ShipStream's schedule.

Runs in every server process (app.py) and in ``rpc-fulfillment worker``; any number may run
against one database. Each worker sends up to ``20 x webhook_concurrency`` deliveries at once
(``capacity``) and loops:

1. fan-out: take queued events (``event_fanout``, filled by a trigger in each event's own
   transaction) and create one delivery per matching active webhook with that webhook's next
   ``webhook_increment_id``; one fan-out runs at a time in the whole installation (an advisory
   lock), in the order the events were written, so each webhook's ids are 1, 2, 3... with no gap;
2. claim as many due deliveries as it has room for, fairly (below), and send each in its own
   task; each outcome (delivered, a retry time, or ``failed``) is committed with its attempt
   log as soon as it is known, the outcomes that finish together in one statement, so a fast
   delivery never waits for a slow one;
3. when there is nothing to do, wait for a NOTIFY (an event queued, a fan-out done, a replay,
   a test), for an outcome recorded (room again), or the timer: ``webhook_interval`` seconds,
   or sooner when a retry comes due.

Fairness. Claiming the oldest due deliveries, whoever they belong to, let one merchant whose
endpoints never answer fill every worker with requests that each hang for the whole timeout,
and delay every other merchant's webhooks by as long as its backlog lasted. So a claim
(webhooks/queries.py, ``claim_due``) takes deliveries round robin: each merchant's oldest, then
each merchant's second..., and within a merchant round robin over its webhooks; and it caps
what is in flight in the whole installation: ``webhook_merchant_in_flight`` deliveries of one
merchant (and of one webhook), and a single one of a webhook that is failing (a delivery of it
waits for a retry: its endpoint timed out, refused, or answered an error), so a slow or dead
endpoint costs one request at a time until it answers again. With the cap below a worker's
capacity, another merchant's delivery always finds room in a worker at once. Claims are made
one at a time in the whole installation (an advisory lock held for the claim's one statement),
so that each sees the others' and the caps hold across workers.

Claims survive a worker's death. A claim is committed (``claimed_by``: the worker's token) so
that outcomes can be committed one by one; the worker holds the session advisory lock
(CLAIM_LOCK, token) on its LISTEN connection for as long as it lives, and a claim whose token
is not locked counts as free: a worker that dies, or whose connection drops, frees its claims
at once and another worker sends them again (at least once, never dropped). A live worker
ends each of its claims: a send task always leaves its outcome to record or, cancelled, its
claim to release (try/finally in ``_send``), so no delivery stays claimed by a worker that no
longer sends it. An outcome is recorded only while its claim holds (a replay ends the claim:
the delivery is sent again); the attempt is logged either way. Deliveries of one webhook are
sent concurrently (up to its cap) and retried independently: a receiver orders them by
``webhook_increment_id``, as before.

Unless ``webhook_allow_private``, no request goes to a loopback, private, link-local (cloud
metadata), multicast or reserved address: a URL whose host is such an address is refused
before any connection, and a host name is resolved by ``GuardedResolver``, which refuses it
when any of its addresses is such an address; the connector connects only to the addresses
the resolver returned, so a name that resolves to 127.0.0.1 at delivery time (DNS rebinding)
is never contacted. A refusal is a failed attempt like a connection error: logged in
webhook.deliveries with the reason, retried on the schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import aiohttp
import asyncpg
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from rpc_fulfillment import __version__
from rpc_fulfillment.config import Settings, parse_retry_schedule
from rpc_fulfillment.webhooks import rules as domain
from rpc_fulfillment.webhooks import queries as store
from rpc_fulfillment.db.outage import background_failure
from rpc_fulfillment.db.pool import connect, create_pool

log = logging.getLogger(__name__)

BATCH = 20  # deliveries in flight per unit of webhook_concurrency
FANOUT_BATCH = 1000  # events one fan-out transaction takes from the queue
EXCERPT_BYTES = 1000  # how much of a receiver's answer is kept
CONNECT_TIMEOUT = 3.0  # ShipStream: 3 s to connect, 5 s in all
ACQUIRE_TIMEOUT = 30.0  # a pool that cannot give a connection this long is broken
LISTEN_RETRY = 1.0  # seconds between attempts to LISTEN again
STOP_TIMEOUT = 5.0  # seconds stop() waits to record the outcomes known, then for the pool to close
LISTENER_CLOSE_TIMEOUT = 2.0  # seconds to close the LISTEN connection politely before ending it
_DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)
REFUSED = "refused: {}; webhooks go to public addresses only on this server"


def describe(exc: Exception) -> str:
    """An attempt's error, as logged in webhook.deliveries."""
    return f"{type(exc).__name__}: {exc}"[:500]


class RefusedTarget(OSError):
    """A webhook's host resolves to an address webhooks may not reach."""


class GuardedResolver(AbstractResolver):
    """A resolver (aiohttp's default one unless given) that refuses a host name when any
    address it resolves to is loopback, private, link-local... (domain.address_class)."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner if inner is not None else DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            reason = domain.address_class(result["host"])
            if reason is not None:
                raise RefusedTarget(f"{host} resolves to {result['host']}, {reason}")
        return results

    async def close(self) -> None:
        await self._inner.close()


@dataclass(frozen=True)
class Finished:
    """A claimed delivery whose send ended: its outcome to record, or None (the send was
    cancelled) to release the claim, so that the delivery is due again at once."""

    token: int  # the claim's token
    delivery_id: int
    attempt: store.Attempt | None


class WebhookWorker:
    def __init__(
        self, database_url: str, settings: Settings, *, concurrency: int | None = None, resolver: AbstractResolver | None = None
    ) -> None:
        """``resolver``: the DNS resolver to use (aiohttp's default one unless given; tests
        give a stub); without private targets allowed it is wrapped in GuardedResolver."""
        self.database_url = database_url
        self.concurrency = concurrency or settings.webhook_concurrency
        self.capacity = self.concurrency * BATCH
        self.merchant_in_flight = settings.webhook_merchant_in_flight
        self.interval = settings.webhook_interval
        self.timeout = settings.webhook_timeout
        self.connect_timeout = min(CONNECT_TIMEOUT, self.timeout)
        self.schedule = parse_retry_schedule(settings.webhook_retry_schedule)
        self.allow_private = settings.webhook_allow_private
        self.resolver = resolver
        self._guard: GuardedResolver | None = None
        self.pool: asyncpg.Pool | None = None
        self.http: aiohttp.ClientSession | None = None
        self._listener: asyncpg.Connection | None = None
        self._token: int | None = None  # this worker's claim token, locked on the LISTEN connection
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._sending: set[asyncio.Task[None]] = set()
        self._unrecorded = 0  # deliveries claimed whose outcome is not committed (or claim released) yet
        self._finished: list[Finished] = []  # sends ended, their claims to record or release
        self._finished_arrived = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self.pool = await create_pool(self.database_url, self.concurrency + 1)
        self._guard = None if self.allow_private else GuardedResolver(self.resolver)
        self.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(resolver=self._guard or self.resolver, limit=self.capacity),
            timeout=aiohttp.ClientTimeout(total=self.timeout, connect=self.connect_timeout),
            headers={"User-Agent": f"rpc-fulfillment-webhooks/{__version__}"},
        )
        self._tasks = [
            asyncio.create_task(self._listen_forever(), name="webhooks-listen"),
            asyncio.create_task(self._dispatch_forever(), name="webhooks-dispatch"),
            asyncio.create_task(self._record_forever(), name="webhooks-record"),
        ]

    async def stop(self) -> None:
        """Cancel the loops and the deliveries in flight, record the outcomes already known
        and release the other claims (or, the database gone, they end with the LISTEN
        connection): due again at once; then close the HTTP session, the listening connection
        and the pool."""
        for task in (*self._tasks, *self._sending):
            task.cancel()
        await asyncio.gather(*self._tasks, *self._sending, return_exceptions=True)
        self._tasks = []
        try:
            await asyncio.wait_for(self._record_finished(), STOP_TIMEOUT)
        except (asyncio.TimeoutError, *_DB_ERRORS) as exc:
            log.warning("webhook worker: outcomes not recorded at stop (%s); they will be sent again", exc)
        if self.http is not None:
            await self.http.close()
        if self._guard is not None:  # a resolver given to the connector is the caller's to close
            await self._guard.close()
        if self._listener is not None:
            await self._close_listener()
        if self.pool is not None:
            # On any error, the timeout's cancellation included, close() terminates the pool.
            with contextlib.suppress(asyncio.TimeoutError, *_DB_ERRORS):
                await asyncio.wait_for(self.pool.close(), STOP_TIMEOUT)

    def wake(self) -> None:
        self._wake.set()

    # ------------------------------------------------------------------ waking up

    def _notified(self, *_: Any) -> None:
        self.wake()

    async def _close_listener(self) -> None:
        listener, self._listener, self._token = self._listener, None, None
        if listener is None or listener.is_closed():
            return
        # On any error, the timeout's cancellation included, close() ends the connection.
        with contextlib.suppress(asyncio.TimeoutError, *_DB_ERRORS):
            await asyncio.wait_for(listener.close(), LISTENER_CLOSE_TIMEOUT)

    async def _listen_forever(self) -> None:
        """Hold a LISTEN connection with this worker's claim token locked; reconnect (with a
        new token, and look for work) as soon as it drops, every LISTEN_RETRY seconds while the
        database cannot be reached."""
        while True:
            closed = asyncio.Event()
            try:
                self._listener = await connect(self.database_url)
                self._listener.add_termination_listener(lambda _: closed.set())
                await self._listener.add_listener(store.CHANNEL, self._notified)
                self._token = await store.take_claim_token(self._listener)
                self.wake()  # anything queued while we were not listening
                await closed.wait()
                log.warning("webhook worker: the LISTEN connection closed; reconnecting")
            except asyncio.CancelledError:
                await self._close_listener()
                raise
            except Exception as exc:  # the loop must outlive any failure (a database outage included)
                background_failure(log, "webhook worker: cannot LISTEN", exc)
            await self._close_listener()
            await asyncio.sleep(LISTEN_RETRY)

    # ------------------------------------------------------------------ the loop

    async def _dispatch_forever(self) -> None:
        while True:
            self._wake.clear()
            try:
                busy = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the slot must outlive any round (a database outage included)
                background_failure(log, "webhook worker", exc)
                busy = False
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # Cancelled while a rollback failed (its connection gone): the rollback's
                # error replaced the CancelledError; stop anyway.
                raise asyncio.CancelledError
            if busy:
                continue
            await self._sleep()

    async def _sleep(self) -> None:
        timeout = self.interval
        try:
            assert self.pool is not None
            async with self.pool.acquire(timeout=ACQUIRE_TIMEOUT) as conn:
                due_in = await store.seconds_until_next_due(conn)
            if due_in is not None:
                timeout = max(0.0, min(timeout, due_in + 0.01))
        except (asyncio.TimeoutError, *_DB_ERRORS):
            timeout = min(timeout, 1.0)
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    async def run_once(self) -> bool:
        """One fan-out batch and one claim; True when more work may be waiting."""
        more_to_fan_out = await self.fan_out()
        room = self.capacity - self._unrecorded
        return (room > 0 and await self.claim_and_send(room) == room) or more_to_fan_out

    async def fan_out(self) -> bool:
        """Fan out one batch of queued events; True when the queue may hold more."""
        assert self.pool is not None
        async with self.pool.acquire(timeout=ACQUIRE_TIMEOUT) as conn:
            done = await store.fan_out(conn, FANOUT_BATCH)
        return done is not None and done[0] == FANOUT_BATCH

    async def claim_and_send(self, room: int) -> int:
        """Claim up to ``room`` due deliveries and start sending each; how many."""
        token = self._token
        if token is None:
            return 0  # not listening yet: the LISTEN connection wakes us when it is
        assert self.pool is not None
        async with self.pool.acquire(timeout=ACQUIRE_TIMEOUT) as conn:
            rows = await store.claim_due(conn, token, room, self.merchant_in_flight)
            # Sending starts before anything else can fail: a claim never outlives its send.
            self._unrecorded += len(rows)
            for row in rows:
                task = asyncio.create_task(self._send(token, row), name=f"webhooks-delivery-{row['delivery_id']}")
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)
        return len(rows)

    async def _send(self, token: int, row: asyncpg.Record) -> None:
        """Send one claimed delivery; whatever happens, its claim ends recorded or released."""
        attempt: store.Attempt | None = None
        try:
            attempt = await self._attempt(row)
        finally:
            # Appended after the await, to the list of now: the recorder swaps the list
            # meanwhile, and an outcome added to the one it took already would be lost.
            self._finished.append(Finished(token, row["delivery_id"], attempt))
            self._finished_arrived.set()

    async def _record_forever(self) -> None:
        """Commit the outcomes as they come: all that finished meanwhile in one transaction."""
        while True:
            await self._finished_arrived.wait()
            self._finished_arrived.clear()
            try:
                await self._record_finished()
            except (asyncio.TimeoutError, *_DB_ERRORS) as exc:
                log.warning("webhook worker: cannot record outcomes (%s); retrying", exc or type(exc).__name__)
                await asyncio.sleep(1)
                self._finished_arrived.set()

    async def _record_finished(self) -> None:
        finished, self._finished = self._finished, []
        if not finished:
            return
        attempts: dict[int, list[store.Attempt]] = {}
        released: dict[int, list[int]] = {}
        for done in finished:
            if done.attempt is None:
                released.setdefault(done.token, []).append(done.delivery_id)
            else:
                attempts.setdefault(done.token, []).append(done.attempt)
        try:
            assert self.pool is not None
            async with self.pool.acquire(timeout=ACQUIRE_TIMEOUT) as conn, conn.transaction():
                for token, recorded in attempts.items():
                    await store.record_attempts(conn, token, recorded)
                for token, delivery_ids in released.items():
                    await store.release_claims(conn, token, delivery_ids)
        except BaseException:
            self._finished[:0] = finished  # to record on the next try
            raise
        self._unrecorded -= len(finished)
        self.wake()  # room again, and the webhooks' caps may allow more now

    # ------------------------------------------------------------------ one HTTP attempt

    async def _attempt(self, row: asyncpg.Record) -> store.Attempt:
        is_test = row["event_id"] is None
        attempted_at = datetime.now(timezone.utc)
        started = time.monotonic()
        try:
            message = {"webhook_id": row["webhook_id"]} if is_test else row["message"]
            body = domain.envelope(
                row["merchant_id"], row["merchant_code"], row["topic"], message,
                row["webhook_increment_id"] or 0, row["event_created_at"],
            )
            headers = domain.request_headers(row["secret_key"], body, row["extra_headers"])
            http_status, error, excerpt = await self.post(row["url"], body, headers)
        except Exception as exc:  # a bug: a failed attempt, retried on the schedule, not a lost outcome
            log.exception("webhook %s: cannot send delivery %s", row["webhook_id"], row["delivery_id"])
            http_status, error, excerpt = None, describe(exc), None
        duration_ms = round((time.monotonic() - started) * 1000)
        if domain.is_success(http_status):
            status, delay = "delivered", None
        else:
            delay = domain.retry_delay(row["round_attempts"] + 1, self.schedule, is_test)
            status = "failed" if delay is None else "pending"
            log.log(
                logging.WARNING if status == "failed" else logging.INFO,
                "webhook %s: %s #%s to %s: %s%s", row["webhook_id"], row["topic"], row["webhook_increment_id"],
                row["url"], error, "; giving up (failed)" if status == "failed" else f"; retry in {delay:g} s",
            )
        return store.Attempt(
            row["delivery_id"], row["merchant_id"], attempted_at, http_status, duration_ms, error, excerpt, status, delay
        )

    async def post(self, url: str, body: bytes, headers: list[tuple[str, str]]) -> tuple[int | None, str | None, str | None]:
        """POST once: (HTTP status or None, error or None, the start of the answer)."""
        assert self.http is not None
        try:
            if not self.allow_private:
                # aiohttp connects to an IP address as written without asking the resolver.
                reason = domain.host_refusal(URL(url).raw_host or "")
                if reason is not None:
                    return None, REFUSED.format(reason), None
            async with self.http.post(url, data=body, headers=headers, allow_redirects=False) as response:
                answer = b""
                while len(answer) < EXCERPT_BYTES:
                    chunk = await response.content.read(EXCERPT_BYTES - len(answer))
                    if not chunk:
                        break
                    answer += chunk
                excerpt = answer.decode("utf-8", "replace")
                error = None if domain.is_success(response.status) else f"HTTP {response.status}"
                return response.status, error, excerpt
        except asyncio.CancelledError:
            raise
        except aiohttp.ConnectionTimeoutError:
            return None, f"could not connect within {self.connect_timeout:g} s", None
        except asyncio.TimeoutError:  # the limit, not the time measured (which a busy loop stretches)
            return None, f"timed out after {self.timeout:g} s", None
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, RefusedTarget):
                return None, REFUSED.format(exc.os_error)[:500], None
            return None, describe(exc), None
        except Exception as exc:  # any other: aiohttp's ClientError (a URL it refuses, a disconnect...), yarl's
            return None, describe(exc), None


# ---------------------------------------------------------------------- retention

RETENTION_BATCH = 10_000  # rows one retention statement deletes at most


@dataclass
class Pruned:
    deliveries: int = 0
    attempts: int = 0
    events: int = 0
    statements: int = 0


async def prune_history(pool: asyncpg.Pool, retention_days: int) -> Pruned | None:
    """Delete delivered and failed deliveries (with their attempts) finished more than
    ``retention_days`` ago, then the events older than that which no delivery refers to, in
    statements of at most RETENTION_BATCH rows, each its own transaction. Pending deliveries
    and their events are kept; 0 days keeps everything. One process at a time prunes (a
    session advisory lock): None when another one is at it."""
    if retention_days <= 0:
        return Pruned()
    async with pool.acquire(timeout=ACQUIRE_TIMEOUT) as conn:
        if not await store.try_retention_lock(conn):
            return None
        done = False
        try:
            cutoff = await store.retention_cutoff(conn, retention_days)
            pruned = Pruned()
            after: int | None = 0
            while after is not None:
                step = await store.prune_deliveries(conn, after, cutoff, RETENTION_BATCH)
                pruned.deliveries += step.deleted
                pruned.attempts += step.attempts
                pruned.statements += 1
                after = step.after
            after = 0
            while after is not None:
                step = await store.prune_events(conn, after, cutoff, RETENTION_BATCH)
                pruned.events += step.deleted
                pruned.statements += 1
                after = step.after
            await store.release_retention_lock(conn)
            done = True
            return pruned
        finally:
            if not done:
                # An error or a cancellation midway: the pool does not unlock advisory locks
                # (db/pool.py), so close the connection, which frees the lock.
                conn.terminate()


async def run_worker(database_url: str, settings: Settings) -> None:
    """``rpc-fulfillment worker``: deliver until SIGINT or SIGTERM, then stop cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    worker = WebhookWorker(database_url, settings)
    await worker.start()
    log.info("webhook worker: delivering, up to %d at once", worker.capacity)
    try:
        await stop.wait()
    finally:
        log.info("webhook worker: stopping")
        await worker.stop()
