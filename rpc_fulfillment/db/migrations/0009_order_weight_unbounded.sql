-- order weights without a bound of their own
-- An order weighs the sum of its lines: a product's weight (up to 99,999,999.9999) times its
-- quantity (up to 1,000,000), over as many lines as RPCF_MAX_ORDER_ITEMS allows, converted to
-- the order's unit. numeric(12, 4) refused a heavy order at the INSERT (fault 1, and a whole
-- bulk lost); the domain rounds to 4 places. Dropping the precision does not rewrite the table.
ALTER TABLE orders ALTER COLUMN weight TYPE numeric;
