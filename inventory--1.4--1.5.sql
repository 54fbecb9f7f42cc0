/* inventory--1.4--1.5.sql: update the inventory extension from 1.4 to 1.5 */

\echo Use "ALTER EXTENSION inventory UPDATE TO '1.5'" to load this file. \quit

/*
 * Version 1.5 adds retention (issue 13): inventory_prune() deletes the
 * ledger and the applied batches older than a horizon, keeping where each
 * key's ledger ended; inventory_verify() chains from there, and
 * inventory_changes(), inventory_batch_status() and inventory_wait() say
 * when what they were asked for was pruned.  It adds two tables and three
 * functions, and redefines those four.
 */

/*
 * 1. Trust, checked again before anything in the schemas is used (the
 * same check as inventory--1.3--1.4.sql's; see inventory--1.5.sql).
 */
DO $$
DECLARE
    problems text;
    nsp oid;
BEGIN
  FOREACH nsp IN ARRAY ARRAY['@extschema@'::pg_catalog.regnamespace::oid,
                             'inventory_internal'::pg_catalog.regnamespace::oid] LOOP
    SELECT pg_catalog.string_agg(p.problem, ' ' ORDER BY p.ord) INTO problems
      FROM (SELECT 1 AS ord,
                   CASE WHEN r.rolname OPERATOR(pg_catalog.=) 'pg_database_owner'
                        THEN 'It is owned by pg_database_owner, that is by whoever owns the database.'
                        ELSE pg_catalog.format('It is owned by role %I, which is not a superuser.', r.rolname)
                   END AS problem
              FROM pg_catalog.pg_namespace n
              JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
             WHERE n.oid OPERATOR(pg_catalog.=) nsp
               AND NOT r.rolsuper
            UNION ALL
            SELECT 2, pg_catalog.format('Role %s may create objects in it.',
                                        COALESCE(pg_catalog.quote_ident(r.rolname), 'PUBLIC'))
              FROM pg_catalog.pg_namespace n
             CROSS JOIN LATERAL pg_catalog.aclexplode(n.nspacl) a
              LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) a.grantee
             WHERE n.oid OPERATOR(pg_catalog.=) nsp
               AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
               AND NOT COALESCE(r.rolsuper, false)
            UNION ALL
            -- what someone else made there (while they could) stays there
            SELECT 3, pg_catalog.format('%s %I in it is owned by role %I, which is not a superuser.',
                                        o.kind, o.name, r.rolname)
              FROM (SELECT 'Relation' AS kind, c.relname AS name, c.relowner AS owner
                      FROM pg_catalog.pg_class c WHERE c.relnamespace OPERATOR(pg_catalog.=) nsp
                    UNION ALL
                    SELECT 'Function', f.proname, f.proowner
                      FROM pg_catalog.pg_proc f WHERE f.pronamespace OPERATOR(pg_catalog.=) nsp
                    UNION ALL
                    SELECT 'Type', t.typname, t.typowner
                      FROM pg_catalog.pg_type t WHERE t.typnamespace OPERATOR(pg_catalog.=) nsp
                    UNION ALL
                    SELECT 'Operator', op.oprname, op.oprowner
                      FROM pg_catalog.pg_operator op WHERE op.oprnamespace OPERATOR(pg_catalog.=) nsp) o
              JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) o.owner
             WHERE NOT r.rolsuper) p;
    IF problems IS NOT NULL THEN
        RAISE EXCEPTION 'schema "%" cannot hold the inventory extension', nsp::pg_catalog.regnamespace
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = problems,
                  HINT = 'The extension runs as a superuser and names its objects by schema, so only superusers may own that schema or its objects or create objects in it. Give the schema or object back to a superuser, revoke CREATE on the schema, and drop what other roles made there, then run ALTER EXTENSION inventory UPDATE again.';
    END IF;
  END LOOP;
END
$$;

/* ------------------------------------------------------------------------
 * 2. Retention: its tables, as the install script makes them
 * ------------------------------------------------------------------------
 */

/*
 * Where each key's pruned ledger ended: the after values of the last row
 * of the key that retention deleted.  inventory_verify() chains the kept
 * rows from here, so it still proves every level row.
 */
CREATE TABLE @extschema@.inventory_ledger_checkpoints (
    sku             text        COLLATE "C" NOT NULL,
    warehouse_uuid  uuid        NOT NULL,
    ledger_id       bigint      NOT NULL,
    at              timestamptz NOT NULL,
    on_hand         bigint      NOT NULL,
    reserved        bigint      NOT NULL,
    available       bigint      NOT NULL,
    incoming        bigint      NOT NULL,
    CONSTRAINT inventory_ledger_checkpoints_pkey PRIMARY KEY (sku, warehouse_uuid)
);
COMMENT ON TABLE @extschema@.inventory_ledger_checkpoints IS
    'Per key, the values after its last ledger row that retention pruned (the start of its kept ledger)';
COMMENT ON COLUMN @extschema@.inventory_ledger_checkpoints.ledger_id IS
    'Id of the last pruned ledger row of the key';
COMMENT ON COLUMN @extschema@.inventory_ledger_checkpoints.incoming IS
    'incoming after the last pruned row of the key that changed it (0 when none did)';
REVOKE ALL ON TABLE @extschema@.inventory_ledger_checkpoints FROM PUBLIC;

/*
 * How far retention has pruned: one row, made by the first pass.
 */
CREATE TABLE @extschema@.inventory_retention_state (
    ledger_pruned_through  bigint      NOT NULL DEFAULT 0,
    changes_pruned_through bigint      NOT NULL DEFAULT 0,
    batches_pruned_through bigint      NOT NULL DEFAULT 0,
    pruned_before          timestamptz,
    pruned_at              timestamptz,
    single                 boolean     NOT NULL DEFAULT true PRIMARY KEY,
    CONSTRAINT inventory_retention_state_single_check CHECK (single)
);
COMMENT ON TABLE @extschema@.inventory_retention_state IS
    'How far retention pruned the ledger and the batch history (internal; one row)';
COMMENT ON COLUMN @extschema@.inventory_retention_state.ledger_pruned_through IS
    'Every ledger row with an id up to this one is gone';
COMMENT ON COLUMN @extschema@.inventory_retention_state.changes_pruned_through IS
    'Largest change id (a row inventory_changes returns) that was pruned: an older cursor is refused';
COMMENT ON COLUMN @extschema@.inventory_retention_state.batches_pruned_through IS
    'Largest batch id whose history was pruned: a smaller id not found was pruned';
COMMENT ON COLUMN @extschema@.inventory_retention_state.pruned_before IS
    'The latest cutoff a pass used';
REVOKE ALL ON TABLE @extschema@.inventory_retention_state FROM PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_ledger_checkpoints', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_retention_state', '');


/* ------------------------------------------------------------------------
 * 3. Functions that say what retention pruned, and those redefined to use
 * them (their bodies as in inventory--1.5.sql)
 * ------------------------------------------------------------------------
 */

/*
 * Refuse a change cursor below a change that retention pruned: reading on
 * from it would skip that change silently.
 */
CREATE FUNCTION inventory_internal.inventory_check_change_cursor(after bigint)
    RETURNS void
    LANGUAGE plpgsql
    VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    pruned bigint;
    kept bigint;
BEGIN
    SELECT s.changes_pruned_through, s.ledger_pruned_through INTO pruned, kept
      FROM @extschema@.inventory_retention_state s;
    IF after OPERATOR(pg_catalog.<) pruned THEN
        RAISE EXCEPTION 'change cursor % is older than the retention horizon', after
            USING ERRCODE = 'IN005',
                  DETAIL = pg_catalog.format('Retention (inventory.retention) pruned the changes up to id %s, some of them after this cursor.', pruned),
                  HINT = pg_catalog.format('Send every listing its current quantity again (inventory_get() reads them), then continue from cursor %s: every change after it is still kept.', kept);
    END IF;
END
$$;
COMMENT ON FUNCTION inventory_internal.inventory_check_change_cursor(bigint) IS
    'Error IN005 when retention pruned changes after the cursor (internal; see inventory_changes)';
REVOKE ALL ON FUNCTION inventory_internal.inventory_check_change_cursor(bigint) FROM PUBLIC;

/*
 * Whether a batch id that is neither queued nor in the history was pruned
 * by retention (or never committed: below the pruned ids, the two cannot
 * be told apart).  Every batch id still in flight is above every applied
 * one, since the apply never passes an id that may still commit.
 */
CREATE FUNCTION inventory_internal.inventory_batch_pruned(batch bigint)
    RETURNS boolean
    LANGUAGE sql
    STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT COALESCE(batch OPERATOR(pg_catalog.>) 0
                    AND batch OPERATOR(pg_catalog.<=) (SELECT s.batches_pruned_through
                                                       FROM @extschema@.inventory_retention_state s),
                    false)
$$;
COMMENT ON FUNCTION inventory_internal.inventory_batch_pruned(bigint) IS
    'Whether retention pruned the history of a batch that is neither queued nor recorded (internal)';
REVOKE ALL ON FUNCTION inventory_internal.inventory_batch_pruned(bigint) FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@.inventory_changes(after bigint DEFAULT 0, max_rows integer DEFAULT 1000)
    RETURNS TABLE (change_id bigint, at timestamptz, sku text, warehouse_uuid uuid,
                   available bigint, available_before bigint, on_hand bigint, reserved bigint,
                   source text, incoming bigint)
    LANGUAGE plpgsql
    VOLATILE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    horizon bigint;
    issued bigint;
BEGIN
    IF after IS NULL OR max_rows IS NULL OR max_rows OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION 'after must not be null and max_rows must be at least 1'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- first the horizon, then (a new statement, a new snapshot) the rows
    horizon := inventory_internal.inventory_ledger_horizon();
    -- A cursor above every ledger id issued here was not read here: it
    -- would wait, silently, until ids pass it.
    SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END INTO issued
      FROM @extschema@.inventory_ledger_id_seq s;
    IF after OPERATOR(pg_catalog.>) issued THEN
        RAISE EXCEPTION 'change cursor % is beyond the last change of this database', after
            USING ERRCODE = 'IN003',
                  DETAIL = pg_catalog.format('The largest change id issued here is %s. The cursor was read from another database, or before the extension was dropped and created again (change ids then start again at 1), or from a primary whose last changes were lost in a failover.', issued),
                  HINT = 'Start the consumer again from cursor 0, sending every change it reads to the listings again; keep one cursor per database.';
    END IF;
    PERFORM inventory_internal.inventory_check_change_cursor(after);
    RETURN QUERY
        SELECT l.id, l.at, l.sku::text, l.warehouse_uuid, l.available_after, l.available_before,
               l.on_hand_after, l.reserved_after, l.source, l.incoming_after
          FROM @extschema@.inventory_ledger l
         WHERE l.id OPERATOR(pg_catalog.>) after
           AND l.id OPERATOR(pg_catalog.<=) horizon
           AND (l.available_before OPERATOR(pg_catalog.<>) l.available_after
                OR l.incoming_before IS DISTINCT FROM l.incoming_after)
         ORDER BY l.id
         LIMIT max_rows;
    -- again after the read: a pass of retention that committed before the
    -- read's snapshot took rows after the cursor, which the read missed
    PERFORM inventory_internal.inventory_check_change_cursor(after);
END
$$;
COMMENT ON FUNCTION @extschema@.inventory_changes(bigint, integer) IS
    'Changes of available or incoming after a cursor (the last change_id seen), in order, none ever skipped (incoming is NULL when the change left it as it was; a cursor older than what retention pruned is refused); LISTEN inventory_changes to be woken';
REVOKE ALL ON FUNCTION @extschema@.inventory_changes(bigint, integer) FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@.inventory_wait(batch bigint, timeout interval DEFAULT '30 s')
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
    queued_by_xid xid;
BEGIN
    IF batch IS NULL OR timeout IS NULL THEN
        RAISE EXCEPTION 'batch and timeout must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- A batch is applied only once the transaction that queued it commits:
    -- waiting for it in that very transaction could only time out.
    SELECT q.xmin INTO queued_by_xid FROM @extschema@.inventory_queue q
     WHERE q.batch_id OPERATOR(pg_catalog.=) batch;
    IF FOUND AND inventory_internal.inventory_xid_is_current(queued_by_xid) THEN
        RAISE EXCEPTION 'inventory batch % is not committed yet', batch
            USING ERRCODE = 'invalid_transaction_state',
                  DETAIL = 'This transaction queued it, and a batch is applied only after the transaction that queued it commits.',
                  HINT = 'Commit first, then call inventory_wait() from a new transaction.';
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
            IF inventory_internal.inventory_batch_pruned(batch) THEN
                RETURN 'pruned';
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
                      HINT = 'SELECT * FROM inventory_worker_status() says what this database''s worker is doing (paused, waiting for a free worker, held back by an open transaction that queued an earlier batch), or shows no row when the library is not preloaded; inventory_process_queue() applies the queue in this session.';
        END IF;
        PERFORM pg_catalog.pg_sleep(pause);
        pause := LEAST(pause OPERATOR(pg_catalog.*) 2, 0.05::double precision);
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.inventory_wait(bigint, interval) IS
    'Wait until a batch is applied or failed and return its state (pruned: applied, and its history removed by retention); error on timeout';
REVOKE ALL ON FUNCTION @extschema@.inventory_wait(bigint, interval) FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@.inventory_batch_status(batch bigint)
    RETURNS TABLE (batch_id bigint, state text, create_missing boolean, item_count integer,
                   applied_items integer, skipped_items integer, failed_items integer,
                   queued_at timestamptz, applied_at timestamptz, error text,
                   item integer, sku text, warehouse_uuid uuid, outcome text, reason text,
                   on_hand_before bigint, on_hand_after bigint,
                   reserved_before bigint, reserved_after bigint,
                   available_before bigint, available_after bigint)
    LANGUAGE plpgsql
    STABLE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    q @extschema@.inventory_queue;
    h @extschema@.inventory_batch_history;
BEGIN
    SELECT * INTO q FROM @extschema@.inventory_queue x WHERE x.batch_id OPERATOR(pg_catalog.=) batch;
    IF FOUND THEN
        RETURN QUERY
            SELECT q.batch_id, 'queued'::text, q.create_missing, q.item_count, 0, 0, 0,
                   q.queued_at, NULL::timestamptz, NULL::text,
                   e.ord::integer, e.v OPERATOR(pg_catalog.->>) 'sku', (e.v OPERATOR(pg_catalog.->>) 'warehouse_uuid')::uuid, 'queued'::text, NULL::text,
                   NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint
              FROM pg_catalog.jsonb_array_elements(q.items) WITH ORDINALITY AS e(v, ord)
             ORDER BY e.ord;
        RETURN;
    END IF;
    SELECT * INTO h FROM @extschema@.inventory_batch_history x WHERE x.batch_id OPERATOR(pg_catalog.=) batch;
    IF NOT FOUND AND NOT inventory_internal.inventory_batch_pruned(batch) THEN
        RAISE EXCEPTION 'inventory batch % does not exist', batch
            USING ERRCODE = 'undefined_object',
                  DETAIL = 'No queued, applied or failed batch has this id.';
    END IF;
    -- pruned by retention: one row, without items
    IF NOT FOUND THEN
        RETURN QUERY
            SELECT batch, 'pruned'::text, NULL::boolean, NULL::integer, NULL::integer, NULL::integer, NULL::integer,
                   NULL::timestamptz, NULL::timestamptz, NULL::text,
                   NULL::integer, NULL::text, NULL::uuid, 'pruned'::text,
                   'the batch left the queue before the retention horizon (inventory.retention), and its history was pruned'::text,
                   NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;
    IF h.state OPERATOR(pg_catalog.=) 'failed' THEN
        RETURN QUERY
            SELECT h.batch_id, h.state, h.create_missing, h.item_count, 0, 0, h.item_count,
                   h.queued_at, h.applied_at, h.error,
                   e.ord::integer, e.v OPERATOR(pg_catalog.->>) 'sku', (e.v OPERATOR(pg_catalog.->>) 'warehouse_uuid')::uuid, 'failed'::text, h.error,
                   NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint
              FROM pg_catalog.jsonb_array_elements(h.items) WITH ORDINALITY AS e(v, ord)
             ORDER BY e.ord;
        RETURN;
    END IF;
    RETURN QUERY
        WITH outcomes AS (
            SELECT l.item, l.sku::text AS sku, l.warehouse_uuid, 'applied'::text AS outcome, NULL::text AS reason,
                   l.on_hand_before, l.on_hand_after, l.reserved_before, l.reserved_after,
                   l.available_before, l.available_after
              FROM @extschema@.inventory_ledger l
             WHERE l.batch_id OPERATOR(pg_catalog.=) batch
            UNION ALL
            SELECT (s.v OPERATOR(pg_catalog.->>) 'item')::integer, s.v OPERATOR(pg_catalog.->>) 'sku', (s.v OPERATOR(pg_catalog.->>) 'warehouse_uuid')::uuid,
                   'skipped_missing', 'no level row exists and the batch was queued with create_missing => false',
                   NULL, NULL, NULL, NULL, NULL, NULL
              FROM pg_catalog.jsonb_array_elements(COALESCE(h.skipped, '[]'::jsonb)) AS s(v)
            UNION ALL
            SELECT (r.v OPERATOR(pg_catalog.->>) 'item')::integer, r.v OPERATOR(pg_catalog.->>) 'sku', (r.v OPERATOR(pg_catalog.->>) 'warehouse_uuid')::uuid,
                   r.v OPERATOR(pg_catalog.->>) 'outcome',
                   CASE r.v OPERATOR(pg_catalog.->>) 'outcome'
                   WHEN 'conflict' THEN
                       pg_catalog.format('expected %s %s, the row had %s',
                                         r.v OPERATOR(pg_catalog.->>) 'field',
                                         r.v OPERATOR(pg_catalog.->>) 'expected',
                                         r.v OPERATOR(pg_catalog.->>) 'actual')
                   ELSE
                       pg_catalog.format(CASE WHEN r.v OPERATOR(pg_catalog.->>) 'result' IS NULL
                                              THEN 'on_hand would go from %s beyond the range of bigint'
                                              ELSE 'on_hand would go from %s to %s, outside 0 to 2147483647' END,
                                         r.v OPERATOR(pg_catalog.->>) 'actual',
                                         r.v OPERATOR(pg_catalog.->>) 'result')
                   END,
                   NULL, NULL, NULL, NULL, NULL, NULL
              -- the column is NULL where nothing was rejected
              FROM pg_catalog.jsonb_array_elements(COALESCE(h.rejected, '[]'::jsonb)) AS r(v))
        SELECT h.batch_id, h.state, h.create_missing, h.item_count,
               (pg_catalog.count(*) FILTER (WHERE o.outcome OPERATOR(pg_catalog.=) 'applied') OVER ())::integer,
               (pg_catalog.count(*) FILTER (WHERE o.outcome OPERATOR(pg_catalog.<>) 'applied') OVER ())::integer,
               0, h.queued_at, h.applied_at, h.error,
               o.item, o.sku, o.warehouse_uuid, o.outcome, o.reason,
               o.on_hand_before, o.on_hand_after, o.reserved_before, o.reserved_after,
               o.available_before, o.available_after
          FROM outcomes o
         ORDER BY o.item;
END
$$;
COMMENT ON FUNCTION @extschema@.inventory_batch_status(bigint) IS
    'State, counts and times of a batch, and each item''s outcome (queued, applied, skipped_missing, conflict, out_of_range, failed) with before/after values of the applied ones; one row with state pruned for a batch retention pruned';
REVOKE ALL ON FUNCTION @extschema@.inventory_batch_status(bigint) FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@.inventory_verify()
    RETURNS TABLE (check_name text, sku text, warehouse_uuid uuid, detail text)
    LANGUAGE sql
    STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    -- available = on_hand - reserved on every row
    SELECT 'available'::text, l.sku::text, l.warehouse_uuid,
           pg_catalog.format('available is %s, on_hand - reserved is %s', l.available,
                             l.on_hand OPERATOR(pg_catalog.-) l.reserved)
      FROM @extschema@.inventory_levels l
     WHERE l.available OPERATOR(pg_catalog.<>) (l.on_hand OPERATOR(pg_catalog.-) l.reserved)
    UNION ALL
    -- reserved = sum of open reservations
    SELECT 'reserved', COALESCE(l.sku, r.sku)::text, COALESCE(l.warehouse_uuid, r.warehouse_uuid),
           pg_catalog.format('reserved is %s, open reservations sum to %s',
                             COALESCE(l.reserved, 0), COALESCE(r.total, 0))
      FROM @extschema@.inventory_levels l
      FULL JOIN (SELECT x.sku, x.warehouse_uuid, pg_catalog.sum(x.quantity) AS total
                   FROM @extschema@.inventory_reservations x GROUP BY 1, 2) r
        ON r.sku OPERATOR(pg_catalog.=) l.sku AND r.warehouse_uuid OPERATOR(pg_catalog.=) l.warehouse_uuid
     WHERE COALESCE(l.reserved, 0) OPERATOR(pg_catalog.<>) COALESCE(r.total, 0)
    UNION ALL
    -- incoming = what the transfers in transit to the row still carry
    SELECT 'incoming', COALESCE(l.sku, t.sku)::text, COALESCE(l.warehouse_uuid, t.to_warehouse),
           pg_catalog.format('incoming is %s, transfers in transit carry %s',
                             COALESCE(l.incoming, 0), COALESCE(t.total, 0))
      FROM (SELECT x.sku, x.warehouse_uuid, x.incoming FROM @extschema@.inventory_levels x
             WHERE x.incoming OPERATOR(pg_catalog.<>) 0) l
      FULL JOIN (SELECT x.sku, x.to_warehouse, pg_catalog.sum(x.remaining) AS total
                   FROM @extschema@.inventory_transfers x
                  WHERE x.state OPERATOR(pg_catalog.=) 'in_transit' GROUP BY 1, 2) t
        ON t.sku OPERATOR(pg_catalog.=) l.sku AND t.to_warehouse OPERATOR(pg_catalog.=) l.warehouse_uuid
     WHERE COALESCE(l.incoming, 0) OPERATOR(pg_catalog.<>) COALESCE(t.total, 0)
    UNION ALL
    -- replaying the ledger gives every level row: its last row's after
    -- values (its checkpoint's, when retention pruned every row of the key)
    SELECT 'ledger', COALESCE(l.sku, g.sku)::text, COALESCE(l.warehouse_uuid, g.warehouse_uuid),
           pg_catalog.format('level row has on_hand %s, reserved %s; the ledger ends at on_hand %s, reserved %s',
                             COALESCE(l.on_hand, 0), COALESCE(l.reserved, 0),
                             COALESCE(g.on_hand_after, 0), COALESCE(g.reserved_after, 0))
      FROM @extschema@.inventory_levels l
      FULL JOIN (SELECT DISTINCT ON (x.sku, x.warehouse_uuid) x.sku, x.warehouse_uuid,
                        x.on_hand_after, x.reserved_after
                   FROM (SELECT y.id, y.sku, y.warehouse_uuid, y.on_hand_after, y.reserved_after
                           FROM @extschema@.inventory_ledger y
                         UNION ALL
                         SELECT c.ledger_id, c.sku, c.warehouse_uuid, c.on_hand, c.reserved
                           FROM @extschema@.inventory_ledger_checkpoints c) x
                  ORDER BY x.sku, x.warehouse_uuid, x.id DESC) g
        ON g.sku OPERATOR(pg_catalog.=) l.sku AND g.warehouse_uuid OPERATOR(pg_catalog.=) l.warehouse_uuid
     WHERE COALESCE(l.on_hand, 0) OPERATOR(pg_catalog.<>) COALESCE(g.on_hand_after, 0)
        OR COALESCE(l.reserved, 0) OPERATOR(pg_catalog.<>) COALESCE(g.reserved_after, 0)
    UNION ALL
    -- ... and incoming: the key's last row that changed it (0 without one)
    SELECT 'ledger', COALESCE(l.sku, g.sku)::text, COALESCE(l.warehouse_uuid, g.warehouse_uuid),
           pg_catalog.format('level row has incoming %s; the ledger ends at incoming %s',
                             COALESCE(l.incoming, 0), COALESCE(g.incoming_after, 0))
      FROM (SELECT x.sku, x.warehouse_uuid, x.incoming FROM @extschema@.inventory_levels x
             WHERE x.incoming OPERATOR(pg_catalog.<>) 0) l
      FULL JOIN (SELECT DISTINCT ON (x.sku, x.warehouse_uuid) x.sku, x.warehouse_uuid, x.incoming_after
                   FROM (SELECT y.id, y.sku, y.warehouse_uuid, y.incoming_after
                           FROM @extschema@.inventory_ledger y
                          WHERE y.incoming_after IS NOT NULL
                         UNION ALL
                         SELECT c.ledger_id, c.sku, c.warehouse_uuid, c.incoming
                           FROM @extschema@.inventory_ledger_checkpoints c) x
                  ORDER BY x.sku, x.warehouse_uuid, x.id DESC) g
        ON g.sku OPERATOR(pg_catalog.=) l.sku AND g.warehouse_uuid OPERATOR(pg_catalog.=) l.warehouse_uuid
     WHERE COALESCE(l.incoming, 0) OPERATOR(pg_catalog.<>) COALESCE(g.incoming_after, 0)
    UNION ALL
    -- each ledger row starts where the key's previous one ended (the
    -- first kept one where its checkpoint ended)
    SELECT 'ledger chain', c.sku::text, c.warehouse_uuid,
           pg_catalog.format('ledger row %s starts at on_hand %s, reserved %s; the previous row ended at %s, %s',
                             c.id, c.on_hand_before, c.reserved_before, c.prev_on_hand, c.prev_reserved)
      FROM (SELECT x.*, pg_catalog.lag(x.on_hand_after, 1, COALESCE(p.on_hand, 0::bigint)) OVER w AS prev_on_hand,
                   pg_catalog.lag(x.reserved_after, 1, COALESCE(p.reserved, 0::bigint)) OVER w AS prev_reserved
              FROM @extschema@.inventory_ledger x
              LEFT JOIN @extschema@.inventory_ledger_checkpoints p
                ON p.sku OPERATOR(pg_catalog.=) x.sku AND p.warehouse_uuid OPERATOR(pg_catalog.=) x.warehouse_uuid
            WINDOW w AS (PARTITION BY x.sku, x.warehouse_uuid ORDER BY x.id)) c
     WHERE c.on_hand_before OPERATOR(pg_catalog.<>) c.prev_on_hand
        OR c.reserved_before OPERATOR(pg_catalog.<>) c.prev_reserved
    UNION ALL
    -- ... and, among the rows that changed incoming, incoming
    SELECT 'ledger chain', c.sku::text, c.warehouse_uuid,
           pg_catalog.format('ledger row %s starts at incoming %s; the previous row that changed it ended at %s',
                             c.id, c.incoming_before, c.prev_incoming)
      FROM (SELECT x.*, pg_catalog.lag(x.incoming_after, 1, COALESCE(p.incoming, 0::bigint)) OVER w AS prev_incoming
              FROM @extschema@.inventory_ledger x
              LEFT JOIN @extschema@.inventory_ledger_checkpoints p
                ON p.sku OPERATOR(pg_catalog.=) x.sku AND p.warehouse_uuid OPERATOR(pg_catalog.=) x.warehouse_uuid
             WHERE x.incoming_after IS NOT NULL
            WINDOW w AS (PARTITION BY x.sku, x.warehouse_uuid ORDER BY x.id)) c
     WHERE c.incoming_before OPERATOR(pg_catalog.<>) c.prev_incoming
$$;
COMMENT ON FUNCTION @extschema@.inventory_verify() IS
    'Rows that drift: available <> on_hand - reserved, reserved <> sum of reservations, incoming <> what transfers in transit carry, levels that the ledger (from each key''s retention checkpoint) does not replay to; no rows means consistent';
REVOKE ALL ON FUNCTION @extschema@.inventory_verify() FROM PUBLIC;

/* ------------------------------------------------------------------------
 * 4. Retention: the ledger and the batch history older than a
 * horizon are pruned; what verification and the change feed need is kept
 * ------------------------------------------------------------------------
 */

/*
 * Prune the ledger and the applied batches older than older_than
 * (inventory.retention when NULL), at most max_rows batches and max_rows
 * ledger ids per call; the worker calls it when inventory.retention is
 * set.  Batches go first, in batch order, up to the first applied at or
 * after the cutoff; failed ones are kept (they carry their items, to be
 * queued again) and passed over.  The ledger goes by id prefix, so each
 * key keeps a suffix of its rows, which its checkpoint starts: never past
 * a row at or after the cutoff, a row of a batch whose history is kept, an
 * id that may still commit (the change feed's horizon), or what the
 * channel and alert feeds have derived.  One pass at a time: a call while
 * another runs prunes nothing.
 */
CREATE FUNCTION @extschema@.inventory_prune(older_than interval DEFAULT NULL, max_rows integer DEFAULT 100000)
    RETURNS TABLE (ledger_rows bigint, batches bigint, ledger_pruned_through bigint,
                   batches_pruned_through bigint, pruned_before timestamptz, more boolean)
    LANGUAGE plpgsql
    VOLATILE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    keep interval := older_than;
    cutoff timestamptz;
    st @extschema@.inventory_retention_state;
    horizon bigint;
    feeds_at bigint;
    lo bigint;
    hi bigint;
    first_kept bigint;
    batch_kept bigint;
    first_old boolean;
    changes_hi bigint;
    broken bigint;
    broken_example text;
    queued_min bigint;
    candidates bigint := 0;
    batches_hi bigint;
BEGIN
    IF keep IS NULL THEN
        keep := pg_catalog.current_setting('inventory.retention', true)::interval;
        IF keep IS NULL OR keep OPERATOR(pg_catalog.<=) '0'::interval THEN
            RAISE EXCEPTION 'no retention horizon is set'
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'inventory.retention is 0 (keep everything) and older_than was not given.',
                      HINT = 'Pass older_than, as in inventory_prune(''30 days''), or set inventory.retention in postgresql.conf; the worker then prunes by itself.';
        END IF;
    END IF;
    IF keep OPERATOR(pg_catalog.<=) '0'::interval OR max_rows IS NULL
       OR max_rows OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION 'older_than must be positive and max_rows at least 1'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    cutoff := pg_catalog.now() OPERATOR(pg_catalog.-) keep;
    ledger_rows := 0;
    batches := 0;

    -- one pass at a time (the row is made by the first pass); a call while
    -- another pass holds it does nothing, never waits
    INSERT INTO @extschema@.inventory_retention_state DEFAULT VALUES ON CONFLICT (single) DO NOTHING;
    SELECT s.* INTO st FROM @extschema@.inventory_retention_state s FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        SELECT s.ledger_pruned_through, s.batches_pruned_through, s.pruned_before
          INTO ledger_pruned_through, batches_pruned_through, pruned_before
          FROM @extschema@.inventory_retention_state s;
        more := false;
        RETURN NEXT;
        RETURN;
    END IF;

    -- applied batches older than the cutoff: the next max_rows batches in
    -- the history below every queued one, up to the first applied at or
    -- after the cutoff (first the first one alone: most passes stop there)
    SELECT pg_catalog.min(q.batch_id) INTO queued_min FROM @extschema@.inventory_queue q;
    SELECT h.batch_id, h.applied_at OPERATOR(pg_catalog.<) cutoff INTO batch_kept, first_old
      FROM @extschema@.inventory_batch_history h
     WHERE h.batch_id OPERATOR(pg_catalog.>) st.batches_pruned_through
       AND h.state OPERATOR(pg_catalog.=) 'applied'
     ORDER BY h.batch_id
     LIMIT 1;
    IF first_old THEN
        -- the candidates read once: the first applied at or after the
        -- cutoff among them, their number, and the last before it
        WITH c AS MATERIALIZED (
            SELECT h.batch_id, h.state, h.applied_at
              FROM @extschema@.inventory_batch_history h
             WHERE h.batch_id OPERATOR(pg_catalog.>) st.batches_pruned_through
               AND h.batch_id OPERATOR(pg_catalog.<) COALESCE(queued_min, 9223372036854775807)
             ORDER BY h.batch_id
             LIMIT max_rows),
        k AS (
            SELECT pg_catalog.min(c.batch_id) FILTER (WHERE c.state OPERATOR(pg_catalog.=) 'applied'
                                                      AND c.applied_at OPERATOR(pg_catalog.>=) cutoff) AS kept,
                   pg_catalog.count(*) AS n
              FROM c)
        SELECT k.kept, k.n,
               (SELECT pg_catalog.max(c.batch_id) FROM c
                 WHERE c.batch_id OPERATOR(pg_catalog.<) COALESCE(k.kept, 9223372036854775807))
          INTO batch_kept, candidates, batches_hi
          FROM k;
        DELETE FROM @extschema@.inventory_batch_history h
         WHERE h.batch_id OPERATOR(pg_catalog.>) st.batches_pruned_through
           AND h.batch_id OPERATOR(pg_catalog.<=) batches_hi
           AND h.state OPERATOR(pg_catalog.=) 'applied';
        GET DIAGNOSTICS batches = ROW_COUNT;
    END IF;
    batches_hi := GREATEST(st.batches_pruned_through, batches_hi);

    -- the ledger: ids in (lo, hi], all older than the cutoff, none of a
    -- batch whose history is kept
    horizon := inventory_internal.inventory_ledger_horizon();
    -- what the channel feed and the alerts still have to derive (with
    -- neither, nothing derives from the ledger: a new channel or threshold
    -- starts from the level rows)
    IF EXISTS (SELECT FROM @extschema@.inventory_channels c WHERE c.active)
       OR EXISTS (SELECT FROM @extschema@.inventory_stock_alerts) THEN
        SELECT COALESCE(pg_catalog.max(f.ledger_cursor), 0) INTO feeds_at
          FROM @extschema@.inventory_feed_state f;
    ELSE
        feeds_at := horizon;
    END IF;
    lo := st.ledger_pruned_through;
    hi := LEAST(horizon, feeds_at, lo OPERATOR(pg_catalog.+) max_rows);
    SELECT pg_catalog.min(l.id) INTO first_kept
      FROM @extschema@.inventory_ledger l
     WHERE l.id OPERATOR(pg_catalog.>) lo AND l.id OPERATOR(pg_catalog.<=) hi
       AND (l.at OPERATOR(pg_catalog.>=) cutoff OR l.batch_id OPERATOR(pg_catalog.>) batches_hi);
    IF first_kept IS NOT NULL THEN
        hi := first_kept OPERATOR(pg_catalog.-) 1;
    END IF;
    IF hi OPERATOR(pg_catalog.>) lo THEN
        WITH gone AS (
            DELETE FROM @extschema@.inventory_ledger l
             WHERE l.id OPERATOR(pg_catalog.>) lo AND l.id OPERATOR(pg_catalog.<=) hi
            RETURNING l.id, l.at, l.sku, l.warehouse_uuid, l.on_hand_before, l.on_hand_after,
                      l.reserved_before, l.reserved_after, l.available_before, l.available_after,
                      l.incoming_before, l.incoming_after),
        -- each key's last row, and its last that changed incoming
        last AS (
            SELECT g.sku, g.warehouse_uuid, pg_catalog.max(g.id) AS id,
                   (pg_catalog.array_agg(g.at ORDER BY g.id DESC))[1] AS at,
                   (pg_catalog.array_agg(g.on_hand_after ORDER BY g.id DESC))[1] AS on_hand,
                   (pg_catalog.array_agg(g.reserved_after ORDER BY g.id DESC))[1] AS reserved,
                   (pg_catalog.array_agg(g.available_after ORDER BY g.id DESC))[1] AS available,
                   (pg_catalog.array_agg(g.incoming_after ORDER BY g.id DESC)
                        FILTER (WHERE g.incoming_after IS NOT NULL))[1] AS incoming
              FROM gone g
             GROUP BY g.sku, g.warehouse_uuid),
        -- the pruned rows chain from the key's old checkpoint (verified
        -- here, since their evidence goes with them)
        chain AS (
            SELECT g.id, g.sku, g.on_hand_before, g.reserved_before,
                   pg_catalog.lag(g.on_hand_after, 1, COALESCE(p.on_hand, 0::bigint))
                       OVER (PARTITION BY g.sku, g.warehouse_uuid ORDER BY g.id) AS prev_on_hand,
                   pg_catalog.lag(g.reserved_after, 1, COALESCE(p.reserved, 0::bigint))
                       OVER (PARTITION BY g.sku, g.warehouse_uuid ORDER BY g.id) AS prev_reserved
              FROM gone g
              LEFT JOIN @extschema@.inventory_ledger_checkpoints p
                ON p.sku OPERATOR(pg_catalog.=) g.sku AND p.warehouse_uuid OPERATOR(pg_catalog.=) g.warehouse_uuid),
        saved AS (
            INSERT INTO @extschema@.inventory_ledger_checkpoints AS c
                   (sku, warehouse_uuid, ledger_id, at, on_hand, reserved, available, incoming)
            SELECT t.sku, t.warehouse_uuid, t.id, t.at, t.on_hand, t.reserved, t.available,
                   COALESCE(t.incoming, p.incoming, 0)
              FROM last t
              LEFT JOIN @extschema@.inventory_ledger_checkpoints p
                ON p.sku OPERATOR(pg_catalog.=) t.sku AND p.warehouse_uuid OPERATOR(pg_catalog.=) t.warehouse_uuid
            ON CONFLICT (sku, warehouse_uuid) DO UPDATE
               SET ledger_id = excluded.ledger_id, at = excluded.at, on_hand = excluded.on_hand,
                   reserved = excluded.reserved, available = excluded.available,
                   incoming = excluded.incoming
            RETURNING 1)
        SELECT (SELECT pg_catalog.count(*) FROM gone),
               (SELECT pg_catalog.max(g.id) FROM gone g
                 WHERE g.available_before OPERATOR(pg_catalog.<>) g.available_after
                    OR g.incoming_before IS DISTINCT FROM g.incoming_after),
               (SELECT pg_catalog.count(*) FROM chain x
                 WHERE x.on_hand_before OPERATOR(pg_catalog.<>) x.prev_on_hand
                    OR x.reserved_before OPERATOR(pg_catalog.<>) x.prev_reserved),
               (SELECT pg_catalog.format('ledger row %s of sku %s starts at on_hand %s, reserved %s; the previous row ended at %s, %s',
                                         x.id, x.sku, x.on_hand_before, x.reserved_before, x.prev_on_hand, x.prev_reserved)
                  FROM chain x
                 WHERE x.on_hand_before OPERATOR(pg_catalog.<>) x.prev_on_hand
                    OR x.reserved_before OPERATOR(pg_catalog.<>) x.prev_reserved
                 ORDER BY x.id LIMIT 1)
          INTO ledger_rows, changes_hi, broken, broken_example;
        IF broken OPERATOR(pg_catalog.>) 0 THEN
            RAISE WARNING 'inventory retention pruned % ledger rows that do not chain', broken
                USING DETAIL = pg_catalog.format('The first: %s. The checkpoints start each key from its last pruned row, so inventory_verify() no longer reports these.', broken_example),
                      HINT = 'Run inventory_verify() before pruning to see drift while its evidence is kept.';
        END IF;
        lo := hi;
    END IF;

    UPDATE @extschema@.inventory_retention_state s
       SET ledger_pruned_through = lo,
           changes_pruned_through = GREATEST(s.changes_pruned_through, changes_hi),
           batches_pruned_through = batches_hi,
           pruned_before = GREATEST(s.pruned_before, cutoff),
           pruned_at = pg_catalog.now()
     RETURNING s.ledger_pruned_through, s.batches_pruned_through, s.pruned_before
          INTO ledger_pruned_through, batches_pruned_through, pruned_before;
    -- cut by max_rows, not by the cutoff: call again
    more := lo OPERATOR(pg_catalog.=) (st.ledger_pruned_through OPERATOR(pg_catalog.+) max_rows)
            OR (candidates OPERATOR(pg_catalog.=) max_rows AND batch_kept IS NULL);
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION @extschema@.inventory_prune(interval, integer) IS
    'Delete applied batches and ledger rows older than older_than (inventory.retention when NULL), at most max_rows of each, keeping per key where its ledger ended; more: call again';
REVOKE ALL ON FUNCTION @extschema@.inventory_prune(interval, integer) FROM PUBLIC;
