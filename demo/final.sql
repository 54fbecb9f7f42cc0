-- run-demo: the final state of the queue.
\echo
\echo '--- SELECT * FROM inventory_queue_summary'
SELECT * FROM inventory_queue_summary;

\echo '--- The last 5 rows of inventory_batches'
SELECT *
  FROM (SELECT * FROM inventory_batches ORDER BY batch_id DESC LIMIT 5) AS b
 ORDER BY batch_id;
