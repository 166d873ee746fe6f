"""order.create and order.bulk_create: one path. order.create is a bulk of one order.

A create reads what it decides on in one statement (the stores, the products its items may
mean, their stock, which of the unique_ids chosen are taken: ``lookup_for_create``), decides
every order in Python in the caller's key order, each seeing the stock the ones before it
took, and writes them all in one statement (INSERT_ORDERS: orders, items, allocations, stock,
stock movements, status history, order:created events).

Optimistic first: the lookup locks nothing and runs outside any transaction, and the write is
a transaction of its own, which locks the stock rows and re-checks the decision: the stock
CHECK refuses units others took meanwhile, and where an order backordered units the write
refuses when the stock it was decided on changed (core's Stale). Then the call decides again
under locks, in a transaction: the lookup locks the stock rows, the write cannot be refused
for stock. Orders asking for a unique order_ref take that path directly (their advisory locks
are held to the end of a transaction).

A unique_id taken meanwhile (another call, or an automatic number meeting one a client chose)
undoes the locked write; the orders are then written one by one, each in a savepoint, with the
same outcome per order: fault 104 for a chosen unique_id, the next free number for an
automatic one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Mapping

import asyncpg

from rpc_fulfillment.core.api import INTEGRATION, WRITE_ON_BEGIN, Arg, Doc, api_method
from rpc_fulfillment.core.context import REQUIRED, AfterCommit, CallContext
from rpc_fulfillment.core.faults import Conflict, ConstraintViolated, Fault, Stale, StoreRefused
from rpc_fulfillment.core.schema import STRING, WIRE_ERROR, array_of, nullable
from rpc_fulfillment.fulfillment.allocation import Available
from rpc_fulfillment.orders import queries as store
from rpc_fulfillment.orders.docs import ADDRESS, FLAGS, INFO, ITEMS, ORDER_CREATE_ARGS, ORDER_PROPERTIES
from rpc_fulfillment.orders.draft import Draft, Product, ProductIndex, draft_order, match_products
from rpc_fulfillment.orders.input import OrderInput, parse_order
from rpc_fulfillment.orders.queries import CreateLookup, OrderWrite, StockAsRead
from rpc_fulfillment.orders.views import project, select_fields

UNIQUE_ID_CONSTRAINT = "orders_merchant_id_unique_id_key"
STOCK_CHECK = "stock_covers_allocations"
STAR = select_fields("*", "order_invalid_data")
# An automatic unique_id drawn while another call writes the same number as its chosen one:
# the next try draws the next number.
AUTO_ID_ATTEMPTS = 20


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


def available_stock(stock_rows: list[Mapping[str, Any]]) -> Available:
    """What can be allocated, by product and active warehouse."""
    available: Available = {}
    for row in stock_rows:
        if row["is_active"]:
            available.setdefault(row["product_id"], {})[row["warehouse_id"]] = row["available"]
    return available


def _ref_check(order: OrderInput) -> tuple[str, timedelta | None] | None:
    """(order_ref, window) when the order asks for its reference to be unique, else None."""
    window, order_ref = order.unique_order_ref, order.info.order_ref
    if window is None or not order_ref:
        return None
    return order_ref, None if window is True else window


def _known_store(code: str | None, store_row: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The store found for ``code`` (None: the default store), or fault 102 naming it."""
    if store_row is None:
        raise Fault("order_invalid_data", f"storeCode: no store with code '{code}'" if code else "the merchant has no default store")
    return store_row


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


@dataclass(frozen=True)
class _Written:
    """An order's row as the statement returned it, projected once the transaction has
    committed: the stock rows stay locked no longer than the write needs them."""

    row: asyncpg.Record
    store_row: Mapping[str, Any]

    def properties(self, ctx: CallContext) -> dict[str, Any]:
        properties = {**self.row, "store_code": self.store_row["code"], "store_name": self.store_row["name"],
                      "submitted_by": ctx.principal.username}
        return project(properties, STAR)


Outcome = Fault | _Written  # per key: why the order was not written, or the order written


@dataclass(frozen=True)
class _Drafted:
    """One order decided, not written yet; ``taken`` is the stock it took, to give back if
    its write fails."""

    key: str
    order: OrderInput
    write: OrderWrite
    store_row: Mapping[str, Any]
    taken: dict[int, dict[int, int]]  # product_id -> warehouse_id -> available before it


@dataclass
class _Batch:
    """The orders of one call decided against one lookup, in key order: each sees the stock
    the ones before it took, the unique_ids and order_refs they use."""

    ctx: CallContext
    lookup: CreateLookup
    refs_taken: dict[str, bool]  # key -> its order_ref is used already (orders that ask, under lock)
    index: ProductIndex = field(init=False)
    available: Available = field(init=False)
    ids_taken: set[str] = field(init=False)
    refs_written: set[str] = field(default_factory=set)
    backordered: set[int] = field(default_factory=set)  # products some accepted order backordered

    def __post_init__(self) -> None:
        self.index = ProductIndex([product_from_row(row) for row in self.lookup.products])
        self.available = available_stock(self.lookup.stock)
        self.ids_taken = set(self.lookup.unique_ids_taken)

    def draft(self, key: str, order: OrderInput) -> _Drafted:
        """Decide one order (taking its stock), or the fault that refuses it (taking nothing).
        The checks in their order: store, products, order_ref, the draft, unique_id."""
        store_row = _known_store(order.store_code, self.lookup.stores.get(order.store_code))
        products = match_products(order.items, self.index)
        check = _ref_check(order)
        if check is not None and (self.refs_taken[key] or check[0] in self.refs_written):
            raise Fault("order_exists", data={"order_ref": check[0]})
        taken = {p.product_id: dict(self.available.get(p.product_id, {})) for p in products}
        try:
            draft = draft_order(order, products, self.available)
            if order.info.unique_id is not None and order.info.unique_id in self.ids_taken:
                raise Fault("order_exists", data={"unique_id": order.info.unique_id})
        except Fault:
            self.available.update(taken)
            raise
        principal = self.ctx.principal
        return _Drafted(key, order, order_write(principal.merchant_id, principal.api_user_id, order, draft, store_row),
                        store_row, taken)

    def give_back(self, drafted: _Drafted) -> None:
        """The stock ``drafted`` took, available again (its write failed)."""
        self.available.update({pid: dict(stock) for pid, stock in drafted.taken.items()})

    def accept(self, drafted: _Drafted) -> None:
        """``drafted`` is written (or will be with the others): later orders see what it uses."""
        if drafted.order.info.unique_id is not None:
            self.ids_taken.add(drafted.order.info.unique_id)
        if drafted.order.info.order_ref:
            self.refs_written.add(drafted.order.info.order_ref)
        self.backordered |= {item["product_id"] for item in drafted.write.items if item["qty_backordered"]}

    def as_read(self) -> StockAsRead:
        """For the write to re-check: the stock, as the lookup read it, of the products backordered."""
        read = available_stock(self.lookup.stock)
        products = sorted(self.backordered)
        return StockAsRead(products, [(pid, wid, units) for pid in products for wid, units in sorted(read.get(pid, {}).items())])


async def _decide(ctx: CallContext, orders: dict[str, OrderInput], *, lock: bool) -> _Batch:
    """The lookup, then (under lock) the order_ref checks: stock rows first, then the order_ref
    locks, the order every create takes them in, so that two creates cannot deadlock."""
    merchant_id = ctx.principal.merchant_id
    codes = list(dict.fromkeys(order.store_code for order in orders.values()))
    keys = sorted({item.lookup for order in orders.values() for item in order.items})
    chosen = sorted({order.info.unique_id for order in orders.values() if order.info.unique_id is not None})
    lookup = await store.lookup_for_create(ctx.conn, merchant_id, codes, keys, chosen, lock=lock)
    checks = {key: check for key, order in orders.items() if (check := _ref_check(order)) is not None}
    taken = await store.order_refs_taken(ctx.conn, merchant_id, list(checks.values()))
    return _Batch(ctx, lookup, dict(zip(checks, taken)))


async def _write_together(ctx: CallContext, orders: dict[str, OrderInput], *, lock: bool) -> dict[str, Outcome]:
    """Every order decided, then written by one statement (re-checking the stock unless it is
    locked). Refused as a whole: nothing of it is written."""
    batch = await _decide(ctx, orders, lock=lock)
    outcomes: dict[str, Outcome] = {}
    drafted: list[_Drafted] = []
    for key, order in orders.items():
        try:
            drafted.append(batch.draft(key, order))
        except Fault as fault:
            outcomes[key] = fault
            continue
        batch.accept(drafted[-1])
    if drafted:
        as_read = StockAsRead() if lock else batch.as_read()
        rows = await store.insert_orders(ctx.conn, [d.write for d in drafted], as_read)
        outcomes.update({d.key: _Written(row, d.store_row) for d, row in zip(drafted, rows)})
    return outcomes


async def _write_alone(ctx: CallContext, batch: _Batch, key: str, order: OrderInput) -> _Written:
    """One order decided and written in a savepoint of its own (its stock given back when the
    write fails)."""
    drafted = batch.draft(key, order)
    try:
        for _ in range(AUTO_ID_ATTEMPTS):
            try:
                async with ctx.uow.savepoint():
                    [row] = await store.insert_orders(ctx.conn, [drafted.write], StockAsRead())
            except Conflict as conflict:
                if conflict.constraint != UNIQUE_ID_CONSTRAINT:
                    raise
                if order.info.unique_id is not None:
                    raise Fault("order_exists", data={"unique_id": order.info.unique_id}) from None
                continue
            batch.accept(drafted)
            return _Written(row, drafted.store_row)
        raise RuntimeError("could not find a free unique_id after several attempts")
    except BaseException:
        batch.give_back(drafted)
        raise


async def _write_one_by_one(ctx: CallContext, orders: dict[str, OrderInput]) -> dict[str, Outcome]:
    batch = await _decide(ctx, orders, lock=True)
    outcomes: dict[str, Outcome] = {}
    for key, order in orders.items():
        try:
            outcomes[key] = await _write_alone(ctx, batch, key, order)
        except Fault as fault:
            outcomes[key] = fault
    return outcomes


def _decided_on_changed_data(refused: StoreRefused) -> bool:
    """Whether an optimistic write was refused because what it read changed meanwhile."""
    return (isinstance(refused, Stale)
            or isinstance(refused, ConstraintViolated) and refused.constraint == STOCK_CHECK
            or isinstance(refused, Conflict) and refused.constraint == UNIQUE_ID_CONSTRAINT)


async def create_orders(ctx: CallContext, orders: dict[str, OrderInput]) -> dict[str, Outcome]:
    """Create the orders (keyed as the caller keyed them); each is written or refused alone."""
    if not any(_ref_check(order) for order in orders.values()):
        try:
            return await _write_together(ctx, orders, lock=False)
        except StoreRefused as refused:
            if not _decided_on_changed_data(refused):
                raise
    ctx.uow.begin()
    try:
        return await _write_together(ctx, orders, lock=True)
    except Conflict as conflict:
        if conflict.constraint != UNIQUE_ID_CONSTRAINT:
            raise
    await ctx.uow.rollback()  # the refused write aborted the transaction: decide again
    return await _write_one_by_one(ctx, orders)


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
), transaction=WRITE_ON_BEGIN)
async def order_create(
    ctx: CallContext,
    storeCode: Any = None,  # noqa: N803 (ShipStream's argument names are part of the API)
    items: Any = REQUIRED,
    address: Any = REQUIRED,
    info: Any = REQUIRED,
    flags: Any = None,
) -> AfterCommit:
    order = parse_order(storeCode, items, address, info, flags, max_items=ctx.settings.max_order_items)
    [outcome] = (await create_orders(ctx, {"order": order})).values()
    if isinstance(outcome, Fault):
        raise outcome
    return AfterCommit(lambda: outcome.properties(ctx))


# ----------------------------------------------------------------------------- bulk_create


def _parse_bulk_entry(args: Any, max_items: int) -> OrderInput:
    if isinstance(args, dict):
        args = [args.get(name) for name in ("storeCode", "items", "address", "info", "flags")]
    if not isinstance(args, list) or not 4 <= len(args) <= 5:
        raise Fault("order_invalid_data", "each order must be [storeCode, items, address, info] or [..., flags]")
    return parse_order(*args, *([None] * (5 - len(args))), max_items=max_items)


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
), transaction=WRITE_ON_BEGIN)
async def order_bulk_create(ctx: CallContext, orders: Any = REQUIRED) -> AfterCommit:
    """Each order succeeds or fails alone; the result maps each key to the order's properties
    or to ``{"error": {"code": -321xx, "message": ...}}``."""
    if isinstance(orders, list):
        orders = {str(index): args for index, args in enumerate(orders)}
    if not isinstance(orders, dict):
        raise Fault("order_invalid_data", "orders must be an object mapping your keys to order.create arguments")
    limit = ctx.settings.max_bulk_orders
    if len(orders) > limit:
        raise Fault("order_invalid_data", f"orders: at most {limit} orders per order.bulk_create, got {len(orders)}")
    outcomes: dict[str, Outcome] = {}
    parsed: dict[str, OrderInput] = {}
    for key, args in orders.items():
        try:
            parsed[key] = _parse_bulk_entry(args, ctx.settings.max_order_items)
        except Fault as fault:
            outcomes[key] = fault
    if parsed:
        outcomes.update(await create_orders(ctx, parsed))
    # In the caller's key order; the orders written are projected after the commit.
    in_order = [(key, outcomes[key]) for key in orders]
    return AfterCommit(lambda: {key: {"error": outcome.to_error()} if isinstance(outcome, Fault) else outcome.properties(ctx)
                                for key, outcome in in_order})
