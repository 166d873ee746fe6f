"""log.write (ShipStream log.md): an integration writes an entry to its merchant's log."""

from __future__ import annotations

from typing import Any

from rpc_fulfillment.core.api import EVERYONE, Arg, Doc, api_method
from rpc_fulfillment.core.context import CallContext
from rpc_fulfillment.core.schema import TRUE_RESULT, WHOLE, nullable, obj
from rpc_fulfillment.merchant_log import queries as store
from rpc_fulfillment.merchant_log import rules as domain

LOG_DATA = obj(
    {
        "store_id": {**nullable(WHOLE), "description": "one of the merchant's stores (store.list)"},
        "severity": {"enum": list(domain.SEVERITIES), "default": domain.DEFAULT_SEVERITY},
        **{name: {"type": ["string", "null"], "maxLength": limit} for name, limit in domain.TEXT_LIMITS.items()},
    },
    required=("message",),
)


@api_method("log.write", EVERYONE, Doc(
    "Write an entry to the merchant's log.",
    args={"logData": Arg(LOG_DATA)},
    result=TRUE_RESULT,
    faults=(domain.INVALID,),
    description=f"The newest {domain.KEEP_PER_MERCHANT} entries of each merchant are kept; older ones are deleted.",
), transaction=None)
async def log_write(ctx: CallContext, logData: Any) -> bool:  # noqa: N803 (ShipStream's argument name)
    entry = domain.parse_log_data(logData)
    principal = ctx.principal
    if not await store.write_entry(ctx.conn, principal.merchant_id, principal.api_user_id, entry, domain.KEEP_PER_MERCHANT):
        raise domain.invalid(f"logData.store_id: the merchant has no store {entry.store_id}")
    return True
