-- Large rounds: a backlog bigger than one chunk of the apply (8192 items)
-- is applied in one round, streamed through a sort in chunks of whole
-- keys.  The outcome is checked against a model computed here in SQL:
-- every level row, the ledger chain of every key, and the skipped items
-- of PATCH batches, in item order.
\set wh '11111111-1111-4111-8111-111111111111'
\set wh2 '22222222-2222-4222-8222-222222222222'

-- 3 000 keys over two warehouses; the first 1 000 exist already, most
-- with stock reserved by an open order.
CREATE TEMP TABLE r_keys AS
SELECT k, 'RND-' || (k / 2) AS sku,
       (CASE WHEN k % 2 = 0 THEN :'wh' ELSE :'wh2' END)::uuid AS wh
  FROM generate_series(0, 2999) k;
INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand)
SELECT sku, wh, 100 FROM r_keys WHERE k < 1000;
INSERT INTO inventory_reservations (order_ref, sku, warehouse_uuid, quantity)
SELECT 'RND-ORDER', sku, wh, k % 5 FROM r_keys WHERE k < 1000 AND k % 5 > 0;

-- 340 batches of 50 items (17 000 items) queued in one transaction, so
-- the worker sees them at once; every tenth batch is in PATCH mode
-- (create_missing false), a quarter of the items set "available".
CREATE TEMP TABLE r_items AS
SELECT b, i, (b * 37 + i * 11) % 3000 AS k, (b + i) % 4 = 0 AS avail,
       (b * 7 + i * 13) % 1000 AS v, b % 10 <> 9 AS create_missing
  FROM generate_series(1, 340) b, generate_series(1, 50) i;
CREATE TEMP TABLE r_batches (b int PRIMARY KEY, batch_id bigint);
BEGIN;
INSERT INTO r_batches
SELECT b, inventory_adjust(jsonb_agg(jsonb_build_object(
           'sku', r_keys.sku, 'warehouse_uuid', r_keys.wh,
           CASE WHEN avail THEN 'available' ELSE 'on_hand' END, v) ORDER BY i),
         bool_and(create_missing))
  FROM r_items JOIN r_keys USING (k) GROUP BY b;
COMMIT;
SELECT inventory_wait(max(batch_id)) FROM r_batches;
SELECT count(*) AS batches, count(*) FILTER (WHERE state = 'applied') AS applied
  FROM inventory_batches WHERE batch_id IN (SELECT batch_id FROM r_batches);

-- The model: an item applies when its row exists by then (it existed, or
-- an earlier item of a create_missing batch created it) or its own batch
-- creates rows; the last applied item of a key decides its on_hand.
CREATE TEMP VIEW r_model AS
SELECT it.*, rb.batch_id, rk.sku, rk.wh,
       (rk.k < 1000 OR it.create_missing OR
        COALESCE(bool_or(it.create_missing) OVER (PARTITION BY it.k ORDER BY it.b, it.i
                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), false)) AS applies,
       CASE WHEN rk.k < 1000 THEN rk.k % 5 ELSE 0 END AS reserved
  FROM r_items it JOIN r_keys rk USING (k) JOIN r_batches rb USING (b);
SELECT count(*) AS items, count(*) FILTER (WHERE applies) AS applied,
       count(*) FILTER (WHERE NOT applies) AS skipped
  FROM r_model;

-- Every level row is what the model says (and keys never applied have none).
SELECT count(*) AS keys_checked,
       count(*) FILTER (WHERE l.on_hand IS DISTINCT FROM m.on_hand
                           OR l.available IS DISTINCT FROM m.on_hand - m.reserved) AS wrong
  FROM (SELECT DISTINCT ON (k) k, sku, wh, reserved,
               CASE WHEN avail THEN v + reserved ELSE v END AS on_hand
          FROM r_model WHERE applies ORDER BY k, b DESC, i DESC) m
  LEFT JOIN inventory_levels l ON l.sku = m.sku AND l.warehouse_uuid = m.wh;
SELECT count(*) AS rows_without_items
  FROM inventory_levels l JOIN r_keys rk ON rk.sku = l.sku AND rk.wh = l.warehouse_uuid
 WHERE rk.k >= 1000 AND NOT EXISTS (SELECT 1 FROM r_model m WHERE m.k = rk.k AND m.applies);

-- One ledger row per applied item, for the right key, and per key a chain
-- in id order: each row starts where the previous one ended, the first
-- where the row was, the last where it is now.
SELECT count(*) AS ledger_rows,
       count(*) FILTER (WHERE m.b IS NULL OR NOT m.applies) AS not_in_model
  FROM inventory_ledger g
  LEFT JOIN r_model m ON m.batch_id = g.batch_id AND m.i = g.item
                      AND m.sku = g.sku AND m.wh = g.warehouse_uuid
 WHERE g.batch_id IN (SELECT batch_id FROM r_batches);
SELECT count(*) AS chain_breaks
  FROM (SELECT g.sku, g.warehouse_uuid, g.on_hand_before, g.on_hand_after, g.reserved_before,
               lag(g.on_hand_after) OVER w AS prev_after,
               row_number() OVER w AS n,
               count(*) OVER (PARTITION BY g.sku, g.warehouse_uuid) AS total,
               m.avail, m.v, m.reserved, m.k
          FROM inventory_ledger g
          JOIN r_model m ON m.batch_id = g.batch_id AND m.i = g.item
         WHERE g.batch_id IN (SELECT batch_id FROM r_batches)
        WINDOW w AS (PARTITION BY g.sku, g.warehouse_uuid ORDER BY g.id)) c
  JOIN inventory_levels l ON l.sku = c.sku AND l.warehouse_uuid = c.warehouse_uuid
 WHERE c.on_hand_after <> CASE WHEN c.avail THEN c.v + c.reserved ELSE c.v END
    OR c.reserved_before <> c.reserved
    OR (c.n > 1 AND c.on_hand_before <> c.prev_after)
    OR (c.n = 1 AND c.on_hand_before <> CASE WHEN c.k < 1000 THEN 100 ELSE 0 END)
    OR (c.n = c.total AND c.on_hand_after <> l.on_hand);

-- The skipped items of each PATCH batch, in item order.
SELECT count(*) AS patch_batches,
       count(*) FILTER (WHERE h.skipped IS DISTINCT FROM s.expected) AS wrong_skipped
  FROM r_batches rb
  JOIN inventory_batch_history h USING (batch_id)
  LEFT JOIN (SELECT b, jsonb_agg(jsonb_build_object('item', i, 'sku', sku, 'warehouse_uuid', wh)
                                 ORDER BY i) AS expected
               FROM r_model WHERE NOT applies GROUP BY b) s USING (b)
 WHERE rb.b % 10 = 9;

SELECT * FROM inventory_verify() WHERE sku LIKE 'RND-%';

-- The apply appends its ledger rows directly, index entries included: an
-- index a user adds (as the README suggests for per-sku history) finds
-- them.
CREATE INDEX r_ledger_sku_idx ON inventory_ledger (sku);
SELECT inventory_adjust(format('[{"sku": "RND-IDX", "warehouse_uuid": "%1$s", "on_hand": 1},
                                 {"sku": "RND-IDX", "warehouse_uuid": "%1$s", "on_hand": 2}]', :'wh')::jsonb) AS b \gset
SELECT inventory_wait(:b);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT item, on_hand_after FROM inventory_ledger WHERE sku = 'RND-IDX';
SELECT item, on_hand_after FROM inventory_ledger WHERE sku = 'RND-IDX' ORDER BY id;
RESET enable_seqscan;
RESET enable_bitmapscan;
DROP INDEX r_ledger_sku_idx;

-- A trigger a user adds to the ledger sees the worker's rows too: the
-- apply then writes them with INSERT rather than appending them.
CREATE TABLE r_ledger_seen (id bigint, sku text);
CREATE FUNCTION r_ledger_seen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.r_ledger_seen VALUES (NEW.id, NEW.sku);
    RETURN NULL;
END $$;
CREATE TRIGGER r_ledger_seen AFTER INSERT ON inventory_ledger
    FOR EACH ROW EXECUTE FUNCTION r_ledger_seen();
SELECT inventory_adjust(format('[{"sku": "RND-TRG", "warehouse_uuid": "%1$s", "on_hand": 1},
                                 {"sku": "RND-TRG", "warehouse_uuid": "%2$s", "available": 2}]', :'wh', :'wh2')::jsonb) AS b \gset
SELECT inventory_wait(:b);
SELECT g.item, g.on_hand_after, s.sku IS NOT NULL AS trigger_saw_it
  FROM inventory_ledger g LEFT JOIN r_ledger_seen s USING (id)
 WHERE g.batch_id = :b ORDER BY g.item;
DROP TRIGGER r_ledger_seen ON inventory_ledger;
DROP FUNCTION r_ledger_seen();
DROP TABLE r_ledger_seen;
