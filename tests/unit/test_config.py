"""Settings: flags over environment over defaults, and clear errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from rpc_fulfillment.config import ENVIRONMENT, Settings, SettingsError, load_settings


def test_defaults():
    settings = load_settings({}, {})
    assert settings == Settings()
    assert (settings.host, settings.port, settings.database_url) == ("127.0.0.1", 8080, None)
    assert settings.session_lifetime == 86400 and settings.max_batch == 100 and settings.max_depth == 64
    assert settings.max_body_bytes == 16 * 1024 * 1024


def test_environment_over_defaults():
    settings = load_settings({}, {"RPCF_PORT": "9000", "DATABASE_URL": "postgresql://db/x", "RPCF_DATA_DIR": "/tmp/d",
                                  "RPCF_HOST": "0.0.0.0", "RPCF_LOG_LEVEL": "debug"})
    assert settings.port == 9000
    assert settings.database_url == "postgresql://db/x"
    assert settings.data_dir == Path("/tmp/d")
    assert settings.host == "0.0.0.0"
    assert settings.log_level == "DEBUG"


def test_flags_over_environment():
    environ = {"RPCF_PORT": "9000", "DATABASE_URL": "postgresql://env/x", "RPCF_MAX_BATCH": "5"}
    settings = load_settings({"port": 9100, "database_url": "postgresql://flag/x"}, environ)
    assert settings.port == 9100
    assert settings.database_url == "postgresql://flag/x"
    assert settings.max_batch == 5  # no flag given: the environment still counts


def test_data_dir_is_a_path_from_flag_or_environment():
    assert load_settings({}, {"RPCF_DATA_DIR": "~/d"}).data_dir == Path("~/d")
    assert isinstance(load_settings({}, {"RPCF_DATA_DIR": "d"}).data_dir, Path)
    assert load_settings({"data_dir": Path("/x")}, {"RPCF_DATA_DIR": "d"}).data_dir == Path("/x")
    assert load_settings({"data_dir": "/y"}, {}).data_dir == Path("/y")


def test_absent_flags_do_not_override():
    settings = load_settings({"port": None, "max_batch": None}, {"RPCF_PORT": "9000"})
    assert settings.port == 9000 and settings.max_batch == 100


def test_empty_environment_variable_means_unset():
    assert load_settings({}, {"RPCF_PORT": "", "DATABASE_URL": ""}) == Settings()


def test_every_setting_has_an_environment_variable():
    assert set(ENVIRONMENT) == {field for field in Settings.__dataclass_fields__}


def test_reads_os_environ_by_default(monkeypatch):
    monkeypatch.setenv("RPCF_MAX_DEPTH", "12")
    assert load_settings().max_depth == 12


@pytest.mark.parametrize(
    "name, raw, message",
    [
        ("RPCF_PORT", "abc", "port must be a whole number, got 'abc'"),
        ("RPCF_PORT", "80.5", "port must be a whole number, got '80.5'"),
        ("RPCF_PORT", "0", "port must be positive, got 0"),
        ("RPCF_PORT", "70000", "port must be at most 65535, got 70000"),
        ("RPCF_MAX_BATCH", "-1", "max_batch must be positive, got -1"),
        ("RPCF_SESSION_LIFETIME", "1d", "session_lifetime must be a whole number, got '1d'"),
        ("RPCF_LOG_LEVEL", "loud", "log_level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'loud'"),
    ],
)
def test_bad_environment_values(name, raw, message):
    with pytest.raises(SettingsError) as error:
        load_settings({}, {name: raw})
    assert str(error.value) == message


@pytest.mark.parametrize(
    "name, value",
    [("port", -5), ("port", 0), ("workers", 0), ("max_batch", 0), ("max_depth", -1), ("db_pool_size", 0),
     ("session_lifetime", -10), ("port", True), ("max_batch", 2.5), ("port", 65536), ("log_level", "verbose")],
    ids=repr,
)
def test_bad_flag_values_are_checked_like_environment_values(name, value):
    # Flags arrive already typed (argparse type=int); they are checked all the same.
    with pytest.raises(SettingsError) as error:
        load_settings({name: value}, {})
    assert name in str(error.value)


def test_settings_error_is_a_value_error():
    assert issubclass(SettingsError, ValueError)
