-- A stock row for every product in every warehouse
-- Every product has a stock row in every warehouse from the moment both exist, so that a stock
-- row is never created while stock or orders are locked (the lock order: fulfillment/queries.py).
-- A receipt that created a product's row in a new warehouse held it while locking the product's
-- other rows after it, and an allocation locking "every stock row of the product" missed rows
-- created after it began: two transactions then held each other's rows (40P01).
CREATE FUNCTION rpcf_stock_rows_of_new_products() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stock (product_id, warehouse_id, merchant_id)
    SELECT p.product_id, w.warehouse_id, p.merchant_id FROM new_products p CROSS JOIN warehouses w
    ON CONFLICT (product_id, warehouse_id) DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER products_stock_rows AFTER INSERT ON products
    REFERENCING NEW TABLE AS new_products FOR EACH STATEMENT EXECUTE FUNCTION rpcf_stock_rows_of_new_products();

CREATE FUNCTION rpcf_stock_rows_of_new_warehouses() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stock (product_id, warehouse_id, merchant_id)
    SELECT p.product_id, w.warehouse_id, p.merchant_id FROM products p CROSS JOIN new_warehouses w
    ON CONFLICT (product_id, warehouse_id) DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER warehouses_stock_rows AFTER INSERT ON warehouses
    REFERENCING NEW TABLE AS new_warehouses FOR EACH STATEMENT EXECUTE FUNCTION rpcf_stock_rows_of_new_warehouses();

INSERT INTO stock (product_id, warehouse_id, merchant_id)
SELECT p.product_id, w.warehouse_id, p.merchant_id FROM products p CROSS JOIN warehouses w
ON CONFLICT (product_id, warehouse_id) DO NOTHING;
