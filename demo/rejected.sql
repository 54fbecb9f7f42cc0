-- run-demo: a batch with bad items is rejected as a whole, with every
-- problem listed in one error, and nothing is queued.

SELECT uuid AS wh FROM inventory_warehouses WHERE name = 'Berlin' \gset
\set i1 '{"sku": "REJ-1", "warehouse_uuid": "' :wh '", "on_hand": 5}'
\set i2 '{"sku": "REJ-2", "warehouse_uuid": "' :wh '", "on_hand": 5, "available": 5}'
\set i3 '{"sku": "REJ-3", "warehouse_uuid": "' :wh '"}'
\set i4 '{"sku": "REJ-4", "warehouse_uuid": "not-a-uuid", "on_hand": 1}'
\set i5 '{"sku": "REJ-5", "warehouse_uuid": "' :wh '", "onhand": 4}'
\set i6 '{"sku": "REJ-6", "warehouse_uuid": "' :wh '", "on_hand": 1.5}'
\set body '{"inventory": [' :i1 ', ' :i2 ', ' :i3 ', ' :i4 ', ' :i5 ', ' :i6 ']}'

\echo
\echo 'The batch (item 1 is valid; 2 has both fields, 3 neither, 4 a bad uuid, 5 the typo "onhand", 6 on_hand 1.5):'
\echo '  item 1:' :i1
\echo '  item 2:' :i2
\echo '  item 3:' :i3
\echo '  item 4:' :i4
\echo '  item 5:' :i5
\echo '  item 6:' :i6

SELECT (SELECT count(*) FROM inventory_batches) AS batches_before,
       (SELECT queued_batches FROM inventory_queue_summary) AS queued_before,
       (SELECT last_value FROM inventory_batch_id_seq) AS last_id_before \gset
\echo
\echo '--- Queue before the call'
SELECT :batches_before AS all_batches, :queued_before AS queued_batches,
       :last_id_before AS last_batch_id;

\echo '--- The call (psql prints the ERROR with its DETAIL and HINT):'
\set ON_ERROR_STOP 0
SELECT inventory_adjust(:'body') AS batch;
\set ON_ERROR_STOP 1
\echo 'SQLSTATE:' :LAST_ERROR_SQLSTATE
SELECT demo_check(:'ERROR'::boolean AND :'LAST_ERROR_SQLSTATE' = '22023',
                  'the call failed with invalid_parameter_value') \gset

\echo '--- Queue after the call'
SELECT (SELECT count(*) FROM inventory_batches) AS all_batches,
       (SELECT queued_batches FROM inventory_queue_summary) AS queued_batches,
       (SELECT last_value FROM inventory_batch_id_seq) AS last_batch_id;
SELECT demo_check((SELECT count(*) FROM inventory_batches) = :batches_before
                  AND (SELECT queued_batches FROM inventory_queue_summary) = :queued_before
                  AND (SELECT last_value FROM inventory_batch_id_seq) = :last_id_before,
                  'nothing was queued, not even the valid item 1') \gset
\echo '    -> unchanged: nothing was queued, not even the valid item 1'
