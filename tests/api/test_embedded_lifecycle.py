"""The embedded PostgreSQL outlives no server: real ``python -m rpc_fulfillment serve`` processes
on 127.0.0.1 and an embedded data directory of their own (not the suite's cluster).

Server 1 starts the cluster and is killed with kill -9, so its PID stays in the cluster's list
of holders (``pg/.handle_pids.json``). Server 2 joins the running cluster, forgets the dead
holder, and when it stops cleanly it is the last holder: the cluster stops with it, and no PID
is left in the list.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]  # `python -m` from here: this tree's package wins
START_SECONDS = 60.0  # a fresh cluster (initdb, migrations) on a loaded machine
STOP_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    """A server on the embedded database of ``data_dir``, answering /health."""
    port = free_port()
    env = {name: value for name, value in os.environ.items() if name != "DATABASE_URL"}
    with open(log, "ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "rpc_fulfillment", "serve", "--data-dir", str(data_dir),
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the server exited with {process.returncode}:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                if response.status == 200:
                    return process
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    process.kill()
    raise AssertionError(f"the server did not answer /health within {START_SECONDS} s:\n{log.read_text()[-3000:]}")


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
    """An embedded data directory whose cluster is stopped afterwards whatever happened."""
    yield tmp_path / "data"
    cluster = postmaster(tmp_path / "data" / "pg")
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
