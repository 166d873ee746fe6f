"""schema.sql's numbered steps: how load_steps splits and checks them."""

from __future__ import annotations

import pytest

from rpc_fulfillment.db.migrate import load_steps


def test_the_shipped_schema():
    steps = load_steps()
    assert [step.version for step in steps] == list(range(1, len(steps) + 1))
    assert steps[0].title == "merchants, stores, warehouses, API users and sessions"
    assert "CREATE TABLE merchants" in steps[0].sql and "CREATE TABLE sessions" in steps[0].sql
    assert all(step.title and step.sql.strip() for step in steps)


def test_split_into_steps():
    text = "-- a comment\n\n-- step 1: first\nCREATE TABLE a ();\n-- step 2: second thing\nCREATE TABLE b ();\n"
    steps = load_steps(text)
    assert [(s.version, s.title) for s in steps] == [(1, "first"), (2, "second thing")]
    assert steps[0].sql.strip() == "CREATE TABLE a ();"
    assert steps[1].sql.strip() == "CREATE TABLE b ();"


@pytest.mark.parametrize(
    "text, found",
    [
        ("-- step 2: x\nSELECT 1;\n", "[2]"),
        ("-- step 1: x\nSELECT 1;\n-- step 3: y\nSELECT 1;\n", "[1, 3]"),
        ("-- step 2: x\nSELECT 1;\n-- step 1: y\nSELECT 1;\n", "[2, 1]"),
        ("-- step 1: x\nSELECT 1;\n-- step 1: y\nSELECT 1;\n", "[1, 1]"),
        ("-- step 0: x\nSELECT 1;\n", "[0]"),
    ],
)
def test_steps_must_be_numbered_one_to_n(text, found):
    with pytest.raises(RuntimeError) as error:
        load_steps(text)
    assert found in str(error.value)


@pytest.mark.parametrize("text", ["", "CREATE TABLE a ();\n", "-- step one: x\nSELECT 1;\n", "-- Step 1: x\n"])
def test_a_schema_without_steps_is_refused(text):
    with pytest.raises(RuntimeError, match="no steps"):
        load_steps(text)


def test_sql_before_the_first_step_is_refused():
    with pytest.raises(RuntimeError, match="before '-- step 1:'"):
        load_steps("CREATE TABLE lost ();\n-- step 1: x\nSELECT 1;\n")
    # Comments and blank lines before it are fine.
    assert len(load_steps("-- header\n\n   -- indented comment\n-- step 1: x\nSELECT 1;\n")) == 1
