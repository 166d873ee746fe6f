-- Stock movements in ShipStream's documented terms
-- shipstream-docs/2024-04-16-stock-movement.md: entity types delivery, order, work_order, stock,
-- relocation. inventory.adjust recorded 'adjustment' (now 'stock' / 'adjust'); shipping recorded
-- entity 'shipment' (now the order's 'ship': the order's unique_id as the entity id, the shipment
-- named in the comment); a release of reserved units 'release' (now 'deallocate').
UPDATE stock_movements SET entity_type = 'stock' WHERE entity_type = 'adjustment';

UPDATE stock_movements m
   SET entity_type = 'order', entity_id = o.unique_id, comment = 'Shipment ' || s.increment_id
  FROM shipments s JOIN orders o ON o.order_id = s.order_id
 WHERE m.entity_type = 'shipment' AND s.increment_id = m.entity_id;

UPDATE stock_movements SET entity_type = 'order' WHERE entity_type = 'shipment';

UPDATE stock_movements SET entity_action = 'deallocate' WHERE entity_action = 'release';

ALTER TABLE stock_movements ADD CONSTRAINT stock_movements_entity_type
    CHECK (entity_type IN ('delivery', 'order', 'work_order', 'stock', 'relocation'));
