"""SQL of the fulfillment engine: order totals, backorder candidates, allocation and release
writes, status changes.

The lock order, one for every transaction that takes more than one of these row locks, so
that no two ever wait for each other (a deadlock, which PostgreSQL breaks by aborting one):

1. Stock rows: every warehouse's row of each product concerned, in (product_id, warehouse_id)
   order, in one statement. A product has a row in every warehouse from the moment both exist
   (migration 0015): a row is never created while others are held, so "all of a product's
   rows" is the same set for every transaction.
2. Order rows, in order_id order: never by priority or anything else a concurrent call can
   change (order.edit changes the priority). A call that holds its own order and then gives
   released stock to other orders locks them after it; it holds the stock rows of all its
   order's products, which any other allocation to that order needs before it, so none holds
   one of those orders while waiting for it.
3. An order's items, allocations and history: written only by the holder of the order's lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import asyncpg

from rpc_fulfillment.fulfillment.states import HOLDED, NEW, PROCESSING, OrderTotals
from rpc_fulfillment.db.pool import Connection


async def fetch_totals(conn: Connection, order_ids: Sequence[int]) -> dict[int, OrderTotals]:
    rows = await conn.fetch(
        """SELECT i.order_id,
                  sum(i.qty_processing)::int AS processing, sum(i.qty_backordered)::int AS backordered,
                  sum(i.qty_shipped)::int AS shipped, sum(i.qty_in_shipment)::int AS in_shipment,
                  (SELECT count(*) FROM shipments s WHERE s.order_id = i.order_id
                      AND s.status NOT IN ('shipped', 'canceled'))::int AS open_shipments,
                  (SELECT count(*) FROM shipments s WHERE s.order_id = i.order_id
                      AND s.status NOT IN ('shipped', 'canceled', 'packed'))::int AS unpacked_shipments
             FROM order_items i
            WHERE i.order_id = ANY($1::bigint[])
            GROUP BY i.order_id""",
        list(order_ids),
    )
    return {
        row["order_id"]: OrderTotals(
            processing=row["processing"], backordered=row["backordered"], shipped=row["shipped"],
            in_shipment=row["in_shipment"], open_shipments=row["open_shipments"],
            unpacked_shipments=row["unpacked_shipments"],
        )
        for row in rows
    }


# The states whose backordered items take arriving stock.
OPEN_STATES = (NEW, PROCESSING, HOLDED)


async def backorder_candidates(conn: Connection, product_ids: Sequence[int]) -> list[asyncpg.Record]:
    """Backordered items of open orders for these products, most urgent first (lower priority
    number, then oldest).

    Their orders are locked first, in order_id order (the lock order, above): never in the
    urgency order, which order.edit changes, so that two allocations reading priorities before
    and after an edit would lock two orders in opposite orders. The items are read after, by a
    statement of their own: its snapshot sees what the orders' last lock holders committed
    (the locking statement's snapshot may be older, and would allocate units already taken)."""
    locked = await conn.fetch(
        """SELECT o.order_id FROM orders o
            WHERE o.order_id IN (SELECT i.order_id FROM order_items i
                                  WHERE i.product_id = ANY($1::bigint[]) AND i.qty_backordered > 0)
              AND o.state = ANY($2::text[])
            ORDER BY o.order_id
              FOR UPDATE OF o""",
        list(product_ids), list(OPEN_STATES),
    )
    if not locked:
        return []
    return await conn.fetch(
        """SELECT i.order_item_id, i.order_id, i.product_id, i.qty_backordered
             FROM order_items i JOIN orders o ON o.order_id = i.order_id
            WHERE i.order_id = ANY($1::bigint[]) AND i.product_id = ANY($2::bigint[]) AND i.qty_backordered > 0
              AND o.state = ANY($3::text[])
            ORDER BY o.priority, o.created_at, o.order_id, i.line_no""",
        [row["order_id"] for row in locked], list(product_ids), list(OPEN_STATES),
    )


@dataclass(frozen=True)
class Reservation:
    """Units of an order item reserved in (positive) or released from (negative) a warehouse."""

    order_item_id: int
    order_id: int
    product_id: int
    warehouse_id: int
    qty: int


async def apply_reservations(
    conn: Connection, merchant_id: int, reservations: Sequence[Reservation], *, from_backorder: bool,
    entity_action: str, api_user_id: int | None,
) -> None:
    """Move units between backordered (or canceled, for releases) and reserved, in one statement:
    allocation rows, item quantities, stock.qty_allocated and stock movements.

    ``from_backorder`` says where positive quantities come from (backordered units) and where
    negative ones go: back to backordered (False means they are canceled).
    """
    if not reservations:
        return
    columns = list(zip(*((r.order_item_id, r.order_id, r.product_id, r.warehouse_id, r.qty) for r in reservations)))
    await conn.execute(
        """
        WITH r AS (
            SELECT * FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::int[])
                AS r(order_item_id, order_id, product_id, warehouse_id, qty)
        ), per_allocation AS (
            SELECT order_item_id, warehouse_id, min(order_id) AS order_id, min(product_id) AS product_id, sum(qty)::int AS qty
              FROM r GROUP BY order_item_id, warehouse_id
        ), allocations AS (
            INSERT INTO order_item_allocations AS a (order_item_id, warehouse_id, order_id, merchant_id, product_id, qty_allocated)
            SELECT order_item_id, warehouse_id, order_id, $1, product_id, qty FROM per_allocation WHERE qty > 0
            ON CONFLICT (order_item_id, warehouse_id) DO UPDATE SET qty_allocated = a.qty_allocated + excluded.qty_allocated
        ), released AS (
            UPDATE order_item_allocations a SET qty_allocated = a.qty_allocated + p.qty
              FROM per_allocation p
             WHERE p.qty < 0 AND a.order_item_id = p.order_item_id AND a.warehouse_id = p.warehouse_id
               AND a.qty_allocated + p.qty > 0
        ), emptied AS (
            DELETE FROM order_item_allocations a USING per_allocation p
             WHERE p.qty < 0 AND a.order_item_id = p.order_item_id AND a.warehouse_id = p.warehouse_id
               AND a.qty_allocated + p.qty = 0
        ), items AS (
            UPDATE order_items i
               SET qty_processing = i.qty_processing + t.qty,
                   qty_backordered = i.qty_backordered - CASE WHEN $7 OR t.qty > 0 THEN t.qty ELSE 0 END,
                   qty_canceled = i.qty_canceled - CASE WHEN NOT $7 AND t.qty < 0 THEN t.qty ELSE 0 END
              FROM (SELECT order_item_id, sum(qty)::int AS qty FROM r GROUP BY order_item_id) t
             WHERE i.order_item_id = t.order_item_id
        ), stock_change AS (
            UPDATE stock s SET qty_allocated = s.qty_allocated + t.qty, updated_at = now()
              FROM (SELECT product_id, warehouse_id, sum(qty)::int AS qty FROM r GROUP BY product_id, warehouse_id) t
             WHERE s.product_id = t.product_id AND s.warehouse_id = t.warehouse_id
        )
        INSERT INTO stock_movements (merchant_id, product_id, warehouse_id, entity_type, entity_action, entity_id,
                                     qty_allocated_delta, api_user_id)
        SELECT $1, r.product_id, r.warehouse_id, 'order', $8, o.unique_id, sum(r.qty)::int, $9
          FROM r JOIN orders o ON o.order_id = r.order_id
         GROUP BY r.product_id, r.warehouse_id, o.unique_id""",
        merchant_id, *map(list, columns), from_backorder, entity_action, api_user_id,
    )


async def cancel_backordered(conn: Connection, quantities: Sequence[tuple[int, int]]) -> None:
    """Cancel backordered units: (order_item_id, qty) pairs."""
    if not quantities:
        return
    item_ids, qtys = zip(*quantities)
    await conn.execute(
        """UPDATE order_items i SET qty_backordered = i.qty_backordered - t.qty, qty_canceled = i.qty_canceled + t.qty
             FROM unnest($1::bigint[], $2::int[]) AS t(order_item_id, qty)
            WHERE i.order_item_id = t.order_item_id""",
        list(item_ids),
        list(qtys),
    )


@dataclass(frozen=True)
class StatusChange:
    order_id: int
    old_state: str
    old_status: str
    state: str
    status: str
    comment: str | None


async def write_status_changes(conn: Connection, merchant_id: int, changes: Sequence[StatusChange],
                               events: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Set the new states and statuses, append the history and write the events, in one statement."""
    if not changes and not events:
        return
    await conn.execute(
        """
        WITH c AS (
            SELECT * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[]) AS c(order_id, state, status, comment)
        ), updated AS (
            UPDATE orders o SET state = c.state, status = c.status, updated_at = now(),
                   completed_at = CASE WHEN c.state = 'complete' THEN coalesce(o.completed_at, now()) ELSE o.completed_at END
              FROM c WHERE o.order_id = c.order_id
        ), history AS (
            INSERT INTO order_status_history (order_id, merchant_id, state, status, comment)
            SELECT order_id, $1, state, status, comment FROM c
        )
        INSERT INTO events (merchant_id, topic, message)
        SELECT $1, topic, message FROM unnest($6::text[], $7::jsonb[]) AS e(topic, message)""",
        merchant_id,
        [c.order_id for c in changes],
        [c.state for c in changes],
        [c.status for c in changes],
        [c.comment for c in changes],
        [topic for topic, _ in events],
        [message for _, message in events],
    )


async def lock_order_stock(conn: Connection, order_id: int) -> None:
    """Lock the stock rows of an order's products (primary-key order) before locking the order."""
    await conn.execute(
        """SELECT 1 FROM stock WHERE product_id IN (SELECT product_id FROM order_items WHERE order_id = $1)
            ORDER BY product_id, warehouse_id FOR UPDATE""",
        order_id,
    )


async def orders_by_id(conn: Connection, order_ids: Sequence[int]) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT order_id, unique_id, order_ref, source, state, status FROM orders WHERE order_id = ANY($1::bigint[])",
        list(order_ids),
    )


async def shipments_of(conn: Connection, order_id: int) -> list[str]:
    """An order's shipments (increment ids), oldest first."""
    rows = await conn.fetch("SELECT increment_id FROM shipments WHERE order_id = $1 ORDER BY rpcf_id_position(shipment_id)", order_id)
    return [row["increment_id"] for row in rows]


async def free_allocations(conn: Connection, order_id: int) -> list[asyncpg.Record]:
    """Per item and warehouse: reserved units not inside an open shipment."""
    return await conn.fetch(
        """SELECT a.order_item_id, a.warehouse_id, a.product_id,
                  a.qty_allocated - coalesce((
                      SELECT sum(si.qty - si.qty_shipped - si.qty_canceled)
                        FROM shipment_items si JOIN shipments s ON s.shipment_id = si.shipment_id
                       WHERE si.order_item_id = a.order_item_id AND s.warehouse_id = a.warehouse_id
                         AND s.status NOT IN ('shipped', 'canceled')), 0)::int AS free
             FROM order_item_allocations a
            WHERE a.order_id = $1
            ORDER BY a.order_item_id, a.warehouse_id""",
        order_id,
    )


async def request_shipment_cancellations(conn: Connection, requests: Sequence[tuple[int, int]]) -> list[str]:
    """Ask the warehouse to cancel units of items inside open shipments: (order_item_id, qty).
    Returns the shipments (increment ids) that now carry a request."""
    if not requests:
        return []
    rows = await conn.fetch(
        """WITH r AS (SELECT * FROM unnest($1::bigint[], $2::int[]) AS r(order_item_id, qty))
           UPDATE shipment_items si
              SET qty_cancel_requested = least(si.qty - si.qty_shipped - si.qty_canceled, si.qty_cancel_requested + r.qty)
             FROM r, shipments s
            WHERE si.order_item_id = r.order_item_id AND s.shipment_id = si.shipment_id
              AND s.status NOT IN ('shipped', 'canceled')
        RETURNING s.increment_id""",
        [item_id for item_id, _ in requests],
        [qty for _, qty in requests],
    )
    return sorted({row["increment_id"] for row in rows})


async def due_delayed_orders(conn: Connection, limit: int) -> list[asyncpg.Record]:
    """Orders whose delayed_ship_date has come, locked; rows another process holds are
    skipped, so several processes never release the same order twice."""
    return await conn.fetch(
        """SELECT order_id, merchant_id, unique_id, order_ref, source, state, status
             FROM orders
            WHERE status = 'delayed_shipment' AND delayed_ship_date <= now()
            ORDER BY delayed_ship_date, order_id
            LIMIT $1
              FOR UPDATE SKIP LOCKED""",
        limit,
    )
