"""``rpc-fulfillment import FILE``: create orders from a JSON Lines or CSV file through
order.bulk_create, resumably.

Reading (``read_orders``) turns the file into ``SourceOrder`` objects: the order.create
arguments [storeCode, items, address, info, flags] of each order, the line numbers and the
original rows (for the error file), or the local problem that keeps it from being sent.
Sending (``send_orders``) posts them in chunks with several requests in flight and records
each order's outcome: created, already present (fault 104) or failed. Every order carries a
stable unique_id (from the file, or the order key), so a second run after an interruption
creates nothing twice: what the first run created answers 104 and counts as already present.

The column layout and the rules are documented in README.md ("Importing orders").
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import orjson

if TYPE_CHECKING:
    from rpc_fulfillment.client import AsyncClient

ENV_URL, ENV_USER, ENV_KEY = "RPCF_URL", "RPCF_USER", "RPCF_KEY"
ARG_NAMES = ("storeCode", "items", "address", "info", "flags")
FAULT_COLUMNS = ("fault_code", "fault_message")
INVALID = 102  # order fault "Invalid data given. Details in error message."
EXISTS = 104  # order fault "An order with the specified ID already exists."
UNIQUE_ID_MAX = 64

# Exit statuses of the command.
OK, FAILED, ABORTED, INTERRUPTED = 0, 1, 3, 130


# ------------------------------------------------------------------------------ the model


@dataclass
class SourceOrder:
    """One order of the input file."""

    index: int  # position among the file's orders, from 0
    key: str  # the order key shown in messages (CSV order_key; JSONL order_key, unique_id or order_ref)
    lines: list[int]  # the file's line numbers (from 1) the order came from
    rows: list[Any]  # CSV: the rows as dicts; JSON Lines: the parsed value (or the raw text)
    args: list[Any] | None = None  # [storeCode, items, address, info, flags]
    unique_id: str | None = None
    problem: tuple[int, str] | None = None  # (fault number, message) found before sending
    duplicate_of: "SourceOrder | None" = None  # an identical order earlier in the file

    @property
    def where(self) -> str:
        lines = self.lines
        span = f"line {lines[0]}" if len(lines) == 1 else f"lines {lines[0]}-{lines[-1]}"
        return f"{span} (order {self.key})" if self.key else span


@dataclass
class Outcome:
    status: str  # "created", "present", "failed"
    fault: int | None = None
    message: str | None = None


@dataclass
class ImportReport:
    orders: int = 0
    rows: int = 0
    created: int = 0
    present: int = 0
    failed: int = 0
    not_sent: int = 0
    elapsed: float = 0.0
    stopped: str | None = None  # why sending stopped early (None: it did not)
    interrupted: bool = False
    error_file: Path | None = None
    outcomes: dict[int, Outcome] = field(default_factory=dict)

    @property
    def exit_status(self) -> int:
        if self.interrupted:
            return INTERRUPTED
        if self.stopped:
            return ABORTED
        return FAILED if self.failed else OK


class InputError(Exception):
    """The file as a whole cannot be read (unknown columns, no order_key column...)."""


# --------------------------------------------------------------------------------- reading

def _columns() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """The CSV column names: the models' own field names (the same pydantic models as the
    server's), so the layout cannot drift from what order.create accepts."""
    from rpc_fulfillment.fulfillment.address import AddressInput
    from rpc_fulfillment.orders.input import InfoInput, ItemInput

    info = frozenset(n for n in InfoInput.model_fields if n not in {"instructions", "generate_sscc", "custom_fields"})
    address = frozenset(n for n in AddressInput.model_fields if n != "street")
    return info, address, frozenset(ItemInput.model_fields)


def _csv_plan(fieldnames: Sequence[str]) -> dict[str, tuple[str, str]]:
    """column -> (where, name): where is storeCode, info, address, custom_fields, flags or item."""
    info, address, item = _columns()
    plan: dict[str, tuple[str, str]] = {}
    unknown = []
    for column in fieldnames:
        name = column.strip()
        prefix, _, rest = name.partition(".")
        if name in ("order_key", *FAULT_COLUMNS) or not name:
            continue
        if name in ("store_code", "storeCode"):
            plan[column] = ("storeCode", "")
        elif name in info:
            plan[column] = ("info", name)
        elif name in address:
            plan[column] = ("address", name)
        elif name in item:
            plan[column] = ("item", name)
        elif prefix == "info" and rest in info:
            plan[column] = ("info", rest)
        elif prefix == "address" and rest in address | {"street"}:
            plan[column] = ("address", rest)
        elif prefix == "item" and rest in item:
            plan[column] = ("item", rest)
        elif prefix == "custom_fields" and rest:
            plan[column] = ("custom_fields", rest)
        elif name == "flags.unique_order_ref":
            plan[column] = ("flags", "unique_order_ref")
        else:
            unknown.append(column)
    if unknown:
        raise InputError(f"unknown column(s): {', '.join(unknown)} (see README, \"Importing orders\", for the layout)")
    return plan


def _derived_unique_id(prefix: str, key: str) -> tuple[str | None, str | None]:
    unique_id = f"{prefix}{key}"
    if len(unique_id) > UNIQUE_ID_MAX:
        return None, (f"the order key is too long to serve as the unique_id ({len(unique_id)} characters, at "
                      f"most {UNIQUE_ID_MAX}): give the order a unique_id")
    return unique_id, None


def read_csv(path: Path, id_prefix: str = "", delimiter: str = ",") -> tuple[list[SourceOrder], list[str]]:
    """The orders of a CSV file (one row per order line) and its columns."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        fieldnames = list(reader.fieldnames or [])
        if "order_key" not in [name.strip() for name in fieldnames]:
            raise InputError("the CSV file needs an order_key column (one row per order line, grouped by order_key)")
        plan = _csv_plan(fieldnames)
        key_column = next(name for name in fieldnames if name.strip() == "order_key")
        groups: dict[str, SourceOrder] = {}
        orders: list[SourceOrder] = []
        last_line = 1
        for row in reader:
            line, last_line = last_line + 1, reader.line_num
            if None in row:  # more cells than columns
                extra = row.pop(None)
                problem = (INVALID, f"line {line}: {len(extra)} cell(s) more than the header has columns")
            else:
                problem = None
            key = (row.get(key_column) or "").strip()
            if not key:
                orders.append(SourceOrder(len(orders), "", [line], [row], problem=problem or (INVALID, "order_key is empty")))
                continue
            order = groups.get(key)
            if order is None:
                order = groups[key] = SourceOrder(len(orders), key, [], [])
                orders.append(order)
            order.lines.append(line)
            order.rows.append(row)
            if problem and not order.problem:
                order.problem = problem
    for order in groups.values():
        if order.problem is None:
            _build_csv_order(order, plan, id_prefix)
    return orders, fieldnames


def _build_csv_order(order: SourceOrder, plan: dict[str, tuple[str, str]], id_prefix: str) -> None:
    store_code: str | None = None
    info: dict[str, Any] = {}
    address: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    flags: dict[str, Any] = {}
    targets = {"info": info, "address": address, "custom_fields": custom, "flags": flags}
    items = []
    first: dict[str, tuple[str, int]] = {}  # order-level column -> (value, line)
    for line, row in zip(order.lines, order.rows):
        item: dict[str, Any] = {}
        for column, (where, name) in plan.items():
            value = (row.get(column) or "").strip()
            if where == "item":
                if value:
                    item[name] = value
                continue
            if not value:
                continue
            if column in first:
                if first[column][0] != value:
                    order.problem = (INVALID, f"line {line}: {column} is '{value}' but '{first[column][0]}' on line "
                                              f"{first[column][1]}: an order's rows must agree on order columns "
                                              f"(or leave them empty)")
                    return
                continue
            first[column] = (value, line)
            if where == "storeCode":
                store_code = value
            else:
                targets[where][name] = value
        items.append(item)
    if custom:
        info["custom_fields"] = custom
    if not info.get("unique_id"):
        unique_id, problem = _derived_unique_id(id_prefix, order.key)
        if problem:
            order.problem = (INVALID, problem)
            return
        info["unique_id"] = unique_id
    order.unique_id = str(info["unique_id"])
    order.args = [store_code, items, address, info, flags or None]


def read_jsonl(path: Path, id_prefix: str = "") -> list[SourceOrder]:
    """The orders of a JSON Lines file: one order.create argument list (or object) per line."""
    orders: list[SourceOrder] = []
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            text = raw.strip()
            if not text:
                continue
            order = SourceOrder(len(orders), "", [number], [])
            orders.append(order)
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                order.rows.append(text.decode("utf-8", "replace"))
                order.problem = (INVALID, f"line {number}: not JSON: {exc}")
                continue
            order.rows.append(value)
            _build_json_order(order, value, id_prefix)
    return orders


def _build_json_order(order: SourceOrder, value: Any, id_prefix: str) -> None:
    key = None
    if isinstance(value, dict):
        if "raw_line" in value:
            order.problem = (INVALID, "a line that was not JSON (raw_line): replace this object with the corrected line")
            return
        unknown = sorted(set(value) - {*ARG_NAMES, "order_key", *FAULT_COLUMNS})
        if unknown:
            order.problem = (INVALID, f"unknown member(s) {', '.join(unknown)}: an object line has storeCode, items, "
                                      f"address, info, flags and optionally order_key")
            return
        key = value.get("order_key")
        args = [value.get(name) for name in ARG_NAMES]
    elif isinstance(value, list) and 4 <= len(value) <= 5:
        args = list(value) + [None] * (5 - len(value))
    else:
        order.problem = (INVALID, "each line must be [storeCode, items, address, info(, flags)] or an object "
                                  "{storeCode, items, address, info, flags}")
        return
    info = args[3]
    if info is None or info == []:
        info = {}
    if not isinstance(info, dict):
        order.problem = (INVALID, "info must be an object")
        return
    info = dict(info)
    if key is None:
        key = info.get("order_ref")
    unique_id = info.get("unique_id")
    order.key = str(unique_id if unique_id not in (None, "") else key if key is not None else "")
    if unique_id in (None, ""):
        if key in (None, ""):
            order.problem = (INVALID, "needs info.unique_id, info.order_ref or order_key: a stable id is what keeps "
                                      "a second run from creating the order twice")
            return
        unique_id, problem = _derived_unique_id(id_prefix, str(key))
        if problem:
            order.problem = (INVALID, problem)
            return
        info["unique_id"] = unique_id
    order.unique_id = str(unique_id)
    args[3] = info
    order.args = args


def detect_format(path: Path, given: str | None = None) -> str:
    if given:
        return given
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    raise InputError(f"cannot tell the format of {path.name} from its name: use --format csv or --format jsonl")


def mark_duplicates(orders: Iterable[SourceOrder]) -> None:
    """A unique_id seen earlier in the file: the same order again is a duplicate (counted as
    already present, not sent); a different order with that id is a problem."""
    seen: dict[str, tuple[SourceOrder, bytes]] = {}
    for order in orders:
        if order.problem or order.unique_id is None:
            continue
        content = orjson.dumps(order.args, option=orjson.OPT_SORT_KEYS)
        earlier = seen.get(order.unique_id)
        if earlier is None:
            seen[order.unique_id] = (order, content)
        elif earlier[1] == content:
            order.duplicate_of = earlier[0]
        else:
            order.problem = (EXISTS, f"unique_id '{order.unique_id}' is already used by a different order at "
                                     f"{earlier[0].where}")


def read_orders(path: Path, fmt: str | None = None, id_prefix: str = "", delimiter: str = ",") -> tuple[str, list[SourceOrder], list[str]]:
    """(format, orders, CSV columns) of a file; raises InputError or OSError."""
    fmt = detect_format(path, fmt)
    if fmt == "csv":
        orders, columns = read_csv(path, id_prefix, delimiter)
    else:
        orders, columns = read_jsonl(path, id_prefix), []
    mark_duplicates(orders)
    return fmt, orders, columns


def validate(orders: Iterable[SourceOrder]) -> list[SourceOrder]:
    """Check every order with the server's own validation (domain.order_input.parse_order);
    sets ``problem`` on those that fail. Returns the orders with a problem."""
    from rpc_fulfillment.core.faults import Fault
    from rpc_fulfillment.orders.input import parse_order

    bad = []
    for order in orders:
        if order.problem is None and order.args is not None and order.duplicate_of is None:
            try:
                parse_order(*order.args)
            except Fault as fault:
                order.problem = (fault.number, fault.message if fault.data is None else f"{fault.message} {fault.data}")
        if order.problem is not None:
            bad.append(order)
    return bad


# --------------------------------------------------------------------------------- sending


def _outcome(value: Any) -> Outcome:
    if isinstance(value, dict) and set(value) == {"error"} and isinstance(value["error"], dict):
        code = value["error"].get("code")
        number = -code - 32000 if isinstance(code, int) and code <= -32000 else 0
        message = str(value["error"].get("message", ""))
        data = value["error"].get("data")
        if data is not None:
            message = f"{message} {orjson.dumps(data).decode()}"
        return Outcome("present" if number == EXISTS else "failed", number, message)
    if isinstance(value, dict):
        return Outcome("created")
    return Outcome("failed", 0, f"no result for this order in the answer: {value!r:.100}")


class _Stop(Exception):
    pass


async def send_orders(
    client: "AsyncClient",
    orders: Sequence[SourceOrder],
    report: ImportReport,
    *,
    chunk_size: int = 100,
    concurrency: int = 4,
    chunk_attempts: int = 3,
    on_progress: Callable[[int], None] | None = None,
) -> None:
    """Send the orders without a local problem through order.bulk_create, ``chunk_size`` per
    call, ``concurrency`` calls in flight; record each order's outcome in ``report``. A chunk
    that gets no answer (connection lost, timeout) is sent again, up to ``chunk_attempts``
    times: safe, since an order created the first time answers 104. A fault for a whole call
    (access denied, too many orders per call...) stops the import: ``report.stopped`` says why.
    Cancelling the task stops it too; chunks already answered stay recorded."""
    from rpc_fulfillment.client import RpcError, TransportError

    pending = [order for order in orders if order.problem is None and order.duplicate_of is None]
    chunks = [pending[start:start + chunk_size] for start in range(0, len(pending), chunk_size)]
    queue = iter(chunks)

    async def send(chunk: list[SourceOrder]) -> None:
        payload = {str(order.index): order.args for order in chunk}
        for attempt in range(1, chunk_attempts + 1):
            try:
                results = await client.order.bulk_create(payload)
                break
            except TransportError as exc:
                if attempt == chunk_attempts:
                    raise _Stop(f"no answer from the server after {attempt} attempts: {exc}") from exc
                await asyncio.sleep(min(10.0, 0.5 * 2 ** attempt))
            except RpcError as exc:
                raise _Stop(f"order.bulk_create failed as a whole: {exc}") from exc
        if not isinstance(results, dict):
            raise _Stop(f"order.bulk_create answered {type(results).__name__}, not an object")
        for order in chunk:
            outcome = _outcome(results.get(str(order.index)))
            report.outcomes[order.index] = outcome
        if on_progress:
            on_progress(len(chunk))

    async def worker() -> None:
        for chunk in queue:
            if report.stopped:
                return
            try:
                await send(chunk)
            except _Stop as stop:
                report.stopped = report.stopped or str(stop)
                return

    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))


def tally(orders: Sequence[SourceOrder], report: ImportReport) -> None:
    """Count the outcomes; local problems and in-file duplicates count too."""
    report.orders = len(orders)
    report.rows = sum(len(order.rows) for order in orders)
    report.created = report.present = report.failed = report.not_sent = 0
    for order in orders:
        if order.problem is not None:
            report.outcomes.setdefault(order.index, Outcome("failed", *order.problem))
        elif order.duplicate_of is not None:
            report.outcomes.setdefault(order.index, Outcome("present", EXISTS, f"same order as {order.duplicate_of.where}"))
        outcome = report.outcomes.get(order.index)
        if outcome is None:
            report.not_sent += 1
        elif outcome.status == "created":
            report.created += 1
        elif outcome.status == "present":
            report.present += 1
        else:
            report.failed += 1


# ---------------------------------------------------------------------------- error file


def default_error_file(path: Path, fmt: str) -> Path:
    return path.with_name(f"{path.stem}.errors.{'csv' if fmt == 'csv' else 'jsonl'}")


def write_error_file(target: Path, fmt: str, orders: Sequence[SourceOrder], report: ImportReport,
                     columns: Sequence[str], delimiter: str = ",") -> int:
    """Every row of every failed order, as in the input plus fault_code and fault_message;
    returns the number of rows written."""
    failed = [(order, report.outcomes[order.index]) for order in orders
              if order.index in report.outcomes and report.outcomes[order.index].status == "failed"]
    written = 0
    tmp = target.with_name(target.name + ".tmp")
    if fmt == "csv":
        fieldnames = [c for c in columns if c not in FAULT_COLUMNS] + list(FAULT_COLUMNS)
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=fieldnames, delimiter=delimiter, extrasaction="ignore")
            writer.writeheader()
            for order, outcome in failed:
                for row in order.rows:
                    writer.writerow({**row, "fault_code": outcome.fault, "fault_message": outcome.message})
                    written += 1
    else:
        with open(tmp, "wb") as handle:
            for order, outcome in failed:
                original = order.rows[0]
                if isinstance(original, dict):
                    entry = {k: v for k, v in original.items() if k not in FAULT_COLUMNS}
                elif isinstance(original, list) and 4 <= len(original) <= 5:
                    entry = dict(zip(ARG_NAMES, original))
                else:
                    entry = {"raw_line": original}
                entry.update(fault_code=outcome.fault, fault_message=outcome.message)
                handle.write(orjson.dumps(entry) + b"\n")
                written += 1
    os.replace(tmp, target)
    return written


# ---------------------------------------------------------------------------- the command


def api_url(url: str) -> str:
    """``http://host:port`` alone means its /api/jsonrpc."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.path in ("", "/"):
        return urlunsplit(parts._replace(path="/api/jsonrpc"))
    return url


def add_parser(commands: Any) -> None:
    """Register ``import`` on the ``rpc-fulfillment`` command's subparsers."""
    parser = commands.add_parser(
        "import", help="create orders from a JSON Lines or CSV file (order.bulk_create, resumable)",
        description="Create orders from a JSON Lines or CSV file through order.bulk_create. Running it again "
                    "after an interruption creates nothing twice. See README.md, \"Importing orders\".")
    parser.add_argument("file", type=Path, help="a .jsonl (one set of order.create arguments per line) or .csv file")
    parser.add_argument("--url", default=os.environ.get(ENV_URL),
                        help=f"the API endpoint, e.g. http://127.0.0.1:8080/api/jsonrpc (env {ENV_URL})")
    parser.add_argument("--user", default=os.environ.get(ENV_USER), help=f"API username (env {ENV_USER})")
    parser.add_argument("--key", default=os.environ.get(ENV_KEY), help=f"API key (env {ENV_KEY})")
    parser.add_argument("--basic", action="store_true", help="HTTP Basic with a null session instead of login")
    parser.add_argument("--format", choices=("csv", "jsonl"), help="default: from the file name (.csv, .jsonl/.ndjson)")
    parser.add_argument("--delimiter", default=",", help="CSV delimiter (default ,)")
    parser.add_argument("--chunk-size", type=_positive, default=100, help="orders per order.bulk_create (default 100)")
    parser.add_argument("--concurrency", type=_positive, default=4, help="requests in flight (default 4)")
    parser.add_argument("--id-prefix", default="",
                        help="prefix for unique_ids derived from order keys (orders without a unique_id)")
    parser.add_argument("--errors", type=Path, help="error file (default FILE.errors.csv or .jsonl beside FILE)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for an answer (default 120)")
    parser.add_argument("--dry-run", action="store_true", help="validate every order locally; send nothing")
    progress = parser.add_mutually_exclusive_group()
    progress.add_argument("--progress", dest="progress", action="store_true", default=None,
                          help="show the progress bar (default: when stderr is a terminal)")
    progress.add_argument("--no-progress", dest="progress", action="store_false")


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _print_problems(orders: Sequence[SourceOrder], out: Any) -> None:
    for order in orders:
        if order.problem:
            number, message = order.problem
            print(f"  {order.where}: fault {number}: {message}", file=out)


def run(args: argparse.Namespace, out: Any = None, err: Any = None) -> int:
    """The command; returns the exit status (0 all created or present, 1 some failed, 2 bad
    usage or unreadable file, 3 stopped early, 130 interrupted)."""
    out = out or sys.stdout
    err = err or sys.stderr
    started = time.perf_counter()
    try:
        fmt, orders, columns = read_orders(args.file, args.format, args.id_prefix, args.delimiter)
    except (InputError, OSError, UnicodeDecodeError, csv.Error) as exc:
        print(f"rpc-fulfillment import: {args.file}: {exc}", file=err)
        return 2
    rows = sum(len(order.rows) for order in orders)
    if args.dry_run:
        bad = validate(orders)
        duplicates = sum(1 for order in orders if order.duplicate_of is not None and order.problem is None)
        print(f"dry run: {args.file}: {_plural(len(orders), 'order')} in {_plural(rows, 'row')}; nothing was sent", file=out)
        if duplicates:
            print(f"  {duplicates} order(s) repeat an earlier identical order and would count as already present", file=out)
        if bad:
            print(f"{len(bad)} order(s) with problems:", file=out)
            _print_problems(bad, out)
            return FAILED
        print("no problems found (stores and SKUs are checked by the server)", file=out)
        return OK
    missing = [name for name, value in (("--url", args.url), ("--user", args.user), ("--key", args.key)) if not value]
    if missing:
        print(f"rpc-fulfillment import: missing {', '.join(missing)} (or env {ENV_URL}, {ENV_USER}, {ENV_KEY})", file=err)
        return 2
    report = asyncio.run(_import(args, orders, err))
    tally(orders, report)
    report.elapsed = time.perf_counter() - started
    error_file = args.errors or default_error_file(args.file, fmt)
    if report.failed:
        write_error_file(error_file, fmt, orders, report, columns, args.delimiter)
        report.error_file = error_file
    _print_summary(args.file, report, out)
    return report.exit_status


async def _import(args: argparse.Namespace, orders: Sequence[SourceOrder], err: Any) -> ImportReport:
    from tqdm import tqdm

    from rpc_fulfillment.client import AsyncClient

    report = ImportReport()
    to_send = sum(1 for order in orders if order.problem is None and order.duplicate_of is None)
    bar = tqdm(total=to_send, unit="order", file=err, dynamic_ncols=True, smoothing=0.1,
               disable=not (err.isatty() if args.progress is None else args.progress))
    client = AsyncClient(api_url(args.url), args.user, args.key, basic=args.basic, timeout=args.timeout,
                         max_connections=args.concurrency)
    try:
        await send_orders(client, orders, report, chunk_size=args.chunk_size, concurrency=args.concurrency,
                          on_progress=bar.update)
    except asyncio.CancelledError:  # Ctrl+C: asyncio.run cancels this task
        report.interrupted = True
    finally:
        bar.close()
        await client.close()
    return report


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _print_summary(path: Path, report: ImportReport, out: Any) -> None:
    rate = report.orders / report.elapsed if report.elapsed else 0.0
    print(f"import {path}: {_plural(report.orders, 'order')} in {_plural(report.rows, 'row')}, {report.elapsed:.1f} s "
          f"({rate:,.0f} orders/s)", file=out)
    print(f"  created:          {report.created}", file=out)
    print(f"  already present:  {report.present}", file=out)
    print(f"  failed:           {report.failed}" + (f"  -> {report.error_file}" if report.error_file else ""), file=out)
    if report.not_sent:
        print(f"  not sent:         {report.not_sent}", file=out)
    if report.interrupted:
        print("interrupted: run the same command again to resume (orders already created count as already present)", file=out)
    elif report.stopped:
        print(f"stopped: {report.stopped}", file=out)
        print("fix the cause and run the same command again to resume", file=out)
    if report.error_file:
        print(f"fix the rows in {report.error_file} and import that file (fault_code and fault_message are ignored)", file=out)
