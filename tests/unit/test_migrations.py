"""The numbered migration files: how load_migrations reads and checks them."""

from __future__ import annotations

from pathlib import Path

import pytest

from rpc_fulfillment.db.migrate import load_migrations


def _directory(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def test_the_shipped_migrations():
    migrations = load_migrations()
    assert [migration.version for migration in migrations] == list(range(1, len(migrations) + 1))
    assert migrations[0].title == "merchants, stores, warehouses, API users and sessions"
    assert "CREATE TABLE merchants" in migrations[0].sql and "CREATE TABLE sessions" in migrations[0].sql
    assert all(migration.title and migration.sql.strip() for migration in migrations)


def test_files_become_migrations_in_order(tmp_path):
    directory = _directory(tmp_path, {
        "0002_second.sql": "-- second thing\nCREATE TABLE b ();\n",
        "0001_first.sql": "-- first\nCREATE TABLE a ();\n",
        "notes.txt": "not a migration",
    })
    migrations = load_migrations(directory)
    assert [(m.version, m.title) for m in migrations] == [(1, "first"), (2, "second thing")]
    assert migrations[0].sql == "CREATE TABLE a ();\n"
    assert migrations[1].sql == "CREATE TABLE b ();\n"


@pytest.mark.parametrize(
    "names, found",
    [
        (["0002_x.sql"], "[2]"),
        (["0001_x.sql", "0003_y.sql"], "[1, 3]"),
        (["0001_x.sql", "0001_y.sql"], "[1, 1]"),
        (["0000_x.sql"], "[0]"),
    ],
)
def test_migrations_must_be_numbered_one_to_n(tmp_path, names, found):
    directory = _directory(tmp_path, {name: "-- x\nSELECT 1;\n" for name in names})
    with pytest.raises(RuntimeError, match="without gaps") as error:
        load_migrations(directory)
    assert found in str(error.value)


def test_a_directory_without_migrations_is_refused(tmp_path):
    with pytest.raises(RuntimeError, match="no migrations"):
        load_migrations(_directory(tmp_path, {"README.txt": "-- x\nSELECT 1;\n"}))


@pytest.mark.parametrize("name", ["1_x.sql", "00001_x.sql", "0001-x.sql", "0001_X.sql", "0001.sql", "step_0001.sql"])
def test_a_misnamed_file_is_refused(tmp_path, name):
    with pytest.raises(RuntimeError, match="NNNN_slug.sql") as error:
        load_migrations(_directory(tmp_path, {name: "-- x\nSELECT 1;\n"}))
    assert name in str(error.value)


@pytest.mark.parametrize("text", ["CREATE TABLE lost ();\n", "--no space\nSELECT 1;\n", "\n-- x\nSELECT 1;\n", ""])
def test_the_first_line_must_be_the_title(tmp_path, text):
    with pytest.raises(RuntimeError, match="first line must be its title"):
        load_migrations(_directory(tmp_path, {"0001_x.sql": text}))


@pytest.mark.parametrize("text", ["-- x\n", "-- x\n\n   \n", "-- x"])
def test_a_migration_without_sql_is_refused(tmp_path, text):
    with pytest.raises(RuntimeError, match="has no SQL"):
        load_migrations(_directory(tmp_path, {"0001_x.sql": text}))
