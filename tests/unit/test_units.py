"""Weight units: one table of factors (core/units.py), used for order weights and, through
the SQL generated from it, for shipment weights (tests/api/test_weights.py runs that SQL)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import get_args

import pytest

from rpc_fulfillment.products import rules as products

from rpc_fulfillment.core import units
from rpc_fulfillment.shipments.rules import PackageInput

PACKAGE = Path(units.__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "weight, from_unit, to_unit, expected",
    [
        ("16", "oz", "lb", "1"),
        ("1", "kg", "lb", "2.20462262"),
        ("1000", "g", "lb", "2.20462262"),
        ("1000", "g", "kg", "1"),
        ("2.25", "kg", "lb", "4.960400895"),  # 4.9604 once stored as numeric(12, 4)
        ("1", "lb", "oz", "16"),
        ("3", "lb", "lb", "3"),
        ("2", "stone", "lb", "2"),  # an unknown unit counts as pounds, as the SQL's ELSE 1
        ("0", "kg", "oz", "0"),
    ],
)
def test_convert_weight(weight, from_unit, to_unit, expected):
    assert units.convert_weight(Decimal(weight), from_unit, to_unit) == Decimal(expected)


def test_to_pounds_by_default():
    assert units.convert_weight(Decimal(8), "oz") == Decimal("0.5")


def test_every_weight_unit_has_a_factor_and_every_list_of_units_is_the_same():
    assert units.WEIGHT_UNITS == ("lb", "oz", "kg", "g") == tuple(units.POUNDS_PER)
    assert products.WEIGHT_UNITS is units.WEIGHT_UNITS
    assert get_args(PackageInput.model_fields["weight_unit"].annotation) == units.WEIGHT_UNITS


def test_the_factors_are_written_once():
    """No other module of the package spells a factor out (order_draft.py and
    shipment_projection.py each had a copy of the table)."""
    factors = [str(factor) for factor in units.POUNDS_PER.values() if factor != 1]
    holders = sorted(
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if any(factor in path.read_text() for factor in factors)
    )
    assert holders == ["core/units.py"]
