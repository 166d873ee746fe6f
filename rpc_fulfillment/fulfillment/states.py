"""The order state/status matrix, as data.

Each state allows some statuses (``STATUSES_BY_STATE``); each rule says from which statuses an
action may start and where it leads (``RULES``). Where the resulting status depends on the
order's quantities, the rule says so (``BY_ALLOCATION``, ``BY_FULFILLMENT``) and
``resolve`` decides from an ``OrderTotals``. Services ask this table; nothing else compares
statuses. The docs render the same table, and schema.sql's CHECK constraint is tested
against ``STATUSES_BY_STATE``.
"""

from __future__ import annotations

from dataclasses import dataclass

from rpc_fulfillment.core.faults import Fault

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

# Markers in RULES for a target decided by the order's quantities or left as it is.
SAME = "(same)"                    # state: stays in the current state
UNCHANGED = "(unchanged)"          # state and status: the action does not change them
BY_ALLOCATION = "(by allocation)"  # status: from what is reserved and backordered
BY_FULFILLMENT = "(by fulfillment)"  # state: from the order's shipments (see _fulfillment_state)

# A status is written state/status below where a status exists in two states.
_NEW_STATE = frozenset({(NEW, "new"), (NEW, "partial_backorder"), (NEW, "backordered")})
_PROCESSING_STATE = frozenset({(PROCESSING, "processing"), (PROCESSING, "partial_backorder")})
_HOLDED_STATE = frozenset({(HOLDED, "holded"), (HOLDED, "delayed_shipment"), (HOLDED, "unresolved")})
_ALL = frozenset((state, status) for state, statuses in STATUSES_BY_STATE.items() for status in statuses)


@dataclass(frozen=True)
class Rule:
    action: str
    from_: frozenset[tuple[str, str]]
    to_state: str
    to_status: str
    description: str


RULES: tuple[Rule, ...] = (
    Rule("create", frozenset(), NEW, BY_ALLOCATION, "a new order; its status says what could be reserved"),
    Rule("create_on_hold", frozenset(), HOLDED, "holded", "a new order with hold_indefinitely"),
    Rule("create_delayed", frozenset(), HOLDED, "delayed_shipment", "a new order with a delayed_ship_date"),
    Rule("allocate", _NEW_STATE | _PROCESSING_STATE, SAME, BY_ALLOCATION,
         "stock arrived or was released and backordered units were reserved"),
    Rule("allocate", _HOLDED_STATE, UNCHANGED, UNCHANGED, "an order on hold is reserved for but stays on hold"),
    Rule("hold", _NEW_STATE, HOLDED, "holded", "order.hold; reservations are kept"),
    Rule("unhold", frozenset({(HOLDED, "holded"), (HOLDED, "unresolved"), (HOLDED, "delayed_shipment")}), NEW,
         BY_ALLOCATION, "order.unhold"),
    Rule("release_delayed", frozenset({(HOLDED, "delayed_shipment")}), NEW, BY_ALLOCATION,
         "the delayed_ship_date has come"),
    Rule("start_shipment", frozenset({(NEW, "new"), (NEW, "partial_backorder")}) | _PROCESSING_STATE, PROCESSING,
         BY_ALLOCATION, "shipment.create takes reserved units into a shipment"),
    Rule("pack", _PROCESSING_STATE, BY_FULFILLMENT, BY_ALLOCATION,
         "shipment.pack; complete once every remaining unit is packed"),
    Rule("return_shipment", _PROCESSING_STATE | frozenset({(COMPLETE, "complete")}), BY_FULFILLMENT, BY_ALLOCATION,
         "shipment.cancel puts its units back on the order"),
    Rule("unpack", _PROCESSING_STATE | frozenset({(COMPLETE, "complete")}), BY_FULFILLMENT, BY_ALLOCATION,
         "shipment.void_labels: a packed shipment is to be packed again"),
    Rule("cancel_items", _NEW_STATE | _PROCESSING_STATE, SAME, BY_ALLOCATION,
         "order.cancel of some units; canceling every remaining unit cancels the order"),
    Rule("cancel_items", _HOLDED_STATE, UNCHANGED, UNCHANGED, "order.cancel of some units of an order on hold"),
    Rule("cancel", _NEW_STATE | _PROCESSING_STATE | _HOLDED_STATE, CANCELED, "canceled", "every remaining unit canceled"),
    Rule("edit", _NEW_STATE | _HOLDED_STATE, UNCHANGED, UNCHANGED, "order.edit, while no shipment has started"),
    Rule("comment", _ALL, UNCHANGED, UNCHANGED, "order.comment"),
)

ACTIONS = tuple(dict.fromkeys(rule.action for rule in RULES))


@dataclass(frozen=True)
class OrderTotals:
    """An order's units summed over its items, and its shipments."""

    processing: int  # reserved, not shipped
    backordered: int
    shipped: int = 0
    in_shipment: int = 0  # reserved units inside open (not shipped, not canceled) shipments
    open_shipments: int = 0
    unpacked_shipments: int = 0  # open shipments not yet packed

    @property
    def open(self) -> int:
        return self.processing + self.backordered


def rule_for(action: str, state: str, status: str) -> Rule | None:
    for rule in RULES:
        if rule.action == action and (state, status) in rule.from_:
            return rule
    return None


def check_allowed(action: str, state: str, status: str, fault: str, what: str) -> Rule:
    """The rule for ``action`` from the order's state and status, or ``fault`` naming them."""
    rule = rule_for(action, state, status)
    if rule is None:
        raise Fault(fault, f"{what}: the order's status is '{status}' (state '{state}')")
    return rule


def status_for(state: str, totals: OrderTotals) -> str:
    """The status an order in ``state`` has with these quantities."""
    if state == PROCESSING:
        return "partial_backorder" if totals.backordered else "processing"
    if totals.backordered == 0:
        return "new"
    return "backordered" if totals.processing == 0 else "partial_backorder"


def _fulfillment_state(totals: OrderTotals) -> str:
    """complete once every remaining unit is in a packed shipment; processing while shipments
    are open or some have shipped; new when no shipment is left."""
    if totals.backordered == 0 and totals.processing == totals.in_shipment and totals.unpacked_shipments == 0:
        return COMPLETE
    return PROCESSING if totals.open_shipments or totals.shipped else NEW


def resolve(rule: Rule, state: str, status: str, totals: OrderTotals) -> tuple[str, str]:
    """Where ``rule`` takes an order that is in ``state``/``status`` with these quantities."""
    if rule.to_state == UNCHANGED:
        return state, status
    if totals.open == 0:
        # Nothing left to reserve or ship: done if anything shipped, otherwise canceled.
        return (COMPLETE, "complete") if totals.shipped else (CANCELED, "canceled")
    target = {SAME: state, BY_FULFILLMENT: _fulfillment_state(totals)}.get(rule.to_state, rule.to_state)
    if rule.to_status != BY_ALLOCATION:
        return target, rule.to_status
    if target in (NEW, PROCESSING):
        return target, status_for(target, totals)
    return target, STATUSES_BY_STATE[target][0]


def initial_rule(hold_indefinitely: bool, delayed: bool) -> Rule:
    action = "create_on_hold" if hold_indefinitely else "create_delayed" if delayed else "create"
    return next(rule for rule in RULES if rule.action == action)
