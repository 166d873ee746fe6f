"""product.create, product.info, product.update, product.search: one transaction each.

Events (the outbox) are written in the transaction of the change: ``product:created`` and
``product:updated``, whose message is the product as product.info answers it. Reads are one
statement each (their own transaction, no BEGIN/COMMIT round trips).
"""

from __future__ import annotations

from typing import Any

from rpc_fulfillment.core.lenient import text_or_number
from rpc_fulfillment.products import rules as domain
from rpc_fulfillment.core.faults import Fault
from rpc_fulfillment.core.filters import paginated, parse_filters, parse_options
from rpc_fulfillment.core.context import CallContext
from rpc_fulfillment.db import outbox as events
from rpc_fulfillment.products import queries as store

INVALID_FILTERS = "product_invalid_filters"


def _lookup_sku(sku: Any) -> str:
    """The SKU of info/update: anything that cannot be a SKU names no product (fault 101)."""
    sku = text_or_number(sku)
    if not isinstance(sku, str):
        raise Fault("product_not_found", "the SKU must be a string")
    return sku


async def product_create(ctx: CallContext, sku: Any, data: Any) -> bool:
    sku = domain.parse_sku(sku)
    changes = domain.parse_product_data(sku, data, creating=True)
    merchant_id = ctx.principal.merchant_id
    async with ctx.pool.acquire() as conn, conn.transaction():
        row = await store.insert_product(conn, merchant_id, sku, changes.columns, changes.attributes)
        if row is None:
            raise Fault("product_sku_exists", f"SKU {sku!r} already exists")
        await events.emit(conn, merchant_id, "product:created", domain.product_view(row))
    return True


async def product_info(ctx: CallContext, sku: Any) -> dict[str, Any]:
    sku = _lookup_sku(sku)
    async with ctx.pool.acquire() as conn:
        row = await store.find_product(conn, ctx.principal.merchant_id, sku)
    if row is None:
        raise Fault("product_not_found", f"no product with SKU {sku[:100]!r}")
    return domain.product_view(row)


async def product_update(ctx: CallContext, sku: Any, data: Any) -> bool:
    sku = _lookup_sku(sku)
    changes = domain.parse_product_data(sku, data, creating=False)
    merchant_id = ctx.principal.merchant_id
    async with ctx.pool.acquire() as conn, conn.transaction():
        if not changes:
            # Nothing to change: no write, no event; the SKU must still exist.
            found = await store.product_exists(conn, merchant_id, sku)
        else:
            row = await store.update_product(conn, merchant_id, sku, changes.columns, changes.attributes)
            found = row is not None
            if found:
                await events.emit(conn, merchant_id, "product:updated", domain.product_view(row))
    if not found:
        raise Fault("product_not_found", f"no product with SKU {sku[:100]!r}")
    return True


async def product_search(ctx: CallContext, filters: Any = None, options: Any = None) -> dict[str, Any]:
    """ShipStream documents a plain array here but its own client reads a ``result`` key; we
    answer the paginated shape ``{results, totalCount, numPages}`` like every other search."""
    conditions = parse_filters(filters, domain.SEARCH_FIELDS, INVALID_FILTERS)
    page = parse_options(options, domain.SORT_FIELDS, domain.DEFAULT_SORT, INVALID_FILTERS)
    async with ctx.pool.acquire() as conn:
        rows, total = await store.search_products(conn, ctx.principal.merchant_id, conditions, page)
    return paginated([domain.product_view(row) for row in rows], total, page)
