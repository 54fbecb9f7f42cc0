-- The floor of the apply: the same writes in bulk SQL on plain tables, one
-- transaction: the last value per key upserted, every item into a
-- ledger-shaped table.
BEGIN;
INSERT INTO floor_levels AS l (sku, warehouse_uuid, on_hand, available, updated_at)
SELECT DISTINCT ON (sku, warehouse_uuid) sku, warehouse_uuid, value, value, now()
  FROM floor_items ORDER BY sku, warehouse_uuid, batch_id DESC, item DESC
ON CONFLICT (sku, warehouse_uuid) DO UPDATE
   SET on_hand = excluded.on_hand, available = excluded.on_hand - l.reserved,
       updated_at = excluded.updated_at;
INSERT INTO floor_ledger (id, at, sku, warehouse_uuid, source, batch_id, item, description, role, xid,
                          on_hand_before, on_hand_after, reserved_before, reserved_after,
                          available_before, available_after)
SELECT nextval('floor_ledger_seq'), now(), sku, warehouse_uuid, 'adjust', batch_id, item, description,
       current_user, pg_current_xact_id(), 0, value, 0, 0, 0, value
  FROM floor_items;
COMMIT;
