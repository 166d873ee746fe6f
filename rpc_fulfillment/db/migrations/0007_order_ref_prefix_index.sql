-- order.search at a million orders: order_ref prefixes through an index
-- The default collation is not C, so a plain btree cannot serve LIKE 'prefix%'; the pattern
-- operator class serves both the prefix search and the equality of the order_ref check.
DROP INDEX orders_order_ref;
CREATE INDEX orders_order_ref ON orders (merchant_id, order_ref text_pattern_ops, created_at);
