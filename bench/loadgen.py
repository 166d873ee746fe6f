"""The Python load generator: N workers on one aiohttp client pool (keep-alive), one process.

    python bench/loadgen.py --url URL --case NAME --context FILE [--concurrency 32]
                            [--duration 10 --warmup 2 | --requests N]

Worker k loops: take the next request number i, build ``case.body(i, context)``, POST it,
read the answer, check it with ``case.check``, record the latency. With ``--duration`` the
first ``--warmup`` seconds are not counted and the window is the following ``--duration``
seconds: a request counts when it completes inside the window. With ``--requests`` exactly N
requests are sent and the window runs from the first to the last (no warm-up).

It prints ``MEASURE_START`` and ``MEASURE_END`` lines when the window opens and closes (run.py
samples the server's CPU time then), then ``RESULT {json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import sys
import time
from array import array
from pathlib import Path
from typing import Any

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cases import CASES, JSON, Case  # noqa: E402


def percentile(sorted_values: array | list[float], p: float) -> float | None:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def _marker(name: str) -> None:
    sys.stdout.write(name + "\n")
    sys.stdout.flush()


async def drive(url: str, case: Case, context: dict[str, Any], concurrency: int, duration: float | None,
                warmup: float, requests: int | None) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    latencies = array("d")
    by_label: dict[str, array] = {}
    errors = 0
    samples: list[str] = []
    numbers = itertools.count()
    window: dict[str, float] = {}

    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter()
        if requests is None:
            opens, closes = start + warmup, start + warmup + duration
        else:
            opens, closes = start, math.inf

        def open_window() -> None:
            window["cpu_start"] = time.process_time()
            _marker("MEASURE_START")

        def close_window() -> None:
            window["cpu_end"] = time.process_time()
            _marker("MEASURE_END")

        if requests is None:
            loop.call_later(warmup, open_window)
            loop.call_later(warmup + duration, close_window)
        else:
            open_window()

        async def worker() -> None:
            nonlocal errors
            while True:
                i = next(numbers)
                if requests is not None and i >= requests:
                    return
                if time.perf_counter() >= closes:
                    return
                body = case.body(i, context)
                began = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=JSON) as response:
                        data = await response.read()
                        ok = case.check(response.status, data)
                        problem = None if ok else f"HTTP {response.status}: {data[:300]!r}"
                except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                    ok, problem = False, f"{type(exc).__name__}: {exc}"
                ended = time.perf_counter()
                if opens <= ended <= closes:
                    latencies.append(ended - began)
                    if case.label is not None:
                        by_label.setdefault(case.label(i, context), array("d")).append(ended - began)
                    if not ok:
                        errors += 1
                        if len(samples) < 5:
                            samples.append(problem or "")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        finished = time.perf_counter()
        if requests is not None:
            close_window()

    elapsed = (closes if requests is None else finished) - opens
    ordered = array("d", sorted(latencies))
    count = len(ordered)
    cpu = window.get("cpu_end", time.process_time()) - window.get("cpu_start", 0.0)
    return {
        "requests": count,
        "errors": errors,
        "elapsed_s": elapsed,
        "throughput": count / elapsed if elapsed > 0 else 0.0,
        "latency_ms": {
            "mean": (sum(ordered) / count * 1000) if count else None,
            **{f"p{p}": (v * 1000 if (v := percentile(ordered, p)) is not None else None) for p in (50, 90, 99)},
            "max": ordered[-1] * 1000 if count else None,
        },
        "loadgen_cpu_s": cpu,
        "error_samples": samples,
        "by_label": {label: _latency_summary(values) for label, values in by_label.items()},
    }


def _latency_summary(values: array) -> dict[str, Any]:
    ordered = sorted(values)
    return {"requests": len(ordered), "p50_ms": percentile(ordered, 50) * 1000, "p99_ms": percentile(ordered, 99) * 1000}


class Window:
    """The measured window of a job (``Case.job``): the job opens it after its setup."""

    def __init__(self) -> None:
        self.start = self.end = self.cpu_start = self.cpu_end = None

    def open(self) -> None:
        self.cpu_start, self.start = time.process_time(), time.perf_counter()
        _marker("MEASURE_START")

    def close(self) -> None:
        self.cpu_end, self.end = time.process_time(), time.perf_counter()
        _marker("MEASURE_END")


async def drive_job(url: str, case: Case, context: dict[str, Any], concurrency: int) -> dict[str, Any]:
    window = Window()
    outcome = await case.job(url, context, concurrency, window)
    if window.start is None or window.end is None:
        raise RuntimeError(f"case {case.name}: the job did not open and close its window")
    elapsed = window.end - window.start
    none = {"mean": None, "p50": None, "p90": None, "p99": None, "max": None}
    return {"requests": outcome["requests"], "errors": outcome["errors"], "elapsed_s": elapsed,
            "throughput": outcome["requests"] / elapsed if elapsed > 0 else 0.0, "latency_ms": none,
            "loadgen_cpu_s": window.cpu_end - window.cpu_start, "error_samples": outcome.get("error_samples", [])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--case", required=True, choices=sorted(CASES))
    parser.add_argument("--context", type=Path, required=True, help="JSON file: the case's prepared context")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--requests", type=int, help="send exactly this many requests instead")
    args = parser.parse_args(argv)
    context = orjson.loads(args.context.read_bytes())
    case = CASES[args.case]
    if case.job is not None:
        result = asyncio.run(drive_job(args.url, case, context, args.concurrency))
    else:
        result = asyncio.run(drive(args.url, CASES[args.case], context, args.concurrency,
                                   None if args.requests else args.duration, args.warmup, args.requests))
    sys.stdout.write("RESULT " + orjson.dumps(result).decode() + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
