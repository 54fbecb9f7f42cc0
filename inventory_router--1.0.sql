/* inventory_router--1.0.sql: install script for the inventory_router extension, version 1.0 */

\echo Use "CREATE EXTENSION inventory_router CASCADE" to load this file. \quit

/*
 * A router database in front of nodes that run the inventory extension
 * (1.6 or later), each node holding some merchants.  Every function here
 * takes the merchant first and sends the call, with PL/Proxy, to the
 * merchant's node, where it runs as one transaction of its own with
 * inventory.merchant set to that merchant (so the node refuses any
 * warehouse of another).  Calls by batch id go to the node the id names.
 *
 * The cluster is the foreign server inventory_nodes (PL/Proxy's SQL/MED
 * form), which the operator creates: partition pN is node N, so the
 * partitions are numbered 0 to 2^k - 1 (PL/Proxy's rule) and a partition
 * that stands for no node repeats any node's connection string; the map
 * never names it.  The merchant-to-node map is the table merchant_nodes.
 *
 * Contents
 *   0. Trust: the schema is superusers' alone
 *   1. The map: merchant_nodes, and the partitions of the cluster
 *   2. Routing: the node of a merchant (for writes: refused while the
 *      merchant moves) and of an id
 *   3. The API, routed: inventory_adjust, the order and hold functions,
 *      transfers, inventory_wait, inventory_batch_status,
 *      inventory_changes, inventory_get, inventory_get_json
 *   4. The nodes: their ids, and a merchant's rows (queued batches,
 *      export, import, forget)
 *   5. Moving a merchant: move_merchant
 *
 * Conventions: every name is qualified (@extschema@, pg_catalog, and the
 * nodes' schema inventory); every function pins its search_path, but for
 * the procedure move_merchant, which commits as it goes (a procedure with
 * a SET clause cannot) and sets it at the start of each transaction.
 */

/*
 * Trust: the routing functions run as the superuser who installs this
 * (SECURITY DEFINER) and name the map by this schema, so only superusers
 * may own the schema or create objects in it; a schema of this name that
 * someone else made or filled first is refused (the check of the
 * inventory extension's install script).
 */
DO $$
DECLARE
    problems text;
BEGIN
    SELECT pg_catalog.string_agg(p.problem, ' ' ORDER BY p.ord) INTO problems
      FROM (SELECT 1 AS ord,
                   CASE WHEN r.rolname OPERATOR(pg_catalog.=) 'pg_database_owner'
                        THEN 'It is owned by pg_database_owner, that is by whoever owns the database.'
                        ELSE pg_catalog.format('It is owned by role %I, which is not a superuser.', r.rolname)
                   END AS problem
              FROM pg_catalog.pg_namespace n
              JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
             WHERE n.oid OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
               AND NOT r.rolsuper
            UNION ALL
            SELECT 2, pg_catalog.format('Role %s may create objects in it.',
                                        COALESCE(pg_catalog.quote_ident(r.rolname), 'PUBLIC'))
              FROM pg_catalog.pg_namespace n
             CROSS JOIN LATERAL pg_catalog.aclexplode(n.nspacl) a
              LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) a.grantee
             WHERE n.oid OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
               AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
               AND NOT COALESCE(r.rolsuper, false)
            UNION ALL
            -- what someone else made there (while they could) stays there
            SELECT 3, pg_catalog.format('%s %I in it is owned by role %I, which is not a superuser.',
                                        o.kind, o.name, r.rolname)
              FROM (SELECT 'Relation' AS kind, c.relname AS name, c.relowner AS owner
                      FROM pg_catalog.pg_class c WHERE c.relnamespace OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
                    UNION ALL
                    SELECT 'Function', f.proname, f.proowner
                      FROM pg_catalog.pg_proc f WHERE f.pronamespace OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
                    UNION ALL
                    SELECT 'Type', t.typname, t.typowner
                      FROM pg_catalog.pg_type t WHERE t.typnamespace OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
                    UNION ALL
                    SELECT 'Operator', op.oprname, op.oprowner
                      FROM pg_catalog.pg_operator op WHERE op.oprnamespace OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace) o
              JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) o.owner
             WHERE NOT r.rolsuper) p;
    IF problems IS NOT NULL THEN
        RAISE EXCEPTION 'schema "%" cannot hold the inventory_router extension', '@extschema@'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = problems,
                  HINT = 'The extension runs as a superuser and names its objects by schema, so only superusers may own that schema or create objects in it. Drop or rename that schema and let CREATE EXTENSION make its own, then try again.';
    END IF;
END
$$;

/* ------------------------------------------------------------------------
 * 1. The map
 * ------------------------------------------------------------------------
 */

CREATE TABLE @extschema@.merchant_nodes (
    merchant       text        NOT NULL PRIMARY KEY,
    node           integer     NOT NULL,
    paused         boolean     NOT NULL DEFAULT false,
    -- the backend of the move_merchant that paused it: a pause whose
    -- backend is gone (a crash) holds nothing back
    moving_pid     integer,
    -- after a move: the change cursor on the new node from which the
    -- merchant's changes are new there
    resume_cursor  bigint,
    moved_at       timestamptz,
    CONSTRAINT merchant_nodes_merchant_check
        CHECK (pg_catalog.octet_length(merchant) OPERATOR(pg_catalog.>=) 1
               AND pg_catalog.octet_length(merchant) OPERATOR(pg_catalog.<=) 255
               AND merchant OPERATOR(pg_catalog.!~) '[\x01-\x1f\x7f]'),
    CONSTRAINT merchant_nodes_node_check
        CHECK (node OPERATOR(pg_catalog.>=) 0 AND node OPERATOR(pg_catalog.<=) 32767)
);
COMMENT ON TABLE @extschema@.merchant_nodes IS
    'Which node holds each merchant (node N is partition pN of the server inventory_nodes); paused while move_merchant (backend moving_pid) moves it';
REVOKE ALL ON TABLE @extschema@.merchant_nodes FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.merchant_nodes', '');

/*
 * The number of partitions of the cluster: the options p0, p1, ... of the
 * foreign server inventory_nodes (0 when it does not exist).
 */
CREATE FUNCTION @extschema@.cluster_partitions()
    RETURNS integer
    LANGUAGE sql
    STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT pg_catalog.count(*)::integer
      FROM pg_catalog.pg_foreign_server s
     CROSS JOIN LATERAL pg_catalog.unnest(s.srvoptions) o
     WHERE s.srvname OPERATOR(pg_catalog.=) 'inventory_nodes'
       AND o OPERATOR(pg_catalog.~) '^p[0-9]+='
$$;
COMMENT ON FUNCTION @extschema@.cluster_partitions() IS
    'Partitions of the foreign server inventory_nodes (node N is partition pN)';
REVOKE ALL ON FUNCTION @extschema@.cluster_partitions() FROM PUBLIC;

/*
 * A merchant can only be mapped to a node the cluster has: PL/Proxy would
 * fold a larger number onto a partition (it takes the number modulo the
 * partition count).
 */
CREATE FUNCTION @extschema@.merchant_nodes_check()
    RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    parts integer := @extschema@.cluster_partitions();
BEGIN
    IF NEW.node OPERATOR(pg_catalog.>=) parts THEN
        RAISE EXCEPTION 'node % is not in the cluster', NEW.node
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('The foreign server inventory_nodes has %s partitions, p0 to p%s; node N is partition pN.',
                                             parts, parts OPERATOR(pg_catalog.-) 1),
                  HINT = 'Add the node''s connection string as its partition first: ALTER SERVER inventory_nodes OPTIONS (ADD pN ''...'').';
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION @extschema@.merchant_nodes_check() FROM PUBLIC;

CREATE TRIGGER merchant_nodes_check
    BEFORE INSERT OR UPDATE OF node ON @extschema@.merchant_nodes
    FOR EACH ROW EXECUTE FUNCTION @extschema@.merchant_nodes_check();

/* ------------------------------------------------------------------------
 * 2. Routing
 * ------------------------------------------------------------------------
 */

/*
 * The node of a merchant, for a call that reads (read => true) or writes.
 * Every routed call holds a shared advisory lock on its merchant until its
 * transaction on the router ends (after the node has answered), so that
 * move_merchant, which takes it exclusively once the merchant is paused,
 * knows that no call sent before the pause is still running on the old
 * node.  A write to a paused merchant is refused: SQLSTATE 55006, retry
 * (a pause whose move_merchant backend is gone holds nothing back: the map
 * still names the node that holds the merchant).  Under REPEATABLE READ or
 * SERIALIZABLE the map's row is read FOR SHARE, so that a snapshot older
 * than a move fails (40001, retry) rather than route to the old node.
 */
CREATE FUNCTION @extschema@.merchant_node(merchant text, read boolean)
    RETURNS integer
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n integer;
    is_paused boolean;
    mover integer;
BEGIN
    IF merchant IS NULL THEN
        RAISE EXCEPTION 'merchant must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock_shared(pg_catalog.hashtext('inventory_router'),
                                                    pg_catalog.hashtext(merchant));
    IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.=) 'read committed' THEN
        SELECT m.node, m.paused, m.moving_pid INTO n, is_paused, mover FROM @extschema@.merchant_nodes m
         WHERE m.merchant OPERATOR(pg_catalog.=) merchant_node.merchant;
    ELSE
        SELECT m.node, m.paused, m.moving_pid INTO n, is_paused, mover FROM @extschema@.merchant_nodes m
         WHERE m.merchant OPERATOR(pg_catalog.=) merchant_node.merchant
           FOR SHARE;
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'merchant "%" has no node', merchant
            USING ERRCODE = 'undefined_object',
                  HINT = 'Map it first: INSERT INTO inventory_router.merchant_nodes (merchant, node) VALUES (...).';
    END IF;
    IF is_paused AND NOT read
       AND EXISTS (SELECT FROM pg_catalog.pg_stat_activity a WHERE a.pid OPERATOR(pg_catalog.=) mover) THEN
        RAISE EXCEPTION 'merchant "%" is being moved to another node', merchant
            USING ERRCODE = 'object_in_use',
                  DETAIL = 'Its calls that change stock are refused until the move is done, usually within seconds.',
                  HINT = 'Nothing was sent. Retry the call shortly (with the same idempotency key).';
    END IF;
    RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.merchant_node(text, boolean) IS
    'The node of a merchant (error 55006 for a write while it moves); holds a shared lock on it until the transaction ends';
REVOKE ALL ON FUNCTION @extschema@.merchant_node(text, boolean) FROM PUBLIC;

/*
 * The routing functions the API's RUN ON clauses call (as the caller: the
 * roles that may call the API are granted these too; see README,
 * "Scaling out").
 */
CREATE FUNCTION @extschema@.write_node(merchant text)
    RETURNS integer
    LANGUAGE sql
    VOLATILE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT @extschema@.merchant_node(merchant, false) $$;
COMMENT ON FUNCTION @extschema@.write_node(text) IS
    'The node of a merchant, for a call that changes stock (refused while it moves)';
REVOKE ALL ON FUNCTION @extschema@.write_node(text) FROM PUBLIC;

CREATE FUNCTION @extschema@.read_node(merchant text)
    RETURNS integer
    LANGUAGE sql
    VOLATILE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT @extschema@.merchant_node(merchant, true) $$;
COMMENT ON FUNCTION @extschema@.read_node(text) IS
    'The node of a merchant, for a call that reads';
REVOKE ALL ON FUNCTION @extschema@.read_node(text) FROM PUBLIC;

/*
 * The node of a merchant for reading its changes after a cursor: a cursor
 * of another node (the merchant has moved since; change ids are per node)
 * is refused with SQLSTATE IN006 and a HINT giving the new node's cursor
 * to continue from, after sending every listing its current quantity: the
 * remedy of retention's IN005.
 */
CREATE FUNCTION @extschema@.changes_node(merchant text, after bigint)
    RETURNS integer
    LANGUAGE plpgsql
    VOLATILE
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n integer := @extschema@.merchant_node(merchant, true);
    resume bigint;
BEGIN
    IF after OPERATOR(pg_catalog.>) 0 AND @extschema@.id_node(after) OPERATOR(pg_catalog.<>) n THEN
        SELECT m.resume_cursor INTO resume FROM @extschema@.merchant_nodes m
         WHERE m.merchant OPERATOR(pg_catalog.=) changes_node.merchant;
        RAISE EXCEPTION 'change cursor % is from node %, and merchant "%" is on node % now', after,
                        @extschema@.id_node(after), merchant, n
            USING ERRCODE = 'IN006',
                  DETAIL = 'The merchant moved; change ids are per node.',
                  HINT = pg_catalog.format('Send every listing its current quantity again (inventory_get() reads them), then continue from cursor %s: every change after it is new on node %s.',
                                           COALESCE(resume, 0), n);
    END IF;
    RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.changes_node(text, bigint) IS
    'The node of a merchant for its changes after a cursor (error IN006 for a cursor of another node)';
REVOKE ALL ON FUNCTION @extschema@.changes_node(text, bigint) FROM PUBLIC;

/*
 * The node an id names: batch, ledger and change ids carry it in their top
 * bits (inventory_set_node_id on the nodes).
 */
CREATE FUNCTION @extschema@.id_node(id bigint)
    RETURNS integer
    LANGUAGE sql
    IMMUTABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT (id OPERATOR(pg_catalog.>>) 48)::integer $$;
COMMENT ON FUNCTION @extschema@.id_node(bigint) IS
    'The node of a batch, ledger or change id: id / 2^48';
REVOKE ALL ON FUNCTION @extschema@.id_node(bigint) FROM PUBLIC;

/* ------------------------------------------------------------------------
 * 3. The API, routed
 *
 * Each body sends one SELECT to the node.  The merchant is set there by
 * the first argument's expression, CASE WHEN set_config(...) IS NOT NULL
 * THEN arg END: arguments are computed before the function runs, so the
 * setting is in place for it, and local to the node's transaction.  (An
 * argument named by a quoted identifier, "limit", is passed as $8:
 * PL/Proxy replaces bare argument names only.)  Call the functions that
 * return a row in FROM (SELECT * FROM inventory_router.inventory_reserve
 * (...)): SELECT (f(...)).* would call f once per column.
 * ------------------------------------------------------------------------
 */

/* A level row, as the node's functions return it */
CREATE TYPE @extschema@.inventory_level AS (
    sku             text,
    warehouse_uuid  uuid,
    on_hand         bigint,
    reserved        bigint,
    available       bigint,
    bin_location    text,
    cost            numeric(10,2),
    created_at      timestamptz,
    updated_at      timestamptz,
    incoming        bigint
);

/* A transfer, as the node's transfer functions return it */
CREATE TYPE @extschema@.inventory_transfer AS (
    id              bigint,
    sku             text,
    from_warehouse  uuid,
    to_warehouse    uuid,
    quantity        bigint,
    received        bigint,
    cancelled       bigint,
    remaining       bigint,
    state           text,
    reference       text,
    created_by      name,
    created_at      timestamptz,
    updated_at      timestamptz
);

/* A row of inventory_get, as the node returns it */
CREATE TYPE @extschema@.inventory_stock AS (
    sku             text,
    warehouse_uuid  uuid,
    on_hand         bigint,
    reserved        bigint,
    available       bigint,
    bin_location    text,
    cost            numeric(10,2),
    created_at      timestamptz,
    updated_at      timestamptz,
    incoming        bigint,
    cursor          text
);

CREATE FUNCTION @extschema@.inventory_adjust(
    merchant text, body jsonb, create_missing boolean DEFAULT true, idempotency_key text DEFAULT NULL)
    RETURNS bigint
    LANGUAGE plproxy
    SET search_path = pg_catalog, pg_temp
    AS $$
    CLUSTER 'inventory_nodes';
    RUN ON @extschema@.write_node(merchant);
    SELECT inventory.inventory_adjust(
        CASE WHEN pg_catalog.set_config('inventory.merchant', merchant, true) IS NOT NULL THEN body END,
        create_missing, idempotency_key);
$$;
COMMENT ON FUNCTION @extschema@.inventory_adjust(text, jsonb, boolean, text) IS
    'inventory_adjust on the merchant''s node (committed there at once; retry with the same idempotency key)';
REVOKE ALL ON FUNCTION @extschema@.inventory_adjust(text, jsonb, boolean, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.inventory_reserve(
    merchant text, order_ref text, sku text, warehouse_uuid uuid, quantity bigint,
    line_ref text DEFAULT NULL, allow_oversell boolean DEFAULT true,
    expires_at timestamptz DEFAULT NULL)
    RETURNS @extschema@.inventory_level
    LANGUAGE plproxy
    SET search_path = pg_catalog, pg_temp
    AS $$
    CLUSTER 'inventory_nodes';
    RUN ON @extschema@.write_node(merchant);
    SELECT * FROM inventory.inventory_reserve(
        CASE WHEN pg_catalog.set_config('inventory.merchant', merchant, true) IS NOT NULL THEN order_ref END,
        sku, warehouse_uuid, quantity, line_ref, allow_oversell, expires_at);
$$;
COMMENT ON FUNCTION @extschema@.inventory_reserve(text, text, text, uuid, bigint, text, boolean, timestamptz) IS
    'inventory_reserve on the merchant''s node';
REVOKE ALL ON FUNCTION @extschema@.inventory_reserve(text, text, text, uuid, bigint, text, boolean, timestamptz) FROM PUBLIC;

CREATE FUNCTION @extschema@.inventory_release(
    merchant text, order_ref text, sku text, warehouse_uuid uuid, quantity bigint DEFAULT NULL,
    line_ref text DEFAULT NULL)
    RETURNS @extschema@.inventory_level
    LANGUAGE plproxy
    SET search_path = pg_catalog, pg_temp
    AS $$
    CLUSTER 'inventory_nodes';
    RUN ON @extschema@.write_node(merchant);
    SELECT * FROM inventory.inventory_release(
        CASE WHEN pg_catalog.set_config('inventory.merchant', merchant, true) IS NOT NULL THEN order_ref END,
        sku, warehouse_uuid, quantity, line_ref);
$$;
COMMENT ON FUNCTION @extschema@.inventory_release(text, text, text, uuid, bigint, text) IS
    'inventory_release on the merchant''s node';
REVOKE ALL ON FUNCTION @extschema@.inventory_release(text, text, text, uuid, bigint, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.inventory_fulfill(
    merchant text, order_ref text, sku text, warehouse_uuid uuid, quantity bigint DEFAULT NULL,
    line_ref text DEFAULT NULL)
    RETURNS @extschema@.inventory_level
    LANGUAGE plproxy
    SET search_path = pg_catalog, pg_temp
    AS $$
    CLUSTER 'inventory_nodes';
    RUN ON @extschema@.write_node(merchant);
    SELECT * FROM inventory.inventory_fulfill(
        CASE WHEN pg_catalog.set_config('inventory.merchant', merchant, true) IS NOT NULL THEN order_ref END,
        sku, warehouse_uuid, quantity, line_ref);
$$;
COMMENT ON FUNCTION @extschema@.inventory_fulfill(text, text, text, uuid, bigint, text) IS
    'inventory_fulfill on the merchant''s node';
REVOKE ALL ON FUNCTION @extschema@.inventory_fulfill(text, text, text, uuid, bigint, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.inventory_extend_hold(
    merchant text, order_ref text, sku text, warehouse_uuid uuid, expires_at timestamptz,
    line_ref text DEFAULT NULL)
    RETURNS SETOF bigint
    LANGUAGE plproxy
    SET search_path = pg_catalog, pg_temp
    AS $$
    CLUSTER 'inventory_nodes';
    RUN ON @extschema@.write_node(merchant);
    SELECT h.id FROM inventory.inventory_extend_hold(
        CASE WHEN pg_catalog.set_config('inventory.merchant', merchant, true) IS NOT NULL THEN order_ref END,
        sku, warehouse_uuid, expires_at, line_ref) h;
$$;
COMMENT ON FUNCTION @extschema@.inventory_extend_hold(text, text, text, uuid, timestamptz, text) IS
    'inventory_extend_hold on the merchant''s node; returns the ids of the holds it moved';
REVOKE ALL ON FUNCTION @extschema@.inventory_extend_hold(text, text, text, uuid, timestamptz, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.inventory_transfer(
    merchant text, sku text, from_warehouse uuid, to_warehouse uuid, quantity bigint,
    reference text DEFAULT NULL, in_transit boolean DEFAULT false,
    allow_oversell boolean DEFAULT false)
    RETURNS @extschema@.inventory_transfer
    LANGUAGE plproxy
    SET search_path = pg_catalog, pg_temp
    AS $$
    CLUSTER 'inventory_nodes';
    RUN ON @extschema@.write_node(merchant);
    SELECT * FROM inventory.inventory_transfer(
        CASE WHEN pg_catalog.set_config('inventory.merchant', merchant, true) IS NOT NULL THEN sku END,
        from_warehouse, to_warehouse, quantity, reference, in_transit, allow_oversell);
$$;
COMMENT ON FUNCTION @extschema@.inventory_transfer(text, text, uuid, uuid, bigint, text, boolean, boolean) IS
    'inventory_transfer on the merchant''s node (both warehouses the merchant''s)';
REVOKE ALL ON FUNCTION @extschema@.inventory_transfer(text, text, uuid, uuid, bigint, text, boolean, boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@.inventory_receive_transfer(
    merchant text, transfer_id bigint, quantity bigint DEFAULT NULL)
    RETURNS @extschema@.inventory_transfer
    LANGUAGE plproxy
    SET search_path = pg_catalog, pg_temp
    AS $$
    CLUSTER 'inventory_nodes';
    RUN ON @extschema@.write_node(merchant);
    SELECT * FROM inventory.inventory_receive_transfer(
        CASE WHEN pg_catalog.set_config('inventory.merchant', merchant, true) IS NOT NULL THEN transfer_id END,
        quantity);
$$;
COMMENT ON FUNCTION @extschema@.inventory_receive_transfer(text, bigint, bigint) IS
    'inventory_receive_transfer on the merchant''s node (by merchant: a transfer moves with its merchant)';
REVOKE ALL ON FUNCTION @extschema@.inventory_receive_transfer(text, bigint, bigint) FROM PUBLIC;

CREATE FUNCTION @extschema@.inventory_cancel_transfer(merchant text, transfer_id bigint)
    RETURNS @extschema@.inventory_transfer
    LANGUAGE plproxy
    SET search_path = pg_catalog, pg_temp
    AS $$
    CLUSTER 'inventory_nodes';
    RUN ON @extschema@.write_node(merchant);
    SELECT * FROM inventory.inventory_cancel_transfer(
        CASE WHEN pg_catalog.set_config('inventory.merchant', merchant, true) IS NOT NULL THEN transfer_id END);
$$;
COMMENT ON FUNCTION @extschema@.inventory_cancel_transfer(text, bigint) IS
    'inventory_cancel_transfer on the merchant''s node';
REVOKE ALL ON FUNCTION @extschema@.inventory_cancel_transfer(text, bigint) FROM PUBLIC;

/*
 * By batch id: the node that queued the batch keeps its history, also
 * after its merchant moved on.
 */
CREATE FUNCTION @extschema@.inventory_wait(batch bigint, timeout interval DEFAULT '30 s')
    RETURNS text
    LANGUAGE plproxy
    SET search_path = pg_catalog, pg_temp
    AS $$
    CLUSTER 'inventory_nodes';
    RUN ON @extschema@.id_node(batch);
    SELECT inventory.inventory_wait(batch, timeout);
$$;
COMMENT ON FUNCTION @extschema@.inventory_wait(bigint, interval) IS
    'inventory_wait on the node that queued the batch (the id names it)';
REVOKE ALL ON FUNCTION @extschema@.inventory_wait(bigint, interval) FROM PUBLIC;

CREATE FUNCTION @extschema@.inventory_batch_status(batch bigint)
    RETURNS TABLE (batch_id bigint, state text, create_missing boolean, item_count integer,
                   applied_items integer, skipped_items integer, failed_items integer,
                   queued_at timestamptz, applied_at timestamptz, error text,
                   item integer, sku text, warehouse_uuid uuid, outcome text, reason text,
                   on_hand_before bigint, on_hand_after bigint,
                   reserved_before bigint, reserved_after bigint,
                   available_before bigint, available_after bigint)
    LANGUAGE plproxy
    SET search_path = pg_catalog, pg_temp
    AS $$
    CLUSTER 'inventory_nodes';
    RUN ON @extschema@.id_node(batch);
    SELECT * FROM inventory.inventory_batch_status(batch);
$$;
COMMENT ON FUNCTION @extschema@.inventory_batch_status(bigint) IS
    'inventory_batch_status on the node that queued the batch (the id names it)';
REVOKE ALL ON FUNCTION @extschema@.inventory_batch_status(bigint) FROM PUBLIC;

/*
 * The merchant's changes on its node, after a cursor of that node (0 to
 * start); a cursor of another node is refused (see changes_node).
 */
CREATE FUNCTION @extschema@.inventory_changes(merchant text, after bigint DEFAULT 0, max_rows integer DEFAULT 1000)
    RETURNS TABLE (change_id bigint, at timestamptz, sku text, warehouse_uuid uuid,
                   available bigint, available_before bigint, on_hand bigint, reserved bigint,
                   source text, incoming bigint)
    LANGUAGE plproxy
    SET search_path = pg_catalog, pg_temp
    AS $$
    CLUSTER 'inventory_nodes';
    RUN ON @extschema@.changes_node(merchant, after);
    SELECT * FROM inventory.inventory_changes(
        CASE WHEN pg_catalog.set_config('inventory.merchant', merchant, true) IS NOT NULL THEN after END,
        max_rows);
$$;
COMMENT ON FUNCTION @extschema@.inventory_changes(text, bigint, integer) IS
    'The merchant''s changes on its node after a cursor (a cursor of another node, from before a move: error IN006 with the cursor to continue from)';
REVOKE ALL ON FUNCTION @extschema@.inventory_changes(text, bigint, integer) FROM PUBLIC;

CREATE FUNCTION @extschema@.inventory_get(
    merchant text,
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
    LANGUAGE plproxy
    SET search_path = pg_catalog, pg_temp
    AS $$
    CLUSTER 'inventory_nodes';
    RUN ON @extschema@.read_node(merchant);
    SELECT * FROM inventory.inventory_get(
        CASE WHEN pg_catalog.set_config('inventory.merchant', merchant, true) IS NOT NULL THEN sku END,
        warehouse_uuid, created_at_min, created_at_max, updated_at_min, updated_at_max,
        $8, cursor, page);
$$;
COMMENT ON FUNCTION @extschema@.inventory_get(text, text, uuid, timestamptz, timestamptz, timestamptz, timestamptz, integer, text, integer) IS
    'inventory_get on the merchant''s node: its level rows only';
REVOKE ALL ON FUNCTION @extschema@.inventory_get(text, text, uuid, timestamptz, timestamptz, timestamptz, timestamptz, integer, text, integer) FROM PUBLIC;

CREATE FUNCTION @extschema@.inventory_get_json(
    merchant text,
    sku text DEFAULT NULL,
    warehouse_uuid uuid DEFAULT NULL,
    created_at_min timestamptz DEFAULT NULL,
    created_at_max timestamptz DEFAULT NULL,
    updated_at_min timestamptz DEFAULT NULL,
    updated_at_max timestamptz DEFAULT NULL,
    "limit" integer DEFAULT 100,
    cursor text DEFAULT NULL,
    page integer DEFAULT NULL)
    RETURNS jsonb
    LANGUAGE plproxy
    SET search_path = pg_catalog, pg_temp
    AS $$
    CLUSTER 'inventory_nodes';
    RUN ON @extschema@.read_node(merchant);
    SELECT inventory.inventory_get_json(
        CASE WHEN pg_catalog.set_config('inventory.merchant', merchant, true) IS NOT NULL THEN sku END,
        warehouse_uuid, created_at_min, created_at_max, updated_at_min, updated_at_max,
        $8, cursor, page);
$$;
COMMENT ON FUNCTION @extschema@.inventory_get_json(text, text, uuid, timestamptz, timestamptz, timestamptz, timestamptz, integer, text, integer) IS
    'inventory_get_json on the merchant''s node: its level rows only';
REVOKE ALL ON FUNCTION @extschema@.inventory_get_json(text, text, uuid, timestamptz, timestamptz, timestamptz, timestamptz, integer, text, integer) FROM PUBLIC;

/* ------------------------------------------------------------------------
 * 4. The nodes (each call runs on partition "node")
 * ------------------------------------------------------------------------
 */

CREATE FUNCTION @extschema@.node_id_of(node integer)
    RETURNS integer
    LANGUAGE plproxy
    SET search_path = pg_catalog, pg_temp
    AS $$
    CLUSTER 'inventory_nodes';
    RUN ON node;
    SELECT inventory.inventory_node_id();
$$;
REVOKE ALL ON FUNCTION @extschema@.node_id_of(integer) FROM PUBLIC;

/*
 * check_nodes: for each node the map names, the id its database has (it
 * must be the node's number: the id of every batch it queues tells the
 * router where it is).
 */
CREATE FUNCTION @extschema@.check_nodes()
    RETURNS TABLE (node integer, node_id integer, merchants bigint, ok boolean)
    LANGUAGE sql
    VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
    SELECT m.node, @extschema@.node_id_of(m.node), pg_catalog.count(*),
           @extschema@.node_id_of(m.node) OPERATOR(pg_catalog.=) m.node
      FROM @extschema@.merchant_nodes m
     GROUP BY m.node
     ORDER BY m.node
$$;
COMMENT ON FUNCTION @extschema@.check_nodes() IS
    'Each mapped node with the id its database reports (ok: they match) and how many merchants it holds';
REVOKE ALL ON FUNCTION @extschema@.check_nodes() FROM PUBLIC;

CREATE FUNCTION @extschema@.node_merchant_queued(node integer, merchant text)
    RETURNS bigint
    LANGUAGE plproxy
    SET search_path = pg_catalog, pg_temp
    AS $$
    CLUSTER 'inventory_nodes';
    RUN ON node;
    SELECT inventory.inventory_merchant_queued(merchant);
$$;
REVOKE ALL ON FUNCTION @extschema@.node_merchant_queued(integer, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.node_export_merchant(node integer, merchant text)
    RETURNS jsonb
    LANGUAGE plproxy
    SET search_path = pg_catalog, pg_temp
    AS $$
    CLUSTER 'inventory_nodes';
    RUN ON node;
    SELECT inventory.inventory_export_merchant(merchant);
$$;
REVOKE ALL ON FUNCTION @extschema@.node_export_merchant(integer, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.node_import_merchant(node integer, merchant text, data jsonb)
    RETURNS bigint
    LANGUAGE plproxy
    SET search_path = pg_catalog, pg_temp
    AS $$
    CLUSTER 'inventory_nodes';
    RUN ON node;
    SELECT inventory.inventory_import_merchant(merchant, data);
$$;
REVOKE ALL ON FUNCTION @extschema@.node_import_merchant(integer, text, jsonb) FROM PUBLIC;

CREATE FUNCTION @extschema@.node_forget_merchant(node integer, merchant text)
    RETURNS bigint
    LANGUAGE plproxy
    SET search_path = pg_catalog, pg_temp
    AS $$
    CLUSTER 'inventory_nodes';
    RUN ON node;
    SELECT inventory.inventory_forget_merchant(merchant);
$$;
REVOKE ALL ON FUNCTION @extschema@.node_forget_merchant(integer, text) FROM PUBLIC;

/* ------------------------------------------------------------------------
 * 5. Moving a merchant
 * ------------------------------------------------------------------------
 */

/*
 * CALL inventory_router.move_merchant(merchant, to_node, timeout): move a
 * merchant to another node while its clients keep calling.
 *   1. Pause it (committed): its writes are refused with 55006, which
 *      clients retry; then wait, up to the timeout, for the calls sent
 *      before the pause to end (the exclusive advisory lock).
 *   2. Wait, up to the timeout, until the old node's queue holds none of
 *      its batches (the worker applies them).
 *   3. Export its rows from the old node and import them into the new one,
 *      in one transaction there (inventory_import_merchant).
 *   4. Point the map at the new node and unpause it (committed): its
 *      calls go there from now on.
 *   5. Forget it on the old node (inventory_forget_merchant).
 * A failure in 1 to 3 (a cancel or statement_timeout too) unpauses the
 * merchant on its old node; the map still names it, and whatever step 3
 * left on the new node is deleted by the next move there, which first
 * forgets the merchant on its target.  A failure in 5 leaves its old rows
 * on the old node, which nothing routes to: the WARNING says how to delete
 * them (the next move there does it too).  One move of a merchant at a
 * time: another is refused while its backend lives.  Must be called
 * outside a transaction block (it commits as it goes).
 */
CREATE PROCEDURE @extschema@.move_merchant(merchant text, to_node integer, timeout interval DEFAULT '60 s')
    LANGUAGE plpgsql
    AS $$
DECLARE
    m text := move_merchant.merchant;
    from_node integer;
    deadline timestamptz := pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) timeout;
    data jsonb;
    resume bigint;
    queued bigint;
    was_paused boolean;
    mover integer;
    err_state text;
    err_message text;
    err_detail text;
    err_hint text;
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    IF m IS NULL OR to_node IS NULL OR timeout IS NULL THEN
        RAISE EXCEPTION 'merchant, to_node and timeout must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT n.node, n.paused, n.moving_pid INTO from_node, was_paused, mover FROM @extschema@.merchant_nodes n
     WHERE n.merchant OPERATOR(pg_catalog.=) m FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'merchant "%" has no node', m USING ERRCODE = 'undefined_object';
    END IF;
    IF was_paused AND EXISTS (SELECT FROM pg_catalog.pg_stat_activity a WHERE a.pid OPERATOR(pg_catalog.=) mover) THEN
        RAISE EXCEPTION 'merchant "%" is being moved already', m
            USING ERRCODE = 'object_in_use',
                  DETAIL = pg_catalog.format('The backend with pid %s is moving it.', mover),
                  HINT = 'Wait for that move to end.';
    END IF;
    IF from_node OPERATOR(pg_catalog.=) to_node THEN
        RAISE EXCEPTION 'merchant "%" is on node % already', m, to_node USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF to_node OPERATOR(pg_catalog.<) 0 OR to_node OPERATOR(pg_catalog.>=) @extschema@.cluster_partitions() THEN
        RAISE EXCEPTION 'node % is not in the cluster', to_node USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF @extschema@.node_id_of(to_node) OPERATOR(pg_catalog.<>) to_node THEN
        RAISE EXCEPTION 'the database of partition p% has node id %, not %', to_node,
                        @extschema@.node_id_of(to_node), to_node
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run SELECT inventory.inventory_set_node_id(N) on node N right after CREATE EXTENSION.';
    END IF;

    -- 1. pause, then wait for the calls already sent
    UPDATE @extschema@.merchant_nodes n SET paused = true, moving_pid = pg_catalog.pg_backend_pid()
     WHERE n.merchant OPERATOR(pg_catalog.=) m;
    COMMIT;
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    BEGIN
        PERFORM pg_catalog.set_config('lock_timeout',
            GREATEST(1, (EXTRACT(epoch FROM deadline OPERATOR(pg_catalog.-) pg_catalog.clock_timestamp())
                         OPERATOR(pg_catalog.*) 1000)::bigint)::text || 'ms', true);
        PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('inventory_router'), pg_catalog.hashtext(m));
        PERFORM pg_catalog.set_config('lock_timeout', '0', true);
        IF NOT EXISTS (SELECT FROM @extschema@.merchant_nodes n
                        WHERE n.merchant OPERATOR(pg_catalog.=) m AND n.node OPERATOR(pg_catalog.=) from_node
                          AND n.paused AND n.moving_pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()) THEN
            RAISE EXCEPTION 'merchant "%" changed while its move waited', m
                USING ERRCODE = 'object_in_use';
        END IF;

        -- 2. its queued batches applied on the old node
        LOOP
            queued := @extschema@.node_merchant_queued(from_node, m);
            EXIT WHEN queued OPERATOR(pg_catalog.=) 0;
            IF pg_catalog.clock_timestamp() OPERATOR(pg_catalog.>) deadline THEN
                RAISE EXCEPTION 'merchant "%" still has % queued batches on node %', m, queued, from_node
                    USING ERRCODE = 'lock_not_available',
                          HINT = 'Nothing was moved. Is the worker of the old node running? Try again with a longer timeout.';
            END IF;
            PERFORM pg_catalog.pg_sleep(0.05);
        END LOOP;

        -- 3. its rows, copied (what a failed move left on the target first
        -- deleted: the map names the old node, which holds the merchant)
        data := @extschema@.node_export_merchant(from_node, m);
        PERFORM @extschema@.node_forget_merchant(to_node, m);
        resume := @extschema@.node_import_merchant(to_node, m, data);
    EXCEPTION WHEN query_canceled OR others THEN
        GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_message = MESSAGE_TEXT,
                                err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT;
    END;
    IF err_state IS NOT NULL THEN
        -- nothing changed on either node: the merchant stays where it was
        -- (a transaction cannot end inside a block with a handler)
        UPDATE @extschema@.merchant_nodes n SET paused = false, moving_pid = NULL
         WHERE n.merchant OPERATOR(pg_catalog.=) m;
        COMMIT;
        RAISE EXCEPTION USING ERRCODE = err_state, MESSAGE = err_message,
                              DETAIL = COALESCE(NULLIF(err_detail, ''), 'The merchant stays on its node.'),
                              HINT = COALESCE(NULLIF(err_hint, ''), 'Nothing was moved.');
    END IF;

    -- 4. the map switched
    UPDATE @extschema@.merchant_nodes n
       SET node = to_node, paused = false, moving_pid = NULL, resume_cursor = resume, moved_at = pg_catalog.now()
     WHERE n.merchant OPERATOR(pg_catalog.=) m AND n.node OPERATOR(pg_catalog.=) from_node
       AND n.moving_pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid();
    IF NOT FOUND THEN
        RAISE EXCEPTION 'merchant "%" changed during its move', m USING ERRCODE = 'object_in_use';
    END IF;
    COMMIT;
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);

    -- 5. its old rows deleted
    BEGIN
        PERFORM @extschema@.node_forget_merchant(from_node, m);
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'merchant "%" moved to node %, but its old rows are still on node %: %', m, to_node, from_node, SQLERRM
            USING HINT = pg_catalog.format('Nothing routes to them. Delete them there with SELECT inventory.inventory_forget_merchant(%L).', m);
    END;
    RAISE NOTICE 'merchant "%" moved from node % to node %', m, from_node, to_node;
END
$$;
COMMENT ON PROCEDURE @extschema@.move_merchant(text, integer, interval) IS
    'Move a merchant to another node under load: pause, drain, copy, switch, forget (see README, "Scaling out")';
REVOKE ALL ON PROCEDURE @extschema@.move_merchant(text, integer, interval) FROM PUBLIC;
