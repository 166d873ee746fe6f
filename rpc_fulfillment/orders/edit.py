"""order.edit and order.comment."""

from __future__ import annotations

from typing import Any

from rpc_fulfillment.core.faults import Fault
from rpc_fulfillment.orders.draft import EXTRA_INFO, extra_info
from rpc_fulfillment.orders.fields import EXTRA, ORDER_FIELDS, SHIPPING_OPTIONS
from rpc_fulfillment.orders.input import (
    INVALID,
    ON_TIME_METHOD,
    InfoInput,
    check_declared_values,
    needs_delivery_date,
    parse_info,
)
from rpc_fulfillment.fulfillment.address import (
    AddressInput,
    address_properties,
    complete_address,
    merged_address,
    parse_address,
)
from rpc_fulfillment.orders.views import scalar_properties, select_fields
from rpc_fulfillment.fulfillment.engine import order_reference
from rpc_fulfillment.fulfillment.states import check_allowed
from rpc_fulfillment.core.api import EVERYONE, INTEGRATION, Arg, Doc, api_method
from rpc_fulfillment.core.schema import STRING, TRUE_RESULT, array_of, obj, or_none
from rpc_fulfillment.fulfillment.order_rows import ORDER_UNIQUE_ID
from rpc_fulfillment.orders.docs import ORDER_PROPERTIES
from rpc_fulfillment.core.context import REQUIRED, CallContext
from rpc_fulfillment.fulfillment.order_rows import order_or_fault
from rpc_fulfillment.orders.read import order_properties
from rpc_fulfillment.db import outbox as events
from rpc_fulfillment.orders import queries as store

STAR = select_fields("*", INVALID)
MAX_COMMENT = 65535
# The info keys order.edit refuses, and why.
NOT_EDITABLE = ORDER_FIELDS.not_editable()
# The editable info keys stored in orders columns of their own (the others: orders.extra, or
# the status history's note).
EDITABLE_COLUMNS = tuple(name for name in ORDER_FIELDS.editable() if ORDER_FIELDS[name].column)
CUSTOM_FIELD_OPERATIONS = ("set", "add", "remove")
# Changing one of these checks the declared-value rule against the order's items.
DECLARED_VALUE_COLUMNS = ("declared_value_service", "declared_value")


@api_method("order.comment", EVERYONE, Doc(
    "Add a comment to an order's status history.",
    args={"orderUniqueId": ORDER_UNIQUE_ID, "comment": Arg({"type": "string", "minLength": 1, "maxLength": 65535})},
    result=TRUE_RESULT,
    faults=("order_not_found", "order_invalid_data", "order_comment_not_added"),
))
async def order_comment(ctx: CallContext, orderUniqueId: Any = REQUIRED, comment: Any = REQUIRED) -> bool:  # noqa: N803
    if not isinstance(comment, str) or not comment.strip():
        raise Fault(INVALID, "comment: must be a non-empty string")
    if len(comment) > MAX_COMMENT:
        raise Fault(INVALID, f"comment: at most {MAX_COMMENT} characters")
    conn = ctx.conn
    row = await order_or_fault(conn, ctx, orderUniqueId, lock=True)
    check_allowed("comment", row["state"], row["status"], "order_comment_not_added", "the order cannot take comments")
    await store.add_history(conn, ctx.principal.merchant_id, row["order_id"], row["state"], row["status"], comment.strip())
    await store.update_order(conn, row["order_id"], {})
    return True


def _info_changes(info: InfoInput, row: Any) -> dict[str, Any]:
    """Columns to set from the info keys the client sent (with the field table's defaults for
    those sent as null, and the columns that follow them), checked against the order's other
    values."""
    given = info.model_fields_set
    refused = [f"info.{key}: {reason}" for key, reason in NOT_EDITABLE.items() if key in given]
    if refused:
        raise Fault(INVALID, "; ".join(refused))
    for name in ORDER_FIELDS.required():
        if name in given and getattr(info, name) is None:
            raise Fault(INVALID, f"info.{name}: cannot be removed")
    sent = {name: getattr(info, name) for name in EDITABLE_COLUMNS if name in given}
    merged = {**dict(row), **sent}
    changes = ORDER_FIELDS.resolved(merged, ORDER_FIELDS.touched_by(sent))
    merged.update(changes)
    if needs_delivery_date(merged["shipping_method"], merged["desired_delivery_date"]):
        raise Fault(INVALID, f"info.desired_delivery_date: is required for shipping method {ON_TIME_METHOD}")
    # stored as order.create stores them; a key sent as null stays null
    dumped = extra_info(info)
    extra = {key: dumped.get(key) for key in EXTRA_INFO if key in given}
    if extra:
        changes[EXTRA] = {**(row[EXTRA] or {}), **extra}
    return changes


def _custom_fields(current: dict[str, Any], operations: Any) -> dict[str, Any]:
    """ShipStream's customFields operations: set (replace all), add (merge), remove (codes)."""
    if not isinstance(operations, dict):
        raise Fault(INVALID, "customFields: must be an object of operations such as {\"add\": {...}}")
    unknown = sorted(set(operations) - set(CUSTOM_FIELD_OPERATIONS))
    if unknown:
        raise Fault(INVALID, f"customFields: unknown operation(s) {', '.join(unknown)}")
    fields = dict(current)
    if "set" in operations:
        if not isinstance(operations["set"], dict):
            raise Fault(INVALID, "customFields.set: must be an object")
        fields = dict(operations["set"])
    if "add" in operations:
        if not isinstance(operations["add"], dict):
            raise Fault(INVALID, "customFields.add: must be an object")
        fields.update(operations["add"])
    if "remove" in operations:
        codes = operations["remove"]
        if not isinstance(codes, list) or not all(isinstance(code, str) for code in codes):
            raise Fault(INVALID, "customFields.remove: must be an array of codes")
        for code in codes:
            fields.pop(code, None)
    return fields


@api_method("order.edit", INTEGRATION, Doc(
    "Change an order's address, information or custom fields while no shipment has started.",
    args={
        "orderUniqueId": ORDER_UNIQUE_ID,
        "address": Arg(or_none(AddressInput), "the address fields to change"),
        "info": Arg(or_none(InfoInput), "the information to change (not unique_id, hold_indefinitely or "
                                         "delayed_ship_date); a note is added to the status history"),
        "customFields": Arg(
            or_none(obj({"set": {"type": "object"}, "add": {"type": "object"}, "remove": array_of(STRING)})),
            "custom field operations: set (replace them all), add (merge) and remove (codes)",
        ),
    },
    result=ORDER_PROPERTIES,
    result_description="the order's properties after the change (fields '*')",
    faults=("order_not_found", "order_invalid_data", "order_not_editable"),
))
async def order_edit(
    ctx: CallContext,
    orderUniqueId: Any = REQUIRED,  # noqa: N803
    address: Any = None,
    info: Any = None,
    customFields: Any = None,  # noqa: N803
) -> dict[str, Any]:
    address_given = parse_address(address, partial=True)
    info_input = parse_info(info, partial=True)
    merchant_id = ctx.principal.merchant_id
    conn = ctx.conn
    row = await order_or_fault(conn, ctx, orderUniqueId, lock=True)
    check_allowed("edit", row["state"], row["status"], "order_not_editable", "shipments have started")
    changes = _info_changes(info_input, row)
    if changes.keys() & set(DECLARED_VALUE_COLUMNS):
        service, value = (changes.get(name, row[name]) for name in DECLARED_VALUE_COLUMNS)
        check_declared_values(service, value, await store.declares_item_values(conn, row["order_id"]))
    if customFields is not None and customFields != []:  # [] is PHP's empty array
        extra = changes.get("extra", dict(row["extra"] or {}))
        extra["custom_fields"] = _custom_fields(extra.get("custom_fields", {}), customFields)
        changes["extra"] = extra
    if address_given:
        new_address = complete_address(merged_address(row["shipping_address"], address_given))
        if new_address != row["shipping_address"]:
            changes.update(shipping_address=new_address, is_address_modified=True)
            await events.emit(conn, merchant_id, "order:address_changed", {
                **order_reference(row),
                # an address change leaves the status as it is: ShipStream sends the pair anyway
                "old_status": row["status"], "status": row["status"], "old_state": row["state"], "state": row["state"],
                "old_address": address_properties(row["shipping_address"]), "address": address_properties(new_address),
                "update_method": "api",
            })
    if info_input.note:
        await store.add_history(conn, merchant_id, row["order_id"], row["state"], row["status"], info_input.note)
    await store.update_order(conn, row["order_id"], changes)
    updated = await order_or_fault(conn, ctx, row["unique_id"])
    options_changed = _shipping_options_changed(row, updated)
    if options_changed:
        await events.emit(conn, merchant_id, "order:shipping_options_changed", options_changed)
    return await order_properties(conn, updated, STAR)


def _shipping_options_changed(before: Any, after: Any) -> dict[str, Any] | None:
    """order:shipping_options_changed's message when some shipping option changed: the
    changed ones, old and new, as order.info shows them."""
    old, new = scalar_properties(before), scalar_properties(after)
    changed = [name for name in SHIPPING_OPTIONS if old[name] != new[name]]
    if not changed:
        return None
    return {
        **order_reference(after), "status": after["status"], "state": after["state"],
        "shipping_options": {name: new[name] for name in changed},
        "old_shipping_options": {name: old[name] for name in changed},
    }
