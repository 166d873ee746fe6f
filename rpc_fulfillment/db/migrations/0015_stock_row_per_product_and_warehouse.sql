-- A stock row for every product in every warehouse
-- Every product has a stock row in every warehouse from the moment both exist, so that a stock
-- row is never created while stock or orders are locked (the lock order: fulfillment/queries.py).
-- A receipt that created a product's row in a new warehouse held it while locking the product's
-- other rows after it, and an allocation locking "every stock row of the product" missed rows
-- created after it began: two transactions then held each other's rows (40P01).
CREATE FUNCTION rpcf_add_stock_rows(product_ids bigint[], warehouse_ids bigint[]) RETURNS void LANGUAGE sql AS $$
    INSERT INTO stock (product_id, warehouse_id, merchant_id)
    SELECT p.product_id, w.warehouse_id, p.merchant_id
      FROM products p CROSS JOIN unnest(warehouse_ids) AS w(warehouse_id)
     WHERE p.product_id = ANY(product_ids)
    ON CONFLICT (product_id, warehouse_id) DO NOTHING
$$;

-- New products in every warehouse, every product in new warehouses (``new_rows``: the statement's).
CREATE FUNCTION rpcf_stock_rows_of_new_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'products' THEN
        PERFORM rpcf_add_stock_rows(ARRAY(SELECT product_id FROM new_rows), ARRAY(SELECT warehouse_id FROM warehouses));
    ELSE
        PERFORM rpcf_add_stock_rows(ARRAY(SELECT product_id FROM products), ARRAY(SELECT warehouse_id FROM new_rows));
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER products_stock_rows AFTER INSERT ON products
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rpcf_stock_rows_of_new_rows();
CREATE TRIGGER warehouses_stock_rows AFTER INSERT ON warehouses
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rpcf_stock_rows_of_new_rows();

SELECT rpcf_add_stock_rows(ARRAY(SELECT product_id FROM products), ARRAY(SELECT warehouse_id FROM warehouses));
