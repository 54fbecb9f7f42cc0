/* inventory--1.5--1.6.sql: update the inventory extension from 1.5 to 1.6 */

\echo Use "ALTER EXTENSION inventory UPDATE TO '1.6'" to load this file. \quit

/*
 * Version 1.6 scales out by merchant (issue 14): warehouses belong to a
 * merchant (every existing one to 'default'), one operation names one
 * merchant's warehouses (inventory.merchant's when a session or a router
 * sets it), idempotency keys are per merchant, ids carry this node's id
 * (inventory_set_node_id), and a merchant's rows can be exported, imported
 * on another node and forgotten here.  It adds a column to two tables, one
 * two tables and seven functions, and redefines seven.
 */

/*
 * 1. Trust, checked again before anything in the schemas is used (the
 * same check as inventory--1.4--1.5.sql's; see inventory--1.6.sql).
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
 * 2. Tables: the merchant of each warehouse and of each idempotency key,
 * this node's id, the batches whose merchant moved away
 * ------------------------------------------------------------------------
 */

ALTER TABLE @extschema@.inventory_warehouses
    ADD COLUMN merchant text NOT NULL DEFAULT 'default',
    ADD CONSTRAINT inventory_warehouses_merchant_check
        CHECK (pg_catalog.octet_length(merchant) OPERATOR(pg_catalog.>=) 1
               AND pg_catalog.octet_length(merchant) OPERATOR(pg_catalog.<=) 255
               AND merchant OPERATOR(pg_catalog.!~) '[\x01-\x1f\x7f]');
CREATE INDEX inventory_warehouses_merchant_idx
    ON @extschema@.inventory_warehouses (merchant);
COMMENT ON COLUMN @extschema@.inventory_warehouses.merchant IS
    'The merchant the warehouse belongs to (''default'' on a single node): one operation names one merchant''s warehouses, and a router sends it to that merchant''s node';

ALTER TABLE @extschema@.inventory_idempotency_keys
    ADD COLUMN merchant text NOT NULL DEFAULT '',
    DROP CONSTRAINT inventory_idempotency_keys_pkey,
    ADD CONSTRAINT inventory_idempotency_keys_pkey PRIMARY KEY (role, merchant, key);
COMMENT ON COLUMN @extschema@.inventory_idempotency_keys.merchant IS
    'The merchant of the batch''s warehouses; each merchant has its own keys, which move with it';
-- the keys of 1.5 were queued for warehouses that are all 'default''s now
UPDATE @extschema@.inventory_idempotency_keys SET merchant = 'default';

/*
 * This node's id in a cluster of nodes (1.6): one row, made by
 * inventory_set_node_id().  Batch, ledger and change ids (and reservation,
 * transfer, channel feed and alert event ids) carry it in their top bits,
 * id = node_id * 2^48 + n, so that ids are unique across nodes and a batch
 * id tells a router where the batch is.  No row: node 0.
 */
CREATE TABLE @extschema@.inventory_node (
    node_id     integer     NOT NULL,
    set_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    single      boolean     NOT NULL DEFAULT true PRIMARY KEY,
    CONSTRAINT inventory_node_single_check CHECK (single),
    CONSTRAINT inventory_node_node_id_check
        CHECK (node_id OPERATOR(pg_catalog.>=) 0 AND node_id OPERATOR(pg_catalog.<=) 32767)
);
COMMENT ON TABLE @extschema@.inventory_node IS
    'This node''s id in a cluster (one row; see inventory_set_node_id)';
REVOKE ALL ON TABLE @extschema@.inventory_node FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_node', '');

/*
 * Batches whose ledger rows left this node with their merchant (1.6): the
 * batch history stays here (a batch id names the node that applied it),
 * and inventory_batch_status says where its items went.
 */
CREATE TABLE @extschema@.inventory_moved_batches (
    batch_id    bigint      NOT NULL PRIMARY KEY,
    merchant    text        NOT NULL,
    moved_at    timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE @extschema@.inventory_moved_batches IS
    'Applied batches whose items'' ledger rows left with their merchant (inventory_forget_merchant)';
REVOKE ALL ON TABLE @extschema@.inventory_moved_batches FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.inventory_moved_batches', '');


/* ------------------------------------------------------------------------
 * 3. The merchant check, and the functions redefined to use it or to show
 * one merchant's rows (their bodies as in inventory--1.6.sql)
 * ------------------------------------------------------------------------
 */

/*
 * The merchant of warehouses (1.6): the warehouses one operation names must
 * belong to one merchant, and to inventory.merchant's when the session set
 * it (a router sets it for every call it sends).  Warehouses that are not
 * registered are left to the caller's own check.
 */
CREATE FUNCTION inventory_internal.inventory_check_merchant(warehouses uuid[])
    RETURNS void
    LANGUAGE plpgsql
    STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    wanted text := NULLIF(pg_catalog.current_setting('inventory.merchant', true), '');
    first_wh uuid;
    first_m text;
    wh uuid;
    m text;
BEGIN
    FOR wh, m IN
        SELECT w.uuid, w.merchant FROM @extschema@.inventory_warehouses w
         WHERE w.uuid OPERATOR(pg_catalog.=) ANY (warehouses)
         ORDER BY pg_catalog.array_position(warehouses, w.uuid)
    LOOP
        IF wanted IS NOT NULL AND m OPERATOR(pg_catalog.<>) wanted THEN
            RAISE EXCEPTION 'warehouse "%" belongs to merchant "%", not to "%"', wh, m, wanted
                USING ERRCODE = 'IN006',
                      DETAIL = 'This session acts for the merchant in inventory.merchant, and the warehouse is another''s.',
                      HINT = 'Nothing was changed. Send the call for the warehouse''s merchant (through the router: with that merchant).';
        END IF;
        IF first_m IS NULL THEN
            first_wh := wh;
            first_m := m;
        ELSIF m OPERATOR(pg_catalog.<>) first_m THEN
            RAISE EXCEPTION 'warehouses "%" and "%" belong to two merchants, "%" and "%"', first_wh, wh, first_m, m
                USING ERRCODE = 'IN006',
                      DETAIL = 'One operation names the warehouses of one merchant.',
                      HINT = 'Nothing was changed.';
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION inventory_internal.inventory_check_merchant(uuid[]) IS
    'Error IN006 when the warehouses belong to two merchants, or to another than inventory.merchant (internal)';
REVOKE ALL ON FUNCTION inventory_internal.inventory_check_merchant(uuid[]) FROM PUBLIC;


CREATE OR REPLACE FUNCTION inventory_internal.inventory_check_order_args(
    order_ref text, sku text, warehouse_uuid uuid, quantity bigint, quantity_required boolean)
    RETURNS void
    LANGUAGE plpgsql
    STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF order_ref IS NULL OR sku IS NULL OR warehouse_uuid IS NULL
       OR (quantity_required AND quantity IS NULL) THEN
        IF quantity_required THEN
            RAISE EXCEPTION 'order_ref, sku, warehouse_uuid and quantity must not be null'
                USING ERRCODE = 'null_value_not_allowed',
                      DETAIL = 'One of the arguments is NULL.';
        END IF;
        RAISE EXCEPTION 'order_ref, sku and warehouse_uuid must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  DETAIL = 'One of the arguments is NULL.',
                  HINT = 'Leave quantity out (or NULL) to take the whole reservation.';
    END IF;
    -- order_ref and sku: see inventory_check_order_refs
    IF quantity OPERATOR(pg_catalog.<=) 0 OR quantity OPERATOR(pg_catalog.>) 2147483647 THEN
        RAISE EXCEPTION 'quantity must be between 1 and 2147483647, not %', quantity
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM inventory_internal.inventory_check_merchant(ARRAY[warehouse_uuid]);
END
$$;
REVOKE ALL ON FUNCTION inventory_internal.inventory_check_order_args(text, text, uuid, bigint, boolean) FROM PUBLIC;

CREATE OR REPLACE FUNCTION inventory_internal.inventory_check_transfer_args(
    sku text, from_warehouse uuid, to_warehouse uuid, quantity bigint, reference text,
    in_transit boolean, allow_oversell boolean)
    RETURNS void
    LANGUAGE plpgsql
    STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    wh uuid;
    archived boolean;
BEGIN
    IF sku IS NULL OR from_warehouse IS NULL OR to_warehouse IS NULL OR quantity IS NULL
       OR in_transit IS NULL OR allow_oversell IS NULL THEN
        RAISE EXCEPTION 'sku, from_warehouse, to_warehouse, quantity, in_transit and allow_oversell must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  DETAIL = 'One of the arguments is NULL.',
                  HINT = 'Only reference may be NULL.';
    END IF;
    IF quantity OPERATOR(pg_catalog.<=) 0 OR quantity OPERATOR(pg_catalog.>) 2147483647 THEN
        RAISE EXCEPTION 'quantity must be between 1 and 2147483647, not %', quantity
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM inventory_internal.inventory_check_order_refs(NULL, NULL, sku);
    IF reference IS NOT NULL THEN
        IF pg_catalog.length(reference) OPERATOR(pg_catalog.=) 0
           OR pg_catalog.length(reference) OPERATOR(pg_catalog.>) 255
           OR reference OPERATOR(pg_catalog.~) '[\x01-\x1f\x7f]' THEN
            RAISE EXCEPTION 'invalid reference'
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = CASE WHEN pg_catalog.length(reference) OPERATOR(pg_catalog.=) 0
                                    THEN '"reference" must not be empty.'
                                    WHEN pg_catalog.length(reference) OPERATOR(pg_catalog.>) 255
                                    THEN '"reference" must be at most 255 characters long.'
                                    ELSE '"reference" must not contain control characters.' END,
                      HINT = 'Nothing was changed.';
        END IF;
    END IF;
    IF from_warehouse OPERATOR(pg_catalog.=) to_warehouse THEN
        RAISE EXCEPTION 'cannot transfer from warehouse % to itself', from_warehouse
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'from_warehouse and to_warehouse are the same warehouse.',
                  HINT = 'Nothing was changed. To correct a count, use inventory_adjust.';
    END IF;
    FOREACH wh IN ARRAY ARRAY[from_warehouse, to_warehouse] LOOP
        SELECT w.archived INTO archived FROM @extschema@.inventory_warehouses w
         WHERE w.uuid OPERATOR(pg_catalog.=) wh;
        IF NOT FOUND OR archived THEN
            RAISE EXCEPTION 'warehouse "%" is %', wh,
                            CASE WHEN archived THEN 'archived' ELSE 'not registered in inventory_warehouses' END
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = pg_catalog.format('It is the %s warehouse of the transfer.',
                                                 CASE WHEN wh OPERATOR(pg_catalog.=) from_warehouse
                                                      THEN 'source' ELSE 'destination' END),
                      HINT = 'Nothing was changed.';
        END IF;
    END LOOP;
    PERFORM inventory_internal.inventory_check_merchant(ARRAY[from_warehouse, to_warehouse]);
END
$$;
COMMENT ON FUNCTION inventory_internal.inventory_check_transfer_args(text, uuid, uuid, bigint, text, boolean, boolean) IS
    'Raises the error of inventory_transfer''s arguments that are null, out of bounds or name an unusable warehouse (internal)';
REVOKE ALL ON FUNCTION inventory_internal.inventory_check_transfer_args(text, uuid, uuid, bigint, text, boolean, boolean) FROM PUBLIC;

CREATE OR REPLACE FUNCTION inventory_internal.inventory_open_transfer(transfer_id bigint, verb text)
    RETURNS @extschema@.inventory_transfers
    LANGUAGE plpgsql
    VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    t @extschema@.inventory_transfers;
BEGIN
    IF transfer_id IS NULL THEN
        RAISE EXCEPTION 'transfer_id must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- its keys never change: read them unlocked, lock the level rows in
    -- key order, then the transfer row, and look at its state again
    SELECT * INTO t FROM @extschema@.inventory_transfers x
     WHERE x.id OPERATOR(pg_catalog.=) transfer_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'inventory transfer % does not exist', transfer_id
            USING ERRCODE = 'undefined_object',
                  DETAIL = pg_catalog.format('No transfer has this id. Nothing was %s.', verb);
    END IF;
    PERFORM inventory_internal.inventory_check_merchant(ARRAY[t.from_warehouse, t.to_warehouse]);
    PERFORM inventory_internal.inventory_lock_transfer_rows(t.sku, t.from_warehouse, t.to_warehouse);
    SELECT * INTO t FROM @extschema@.inventory_transfers x
     WHERE x.id OPERATOR(pg_catalog.=) transfer_id
       FOR UPDATE;
    IF t.state OPERATOR(pg_catalog.<>) 'in_transit' THEN
        RAISE EXCEPTION 'inventory transfer % is not in transit', transfer_id
            USING ERRCODE = 'IN004',
                  DETAIL = pg_catalog.format('%s Nothing was %s.',
                                             CASE t.state
                                                 WHEN 'done' THEN 'It was an immediate transfer, done when it was made.'
                                                 WHEN 'received' THEN 'All of it was received.'
                                                 ELSE pg_catalog.format('It was cancelled (%s of %s received).', t.received, t.quantity)
                                             END, verb);
    END IF;
    PERFORM pg_catalog.set_config('inventory.change_transfer', t.id::text, true);
    PERFORM pg_catalog.set_config('inventory.change_reason', COALESCE(t.reference, ''), true);
    RETURN t;
END
$$;
COMMENT ON FUNCTION inventory_internal.inventory_open_transfer(bigint, text) IS
    'Locks the level rows and the row of a transfer in transit, for inventory_receive_transfer and inventory_cancel_transfer (internal)';
REVOKE ALL ON FUNCTION inventory_internal.inventory_open_transfer(bigint, text) FROM PUBLIC;

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
    for_merchant text := NULLIF(pg_catalog.current_setting('inventory.merchant', true), '');
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
           -- with inventory.merchant, that merchant's changes
           AND (for_merchant IS NULL
                OR l.warehouse_uuid OPERATOR(pg_catalog.=) ANY (ARRAY(
                       SELECT w.uuid FROM @extschema@.inventory_warehouses w
                        WHERE w.merchant OPERATOR(pg_catalog.=) for_merchant)))
         ORDER BY l.id
         LIMIT max_rows;
    -- again after the read: a pass of retention that committed before the
    -- read's snapshot took rows after the cursor, which the read missed
    PERFORM inventory_internal.inventory_check_change_cursor(after);
END
$$;
COMMENT ON FUNCTION @extschema@.inventory_changes(bigint, integer) IS
    'Changes of available or incoming after a cursor (the last change_id seen), in order, none ever skipped (incoming is NULL when the change left it as it was; a cursor older than what retention pruned is refused; with inventory.merchant set, that merchant''s); LISTEN inventory_changes to be woken';
REVOKE ALL ON FUNCTION @extschema@.inventory_changes(bigint, integer) FROM PUBLIC;

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
    mv @extschema@.inventory_moved_batches;
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
    -- its merchant moved to another node, with its items' ledger rows
    SELECT * INTO mv FROM @extschema@.inventory_moved_batches x WHERE x.batch_id OPERATOR(pg_catalog.=) batch;
    IF FOUND THEN
        RETURN QUERY
            SELECT h.batch_id, h.state, h.create_missing, h.item_count, NULL::integer, NULL::integer, 0,
                   h.queued_at, h.applied_at, h.error,
                   NULL::integer, NULL::text, NULL::uuid, 'moved'::text,
                   pg_catalog.format('its merchant "%s" moved to another node at %s, with the ledger rows of its items',
                                     mv.merchant, mv.moved_at),
                   NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint;
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
    'State, counts and times of a batch, and each item''s outcome (queued, applied, skipped_missing, conflict, out_of_range, failed) with before/after values of the applied ones; one row with state pruned for a batch retention pruned, one with outcome moved for a batch whose merchant moved to another node';
REVOKE ALL ON FUNCTION @extschema@.inventory_batch_status(bigint) FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@.inventory_get(
    sku text DEFAULT NULL,
    warehouse_uuid uuid DEFAULT NULL,
    created_at_min timestamptz DEFAULT NULL,
    created_at_max timestamptz DEFAULT NULL,
    updated_at_min timestamptz DEFAULT NULL,
    updated_at_max timestamptz DEFAULT NULL,
    "limit" integer DEFAULT 100,
    cursor text DEFAULT NULL,
    page integer DEFAULT NULL)
    RETURNS SETOF @extschema@.inventory_stock
    LANGUAGE plpgsql
    STABLE CALLED ON NULL INPUT
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    lim integer := COALESCE(inventory_get."limit", 100);
    after_sku text;
    after_warehouse uuid;
    decoded jsonb;
    q text;
    for_merchant text := NULLIF(pg_catalog.current_setting('inventory.merchant', true), '');
BEGIN
    IF lim OPERATOR(pg_catalog.<) 1 OR lim OPERATOR(pg_catalog.>) 100 THEN
        RAISE EXCEPTION 'limit must be between 1 and 100'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('The limit given was %s.', lim),
                  HINT = 'Ask for at most 100 rows a call and page through the rest with the cursor of the last row.';
    END IF;
    IF inventory_get.page OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION 'page must be at least 1'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('The page given was %s; pages are numbered from 1.', inventory_get.page);
    END IF;
    IF inventory_get.cursor IS NOT NULL AND inventory_get.page IS NOT NULL THEN
        RAISE EXCEPTION 'cursor and page cannot both be given'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A cursor names the row to continue after; a page counts rows from the start.',
                  HINT = 'Page with the cursor (it never skips or repeats a row while stock changes), or with page alone.';
    END IF;
    IF inventory_get.cursor IS NOT NULL THEN
        -- base64url (no padding) of the text of the jsonb [1, sku, warehouse_uuid]
        -- in the database's encoding; anything else is not a cursor of ours
        BEGIN
            decoded := pg_catalog.convert_from(
                pg_catalog.decode(
                    pg_catalog.translate(inventory_get.cursor, '-_', '+/')
                    OPERATOR(pg_catalog.||) pg_catalog.repeat('=',
                        (4 OPERATOR(pg_catalog.-) (pg_catalog.length(inventory_get.cursor) OPERATOR(pg_catalog.%) 4))
                        OPERATOR(pg_catalog.%) 4),
                    'base64'),
                pg_catalog.getdatabaseencoding())::jsonb;
            IF pg_catalog.jsonb_typeof(decoded) OPERATOR(pg_catalog.=) 'array'
               AND pg_catalog.jsonb_array_length(decoded) OPERATOR(pg_catalog.=) 3
               AND decoded OPERATOR(pg_catalog.->) 0 OPERATOR(pg_catalog.=) '1'::jsonb
               AND pg_catalog.jsonb_typeof(decoded OPERATOR(pg_catalog.->) 1) OPERATOR(pg_catalog.=) 'string'
               AND pg_catalog.jsonb_typeof(decoded OPERATOR(pg_catalog.->) 2) OPERATOR(pg_catalog.=) 'string' THEN
                after_sku := decoded OPERATOR(pg_catalog.->>) 1;
                after_warehouse := (decoded OPERATOR(pg_catalog.->>) 2)::uuid;
            END IF;
        EXCEPTION WHEN data_exception THEN
            after_sku := NULL;
        END;
        IF after_sku IS NULL THEN
            RAISE EXCEPTION 'invalid cursor'
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'A cursor is the "cursor" of a row that inventory_get returned, or the "next_cursor" of inventory_get_json, passed back unchanged.',
                      HINT = 'Start again without a cursor.';
        END IF;
    END IF;

    q := 'SELECT l.sku::text, l.warehouse_uuid, l.on_hand, l.reserved, l.available,'
         ' l.bin_location, l.cost, l.created_at, l.updated_at, l.incoming,'
         ' pg_catalog.translate(pg_catalog.rtrim(pg_catalog.replace(pg_catalog.encode('
         'pg_catalog.convert_to(pg_catalog.jsonb_build_array(1, l.sku, l.warehouse_uuid)::text,'
         ' pg_catalog.getdatabaseencoding()), ''base64''), E''\n'', ''''), ''=''), ''+/'', ''-_'')'
         ' FROM @extschema@.inventory_levels l WHERE true';
    IF inventory_get.sku IS NOT NULL THEN
        q := q OPERATOR(pg_catalog.||) ' AND l.sku OPERATOR(pg_catalog.=) $1';
    END IF;
    IF inventory_get.warehouse_uuid IS NOT NULL THEN
        q := q OPERATOR(pg_catalog.||) ' AND l.warehouse_uuid OPERATOR(pg_catalog.=) $2';
    END IF;
    IF inventory_get.created_at_min IS NOT NULL THEN
        q := q OPERATOR(pg_catalog.||) ' AND l.created_at OPERATOR(pg_catalog.>=) $3';
    END IF;
    IF inventory_get.created_at_max IS NOT NULL THEN
        q := q OPERATOR(pg_catalog.||) ' AND l.created_at OPERATOR(pg_catalog.<=) $4';
    END IF;
    IF inventory_get.updated_at_min IS NOT NULL THEN
        q := q OPERATOR(pg_catalog.||) ' AND l.updated_at OPERATOR(pg_catalog.>=) $5';
    END IF;
    IF inventory_get.updated_at_max IS NOT NULL THEN
        q := q OPERATOR(pg_catalog.||) ' AND l.updated_at OPERATOR(pg_catalog.<=) $6';
    END IF;
    IF for_merchant IS NOT NULL THEN
        q := q OPERATOR(pg_catalog.||) ' AND l.warehouse_uuid OPERATOR(pg_catalog.=) ANY (ARRAY('
             'SELECT w.uuid FROM @extschema@.inventory_warehouses w WHERE w.merchant OPERATOR(pg_catalog.=) $11))';
    END IF;
    IF after_sku IS NULL THEN
        NULL;
    ELSIF inventory_get.warehouse_uuid IS NOT NULL THEN
        -- (sku, w) > (after_sku, after_warehouse) for the one warehouse w:
        -- a range of inventory_levels_warehouse_idx (warehouse_uuid, sku)
        IF inventory_get.warehouse_uuid OPERATOR(pg_catalog.>) after_warehouse THEN
            q := q OPERATOR(pg_catalog.||) ' AND l.sku OPERATOR(pg_catalog.>=) ($7 COLLATE pg_catalog."C")';
        ELSE
            q := q OPERATOR(pg_catalog.||) ' AND l.sku OPERATOR(pg_catalog.>) ($7 COLLATE pg_catalog."C")';
        END IF;
    ELSE
        -- a range of the primary key (sku, warehouse_uuid)
        q := q OPERATOR(pg_catalog.||) ' AND (l.sku, l.warehouse_uuid) OPERATOR(pg_catalog.>) ($7 COLLATE pg_catalog."C", $8)';
    END IF;
    q := q OPERATOR(pg_catalog.||) ' ORDER BY l.sku, l.warehouse_uuid LIMIT $9';
    IF inventory_get.page IS NOT NULL THEN
        q := q OPERATOR(pg_catalog.||) ' OFFSET $10';
    END IF;
    RETURN QUERY EXECUTE q
        USING inventory_get.sku, inventory_get.warehouse_uuid,
              inventory_get.created_at_min, inventory_get.created_at_max,
              inventory_get.updated_at_min, inventory_get.updated_at_max,
              after_sku, after_warehouse, lim,
              (inventory_get.page OPERATOR(pg_catalog.-) 1)::bigint OPERATOR(pg_catalog.*) lim,
              for_merchant;
END
$$;
COMMENT ON FUNCTION @extschema@.inventory_get(text, uuid, timestamptz, timestamptz, timestamptz, timestamptz, integer, text, integer) IS
    'GET /inventory: level rows in (sku, warehouse_uuid) order, filtered by sku, warehouse and created/updated times (and inventory.merchant), at most 100 a call; page with the last row''s cursor (never skips or repeats a row) or by page';
REVOKE ALL ON FUNCTION @extschema@.inventory_get(text, uuid, timestamptz, timestamptz, timestamptz, timestamptz, integer, text, integer) FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@.inventory_prune(older_than interval DEFAULT NULL, max_rows integer DEFAULT 100000)
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
    next_id bigint;
    base bigint;
    node integer := @extschema@.inventory_node_id();
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
    -- from the first row after where the last pass ended: ids need not be
    -- dense (a node's start at node_id * 2^48), but never past the horizon,
    -- below which no id can still appear
    SELECT pg_catalog.min(l.id) INTO next_id
      FROM @extschema@.inventory_ledger l WHERE l.id OPERATOR(pg_catalog.>) st.ledger_pruned_through;
    base := GREATEST(st.ledger_pruned_through,
                     LEAST(COALESCE(next_id OPERATOR(pg_catalog.-) 1, horizon), horizon, feeds_at));
    lo := base;
    hi := LEAST(horizon, feeds_at, lo OPERATOR(pg_catalog.+) max_rows);
    -- a batch id of another node (the row came with a moved merchant) has
    -- no history here to keep
    SELECT pg_catalog.min(l.id) INTO first_kept
      FROM @extschema@.inventory_ledger l
     WHERE l.id OPERATOR(pg_catalog.>) lo AND l.id OPERATOR(pg_catalog.<=) hi
       AND (l.at OPERATOR(pg_catalog.>=) cutoff
            OR (l.batch_id OPERATOR(pg_catalog.>) batches_hi
                AND (l.batch_id OPERATOR(pg_catalog.>>) 48) OPERATOR(pg_catalog.=) node));
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
    more := lo OPERATOR(pg_catalog.=) (base OPERATOR(pg_catalog.+) max_rows)
            OR (candidates OPERATOR(pg_catalog.=) max_rows AND batch_kept IS NULL);
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION @extschema@.inventory_prune(interval, integer) IS
    'Delete applied batches and ledger rows older than older_than (inventory.retention when NULL), at most max_rows of each, keeping per key where its ledger ended; more: call again';
REVOKE ALL ON FUNCTION @extschema@.inventory_prune(interval, integer) FROM PUBLIC;

/* ------------------------------------------------------------------------
 * 4. Scaling out: this node's id, a merchant's rows leaving one
 *     node for another
 * ------------------------------------------------------------------------
 */

/*
 * inventory_node_id: this node's id (0 until inventory_set_node_id).
 */
CREATE FUNCTION @extschema@.inventory_node_id()
    RETURNS integer
    LANGUAGE sql
    STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT COALESCE((SELECT n.node_id FROM @extschema@.inventory_node n), 0)
$$;
COMMENT ON FUNCTION @extschema@.inventory_node_id() IS
    'This node''s id: the top bits of its batch, ledger and change ids (id / 2^48)';
REVOKE ALL ON FUNCTION @extschema@.inventory_node_id() FROM PUBLIC;

/*
 * inventory_set_node_id: make this database node "node" of a cluster:
 * every id sequence of the extension moves to the range node * 2^48 + 1 ..
 * (node + 1) * 2^48 - 1.  Ids keep increasing on the node, so cursors,
 * horizons and retention work unchanged.  Refused once a sequence has
 * issued an id outside that range: those ids would collide with another
 * node's.  Calling it again with the same id (after restoring a dump,
 * which keeps the ids but not the sequences' bounds) sets the bounds again.
 */
CREATE FUNCTION @extschema@.inventory_set_node_id(node integer)
    RETURNS integer
    LANGUAGE plpgsql
    VOLATILE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    lo bigint;
    hi bigint;
    -- every id sequence of the extension
    seqs text[] := ARRAY['inventory_batch_id_seq', 'inventory_ledger_id_seq',
                         'inventory_reservations_id_seq', 'inventory_transfers_id_seq',
                         'inventory_channel_feed_id_seq', 'inventory_alert_events_id_seq'];
    seq text;
    last bigint;
    called boolean;
BEGIN
    IF node IS NULL OR node OPERATOR(pg_catalog.<) 0 OR node OPERATOR(pg_catalog.>) 32767 THEN
        RAISE EXCEPTION 'node id must be between 0 and 32767, not %', COALESCE(node::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    lo := node::bigint OPERATOR(pg_catalog.<<) 48;
    hi := lo OPERATOR(pg_catalog.+) ((1::bigint OPERATOR(pg_catalog.<<) 48) OPERATOR(pg_catalog.-) 1);
    LOCK TABLE @extschema@.inventory_node IN EXCLUSIVE MODE;
    FOREACH seq IN ARRAY seqs LOOP
        -- a no-op ALTER SEQUENCE locks it: no id is issued until commit
        EXECUTE pg_catalog.format('ALTER SEQUENCE @extschema@.%I NO CYCLE', seq);
        EXECUTE pg_catalog.format('SELECT last_value, is_called FROM @extschema@.%I', seq)
           INTO last, called;
        IF called AND (last OPERATOR(pg_catalog.<) lo OR last OPERATOR(pg_catalog.>) hi) THEN
            RAISE EXCEPTION 'cannot make this database node %: % has issued id %', node, seq, last
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = pg_catalog.format('Node %s''s ids are %s to %s; ids issued outside them could be another node''s.', node, lo, hi),
                      HINT = pg_catalog.format('Set the node id right after CREATE EXTENSION. A database that has issued ids keeps node id %s; give the new nodes other ids.',
                                               (last OPERATOR(pg_catalog.>>) 48));
        END IF;
    END LOOP;
    FOREACH seq IN ARRAY seqs LOOP
        EXECUTE pg_catalog.format('SELECT last_value, is_called FROM @extschema@.%I', seq)
           INTO last, called;
        IF called THEN
            EXECUTE pg_catalog.format('ALTER SEQUENCE @extschema@.%I MINVALUE %s MAXVALUE %s', seq, lo, hi);
        ELSE
            EXECUTE pg_catalog.format('ALTER SEQUENCE @extschema@.%I MINVALUE %s MAXVALUE %s START %s RESTART',
                                      seq, GREATEST(lo, 1), hi, GREATEST(lo, 1));
        END IF;
    END LOOP;
    INSERT INTO @extschema@.inventory_node AS n (node_id) VALUES (node)
    ON CONFLICT (single) DO UPDATE SET node_id = excluded.node_id, set_at = excluded.set_at;
    RETURN node;
END
$$;
COMMENT ON FUNCTION @extschema@.inventory_set_node_id(integer) IS
    'Make this database node N of a cluster: its ids become N * 2^48 + n (refused once ids outside that range were issued)';
REVOKE ALL ON FUNCTION @extschema@.inventory_set_node_id(integer) FROM PUBLIC;

/*
 * inventory_merchant_queued: how many queued batches name a warehouse of
 * the merchant (moving a merchant waits for none).
 */
CREATE FUNCTION @extschema@.inventory_merchant_queued(merchant text)
    RETURNS bigint
    LANGUAGE sql
    STABLE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT pg_catalog.count(*)
      FROM @extschema@.inventory_queue q
     WHERE EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(q.items) i
                     JOIN @extschema@.inventory_warehouses w
                       ON w.uuid OPERATOR(pg_catalog.=) (i OPERATOR(pg_catalog.->>) 'warehouse_uuid')::uuid
                    WHERE w.merchant OPERATOR(pg_catalog.=) inventory_merchant_queued.merchant)
$$;
COMMENT ON FUNCTION @extschema@.inventory_merchant_queued(text) IS
    'Queued batches that name a warehouse of the merchant';
REVOKE ALL ON FUNCTION @extschema@.inventory_merchant_queued(text) FROM PUBLIC;

/*
 * inventory_export_merchant: every row of a merchant, as one jsonb document
 * for inventory_import_merchant on another node: its warehouses, level
 * rows, reservations, transfers, ledger (in id order), retention
 * checkpoints and idempotency keys.  Read in one snapshot, with the queue
 * locked against new batches; refused while batches naming its warehouses
 * are queued (they would be left behind), and while channels or stock
 * alerts name them (they stay on this node).
 * The batch history stays: a batch id names the node that applied it.
 */
CREATE FUNCTION @extschema@.inventory_export_merchant(merchant text)
    RETURNS jsonb
    LANGUAGE plpgsql
    VOLATILE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    m text := inventory_export_merchant.merchant;
    queued bigint;
    doc jsonb;
BEGIN
    IF m IS NULL THEN
        RAISE EXCEPTION 'merchant must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- every batch being queued has committed, and none can be queued while
    -- this reads (the lock is held only for this transaction)
    LOCK TABLE @extschema@.inventory_queue IN SHARE MODE;
    queued := @extschema@.inventory_merchant_queued(m);
    IF queued OPERATOR(pg_catalog.>) 0 THEN
        RAISE EXCEPTION 'merchant "%" has % queued batches', m, queued
            USING ERRCODE = 'object_in_use',
                  DETAIL = 'Its rows are exported only once the worker has applied every batch that names its warehouses.',
                  HINT = 'Stop its calls (pause it at the router), wait for its last batch, and export again.';
    END IF;
    IF EXISTS (SELECT FROM @extschema@.inventory_channel_warehouses c
                 JOIN @extschema@.inventory_warehouses w ON w.uuid OPERATOR(pg_catalog.=) c.warehouse_uuid
                WHERE w.merchant OPERATOR(pg_catalog.=) m)
       OR EXISTS (SELECT FROM @extschema@.inventory_stock_alerts a
                    JOIN @extschema@.inventory_warehouses w ON w.uuid OPERATOR(pg_catalog.=) a.warehouse_uuid
                   WHERE w.merchant OPERATOR(pg_catalog.=) m) THEN
        RAISE EXCEPTION 'channels or stock alerts name warehouses of merchant "%"', m
            USING ERRCODE = 'dependent_objects_still_exist',
                  DETAIL = 'Channels and stock alerts are this node''s and do not move with a merchant.',
                  HINT = 'Nothing was exported. Remove them here (and make them on the merchant''s new node) first.';
    END IF;
    WITH wh AS (SELECT w.* FROM @extschema@.inventory_warehouses w
                 WHERE w.merchant OPERATOR(pg_catalog.=) m)
    SELECT pg_catalog.jsonb_build_object(
        'merchant', m,
        'node_id', @extschema@.inventory_node_id(),
        'warehouses', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(w) ORDER BY w.uuid), '[]') FROM wh w),
        'levels', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(l) ORDER BY l.sku, l.warehouse_uuid), '[]')
                     FROM @extschema@.inventory_levels l
                    WHERE l.warehouse_uuid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT uuid FROM wh))),
        'reservations', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(r) ORDER BY r.id), '[]')
                           FROM @extschema@.inventory_reservations r
                          WHERE r.warehouse_uuid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT uuid FROM wh))),
        'transfers', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(t) ORDER BY t.id), '[]')
                        FROM @extschema@.inventory_transfers t
                       WHERE t.from_warehouse OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT uuid FROM wh))
                          OR t.to_warehouse OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT uuid FROM wh))),
        'ledger', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x) ORDER BY x.id), '[]')
                     FROM @extschema@.inventory_ledger x
                    WHERE x.warehouse_uuid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT uuid FROM wh))),
        'checkpoints', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(c) ORDER BY c.sku, c.warehouse_uuid), '[]')
                          FROM @extschema@.inventory_ledger_checkpoints c
                         WHERE c.warehouse_uuid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT uuid FROM wh))),
        'idempotency_keys', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(k) ORDER BY k.role, k.key), '[]')
                               FROM @extschema@.inventory_idempotency_keys k
                              WHERE k.merchant OPERATOR(pg_catalog.=) m))
      INTO doc;
    RETURN doc;
END
$$;
COMMENT ON FUNCTION @extschema@.inventory_export_merchant(text) IS
    'Every row of a merchant as one jsonb document, for inventory_import_merchant on another node (refused while its batches are queued)';
REVOKE ALL ON FUNCTION @extschema@.inventory_export_merchant(text) FROM PUBLIC;

/*
 * inventory_import_merchant: load what inventory_export_merchant returned
 * on another node, in one transaction, with inventory.restoring on (the
 * ledger and the reserved sums come with the rows; the triggers derive
 * nothing).  Level rows, reservations and transfers keep their values;
 * the ledger rows get new ids of this node in their order, and each key's
 * retention checkpoint is placed just before them.  Reservations and
 * transfers keep their ids (node ids keep them unique across nodes).
 * Holds are announced to the worker.  Refused when any of its warehouses
 * is here already.  Returns this node's last change id after
 * the import: changes after it are the merchant's new changes here.
 */
CREATE FUNCTION @extschema@.inventory_import_merchant(merchant text, data jsonb)
    RETURNS bigint
    LANGUAGE plpgsql
    VOLATILE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET inventory.restoring = on
    AS $$
DECLARE
    m text := inventory_import_merchant.merchant;
    first_id bigint;
    last_id bigint;
    taken uuid;
BEGIN
    IF m IS NULL OR data IS NULL THEN
        RAISE EXCEPTION 'merchant and data must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF data OPERATOR(pg_catalog.->>) 'merchant' IS DISTINCT FROM m THEN
        RAISE EXCEPTION 'the data is not merchant "%"''s', m
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('It was exported for merchant %s.',
                                             COALESCE(pg_catalog.quote_literal(data OPERATOR(pg_catalog.->>) 'merchant'), 'NULL'));
    END IF;
    SELECT w.uuid INTO taken
      FROM pg_catalog.jsonb_populate_recordset(NULL::@extschema@.inventory_warehouses, data OPERATOR(pg_catalog.->) 'warehouses') d
      JOIN @extschema@.inventory_warehouses w ON w.uuid OPERATOR(pg_catalog.=) d.uuid
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'warehouse "%" is registered on this node already', taken
            USING ERRCODE = 'unique_violation',
                  HINT = 'Nothing was imported. A merchant is imported once, into a node that does not hold it.';
    END IF;

    INSERT INTO @extschema@.inventory_warehouses
    SELECT * FROM pg_catalog.jsonb_populate_recordset(NULL::@extschema@.inventory_warehouses,
                                                      data OPERATOR(pg_catalog.->) 'warehouses');
    INSERT INTO @extschema@.inventory_levels
    SELECT * FROM pg_catalog.jsonb_populate_recordset(NULL::@extschema@.inventory_levels,
                                                      data OPERATOR(pg_catalog.->) 'levels');
    INSERT INTO @extschema@.inventory_transfers
           (id, sku, from_warehouse, to_warehouse, quantity, received, cancelled, state,
            reference, created_by, created_at, updated_at)
    SELECT t.id, t.sku, t.from_warehouse, t.to_warehouse, t.quantity, t.received, t.cancelled, t.state,
           t.reference, t.created_by, t.created_at, t.updated_at
      FROM pg_catalog.jsonb_populate_recordset(NULL::@extschema@.inventory_transfers,
                                               data OPERATOR(pg_catalog.->) 'transfers') t;
    INSERT INTO @extschema@.inventory_reservations
    SELECT * FROM pg_catalog.jsonb_populate_recordset(NULL::@extschema@.inventory_reservations,
                                                      data OPERATOR(pg_catalog.->) 'reservations');
    INSERT INTO @extschema@.inventory_idempotency_keys
    SELECT * FROM pg_catalog.jsonb_populate_recordset(NULL::@extschema@.inventory_idempotency_keys,
                                                      data OPERATOR(pg_catalog.->) 'idempotency_keys');

    -- the ledger, under new ids in its order (published first, as every
    -- writer does, so that no reader of the change feed passes them)
    PERFORM inventory_internal.inventory_ledger_reserve_ids();
    WITH ins AS (
        INSERT INTO @extschema@.inventory_ledger
        SELECT pg_catalog.nextval('@extschema@.inventory_ledger_id_seq'::pg_catalog.regclass),
               d.at, d.sku, d.warehouse_uuid, d.source, d.batch_id, d.item, d.order_ref,
               d.line_ref, d.description, d.role, d.xid, d.on_hand_before, d.on_hand_after,
               d.reserved_before, d.reserved_after, d.available_before, d.available_after,
               d.transfer_id, d.incoming_before, d.incoming_after
          FROM (SELECT x.* FROM pg_catalog.jsonb_populate_recordset(NULL::@extschema@.inventory_ledger,
                                                                   data OPERATOR(pg_catalog.->) 'ledger') x
                 ORDER BY x.id) d
        RETURNING id, batch_id),
    -- a merchant coming back brings its batches' ledger rows back
    back AS (
        DELETE FROM @extschema@.inventory_moved_batches b
         WHERE b.batch_id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT ins.batch_id FROM ins)))
    SELECT pg_catalog.min(ins.id), pg_catalog.max(ins.id) INTO first_id, last_id FROM ins;
    INSERT INTO @extschema@.inventory_ledger_checkpoints
    SELECT c.sku, c.warehouse_uuid,
           COALESCE(first_id, @extschema@.inventory_node_id()::bigint OPERATOR(pg_catalog.<<) 48 OPERATOR(pg_catalog.+) 1)
               OPERATOR(pg_catalog.-) 1,
           c.at, c.on_hand, c.reserved, c.available, c.incoming
      FROM pg_catalog.jsonb_populate_recordset(NULL::@extschema@.inventory_ledger_checkpoints,
                                               data OPERATOR(pg_catalog.->) 'checkpoints') c;
    PERFORM inventory_internal.inventory_note_expiry(pg_catalog.min(r.expires_at))
       FROM @extschema@.inventory_reservations r
      WHERE r.warehouse_uuid OPERATOR(pg_catalog.=) ANY (ARRAY(
                SELECT d.uuid FROM pg_catalog.jsonb_populate_recordset(NULL::@extschema@.inventory_warehouses,
                                                                       data OPERATOR(pg_catalog.->) 'warehouses') d))
     HAVING pg_catalog.min(r.expires_at) IS NOT NULL;
    IF last_id IS NULL THEN
        SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END INTO last_id
          FROM @extschema@.inventory_ledger_id_seq s;
    END IF;
    RETURN last_id;
END
$$;
COMMENT ON FUNCTION @extschema@.inventory_import_merchant(text, jsonb) IS
    'Load a merchant''s rows exported from another node (inventory_export_merchant); returns the last change id of the import';
REVOKE ALL ON FUNCTION @extschema@.inventory_import_merchant(text, jsonb) FROM PUBLIC;

/*
 * inventory_forget_merchant: delete every row of a merchant that has moved
 * to another node, with inventory.restoring on (nothing is written to the
 * ledger: its history left with it; the batches whose ledger rows leave
 * are noted in inventory_moved_batches, for inventory_batch_status).  Refused while batches naming its
 * warehouses are queued, and while channels or stock alerts name them.
 * Returns the number of level rows deleted.
 */
CREATE FUNCTION @extschema@.inventory_forget_merchant(merchant text)
    RETURNS bigint
    LANGUAGE plpgsql
    VOLATILE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET inventory.restoring = on
    AS $$
DECLARE
    m text := inventory_forget_merchant.merchant;
    whs uuid[];
    queued bigint;
    n bigint;
BEGIN
    IF m IS NULL THEN
        RAISE EXCEPTION 'merchant must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT pg_catalog.array_agg(w.uuid) INTO whs FROM @extschema@.inventory_warehouses w
     WHERE w.merchant OPERATOR(pg_catalog.=) m;
    -- every batch being queued has committed, and none is queued until
    -- this transaction ends
    LOCK TABLE @extschema@.inventory_queue IN SHARE MODE;
    queued := @extschema@.inventory_merchant_queued(m);
    IF queued OPERATOR(pg_catalog.>) 0 THEN
        RAISE EXCEPTION 'merchant "%" has % queued batches', m, queued
            USING ERRCODE = 'object_in_use',
                  HINT = 'Nothing was deleted. Wait for its batches to be applied.';
    END IF;
    IF EXISTS (SELECT FROM @extschema@.inventory_channel_warehouses c
                WHERE c.warehouse_uuid OPERATOR(pg_catalog.=) ANY (whs))
       OR EXISTS (SELECT FROM @extschema@.inventory_stock_alerts a
                   WHERE a.warehouse_uuid OPERATOR(pg_catalog.=) ANY (whs)) THEN
        RAISE EXCEPTION 'channels or stock alerts name warehouses of merchant "%"', m
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'Nothing was deleted. Remove them here (and make them on the merchant''s new node) first.';
    END IF;
    DELETE FROM @extschema@.inventory_reservations r WHERE r.warehouse_uuid OPERATOR(pg_catalog.=) ANY (whs);
    DELETE FROM @extschema@.inventory_transfers t
     WHERE t.from_warehouse OPERATOR(pg_catalog.=) ANY (whs) OR t.to_warehouse OPERATOR(pg_catalog.=) ANY (whs);
    DELETE FROM @extschema@.inventory_levels l WHERE l.warehouse_uuid OPERATOR(pg_catalog.=) ANY (whs);
    GET DIAGNOSTICS n = ROW_COUNT;
    -- the batches whose ledger rows leave: their status says so here
    INSERT INTO @extschema@.inventory_moved_batches AS b (batch_id, merchant)
    SELECT DISTINCT x.batch_id, m FROM @extschema@.inventory_ledger x
     WHERE x.warehouse_uuid OPERATOR(pg_catalog.=) ANY (whs) AND x.batch_id IS NOT NULL
    ON CONFLICT (batch_id) DO UPDATE SET merchant = excluded.merchant, moved_at = excluded.moved_at;
    DELETE FROM @extschema@.inventory_ledger x WHERE x.warehouse_uuid OPERATOR(pg_catalog.=) ANY (whs);
    DELETE FROM @extschema@.inventory_ledger_checkpoints c WHERE c.warehouse_uuid OPERATOR(pg_catalog.=) ANY (whs);
    DELETE FROM @extschema@.inventory_idempotency_keys k WHERE k.merchant OPERATOR(pg_catalog.=) m;
    DELETE FROM @extschema@.inventory_warehouses w WHERE w.uuid OPERATOR(pg_catalog.=) ANY (whs);
    RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.inventory_forget_merchant(text) IS
    'Delete every row of a merchant that moved to another node (its ledger too; nothing is written to the ledger)';
REVOKE ALL ON FUNCTION @extschema@.inventory_forget_merchant(text) FROM PUBLIC;
