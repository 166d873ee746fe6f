"""Backorder policies: what may ship while part of an order is still backordered.

- ``all_or_nothing``: the order keeps what it reserved, but nothing ships until every item is
  fully allocated.
- ``as_available``: allocated quantities can ship now; every later arrival can ship again.
- ``up_to_X``: as ``as_available``, but the Xth shipment must take everything that remains, so
  no order needs more than X shipments.
- ``default``: the store's configured policy (``as_available`` unless configured).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT = "default"
STORE_DEFAULT = "as_available"
_UP_TO = re.compile(r"^up_to_([1-9][0-9]{0,3})$")


@dataclass(frozen=True)
class BackorderPolicy:
    name: str
    # Shipments allowed in all; the last of them must take everything that remains.
    max_shipments: int | None

    def may_ship_partially(self, shipments_so_far: int) -> bool:
        """Whether the next shipment may leave backordered units behind."""
        if self.max_shipments is None:
            return self.name == "as_available"
        return shipments_so_far + 1 < self.max_shipments


def parse_backorder_policy(value: str) -> str:
    text = value.strip()
    if text in (DEFAULT, "all_or_nothing", "as_available") or _UP_TO.match(text):
        return text
    raise ValueError(f"'{value}' is not a backorder policy (default, all_or_nothing, as_available or up_to_X with X a positive whole number)")


def resolve_policy(order_policy: str, store_policy: str = STORE_DEFAULT) -> BackorderPolicy:
    """The policy an order follows: its own, or the store's when it says ``default``."""
    name = store_policy if order_policy == DEFAULT else order_policy
    match = _UP_TO.match(name)
    if match:
        return BackorderPolicy("up_to", int(match.group(1)))
    if name == "all_or_nothing":
        return BackorderPolicy(name, 1)
    return BackorderPolicy("as_available", None)
