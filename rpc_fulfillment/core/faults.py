"""ShipStream's fault table: every fault the server can raise, with its exact message.

Fault numbers are per resource (100 means one thing for orders and another for shipments),
so each fault has a name. On the wire fault N becomes JSON-RPC code -(32000 + N).
Where ShipStream's message says "Details in error message" the detail replaces the message;
otherwise the message stays fixed and the detail travels in the error's ``data``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FaultSpec:
    number: int
    message: str

    @property
    def details_in_message(self) -> bool:
        return "Details in error message" in self.message

    @property
    def wire_code(self) -> int:
        return -(32000 + self.number)


FAULTS: dict[str, FaultSpec] = {
    # Global faults (ShipStream api-basics; Magento 1 api.xml).
    "unknown": FaultSpec(0, "Unknown Error"),
    "internal": FaultSpec(1, "Internal Error. Please see log for details."),
    "access_denied": FaultSpec(2, "Access denied."),
    "invalid_api_path": FaultSpec(3, "Invalid api path."),
    "resource_not_callable": FaultSpec(4, "Resource path is not callable."),
    "session_expired": FaultSpec(5, "Session expired. Try to relogin."),
    # The OpenMage server's exact text (reference §1.4); the Mintlify docs shorten it.
    "required_parameter": FaultSpec(6, 'Required parameter is missing, for more details see "exception.log".'),
    # Ours: a call stopped, or not run, at the request's time limit (request_timeout).
    "request_timeout": FaultSpec(8, "Request time limit exceeded."),
    # Ours, over HTTP 503 with Retry-After: the database cannot be reached. ShipStream documents
    # no such fault; 53 recalls the HTTP status, as 29 and 9 do for 429 and 409 (accounts/limits.py).
    "unavailable": FaultSpec(53, "Service temporarily unavailable."),
    # order resource (ShipStream order.md)
    "order_not_found": FaultSpec(100, "Requested order does not exist."),
    "order_invalid_filters": FaultSpec(101, "Invalid filters given. Details in error message."),
    "order_invalid_data": FaultSpec(102, "Invalid data given. Details in error message."),
    "order_status_not_changed": FaultSpec(103, "Order status not changed. Details in error message."),
    "order_comment_not_added": FaultSpec(103, "Order comment not added. Details in error message."),
    "order_exists": FaultSpec(104, "An order with the specified ID already exists."),
    "order_not_editable": FaultSpec(105, "The order cannot be edited."),
    "order_invalid_script": FaultSpec(106, "Invalid script given. Details in error message."),
    "order_product_not_found": FaultSpec(107, "Product does not exist."),
    # product resource (ShipStream product.md)
    "product_not_found": FaultSpec(101, "Product not exists."),
    "product_invalid_data": FaultSpec(102, "Invalid data given. Details in error message."),
    "product_type_not_allowed": FaultSpec(104, "Product type is not in allowed types."),
    "product_sku_exists": FaultSpec(107, "Another product with this SKU already exists."),
    "product_invalid_filters": FaultSpec(108, "Invalid filters given. Details in error message."),
    # inventory and stock_movement resources (ShipStream documents no faults for the
    # methods we add; these follow the product resource's numbering and wording)
    "inventory_product_not_found": FaultSpec(101, "Product not exists."),
    "inventory_invalid_data": FaultSpec(102, "Invalid data given. Details in error message."),
    "inventory_not_adjusted": FaultSpec(103, "Stock not adjusted. Details in error message."),
    "stock_movement_invalid_filters": FaultSpec(101, "Invalid filters given. Details in error message."),
    # shipment resource (ShipStream shipment.md documents 100 and 101; the warehouse-side
    # methods we add refuse with 102+, in ShipStream's "Details in error message" wording)
    "shipment_not_found": FaultSpec(100, "Requested shipment does not exist."),
    "shipment_invalid_filters": FaultSpec(101, "Invalid filters given. Details in error message."),
    "shipment_invalid_data": FaultSpec(102, "Invalid data given. Details in error message."),
    "shipment_not_created": FaultSpec(103, "Shipment not created. Details in error message."),
    "shipment_not_packed": FaultSpec(104, "Shipment not packed. Details in error message."),
    "shipment_not_shipped": FaultSpec(105, "Shipment not shipped. Details in error message."),
    "shipment_not_delivered": FaultSpec(106, "Shipment not delivered. Details in error message."),
    "shipment_not_canceled": FaultSpec(107, "Shipment not canceled. Details in error message."),
    "shipment_labels_not_voided": FaultSpec(108, "Shipment labels not voided. Details in error message."),
    # webhook resource (ShipStream webhook.md: 100 to 106; 107 is ours, for webhook.replay)
    "webhook_status_not_changed": FaultSpec(100, "Error changing status for specified webhook. Details in error message."),
    "webhook_invalid_data": FaultSpec(101, "Invalid data given. Details in error message."),
    "webhook_create_error": FaultSpec(102, "An unexpected error occurred while creating the webhook."),
    "webhook_not_found": FaultSpec(103, "Webhook not exists."),
    "webhook_delete_error": FaultSpec(104, "An unexpected error occurred while deleting the webhook."),
    "webhook_not_deleted": FaultSpec(105, "Webhook not deleted. Details in error message."),
    "webhook_not_created": FaultSpec(106, "Webhook not created. Details in error message."),
    "webhook_event_not_found": FaultSpec(107, "Event not exists."),
    # state resource (ShipStream state.md documents no faults; invalid data is 100 as in log.md)
    "state_invalid_data": FaultSpec(100, "Invalid data given. Details in error message."),
    # log resource (ShipStream log.md)
    "log_invalid_data": FaultSpec(100, "Invalid data given. Details in error message."),
    # event resource (ours: the polling feed, event.list)
    "event_invalid_data": FaultSpec(101, "Invalid data given. Details in error message."),
}


class Fault(Exception):
    """A ShipStream fault raised anywhere below the envelope.

    ``detail`` is the human explanation (which field, which SKU, which status); ``data`` is
    optional structured data for clients. When the fault's message is fixed, the detail goes
    into ``data`` unless structured data was given.
    """

    def __init__(self, name: str, detail: str | None = None, data: Any = None) -> None:
        self.spec = FAULTS[name]
        self.name = name
        self.detail = detail
        self._data = data
        super().__init__(f"{name}: {detail or self.spec.message}")

    @property
    def number(self) -> int:
        return self.spec.number

    @property
    def message(self) -> str:
        if self.spec.details_in_message and self.detail:
            return self.detail
        return self.spec.message

    @property
    def data(self) -> Any:
        """What goes into the JSON-RPC error's ``data`` (None: nothing)."""
        if self._data is not None:
            return self._data
        return None if self.spec.details_in_message else self.detail

    def to_error(self) -> dict[str, Any]:
        """The JSON-RPC error object: code -(32000 + N), the message, the data if any. The one
        place a fault becomes its wire shape (the envelope's errors, multiCall's and
        order.bulk_create's entries are all built from it)."""
        error: dict[str, Any] = {"code": self.spec.wire_code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


# Seconds a client is told to wait (Retry-After, and the fault's data) while the database is down.
UNAVAILABLE_RETRY_AFTER = 5


class DatabaseUnavailable(Fault):
    """The database could not be reached (refused, lost, shutting down, starting up): nothing of
    the call was committed, unless the connection was lost while committing."""

    def __init__(self, request_id: str) -> None:
        super().__init__("unavailable", data={
            "detail": f"the database cannot be reached; retry after {UNAVAILABLE_RETRY_AFTER} s",
            "retry_after": UNAVAILABLE_RETRY_AFTER, "request_id": request_id,
        })


class InvalidParams(Exception):
    """Arguments that do not fit the method: JSON-RPC -32602 "Invalid params" with the detail."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class StoreRefused(Exception):
    """A statement the database refused by one of its rules (db/uow.py raises these in place of
    the driver's errors); ``constraint`` names the rule when the database does."""

    def __init__(self, constraint: str | None, detail: str) -> None:
        super().__init__(detail)
        self.constraint = constraint


class Conflict(StoreRefused):
    """A unique constraint: the row exists already."""


class ConstraintViolated(StoreRefused):
    """A check, foreign-key or not-null constraint."""


class OutOfRange(StoreRefused):
    """A number too large for its column."""


class Stale(StoreRefused):
    """A statement that re-checks what it was decided on found it changed since it was read
    (order.create's optimistic write); nothing of the statement was written."""
