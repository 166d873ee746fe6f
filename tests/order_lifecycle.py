"""The order states, statuses and where each action may start, written out by hand from
ShipStream's docs (2014-07-25-order.md, "Order States and Statuses" and the status table of
"Order Properties") and README's "Order lifecycle", so that tests hold the state/status matrix
(fulfillment/states.py) to them instead of to itself.
"""

from __future__ import annotations

DOCUMENTED_STATUSES_BY_STATE = {
    "new": ("new", "partial_backorder", "backordered"),
    "processing": ("processing", "partial_backorder"),
    "complete": ("complete",),
    "canceled": ("canceled",),
    "holded": ("holded", "delayed_shipment", "unresolved"),
}
DOCUMENTED_LABELS = {
    "backordered": "Backordered", "canceled": "Canceled", "complete": "Complete", "delayed_shipment": "Scheduled Hold",
    "holded": "On Hold", "invalid_address": "Invalid Address", "new": "New", "partial_backorder": "Partial Backorder",
    "processing": "Processing", "unable_to_process": "Unable To Process", "unresolved": "Unresolved Shipping Method",
}
DOCUMENTED_PAIRS = {(state, status) for state, statuses in DOCUMENTED_STATUSES_BY_STATE.items() for status in statuses}
NEW_STATE = {("new", "new"), ("new", "partial_backorder"), ("new", "backordered")}
PROCESSING_STATE = {("processing", "processing"), ("processing", "partial_backorder")}
HOLDED_STATE = {("holded", "holded"), ("holded", "delayed_shipment"), ("holded", "unresolved")}
COMPLETE = {("complete", "complete")}
# Where each action may start, written out: the docs' "can be holded" / "can be unholded" /
# "can be canceled" and the fulfillment steps as README's "Order lifecycle" describes them.
ALLOWED_STARTS = {
    "allocate": NEW_STATE | PROCESSING_STATE | HOLDED_STATE,
    "hold": NEW_STATE,
    "unhold": HOLDED_STATE,
    "release_delayed": {("holded", "delayed_shipment")},
    "start_shipment": {("new", "new"), ("new", "partial_backorder")} | PROCESSING_STATE,
    "pack": PROCESSING_STATE,
    "return_shipment": PROCESSING_STATE | COMPLETE,
    "unpack": PROCESSING_STATE | COMPLETE,
    "cancel_items": NEW_STATE | PROCESSING_STATE | HOLDED_STATE,
    "cancel": NEW_STATE | PROCESSING_STATE | HOLDED_STATE,
    "edit": NEW_STATE | HOLDED_STATE,
    "comment": DOCUMENTED_PAIRS,
}
# Actions that leave the state and status as they are, from where.
UNCHANGING = {"comment": DOCUMENTED_PAIRS, "edit": NEW_STATE | HOLDED_STATE, "allocate": HOLDED_STATE,
              "cancel_items": HOLDED_STATE}
