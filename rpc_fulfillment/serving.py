"""Serving the app until SIGTERM or SIGINT, then stopping gracefully.

aiohttp's ``web.run_app`` is not used: it stops by cancelling its main task, and aiohttp's
connection shutdown re-raises its own timeout inside a cancelled task, which skips the app's
cleanup (workers and pool) when a request outlives the timeout; and a second signal during
the shutdown escapes as an exit with status 1. Here a signal only sets an event.

The shutdown, in order:

1. stop listening (new connections are refused; the kernel hands them to the other processes
   with ``--workers``), and close idle keep-alive connections;
2. wait up to ``shutdown_timeout`` seconds for the requests in flight to be answered, then
   cancel those still running (their transactions roll back: nothing they did was
   acknowledged);
3. stop the background workers (scheduler, session expiry, webhook delivery, sandbox
   fulfillment): each is cancelled between or inside its transactions, which roll back, so an
   event is either handled and committed or still waiting in the database for the next start;
4. close the database pool, and return (exit status 0).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from aiohttp import web

from rpc_fulfillment.connections import GuardedRunner

log = logging.getLogger("rpc_fulfillment")

# Beyond shutdown_timeout: time for cancelled requests to unwind, workers and pool to close.
CLEANUP_GRACE = 10.0


async def serve(
    app: web.Application,
    *,
    host: str,
    port: int,
    reuse_port: bool = False,
    shutdown_timeout: float = 30.0,
    access_log: logging.Logger | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Serve ``app`` on host:port until SIGTERM or SIGINT (or ``stop`` is set), then shut down
    as the module says. Returns the exit status: 0, or 1 when the shutdown overran."""
    loop = asyncio.get_running_loop()
    stopping = stop or asyncio.Event()

    def on_signal(signum: int) -> None:
        name = signal.Signals(signum).name
        if stopping.is_set():
            log.info("%s: already stopping", name)
            return
        log.info("%s: stopping (requests in flight get up to %g s)", name, shutdown_timeout)
        stopping.set()

    handled = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, on_signal, signum)
            handled.append(signum)
        except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
            pass
    runner = GuardedRunner(app, handle_signals=False, shutdown_timeout=shutdown_timeout, access_log=access_log)
    try:
        await runner.setup()  # the app's startup: pool, workers
        try:
            if not stopping.is_set():
                site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
                await site.start()
                await stopping.wait()
        finally:
            began = loop.time()
            try:
                await asyncio.wait_for(runner.cleanup(), shutdown_timeout + CLEANUP_GRACE)
            except asyncio.TimeoutError:
                log.error("shutdown took longer than %g s; exiting anyway", shutdown_timeout + CLEANUP_GRACE)
                return 1
            log.info("stopped in %.1f s", loop.time() - began)
        return 0
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
