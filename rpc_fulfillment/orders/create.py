"""order.create and order.bulk_create.

One transaction per call. A create locks the stock rows of its products in primary-key order,
decides the allocation in the domain, and writes the order, its items, allocations, stock,
stock movements, status history and order:created event in one statement (INSERT_ORDERS). A
bulk does the same for all its orders at once: one lock of their stock rows, every order
decided in Python, one statement writing them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Mapping, Sequence

import asyncpg

from rpc_fulfillment.fulfillment.allocation import Available
from rpc_fulfillment.core.faults import Conflict, Fault
from rpc_fulfillment.orders.draft import Draft, Product, ProductIndex, draft_order, match_products
from rpc_fulfillment.orders.input import OrderInput, parse_order
from rpc_fulfillment.orders.views import project, select_fields
from rpc_fulfillment.core.api import INTEGRATION, Arg, Doc, api_method
from rpc_fulfillment.core.schema import STRING, WIRE_ERROR, array_of, nullable
from rpc_fulfillment.orders.docs import ADDRESS, FLAGS, INFO, ITEMS, ORDER_CREATE_ARGS, ORDER_PROPERTIES
from rpc_fulfillment.core.context import REQUIRED, AfterCommit, CallContext
from rpc_fulfillment.orders import queries as store
from rpc_fulfillment.db.pool import Connection
from rpc_fulfillment.fulfillment.order_rows import lock_stock
from rpc_fulfillment.orders.queries import OrderWrite

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


def _available(stock_rows: Sequence[Mapping[str, Any]]) -> Available:
    """What can be allocated, by product and active warehouse."""
    available: Available = {}
    for row in stock_rows:
        if row["is_active"]:
            available.setdefault(row["product_id"], {})[row["warehouse_id"]] = row["available"]
    return available


async def _lock_available(conn: Connection, product_ids: set[int]) -> Available:
    return _available(await lock_stock(conn, sorted(product_ids)))


def _ref_check(order: OrderInput) -> tuple[str, timedelta | None] | None:
    """(order_ref, window) when the order asks for its reference to be unique, else None."""
    window, order_ref = order.unique_order_ref, order.info.order_ref
    if window is None or not order_ref:
        return None
    return order_ref, None if window is True else window


async def _check_order_ref(conn: Connection, ctx: CallContext, order: OrderInput) -> None:
    check = _ref_check(order)
    if check is not None and (await store.order_refs_taken(conn, ctx.principal.merchant_id, [check]))[0]:
        raise Fault("order_exists", data={"order_ref": check[0]})


def order_write(merchant_id: int, api_user_id: int, order: OrderInput, draft: Draft,
                store_row: Mapping[str, Any]) -> OrderWrite:
    """Everything the INSERT_ORDERS statement writes for this order."""
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


def _properties(ctx: CallContext, row: Mapping[str, Any], store_row: Mapping[str, Any]) -> dict[str, Any]:
    properties = {**row, "store_code": store_row["code"], "store_name": store_row["name"], "submitted_by": ctx.principal.username}
    return project(properties, STAR)


@dataclass(frozen=True)
class _Written:
    """An order's row as the statement returned it, projected once the transaction has
    committed: the stock rows stay locked no longer than the write needs them."""

    row: asyncpg.Record
    store_row: Mapping[str, Any]

    def properties(self, ctx: CallContext) -> dict[str, Any]:
        return _properties(ctx, self.row, self.store_row)


async def _write(conn: Connection, ctx: CallContext, order: OrderInput, draft: Draft, store_row: Mapping[str, Any]) -> _Written:
    write = order_write(ctx.principal.merchant_id, ctx.principal.api_user_id, order, draft, store_row)
    try:
        [row] = await store.insert_orders(conn, [write])
    except Conflict as conflict:
        if conflict.constraint != UNIQUE_ID_CONSTRAINT:
            raise
        if order.info.unique_id is None:
            raise _AutoIdTaken() from None
        raise Fault("order_exists", data={"unique_id": order.info.unique_id}) from None
    return _Written(row, store_row)


async def _create_once(ctx: CallContext, order: OrderInput) -> _Written:
    merchant_id = ctx.principal.merchant_id
    conn = ctx.conn
    lookup = await store.lookup_for_create(conn, merchant_id, order.store_code, sorted({i.lookup for i in order.items}))
    store_row = _known_store(order.store_code, lookup.store)
    products = match_products(order.items, ProductIndex([product_from_row(row) for row in lookup.products]))
    available = _available(lookup.stock)
    # Stock rows first, then the order_ref lock: the order bulk_create takes them in, so a
    # create and a bulk with the same order_ref and product cannot deadlock.
    await _check_order_ref(conn, ctx, order)
    return await _write(conn, ctx, order, draft_order(order, products, available), store_row)


@api_method("order.create", INTEGRATION, Doc(
    "Create an order; its units are reserved from stock at once, the rest backordered.",
    args={
        "storeCode": Arg(nullable(STRING), "the store's code; null or \"\" for the merchant's default store"),
        "items": ITEMS,
        "address": ADDRESS,
        "info": INFO,
        "flags": FLAGS,
    },
    result=ORDER_PROPERTIES,
    result_description="the new order's properties, as order.info with fields '*'",
    faults=("order_invalid_data", "order_exists", "order_product_not_found"),
    description="unique_id is assigned from 100000001 when info leaves it out. The status says what could "
                "be reserved: new, partial_backorder or backordered (holded or delayed_shipment with "
                "hold_indefinitely or delayed_ship_date).",
))
async def order_create(
    ctx: CallContext,
    storeCode: Any = None,  # noqa: N803 (ShipStream's argument names are part of the API)
    items: Any = REQUIRED,
    address: Any = REQUIRED,
    info: Any = REQUIRED,
    flags: Any = None,
) -> AfterCommit:
    order = parse_order(storeCode, items, address, info, flags, max_items=ctx.settings.max_order_items)
    for _ in range(AUTO_ID_ATTEMPTS):
        try:
            written = await _create_once(ctx, order)
            return AfterCommit(lambda: written.properties(ctx))
        except _AutoIdTaken:
            await ctx.uow.rollback()  # the failed insert aborted the transaction: start afresh
            await store.skip_taken_unique_ids(ctx.conn, ctx.principal.merchant_id)
    raise RuntimeError("could not find a free unique_id after several attempts")


# ----------------------------------------------------------------------------- bulk_create


def _wire_error(fault: Fault) -> dict[str, Any]:
    return {"error": fault.to_error()}


def _parse_bulk_entry(args: Any, max_items: int) -> OrderInput:
    if isinstance(args, dict):
        args = [args.get(name) for name in ("storeCode", "items", "address", "info", "flags")]
    if not isinstance(args, list) or not 4 <= len(args) <= 5:
        raise Fault("order_invalid_data", "each order must be [storeCode, items, address, info] or [..., flags]")
    return parse_order(*args, *([None] * (5 - len(args))), max_items=max_items)


async def _bulk_one(conn: Connection, ctx: CallContext, order: OrderInput, index: ProductIndex,
                    stores: dict[str | None, asyncpg.Record], available: Available) -> _Written:
    """One order of a bulk, inside its own savepoint; ``available`` is restored if it fails."""
    store_row = _bulk_store(order, stores)
    products = match_products(order.items, index)
    saved = {p.product_id: dict(available.get(p.product_id, {})) for p in products}
    for _ in range(AUTO_ID_ATTEMPTS):
        try:
            async with ctx.uow.savepoint():
                await _check_order_ref(conn, ctx, order)
                return await _write(conn, ctx, order, draft_order(order, products, available), store_row)
        except (Fault, _AutoIdTaken) as problem:
            available.update({pid: dict(stock) for pid, stock in saved.items()})
            if isinstance(problem, Fault):
                raise
            await store.skip_taken_unique_ids(conn, ctx.principal.merchant_id)
    raise RuntimeError("could not find a free unique_id after several attempts")


def _known_store(code: str | None, store_row: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The store found for ``code`` (None: the default store), or fault 102 naming it."""
    if store_row is None:
        raise Fault("order_invalid_data", f"storeCode: no store with code '{code}'" if code else "the merchant has no default store")
    return store_row


def _bulk_store(order: OrderInput, stores: dict[str | None, asyncpg.Record]) -> Mapping[str, Any]:
    return _known_store(order.store_code, stores.get(order.store_code))


async def _bulk_stores(conn: Connection, merchant_id: int, orders: Sequence[OrderInput]) -> dict[str | None, asyncpg.Record]:
    stores: dict[str | None, asyncpg.Record] = {}
    for code in {order.store_code for order in orders}:
        row = await store.find_store(conn, merchant_id, code)
        if row is not None:
            stores[code] = row
    return stores


@dataclass
class _Batch:
    """A bulk decided in Python before one statement writes it: what each order conflicts
    with is read first (references and unique_ids already used), then the orders are drafted
    in key order against the locked stock, each seeing the ones before it."""

    refs_taken: dict[str, bool]  # key -> its order_ref is already used (only orders that ask)
    ids_taken: set[str]
    writes: dict[str, OrderWrite] = field(default_factory=dict)
    store_rows: dict[str, asyncpg.Record] = field(default_factory=dict)
    refs_written: set[str] = field(default_factory=set)

    def draft(self, ctx: CallContext, key: str, order: OrderInput, index: ProductIndex,
              stores: dict[str | None, asyncpg.Record], available: Available) -> None:
        """The checks and their order are _bulk_one's: store, products, order_ref, draft, unique_id."""
        store_row = _bulk_store(order, stores)
        products = match_products(order.items, index)
        check = _ref_check(order)
        if check is not None and (self.refs_taken[key] or check[0] in self.refs_written):
            raise Fault("order_exists", data={"order_ref": check[0]})
        saved = {p.product_id: dict(available.get(p.product_id, {})) for p in products}
        try:
            draft = draft_order(order, products, available)
            if order.info.unique_id is not None and order.info.unique_id in self.ids_taken:
                raise Fault("order_exists", data={"unique_id": order.info.unique_id})
        except Fault:
            available.update({pid: dict(stock) for pid, stock in saved.items()})
            raise
        self.writes[key] = order_write(ctx.principal.merchant_id, ctx.principal.api_user_id, order, draft, store_row)
        self.store_rows[key] = store_row
        if order.info.unique_id is not None:
            self.ids_taken.add(order.info.unique_id)
        if order.info.order_ref:
            self.refs_written.add(order.info.order_ref)


async def _free_unique_ids(conn: Connection, merchant_id: int, count: int, chosen: set[str]) -> list[str]:
    """``count`` automatic unique_ids in sequence order, skipping those orders have or this
    bulk's own orders chose; drawn only for orders about to be written, so none is wasted."""
    free: list[str] = []
    for _ in range(AUTO_ID_ATTEMPTS):
        if len(free) == count:
            return free
        drawn = await store.next_unique_ids(conn, merchant_id, count - len(free))
        taken = chosen | await store.unique_ids_taken(conn, merchant_id, drawn)
        free += [number for number in drawn if number not in taken]
        if len(free) < count:
            await store.skip_taken_unique_ids(conn, merchant_id, sorted(chosen))
    if len(free) == count:
        return free
    raise RuntimeError("could not find free unique_ids after several attempts")


async def _bulk_in_one_statement(conn: Connection, ctx: CallContext, parsed: dict[str, OrderInput], index: ProductIndex,
                                 stores: dict[str | None, asyncpg.Record], available: Available) -> dict[str, Any]:
    """Every order of the bulk decided in Python and written by ONE statement: each key's
    wire error or _Written. Raises
    Conflict (nothing written) when a unique_id was taken meanwhile."""
    merchant_id = ctx.principal.merchant_id
    checks = {key: check for key, order in parsed.items() if (check := _ref_check(order)) is not None}
    taken = await store.order_refs_taken(conn, merchant_id, list(checks.values()))
    ids = [order.info.unique_id for order in parsed.values() if order.info.unique_id is not None]
    batch = _Batch(dict(zip(checks, taken)), await store.unique_ids_taken(conn, merchant_id, ids) if ids else set())
    results: dict[str, dict[str, Any] | _Written] = {}
    for key, order in parsed.items():
        try:
            batch.draft(ctx, key, order, index, stores, available)
        except Fault as fault:
            results[key] = _wire_error(fault)
    auto = [write for write in batch.writes.values() if write.unique_id is None]
    for write, number in zip(auto, await _free_unique_ids(conn, merchant_id, len(auto), batch.ids_taken)):
        write.unique_id = number
    if batch.writes:
        async with ctx.uow.savepoint():  # a unique_id race undoes only this
            rows = await store.insert_orders(conn, list(batch.writes.values()))
        for key, row in zip(batch.writes, rows):
            results[key] = _Written(row, batch.store_rows[key])
    return results


@api_method("order.bulk_create", INTEGRATION, Doc(
    "Create many orders in one call; each succeeds or fails on its own.",
    args={
        "orders": Arg(
            {"anyOf": [
                {"type": "object", "additionalProperties": {"anyOf": [array_of({}, minItems=4, maxItems=5), ORDER_CREATE_ARGS]}},
                array_of({"anyOf": [array_of({}, minItems=4, maxItems=5), ORDER_CREATE_ARGS]}),
            ]},
            "your keys (or an array) mapped to order.create's arguments, as [storeCode, items, address, info"
            "(, flags)] or as an object with those names",
        ),
    },
    result={"type": "object", "additionalProperties": {"anyOf": [ORDER_PROPERTIES, WIRE_ERROR]}},
    result_description="each key mapped to the new order's properties or to {\"error\": {code, message}}",
    faults=("order_invalid_data",),
    description="An order that already exists answers error -32104 (fault 104) under its key, so a "
                "re-sent batch creates nothing twice.",
))
async def order_bulk_create(ctx: CallContext, orders: Any = REQUIRED) -> AfterCommit:
    """Each order succeeds or fails alone; the result maps each key to the order's properties
    or to ``{"error": {"code": -321xx, "message": ...}}``.

    The orders are written by one statement. Should a unique_id be taken meanwhile (another
    call, or an auto-assigned number meeting one a client chose), that statement is undone and
    the bulk is written order by order, each in a savepoint, with the same outcome per order."""
    if isinstance(orders, list):
        orders = {str(index): args for index, args in enumerate(orders)}
    if not isinstance(orders, dict):
        raise Fault("order_invalid_data", "orders must be an object mapping your keys to order.create arguments")
    limit = ctx.settings.max_bulk_orders
    if len(orders) > limit:
        raise Fault("order_invalid_data", f"orders: at most {limit} orders per order.bulk_create, got {len(orders)}")
    results: dict[str, dict[str, Any] | _Written] = {}
    parsed: dict[str, OrderInput] = {}
    for key, args in orders.items():
        try:
            parsed[key] = _parse_bulk_entry(args, ctx.settings.max_order_items)
        except Fault as fault:
            results[key] = _wire_error(fault)
    if parsed:
        merchant_id = ctx.principal.merchant_id
        conn = ctx.conn
        index = await _product_index(conn, merchant_id, list(parsed.values()))
        stores = await _bulk_stores(conn, merchant_id, list(parsed.values()))
        known = {p.product_id for p in index.by_sku.values()}
        available = await _lock_available(conn, known)
        snapshot = {pid: dict(stock) for pid, stock in available.items()}
        try:
            results.update(await _bulk_in_one_statement(conn, ctx, parsed, index, stores, available))
        except Conflict:
            for key, order in parsed.items():
                try:
                    results[key] = await _bulk_one(conn, ctx, order, index, stores, snapshot)
                except Fault as fault:
                    results[key] = _wire_error(fault)
    # In the caller's key order; the orders written are projected after the commit.
    in_order = [(key, results[key]) for key in orders]
    return AfterCommit(lambda: {key: result.properties(ctx) if isinstance(result, _Written) else result for key, result in in_order})
