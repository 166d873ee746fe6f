"""Shipments, the warehouse side of the engine: input, and the decisions. Pure.

- ``shipment.create`` takes reserved units not yet in a shipment from ONE warehouse (the given
  one, or the one holding the most of what is asked) into a new shipment, within the order's
  backorder policy (``check_policy``).
- ``shipment.pack`` puts every unit of the shipment into packages, each with its label
  (at least one tracking number).
- A shipment's own life is a small table too (``SHIPMENT_ACTIONS``): which shipment statuses
  each action starts from. The order's side goes through the state/status matrix.

Every problem is a ``shipment_*`` fault whose message says what and where.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any, Literal, Mapping, Sequence

from pydantic import AfterValidator, BeforeValidator, Field, TypeAdapter, ValidationError, field_validator, model_validator

from rpc_fulfillment.core.faults import Fault
from rpc_fulfillment.core.lenient import Quantity, identifier_key, text_or_number, whole_number
from rpc_fulfillment.core.validation import InputModel
from rpc_fulfillment.fulfillment.policies import BackorderPolicy
from rpc_fulfillment.core.filters import Kind
from rpc_fulfillment.core.validation import describe

INVALID = "shipment_invalid_data"
NOT_FOUND = "shipment_not_found"
NOT_CREATED = "shipment_not_created"
NOT_PACKED = "shipment_not_packed"
NOT_SHIPPED = "shipment_not_shipped"
NOT_DELIVERED = "shipment_not_delivered"
NOT_CANCELED = "shipment_not_canceled"
LABELS_NOT_VOIDED = "shipment_labels_not_voided"

MAX_LINES = 1000
MAX_PACKAGES = 100
MAX_TRACKING = 20

# --------------------------------------------------------------------- a shipment's life

OPEN = ("new", "picking", "picked", "packing")  # not packed yet
# A shipment canceled in one of these statuses is reverted (shipment:reverted): it had been
# packed, its labels printed. Shipped shipments cannot be canceled.
REVERTED_WHEN_CANCELED = frozenset({"packed"})


@dataclass(frozen=True)
class ShipmentAction:
    name: str
    from_statuses: tuple[str, ...]
    to_status: str | None  # None: the status stays (deliver sets delivered_at)
    fault: str


SHIPMENT_ACTIONS: dict[str, ShipmentAction] = {
    action.name: action
    for action in (
        ShipmentAction("pack", OPEN, "packed", NOT_PACKED),
        ShipmentAction("ship", ("packed",), "shipped", NOT_SHIPPED),
        ShipmentAction("deliver", ("shipped",), None, NOT_DELIVERED),
        ShipmentAction("cancel", OPEN + ("packed",), "canceled", NOT_CANCELED),
        # its packages and labels go; the shipment waits, picked, to be packed again
        ShipmentAction("void_labels", ("packed",), "picked", LABELS_NOT_VOIDED),
    )
}
_PAST = {"pack": "packed", "ship": "shipped", "deliver": "delivered", "cancel": "canceled",
         "void_labels": "unpacked (labels voided)"}


def _hint(action: str, status: str) -> str:
    if action == "ship" and status in OPEN:
        return "; pack it first (shipment.pack)"
    if action == "deliver" and status in OPEN + ("packed",):
        return "; ship it first (shipment.ship)"
    return ""


def check_shipment_action(action: str, shipment_id: str, status: str, delivered: bool = False) -> ShipmentAction:
    """The action, or its fault naming the shipment's status."""
    rule = SHIPMENT_ACTIONS[action]
    if status not in rule.from_statuses:
        raise Fault(rule.fault, f"Shipment {shipment_id} cannot be {_PAST[action]}: its status is '{status}'"
                                f"{_hint(action, status)}")
    if action == "deliver" and delivered:
        raise Fault(rule.fault, f"Shipment {shipment_id} cannot be delivered: it was delivered already")
    return rule

# -------------------------------------------------------------------------------- input


Key = Annotated[str, BeforeValidator(text_or_number), Field(min_length=1, max_length=255), AfterValidator(identifier_key)]


class LineInput(InputModel):
    """``{"sku" or "order_item_ref", "qty"}``: units of an order item."""

    sku: Key | None = None
    order_item_ref: Key | None = None
    qty: Quantity

    @model_validator(mode="after")
    def _one_key(self) -> "LineInput":
        if (self.sku is None) == (self.order_item_ref is None):
            raise ValueError("give exactly one of sku and order_item_ref")
        return self

    @property
    def key(self) -> str:
        return "sku" if self.sku is not None else "order_item_ref"

    @property
    def value(self) -> str:
        return self.sku if self.sku is not None else self.order_item_ref  # type: ignore[return-value]

    def label(self) -> str:
        return f"{self.key} '{self.value}'"


_LINES = TypeAdapter(list[LineInput])


def _lines_shape(value: Any) -> Any:
    """``{"SKU": qty}`` is accepted for ``[{"sku": "SKU", "qty": qty}]``."""
    if isinstance(value, dict):
        return [{"sku": sku, "qty": qty} for sku, qty in value.items()]
    return value


def parse_lines(value: Any, label: str = "items") -> list[LineInput] | None:
    """None (everything) or the requested lines."""
    if value is None:
        return None
    value = _lines_shape(value)
    if not isinstance(value, list):
        raise Fault(INVALID, f"{label}: must be an array of {{\"sku\" or \"order_item_ref\", \"qty\"}}")
    if not value:
        raise Fault(INVALID, f"{label}: must not be empty (leave it out to take everything)")
    if len(value) > MAX_LINES:
        raise Fault(INVALID, f"{label}: at most {MAX_LINES} lines")
    try:
        return _LINES.validate_python(value)
    except ValidationError as error:
        raise Fault(INVALID, describe(error, label)) from None


def parse_id(value: Any, name: str, *, required: bool = True) -> int | None:
    """A positive whole number (also as a numeric string)."""
    if value is None and not required:
        return None
    number = whole_number(value)
    if number is None or not 1 <= number < 2**63:
        raise Fault(INVALID, f"{name}: must be a positive whole number, not {str(value)[:40]!r}")
    return number


def shipment_id_argument(value: Any) -> str:
    """ShipStream's shipment ids are strings ("100000005"); loosely typed clients send numbers."""
    value = text_or_number(value)
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise Fault(NOT_FOUND, "the shipment id must be a string such as \"100000001\"")
    return value.strip()


def _tracking_shape(value: Any) -> Any:
    """A tracking number may be given as a bare string: its carrier is the order's."""
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return {"number": str(value)}
    return value


class TrackingInput(InputModel):
    number: Annotated[str, Field(min_length=1, max_length=64)]
    carrier: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    description: Annotated[str, Field(max_length=255)] | None = None
    track_url: Annotated[str, Field(max_length=2048)] | None = None


Weight = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=4)]
Dimension = Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=4)]


class PackageInput(InputModel):
    weight: Weight | None = None
    weight_unit: Literal["lb", "oz", "kg", "g"] = "lb"
    length: Dimension | None = None
    width: Dimension | None = None
    height: Dimension | None = None
    dimension_unit: Literal["in", "cm"] = "in"
    # None: whatever the other packages leave (at most one package may leave items out)
    items: Annotated[list[LineInput], Field(min_length=1, max_length=MAX_LINES)] | None = None
    tracking_numbers: Annotated[
        list[Annotated[TrackingInput, BeforeValidator(_tracking_shape)]],
        Field(min_length=1, max_length=MAX_TRACKING),
    ]

    @field_validator("items", mode="before")
    @classmethod
    def _items_shape(cls, value: Any) -> Any:
        return _lines_shape(value)


_PACKAGES = TypeAdapter(list[PackageInput])


def parse_packages(value: Any) -> list[PackageInput]:
    """``[{weight, weight_unit, length, width, height, dimension_unit, items, tracking_numbers}]``
    (a single object is taken as one package)."""
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not value:
        raise Fault(INVALID, "packages: must be a non-empty array of packages such as "
                             "[{\"weight\": 1.5, \"tracking_numbers\": [\"1Z999\"]}]")
    if len(value) > MAX_PACKAGES:
        raise Fault(INVALID, f"packages: at most {MAX_PACKAGES} packages")
    try:
        packages = _PACKAGES.validate_python(value)
    except ValidationError as error:
        raise Fault(INVALID, describe(error, "packages")) from None
    if sum(1 for package in packages if package.items is None) > 1:
        raise Fault(INVALID, "packages: only one package may leave out items (it takes what the others do not)")
    return packages


# ------------------------------------------------------------------------------- create


@dataclass(frozen=True)
class OrderLine:
    """An order item as shipment.create sees it."""

    order_item_id: int
    sku: str
    order_item_ref: str | None
    backordered: int
    free: Mapping[int, int]  # warehouse_id -> reserved units not inside an open shipment


@dataclass(frozen=True)
class ShipmentPlan:
    warehouse_id: int
    quantities: dict[int, int]  # order_item_id -> units

    @property
    def total(self) -> int:
        return sum(self.quantities.values())


def _matching(lines: Sequence[Any], request: LineInput) -> list[Any]:
    return [line for line in lines if getattr(line, request.key) == request.value]


def _grouped(requests: Sequence[LineInput]) -> list[tuple[int, LineInput]]:
    """Requests for the same sku (or reference) add up; each keeps its first position."""
    totals: dict[tuple[str, str], int] = defaultdict(int)
    first: dict[tuple[str, str], int] = {}
    for index, request in enumerate(requests):
        key = (request.key, request.value)
        totals[key] += request.qty
        first.setdefault(key, index)
    return [(first[key], LineInput(**{key[0]: key[1], "qty": qty})) for key, qty in totals.items()]


def plan_shipment(lines: Sequence[OrderLine], requests: Sequence[LineInput] | None, warehouse_id: int | None) -> ShipmentPlan:
    """Which units of which items go into the new shipment, and from where."""
    grouped = _grouped(requests) if requests is not None else None
    if grouped is not None:
        for index, request in grouped:
            if not _matching(lines, request):
                raise Fault(INVALID, f"items[{index}]: the order has no item with {request.label()}")
    warehouses = sorted({w for line in lines for w, units in line.free.items() if units > 0})

    def offer(warehouse: int) -> int:
        if grouped is None:
            return sum(line.free.get(warehouse, 0) for line in lines)
        return sum(min(request.qty, sum(line.free.get(warehouse, 0) for line in _matching(lines, request)))
                   for _, request in grouped)

    if warehouse_id is None:
        if not warehouses or max(offer(w) for w in warehouses) == 0:
            raise Fault(NOT_CREATED, "Nothing to ship: the order has no reserved units outside shipments"
                        + ("" if grouped is None else " for the requested items"))
        warehouse_id = min(warehouses, key=lambda w: (-offer(w), w))
    elif offer(warehouse_id) == 0:
        raise Fault(NOT_CREATED, f"Nothing to ship from warehouse {warehouse_id}: the order has no reserved units "
                                 "there outside shipments" + ("" if grouped is None else " for the requested items"))
    quantities: dict[int, int] = {}
    if grouped is None:
        for line in lines:
            if line.free.get(warehouse_id, 0) > 0:
                quantities[line.order_item_id] = line.free[warehouse_id]
        return ShipmentPlan(warehouse_id, quantities)
    for index, request in grouped:
        matching = _matching(lines, request)
        available = sum(line.free.get(warehouse_id, 0) for line in matching)
        if request.qty > available:
            raise Fault(NOT_CREATED, f"items[{index}]: {request.label()} has {available} unit(s) reserved and not yet in "
                                     f"a shipment in warehouse {warehouse_id}, {request.qty} asked")
        remaining = request.qty
        for line in matching:
            take = min(remaining, line.free.get(warehouse_id, 0))
            if take:
                quantities[line.order_item_id] = quantities.get(line.order_item_id, 0) + take
                remaining -= take
    return ShipmentPlan(warehouse_id, quantities)


def check_policy(policy: BackorderPolicy, policy_name: str, shipments_so_far: int, backordered: int,
                 free_total: int, taking: int | None = None) -> None:
    """Whether the order's backorder policy lets this shipment start.

    ``shipments_so_far`` counts the order's shipments that are not canceled; ``free_total`` is
    every reserved unit not yet in a shipment (all warehouses); ``taking`` is what the new
    shipment would take (None: check only what does not depend on it).
    """
    if policy.name == "all_or_nothing":
        if backordered:
            raise Fault(NOT_CREATED, f"The order's backorder policy is all_or_nothing and {backordered} unit(s) are "
                                     "still backordered: nothing ships until every item is allocated")
        return
    if policy.max_shipments is None:
        return
    if shipments_so_far >= policy.max_shipments:
        raise Fault(NOT_CREATED, f"The order already has {shipments_so_far} shipment(s) and its backorder policy "
                                 f"{policy_name} allows no more")
    if policy.may_ship_partially(shipments_so_far):
        return
    number = shipments_so_far + 1
    if backordered:
        raise Fault(NOT_CREATED, f"This would be shipment {number} of at most {policy.max_shipments} (backorder policy "
                                 f"{policy_name}), which must take everything that remains, but {backordered} unit(s) "
                                 "are still backordered")
    if taking is not None and taking < free_total:
        raise Fault(NOT_CREATED, f"This would be shipment {number} of at most {policy.max_shipments} (backorder policy "
                                 f"{policy_name}), which must take every remaining unit: it would take {taking} of "
                                 f"{free_total}")


# --------------------------------------------------------------------------------- pack


@dataclass(frozen=True)
class ShipmentLine:
    """A shipment item as shipment.pack sees it."""

    order_item_id: int
    sku: str
    order_item_ref: str | None
    qty: int  # units in the shipment


@dataclass
class PackagePlan:
    package: PackageInput
    quantities: dict[int, int] = field(default_factory=dict)  # order_item_id -> units


def plan_packages(lines: Sequence[ShipmentLine], packages: Sequence[PackageInput]) -> list[PackagePlan]:
    """Every unit of the shipment in exactly one package."""
    left = {line.order_item_id: line.qty for line in lines}
    plans = [PackagePlan(package) for package in packages]
    for p, plan in enumerate(plans):
        if plan.package.items is None:
            continue
        for index, request in _grouped(plan.package.items):
            matching = _matching(lines, request)
            label = f"packages[{p}].items[{index}]"
            if not matching:
                raise Fault(INVALID, f"{label}: the shipment has no item with {request.label()}")
            available = sum(left[line.order_item_id] for line in matching)
            if request.qty > available:
                raise Fault(NOT_PACKED, f"{label}: {request.label()} has {available} unit(s) left to pack in the "
                                        f"shipment, {request.qty} asked")
            remaining = request.qty
            for line in matching:
                take = min(remaining, left[line.order_item_id])
                if take:
                    plan.quantities[line.order_item_id] = plan.quantities.get(line.order_item_id, 0) + take
                    left[line.order_item_id] -= take
                    remaining -= take
    for p, plan in enumerate(plans):
        if plan.package.items is None:
            plan.quantities = {item: units for item, units in left.items() if units}
            if not plan.quantities:
                raise Fault(NOT_PACKED, f"packages[{p}]: nothing is left for it to hold (the other packages hold "
                                        "every unit)")
            left = dict.fromkeys(left, 0)
    missing = [f"{line.sku}: {left[line.order_item_id]} of {line.qty}" for line in lines if left[line.order_item_id]]
    if missing:
        raise Fault(NOT_PACKED, "Every unit of the shipment must be in a package; not packed: " + ", ".join(missing))
    return plans


# ------------------------------------------------------------------------------- update

MAX_SOURCE = 255


def parse_update(data: Any, custom_fields: Any) -> str | None:
    """shipment.update's data: only ``source`` (association data for integrations) may change."""
    if not isinstance(data, dict):
        raise Fault(INVALID, "data: must be an object such as {\"source\": \"magento:100000123\"}")
    unknown = sorted(set(data) - {"source"})
    if unknown:
        raise Fault(INVALID, "; ".join(f"data.{key}: cannot be changed (only source can)" for key in unknown))
    if "source" not in data:
        raise Fault(INVALID, "data.source: is required")
    if custom_fields not in (None, [], {}):
        raise Fault(INVALID, "customFields: shipments have no custom fields here")
    source = text_or_number(data["source"])
    if source is not None and not isinstance(source, str):
        raise Fault(INVALID, "data.source: must be a string or null")
    if source is not None and len(source) > MAX_SOURCE:
        raise Fault(INVALID, f"data.source: at most {MAX_SOURCE} characters")
    return source


# ------------------------------------------------------------------------------- search

# shipment.search: filterable fields and how their values are checked; sortable fields. The
# SQL of each is shipments/queries.py's, built from these names (it refuses to load if they
# disagree). shipment_id is the public id, the increment id (a number written as a string).
SEARCH_FIELDS: dict[str, Kind] = {
    "shipment_id": Kind.INTEGER,
    "warehouse_id": Kind.INTEGER,
    "order_unique_id": Kind.IDENTIFIER,
    "order_ref": Kind.IDENTIFIER,
    "order_id": Kind.INTEGER,
    "store_code": Kind.TEXT,
    "created_at": Kind.TIMESTAMP,
    "updated_at": Kind.TIMESTAMP,
    "packed_at": Kind.TIMESTAMP,
    "status": Kind.TEXT,
    "shipment_type": Kind.TEXT,
}
SORT_FIELDS = frozenset({"shipment_id", "order_id", "warehouse_id", "status", "created_at", "updated_at", "packed_at"})
DEFAULT_SORT = "shipment_id"
assert DEFAULT_SORT in SORT_FIELDS
