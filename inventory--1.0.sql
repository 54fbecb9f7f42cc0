/* inventory--1.0.sql: install script for the inventory extension */

\echo Use "CREATE EXTENSION inventory" to load this file. \quit

/*
 * Warehouses.  Every level row and every queued item names one of these.
 */
CREATE TABLE @extschema@.inventory_warehouses (
    uuid        uuid        NOT NULL PRIMARY KEY,
    name        text        NOT NULL,
    archived    boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.inventory_warehouses IS
    'Registry of warehouses; inventory_adjust accepts only registered, non-archived ones';

/*
 * Stock per (sku, warehouse).  available = on_hand - reserved is kept by the
 * C trigger inventory_levels_maintain.  Quantities are bigint so that
 * available + reserved can never overflow; the API accepts 0..2147483647.
 * SKUs are identifiers: they compare bytewise (collation "C"), which is
 * also what makes key lookups cheap.
 * fillfactor leaves room for HOT updates: no quantity column is indexed.
 */
CREATE TABLE @extschema@.inventory_levels (
    sku             text          COLLATE "C" NOT NULL,
    warehouse_uuid  uuid          NOT NULL
                    REFERENCES @extschema@.inventory_warehouses (uuid),
    on_hand         bigint        NOT NULL,
    reserved        bigint        NOT NULL DEFAULT 0,
    available       bigint        NOT NULL,
    bin_location    text,
    cost            numeric(10,2),
    created_at      timestamptz   NOT NULL DEFAULT pg_catalog.now(),
    updated_at      timestamptz   NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (sku, warehouse_uuid),
    CONSTRAINT inventory_levels_reserved_check CHECK (reserved OPERATOR(pg_catalog.>=) 0),
    CONSTRAINT inventory_levels_available_check
        CHECK (available OPERATOR(pg_catalog.=) (on_hand OPERATOR(pg_catalog.-) reserved)),
    CONSTRAINT inventory_levels_cost_check CHECK (cost OPERATOR(pg_catalog.>=) 0)
) WITH (fillfactor = 90);
CREATE INDEX inventory_levels_warehouse_idx
    ON @extschema@.inventory_levels (warehouse_uuid, sku);
COMMENT ON TABLE @extschema@.inventory_levels IS
    'Stock per (sku, warehouse_uuid); available is always on_hand - reserved';

/*
 * The queue: one row per accepted batch that is not applied yet.  Rows are
 * deleted when applied (and recorded in inventory_batch_history in the same
 * transaction), so the table stays small; autovacuum is tuned for churn.
 */
CREATE SEQUENCE @extschema@.inventory_batch_id_seq AS bigint;

CREATE TABLE @extschema@.inventory_queue (
    batch_id    bigint      NOT NULL PRIMARY KEY,
    items       jsonb       NOT NULL,
    item_count  integer     NOT NULL,
    queued_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    queued_by   name        NOT NULL
) WITH (autovacuum_vacuum_scale_factor = 0.01,
        autovacuum_vacuum_threshold = 100,
        autovacuum_vacuum_cost_delay = 0,
        autovacuum_analyze_scale_factor = 0.05);
COMMENT ON TABLE @extschema@.inventory_queue IS
    'Accepted batches not yet applied, in batch_id order (internal; see inventory_batches)';

/*
 * Outcome of every batch that left the queue.  items is kept only for failed
 * batches, so that they can be inspected and queued again.
 */
CREATE TABLE @extschema@.inventory_batch_history (
    batch_id    bigint      NOT NULL PRIMARY KEY,
    state       text        NOT NULL,
    item_count  integer     NOT NULL,
    queued_at   timestamptz NOT NULL,
    queued_by   name        NOT NULL,
    queued_xid  xid         NOT NULL,
    applied_at  timestamptz NOT NULL,
    error       text,
    items       jsonb,
    CONSTRAINT inventory_batch_history_state_check
        CHECK (state OPERATOR(pg_catalog.=) 'applied'
               OR (state OPERATOR(pg_catalog.=) 'failed' AND error IS NOT NULL))
);
COMMENT ON TABLE @extschema@.inventory_batch_history IS
    'Applied and failed batches (internal; see inventory_batches)';
COMMENT ON COLUMN @extschema@.inventory_batch_history.queued_xid IS
    'Transaction that queued the batch; with track_commit_timestamp, pg_xact_commit_timestamp(queued_xid) and pg_xact_commit_timestamp(xmin) give the commit-to-applied delay';

/*
 * Every batch, queued or done, for psql: the view users read.
 */
CREATE VIEW @extschema@.inventory_batches AS
    SELECT q.batch_id, 'queued'::text AS state, q.item_count, q.queued_at,
           q.queued_by, NULL::timestamptz AS applied_at, NULL::text AS error
      FROM @extschema@.inventory_queue q
    UNION ALL
    SELECT h.batch_id, h.state, h.item_count, h.queued_at,
           h.queued_by, h.applied_at, h.error
      FROM @extschema@.inventory_batch_history h;
COMMENT ON VIEW @extschema@.inventory_batches IS
    'Every batch with its state (queued, applied, failed), item count, times and error';

/*
 * Queue depth at a glance.
 */
CREATE VIEW @extschema@.inventory_queue_summary AS
    SELECT pg_catalog.count(*)                          AS queued_batches,
           COALESCE(pg_catalog.sum(q.item_count), 0)    AS queued_items,
           pg_catalog.min(q.queued_at)                  AS oldest_queued_at,
           pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.min(q.queued_at)
                                                        AS oldest_age
      FROM @extschema@.inventory_queue q;
COMMENT ON VIEW @extschema@.inventory_queue_summary IS
    'Number of queued batches and items, and the age of the oldest';

/*
 * The worker applies only the queue of inventory.database: say so when the
 * extension is created elsewhere on a server that preloads it.
 */
DO $$
BEGIN
    IF pg_catalog.current_setting('inventory.database', true) IS NOT NULL
       AND pg_catalog.current_setting('inventory.database', true)
           OPERATOR(pg_catalog.<>) pg_catalog.current_database() THEN
        RAISE WARNING 'the inventory worker does not serve database "%"', pg_catalog.current_database()
            USING DETAIL = pg_catalog.format('inventory.database is "%s"; batches queued here are applied only by inventory_process_queue().',
                                             pg_catalog.current_setting('inventory.database', true)),
                  HINT = 'Set inventory.database to this database and restart the server, or apply the queue with inventory_process_queue().';
    END IF;
END
$$;

/* pg_dump keeps the data of these tables (their definitions come from the extension). */
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_warehouses', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_levels', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_queue', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_batch_history', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_batch_id_seq', '');

/*
 * The trigger that keeps available = on_hand - reserved (C).
 */
CREATE FUNCTION @extschema@.inventory_levels_maintain()
    RETURNS trigger
    LANGUAGE c
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_levels_maintain';
COMMENT ON FUNCTION @extschema@.inventory_levels_maintain() IS
    'BEFORE INSERT OR UPDATE trigger: available = on_hand - reserved; writing available sets on_hand';

CREATE TRIGGER inventory_levels_maintain
    BEFORE INSERT OR UPDATE ON @extschema@.inventory_levels
    FOR EACH ROW EXECUTE FUNCTION @extschema@.inventory_levels_maintain();

/*
 * Stamp updated_at on warehouse changes.
 */
CREATE FUNCTION @extschema@.inventory_touch_updated_at()
    RETURNS trigger
    LANGUAGE c
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_touch_updated_at';
COMMENT ON FUNCTION @extschema@.inventory_touch_updated_at() IS
    'BEFORE UPDATE trigger: sets updated_at to the transaction time';

CREATE TRIGGER inventory_warehouses_touch
    BEFORE UPDATE ON @extschema@.inventory_warehouses
    FOR EACH ROW EXECUTE FUNCTION @extschema@.inventory_touch_updated_at();

/*
 * The API.
 */
CREATE FUNCTION @extschema@.inventory_adjust(body jsonb)
    RETURNS bigint
    LANGUAGE c
    VOLATILE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_adjust';
COMMENT ON FUNCTION @extschema@.inventory_adjust(jsonb) IS
    'Validate a batch of adjustments ({"inventory": [...]} or an array) and queue it; returns the batch id';

CREATE FUNCTION @extschema@.inventory_process_queue(max_batches integer DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c
    VOLATILE CALLED ON NULL INPUT
    SET search_path = pg_catalog, pg_temp
    -- key lookups are index probes whatever the table sizes (see worker.c)
    SET enable_seqscan = off
    SET enable_hashjoin = off
    SET enable_mergejoin = off
    SET jit = off
    AS 'MODULE_PATHNAME', 'inventory_process_queue';
COMMENT ON FUNCTION @extschema@.inventory_process_queue(integer) IS
    'Apply queued batches now, in this session; returns the number of batches applied or failed';

CREATE FUNCTION @extschema@.inventory_wait(batch bigint, timeout interval DEFAULT '30 s')
    RETURNS text
    LANGUAGE plpgsql
    VOLATILE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    deadline  timestamptz;
    st        text;
    pause     double precision := 0.001;
BEGIN
    IF batch IS NULL OR timeout IS NULL THEN
        RAISE EXCEPTION 'batch and timeout must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    deadline := pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) timeout;
    LOOP
        SELECT h.state INTO st
          FROM @extschema@.inventory_batch_history h
         WHERE h.batch_id OPERATOR(pg_catalog.=) batch;
        IF FOUND THEN
            RETURN st;
        END IF;
        PERFORM FROM @extschema@.inventory_queue q
          WHERE q.batch_id OPERATOR(pg_catalog.=) batch;
        IF NOT FOUND THEN
            -- Neither queued nor done: check history again, the batch may
            -- have moved between the two reads.
            SELECT h.state INTO st
              FROM @extschema@.inventory_batch_history h
             WHERE h.batch_id OPERATOR(pg_catalog.=) batch;
            IF FOUND THEN
                RETURN st;
            END IF;
            RAISE EXCEPTION 'inventory batch % does not exist', batch
                USING ERRCODE = 'undefined_object',
                      DETAIL = 'No queued, applied or failed batch has this id.',
                      HINT = 'A batch queued by a transaction that has not committed yet, or that rolled back, is not visible.';
        END IF;
        IF pg_catalog.clock_timestamp() OPERATOR(pg_catalog.>=) deadline THEN
            RAISE EXCEPTION 'timed out waiting for inventory batch %', batch
                USING ERRCODE = 'lock_not_available',
                      DETAIL = pg_catalog.format('The batch is still queued after %s.', timeout),
                      HINT = 'Check that the inventory worker is running (pg_stat_activity, backend_type ''inventory worker'') and that inventory.enabled is on, or call inventory_process_queue().';
        END IF;
        PERFORM pg_catalog.pg_sleep(pause);
        pause := LEAST(pause OPERATOR(pg_catalog.*) 2, 0.05::double precision);
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.inventory_wait(bigint, interval) IS
    'Wait until a batch is applied or failed and return its state; error on timeout';

CREATE FUNCTION @extschema@.inventory_worker_status(
    OUT pid integer, OUT enabled boolean, OUT extension_found boolean,
    OUT started_at timestamptz, OUT last_round_at timestamptz,
    OUT batches_applied bigint, OUT items_applied bigint, OUT batches_failed bigint,
    OUT waiting_for_pid integer)
    RETURNS SETOF record
    LANGUAGE c
    VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_worker_status';
COMMENT ON FUNCTION @extschema@.inventory_worker_status() IS
    'The running worker: pid, whether it is enabled and found the extension, last round, counters since it started, and the backend holding it back';

/* Nothing is callable by PUBLIC; the README's role recipe grants what applications need. */
REVOKE ALL ON FUNCTION @extschema@.inventory_levels_maintain() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.inventory_touch_updated_at() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.inventory_adjust(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.inventory_process_queue(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.inventory_wait(bigint, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.inventory_worker_status() FROM PUBLIC;
REVOKE ALL ON TABLE @extschema@.inventory_warehouses, @extschema@.inventory_levels,
    @extschema@.inventory_queue, @extschema@.inventory_batch_history,
    @extschema@.inventory_batches, @extschema@.inventory_queue_summary FROM PUBLIC;
REVOKE ALL ON SEQUENCE @extschema@.inventory_batch_id_seq FROM PUBLIC;
