"""Deciding where an order's units are reserved. Pure: the caller locked the stock rows and
passes what is available; the decision comes back as plain numbers to write."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

# product_id -> warehouse_id -> units available
Available = dict[int, dict[int, int]]
StockKey = tuple[int, int]  # (product_id, warehouse_id)


@dataclass
class LineAllocation:
    by_warehouse: dict[int, int] = field(default_factory=dict)
    backordered: int = 0

    @property
    def allocated(self) -> int:
        return sum(self.by_warehouse.values())


def allocate_line(product_id: int, qty: int, available: Available) -> LineAllocation:
    """Reserve up to ``qty`` of a product, from the warehouses with the most available first.

    ``available`` is updated, so later lines (and later orders of a bulk) see what this took.
    """
    line = LineAllocation()
    stock = available.get(product_id, {})
    remaining = qty
    for warehouse in sorted(stock, key=lambda w: (-stock[w], w)):
        if remaining == 0 or stock[warehouse] <= 0:
            break
        taken = min(remaining, stock[warehouse])
        stock[warehouse] -= taken
        line.by_warehouse[warehouse] = taken
        remaining -= taken
    line.backordered = remaining
    return line


def allocate_lines(lines: list[tuple[int, int]], available: Available) -> list[LineAllocation]:
    """One allocation per (product_id, qty) line, in order."""
    return [allocate_line(product_id, qty, available) for product_id, qty in lines]


def stock_deltas(lines: list[tuple[int, int]], allocations: list[LineAllocation]) -> dict[StockKey, int]:
    """Units to add to stock.qty_allocated per (product, warehouse): one UPDATE row each."""
    deltas: dict[StockKey, int] = defaultdict(int)
    for (product_id, _), allocation in zip(lines, allocations):
        for warehouse, units in allocation.by_warehouse.items():
            deltas[(product_id, warehouse)] += units
    return dict(deltas)
