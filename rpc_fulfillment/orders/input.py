"""The arguments of order.create and order.edit, validated: items, address (the shipping
address's own rules: ``fulfillment/address.py``), info, flags.

Every problem is fault 102 with a message naming the field; a valid input becomes an
``OrderInput`` the services can write without checking anything again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    model_validator,
)

from rpc_fulfillment.core.faults import Fault
from rpc_fulfillment.core.lenient import Currency, Identifier, Money, Quantity, Int32, text_or_number
from rpc_fulfillment.core.validation import describe, nul_location
from rpc_fulfillment.fulfillment.address import known_address_keys, parse_address
from rpc_fulfillment.orders.fields import INFO_KEYS, ORDER_FIELDS
from rpc_fulfillment.core.validation import InputModel

INVALID = "order_invalid_data"
MAX_ITEMS = 1000
ON_TIME_METHOD = "cheapest_ON_TIME"
_RELATIVE_WINDOW = re.compile(r"^\s*-?\s*([0-9]+)\s*(second|minute|hour|day|week|month|year)s?\s*(ago)?\s*$", re.I)
_WINDOW_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400, "month": 30 * 86400, "year": 365 * 86400}


# ---------------------------------------------------------------------------------- items


class ItemInput(InputModel):
    sku: Identifier(64, min_length=1) | None = None
    barcode: Annotated[str, Field(min_length=1, max_length=255), BeforeValidator(text_or_number)] | None = None
    vendor_sku: Identifier(255, min_length=1) | None = None
    qty: Quantity
    order_item_ref: Identifier(255) | None = None
    unit_declared_value: Money | None = None
    unit_declared_value_currency: Currency | None = None
    unit_customs_value: Money | None = None
    unit_customs_value_currency: Currency | None = None
    inner_qty: Annotated[Int32, Field(gt=0)] | None = None
    outer_qty: Annotated[Int32, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _one_product_key(self) -> "ItemInput":
        if not (self.sku or self.barcode or self.vendor_sku):
            raise ValueError("needs a sku (or a barcode or vendor_sku)")
        return self

    @property
    def lookup(self) -> str:
        """The value to look the product up by: sku, then barcode, then vendor_sku."""
        return self.sku or self.barcode or self.vendor_sku  # type: ignore[return-value]


def parse_items(items: Any, max_items: int = MAX_ITEMS) -> list[ItemInput]:
    """The three shapes: {"SKU": qty}, [{"sku", "qty"}], [{"sku", "qty", "unit_declared_value"}];
    at most ``max_items`` lines (the server's max_order_items)."""
    if isinstance(items, dict):
        entries = [{"sku": sku, "qty": qty} for sku, qty in items.items()]
        labels = [f"items.{sku}" for sku in items]
    elif isinstance(items, list):
        entries, labels = items, [f"items[{index}]" for index in range(len(items))]
    else:
        raise Fault(INVALID, "items must be an object {\"SKU\": qty} or an array of {\"sku\", \"qty\"}")
    if not entries:
        raise Fault(INVALID, "items must not be empty")
    if len(entries) > max_items:
        raise Fault(INVALID, f"items: at most {max_items} items per order, got {len(entries)}")
    parsed, problems = [], []
    for label, entry in zip(labels, entries):
        if not isinstance(entry, dict):
            problems.append(f"{label}: must be an object with sku and qty")
            continue
        try:
            parsed.append(ItemInput.model_validate(entry))
        except ValidationError as error:
            problems.append(describe(error, label))
    if problems:
        raise Fault(INVALID, "; ".join(problems))
    return parsed


# ----------------------------------------------------------------------------------- info


def needs_delivery_date(shipping_method: str | None, desired_delivery_date: Any) -> bool:
    """The on-time method ships to arrive by a date, so it needs one."""
    return shipping_method == ON_TIME_METHOD and desired_delivery_date is None


class _InfoRules(InputModel):
    """The rules that tie info keys together; the keys themselves are the field table's."""

    @model_validator(mode="after")
    def _combinations(self, validation: ValidationInfo) -> "_InfoRules":
        if validation.context and validation.context.get("partial"):
            # order.edit: the other half of a pair may be on the order already; the service
            # checks the merged values.
            return self
        if self.hold_indefinitely and self.delayed_ship_date is not None:
            raise ValueError("hold_indefinitely cannot be used together with delayed_ship_date")
        if needs_delivery_date(self.shipping_method, self.desired_delivery_date):
            raise ValueError(f"desired_delivery_date is required for shipping method {ON_TIME_METHOD}")
        return self


InfoInput = create_model("InfoInput", __base__=_InfoRules, __module__=__name__, **ORDER_FIELDS.model_fields(INFO_KEYS))


def parse_info(info: Any, *, partial: bool = False) -> InfoInput:
    """``partial`` (order.edit): some fields of an existing order, so the rules that tie two
    fields together are left to the caller, who knows the order's other values."""
    if info is None or info == []:  # [] is PHP's empty array
        info = {}
    if not isinstance(info, dict):
        raise Fault(INVALID, "info must be an object")
    try:
        return InfoInput.model_validate(info, context={"partial": partial})
    except ValidationError as error:
        raise Fault(INVALID, describe(error, "info")) from None


def check_declared_values(service: bool | None, declared_value: Decimal | None, per_item: bool) -> None:
    """Declared value goes either on the order or on the items, and only with the service.
    ``per_item``: some item carries a unit_declared_value. order.create and order.edit (with
    the order's merged values) both ask here."""
    if declared_value is not None and not service:
        raise Fault(INVALID, "info.declared_value: requires declared_value_service: true")
    if per_item and not service:
        raise Fault(INVALID, "items: unit_declared_value requires info.declared_value_service: true")
    if per_item and declared_value is not None:
        raise Fault(INVALID, "info.declared_value: give declared_value or per-item unit_declared_value, not both")
    if service and not per_item and declared_value is None:
        raise Fault(INVALID, "info.declared_value: required with declared_value_service unless items carry unit_declared_value")


# ---------------------------------------------------------------------------------- flags


def parse_unique_order_ref(value: Any) -> timedelta | None | Literal[True]:
    """``true`` (unique forever), ``false``/absent (not unique), or a window such as "-3 days"."""
    if value is None or value is False:
        return None
    if value is True:
        return True
    if isinstance(value, str):
        match = _RELATIVE_WINDOW.match(value)
        if match:
            return timedelta(seconds=int(match.group(1)) * _WINDOW_UNITS[match.group(2).lower()])
    raise Fault(INVALID, f"flags.unique_order_ref: must be true, false or a window such as \"-3 days\", got {value!r}")


def parse_flags(flags: Any) -> timedelta | None | Literal[True]:
    if flags is None or flags == []:
        return None
    if not isinstance(flags, dict):
        raise Fault(INVALID, "flags must be an object")
    unknown = sorted(set(flags) - {"unique_order_ref"})
    if unknown:
        raise Fault(INVALID, "; ".join(f"flags.{key}: unknown key" for key in unknown))
    return parse_unique_order_ref(flags.get("unique_order_ref"))


# ------------------------------------------------------------------------------ the whole


@dataclass(frozen=True)
class OrderInput:
    store_code: str | None
    items: list[ItemInput]
    address: dict[str, Any]
    info: InfoInput
    unique_order_ref: timedelta | None | Literal[True]


def parse_order(
    store_code: Any, items: Any, address: Any, info: Any, flags: Any, *, max_items: int = MAX_ITEMS
) -> OrderInput:
    """Validate order.create's arguments, reporting the first argument that is wrong."""
    arguments = (("storeCode", store_code), ("items", items), ("address", known_address_keys(address)), ("info", info),
                 ("flags", flags))
    for name, value in arguments:
        # Refused here, naming the field, rather than by PostgreSQL at the write: one such
        # order must not take a whole order.bulk_create down with it.
        if (where := nul_location(value, name)) is not None:
            raise Fault(INVALID, f"{where}: text may not contain the NUL character (\\u0000)")
    if store_code is not None and not isinstance(store_code, str):
        raise Fault(INVALID, f"storeCode must be a string or null, got {store_code!r}")
    if store_code == "":  # PHP clients send "" for "not specified": the default store
        store_code = None
    parsed_items = parse_items(items, max_items)
    parsed_address = parse_address(address)
    parsed_info = parse_info(info)
    for name in ORDER_FIELDS.required():
        if getattr(parsed_info, name) is None:
            raise Fault(INVALID, f"info.{name}: is required")
    per_item = any(item.unit_declared_value is not None for item in parsed_items)
    check_declared_values(parsed_info.declared_value_service, parsed_info.declared_value, per_item)
    return OrderInput(store_code, parsed_items, parsed_address, parsed_info, parse_flags(flags))
