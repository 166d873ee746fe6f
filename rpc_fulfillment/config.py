"""Settings, read from command-line flags first, then the environment, then defaults."""

from __future__ import annotations

import math
import os
from dataclasses import Field, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping


# The commands a setting is a flag of (cli.py adds the flags); EVERY_COMMAND: all that open the
# database.
EVERY_COMMAND, SERVE, WORKER, USER_CREATE = "*", "serve", "worker", "user create"


def setting(default: Any, help: str, *commands: str, shown: str | None = None, zero_means_off: bool = False) -> Any:
    """A setting declared once: its default, its flag's help, the commands that take the flag,
    the default as --help shows it when not the value itself, and whether 0 (or "off") turns
    it off. Its flag (--name-with-dashes), type and environment variable are derived."""
    return field(default=default, metadata={
        "help": help, "commands": commands, "shown": shown, "zero_means_off": zero_means_off,
    })


@dataclass(frozen=True)
class Settings:
    database_url: str | None = setting(
        None, "PostgreSQL URL; without it an embedded PostgreSQL is used", EVERY_COMMAND, shown="none")
    data_dir: Path = setting(Path("rpcf-data"), "embedded database directory", EVERY_COMMAND, shown="./rpcf-data")
    host: str = setting("127.0.0.1", "address to listen on", SERVE)
    port: int = setting(8080, "port", SERVE)
    workers: int = setting(1, "server processes sharing the port", SERVE)
    session_lifetime: int = setting(24 * 3600, "session lifetime in seconds", SERVE)
    max_body_bytes: int = setting(16 * 1024 * 1024, "largest request body", SERVE, shown="16 MiB")
    max_batch: int = setting(100, "largest JSON-RPC batch or multiCall", SERVE)
    max_bulk_orders: int = setting(1000, "most orders in one order.bulk_create", SERVE)
    max_depth: int = setting(64, "deepest JSON nesting", SERVE)
    # ShipStream's limits per API user (10 requests/s in bursts of 60, 5 at once), shared by all
    # processes; a user's own limits (`user limits`) win.
    rate_limit: float = setting(
        10.0, "requests per second per API user, in every process together; 0 or off: none", SERVE,
        zero_means_off=True)
    rate_burst: int = setting(60, "requests an API user may make at once before the rate applies", SERVE)
    concurrency_limit: int = setting(
        5, "requests of one API user running at once; 0 or off: none", SERVE, zero_means_off=True)
    # Failed logins per (username, source address): beyond the free ones every wrong attempt of
    # the pair is answered 1, 2, 4... seconds late; a right key is never delayed.
    login_max_failures: int = setting(
        5, "failed logins per username and source address before each wrong attempt waits", SERVE)
    login_failure_window: float = setting(900.0, "seconds failed logins are counted for", SERVE)
    login_max_delay: float = setting(10.0, "longest wait of a wrong login attempt after failures", SERVE)
    login_max_waiting: int = setting(
        4, "attempts of one username from one address answered at once (per process) after failed "
           "logins; more are refused unchecked; 0 or off: no cap", SERVE, zero_means_off=True)
    max_string_length: int = setting(65536, "longest string in a request, in characters", SERVE)
    max_file_content_length: int = setting(
        10 * 1024 * 1024, "longest file_content (base64) of an order instruction", SERVE)
    max_order_items: int = setting(1000, "most item lines in one order", SERVE)
    shutdown_timeout: float = setting(30.0, "seconds a stopping server gives requests in flight", SERVE)
    db_pool_size: int = setting(10, "database connections per process", SERVE)
    # So that one merchant's calls cannot take the whole pool (db/shares.py, jsonrpc/lease.py).
    merchant_pool_share: float = setting(
        0.5, "share of --db-pool-size one merchant's calls may hold at once in a process (at least one "
        "connection; the others wait holding none); 0 or off: no cap", SERVE, zero_means_off=True)
    request_timeout: float = setting(
        30.0, "seconds one HTTP request (a batch or multiCall included) may run; calls still running then are "
        "stopped and answered with fault 8, what they had not committed rolled back; 0 or off: no limit", SERVE,
        zero_means_off=True)
    log_level: str = setting("INFO", "DEBUG, INFO, WARNING...", SERVE, WORKER)
    scheduler_interval: float = setting(10.0, "seconds between looks for due scheduled holds", SERVE)
    auto_fulfill: bool = setting(False, "sandbox: ship and deliver orders automatically", SERVE)
    auto_fulfill_delay: float = setting(5.0, "sandbox: seconds between the automatic steps", SERVE)
    # Off when separate `rpc-fulfillment worker` processes deliver (its own flag:
    # --no-webhook-delivery).
    webhook_delivery: bool = setting(True, "deliver webhooks in the server processes")
    webhook_concurrency: int = setting(
        2, "webhook deliveries in flight per process, in twenties (2: up to 40 at once)", SERVE, WORKER)
    # Below one process's 20 x webhook_concurrency, so that other merchants always find room.
    webhook_merchant_in_flight: int = setting(
        20, "webhook deliveries of one merchant (and of one webhook) in flight at once in the whole installation",
        SERVE, WORKER)
    webhook_interval: float = setting(
        10.0, "seconds between looks for due webhook deliveries when no notification arrives", SERVE, WORKER)
    webhook_timeout: float = setting(
        5.0, "seconds a receiver has to answer", SERVE, WORKER, shown="5; at most 3 of them to connect")
    webhook_retry_schedule: str = setting(
        "60,120,240,480,900,1800,3600,7200,14400,28800,57600,86400,86400,86400",
        "comma-separated delays in seconds before each retry, or none", SERVE, WORKER,
        shown="ShipStream's 60,120,240,...,86400: 14 retries")
    # Off by default (README: Configuration, SECURITY.md): webhook.create refuses such literal
    # URLs and the worker refuses every name that resolves to such an address. The tests, the
    # benchmarks and a sandbox whose receiver runs on the same machine turn it on.
    webhook_allow_private: bool = setting(
        False, "let webhooks target loopback, private, link-local (cloud metadata) or reserved addresses, for "
        "receivers on this machine or network; only when every merchant is trusted", SERVE, WORKER, shown="off")
    # Pruned by every server process's housekeeping loop (every 10 minutes), one process at a time.
    webhook_retention_days: int = setting(
        30, "days delivered and failed webhook deliveries, and events no pending delivery needs, are kept; "
        "0 or off: forever", SERVE, zero_means_off=True)
    max_api_keys: int = setting(6, "active API keys a merchant may have", USER_CREATE)


# Environment variable for each setting; DATABASE_URL keeps its conventional name.
ENVIRONMENT = {
    setting.name: "DATABASE_URL" if setting.name == "database_url" else f"RPCF_{setting.name.upper()}"
    for setting in fields(Settings)
}


class SettingsError(ValueError):
    pass


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


ZERO_MEANS_OFF = frozenset(setting.name for setting in fields(Settings) if setting.metadata["zero_means_off"])


def settings_of(command: str) -> list[Field]:
    """The settings that ``command`` takes as flags, in declaration order."""
    return [setting for setting in fields(Settings) if {EVERY_COMMAND, command} & set(setting.metadata["commands"])]


def _limit(name: str, kind: type, raw: Any) -> Any:
    if isinstance(raw, str) and raw.strip().lower() in ("off", "none", "0"):
        return kind(0)
    if isinstance(raw, bool):
        raise SettingsError(f"{name} must be a number (0 or off: no limit), got {raw!r}")
    try:
        number = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number (0 or off: no limit), got {raw!r}") from None
    if not 0 <= number < math.inf or (kind is int and not number.is_integer()):
        what = "a whole number" if kind is int else "a number"
        raise SettingsError(f"{name} must be {what} >= 0 (0 or off: no limit), got {raw!r}")
    return kind(number)


def _convert(name: str, kind: type, raw: Any) -> Any:
    """``raw`` (a flag's value, already typed, or an environment string) as ``kind``, checked
    the same way whichever it came from."""
    if raw is None:
        return raw
    if name in ZERO_MEANS_OFF:
        return _limit(name, kind, raw)
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text not in _TRUE | _FALSE:
            raise SettingsError(f"{name} must be true or false, got {raw!r}")
        return text in _TRUE
    if kind is float:
        try:
            number = float(raw) if not isinstance(raw, bool) else math.nan
        except ValueError:
            raise SettingsError(f"{name} must be a number, got {raw!r}") from None
        if not 0 < number < math.inf:
            raise SettingsError(f"{name} must be a positive number, got {raw!r}")
        return number
    if kind is int:
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise SettingsError(f"{name} must be a whole number, got {raw!r}")
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
        if value <= 0:
            raise SettingsError(f"{name} must be positive, got {value}")
        if name == "port" and value > 65535:
            raise SettingsError(f"port must be at most 65535, got {value}")
        return value
    if issubclass(kind, Path):  # the default's type is PosixPath or WindowsPath
        return Path(raw)
    if name == "log_level":
        level = str(raw).strip().upper()
        if level not in _LOG_LEVELS:
            raise SettingsError(f"log_level must be one of {', '.join(_LOG_LEVELS)}, got {raw!r}")
        return level
    if name == "webhook_retry_schedule":
        try:
            parse_retry_schedule(str(raw))
        except ValueError as exc:
            raise SettingsError(f"webhook_retry_schedule: {exc}") from None
        return str(raw).strip()
    return str(raw)


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build settings: explicit overrides (flags) win over the environment, which wins over defaults."""
    environ = os.environ if environ is None else environ
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    defaults = Settings()
    values: dict[str, Any] = {}
    for name in ENVIRONMENT:
        kind = type(getattr(defaults, name)) if getattr(defaults, name) is not None else str
        raw = overrides.get(name, environ.get(ENVIRONMENT[name]) or None)
        if raw is not None:
            values[name] = _convert(name, kind, raw)
    return replace(defaults, **values)


def parse_retry_schedule(text: str) -> tuple[float, ...]:
    """Comma-separated delays in seconds before each retry ("60,120,240"); "none" for no
    retries. Raises ValueError with a sentence."""
    if text.strip().lower() in ("none", "0"):
        return ()
    delays = []
    for item in text.split(","):
        try:
            delay = float(item.strip())
        except ValueError:
            raise ValueError(f"retry schedule: {item.strip()!r} is not a number of seconds") from None
        if not 0 < delay < math.inf:
            raise ValueError(f"retry schedule: {item.strip()!r} must be a positive number of seconds")
        delays.append(delay)
    if len(delays) > 100:
        raise ValueError("retry schedule: at most 100 retries")
    return tuple(delays)
