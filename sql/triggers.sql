-- The C trigger keeps available = on_hand - reserved on every write,
-- whoever makes it.
\set wh '11111111-1111-4111-8111-111111111111'

-- INSERT: from on_hand, from available, from neither (on_hand 0).
INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand) VALUES ('T-ONHAND', :'wh', 10);
INSERT INTO inventory_levels (sku, warehouse_uuid, available, reserved) VALUES ('T-AVAIL', :'wh', 4, 2);
INSERT INTO inventory_levels (sku, warehouse_uuid, reserved) VALUES ('T-NONE', :'wh', 1);
INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand, reserved, available) VALUES ('T-BOTH', :'wh', 5, 1, 4);
SELECT sku, on_hand, reserved, available FROM inventory_levels WHERE sku LIKE 'T-%' ORDER BY sku;
-- INSERT with values that disagree is refused.
INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand, reserved, available) VALUES ('T-BAD', :'wh', 5, 1, 5);

-- UPDATE of on_hand or reserved recomputes available.
UPDATE inventory_levels SET on_hand = 20 WHERE sku = 'T-ONHAND';
UPDATE inventory_levels SET reserved = reserved + 3 WHERE sku = 'T-ONHAND';
SELECT on_hand, reserved, available FROM inventory_levels WHERE sku = 'T-ONHAND';
-- UPDATE of available means what it means in the API: on_hand = available + reserved.
UPDATE inventory_levels SET available = 5 WHERE sku = 'T-ONHAND';
SELECT on_hand, reserved, available FROM inventory_levels WHERE sku = 'T-ONHAND';
-- available and reserved together: on_hand follows both.
UPDATE inventory_levels SET available = 1, reserved = 0 WHERE sku = 'T-ONHAND';
SELECT on_hand, reserved, available FROM inventory_levels WHERE sku = 'T-ONHAND';
-- on_hand and available together must agree.
UPDATE inventory_levels SET on_hand = 9, available = 9 WHERE sku = 'T-ONHAND';
UPDATE inventory_levels SET on_hand = 9, available = 8, reserved = 1 WHERE sku = 'T-ONHAND';
SELECT on_hand, reserved, available FROM inventory_levels WHERE sku = 'T-ONHAND';
-- Writing the same available again changes nothing.
UPDATE inventory_levels SET available = available, reserved = 4 WHERE sku = 'T-ONHAND';
SELECT on_hand, reserved, available FROM inventory_levels WHERE sku = 'T-ONHAND';

-- Bulk statements: the invariant holds on every row.
UPDATE inventory_levels SET reserved = 1 WHERE sku LIKE 'T-%';
UPDATE inventory_levels SET available = 0 WHERE sku LIKE 'T-%';
SELECT sku, on_hand, reserved, available FROM inventory_levels WHERE sku LIKE 'T-%' ORDER BY sku;
SELECT count(*) AS violations FROM inventory_levels WHERE available <> on_hand - reserved;

-- Negative reserved is refused; NULLs are refused; overflow is refused.
\set VERBOSITY terse
UPDATE inventory_levels SET reserved = -1 WHERE sku = 'T-ONHAND';
UPDATE inventory_levels SET on_hand = NULL WHERE sku = 'T-ONHAND';
\set VERBOSITY default
UPDATE inventory_levels SET available = 9223372036854775807, reserved = 5 WHERE sku = 'T-ONHAND';

-- updated_at moves on every update; created_at stays.
CREATE TEMP TABLE stamps AS
    SELECT created_at, updated_at FROM inventory_levels WHERE sku = 'T-AVAIL';
BEGIN;
UPDATE inventory_levels SET on_hand = on_hand + 1 WHERE sku = 'T-AVAIL';
SELECT l.updated_at > s.updated_at AS updated_moved, l.created_at = s.created_at AS created_kept
  FROM inventory_levels l, stamps s WHERE l.sku = 'T-AVAIL';
COMMIT;

-- The trigger refuses to run in the wrong place.
CREATE TEMP TABLE t (on_hand bigint, reserved bigint, available bigint, updated_at timestamptz);
CREATE TRIGGER t_after AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION inventory_internal.inventory_levels_maintain();
INSERT INTO t VALUES (1, 0, 1, now());

DELETE FROM inventory_levels WHERE sku LIKE 'T-%';
