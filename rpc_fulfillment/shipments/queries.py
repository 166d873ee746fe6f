"""SQL of shipments: lookups, the writes of create / pack / ship / deliver / cancel (one
statement each), search, and the expansions for whole pages.

Lock order (fulfillment/queries.py): stock rows first (primary-key order), then the order row,
then the shipment row. Every shipment writer holds its order's row lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import asyncpg

from rpc_fulfillment.core.filters import Condition, Page
from rpc_fulfillment.shipments.rules import SEARCH_FIELDS, SORT_FIELDS, PackagePlan
from rpc_fulfillment.core.units import POUNDS_PER
from rpc_fulfillment.db.pool import Connection
from rpc_fulfillment.fulfillment.order_rows import ORDER_SELECT
from rpc_fulfillment.db.search import CUSTOM_PLANS, Column, WhereBuilder, columns_for, fetch_rows


def _pounds(weight: str, unit: str) -> str:
    """SQL for ``weight`` (an expression in ``unit``, a column) in pounds: core/units.py's
    factors, as convert_weight applies them."""
    cases = " ".join(f"WHEN '{name}' THEN {factor}" for name, factor in POUNDS_PER.items() if name != "lb")
    return f"({weight} * CASE {unit} {cases} ELSE 1 END)"


SHIPMENT_SOURCE = """shipments s
      JOIN orders o ON o.order_id = s.order_id
      JOIN stores st ON st.store_id = o.store_id"""

# The items' weight in pounds; items without a weight weigh nothing here (the total is a
# number, as documented).
_ITEM_WEIGHT = f"""(SELECT coalesce(sum({_pounds('(si.qty - si.qty_canceled) * i.weight', 'i.weight_unit')}), 0)
              FROM shipment_items si JOIN order_items i ON i.order_item_id = si.order_item_id
             WHERE si.shipment_id = s.shipment_id)"""

# total_weight: the packages' weight once packed, the items' before (an estimate, as ShipStream's).
SHIPMENT_COLUMNS = f"""s.*, o.unique_id AS order_unique_id, o.order_ref, o.source AS order_source,
           o.state AS order_state, o.status AS order_status, o.shipping_address, o.tpb_group_id,
           o.shipping_method, o.carrier_code, st.code AS store_code,
           (SELECT coalesce(sum(si.qty - si.qty_canceled), 0) FROM shipment_items si
             WHERE si.shipment_id = s.shipment_id)::int AS total_qty,
           round({_ITEM_WEIGHT}, 4) AS total_item_weight,
           round(coalesce((SELECT sum({_pounds('p.weight', 'p.weight_unit')}) FROM packages p
             WHERE p.shipment_id = s.shipment_id), {_ITEM_WEIGHT}), 4) AS total_weight"""

SHIPMENT_SELECT = f"SELECT {SHIPMENT_COLUMNS} FROM {SHIPMENT_SOURCE}"


async def find_shipment(conn: Connection, merchant_id: int, increment_id: str, *, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"{SHIPMENT_SELECT} WHERE s.merchant_id = $1 AND s.increment_id = $2" + (" FOR UPDATE OF s" if lock else ""),
        merchant_id,
        increment_id,
    )


async def fetch_shipments(conn: Connection, shipment_ids: Sequence[int], *, lock: bool = False) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"{SHIPMENT_SELECT} WHERE s.shipment_id = ANY($1::bigint[]) ORDER BY s.shipment_id" + (" FOR UPDATE OF s" if lock else ""),
        list(shipment_ids),
    )


async def store_policy(conn: Connection, store_id: int) -> str:
    return await conn.fetchval("SELECT backorder_policy FROM stores WHERE store_id = $1", store_id)


async def count_shipments(conn: Connection, order_id: int) -> int:
    """The order's shipments that count against its backorder policy: all but canceled ones."""
    return await conn.fetchval(
        "SELECT count(*) FROM shipments WHERE order_id = $1 AND status <> 'canceled'", order_id
    )


async def insert_shipment(conn: Connection, merchant_id: int, order_id: int, warehouse_id: int,
                          quantities: dict[int, int]) -> int:
    """The shipment, its items, and the items' qty_in_shipment, in one statement. Returns its id."""
    item_ids, qtys = zip(*sorted(quantities.items()))
    return await conn.fetchval(
        """
        WITH q AS (
            SELECT * FROM unnest($4::bigint[], $5::int[]) AS q(order_item_id, qty)
        ), shipment AS (
            INSERT INTO shipments (merchant_id, order_id, warehouse_id, increment_id)
            VALUES ($1, $2, $3, rpcf_merchant_nextval('shipment_increment_id', $1)::text) RETURNING shipment_id
        ), items AS (
            INSERT INTO shipment_items (shipment_id, order_item_id, merchant_id, product_id, sku, qty)
            SELECT shipment.shipment_id, i.order_item_id, $1, i.product_id, i.sku, q.qty
              FROM shipment, q JOIN order_items i ON i.order_item_id = q.order_item_id
        ), in_shipment AS (
            UPDATE order_items i SET qty_in_shipment = i.qty_in_shipment + q.qty
              FROM q WHERE i.order_item_id = q.order_item_id
        )
        SELECT shipment_id FROM shipment""",
        merchant_id, order_id, warehouse_id, list(item_ids), list(qtys),
    )


async def fetch_items(conn: Connection, shipment_ids: Sequence[int]) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT si.shipment_id, si.order_item_id, si.product_id, si.sku, si.qty, si.qty_shipped, si.qty_canceled,
                  si.qty_cancel_requested, i.name, i.weight, i.weight_unit, i.order_item_ref
             FROM shipment_items si JOIN order_items i ON i.order_item_id = si.order_item_id
            WHERE si.shipment_id = ANY($1::bigint[])
            ORDER BY si.shipment_id, i.line_no""",
        list(shipment_ids),
    )


# A package's items as json, in the order of the order's lines.
_PACKAGE_ITEMS = """
           coalesce((SELECT json_agg(json_build_object('order_item_id', pi.order_item_id,
                                                       'order_item_ref', i.order_item_ref,
                                                       'sku', pi.sku, 'qty', pi.qty) ORDER BY i.line_no)
                       FROM package_items pi JOIN order_items i ON i.order_item_id = pi.order_item_id
                      WHERE pi.package_id = p.package_id), '[]'::json) AS items"""

_PACKAGES_SELECT = f"""
    SELECT p.*, s.increment_id, s.status AS shipment_status, s.warehouse_id, s.order_id, s.tracking_added_at,
           {_PACKAGE_ITEMS},
           coalesce((SELECT json_agg(json_build_object('tracking_id', t.tracking_id, 'number', t.number,
                                                       'carrier', t.carrier, 'description', t.description,
                                                       'track_url', t.track_url)
                                     ORDER BY rpcf_id_position(t.tracking_id))
                       FROM tracking_numbers t WHERE t.package_id = p.package_id), '[]'::json) AS tracking
      FROM packages p JOIN shipments s ON s.shipment_id = p.shipment_id"""

_TRACKING_SELECT = f"""
    SELECT t.tracking_id, t.package_id, t.number, t.carrier, t.description, t.track_url, t.created_at,
           s.increment_id, s.order_id, s.shipment_id, p.status AS package_status,
           p.delivered_at AS package_delivered_at, p.weight, p.weight_unit,
           {_PACKAGE_ITEMS}
      FROM tracking_numbers t JOIN shipments s ON s.shipment_id = t.shipment_id
      JOIN packages p ON p.package_id = t.package_id"""


async def _rows_of(conn: Connection, select: str, key: str, ids: Sequence[int], order_by: str) -> list[asyncpg.Record]:
    """``select``'s rows whose ``key`` is one of ``ids``, one statement for a whole page."""
    return await conn.fetch(f"{select} WHERE {key} = ANY($1::bigint[]) ORDER BY {order_by}", list(ids))


async def fetch_packages(conn: Connection, shipment_ids: Sequence[int]) -> list[asyncpg.Record]:
    return await _rows_of(conn, _PACKAGES_SELECT, "p.shipment_id", shipment_ids, "p.shipment_id, rpcf_id_position(p.package_id)")


async def fetch_tracking(conn: Connection, shipment_ids: Sequence[int]) -> list[asyncpg.Record]:
    return await _rows_of(conn, _TRACKING_SELECT, "t.shipment_id", shipment_ids, "t.shipment_id, rpcf_id_position(t.tracking_id)")


# ---------------------------------------------------------------- order.info expansions


async def order_shipments(conn: Connection, order_ids: Sequence[int]) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT order_id, shipment_id, increment_id, warehouse_id, status, delivered_at FROM shipments
            WHERE order_id = ANY($1::bigint[]) ORDER BY order_id, rpcf_id_position(shipment_id)""",
        list(order_ids),
    )


async def order_packages(conn: Connection, order_ids: Sequence[int]) -> list[asyncpg.Record]:
    return await _rows_of(conn, _PACKAGES_SELECT, "s.order_id", order_ids, "s.order_id, rpcf_id_position(p.shipment_id), rpcf_id_position(p.package_id)")


async def order_tracking(conn: Connection, order_ids: Sequence[int]) -> list[asyncpg.Record]:
    return await _rows_of(conn, _TRACKING_SELECT, "s.order_id", order_ids, "s.order_id, rpcf_id_position(t.tracking_id)")


# ------------------------------------------------------------------------------- writes


async def write_packages(conn: Connection, merchant_id: int, shipment_id: int, plans: Sequence[PackagePlan],
                         default_carrier: str) -> None:
    """The packages, their items and tracking numbers, and the shipment packed, in one statement."""
    packages = [plan.package for plan in plans]
    carriers = [next((t.carrier for t in p.tracking_numbers if t.carrier), default_carrier) for p in packages]
    items = [(n, item_id, qty) for n, plan in enumerate(plans, 1) for item_id, qty in sorted(plan.quantities.items())]
    tracking = [
        (n, t.number, t.carrier or carriers[n - 1], t.description, t.track_url)
        for n, package in enumerate(packages, 1) for t in package.tracking_numbers
    ]
    await conn.execute(
        """
        WITH new_packages AS (
            INSERT INTO packages (shipment_id, merchant_id, status, carrier, weight, weight_unit, length, width, height,
                                  dimension_unit)
            SELECT $2, $1, 'packed', p.carrier, p.weight, p.weight_unit, p.length, p.width, p.height, p.dimension_unit
              FROM unnest($3::int[], $4::text[], $5::numeric[], $6::text[], $7::numeric[], $8::numeric[],
                          $9::numeric[], $10::text[])
                   AS p(n, carrier, weight, weight_unit, length, width, height, dimension_unit)
             ORDER BY p.n
            RETURNING package_id
        ), numbered AS (
            -- positions are handed out in insertion order: the nth smallest is package n
            SELECT package_id, row_number() OVER (ORDER BY rpcf_id_position(package_id))::int AS n FROM new_packages
        ), items AS (
            INSERT INTO package_items (package_id, order_item_id, sku, qty)
            SELECT numbered.package_id, x.order_item_id, i.sku, x.qty
              FROM unnest($11::int[], $12::bigint[], $13::int[]) AS x(n, order_item_id, qty)
              JOIN numbered USING (n)
              JOIN order_items i ON i.order_item_id = x.order_item_id
        ), tracking AS (
            INSERT INTO tracking_numbers (package_id, shipment_id, merchant_id, number, carrier, description, track_url)
            SELECT numbered.package_id, $2, $1, t.number, t.carrier, t.description, t.track_url
              FROM unnest($14::int[], $15::text[], $16::text[], $17::text[], $18::text[])
                   WITH ORDINALITY AS t(n, number, carrier, description, track_url, position)
              JOIN numbered USING (n)
             ORDER BY t.position
        )
        UPDATE shipments SET status = 'packed', packed_at = now(), updated_at = now(),
               tracking_added_at = CASE WHEN cardinality($15::text[]) > 0 THEN now() ELSE tracking_added_at END
         WHERE shipment_id = $2""",
        merchant_id,
        shipment_id,
        list(range(1, len(packages) + 1)),
        carriers,
        [p.weight for p in packages],
        [p.weight_unit for p in packages],
        [p.length for p in packages],
        [p.width for p in packages],
        [p.height for p in packages],
        [p.dimension_unit for p in packages],
        [n for n, _, _ in items],
        [item_id for _, item_id, _ in items],
        [qty for _, _, qty in items],
        [t[0] for t in tracking],
        [t[1] for t in tracking],
        [t[2] for t in tracking],
        [t[3] for t in tracking],
        [t[4] for t in tracking],
    )


@dataclass(frozen=True)
class Shipped:
    units: int
    order_shipped: bool  # no open shipment is left: the order's shipped_at was set


async def ship(conn: Connection, merchant_id: int, shipment_id: int, api_user_id: int | None) -> Shipped:
    """Ship every unit of the shipment: shipment and package statuses, the items' quantities
    (processing -> shipped, out of the shipment), the allocations, stock on hand and allocated,
    the stock movements, and the order's shipped_at once no shipment of it is open."""
    row = await conn.fetchrow(
        """
        WITH shipment AS (
            UPDATE shipments SET status = 'shipped', shipped_at = now(), updated_at = now()
             WHERE shipment_id = $2 RETURNING order_id, warehouse_id, increment_id
        ), si AS (
            UPDATE shipment_items SET qty_shipped = qty - qty_canceled
             WHERE shipment_id = $2 AND qty - qty_canceled > 0
            RETURNING order_item_id, product_id, qty_shipped AS n
        ), items AS (
            UPDATE order_items i SET qty_processing = i.qty_processing - si.n, qty_shipped = i.qty_shipped + si.n,
                   qty_in_shipment = i.qty_in_shipment - si.n
              FROM si WHERE i.order_item_id = si.order_item_id
        ), allocations AS (
            UPDATE order_item_allocations a SET qty_allocated = a.qty_allocated - si.n
              FROM si, shipment
             WHERE a.order_item_id = si.order_item_id AND a.warehouse_id = shipment.warehouse_id AND a.qty_allocated > si.n
        ), emptied AS (
            DELETE FROM order_item_allocations a USING si, shipment
             WHERE a.order_item_id = si.order_item_id AND a.warehouse_id = shipment.warehouse_id AND a.qty_allocated = si.n
        ), per_product AS (
            SELECT product_id, sum(n)::int AS n FROM si GROUP BY product_id
        ), stock_change AS (
            UPDATE stock s SET qty_on_hand = s.qty_on_hand - p.n, qty_allocated = s.qty_allocated - p.n, updated_at = now()
              FROM per_product p, shipment
             WHERE s.product_id = p.product_id AND s.warehouse_id = shipment.warehouse_id
        ), movements AS (
            INSERT INTO stock_movements (merchant_id, product_id, warehouse_id, entity_type, entity_action, entity_id,
                                         qty_on_hand_delta, qty_allocated_delta, comment, api_user_id)
            SELECT $1, p.product_id, shipment.warehouse_id, 'order', 'ship', o.unique_id, -p.n, -p.n,
                   'Shipment ' || shipment.increment_id, $3
              FROM per_product p, shipment JOIN orders o ON o.order_id = shipment.order_id
        ), packages_shipped AS (
            UPDATE packages SET status = 'shipped', shipped_at = now() WHERE shipment_id = $2
        ), order_shipped AS (
            UPDATE orders o SET updated_at = now(),
                   shipped_at = CASE WHEN NOT EXISTS (
                       SELECT 1 FROM shipments x WHERE x.order_id = o.order_id AND x.shipment_id <> $2
                          AND x.status NOT IN ('shipped', 'canceled')) THEN now() ELSE o.shipped_at END
              FROM shipment
             WHERE o.order_id = shipment.order_id
            RETURNING o.shipped_at = now() AS all_shipped
        )
        SELECT (SELECT coalesce(sum(n), 0) FROM si)::int AS units,
               coalesce((SELECT all_shipped FROM order_shipped), false) AS order_shipped""",
        merchant_id,
        shipment_id,
        api_user_id,
    )
    return Shipped(row["units"], row["order_shipped"])


async def deliver(conn: Connection, shipment_id: int) -> bool:
    """Mark the shipment and its packages delivered; the order's delivered_at once every shipped
    shipment of it is delivered. Returns whether the order is now delivered."""
    return await conn.fetchval(
        """
        WITH shipment AS (
            UPDATE shipments SET delivered_at = now(), updated_at = now() WHERE shipment_id = $1 RETURNING order_id
        ), packages_delivered AS (
            UPDATE packages SET status = 'delivered', delivered_at = now() WHERE shipment_id = $1
        ), order_delivered AS (
            UPDATE orders o SET updated_at = now(), delivered_at = now()
              FROM shipment
             WHERE o.order_id = shipment.order_id
               AND NOT EXISTS (SELECT 1 FROM shipments x WHERE x.order_id = o.order_id AND x.shipment_id <> $1
                                  AND x.status = 'shipped' AND x.delivered_at IS NULL)
               AND NOT EXISTS (SELECT 1 FROM shipments x WHERE x.order_id = o.order_id AND x.shipment_id <> $1
                                  AND x.status NOT IN ('shipped', 'canceled'))
            RETURNING 1
        )
        SELECT EXISTS (SELECT 1 FROM order_delivered)""",
        shipment_id,
    )


async def cancel(conn: Connection, shipment_id: int) -> list[asyncpg.Record]:
    """Take every unit out of the shipment (qty_canceled on its items, qty_in_shipment down on the
    order's items) and mark it canceled. Returns per item the units that left and how many of
    them had a cancellation request."""
    return await conn.fetch(
        """
        WITH shipment AS (
            UPDATE shipments SET status = 'canceled', updated_at = now() WHERE shipment_id = $1 RETURNING shipment_id
        ), si AS (
            UPDATE shipment_items SET qty_canceled = qty - qty_shipped
             WHERE shipment_id = $1 AND qty - qty_shipped - qty_canceled > 0
            RETURNING order_item_id, product_id, sku, qty_canceled AS units, least(qty_cancel_requested, qty_canceled) AS requested
        ), items AS (
            UPDATE order_items i SET qty_in_shipment = i.qty_in_shipment - si.units
              FROM si WHERE i.order_item_id = si.order_item_id
        )
        SELECT si.* FROM si, shipment ORDER BY rpcf_id_position(si.order_item_id)""",
        shipment_id,
    )


async def void_labels(conn: Connection, shipment_id: int) -> None:
    """Delete the shipment's packages (their items and tracking numbers go with them: ON DELETE
    CASCADE); the shipment is picked again, to be packed anew."""
    await conn.execute(
        """
        WITH packages AS (
            DELETE FROM packages WHERE shipment_id = $1
        )
        UPDATE shipments SET status = 'picked', packed_at = NULL, tracking_added_at = NULL, updated_at = now()
         WHERE shipment_id = $1""",
        shipment_id,
    )


async def update_source(conn: Connection, merchant_id: int, increment_id: str, source: str | None) -> bool:
    return await conn.fetchval(
        """UPDATE shipments SET source = $3, updated_at = now() WHERE merchant_id = $1 AND increment_id = $2
           RETURNING true""",
        merchant_id,
        increment_id,
        source,
    ) or False


# ------------------------------------------------------------------------------- search

# The SQL of each filterable and sortable field of shipments/rules.py. A sort's SQL may differ
# from its filter's: shipment_id (the merchant's shipment number) sorts by the number, which
# counts the merchant's shipments in the order made (shipments_merchant_number index).
COLUMNS = columns_for(SEARCH_FIELDS, {
    "shipment_id": Column("s.increment_id::bigint"),
    "warehouse_id": Column("s.warehouse_id"),
    "order_unique_id": Column("o.unique_id"),
    "order_ref": Column("o.order_ref"),
    "order_id": Column("o.order_id"),
    "store_code": Column("st.code"),
    "created_at": Column("s.created_at"),
    "updated_at": Column("s.updated_at"),
    "packed_at": Column("s.packed_at"),
    "status": Column("s.status"),
    "shipment_type": Column("s.shipment_type"),
}, "shipment.search filters")
SORT_COLUMNS = columns_for(SORT_FIELDS, {
    "shipment_id": Column("s.increment_id::bigint"),
    "order_id": Column("s.order_id"),
    "warehouse_id": Column("s.warehouse_id"),
    "status": Column("s.status"),
    "created_at": Column("s.created_at"),
    "updated_at": Column("s.updated_at"),
    "packed_at": Column("s.packed_at"),
}, "shipment.search sorts")


async def search(conn: Connection, merchant_id: int, conditions: Sequence[Condition], page: Page) -> list[asyncpg.Record]:
    where = WhereBuilder.for_merchant(merchant_id, "s.merchant_id", conditions, COLUMNS)
    # status selects most shipments (shipped) or very few (the shipments_merchant_status index),
    # order_ref may be a prefix (the orders_order_ref index): plans for the values.
    await conn.execute(CUSTOM_PLANS)
    return await fetch_rows(conn, SHIPMENT_SOURCE, SHIPMENT_COLUMNS, where, page, SORT_COLUMNS, "s.shipment_id")


# ------------------------------------------------------------------- the sandbox worker


def _due(column: str) -> str:
    return f"{column} <= now() - make_interval(secs => $1)"


async def orders_to_ship_from(conn: Connection, delay: float, pairs: Sequence[tuple[str, str]], after: int,
                              limit: int) -> list[asyncpg.Record]:
    """Orders a shipment may start for (state/status in ``pairs``) with reserved units outside
    shipments, untouched for ``delay`` seconds; locked, skipping rows another process holds."""
    return await conn.fetch(
        f"""{ORDER_SELECT}
            WHERE (o.state, o.status) IN (SELECT * FROM unnest($2::text[], $3::text[]))
              AND {_due('o.updated_at')} AND o.order_id > $4
              AND EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.order_id AND i.qty_processing > i.qty_in_shipment)
            ORDER BY o.order_id LIMIT $5
              FOR UPDATE OF o SKIP LOCKED""",
        delay, [state for state, _ in pairs], [status for _, status in pairs], after, limit,
    )


# A shipment stage of the worker: which shipments are due, by their status and timestamp.
STAGES = {
    "pack": "x.status IN ('new', 'picking', 'picked', 'packing') AND " + _due("x.created_at"),
    "ship": "x.status = 'packed' AND " + _due("x.packed_at"),
    "deliver": "x.status = 'shipped' AND x.delivered_at IS NULL AND " + _due("x.shipped_at"),
}


async def orders_with_due_shipments(conn: Connection, stage: str, delay: float, after: int, limit: int, *,
                                    lock: bool) -> list[asyncpg.Record]:
    """Orders with shipments due for ``stage``; with ``lock``, locked, skipping rows another
    process holds."""
    return await conn.fetch(
        f"""{ORDER_SELECT}
            WHERE EXISTS (SELECT 1 FROM shipments x WHERE x.order_id = o.order_id AND {STAGES[stage]})
              AND o.order_id > $2
            ORDER BY o.order_id LIMIT $3""" + (" FOR UPDATE OF o SKIP LOCKED" if lock else ""),
        delay, after, limit,
    )


async def lock_order_skip_locked(conn: Connection, order_id: int) -> asyncpg.Record | None:
    """The order, locked, or None when another transaction holds it."""
    return await conn.fetchrow(f"{ORDER_SELECT} WHERE o.order_id = $1 FOR UPDATE OF o SKIP LOCKED", order_id)


async def due_shipments(conn: Connection, stage: str, delay: float, order_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"{SHIPMENT_SELECT} WHERE s.order_id = $2 AND s.shipment_id IN "
        f"(SELECT x.shipment_id FROM shipments x WHERE x.order_id = $2 AND {STAGES[stage]}) "
        "ORDER BY s.shipment_id FOR UPDATE OF s",
        delay, order_id,
    )

