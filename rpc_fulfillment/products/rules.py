"""Products: validating ``product.create`` / ``product.update`` data, and the product's wire shape.

Pure Python: no I/O. ``parse_product_data`` turns the API's ``data`` object into a
``ProductChanges`` (the columns of ``products`` and the keys of its ``attributes`` jsonb that the
call sets) or raises fault 102 naming every offending field. ``product_view`` turns a stored
row into what ``product.info`` answers (and what product events carry).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Callable, Mapping

from pydantic import BaseModel, ConfigDict, PlainValidator, ValidationError
from pydantic_core import PydanticCustomError

from rpc_fulfillment.core import formats
from rpc_fulfillment.core.faults import Fault
from rpc_fulfillment.core.lenient import NOT_A_NUMBER, check_identifier, number_text, text_or_number, whole_number
from rpc_fulfillment.core.filters import Kind
from rpc_fulfillment.core.units import WEIGHT_UNITS
from rpc_fulfillment.core.validation import COUNTRIES, CURRENCIES

SKU_MAX = 64
NAME_MAX = 255
TEXT_MAX = 255
DESCRIPTION_MAX = 1024
BARCODE_MAX = 128
BARCODES_MAX = 100
LIST_MAX = 100
MEASURE_MAX = Decimal("99999999.9999")  # numeric(12, 4)
FOUR_PLACES = Decimal("0.0001")

DIMENSION_UNITS = ("in", "cm", "mm")
GOODS_TYPES = ("NORMAL", "ORM_D", "HAZMAT", "LIMITED_QUANTITIES_COMMODITIES")
FREIGHT_CLASSES = (
    "50", "55", "60", "65", "70", "77.5", "85", "92.5", "100", "110", "125", "150", "175", "200", "250", "300",
    "400", "500",
)
STATUS_ENABLED, STATUS_DISABLED = 1, 2
_STATUS_WORDS = {"enabled": STATUS_ENABLED, "disabled": STATUS_DISABLED}
VISIBILITY_NOT_VISIBLE = 1

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HTS_EXTENSION = re.compile(r"^[0-9A-Za-z.]{1,20}$")


def _error(message: str) -> PydanticCustomError:
    return PydanticCustomError("product_field", message)


# Field validators. Each takes the raw JSON value (None when the key is given as null) and
# returns the stored value, or raises with a sentence that says what is wrong.


def _not_null(value: Any) -> None:
    if value is None:
        raise _error("may not be null")


def _text(value: Any, maximum: int, *, allow_int: bool = False) -> str:
    if allow_int and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise _error(f"must be a string, not {_kind(value)}")
    if len(value) > maximum:
        raise _error(f"must be at most {maximum} characters (got {len(value)})")
    if _CONTROL.search(value):
        raise _error("must not contain control characters")
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _required_text(maximum: int) -> Callable[[Any], str]:
    def validate(value: Any) -> str:
        _not_null(value)
        text = _text(value, maximum).strip()
        if not text:
            raise _error("must not be empty")
        return text

    return validate


def _optional_text(maximum: int, *, allow_int: bool = False) -> Callable[[Any], str | None]:
    """Null or "" clears the value."""

    def validate(value: Any) -> str | None:
        if value is None:
            return None
        text = _text(value, maximum, allow_int=allow_int).strip()
        return text or None

    return validate


def _identifier(value: str) -> str:
    try:
        return check_identifier(value)
    except ValueError as exc:
        raise _error(str(exc)) from None


def check_sku(value: Any) -> str:
    """A SKU: 1 to 64 characters without surrounding spaces, an identifier (core/lenient.py: NFC,
    nothing invisible). PHP clients may send a numeric SKU as a number, taken as its digits."""
    _not_null(value)
    sku = _text(value, SKU_MAX, allow_int=True)
    if not sku:
        raise _error("must not be empty")
    if sku != sku.strip():
        raise _error("must not start or end with spaces")
    return _identifier(sku)


def _vendor_sku(value: Any) -> str | None:
    """Null or "" clears it; else an identifier as a SKU is."""
    text = _optional_text(SKU_MAX, allow_int=True)(value)
    return None if text is None else _identifier(text)


def _measure(value: Any) -> Decimal | None:
    """A non-negative number (or numeric string), rounded to 4 places; null clears it."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _error(f"must be a number, not {_kind(value)}")
    text = str(value) if isinstance(value, (int, float)) else number_text(value)
    if text is None:
        raise _error(f"{NOT_A_NUMBER}, not {str(value)[:40]!r}")
    number = Decimal(text)
    number = number.quantize(FOUR_PLACES, rounding=ROUND_HALF_UP) if number.adjusted() < 12 else number
    if number < 0:
        raise _error("must not be negative")
    if number == 0:
        number = Decimal("0.0000")  # not -0.0000
    if number > MEASURE_MAX:
        raise _error(f"must be at most {MEASURE_MAX}")
    return number


def _choice(choices: tuple[str, ...], *, upper: bool = False) -> Callable[[Any], str]:
    def validate(value: Any) -> str:
        _not_null(value)
        if isinstance(value, float) and value == value and abs(value) < 1e15:
            value = format(Decimal(repr(value)).normalize(), "f")  # 77.5 -> "77.5", 100.0 -> "100"
        elif isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise _error(f"must be one of {', '.join(choices)}, not {_kind(value)}")
        text = value.strip().upper() if upper else value.strip()
        if text not in choices:
            raise _error(f"must be one of {', '.join(choices)} (got {value[:40]!r})")
        return text

    return validate


def _optional_choice(choices: tuple[str, ...], *, upper: bool = False) -> Callable[[Any], str | None]:
    choose = _choice(choices, upper=upper)
    return lambda value: None if value is None or value == "" else choose(value)


def _status(value: Any) -> int:
    """1 enabled, 2 disabled; also "1", "2", "enabled", "disabled"."""
    _not_null(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _STATUS_WORDS:
            return _STATUS_WORDS[word]
        value = word
    number = whole_number(value)
    if number not in (STATUS_ENABLED, STATUS_DISABLED):
        raise _error(f"must be 1 (enabled) or 2 (disabled), or \"enabled\" / \"disabled\" (got {str(value)[:40]!r})")
    return number


def _one_of_ints(allowed: dict[int, str]) -> Callable[[Any], int | None]:
    described = ", ".join(f"{number} ({meaning})" for number, meaning in allowed.items())

    def validate(value: Any) -> int | None:
        if value is None:
            return None
        number = whole_number(value)
        if number not in allowed:
            raise _error(f"must be {described}")
        return number

    return validate


def _flag(value: Any) -> int | None:
    """0 or 1; true/false and "0"/"1" too."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    number = whole_number(value)
    if number not in (0, 1):
        raise _error("must be 0 or 1 (or false / true)")
    return number


def _positive_int(value: Any) -> int | None:
    if value is None:
        return None
    number = whole_number(value)
    if number is None or not 1 <= number <= 1_000_000:
        raise _error("must be a whole number from 1 to 1000000")
    return number


def _sku_list(value: Any) -> list[str]:
    """An array of SKUs (a comma-separated string is accepted too); null clears it."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = [part for part in value.split(",")]
    if not isinstance(value, list):
        raise _error(f"must be an array of SKUs, not {_kind(value)}")
    if len(value) > LIST_MAX:
        raise _error(f"must list at most {LIST_MAX} SKUs")
    skus: list[str] = []
    for index, item in enumerate(value):
        try:
            sku = check_sku(item.strip() if isinstance(item, str) else item)
        except PydanticCustomError as exc:
            raise _error(f"item {index}: {exc.message()}") from None
        if sku not in skus:
            skus.append(sku)
    return skus


def _barcodes(value: Any) -> list[str]:
    """Single or comma-separated barcodes (an array is accepted too); null or "" clears them.
    Spaces around each are dropped, and so are repeats."""
    if value is None:
        return []
    value = text_or_number(value)
    if isinstance(value, str):
        parts = value.split(",")
    elif isinstance(value, list):
        parts = []
        for index, item in enumerate(map(text_or_number, value)):
            if not isinstance(item, str):
                raise _error(f"item {index} must be a string, not {_kind(item)}")
            if "," in item:
                raise _error(f"item {index} must not contain a comma")
            parts.append(item)
    else:
        raise _error(f"must be a string of comma-separated barcodes, not {_kind(value)}")
    barcodes: list[str] = []
    for part in parts:
        barcode = part.strip()
        if not barcode:
            continue
        if len(barcode) > BARCODE_MAX:
            raise _error(f"each barcode must be at most {BARCODE_MAX} characters ({barcode[:20]!r}... is {len(barcode)})")
        if _CONTROL.search(barcode):
            raise _error("barcodes must not contain control characters")
        if barcode not in barcodes:
            barcodes.append(barcode)
    if len(barcodes) > BARCODES_MAX:
        raise _error(f"must list at most {BARCODES_MAX} barcodes")
    return barcodes


def _iso_code(codes: frozenset[str], what: str) -> Callable[[Any], str | None]:
    """A validator of an ISO code (any case, spaces around dropped); null or "" for none."""

    def validate(value: Any) -> str | None:
        if value is None or value == "":
            return None
        if not isinstance(value, str) or value.strip().upper() not in codes:
            raise _error(f"must be {what} (got {str(value)[:40]!r})")
        return value.strip().upper()

    return validate


_country = _iso_code(COUNTRIES, "a two-letter ISO 3166-1 country code such as US")
_currency = _iso_code(CURRENCIES, "a three-letter ISO 4217 currency code such as USD")


def _hts_base_code(value: Any) -> str | None:
    """A tariff code such as 0902.10 or 1234.56 (a number is taken as written)."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = repr(value) if isinstance(value, float) else str(value)
    if not isinstance(value, str) or not re.fullmatch(r"[0-9][0-9.]{0,19}", value.strip()):
        raise _error("must be a tariff code of digits and dots such as 0902.10")
    return value.strip()


_PLAIN_DECIMAL = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]*[1-9])?")


def hts_base_code_wire(code: str | None) -> int | float | str | None:
    """The docs answer a number (1234.56). A code that a number would change (a leading or
    trailing zero as in 0902.10, a second dot as in 0902.10.1015) stays the string it was given."""
    if code is None or not _PLAIN_DECIMAL.fullmatch(code):
        return code
    return formats.number(Decimal(code))


def _hts_country_codes(value: Any) -> list[dict[str, str]]:
    """ "BH:1000|ZW:1001", or the output shape [{country_id, extension}]; null or "" clears."""
    if value is None or value == "":
        return []
    pairs: list[tuple[Any, Any]] = []
    if isinstance(value, str):
        for index, part in enumerate(value.split("|")):
            country, colon, extension = part.partition(":")
            if not colon:
                raise _error(f"entry {index} ({part[:20]!r}) must look like COUNTRY:CODE, e.g. BH:1000|ZW:1001")
            pairs.append((country.strip(), extension.strip()))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if not isinstance(item, dict) or set(item) != {"country_id", "extension"}:
                raise _error(f"entry {index} must be an object {{country_id, extension}}")
            pairs.append((item["country_id"], item["extension"]))
    else:
        raise _error("must be a string such as \"BH:1000|ZW:1001\" or an array of {country_id, extension}")
    codes = []
    for index, (country, extension) in enumerate(pairs):
        if not isinstance(country, str) or country.strip().upper() not in COUNTRIES:
            raise _error(f"entry {index}: country must be a two-letter ISO 3166-1 code such as US (got {str(country)[:20]!r})")
        country = country.strip()
        if isinstance(extension, int) and not isinstance(extension, bool):
            extension = str(extension)
        if not isinstance(extension, str) or not _HTS_EXTENSION.match(extension):
            raise _error(f"entry {index}: extension must be 1 to 20 letters, digits or dots")
        codes.append({"country_id": country.upper(), "extension": extension})
    if len(codes) > LIST_MAX:
        raise _error(f"must list at most {LIST_MAX} countries")
    return codes


def _v(function: Callable[[Any], Any]) -> Any:
    return Annotated[Any, PlainValidator(function)]


class ProductData(BaseModel):
    """The ``data`` of product.create / product.update. Every key is optional here; which ones
    a call must give is decided by ``parse_product_data``."""

    model_config = ConfigDict(extra="forbid")

    sku: _v(check_sku) = None
    name: _v(_required_text(NAME_MAX)) = None
    barcode: _v(_barcodes) = None
    vendor_sku: _v(_vendor_sku) = None
    external_id: _v(_optional_text(TEXT_MAX, allow_int=True)) = None
    status: _v(_status) = None
    weight: _v(_measure) = None
    weight_unit: _v(_choice(WEIGHT_UNITS)) = None
    length: _v(_measure) = None
    width: _v(_measure) = None
    height: _v(_measure) = None
    dimension_unit: _v(_choice(DIMENSION_UNITS)) = None
    # Kept in products.attributes:
    export_description: _v(_optional_text(DESCRIPTION_MAX)) = None
    goods_type: _v(_optional_choice(GOODS_TYPES, upper=True)) = None
    availability: _v(_one_of_ints({1: "available", 2: "not available"})) = None
    visibility: _v(_one_of_ints({1: "not visible", 2: "visible"})) = None
    freight_class: _v(_optional_choice(FREIGHT_CLASSES)) = None
    freight_category: _v(_optional_text(TEXT_MAX)) = None
    customs_value: _v(_measure) = None
    customs_value_currency: _v(_currency) = None
    country_of_manufacture: _v(_country) = None
    hts_base_code: _v(_hts_base_code) = None
    hts_country_code: _v(_hts_country_codes) = None
    requires_packaging: _v(_flag) = None
    can_contain_other_items: _v(_flag) = None
    confirmation_per_item: _v(_flag) = None
    valid_containers: _v(_sku_list) = None
    special_supplies: _v(_sku_list) = None
    special_other: _v(_sku_list) = None
    unit_qty: _v(_positive_int) = None


# Keys of ProductData stored in their own columns of ``products``; the rest go into attributes.
COLUMN_FIELDS = (
    "name", "vendor_sku", "external_id", "status", "weight", "weight_unit", "length", "width", "height",
    "dimension_unit",
)
ATTRIBUTE_FIELDS = tuple(name for name in ProductData.model_fields if name not in COLUMN_FIELDS + ("sku", "barcode"))

# What info shows for an attribute that was never set.
ATTRIBUTE_DEFAULTS: dict[str, Any] = {
    "export_description": None,
    "goods_type": "NORMAL",
    "availability": 1,
    "visibility": 2,
    "freight_class": None,
    "freight_category": None,
    "customs_value": None,
    "customs_value_currency": None,
    "country_of_manufacture": None,
    "hts_base_code": None,
    "hts_country_code": [],
    "requires_packaging": 0,
    "can_contain_other_items": 0,
    "confirmation_per_item": 0,
    "valid_containers": [],
    "special_supplies": [],
    "special_other": [],
    "unit_qty": None,
}
assert set(ATTRIBUTE_DEFAULTS) == set(ATTRIBUTE_FIELDS)

# Columns given their defaults on create when absent (the database has the same defaults).
CREATE_DEFAULTS: dict[str, Any] = {"status": STATUS_ENABLED, "weight_unit": "lb", "dimension_unit": "in"}

# product.search: filterable fields and how they compare; sortable fields.
SEARCH_FIELDS: dict[str, Kind] = {
    "product_id": Kind.INTEGER,
    "sku": Kind.IDENTIFIER,
    "vendor_sku": Kind.IDENTIFIER,
    "name": Kind.TEXT,
    "status": Kind.INTEGER,
    "availability": Kind.INTEGER,
    "visibility": Kind.INTEGER,
    "external_id": Kind.TEXT,
    "created_at": Kind.TIMESTAMP,
    "updated_at": Kind.TIMESTAMP,
    "barcode": Kind.TEXT_LIST,
}
SORT_FIELDS = frozenset(SEARCH_FIELDS) - {"barcode"}
DEFAULT_SORT = "product_id"


@dataclass
class ProductChanges:
    """What a create or update sets: ``columns`` of products (``barcodes`` as a list) and
    ``attributes`` keys (None removes the key, so info shows its default again)."""

    columns: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.columns or self.attributes)


def _describe(errors: list[Any]) -> str:
    problems = []
    for error in errors:
        where = ".".join(str(part) for part in error["loc"]) or "data"
        if error["type"] == "extra_forbidden":
            problems.append(f"'{where}' is not a product property")
        else:
            problems.append(f"'{where}' {error['msg']}")
    return "; ".join(problems)


def invalid(detail: str) -> Fault:
    return Fault("product_invalid_data", f"Invalid data given: {detail}")


def parse_sku(value: Any) -> str:
    """The SKU argument of product.create; fault 102 when it is not a valid SKU."""
    try:
        return check_sku(value)
    except PydanticCustomError as exc:
        raise invalid(f"'sku' {exc.message()}") from None


def parse_product_data(sku: str, data: Any, *, creating: bool) -> ProductChanges:
    """Validate the ``data`` object of product.create (``creating``) or product.update."""
    if data == []:  # PHP's empty array
        data = {}
    if not isinstance(data, dict):
        raise invalid(f"data must be an object of product properties, not {_kind(data)}")
    try:
        model = ProductData.model_validate(data)
    except ValidationError as exc:
        raise invalid(_describe(exc.errors())) from None
    given = model.model_fields_set
    if "sku" in given and model.sku != sku:
        raise invalid(f"'sku' in data ({model.sku!r}) differs from the SKU argument ({sku!r}); SKUs cannot be changed")
    if creating and "name" not in given:
        raise invalid("'name' is required")
    changes = ProductChanges()
    if creating:
        changes.columns.update(CREATE_DEFAULTS)
    for name in given:
        value = getattr(model, name)
        if name in COLUMN_FIELDS:
            changes.columns[name] = value
        elif name == "barcode":
            changes.columns["barcodes"] = value
        elif name in ATTRIBUTE_FIELDS:
            changes.attributes[name] = _stored_attribute(value)
    return changes


def _stored_attribute(value: Any) -> Any:
    """jsonb-ready: Decimals as strings, empty lists as absent (info shows the default [])."""
    if isinstance(value, Decimal):
        return formats.decimal(value)
    if value == []:
        return None
    return value


def product_view(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored product (a row of ``products``) as product.info answers it."""
    attributes = row["attributes"] or {}
    view: dict[str, Any] = {
        "product_id": row["product_id"],
        "sku": row["sku"],
        "name": row["name"],
        "barcode": ",".join(row["barcodes"]) if row["barcodes"] else None,
        "vendor_sku": row["vendor_sku"],
        "external_id": row["external_id"],
        "status": row["status"],
        "weight": formats.number(row["weight"]),
        "weight_unit": row["weight_unit"],
        "length": formats.number(row["length"]),
        "width": formats.number(row["width"]),
        "height": formats.number(row["height"]),
        "dimension_unit": row["dimension_unit"],
    }
    for name, default in ATTRIBUTE_DEFAULTS.items():
        view[name] = attributes.get(name, default)
    view["hts_base_code"] = hts_base_code_wire(view["hts_base_code"])
    view["created_at"] = formats.timestamp(row["created_at"])
    view["updated_at"] = formats.timestamp(row["updated_at"])
    return view
