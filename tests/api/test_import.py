"""``rpc-fulfillment import`` against the real server listening on 127.0.0.1: CSV and JSON Lines,
good rows, bad rows, duplicates, the error file round trip, --dry-run, and an interruption in
the middle followed by a second run that creates nothing twice."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

import rpc_fulfillment
from rpc_fulfillment.cli import main
from tests.api.live_server import *  # noqa: F403 (the fixtures live, serve_in_thread...)
from tests.api.order_helpers import ADDRESS

REPO = Path(rpc_fulfillment.__file__).resolve().parent.parent
HEADER = ["order_key", "order_ref", "shipping_method", "sku", "qty", "order_item_ref", "firstname", "lastname",
          "street1", "city", "region", "postcode", "country", "email", "priority", "custom_fields.gift"]


def stock(live: Any, *skus: str, qty: int = 10_000) -> None:
    from rpc_fulfillment.client import Client

    admin = live.users["admin"]
    with Client(live.url, admin.username, admin.api_key, basic=True) as client:
        for sku in skus:
            client.call("product.create", [sku, {"name": sku.title()}])
            client.call("inventory.adjust", [sku, 1, qty, "import test"])


def csv_text(rows: list[dict[str, Any]], header: list[str] = HEADER) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return out.getvalue()


def line(key: str, sku: str = "MUG", qty: Any = 1, **extra: Any) -> dict[str, Any]:
    """A CSV row: the order's columns filled in (as a spreadsheet export would on every row)."""
    return {"order_key": key, "order_ref": f"REF-{key}", "shipping_method": "ups_03", "sku": sku, "qty": qty,
            "firstname": "Ada", "lastname": "Lovelace", "street1": "1 Main St", "city": "Boston", "region": "MA",
            "postcode": "02134", "country": "US", "email": "ada@example.com", **extra}


def run_import(live: Any, path: Path, *options: str, capsys: Any, user: str = "merchant") -> tuple[int, str, str]:
    credentials = live.users[user]
    capsys.readouterr()
    code = main(["import", str(path), "--url", live.url, "--user", credentials.username, "--key", credentials.api_key,
                 "--no-progress", *options])
    out, err = capsys.readouterr()
    return code, out, err


def summary(out: str) -> dict[str, int]:
    counts = {}
    for text in out.splitlines():
        for label in ("created", "already present", "failed", "not sent"):
            if text.strip().startswith(f"{label}:"):
                counts[label] = int(text.split(":")[1].split()[0])
    return counts


def orders_in_db(live: Any) -> list[dict[str, Any]]:
    return live.query("SELECT unique_id, order_ref FROM orders ORDER BY unique_id")


# ----------------------------------------------------------------------------------- CSV


def test_csv_good_rows(live, tmp_path, capsys):
    stock(live, "MUG", "CAP")
    path = tmp_path / "orders.csv"
    path.write_text(csv_text([
        line("1001", "MUG", 2, order_item_ref="a", **{"custom_fields.gift": "yes"}),
        line("1001", "CAP", 1, order_item_ref="b"),
        line("1002", "CAP", 3, priority="10"),
        {"order_key": "1003", "order_ref": "REF-1003", "shipping_method": "ups_03", "sku": "MUG", "qty": "1",
         "firstname": "Alan", "lastname": "Turing", "street1": "2 Side St", "city": "Princeton", "region": "NJ",
         "postcode": "08540", "country": "US"},
    ]))
    code, out, err = run_import(live, path, capsys=capsys)
    assert code == 0, out + err
    assert summary(out) == {"created": 3, "already present": 0, "failed": 0}
    assert "3 orders in 4 rows" in out
    assert not (tmp_path / "orders.errors.csv").exists()
    rows = live.query("""SELECT o.unique_id, o.order_ref, o.priority, o.shipping_address->>'postcode' AS postcode,
                                count(i.*) AS lines, sum(i.qty_ordered) AS units
                           FROM orders o JOIN order_items i USING (order_id) GROUP BY o.order_id ORDER BY o.unique_id""")
    assert [(r["unique_id"], r["order_ref"], r["postcode"], r["lines"], int(r["units"])) for r in rows] == [
        ("1001", "REF-1001", "02134", 2, 3), ("1002", "REF-1002", "02134", 1, 3), ("1003", "REF-1003", "08540", 1, 1)]
    assert rows[1]["priority"] == 10
    from rpc_fulfillment.client import Client

    user = live.users["merchant"]
    with Client(live.url, user.username, user.api_key) as client:
        order = client.order.info("1001", "*")
    assert order["custom_fields"] == {"gift": "yes"}


def test_unique_id_column_and_id_prefix(live, tmp_path, capsys):
    stock(live, "MUG")
    path = tmp_path / "orders.csv"
    header = HEADER + ["unique_id"]
    path.write_text(csv_text([line("1", unique_id="SHOP-77"), line("2")], header))
    code, out, _ = run_import(live, path, "--id-prefix", "feb-", capsys=capsys)
    assert code == 0, out
    assert [r["unique_id"] for r in orders_in_db(live)] == ["SHOP-77", "feb-2"]


def test_bad_rows_go_to_the_error_file(live, tmp_path, capsys):
    stock(live, "MUG")
    path = tmp_path / "orders.csv"
    path.write_text(csv_text([
        line("1"),
        line("2", priority="500"),  # invalid: fault 102
        line("3", "NOPE"),  # no such product: fault 107 (from the server)
        line("4"), {**line("4", "MUG"), "city": "Cambridge"},  # the rows disagree on the city
        {**line(""), "order_key": ""},  # no order key
        line("5", qty="two"),
        line("6"),
    ]))
    code, out, err = run_import(live, path, capsys=capsys)
    assert code == 1, out + err
    assert summary(out) == {"created": 2, "already present": 0, "failed": 5}
    errors = tmp_path / "orders.errors.csv"
    assert f"-> {errors}" in out
    with open(errors, newline="") as handle:
        reader = csv.DictReader(handle)
        failed = list(reader)
    assert reader.fieldnames == HEADER + ["fault_code", "fault_message"]
    assert [(r["order_key"], r["fault_code"]) for r in failed] == [
        ("2", "102"), ("3", "107"), ("4", "102"), ("4", "102"), ("", "102"), ("5", "102")]
    by_key = {r["order_key"]: r for r in failed}
    assert "priority" in by_key["2"]["fault_message"]
    assert "NOPE" in by_key["3"]["fault_message"]
    assert "city" in by_key["4"]["fault_message"] and "line 6" in by_key["4"]["fault_message"]
    assert "order_key is empty" in by_key[""]["fault_message"]
    assert "qty" in by_key["5"]["fault_message"]
    assert by_key["2"]["postcode"] == "02134"  # the row as it was, text kept
    assert [r["unique_id"] for r in orders_in_db(live)] == ["1", "6"]


def test_error_file_round_trip(live, tmp_path, capsys):
    stock(live, "MUG")
    path = tmp_path / "orders.csv"
    path.write_text(csv_text([line("1"), line("2", priority="500"), line("3", "NOPE"), line("3", "MUG")]))
    assert run_import(live, path, capsys=capsys)[0] == 1
    errors = tmp_path / "orders.errors.csv"
    # The user fixes the rows in the error file and imports it.
    fixed = errors.read_text().replace(",500,", ",50,").replace(",NOPE,", ",MUG,")
    errors.write_text(fixed)
    code, out, _ = run_import(live, errors, capsys=capsys)
    assert code == 0, out
    assert summary(out) == {"created": 2, "already present": 0, "failed": 0}
    assert [r["unique_id"] for r in orders_in_db(live)] == ["1", "2", "3"]
    assert live.value("SELECT count(*) FROM order_items i JOIN orders o USING (order_id) WHERE o.unique_id = '3'") == 2
    # The original file again: order 1 is there already; 2 and 3 are still wrong in it (the
    # server checks the data before the unique_id), and nothing is created.
    code, out, _ = run_import(live, path, capsys=capsys)
    assert code == 1 and summary(out) == {"created": 0, "already present": 1, "failed": 2}
    assert live.value("SELECT count(*) FROM orders") == 3


def test_running_again_creates_nothing_twice(live, tmp_path, capsys):
    stock(live, "MUG")
    path = tmp_path / "orders.csv"
    path.write_text(csv_text([line(str(n)) for n in range(1, 8)]))
    assert summary(run_import(live, path, "--chunk-size", "3", capsys=capsys)[1])["created"] == 7
    code, out, _ = run_import(live, path, "--chunk-size", "2", "--concurrency", "3", capsys=capsys)
    assert code == 0
    assert summary(out) == {"created": 0, "already present": 7, "failed": 0}
    assert live.value("SELECT count(*) FROM orders") == 7


def test_unknown_columns_and_missing_order_key(live, tmp_path, capsys):
    path = tmp_path / "orders.csv"
    path.write_text("order_key,sku,qty,postal_code\n1,MUG,1,02134\n")
    code, _, err = run_import(live, path, capsys=capsys)
    assert code == 2 and "unknown column(s): postal_code" in err
    path.write_text("sku,qty\nMUG,1\n")
    code, _, err = run_import(live, path, capsys=capsys)
    assert code == 2 and "order_key column" in err


# ----------------------------------------------------------------------------- JSON Lines


def jsonl(*values: Any) -> str:
    return "".join(orjson.dumps(value).decode() + "\n" for value in values)


INFO = {"shipping_method": "ups_03"}


def test_jsonl_arrays_objects_duplicates_and_bad_lines(live, tmp_path, capsys):
    stock(live, "MUG")
    path = tmp_path / "orders.jsonl"
    path.write_text(jsonl(
        [None, {"MUG": 1}, ADDRESS, {**INFO, "unique_id": "J-1"}],
        {"items": [{"sku": "MUG", "qty": 2}], "address": ADDRESS, "info": {**INFO, "order_ref": "J-2"}},
        {"order_key": "J-3", "storeCode": "default", "items": {"MUG": 1}, "address": ADDRESS, "info": INFO,
         "flags": {"unique_order_ref": True}},
        [None, {"MUG": 1}, ADDRESS, {**INFO, "unique_id": "J-1"}],  # the same order again: already present
        [None, {"MUG": 5}, ADDRESS, {**INFO, "unique_id": "J-1"}],  # another order with that id: failed
        [None, {"MUG": 1}, ADDRESS, INFO],  # no stable id: failed
        [None, {"MUG": 1}, {**ADDRESS, "country": "XX"}, {**INFO, "unique_id": "J-4"}],  # invalid: failed
    ) + "\n" + "{not json\n")
    code, out, err = run_import(live, path, capsys=capsys)
    assert code == 1, out + err
    assert summary(out) == {"created": 3, "already present": 1, "failed": 4}
    assert [r["unique_id"] for r in orders_in_db(live)] == ["J-1", "J-2", "J-3"]
    errors = [orjson.loads(text) for text in (tmp_path / "orders.errors.jsonl").read_text().splitlines()]
    assert [e["fault_code"] for e in errors] == [104, 102, 102, 102]
    assert errors[0]["items"] == {"MUG": 5} and "different order at line 1" in errors[0]["fault_message"]
    assert errors[0]["info"] == {**INFO, "unique_id": "J-1"}  # arrays come back as objects
    assert "stable id" in errors[1]["fault_message"]
    assert "country" in errors[2]["fault_message"]
    assert errors[3]["raw_line"] == "{not json" and "not JSON" in errors[3]["fault_message"]


def test_jsonl_error_file_round_trip(live, tmp_path, capsys):
    stock(live, "MUG")
    path = tmp_path / "orders.jsonl"
    path.write_text(jsonl(
        {"items": {"MUG": 1}, "address": ADDRESS, "info": {**INFO, "order_ref": "A"}},
        {"items": {"NOPE": 1}, "address": ADDRESS, "info": {**INFO, "order_ref": "B"}},
    ))
    assert run_import(live, path, capsys=capsys)[0] == 1
    errors = tmp_path / "orders.errors.jsonl"
    entry = orjson.loads(errors.read_text())
    assert (entry["fault_code"], entry["info"]["order_ref"]) == (107, "B")
    entry["items"] = {"MUG": 1}
    errors.write_text(jsonl(entry))
    code, out, _ = run_import(live, errors, capsys=capsys)
    assert code == 0 and summary(out)["created"] == 1
    assert [r["unique_id"] for r in orders_in_db(live)] == ["A", "B"]


# -------------------------------------------------------------------------------- dry run


def test_dry_run_reports_every_problem_and_sends_nothing(live, tmp_path, capsys):
    path = tmp_path / "orders.csv"
    path.write_text(csv_text([line("1"), line("2", priority="500"), line("3", qty="0"),
                              {**line("4"), "country": "Narnia"}, line("5", "ANYTHING")]))
    capsys.readouterr()
    code = main(["import", str(path), "--dry-run"])  # no URL, user or key needed
    out = capsys.readouterr().out
    assert code == 1
    assert "5 orders in 5 rows; nothing was sent" in out
    assert "3 order(s) with problems" in out
    assert "(order 2): fault 102: info.priority" in out
    assert "(order 3): fault 102: items" in out
    assert "(order 4): fault 102: address.country" in out
    assert "(order 1)" not in out and "(order 5)" not in out  # SKUs are the server's to check
    assert live.value("SELECT count(*) FROM orders") == 0
    assert not (tmp_path / "orders.errors.csv").exists()
    path.write_text(csv_text([line("1"), line("2")]))
    assert main(["import", str(path), "--dry-run"]) == 0
    assert "no problems found" in capsys.readouterr().out


# ---------------------------------------------------------------- connection and faults


def test_connection_from_environment(live, tmp_path, capsys, monkeypatch):
    stock(live, "MUG")
    path = tmp_path / "orders.csv"
    path.write_text(csv_text([line("1")]))
    user = live.users["merchant"]
    monkeypatch.setenv("RPCF_URL", live.server.base)  # the base URL alone means its /api/jsonrpc
    monkeypatch.setenv("RPCF_USER", user.username)
    monkeypatch.setenv("RPCF_KEY", user.api_key)
    capsys.readouterr()
    assert main(["import", str(path), "--no-progress", "--basic"]) == 0
    assert live.value("SELECT count(*) FROM orders") == 1
    assert live.value("SELECT count(*) FROM sessions") == 0  # Basic: no session


def test_missing_connection_options(tmp_path, capsys, monkeypatch):
    for name in ("RPCF_URL", "RPCF_USER", "RPCF_KEY"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "orders.csv"
    path.write_text(csv_text([line("1")]))
    assert main(["import", str(path)]) == 2
    assert "missing --url, --user, --key" in capsys.readouterr().err


def test_a_fault_for_the_whole_call_stops_the_import(live, tmp_path, capsys):
    path = tmp_path / "orders.csv"
    path.write_text(csv_text([line("1"), line("2")]))
    code, out, _ = run_import(live, path, capsys=capsys, user="warehouse")  # may not create orders
    assert code == 3
    assert summary(out) == {"created": 0, "already present": 0, "failed": 0, "not sent": 2}
    assert "stopped: order.bulk_create failed as a whole: fault 2: Access denied." in out
    assert not (tmp_path / "orders.errors.csv").exists()


# ----------------------------------------------------------------------- interruption


def big_file(path: Path, count: int) -> None:
    path.write_text(csv_text([line(f"K{n:05d}", "MUG" if n % 2 else "CAP", 1 + n % 3) for n in range(count)]))


def start_import(live: Any, path: Path, *options: str) -> subprocess.Popen:
    user = live.users["merchant"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "RPCF_URL": live.url, "RPCF_USER": user.username,
           "RPCF_KEY": user.api_key}
    # SIGINT as at a terminal: a test run started in the background (nohup, `cmd &` in a script)
    # passes SIGINT on ignored, and Python then never turns it into KeyboardInterrupt.
    return subprocess.Popen([sys.executable, "-m", "rpc_fulfillment", "import", str(path), "--no-progress", *options],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for_orders(live: Any, process: subprocess.Popen, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        count = live.value("SELECT count(*) FROM orders")
        if count:
            return count
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    process.kill()
    raise AssertionError("no order arrived")


def settled_count(live: Any) -> int:
    """The orders once the server has finished the requests it had in hand (a handler goes on
    after its client is gone)."""
    count, deadline = -1, time.monotonic() + 30
    while time.monotonic() < deadline:
        now = live.value("SELECT count(*) FROM orders")
        if now == count:
            return count
        count = now
        time.sleep(0.5)
    raise AssertionError("orders kept arriving")


@pytest.mark.parametrize("live_delay", [0.05])
@pytest.mark.parametrize("how", ["SIGINT", "SIGKILL"])
def test_interrupted_then_resumed(live, tmp_path, capsys, how):
    total = 300
    stock(live, "MUG", "CAP")
    path = tmp_path / "orders.csv"
    big_file(path, total)
    process = start_import(live, path, "--chunk-size", "10", "--concurrency", "2")
    wait_for_orders(live, process)
    process.send_signal(getattr(signal, how))
    out, err = process.communicate(timeout=30)
    before = settled_count(live)
    assert 0 < before < total, (before, out, err)
    if how == "SIGINT":
        assert process.returncode == 130, out + err
        first = summary(out)
        assert "interrupted: run the same command again to resume" in out
        assert first["failed"] == 0 and first["created"] + first["not sent"] == total
        # Chunks in flight when interrupted may have been committed without the answer read.
        assert first["created"] <= before
    else:
        assert process.returncode == -signal.SIGKILL
    code, out, err = run_import(live, path, "--chunk-size", "25", capsys=capsys)
    assert code == 0, out + err
    second = summary(out)
    assert second == {"created": total - before, "already present": before, "failed": 0}
    assert live.value("SELECT count(*) FROM orders") == total
    assert live.value("SELECT count(DISTINCT unique_id) FROM orders") == total
    assert live.value("SELECT sum(qty_ordered) FROM order_items") == sum(1 + n % 3 for n in range(total))


def test_cancelling_the_library_after_the_first_chunk(live, tmp_path):
    """The library functions: cancel after the first answer, then send everything again."""
    import asyncio

    from rpc_fulfillment import importer
    from rpc_fulfillment.client import AsyncClient

    stock(live, "MUG", "CAP")
    path = tmp_path / "orders.csv"
    big_file(path, 40)
    _, orders, _ = importer.read_orders(path)
    user = live.users["merchant"]

    async def first_run() -> importer.ImportReport:
        report = importer.ImportReport()
        async with AsyncClient(live.url, user.username, user.api_key) as client:
            task = asyncio.current_task()
            try:
                await importer.send_orders(client, orders, report, chunk_size=10, concurrency=1,
                                           on_progress=lambda n: task.cancel())
            except asyncio.CancelledError:
                pass
        return report

    report = asyncio.run(first_run())
    importer.tally(orders, report)
    assert (report.created, report.not_sent) == (10, 30)

    async def second_run() -> importer.ImportReport:
        again = importer.ImportReport()
        async with AsyncClient(live.url, user.username, user.api_key) as client:
            await importer.send_orders(client, orders, again, chunk_size=7, concurrency=3)
        return again

    again = asyncio.run(second_run())
    importer.tally(orders, again)
    assert (again.created, again.present, again.failed, again.not_sent) == (30, 10, 0, 0)
    assert live.value("SELECT count(*) FROM orders") == 40
