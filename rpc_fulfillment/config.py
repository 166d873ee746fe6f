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


# Environment variable for each setting; DATABASE_URL keeps its conventional name.
ENVIRONMENT = {
    "host": "RPCF_HOST",
    "port": "RPCF_PORT",
    "database_url": "DATABASE_URL",
    "data_dir": "RPCF_DATA_DIR",
    "workers": "RPCF_WORKERS",
    "session_lifetime": "RPCF_SESSION_LIFETIME",
    "max_body_bytes": "RPCF_MAX_BODY_BYTES",
    "max_batch": "RPCF_MAX_BATCH",
    "max_bulk_orders": "RPCF_MAX_BULK_ORDERS",
    "max_depth": "RPCF_MAX_DEPTH",
    "db_pool_size": "RPCF_DB_POOL_SIZE",
    "log_level": "RPCF_LOG_LEVEL",
    "scheduler_interval": "RPCF_SCHEDULER_INTERVAL",
    "auto_fulfill": "RPCF_AUTO_FULFILL",
    "auto_fulfill_delay": "RPCF_AUTO_FULFILL_DELAY",
    "webhook_delivery": "RPCF_WEBHOOK_DELIVERY",
    "webhook_concurrency": "RPCF_WEBHOOK_CONCURRENCY",
    "webhook_interval": "RPCF_WEBHOOK_INTERVAL",
    "webhook_timeout": "RPCF_WEBHOOK_TIMEOUT",
    "webhook_retry_schedule": "RPCF_WEBHOOK_RETRY_SCHEDULE",
}


class SettingsError(ValueError):
    pass


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _convert(name: str, kind: type, raw: Any) -> Any:
    """``raw`` (a flag's value, already typed, or an environment string) as ``kind``, checked
    the same way whichever it came from."""
    if raw is None:
        return raw
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
        from rpc_fulfillment.domain.webhooks import parse_retry_schedule

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
