"""product.create, product.info, product.update, product.search: one transaction each.

Events (the outbox) are written in the transaction of the change: ``product:created`` and
``product:updated``, whose message is the product as product.info answers it. Reads are one
statement each (their own transaction, no BEGIN/COMMIT round trips).
"""

from __future__ import annotations

from typing import Any

from rpc_fulfillment.core.lenient import identifier_key, text_or_number
from rpc_fulfillment.products import rules as domain
from rpc_fulfillment.core.faults import Fault
from rpc_fulfillment.core.filters import Search
from rpc_fulfillment.core.context import CallContext
from rpc_fulfillment.db import outbox as events
from rpc_fulfillment.products import queries as store
from rpc_fulfillment.core.api import EVERYONE, INTEGRATION, Arg, Doc, api_method
from rpc_fulfillment.core.schema import TRUE_RESULT, array_of, keys_only, search_doc


SKU = Arg({"type": ["string", "integer"], "minLength": 1, "maxLength": domain.SKU_MAX}, "the product's SKU")
PRODUCT_VIEW = keys_only(
    tuple(domain.ProductData.model_fields) + ("product_id", "created_at", "updated_at"),
    "the product as product.info answers it",
)

INVALID_FILTERS = "product_invalid_filters"


def _lookup_sku(sku: Any) -> str:
    """The SKU of info/update: anything that cannot be a SKU names no product (fault 101)."""
    sku = text_or_number(sku)
    if not isinstance(sku, str):
        raise Fault("product_not_found", "the SKU must be a string")
    return identifier_key(sku)


@api_method("product.create", INTEGRATION, Doc(
    "Create a product.",
    args={
        "sku": SKU,
        "data": Arg(domain.ProductData, "the product's properties; name is required. Unknown keys are "
                                                "refused by name; each value is checked by the server's own rules "
                                                "(the schema lists the keys, not every rule)"),
    },
    result=TRUE_RESULT,
    faults=("product_invalid_data", "product_sku_exists"),
    description="Writes a product:created event in the same transaction.",
))
async def product_create(ctx: CallContext, sku: Any, data: Any) -> bool:
    sku = domain.parse_sku(sku)
    changes = domain.parse_product_data(sku, data, creating=True)
    merchant_id = ctx.principal.merchant_id
    conn = ctx.conn
    row = await store.insert_product(conn, merchant_id, sku, changes.columns, changes.attributes)
    if row is None:
        raise Fault("product_sku_exists", f"SKU {sku!r} already exists")
    await events.emit(conn, merchant_id, "product:created", domain.product_view(row))
    return True


@api_method("product.info", EVERYONE, Doc(
    "One product by SKU.", PRODUCT_VIEW, {"sku": SKU}, ("product_not_found",)), transaction=None)
async def product_info(ctx: CallContext, sku: Any) -> dict[str, Any]:
    sku = _lookup_sku(sku)
    conn = ctx.conn
    row = await store.find_product(conn, ctx.principal.merchant_id, sku)
    if row is None:
        raise Fault("product_not_found", f"no product with SKU {sku[:100]!r}")
    return domain.product_view(row)


@api_method("product.update", INTEGRATION, Doc(
    "Change some properties of a product; null clears one.",
    args={"sku": SKU, "data": Arg(domain.ProductData, "only the properties to change")},
    result=TRUE_RESULT,
    faults=("product_not_found", "product_invalid_data"),
    description="Writes a product:updated event when something changed.",
))
async def product_update(ctx: CallContext, sku: Any, data: Any) -> bool:
    sku = _lookup_sku(sku)
    changes = domain.parse_product_data(sku, data, creating=False)
    merchant_id = ctx.principal.merchant_id
    conn = ctx.conn
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


SEARCH = Search(domain.SEARCH_FIELDS, domain.SORT_FIELDS, domain.DEFAULT_SORT, INVALID_FILTERS)


@api_method("product.search", EVERYONE, search_doc(
    "Search the merchant's products.", SEARCH, array_of(PRODUCT_VIEW),
    description="A plain array of products, as documented (page through it with options' page and limit).",
), transaction=None)
async def product_search(ctx: CallContext, filters: Any = None, options: Any = None) -> list[dict[str, Any]]:
    """The documented plain array, which the official OpenMage plugin reads as such."""
    conditions, page = SEARCH.parse(filters, options)
    conn = ctx.conn
    rows = await store.search_products(conn, ctx.principal.merchant_id, conditions, page)
    return [domain.product_view(row) for row in rows]
