"""Weight units: the four ShipStream knows and what each weighs in pounds.

The one conversion table. Order weights (orders/draft.py) convert with
``convert_weight``; shipment weights are summed in SQL (shipments/queries.py), whose CASE is
generated from ``POUNDS_PER`` (tests/api/test_weights.py runs it against these figures).
"""

from __future__ import annotations

from decimal import Decimal

ONE = Decimal(1)
# The factors: one unit in pounds. An unknown unit counts as pounds (the SQL's ELSE 1).
POUNDS_PER: dict[str, Decimal] = {
    "lb": ONE, "oz": Decimal("0.0625"), "kg": Decimal("2.20462262"), "g": Decimal("0.00220462262"),
}
WEIGHT_UNITS = tuple(POUNDS_PER)  # ("lb", "oz", "kg", "g"): what a weight_unit may be


def convert_weight(weight: Decimal, from_unit: str, to_unit: str = "lb") -> Decimal:
    """``weight`` in ``from_unit``, expressed in ``to_unit`` (unrounded)."""
    return weight * POUNDS_PER.get(from_unit, ONE) / POUNDS_PER.get(to_unit, ONE)
