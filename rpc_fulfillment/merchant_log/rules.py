"""log.write's log data (ShipStream log.md): checks. Pure Python, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rpc_fulfillment.core.faults import Fault
from rpc_fulfillment.core.lenient import text_or_number, whole_number

INVALID = "log_invalid_data"
SEVERITIES = ("debug", "info", "warn", "error")
DEFAULT_SEVERITY = "info"
# The longest text of each property: log.md's limits (facility 32, message 255, detail 2048);
# entity is ours (an order or shipment id, a SKU).
TEXT_LIMITS = {"facility": 32, "entity": 255, "message": 255, "detail": 2048}
KEYS = ("store_id", "severity", *TEXT_LIMITS)
KEEP_PER_MERCHANT = 10_000  # log.write keeps a merchant's newest entries, deleting the older ones


def invalid(detail: str) -> Fault:
    return Fault(INVALID, f"Invalid data given: {detail}")


@dataclass(frozen=True)
class LogEntry:
    store_id: int | None
    severity: str
    facility: str | None
    entity: str | None
    message: str
    detail: str | None


def _text(data: dict[str, Any], name: str) -> str | None:
    value = text_or_number(data.get(name))
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(f"logData.{name}: must be a string")
    if len(value) > TEXT_LIMITS[name]:
        raise invalid(f"logData.{name}: at most {TEXT_LIMITS[name]} characters, got {len(value)}")
    if "\x00" in value:
        raise invalid(f"logData.{name}: must not contain a NUL character")
    return value


def parse_log_data(data: Any) -> LogEntry:
    """The log data: ``message`` is required; ``severity`` is one of SEVERITIES (default info);
    ``store_id`` names one of the merchant's stores (checked by the caller); unknown keys are refused."""
    if not isinstance(data, dict):
        raise invalid("logData: must be an object such as {\"severity\": \"info\", \"message\": \"...\"}")
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise invalid("; ".join(f"logData.{key}: unknown property" for key in unknown))
    message = _text(data, "message")
    if not message:
        raise invalid("logData.message: is required")
    severity = data.get("severity")
    if severity is None:
        severity = DEFAULT_SEVERITY
    if severity not in SEVERITIES:
        raise invalid(f"logData.severity: must be one of {', '.join(SEVERITIES)}, got {str(severity)[:40]!r}")
    store_id = data.get("store_id")
    store_number = None if store_id is None else whole_number(store_id)
    if store_id is not None and (store_number is None or not 1 <= store_number < 2**63):
        raise invalid(f"logData.store_id: must be a store id (a positive whole number), got {str(store_id)[:40]!r}")
    return LogEntry(store_number, severity, _text(data, "facility"), _text(data, "entity"), message, _text(data, "detail"))
