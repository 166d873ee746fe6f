"""An order's shipping address: what clients send, what is stored, and the one shape it is
answered in (order.info, order.search, shipment.info, the order:address_changed event).

Clients send ShipStream's keys, or Magento's whole address array as the official OpenMage
plugin does: Magento's own keys (address_id, region_id, vat_id, fax, ...) are ignored,
``country_id`` is read as ``country``, and ``street`` may come together with ``street1`` /
``street2`` (the plugin copies street into street1). The keys we know are checked as strictly
as ever. Stored as ``street1`` / ``street2`` (at most two lines); answered as ShipStream
documents it: ``street`` with the lines joined by a newline, every property present (null
when unknown).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Mapping

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, ValidationError

from rpc_fulfillment.core.faults import Fault
from rpc_fulfillment.core.lenient import Flag, Text, text_or_number
from rpc_fulfillment.core.validation import InputModel, check_country, describe

INVALID = "order_invalid_data"
# The Address Properties, in ShipStream's order: the answered shape.
ADDRESS_PROPERTIES = ("firstname", "lastname", "company", "street", "city", "region", "postcode", "country",
                      "classification", "is_valid", "telephone", "email")
STREET_LINES = ("street1", "street2")
MAX_STREET_LINE = 255  # Text's limit, which street1 and street2 have
Country = Annotated[str, AfterValidator(check_country)]


class AddressInput(InputModel):
    """A shipping address as sent. Keys it does not name are ignored, not refused: clients send
    their platform's whole address (Magento's address array)."""

    model_config = ConfigDict(extra="ignore")

    firstname: Text | None = None
    lastname: Text | None = None
    company: Text | None = None
    street: Annotated[str, Field(max_length=511, description="one or two lines, separated by a newline")] | None = None
    street1: Text | None = None
    street2: Text | None = None
    city: Text | None = None
    region: Text | None = None
    postcode: Annotated[str, Field(max_length=20), BeforeValidator(text_or_number)] | None = None
    country: Country | None = None
    country_id: Annotated[Country | None, Field(description="Magento's name for country (the same value)")] = None
    classification: Literal["res", "com", "po", "mil", "unk"] | None = None
    is_valid: Flag | None = None
    telephone: Annotated[str, Field(max_length=64), BeforeValidator(text_or_number)] | None = None
    email: Annotated[str, Field(max_length=255, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = None


def known_address_keys(address: Any) -> Any:
    """The address without the keys it ignores (anything else as it is): what is checked."""
    if not isinstance(address, dict):
        return address
    return {key: value for key, value in address.items() if key in AddressInput.model_fields}


def _lines(text: str | None) -> list[str]:
    """The non-blank lines of a street text, each stripped ("\\r\\n" included)."""
    return [line.strip() for line in (text or "").split("\n") if line.strip()]


def _street_values(given: AddressInput) -> dict[str, str | None]:
    """street1/street2 to store from the street keys given. ``street`` sets both lines (a
    one-line street removes street2); street1/street2 set the lines they name. Given together,
    they must agree line by line, or street1/street2 win."""
    named = {name: getattr(given, name) for name in STREET_LINES if getattr(given, name) is not None}
    if given.street is not None:
        lines = _lines(given.street)
        if not named or lines == [line for name in named for line in _lines(named[name])]:
            if len(lines) > 2:  # Magento takes up to four street lines; we keep two
                lines = [lines[0], ", ".join(lines[1:])]
                if len(lines[1]) > MAX_STREET_LINE:
                    raise Fault(INVALID, f"address.street: the lines after the first, joined with \", \" into the "
                                         f"second, are longer than {MAX_STREET_LINE} characters")
            return {"street1": lines[0] if lines else None, "street2": lines[1] if len(lines) > 1 else None}
    for name, text in named.items():
        if "\n" in text:
            raise Fault(INVALID, f"address.{name}: must be one line (street takes two lines separated by a newline)")
    return named


def _country(given: AddressInput) -> dict[str, str]:
    if given.country is not None and given.country_id is not None and given.country != given.country_id:
        raise Fault(INVALID, f"address.country_id: '{given.country_id}' disagrees with address.country "
                             f"'{given.country}' (give one of them)")
    country = given.country or given.country_id
    return {} if country is None else {"country": country}


def given_address(address: Any) -> dict[str, Any]:
    """The stored keys an address sets: its values as stored, None for a street line it
    removes. Unknown keys are dropped; a wrong value is fault 102 naming the key."""
    if not isinstance(address, dict):
        raise Fault(INVALID, "address must be an object")
    try:
        parsed = AddressInput.model_validate(address)
    except ValidationError as error:
        raise Fault(INVALID, describe(error, "address")) from None
    values = parsed.model_dump(exclude_none=True, exclude={"street", "country_id", *STREET_LINES})
    return {**values, **_country(parsed), **_street_values(parsed)}


def merged_address(current: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """The stored address after ``given`` (given_address's) is applied to ``current``."""
    return {key: value for key, value in {**current, **given}.items() if value is not None}


# The parts of an address that must be there for a parcel to go anywhere.
REQUIRED_ADDRESS = ("firstname", "lastname", "street1", "city", "country")
# Countries whose addresses always carry a region and a postcode.
REGION_AND_POSTCODE = frozenset({"US", "CA", "AU"})


def complete_address(values: dict[str, Any]) -> dict[str, Any]:
    missing = [f"address.{name}" for name in REQUIRED_ADDRESS if not values.get(name)]
    if values.get("country") in REGION_AND_POSTCODE:
        missing += [f"address.{name}" for name in ("region", "postcode") if not values.get(name)]
    if missing:
        raise Fault(INVALID, "; ".join(f"{name}: is required" for name in missing))
    if values.get("country") == "US" and not re.fullmatch(r"[0-9]{5}(-[0-9]{4})?", values["postcode"]):
        raise Fault(INVALID, f"address.postcode: '{values['postcode']}' is not a US ZIP code (12345 or 12345-6789)")
    return values


def parse_address(address: Any, *, partial: bool = False) -> dict[str, Any]:
    """order.create's address as stored; ``partial`` (order.edit): the keys given
    (given_address's), null or ``[]`` (PHP's empty array) meaning none, the completeness
    check left to the caller, who merges them into the order's address."""
    if partial:
        return {} if address is None or address == [] else given_address(address)
    return complete_address(merged_address({}, given_address(address)))


def address_properties(stored: Mapping[str, Any]) -> dict[str, Any]:
    """The address as answered: every Address Property, street's lines joined by a newline."""
    street = "\n".join(stored[name] for name in STREET_LINES if stored.get(name)) or None
    return {name: street if name == "street" else stored.get(name) for name in ADDRESS_PROPERTIES}
