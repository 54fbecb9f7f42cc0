-- run-demo: what the concurrent load left behind.  Needs -v expected_batches=N.
\echo
\echo '--- Level rows and distinct SKUs'
SELECT count(*) AS level_rows, count(DISTINCT sku) AS distinct_skus
  FROM inventory_levels;

\echo '--- Per warehouse'
SELECT w.name AS warehouse, count(l.sku) AS level_rows,
       coalesce(sum(l.on_hand), 0) AS sum_on_hand,
       coalesce(sum(l.reserved), 0) AS sum_reserved,
       coalesce(sum(l.available), 0) AS sum_available
  FROM inventory_warehouses w
  LEFT JOIN inventory_levels l ON l.warehouse_uuid = w.uuid
 GROUP BY w.name
 ORDER BY w.name;

\echo '--- inventory_batches by state'
SELECT state, count(*) AS batches, sum(item_count) AS items
  FROM inventory_batches
 GROUP BY state
 ORDER BY state;

\echo '--- Queued-to-applied delay (applied_at - queued_at) of the applied batches'
SELECT p[1] AS p50, p[2] AS p99, mx AS max
  FROM (SELECT percentile_cont(array[0.5, 0.99])
                   WITHIN GROUP (ORDER BY applied_at - queued_at) AS p,
               max(applied_at - queued_at) AS mx
          FROM inventory_batches
         WHERE state = 'applied') AS d;

SELECT demo_check(count(*) FILTER (WHERE state = 'applied') = :expected_batches
                  AND count(*) FILTER (WHERE state <> 'applied') = 0,
                  'all ' || :expected_batches || ' batches applied, none failed or queued')
  FROM inventory_batches \gset
SELECT demo_check(count(*) = 0, 'no level row has available <> on_hand - reserved')
  FROM inventory_levels WHERE available <> on_hand - reserved \gset
