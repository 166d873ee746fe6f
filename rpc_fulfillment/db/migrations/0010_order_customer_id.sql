-- order customer_id
-- The customer's id in the merchant's own system (an extension of ours): stored, editable and
-- searchable; the index serves order.search's filters on it within one merchant.
ALTER TABLE orders ADD COLUMN customer_id text;
CREATE INDEX orders_merchant_customer_id ON orders (merchant_id, customer_id) WHERE customer_id IS NOT NULL;
