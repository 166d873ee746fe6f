"""The SQL that sums shipment weights in pounds (shipments/queries.py, generated from
core/units.py's table) gives what convert_weight gives, unit by unit, in PostgreSQL."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest

from rpc_fulfillment.core.units import WEIGHT_UNITS, convert_weight
from rpc_fulfillment.shipments.queries import _pounds

WEIGHTS = [Decimal("0"), Decimal("1"), Decimal("2.25"), Decimal("0.0001"), Decimal("12345678.9999")]


@pytest.mark.parametrize("unit", [*WEIGHT_UNITS, "unknown"])
async def test_sql_and_python_convert_alike(db, unit):
    query = f"SELECT {_pounds('w', '$2::text')}, ({_pounds('w', '$2::text')})::numeric(12, 4) FROM unnest($1::numeric[]) AS w"
    rows = await db.fetch(query, WEIGHTS, unit)
    for weight, (exact, stored) in zip(WEIGHTS, rows, strict=True):
        expected = convert_weight(weight, unit, "lb")
        assert exact == expected, (weight, unit)
        assert stored == expected.quantize(Decimal("0.0001"), ROUND_HALF_UP), (weight, unit)
