"""The types order input is checked against that are the order's own (its identifiers, dates,
shipping method, instructions); the generic lenient ones are ``core/lenient.py``'s."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from rpc_fulfillment.core.filters import MomentOutOfRange, parse_datetime
from rpc_fulfillment.core.lenient import Text
from rpc_fulfillment.core.validation import InputModel

_SHIPPING_METHOD = re.compile(r"^[a-z][a-z0-9]*_[A-Za-z0-9][A-Za-z0-9_\-]*$")


def _method_shape(value: str) -> str:
    if not _SHIPPING_METHOD.match(value):
        raise ValueError(f"'{value}' is not a shipping method of the form carrier_service, such as ups_03")
    return value


ShippingMethod = Annotated[str, Field(max_length=128), AfterValidator(_method_shape)]


def carrier_of(shipping_method: str) -> str:
    """ups_03 -> ups."""
    return shipping_method.split("_", 1)[0]


def _ship_date(value: Any) -> Any:
    """delayed_ship_date: YYYY-MM-DD, YYYY-MM-DDThh:mm:ss, or with Z/offset; UTC when bare."""
    if not isinstance(value, str) or not re.match(r"\s*[0-9]{4}-[0-9]{2}-[0-9]{2}(\s*$|[T ])", value):
        raise ValueError("must be YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[Z]")
    try:
        return parse_datetime(value)
    except MomentOutOfRange:
        raise
    except ValueError:
        raise ValueError("must be YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[Z]") from None


ShipMoment = Annotated[datetime, BeforeValidator(_ship_date)]


def _iso_day(value: Any) -> Any:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value.strip()):
        raise ValueError("must be a date YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(_iso_day)]


def _base64(value: str) -> str:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("file_content must be base64") from None
    return value


class FileRequest(InputModel):
    url: Annotated[str, Field(pattern=r"^https?://", max_length=2048)]
    auth: Annotated[list[str], Field(min_length=2, max_length=2)] | None = None
    headers: dict[str, str] | None = None


class InstructionInput(InputModel):
    note: Annotated[str, Field(min_length=1, max_length=1024)]
    file_name: Text | None = None
    file_content: Annotated[str, AfterValidator(_base64)] | None = None
    file_request: FileRequest | None = None
    presentation: Literal["once_per_order", "once_per_shipment", "once_per_package"] | None = None
    print_target: Literal["LABEL", "SMALL_LABEL", "LASER"] | None = None
