"""state.get and state.set (ShipStream state.md): the merchant's key-value store.

Keys belong to the caller's merchant: another merchant's key of the same name is another
value. ``ifEquals`` is an atomic compare-and-set, and a write of the value a key already has
is no update (false): of two callers racing to set a lock, exactly one is answered true
(state/queries.py says why).
"""

from __future__ import annotations

from typing import Any

from rpc_fulfillment.core.api import EVERYONE, Arg, Doc, api_method
from rpc_fulfillment.core.context import CallContext
from rpc_fulfillment.core.schema import BOOLEAN, INTEGER, STRING, nullable, obj
from rpc_fulfillment.state import queries as store
from rpc_fulfillment.state import rules as domain

KEY = {"type": "string", "minLength": 1, "description": f"1 to {domain.KEY_MAX_BYTES} bytes"}
VALUE = {"description": f"any JSON value, at most {domain.VALUE_MAX_BYTES} bytes; null deletes the key"}
DETAILED_STATE = obj({"value": {}, "updated_at": {**STRING, "description": "Y-m-d H:i:s, UTC"}, "update_count": INTEGER})


@api_method("state.get", EVERYONE, Doc(
    "Get one or more state values.",
    args={
        "keys": Arg({"anyOf": [KEY, {"type": "array", "items": KEY, "maxItems": domain.MAX_KEYS}]},
                    "a key, or an array of keys"),
        "detailed": Arg({**BOOLEAN, "default": False}, "answer {value, updated_at, update_count} for each key"),
    },
    result={"anyOf": [{}, nullable(DETAILED_STATE), {"type": "object", "additionalProperties": {}}]},
    result_description="for a key its value (null when not set); for an array of keys an object of each key's value",
    faults=(domain.INVALID,),
), transaction=None)
async def state_get(ctx: CallContext, keys: Any, detailed: Any = False) -> Any:
    key_list, as_object = domain.parse_get_keys(keys)
    is_detailed = domain.parse_detailed(detailed)
    rows = await store.fetch_states(ctx.conn, ctx.principal.merchant_id, key_list) if key_list else []
    return domain.get_answer(key_list, as_object, rows, is_detailed)


@api_method("state.set", EVERYONE, Doc(
    "Set, change or delete one or more state values.",
    args={
        "keys": Arg({"anyOf": [KEY, {"type": "object", "additionalProperties": VALUE, "maxProperties": domain.MAX_KEYS}]},
                    "a key, or an object of keys and their values"),
        "data": Arg(VALUE, "the key's value when keys is a key (null when keys is an object)"),
        "ifEquals": Arg({"type": ["string", "integer", "null"]},
                        "write only the keys whose value is this now (compared as text: 5 matches \"5\")"),
    },
    result=BOOLEAN,
    result_description="true when at least one value was inserted, changed or deleted",
    faults=(domain.INVALID,),
    description=f"A merchant keeps at most {domain.MAX_KEYS} keys. Writing the value a key already has changes "
                "nothing and is not an update.",
))
async def state_set(ctx: CallContext, keys: Any, data: Any = None,
                    ifEquals: Any = None) -> bool:  # noqa: N803 (ShipStream's argument name)
    write = domain.parse_set(keys, data, ifEquals)
    merchant_id = ctx.principal.merchant_id
    conn = ctx.conn
    # Keys in one order, so that two calls writing the same keys wait for each other instead of deadlocking.
    values = dict(sorted(write.values.items()))
    written = 0
    if values and write.if_equals is not None:
        written = await store.update_states_if_equal(conn, merchant_id, values, write.if_equals)
    elif values:
        written, inserted = await store.upsert_states(conn, merchant_id, values)
        # Counted after the write, in its transaction: the fault undoes it.
        if inserted and await store.count_keys(conn, merchant_id) > domain.MAX_KEYS:
            raise domain.invalid(f"a merchant may keep at most {domain.MAX_KEYS} state keys; delete some first")
    if write.deletes:
        written += await store.delete_states(conn, merchant_id, sorted(write.deletes), write.if_equals)
    return written > 0
