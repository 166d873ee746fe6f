"""order.info and order.search: reading orders, with items and history fetched per page."""

from __future__ import annotations

from typing import Any, Mapping

import asyncpg

from rpc_fulfillment.domain import order_search as order_search_fields
from rpc_fulfillment.domain.faults import Fault
from rpc_fulfillment.domain.projection import Related, Selection, project, select_fields
from rpc_fulfillment.domain.search import paginated, parse_filters, parse_options
from rpc_fulfillment.services.context import REQUIRED, CallContext
from rpc_fulfillment.services.shipment_queries import add_order_expansions
from rpc_fulfillment.store import order_search as search_store
from rpc_fulfillment.store import orders as store
from rpc_fulfillment.store.orders import Connection


def unique_id_argument(value: Any) -> str:
    """ShipStream's order ids are strings; loosely typed clients send numbers."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value:
        raise Fault("order_not_found", "the order unique id must be a string")
    return value


async def order_or_fault(conn: Connection, ctx: CallContext, unique_id: Any, *, lock: bool = False) -> asyncpg.Record:
    """The caller's order, or fault 100 (also for another merchant's order)."""
    row = await store.find_order(conn, ctx.principal.merchant_id, unique_id_argument(unique_id), lock=lock)
    if row is None:
        raise Fault("order_not_found")
    return row


async def related_rows(conn: Connection, order_ids: list[int], selection: Selection) -> dict[int, Related]:
    """Items, history, shipments, packages and tracking numbers for a whole page in one query
    each, and only when asked for."""
    related = {order_id: Related(items=[], history=[]) for order_id in order_ids}
    if selection.wants("items"):
        for item in await store.fetch_items(conn, order_ids):
            related[item["order_id"]].items.append(item)  # type: ignore[attr-defined]
    if selection.wants("status_history"):
        for entry in await store.fetch_history(conn, order_ids):
            related[entry["order_id"]].history.append(entry)  # type: ignore[attr-defined]
    await add_order_expansions(conn, order_ids, selection, related)
    return related


async def order_properties(conn: Connection, row: Mapping[str, Any], selection: Selection) -> dict[str, Any]:
    related = await related_rows(conn, [row["order_id"]], selection)
    return project(row, selection, related[row["order_id"]])


async def order_info(ctx: CallContext, orderUniqueId: Any = REQUIRED, fields: Any = []) -> dict[str, Any]:  # noqa: N803, B006
    selection = select_fields(fields, "order_invalid_data")
    async with ctx.pool.acquire() as conn, conn.transaction(readonly=True):
        row = await order_or_fault(conn, ctx, orderUniqueId)
        return await order_properties(conn, row, selection)


async def order_search(ctx: CallContext, filters: Any = None, options: Any = None, fields: Any = []) -> dict[str, Any]:  # noqa: B006
    fault = "order_invalid_filters"
    selection = select_fields(fields, fault)
    conditions = parse_filters(filters, order_search_fields.SEARCH_FIELDS, fault)
    page = parse_options(options, order_search_fields.SORT_FIELDS, order_search_fields.DEFAULT_SORT, fault)
    async with ctx.pool.acquire() as conn, conn.transaction(readonly=True):
        rows, total = await search_store.search(conn, ctx.principal.merchant_id, conditions, page)
        related = await related_rows(conn, [row["order_id"] for row in rows], selection)
    results = [project(row, selection, related[row["order_id"]]) for row in rows]
    return paginated(results, total, page)
