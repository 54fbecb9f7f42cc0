/* inventory--1.1--1.2.sql: update the inventory extension from 1.1 to 1.2 */

\echo Use "ALTER EXTENSION inventory UPDATE TO '1.2'" to load this file. \quit

/*
 * Version 1.2 rearranges the install script (a table of contents, numbered
 * sections, each REVOKE beside its object), writes the shared part of
 * the ledger trigger once, and moves the trigger functions and internal
 * helpers into a schema of their own, inventory_internal, so that the
 * schema inventory holds only the API.  inventory_wait refuses to wait for
 * a batch its own transaction queued (with the new internal
 * inventory_xid_is_current), inventory_changes refuses a cursor beyond the
 * ledger's ids, and inventory_worker_status takes all_databases and shows
 * per database what its worker does.
 */

/*
 * 1. Trust, checked again before anything in the schema is used.  A 1.1
 * installation passed this check when it was made; since then a
 * superuser may have let other roles create objects in the schema, or
 * given them one of its objects, and what they made there could be found
 * by the statements below.  The same check as the install script's (see
 * inventory--1.2.sql), with a HINT for an update.
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
        RAISE EXCEPTION 'schema "%" cannot hold the inventory extension', '@extschema@'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = problems,
                  HINT = 'The extension runs as a superuser and names its objects by schema, so only superusers may own that schema or its objects or create objects in it. Give the schema or object back to a superuser, revoke CREATE on the schema, and drop what other roles made there, then run ALTER EXTENSION inventory UPDATE again.';
    END IF;
END
$$;

/*
 * 2. The internal schema, as the install script makes it (see
 * inventory--1.2.sql): refused if a schema of that name exists already,
 * made by someone else.  The trigger functions and internal helpers move
 * there; they keep their identity, so the triggers and privileges that
 * name them follow, and their bodies are redefined below.
 */
DO $$
DECLARE
    owner name;
BEGIN
    SELECT r.rolname INTO owner
      FROM pg_catalog.pg_namespace n
      JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
     WHERE n.nspname OPERATOR(pg_catalog.=) 'inventory_internal';
    IF FOUND THEN
        RAISE EXCEPTION 'schema "inventory_internal" already exists'
            USING ERRCODE = 'duplicate_schema',
                  DETAIL = pg_catalog.format('The inventory extension creates that schema for its internal functions; the existing one is owned by role %I.', owner),
                  HINT = 'Drop or rename that schema, then run ALTER EXTENSION inventory UPDATE again.';
    END IF;
END
$$;
CREATE SCHEMA inventory_internal;
COMMENT ON SCHEMA inventory_internal IS
    'Internal functions of the inventory extension (trigger functions and helpers); not an API';
REVOKE ALL ON SCHEMA inventory_internal FROM PUBLIC;

ALTER FUNCTION @extschema@.inventory_levels_maintain() SET SCHEMA inventory_internal;
ALTER FUNCTION @extschema@.inventory_touch_updated_at() SET SCHEMA inventory_internal;
ALTER FUNCTION @extschema@.inventory_outer_role() SET SCHEMA inventory_internal;
ALTER FUNCTION @extschema@.inventory_ledger_reserve_ids() SET SCHEMA inventory_internal;
ALTER FUNCTION @extschema@.inventory_apply_statement() SET SCHEMA inventory_internal;
ALTER FUNCTION @extschema@.inventory_levels_ledger() SET SCHEMA inventory_internal;
ALTER FUNCTION @extschema@.inventory_reservations_sync() SET SCHEMA inventory_internal;
ALTER FUNCTION @extschema@.inventory_check_order_refs(text, text, text) SET SCHEMA inventory_internal;
ALTER FUNCTION @extschema@.inventory_reservations_check() SET SCHEMA inventory_internal;
ALTER FUNCTION @extschema@.inventory_check_order_args(text, text, uuid, bigint, boolean) SET SCHEMA inventory_internal;
ALTER FUNCTION @extschema@.inventory_take_reservation(text, text, uuid, bigint, text, text) SET SCHEMA inventory_internal;
ALTER FUNCTION @extschema@.inventory_ledger_horizon() SET SCHEMA inventory_internal;

/*
 * 3. The functions that differ from 1.1, as version 1.2 defines them.
 * Generated by tools/update-functions inventory--1.2.sql inventory--1.1.sql:
 * regenerate it whenever a function changes.
 */
-- BEGIN generated by tools/update-functions
CREATE OR REPLACE FUNCTION inventory_internal.inventory_levels_maintain()
    RETURNS trigger
    LANGUAGE c
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_levels_maintain';

CREATE OR REPLACE FUNCTION inventory_internal.inventory_touch_updated_at()
    RETURNS trigger
    LANGUAGE c
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_touch_updated_at';

CREATE OR REPLACE FUNCTION inventory_internal.inventory_outer_role()
    RETURNS name
    LANGUAGE c
    STABLE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_outer_role';

CREATE OR REPLACE FUNCTION inventory_internal.inventory_ledger_reserve_ids()
    RETURNS void
    LANGUAGE c
    VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_ledger_reserve_ids';

CREATE OR REPLACE FUNCTION inventory_internal.inventory_apply_statement()
    RETURNS boolean
    LANGUAGE c
    VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_apply_statement';

CREATE OR REPLACE FUNCTION inventory_internal.inventory_levels_ledger()
    RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    src text;
    ord text;
    line text;
    reason text;
    rows_before inventory.inventory_levels[];
    rows_after inventory.inventory_levels[];
BEGIN
    -- Load the library first: until it is loaded, inventory.* settings are
    -- placeholders that any role could have set; loading it checks them.
    PERFORM inventory_internal.inventory_outer_role();
    src := COALESCE(NULLIF(pg_catalog.current_setting('inventory.change_source', true), ''),
                    NULLIF(pg_catalog.current_setting('inventory.change_via', true), ''),
                    'direct');
    ord := NULLIF(pg_catalog.current_setting('inventory.change_order', true), '');
    line := NULLIF(pg_catalog.current_setting('inventory.change_line', true), '');
    reason := NULLIF(pg_catalog.current_setting('inventory.change_reason', true), '');
    -- the apply's own writes, and rows being restored, are already recorded
    IF inventory_internal.inventory_apply_statement()
       OR pg_catalog.current_setting('inventory.restoring', true) OPERATOR(pg_catalog.=) 'on' THEN
        RETURN NULL;
    END IF;
    -- a write made while the apply runs (by a trigger the owner added) is
    -- recorded as if made outside it
    IF src OPERATOR(pg_catalog.=) 'adjust' THEN
        src := COALESCE(NULLIF(pg_catalog.current_setting('inventory.change_via', true), ''),
                        'direct');
    END IF;
    PERFORM inventory_internal.inventory_ledger_reserve_ids();
    -- The three events differ only in where the rows come from (a
    -- trigger sees only its own event's transition tables): the level rows
    -- before and after the statement, pairwise, an UPDATE's paired by key.
    -- An INSERT has no rows before, a DELETE none after.
    IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
        SELECT pg_catalog.array_agg(n::inventory.inventory_levels) INTO rows_after
          FROM new_rows n;
    ELSIF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
        SELECT pg_catalog.array_agg(o::inventory.inventory_levels) INTO rows_before
          FROM old_rows o;
    ELSE
        SELECT pg_catalog.array_agg(o::inventory.inventory_levels),
               pg_catalog.array_agg(n::inventory.inventory_levels)
          INTO rows_before, rows_after
          FROM new_rows n
          JOIN old_rows o ON o.sku OPERATOR(pg_catalog.=) n.sku
                         AND o.warehouse_uuid OPERATOR(pg_catalog.=) n.warehouse_uuid;
    END IF;
    -- One ledger row for each pair whose on_hand or reserved differs, in
    -- key order.  The two unnest() run in lockstep, the shorter padded
    -- with NULLs: a row that is not there counts as zeros.
    INSERT INTO inventory.inventory_ledger
    SELECT pg_catalog.nextval('inventory.inventory_ledger_id_seq'::pg_catalog.regclass),
           pg_catalog.now(), COALESCE((c.a).sku, (c.b).sku) AS sku,
           COALESCE((c.a).warehouse_uuid, (c.b).warehouse_uuid) AS warehouse_uuid,
           src, NULL, NULL, ord, line, reason,
           inventory_internal.inventory_outer_role(), pg_catalog.pg_current_xact_id(),
           COALESCE((c.b).on_hand, 0), COALESCE((c.a).on_hand, 0),
           COALESCE((c.b).reserved, 0), COALESCE((c.a).reserved, 0),
           COALESCE((c.b).available, 0), COALESCE((c.a).available, 0)
      FROM (SELECT pg_catalog.unnest(rows_before) AS b, pg_catalog.unnest(rows_after) AS a) c
     WHERE COALESCE((c.b).on_hand, 0) OPERATOR(pg_catalog.<>) COALESCE((c.a).on_hand, 0)
        OR COALESCE((c.b).reserved, 0) OPERATOR(pg_catalog.<>) COALESCE((c.a).reserved, 0)
     ORDER BY sku, warehouse_uuid;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION inventory_internal.inventory_reservations_sync()
    RETURNS trigger
    LANGUAGE plpgsql
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    -- the ledger rows of the level changes made here say 'reservations'
    -- unless an order function set inventory.change_source
    SET inventory.change_via = 'reservations'
    AS $$
DECLARE
    ship boolean;
    skus text[];
    whs uuid[];
    deltas bigint[];
BEGIN
    -- Load the library first (see inventory_levels_ledger).
    PERFORM inventory_internal.inventory_outer_role();
    ship := COALESCE(pg_catalog.current_setting('inventory.change_source', true)
                     OPERATOR(pg_catalog.=) 'fulfill', false);
    -- restored reservations come with their level rows and sums
    IF pg_catalog.current_setting('inventory.restoring', true) OPERATOR(pg_catalog.=) 'on' THEN
        RETURN NULL;
    END IF;
    -- The change of reserved per key: what the new rows add and the old
    -- rows take away (a trigger sees only its own event's transition
    -- tables), then one delta per key, in key order, zeros dropped.
    IF TG_OP OPERATOR(pg_catalog.<>) 'DELETE' THEN
        SELECT pg_catalog.array_agg(c.sku), pg_catalog.array_agg(c.wh), pg_catalog.array_agg(c.q)
          INTO skus, whs, deltas
          FROM (SELECT n.sku, n.warehouse_uuid AS wh, pg_catalog.sum(n.quantity)::bigint AS q
                  FROM new_rows n GROUP BY 1, 2) c;
    END IF;
    IF TG_OP OPERATOR(pg_catalog.<>) 'INSERT' THEN
        SELECT skus OPERATOR(pg_catalog.||) pg_catalog.array_agg(c.sku),
               whs OPERATOR(pg_catalog.||) pg_catalog.array_agg(c.wh),
               deltas OPERATOR(pg_catalog.||) pg_catalog.array_agg(OPERATOR(pg_catalog.-) c.q)
          INTO skus, whs, deltas
          FROM (SELECT o.sku, o.warehouse_uuid AS wh, pg_catalog.sum(o.quantity)::bigint AS q
                  FROM old_rows o GROUP BY 1, 2) c;
    END IF;
    SELECT pg_catalog.array_agg(d.sku ORDER BY d.sku, d.wh),
           pg_catalog.array_agg(d.wh ORDER BY d.sku, d.wh),
           pg_catalog.array_agg(d.delta ORDER BY d.sku, d.wh)
      INTO skus, whs, deltas
      FROM (SELECT k.sku COLLATE "C" AS sku, k.wh, pg_catalog.sum(k.q)::bigint AS delta
              FROM ROWS FROM (pg_catalog.unnest(skus), pg_catalog.unnest(whs),
                              pg_catalog.unnest(deltas)) AS k(sku, wh, q)
             GROUP BY 1, 2
            HAVING pg_catalog.sum(k.q) OPERATOR(pg_catalog.<>) 0) d;
    IF skus IS NULL THEN
        RETURN NULL;
    END IF;
    -- Keys that gain reservations and have no level row get one.
    INSERT INTO inventory.inventory_levels (sku, warehouse_uuid, on_hand)
    SELECT k.sku, k.wh, 0
      FROM ROWS FROM (pg_catalog.unnest(skus), pg_catalog.unnest(whs),
                      pg_catalog.unnest(deltas)) WITH ORDINALITY AS k(sku, wh, delta, ord)
     WHERE k.delta OPERATOR(pg_catalog.>) 0
     ORDER BY k.ord
    ON CONFLICT (sku, warehouse_uuid) DO NOTHING;
    -- Lock the level rows in key order: LockRows is the plan's top node,
    -- so rows are locked as they come out ordered by k.ord (sorted below
    -- it, or kept in the order of the arrays), whatever the join ...
    PERFORM FROM inventory.inventory_levels l
              JOIN ROWS FROM (pg_catalog.unnest(skus), pg_catalog.unnest(whs))
                   WITH ORDINALITY AS k(sku, wh, ord)
                ON l.sku OPERATOR(pg_catalog.=) k.sku
               AND l.warehouse_uuid OPERATOR(pg_catalog.=) k.wh
     ORDER BY k.ord
       FOR NO KEY UPDATE OF l;
    -- ... then change them; they are ours already, so this order is free.
    UPDATE inventory.inventory_levels AS l
       SET reserved = l.reserved OPERATOR(pg_catalog.+) k.delta,
           on_hand = CASE WHEN ship THEN l.on_hand OPERATOR(pg_catalog.+) k.delta ELSE l.on_hand END
      FROM ROWS FROM (pg_catalog.unnest(skus), pg_catalog.unnest(whs),
                      pg_catalog.unnest(deltas)) AS k(sku, wh, delta)
     WHERE l.sku OPERATOR(pg_catalog.=) k.sku
       AND l.warehouse_uuid OPERATOR(pg_catalog.=) k.wh;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION inventory_internal.inventory_check_order_refs(order_ref text, line_ref text, sku text)
    RETURNS void
    LANGUAGE c
    STABLE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_check_order_refs';

CREATE OR REPLACE FUNCTION inventory_internal.inventory_reservations_check()
    RETURNS trigger
    LANGUAGE c
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_reservations_check';

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
END
$$;

CREATE OR REPLACE FUNCTION inventory.inventory_reserve(
    order_ref text, sku text, warehouse_uuid uuid, quantity bigint,
    line_ref text DEFAULT NULL, allow_oversell boolean DEFAULT true)
    RETURNS inventory.inventory_levels
    LANGUAGE plpgsql
    VOLATILE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET inventory.change_source = 'reserve'
    -- the ledger rows of an order function carry no session's change_reason
    SET inventory.change_reason = ''
    SET inventory.change_order = ''
    SET inventory.change_line = ''
    AS $$
DECLARE
    lvl inventory.inventory_levels;
    archived boolean;
BEGIN
    PERFORM inventory_internal.inventory_check_order_args(order_ref, sku, warehouse_uuid, quantity, true);
    PERFORM inventory_internal.inventory_check_order_refs(order_ref, line_ref, sku);
    IF allow_oversell IS NULL THEN
        RAISE EXCEPTION 'allow_oversell must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT w.archived INTO archived FROM inventory.inventory_warehouses w
     WHERE w.uuid OPERATOR(pg_catalog.=) inventory_reserve.warehouse_uuid;
    IF NOT FOUND OR archived THEN
        RAISE EXCEPTION 'warehouse "%" is %', warehouse_uuid,
                        CASE WHEN archived THEN 'archived' ELSE 'not registered in inventory_warehouses' END
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM pg_catalog.set_config('inventory.change_order', order_ref, true);
    PERFORM pg_catalog.set_config('inventory.change_line', COALESCE(line_ref, ''), true);

    -- Lock the level row (creating it if missing): reservations of one key
    -- are serialized here, so the check below holds until commit.
    INSERT INTO inventory.inventory_levels AS l (sku, warehouse_uuid, on_hand)
    VALUES (inventory_reserve.sku, inventory_reserve.warehouse_uuid, 0)
    ON CONFLICT ON CONSTRAINT inventory_levels_pkey DO NOTHING;
    SELECT * INTO lvl FROM inventory.inventory_levels l
     WHERE l.sku OPERATOR(pg_catalog.=) inventory_reserve.sku
       AND l.warehouse_uuid OPERATOR(pg_catalog.=) inventory_reserve.warehouse_uuid
       FOR NO KEY UPDATE;
    IF NOT allow_oversell AND lvl.available OPERATOR(pg_catalog.<) quantity THEN
        RAISE EXCEPTION 'insufficient stock to reserve % of sku "%" in warehouse %', quantity, sku, warehouse_uuid
            USING ERRCODE = 'IN001',
                  DETAIL = pg_catalog.format('Available is %s (on_hand %s, reserved %s).',
                                             lvl.available, lvl.on_hand, lvl.reserved),
                  HINT = 'Nothing was reserved. Pass allow_oversell => true to record the order anyway.';
    END IF;

    INSERT INTO inventory.inventory_reservations AS r
           (order_ref, line_ref, sku, warehouse_uuid, quantity)
    VALUES (inventory_reserve.order_ref, inventory_reserve.line_ref, inventory_reserve.sku,
            inventory_reserve.warehouse_uuid, inventory_reserve.quantity)
    ON CONFLICT ON CONSTRAINT inventory_reservations_order_line_key
    DO UPDATE SET quantity = r.quantity OPERATOR(pg_catalog.+) excluded.quantity;

    SELECT * INTO lvl FROM inventory.inventory_levels l
     WHERE l.sku OPERATOR(pg_catalog.=) inventory_reserve.sku
       AND l.warehouse_uuid OPERATOR(pg_catalog.=) inventory_reserve.warehouse_uuid;
    RETURN lvl;
END
$$;

CREATE OR REPLACE FUNCTION inventory_internal.inventory_take_reservation(
    order_ref text, sku text, warehouse_uuid uuid, quantity bigint, line_ref text, verb text)
    RETURNS inventory.inventory_levels
    LANGUAGE plpgsql
    VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    lvl inventory.inventory_levels;
    ids bigint[];
    quantities bigint[];
    total bigint;
    left_to_take bigint;
BEGIN
    PERFORM inventory_internal.inventory_check_order_args(order_ref, sku, warehouse_uuid, quantity, false);
    PERFORM inventory_internal.inventory_check_order_refs(order_ref, line_ref, sku);
    PERFORM pg_catalog.set_config('inventory.change_order', order_ref, true);
    PERFORM pg_catalog.set_config('inventory.change_line', COALESCE(line_ref, ''), true);

    -- The level row first, then the reservations: the order every
    -- function here locks in, so two of them never deadlock.
    SELECT * INTO lvl FROM inventory.inventory_levels l
     WHERE l.sku OPERATOR(pg_catalog.=) inventory_take_reservation.sku
       AND l.warehouse_uuid OPERATOR(pg_catalog.=) inventory_take_reservation.warehouse_uuid
       FOR NO KEY UPDATE;
    -- The order's lines of this key (only line_ref's when given), locked,
    -- oldest first: the rows taken from below, and nothing else.
    SELECT pg_catalog.array_agg(r.id ORDER BY r.created_at, r.id),
           pg_catalog.array_agg(r.quantity ORDER BY r.created_at, r.id),
           pg_catalog.sum(r.quantity)
      INTO ids, quantities, total
      FROM (SELECT x.id, x.quantity, x.created_at FROM inventory.inventory_reservations x
             WHERE x.order_ref OPERATOR(pg_catalog.=) inventory_take_reservation.order_ref
               AND x.sku OPERATOR(pg_catalog.=) inventory_take_reservation.sku
               AND x.warehouse_uuid OPERATOR(pg_catalog.=) inventory_take_reservation.warehouse_uuid
               AND (inventory_take_reservation.line_ref IS NULL
                    OR x.line_ref OPERATOR(pg_catalog.=) inventory_take_reservation.line_ref)
               FOR UPDATE) r;
    IF total IS NULL THEN
        RAISE EXCEPTION '%', pg_catalog.format('order "%s" has no reservation of sku "%s" in warehouse %s%s',
                        order_ref, sku, warehouse_uuid,
                        CASE WHEN line_ref IS NULL THEN '' ELSE pg_catalog.format(' on line "%s"', line_ref) END)
            USING ERRCODE = 'IN002',
                  DETAIL = pg_catalog.format('Nothing was %s.', CASE verb WHEN 'fulfill' THEN 'fulfilled' ELSE 'released' END);
    END IF;
    IF quantity OPERATOR(pg_catalog.>) total THEN
        RAISE EXCEPTION 'cannot % % of sku "%" for order "%": only % reserved', verb, quantity, sku, order_ref, total
            USING ERRCODE = 'IN002',
                  DETAIL = pg_catalog.format('Nothing was %s.', CASE verb WHEN 'fulfill' THEN 'fulfilled' ELSE 'released' END),
                  HINT = 'Leave quantity out (or NULL) to take the whole reservation.';
    END IF;

    IF quantity IS NULL OR quantity OPERATOR(pg_catalog.=) total THEN
        DELETE FROM inventory.inventory_reservations r
         WHERE r.id OPERATOR(pg_catalog.=) ANY (ids);
    ELSE
        left_to_take := quantity;
        FOR i IN 1 .. pg_catalog.array_length(ids, 1) LOOP
            EXIT WHEN left_to_take OPERATOR(pg_catalog.=) 0;
            IF quantities[i] OPERATOR(pg_catalog.<=) left_to_take THEN
                DELETE FROM inventory.inventory_reservations r
                 WHERE r.id OPERATOR(pg_catalog.=) ids[i];
                left_to_take := left_to_take OPERATOR(pg_catalog.-) quantities[i];
            ELSE
                UPDATE inventory.inventory_reservations r
                   SET quantity = r.quantity OPERATOR(pg_catalog.-) left_to_take
                 WHERE r.id OPERATOR(pg_catalog.=) ids[i];
                left_to_take := 0;
            END IF;
        END LOOP;
    END IF;

    SELECT * INTO lvl FROM inventory.inventory_levels l
     WHERE l.sku OPERATOR(pg_catalog.=) inventory_take_reservation.sku
       AND l.warehouse_uuid OPERATOR(pg_catalog.=) inventory_take_reservation.warehouse_uuid;
    RETURN lvl;
END
$$;

CREATE OR REPLACE FUNCTION inventory.inventory_release(
    order_ref text, sku text, warehouse_uuid uuid, quantity bigint DEFAULT NULL,
    line_ref text DEFAULT NULL)
    RETURNS inventory.inventory_levels
    LANGUAGE sql
    VOLATILE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET inventory.change_source = 'release'
    -- the ledger rows of an order function carry no session's change_reason
    SET inventory.change_reason = ''
    SET inventory.change_order = ''
    SET inventory.change_line = ''
    AS $$
    SELECT * FROM inventory_internal.inventory_take_reservation($1, $2, $3, $4, $5, 'release')
$$;

CREATE OR REPLACE FUNCTION inventory.inventory_fulfill(
    order_ref text, sku text, warehouse_uuid uuid, quantity bigint DEFAULT NULL,
    line_ref text DEFAULT NULL)
    RETURNS inventory.inventory_levels
    LANGUAGE sql
    VOLATILE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    SET inventory.change_source = 'fulfill'
    -- the ledger rows of an order function carry no session's change_reason
    SET inventory.change_reason = ''
    SET inventory.change_order = ''
    SET inventory.change_line = ''
    AS $$
    SELECT * FROM inventory_internal.inventory_take_reservation($1, $2, $3, $4, $5, 'fulfill')
$$;

CREATE OR REPLACE FUNCTION inventory_internal.inventory_xid_is_current(row_xmin xid)
    RETURNS boolean
    LANGUAGE c
    STABLE STRICT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_xid_is_current';

CREATE OR REPLACE FUNCTION inventory.inventory_wait(batch bigint, timeout interval DEFAULT '30 s')
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
    SELECT q.xmin INTO queued_by_xid FROM inventory.inventory_queue q
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
          FROM inventory.inventory_batch_history h
         WHERE h.batch_id OPERATOR(pg_catalog.=) batch;
        IF FOUND THEN
            RETURN st;
        END IF;
        PERFORM FROM inventory.inventory_queue q
          WHERE q.batch_id OPERATOR(pg_catalog.=) batch;
        IF NOT FOUND THEN
            -- Neither queued nor done: check history again, the batch may
            -- have moved between the two reads.
            SELECT h.state INTO st
              FROM inventory.inventory_batch_history h
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
                      HINT = 'SELECT * FROM inventory_worker_status() says what this database''s worker is doing (paused, waiting for a free worker, held back by an open transaction that queued an earlier batch), or shows no row when the library is not preloaded; inventory_process_queue() applies the queue in this session.';
        END IF;
        PERFORM pg_catalog.pg_sleep(pause);
        pause := LEAST(pause OPERATOR(pg_catalog.*) 2, 0.05::double precision);
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION inventory_internal.inventory_ledger_horizon()
    RETURNS bigint
    LANGUAGE c
    VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_ledger_horizon';

CREATE OR REPLACE FUNCTION inventory.inventory_changes(after bigint DEFAULT 0, max_rows integer DEFAULT 1000)
    RETURNS TABLE (change_id bigint, at timestamptz, sku text, warehouse_uuid uuid,
                   available bigint, available_before bigint, on_hand bigint, reserved bigint,
                   source text)
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
      FROM inventory.inventory_ledger_id_seq s;
    IF after OPERATOR(pg_catalog.>) issued THEN
        RAISE EXCEPTION 'change cursor % is beyond the last change of this database', after
            USING ERRCODE = 'IN003',
                  DETAIL = pg_catalog.format('The largest change id issued here is %s. The cursor was read from another database, or before the extension was dropped and created again (change ids then start again at 1), or from a primary whose last changes were lost in a failover.', issued),
                  HINT = 'Start the consumer again from cursor 0, sending every change it reads to the listings again; keep one cursor per database.';
    END IF;
    RETURN QUERY
        SELECT l.id, l.at, l.sku::text, l.warehouse_uuid, l.available_after, l.available_before,
               l.on_hand_after, l.reserved_after, l.source
          FROM inventory.inventory_ledger l
         WHERE l.id OPERATOR(pg_catalog.>) after
           AND l.id OPERATOR(pg_catalog.<=) horizon
           AND l.available_before OPERATOR(pg_catalog.<>) l.available_after
         ORDER BY l.id
         LIMIT max_rows;
END
$$;

COMMENT ON FUNCTION inventory_internal.inventory_levels_maintain() IS
    'BEFORE INSERT OR UPDATE trigger: available = on_hand - reserved; writing available sets on_hand; a new sku must obey inventory_adjust''s rules';

COMMENT ON FUNCTION inventory_internal.inventory_touch_updated_at() IS
    'BEFORE UPDATE trigger: sets updated_at to the transaction time';

COMMENT ON FUNCTION inventory_internal.inventory_outer_role() IS
    'The current role as set by SET ROLE, unaffected by SECURITY DEFINER (internal)';

COMMENT ON FUNCTION inventory_internal.inventory_ledger_reserve_ids() IS
    'Publishes the lowest ledger id this transaction may write (internal)';

COMMENT ON FUNCTION inventory_internal.inventory_apply_statement() IS
    'True while a statement the apply runs itself fires its triggers (internal)';

COMMENT ON FUNCTION inventory_internal.inventory_levels_ledger() IS
    'AFTER statement trigger: a ledger row for every level row whose on_hand or reserved changed';

COMMENT ON FUNCTION inventory_internal.inventory_reservations_sync() IS
    'AFTER statement trigger: adds the change of reserved quantities, summed per key, to inventory_levels.reserved';

COMMENT ON FUNCTION inventory_internal.inventory_check_order_refs(text, text, text) IS
    'Raises the error of an order function''s sku, order_ref or line_ref that inventory_adjust''s rules reject (internal)';

COMMENT ON FUNCTION inventory_internal.inventory_reservations_check() IS
    'BEFORE INSERT OR UPDATE trigger: sku, order_ref and line_ref obey the rules of the order functions';

COMMENT ON FUNCTION inventory_internal.inventory_take_reservation(text, text, uuid, bigint, text, text) IS
    'Shared body of inventory_release and inventory_fulfill (internal)';

COMMENT ON FUNCTION inventory_internal.inventory_xid_is_current(xid) IS
    'True when the transaction id is the calling transaction''s or one of its subtransactions'' (internal)';

COMMENT ON FUNCTION inventory_internal.inventory_ledger_horizon() IS
    'Ledger id up to which no change can still appear (internal; see inventory_changes)';

REVOKE ALL ON FUNCTION inventory_internal.inventory_levels_maintain() FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory_internal.inventory_touch_updated_at() FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory_internal.inventory_outer_role() FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory_internal.inventory_ledger_reserve_ids() FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory_internal.inventory_apply_statement() FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory_internal.inventory_levels_ledger() FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory_internal.inventory_reservations_sync() FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory_internal.inventory_check_order_refs(text, text, text) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory_internal.inventory_reservations_check() FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory_internal.inventory_check_order_args(text, text, uuid, bigint, boolean) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory_internal.inventory_take_reservation(text, text, uuid, bigint, text, text) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory_internal.inventory_xid_is_current(xid) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory_internal.inventory_ledger_horizon() FROM PUBLIC;
-- END generated by tools/update-functions

-- inventory_worker_status() becomes inventory_worker_status(all_databases):
-- every database is served by a worker of its own, started on demand by a
-- launcher, and the status says per database what its worker does.
DROP FUNCTION @extschema@.inventory_worker_status();
CREATE FUNCTION @extschema@.inventory_worker_status(
    all_databases boolean DEFAULT false,
    OUT database name, OUT state text, OUT waiting_for text, OUT pid integer,
    OUT enabled boolean, OUT extension_found boolean,
    OUT started_at timestamptz, OUT last_round_at timestamptz,
    OUT batches_applied bigint, OUT items_applied bigint, OUT batches_failed bigint,
    OUT waiting_for_pid integer)
    RETURNS SETOF record
    LANGUAGE c
    VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_worker_status';
COMMENT ON FUNCTION @extschema@.inventory_worker_status(boolean) IS
    'The worker of this database (or, with true, of every database with the extension): state (stopped, waiting, starting, applying, idle, paused), what it waits for, pid, counters since the server started';
REVOKE ALL ON FUNCTION @extschema@.inventory_worker_status(boolean) FROM PUBLIC;
