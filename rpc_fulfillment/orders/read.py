"""order.info and order.search: reading orders, with items and history fetched per page."""

from __future__ import annotations

from typing import Any, Mapping


from rpc_fulfillment.orders import search_fields as order_search_fields
from rpc_fulfillment.orders.views import Related, Selection, project, select_fields
from rpc_fulfillment.core.filters import paginated, Search
from rpc_fulfillment.core.api import EVERYONE, READ, Doc, api_method
from rpc_fulfillment.core.schema import paginated_schema, search_doc
from rpc_fulfillment.fulfillment.order_rows import ORDER_UNIQUE_ID
from rpc_fulfillment.orders.docs import ORDER_FIELDS, ORDER_PROPERTIES, ORDER_STATUSES
from rpc_fulfillment.core.context import REQUIRED, CallContext
from rpc_fulfillment.shipments import queries as shipment_queries
from rpc_fulfillment.orders import search_queries as search_store
from rpc_fulfillment.orders import queries as store
from rpc_fulfillment.db.pool import Connection
from rpc_fulfillment.fulfillment.order_rows import fetch_items, order_or_fault


async def related_rows(conn: Connection, order_ids: list[int], selection: Selection) -> dict[int, Related]:
    """Items, history, shipments, packages and tracking numbers for a whole page in one query
    each, and only when asked for."""
    related = {order_id: Related(items=[], history=[]) for order_id in order_ids}
    if selection.wants("items"):
        for item in await fetch_items(conn, order_ids):
            related[item["order_id"]].items.append(item)  # type: ignore[attr-defined]
    if selection.wants("status_history"):
        for entry in await store.fetch_history(conn, order_ids):
            related[entry["order_id"]].history.append(entry)  # type: ignore[attr-defined]
    await add_order_expansions(conn, order_ids, selection, related)
    return related


async def order_properties(conn: Connection, row: Mapping[str, Any], selection: Selection) -> dict[str, Any]:
    related = await related_rows(conn, [row["order_id"]], selection)
    return project(row, selection, related[row["order_id"]])


@api_method("order.info", EVERYONE, Doc(
    "One order.",
    args={"orderUniqueId": ORDER_UNIQUE_ID, "fields": ORDER_FIELDS},
    result=ORDER_PROPERTIES,
    faults=("order_not_found", "order_invalid_data"),
), transaction=READ)
async def order_info(ctx: CallContext, orderUniqueId: Any = REQUIRED, fields: Any = []) -> dict[str, Any]:  # noqa: N803, B006
    selection = select_fields(fields, "order_invalid_data")
    conn = ctx.conn
    row = await order_or_fault(conn, ctx, orderUniqueId)
    return await order_properties(conn, row, selection)


SEARCH = Search(order_search_fields.SEARCH_FIELDS, order_search_fields.SORT_FIELDS, order_search_fields.DEFAULT_SORT,
                "order_invalid_filters")


@api_method("order.search", EVERYONE, search_doc(
    "Search the merchant's orders.", SEARCH, paginated_schema(ORDER_PROPERTIES), fields=ORDER_FIELDS,
    description=f"The status filter takes the statuses of the order lifecycle: {', '.join(ORDER_STATUSES)}.",
), transaction=READ)
async def order_search(ctx: CallContext, filters: Any = None, options: Any = None, fields: Any = []) -> dict[str, Any]:  # noqa: B006
    selection = select_fields(fields, SEARCH.fault)
    conditions, page = SEARCH.parse(filters, options)
    conn = ctx.conn
    rows, total = await search_store.search(conn, ctx.principal.merchant_id, conditions, page)
    related = await related_rows(conn, [row["order_id"] for row in rows], selection)
    results = [project(row, selection, related[row["order_id"]]) for row in rows]
    return paginated(results, total, page)


async def add_order_expansions(conn: Connection, order_ids: list[int], selection: Selection,
                               related: Mapping[int, Related]) -> None:
    """order.info / order.search: shipments, packages and tracking_numbers of a whole page,
    one query each, only when asked for."""
    if not order_ids:
        return
    kinds = (
        ("shipments", shipment_queries.order_shipments),
        ("packages", shipment_queries.order_packages),
        ("tracking_numbers", shipment_queries.order_tracking),
    )
    for name, fetch in kinds:
        if not selection.wants(name):
            continue
        grouped: dict[int, list[Any]] = {order_id: [] for order_id in order_ids}
        for row in await fetch(conn, order_ids):
            grouped[row["order_id"]].append(row)
        for order_id, rows in grouped.items():
            setattr(related[order_id], name, rows)
