"""shipment.info and shipment.search:
everything a page needs in one query per kind of row, never one per row."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import asyncpg

from rpc_fulfillment.shipments import rules as shipment_domain
from rpc_fulfillment.core.faults import Fault
from rpc_fulfillment.core.selection import Selection
from rpc_fulfillment.core.filters import Search
from rpc_fulfillment.shipments.views import (
    EVERYTHING,
    ShipmentRelated,
    project,
    select_shipment_fields,
)
from rpc_fulfillment.shipments.rules import NOT_FOUND, shipment_id_argument
from rpc_fulfillment.core.api import EVERYONE, READ, Doc, api_method
from rpc_fulfillment.core.schema import array_of, search_doc
from rpc_fulfillment.shipments.docs import SHIPMENT_FIELDS, SHIPMENT_ID, SHIPMENT_PROPERTIES
from rpc_fulfillment.core.context import REQUIRED, CallContext
from rpc_fulfillment.shipments import queries as store
from rpc_fulfillment.db.pool import Connection


async def shipment_or_fault(conn: Connection, merchant_id: int, shipment_id: Any, *, lock: bool = False) -> asyncpg.Record:
    """The caller's shipment, or fault 100 (also for another merchant's shipment)."""
    row = await store.find_shipment(conn, merchant_id, shipment_id_argument(shipment_id), lock=lock)
    if row is None:
        raise Fault(NOT_FOUND)
    return row


async def related_rows(conn: Connection, shipment_ids: list[int], selection: Selection) -> dict[int, ShipmentRelated]:
    related = {shipment_id: ShipmentRelated() for shipment_id in shipment_ids}
    if not shipment_ids:
        return related
    if selection.wants("items"):
        for item in await store.fetch_items(conn, shipment_ids):
            related[item["shipment_id"]].items.append(item)
    if selection.wants("packages"):
        for package in await store.fetch_packages(conn, shipment_ids):
            related[package["shipment_id"]].packages.append(package)
    if selection.wants("tracking_numbers"):
        for tracking in await store.fetch_tracking(conn, shipment_ids):
            related[tracking["shipment_id"]].tracking_numbers.append(tracking)
    return related


async def shipment_properties(conn: Connection, rows: Sequence[Mapping[str, Any]],
                              selection: Selection = EVERYTHING) -> list[dict[str, Any]]:
    related = await related_rows(conn, [row["shipment_id"] for row in rows], selection)
    return [project(row, selection, related[row["shipment_id"]]) for row in rows]


@api_method("shipment.info", EVERYONE, Doc(
    "One shipment.", SHIPMENT_PROPERTIES, {"shipment_id": SHIPMENT_ID}, ("shipment_not_found",)), transaction=READ)
async def shipment_info(ctx: CallContext, shipment_id: Any = REQUIRED) -> dict[str, Any]:
    conn = ctx.conn
    row = await shipment_or_fault(conn, ctx.principal.merchant_id, shipment_id)
    return (await shipment_properties(conn, [row]))[0]


SEARCH = Search(shipment_domain.SEARCH_FIELDS, shipment_domain.SORT_FIELDS, shipment_domain.DEFAULT_SORT,
                "shipment_invalid_filters")


@api_method("shipment.search", EVERYONE, search_doc(
    "Search the merchant's shipments.", SEARCH, array_of(SHIPMENT_PROPERTIES), fields=SHIPMENT_FIELDS,
    description="A plain array of shipments, as documented (page through it with options' page and limit).",
), transaction=READ)
async def shipment_search(ctx: CallContext, filters: Any = None, options: Any = None, fields: Any = []) -> list[dict[str, Any]]:  # noqa: B006
    selection = select_shipment_fields(fields, SEARCH.fault)
    conditions, page = SEARCH.parse(filters, options)
    conn = ctx.conn
    rows = await store.search(conn, ctx.principal.merchant_id, conditions, page)
    return await shipment_properties(conn, rows, selection)
