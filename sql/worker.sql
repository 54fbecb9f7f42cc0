-- The background worker: visible, applies without any manual call, can be
-- paused with inventory.enabled and a reload.
\set wh '11111111-1111-4111-8111-111111111111'

-- A committed batch is applied by the worker alone (the launcher starts
-- it): poll the table (no inventory_wait, no inventory_process_queue).
SELECT inventory_adjust(format('[{"sku": "BY-WORKER", "warehouse_uuid": "%s", "on_hand": 42}]', :'wh')::jsonb) AS b \gset
SELECT test_poll($$EXISTS (SELECT 1 FROM inventory_levels WHERE sku = 'BY-WORKER' AND on_hand = 42)$$);
SELECT state FROM inventory_batches WHERE batch_id = :b;
-- the worker stays connected while it is idle (inventory.idle_timeout)
SELECT backend_type, application_name FROM pg_stat_activity
 WHERE backend_type = 'inventory worker' AND datname = current_database();
SELECT database = current_database() AS this_database, state, waiting_for, enabled, extension_found,
       pid = (SELECT pid FROM pg_stat_activity WHERE backend_type = 'inventory worker'
               AND datname = current_database()) AS same_pid
  FROM inventory_worker_status();

-- Pause: inventory.enabled = off takes effect on reload; enabled turns
-- false once the launcher and the worker have taken it.
ALTER SYSTEM SET inventory.enabled = off;
SELECT pg_reload_conf();
SELECT test_poll('NOT (SELECT enabled FROM inventory_worker_status())');
SELECT inventory_adjust(format('[{"sku": "BY-WORKER", "warehouse_uuid": "%s", "on_hand": 43}]', :'wh')::jsonb) AS b \gset
-- the batch stays queued, and the status says why
SELECT test_poll($$(SELECT state FROM inventory_worker_status()) = 'paused'$$);
SELECT state FROM inventory_batches WHERE batch_id = :b;
SELECT on_hand FROM inventory_levels WHERE sku = 'BY-WORKER';
\set VERBOSITY default
SELECT inventory_wait(:b, '0.2 s');
\set VERBOSITY terse

-- Resume: the queued batch is applied.
ALTER SYSTEM RESET inventory.enabled;
SELECT pg_reload_conf();
SELECT inventory_wait(:b);
SELECT on_hand FROM inventory_levels WHERE sku = 'BY-WORKER';
SELECT test_poll('(SELECT enabled FROM inventory_worker_status())');

-- Every database the launcher serves, this one among them.
SELECT count(*) >= 1 AS some_rows, bool_or(database = current_database()) AS this_one
  FROM inventory_worker_status(all_databases => true);

-- Counters since the worker started.
SELECT batches_applied > 0 AS applied_some, items_applied >= batches_applied AS items_counted,
       waiting_for_pid IS NULL AS not_waiting
  FROM inventory_worker_status();

-- inventory_wait on a batch that does not exist.
\set VERBOSITY default
SELECT inventory_wait(-1);
SELECT inventory_wait(NULL);

-- inventory_wait in the transaction that queued the batch (or in one of its
-- subtransactions) fails at once: the batch is applied only after commit.
BEGIN;
SELECT inventory_adjust(format('[{"sku": "BY-WORKER", "warehouse_uuid": "%s", "on_hand": 44}]', :'wh')::jsonb) AS b \gset
SELECT clock_timestamp() AS t0 \gset
SELECT inventory_wait(:b, '60 s');
ROLLBACK;
SELECT clock_timestamp() - :'t0'::timestamptz < interval '30 s' AS failed_at_once;
BEGIN;
SAVEPOINT s;
SELECT inventory_adjust(format('[{"sku": "BY-WORKER", "warehouse_uuid": "%s", "on_hand": 45}]', :'wh')::jsonb) AS b \gset
RELEASE SAVEPOINT s;
SELECT inventory_wait(:b, '60 s');
ROLLBACK;
-- Once committed, the same call waits and returns the state.
SELECT inventory_adjust(format('[{"sku": "BY-WORKER", "warehouse_uuid": "%s", "on_hand": 46}]', :'wh')::jsonb) AS b \gset
SELECT inventory_wait(:b);
