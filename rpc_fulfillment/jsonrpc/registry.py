"""The API method table: every ``resource.method``, the service function behind it, and the
roles that may call it. This table is the only place permissions are decided.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from rpc_fulfillment.accounts import catalog

from rpc_fulfillment.inventory import api as inventory

from rpc_fulfillment.orders import actions as order_actions

from rpc_fulfillment.orders import edit as order_changes

from rpc_fulfillment.orders import read as order_queries

from rpc_fulfillment.orders import create as orders

from rpc_fulfillment.products import api as products
from rpc_fulfillment.webhooks import api as webhooks
from rpc_fulfillment.shipments import read as shipment_queries
from rpc_fulfillment.shipments import api as shipments
from rpc_fulfillment.core.context import REQUIRED

MERCHANT, WAREHOUSE, ADMIN = "merchant", "warehouse", "admin"
# "admin may do both": it appears in every set.
EVERYONE = frozenset({MERCHANT, WAREHOUSE, ADMIN})
INTEGRATION = frozenset({MERCHANT, ADMIN})
OPERATIONS = frozenset({WAREHOUSE, ADMIN})

Handler = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Parameter:
    name: str
    required: bool
    default: Any


@dataclass(frozen=True)
class ApiMethod:
    path: str
    handler: Handler
    roles: frozenset[str]
    parameters: tuple[Parameter, ...]


# Methods whose call is not re-run after a deadlock or serialization failure (jsonrpc/dispatch.py
# retries every other one): they commit more than once, so a failure after the first commit
# cannot be undone by a retry. webhook.test commits its ping, then waits for the worker.
NOT_RETRIED = frozenset({"webhook.test"})


def _parameters(handler: Handler) -> tuple[Parameter, ...]:
    """The API arguments of a service function: everything after its CallContext."""
    listed = list(inspect.signature(handler).parameters.values())[1:]
    return tuple(
        Parameter(p.name, required, None if required else p.default)
        for p in listed
        for required in [p.default is inspect.Parameter.empty or p.default is REQUIRED]
    )


async def _discover(ctx: Any) -> dict[str, Any]:
    """rpc.discover inside a session: the OpenRPC document (jsonrpc/docs/openrpc.py)."""
    from rpc_fulfillment.jsonrpc.docs.openrpc import document  # lazy: the document reads this table

    return document()


def _table(entries: dict[str, tuple[Handler, frozenset[str]]]) -> dict[str, ApiMethod]:
    return {
        path: ApiMethod(path, handler, roles, _parameters(handler)) for path, (handler, roles) in entries.items()
    }


METHODS: dict[str, ApiMethod] = _table(
    {
        "store.list": (catalog.store_list, EVERYONE),
        "warehouse.list": (catalog.warehouse_list, EVERYONE),
        "product.search": (products.product_search, EVERYONE),
        "product.info": (products.product_info, EVERYONE),
        "product.create": (products.product_create, INTEGRATION),
        "product.update": (products.product_update, INTEGRATION),
        "inventory.list": (inventory.inventory_list, EVERYONE),
        "inventory.adjust": (inventory.inventory_adjust, OPERATIONS),
        "stock_movement.list": (inventory.stock_movement_list, EVERYONE),
        "order.create": (orders.order_create, INTEGRATION),
        "order.bulk_create": (orders.order_bulk_create, INTEGRATION),
        "order.info": (order_queries.order_info, EVERYONE),
        "order.search": (order_queries.order_search, EVERYONE),
        "order.edit": (order_changes.order_edit, INTEGRATION),
        "order.comment": (order_changes.order_comment, EVERYONE),
        # the warehouse's side; merchants read their shipments and may set a shipment's source
        "shipment.create": (shipments.shipment_create, OPERATIONS),
        "shipment.pack": (shipments.shipment_pack, OPERATIONS),
        "shipment.ship": (shipments.shipment_ship, OPERATIONS),
        "shipment.deliver": (shipments.shipment_deliver, OPERATIONS),
        "shipment.cancel": (shipments.shipment_cancel, OPERATIONS),
        "shipment.update": (shipments.shipment_update, EVERYONE),
        "shipment.info": (shipment_queries.shipment_info, EVERYONE),
        "shipment.search": (shipment_queries.shipment_search, EVERYONE),
        "order.hold": (order_actions.order_hold, INTEGRATION),
        "order.unhold": (order_actions.order_unhold, INTEGRATION),
        "order.cancel": (order_actions.order_cancel, INTEGRATION),
        # webhooks and the event feed: the merchant's integration, own webhooks only
        "webhook.create": (webhooks.webhook_create, INTEGRATION),
        "webhook.list": (webhooks.webhook_list, INTEGRATION),
        "webhook.update_status": (webhooks.webhook_update_status, INTEGRATION),
        "webhook.delete": (webhooks.webhook_delete, INTEGRATION),
        "webhook.deliveries": (webhooks.webhook_deliveries, INTEGRATION),
        "webhook.replay": (webhooks.webhook_replay, INTEGRATION),
        "webhook.test": (webhooks.webhook_test, INTEGRATION),
        "event.list": (webhooks.event_list, INTEGRATION),
        # the API description (jsonrpc/docs/descriptions.py documents every method of this table)
        "rpc.discover": (_discover, EVERYONE),
    }
)
