"""The order state/status matrix, as data.

Each state allows some statuses; each action may start from some statuses and leads to a
state. Where an action's resulting status depends on the order's allocation (an unhold, a
stock arrival), the table says ``BY_ALLOCATION`` and ``allocation_status`` decides. Services
ask this table; nothing else compares statuses. The same table is rendered into the docs, and
schema.sql's CHECK constraint is tested against it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rpc_fulfillment.domain.faults import Fault

NEW, PROCESSING, COMPLETE, CANCELED, HOLDED = "new", "processing", "complete", "canceled", "holded"

STATUSES_BY_STATE: dict[str, tuple[str, ...]] = {
    NEW: ("new", "partial_backorder", "backordered"),
    PROCESSING: ("processing", "partial_backorder"),
    COMPLETE: ("complete",),
    CANCELED: ("canceled",),
    HOLDED: ("holded", "delayed_shipment", "unresolved"),
}

STATUS_LABELS = {
    "backordered": "Backordered",
    "canceled": "Canceled",
    "complete": "Complete",
    "delayed_shipment": "Scheduled Hold",
    "holded": "On Hold",
    "new": "New",
    "partial_backorder": "Partial Backorder",
    "processing": "Processing",
    "unresolved": "Unresolved Shipping Method",
}

# The resulting status is decided by the order's allocation (see allocation_status).
BY_ALLOCATION = "*allocation*"
# The action leaves state and status as they are.
UNCHANGED = "*unchanged*"


@dataclass(frozen=True)
class Transition:
    action: str
    from_statuses: frozenset[str]
    to_state: str
    to_status: str
    description: str


def _transition(action: str, from_statuses: set[str], to_state: str, to_status: str, description: str) -> Transition:
    return Transition(action, frozenset(from_statuses), to_state, to_status, description)


_OPEN_NEW = {"new", "partial_backorder", "backordered"}

TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        _transition("create", set(), NEW, BY_ALLOCATION, "a new order, its status given by what could be reserved"),
        _transition("create_on_hold", set(), HOLDED, "holded", "a new order with hold_indefinitely"),
        _transition("create_delayed", set(), HOLDED, "delayed_shipment", "a new order with a delayed_ship_date"),
        _transition("edit", _OPEN_NEW | {"holded", "delayed_shipment", "unresolved"}, UNCHANGED, UNCHANGED,
                    "change the address or additional data, while no shipment has started"),
        _transition("comment", set(STATUS_LABELS), UNCHANGED, UNCHANGED, "add a comment to the status history"),
    )
}


def allocation_status(qty_open: int, qty_backordered: int) -> str:
    """The status of a ``new`` order from its open (not shipped or canceled) and backordered units."""
    if qty_backordered == 0:
        return "new"
    if qty_backordered >= qty_open:
        return "backordered"
    return "partial_backorder"


def state_of(status: str) -> str:
    for state, statuses in STATUSES_BY_STATE.items():
        if status in statuses:
            return state
    raise KeyError(status)


def check_allowed(action: str, status: str, fault: str, what: str) -> Transition:
    """The transition for ``action`` from ``status``, or ``fault`` naming the current status."""
    transition = TRANSITIONS[action]
    if status not in transition.from_statuses:
        raise Fault(fault, f"{what}: the order's status is '{status}'")
    return transition


def initial_transition(hold_indefinitely: bool, delayed: bool) -> Transition:
    if hold_indefinitely:
        return TRANSITIONS["create_on_hold"]
    if delayed:
        return TRANSITIONS["create_delayed"]
    return TRANSITIONS["create"]
