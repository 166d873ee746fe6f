"""order.create and order.bulk_create.

One transaction per call. A create locks the stock rows of its products in primary-key order,
decides the allocation in the domain, and writes the order, its items, allocations, stock,
stock movements, status history and order:created event in one statement.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import asyncpg

from rpc_fulfillment.domain.allocation import Available
from rpc_fulfillment.domain.faults import Fault
from rpc_fulfillment.domain.order_draft import Draft, Product, ProductIndex, draft_order, match_products
from rpc_fulfillment.domain.order_input import OrderInput, parse_order
from rpc_fulfillment.domain.projection import project, select_fields
from rpc_fulfillment.services.context import REQUIRED, CallContext
from rpc_fulfillment.store import orders as store
from rpc_fulfillment.store.orders import Connection, OrderWrite

UNIQUE_ID_CONSTRAINT = "orders_merchant_id_unique_id_key"
STAR = select_fields("*", "order_invalid_data")
# An auto-assigned unique_id can meet one a client chose earlier; take the next number.
AUTO_ID_ATTEMPTS = 20


class _AutoIdTaken(Exception):
    pass


def product_from_row(row: Mapping[str, Any]) -> Product:
    return Product(
        product_id=row["product_id"],
        sku=row["sku"],
        name=row["name"],
        barcodes=tuple(row["barcodes"]),
        vendor_sku=row["vendor_sku"],
        external_id=row["external_id"],
        enabled=row["status"] == 1,
        weight=row["weight"],
        weight_unit=row["weight_unit"],
    )


async def _product_index(conn: Connection, merchant_id: int, orders: Sequence[OrderInput]) -> ProductIndex:
    keys = {item.lookup for order in orders for item in order.items}
    return ProductIndex([product_from_row(row) for row in await store.find_products(conn, merchant_id, sorted(keys))])


async def _lock_available(conn: Connection, product_ids: set[int]) -> Available:
    available: Available = {}
    for row in await store.lock_stock(conn, sorted(product_ids)):
        if row["is_active"]:
            available.setdefault(row["product_id"], {})[row["warehouse_id"]] = row["available"]
    return available


async def _store(conn: Connection, merchant_id: int, code: str | None) -> asyncpg.Record:
    row = await store.find_store(conn, merchant_id, code)
    if row is None:
        raise Fault("order_invalid_data", f"storeCode: no store with code '{code}'" if code else "the merchant has no default store")
    return row


async def _check_order_ref(conn: Connection, ctx: CallContext, order: OrderInput) -> None:
    window, order_ref = order.unique_order_ref, order.info.order_ref
    if window is None or not order_ref:
        return
    if await store.order_ref_taken(conn, ctx.principal.merchant_id, order_ref, None if window is True else window):
        raise Fault("order_exists", data={"order_ref": order_ref})


def order_write(merchant_id: int, api_user_id: int, order: OrderInput, draft: Draft,
                store_row: Mapping[str, Any]) -> OrderWrite:
    """Everything the one INSERT_ORDER statement writes for this order."""
    return OrderWrite(
        merchant_id=merchant_id,
        unique_id=order.info.unique_id,
        order={**draft.columns, "store_id": store_row["store_id"], "submitted_by_id": api_user_id, "remote_ip": None},
        items=draft.items,
        allocations=draft.allocations,
        stock_deltas=draft.stock_deltas,
        note=order.info.note,
        api_user_id=api_user_id,
        event={**draft.event, "store_code": store_row["code"]},
    )


async def _write(conn: Connection, ctx: CallContext, order: OrderInput, draft: Draft, store_row: asyncpg.Record) -> dict[str, Any]:
    write = order_write(ctx.principal.merchant_id, ctx.principal.api_user_id, order, draft, store_row)
    try:
        row = await store.insert_order(conn, write)
    except asyncpg.UniqueViolationError as error:
        if error.constraint_name != UNIQUE_ID_CONSTRAINT:
            raise
        if order.info.unique_id is None:
            raise _AutoIdTaken() from None
        raise Fault("order_exists", data={"unique_id": order.info.unique_id}) from None
    properties = {**row, "store_code": store_row["code"], "store_name": store_row["name"], "submitted_by": ctx.principal.username}
    return project(properties, STAR)


async def _create_once(ctx: CallContext, order: OrderInput) -> dict[str, Any]:
    merchant_id = ctx.principal.merchant_id
    async with ctx.pool.acquire() as conn, conn.transaction():
        store_row = await _store(conn, merchant_id, order.store_code)
        products = match_products(order.items, await _product_index(conn, merchant_id, [order]))
        # Stock rows first, then the order_ref lock: the order bulk_create takes them in, so a
        # create and a bulk with the same order_ref and product cannot deadlock.
        available = await _lock_available(conn, {p.product_id for p in products})
        await _check_order_ref(conn, ctx, order)
        return await _write(conn, ctx, order, draft_order(order, products, available), store_row)


async def order_create(
    ctx: CallContext,
    storeCode: Any = None,  # noqa: N803 (ShipStream's argument names are part of the API)
    items: Any = REQUIRED,
    address: Any = REQUIRED,
    info: Any = REQUIRED,
    flags: Any = None,
) -> dict[str, Any]:
    order = parse_order(storeCode, items, address, info, flags, max_items=ctx.settings.max_order_items)
    for _ in range(AUTO_ID_ATTEMPTS):
        try:
            return await _create_once(ctx, order)
        except _AutoIdTaken:
            async with ctx.pool.acquire() as conn:
                await store.skip_taken_unique_ids(conn, ctx.principal.merchant_id)
    raise RuntimeError("could not find a free unique_id after several attempts")


# ----------------------------------------------------------------------------- bulk_create


def _wire_error(fault: Fault) -> dict[str, Any]:
    error: dict[str, Any] = {"code": fault.spec.wire_code, "message": fault.message}
    if fault.data is not None:
        error["data"] = fault.data
    return {"error": error}


def _parse_bulk_entry(args: Any, max_items: int) -> OrderInput:
    if isinstance(args, dict):
        args = [args.get(name) for name in ("storeCode", "items", "address", "info", "flags")]
    if not isinstance(args, list) or not 4 <= len(args) <= 5:
        raise Fault("order_invalid_data", "each order must be [storeCode, items, address, info] or [..., flags]")
    return parse_order(*args, *([None] * (5 - len(args))), max_items=max_items)


async def _bulk_one(conn: Connection, ctx: CallContext, order: OrderInput, index: ProductIndex,
                    stores: dict[str | None, asyncpg.Record], available: Available) -> dict[str, Any]:
    """One order of a bulk, inside its own savepoint; ``available`` is restored if it fails."""
    store_row = stores.get(order.store_code)
    if store_row is None:
        raise Fault("order_invalid_data", f"storeCode: no store with code '{order.store_code}'")
    products = match_products(order.items, index)
    saved = {p.product_id: dict(available.get(p.product_id, {})) for p in products}
    for _ in range(AUTO_ID_ATTEMPTS):
        try:
            async with conn.transaction():
                await _check_order_ref(conn, ctx, order)
                return await _write(conn, ctx, order, draft_order(order, products, available), store_row)
        except (Fault, _AutoIdTaken) as problem:
            available.update({pid: dict(stock) for pid, stock in saved.items()})
            if isinstance(problem, Fault):
                raise
            await store.skip_taken_unique_ids(conn, ctx.principal.merchant_id)
    raise RuntimeError("could not find a free unique_id after several attempts")


async def _bulk_stores(conn: Connection, merchant_id: int, orders: Sequence[OrderInput]) -> dict[str | None, asyncpg.Record]:
    stores: dict[str | None, asyncpg.Record] = {}
    for code in {order.store_code for order in orders}:
        row = await store.find_store(conn, merchant_id, code)
        if row is not None:
            stores[code] = row
    return stores


async def order_bulk_create(ctx: CallContext, orders: Any = REQUIRED) -> dict[str, Any]:
    """Each order succeeds or fails alone; the result maps each key to the order's properties
    or to ``{"error": {"code": -321xx, "message": ...}}``."""
    if isinstance(orders, list):
        orders = {str(index): args for index, args in enumerate(orders)}
    if not isinstance(orders, dict):
        raise Fault("order_invalid_data", "orders must be an object mapping your keys to order.create arguments")
    limit = ctx.settings.max_bulk_orders
    if len(orders) > limit:
        raise Fault("order_invalid_data", f"orders: at most {limit} orders per order.bulk_create, got {len(orders)}")
    results: dict[str, Any] = {}
    parsed: dict[str, OrderInput] = {}
    for key, args in orders.items():
        try:
            parsed[key] = _parse_bulk_entry(args, ctx.settings.max_order_items)
        except Fault as fault:
            results[key] = _wire_error(fault)
    if parsed:
        merchant_id = ctx.principal.merchant_id
        async with ctx.pool.acquire() as conn, conn.transaction():
            index = await _product_index(conn, merchant_id, list(parsed.values()))
            stores = await _bulk_stores(conn, merchant_id, list(parsed.values()))
            known = {p.product_id for p in index.by_sku.values()}
            available = await _lock_available(conn, known)
            for key, order in parsed.items():
                try:
                    results[key] = await _bulk_one(conn, ctx, order, index, stores, available)
                except Fault as fault:
                    results[key] = _wire_error(fault)
    return {key: results[key] for key in orders}
