"""Turning a validated order.create into the rows to write: products matched to items,
allocation decided, status chosen, columns and the order:created event message built."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping, Sequence

from rpc_fulfillment.fulfillment.allocation import Available, LineAllocation, allocate_lines, stock_deltas
from rpc_fulfillment.core.faults import Fault
from rpc_fulfillment.inventory.rules import stock_adjustment
from rpc_fulfillment.fulfillment.order_items import ORDER_ITEM_FIELDS, item_properties
from rpc_fulfillment.orders.fields import EXTRA, ORDER_FIELDS
from rpc_fulfillment.orders.input import INVALID, InfoInput, ItemInput, OrderInput
from rpc_fulfillment.fulfillment.states import OrderTotals, initial_rule, resolve
from rpc_fulfillment.core.units import convert_weight

# info fields kept in orders.extra rather than in columns of their own
EXTRA_INFO = ORDER_FIELDS.in_bag(EXTRA)


@dataclass(frozen=True)
class Product:
    product_id: int
    sku: str
    name: str
    barcodes: tuple[str, ...]
    vendor_sku: str | None
    external_id: str | None
    enabled: bool
    weight: Decimal | None
    weight_unit: str


class ProductIndex:
    """Finds the product an item means: by sku, then barcode, then vendor_sku."""

    def __init__(self, products: Sequence[Product]) -> None:
        self.by_sku = {p.sku: p for p in products}
        self.by_barcode: dict[str, list[Product]] = {}
        self.by_vendor_sku: dict[str, list[Product]] = {}
        for product in products:
            for barcode in product.barcodes:
                self.by_barcode.setdefault(barcode, []).append(product)
            if product.vendor_sku:
                self.by_vendor_sku.setdefault(product.vendor_sku, []).append(product)

    def find(self, item: ItemInput, label: str) -> Product:
        key = item.lookup
        product = self.by_sku.get(key)
        # barcodes are not unique across products either: several matches are an error, not a guess
        for kind, index in (("barcode", self.by_barcode), ("vendor_sku", self.by_vendor_sku)):
            if product is not None:
                break
            matches = index.get(key, [])
            if len(matches) > 1:
                skus = ", ".join(sorted(p.sku for p in matches))
                raise Fault(INVALID, f"{label}: {kind} '{key}' matches several products ({skus}); give the sku")
            product = matches[0] if matches else None
        if product is None:
            raise Fault("order_product_not_found", data={"sku": key})
        if not product.enabled:
            raise Fault(INVALID, f"{label}: product '{product.sku}' is disabled")
        return product


@dataclass
class Draft:
    """One order ready to write."""

    state: str
    status: str
    columns: dict[str, Any]
    items: list[dict[str, Any]]  # order_items columns by name
    allocations: list[tuple[int, int, int]]
    stock_deltas: list[tuple[int, int, int]]
    event: dict[str, Any]


def match_products(items: Sequence[ItemInput], index: ProductIndex) -> list[Product]:
    return [index.find(item, f"items[{number}]") for number, item in enumerate(items)]


def _status(order: OrderInput, allocations: Sequence[LineAllocation]) -> tuple[str, str]:
    rule = initial_rule(bool(order.info.hold_indefinitely), order.info.delayed_ship_date is not None)
    totals = OrderTotals(processing=sum(a.allocated for a in allocations), backordered=sum(a.backordered for a in allocations))
    return resolve(rule, rule.to_state, "", totals)


def extra_info(info: InfoInput, keys: Sequence[str] = EXTRA_INFO) -> dict[str, Any]:
    """The info keys kept in orders.extra, as stored: no null members (inside instructions either)."""
    return info.model_dump(mode="json", include=set(keys), exclude_none=True)


def order_columns(info: InfoInput, address: dict[str, Any], products: Sequence[Product], items: Sequence[ItemInput]) -> dict[str, Any]:
    """The orders columns that come from the input, with the field table's defaults (state,
    status and store are added by the caller)."""
    # The order's weight is in its first product's unit; other lines are converted to it.
    unit = products[0].weight_unit if products else "lb"
    weighed = [
        convert_weight((p.weight or Decimal(0)) * item.qty, p.weight_unit, unit)
        for p, item in zip(products, items)
    ]
    values = {
        **dict(info),
        "shipping_address": address,
        "weight": round(sum(weighed, Decimal(0)), 4),
        "weight_unit": unit,
        "total_item_count": len(items),
        EXTRA: extra_info(info),
    }
    return ORDER_FIELDS.resolved(values)


def _item_row(line_no: int, item: ItemInput, product: Product, allocation: LineAllocation) -> dict[str, Any]:
    return ORDER_ITEM_FIELDS.resolved({
        "product_id": product.product_id,
        "line_no": line_no,
        "sku": product.sku,
        "name": product.name,
        "order_item_ref": item.order_item_ref,
        "qty_ordered": item.qty,
        "qty_processing": allocation.allocated,
        "qty_backordered": allocation.backordered,
        "weight": product.weight,
        "weight_unit": product.weight_unit,
        "unit_declared_value": item.unit_declared_value,
        "unit_declared_value_currency": item.unit_declared_value_currency,
        "unit_customs_value": item.unit_customs_value,
        "unit_customs_value_currency": item.unit_customs_value_currency,
    })


def _new_item_properties(row: Mapping[str, Any], allocation: LineAllocation) -> dict[str, Any]:
    """A drafted line as an Order Item: nothing shipped or canceled yet, no id until written."""
    return item_properties({
        **row, "order_item_id": None, "qty_shipped": 0, "qty_canceled": 0,
        "allocation_data": [{"warehouse_id": warehouse_id, "qty_allocated": units}
                            for warehouse_id, units in sorted(allocation.by_warehouse.items())],
    })


def _stock_adjustments(products: Sequence[Product], deltas: Mapping[tuple[int, int], int], available: Available) -> dict[str, Any]:
    adjustments: dict[str, Any] = {}
    for product in products:
        taken = sum(units for (pid, _), units in deltas.items() if pid == product.product_id)
        if taken == 0 or product.sku in adjustments:
            continue
        left = sum(available.get(product.product_id, {}).values())
        adjustments[product.sku] = stock_adjustment(product.sku, product.external_id, product.product_id, -taken, left)
    return adjustments


def draft_order(order: OrderInput, products: Sequence[Product], available: Available) -> Draft:
    """Allocate (updating ``available``) and build the rows. Pure."""
    lines = [(product.product_id, item.qty) for product, item in zip(products, order.items)]
    allocations = allocate_lines(lines, available)
    state, status = _status(order, allocations)
    deltas = stock_deltas(lines, allocations)
    columns = order_columns(order.info, order.address, products, order.items)
    columns.update(state=state, status=status)
    items = [_item_row(n, item, p, a) for n, (item, p, a) in enumerate(zip(order.items, products, allocations), start=1)]
    event = {
        "order_ref": order.info.order_ref,
        "source": order.info.source,
        "state": state,
        "status": status,
        # Each item as order.info answers it; the write adds its order_item_id (queries.py).
        "items": [_new_item_properties(row, allocation) for row, allocation in zip(items, allocations)],
        "stock_adjustments": _stock_adjustments(products, deltas, available),
    }
    return Draft(
        state=state,
        status=status,
        columns=columns,
        items=items,
        allocations=[(n, w, units) for n, a in enumerate(allocations, start=1) for w, units in a.by_warehouse.items()],
        stock_deltas=[(pid, wid, units) for (pid, wid), units in sorted(deltas.items())],
        event=event,
    )
