"""Settings, read from command-line flags first, then the environment, then defaults."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Mapping


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    database_url: str | None = None
    data_dir: Path = Path("rpcf-data")
    workers: int = 1
    session_lifetime: int = 24 * 3600
    max_body_bytes: int = 16 * 1024 * 1024
    max_batch: int = 100
    max_bulk_orders: int = 1000
    max_depth: int = 64
    # Limits per API user, shared by all processes (ShipStream's: 10 requests/s in bursts of
    # 60, 5 at once); 0 turns a limit off. A user's own limits (`user limits`) win.
    rate_limit: float = 10.0
    rate_burst: int = 60
    concurrency_limit: int = 5
    # Active API keys (API users) per merchant, checked by `user create`.
    max_api_keys: int = 6
    # Failed logins: free ones per username within the window (seconds), then a wait of 1, 2,
    # 4... seconds, at most login_max_delay, before each attempt's key is checked.
    login_max_failures: int = 5
    login_failure_window: float = 900.0
    login_max_delay: float = 10.0
    # Longest string anywhere in a request (characters), and in a `file_content` (base64).
    max_string_length: int = 65536
    max_file_content_length: int = 10 * 1024 * 1024
    max_order_items: int = 1000
    # Seconds a stopping server waits for requests in flight before it cancels them.
    shutdown_timeout: float = 30.0
    db_pool_size: int = 10
    log_level: str = "INFO"
    # How often (seconds) each process looks for delayed shipments whose date has come.
    scheduler_interval: float = 10.0
    # Sandbox: a background worker takes orders through shipment create, pack, ship and deliver.
    auto_fulfill: bool = False
    # Seconds between those steps (and after an order's last change).
    auto_fulfill_delay: float = 5.0
    # Webhooks: run the delivery worker in each server process (off when separate
    # `rpc-fulfillment worker` processes deliver); its slots (each a database connection and up
    # to 20 deliveries in flight); seconds between looks for due deliveries when no NOTIFY
    # arrives; the HTTP timeout (ShipStream: 5 s, 3 s to connect); the retry delays in seconds.
    webhook_delivery: bool = True
    webhook_concurrency: int = 2
    webhook_interval: float = 10.0
    webhook_timeout: float = 5.0
    webhook_retry_schedule: str = "60,120,240,480,900,1800,3600,7200,14400,28800,57600,86400,86400,86400"
    # Whether webhooks may target loopback, private (RFC 1918, fc00::/7), link-local (cloud
    # metadata), multicast, reserved... addresses. On by default so that the quick start and
    # local receivers work; a multi-tenant deployment must turn it off (README: Configuration,
    # SECURITY.md): then webhook.create refuses such literal URLs and the worker refuses every
    # name that resolves to such an address.
    webhook_allow_private: bool = True
    # Days delivered and failed webhook deliveries (with their attempts), and events no
    # pending delivery needs, are kept; 0 keeps them forever. Pruned by every server
    # process's housekeeping loop (every 10 minutes), one process at a time.
    webhook_retention_days: int = 30


# Environment variable for each setting; DATABASE_URL keeps its conventional name.
ENVIRONMENT = {
    setting.name: "DATABASE_URL" if setting.name == "database_url" else f"RPCF_{setting.name.upper()}"
    for setting in fields(Settings)
}


class SettingsError(ValueError):
    pass


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


# Limits that 0 (or "off") turns off.
ZERO_MEANS_OFF = frozenset({"rate_limit", "concurrency_limit", "webhook_retention_days"})


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
    for field in fields(Settings):
        kind = type(getattr(defaults, field.name)) if getattr(defaults, field.name) is not None else str
        raw = overrides.get(field.name, environ.get(ENVIRONMENT[field.name]) or None)
        if raw is not None:
            values[field.name] = _convert(field.name, kind, raw)
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
