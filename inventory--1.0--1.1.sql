/* inventory--1.0--1.1.sql: update the inventory extension from 1.0 to 1.1 */

\echo Use "ALTER EXTENSION inventory UPDATE TO '1.1'" to load this file. \quit

/*
 * 1. A schema of its own (trust).
 *
 * Version 1.0 lived in the schema given to CREATE EXTENSION, by default
 * public, which in PostgreSQL 15 belongs to pg_database_owner: whoever owned
 * the database could rename it and put functions of their own where the
 * extension's superuser-owned code looked for its own.  Version 1.1 lives
 * in the schema "inventory", which only superusers may own or create
 * objects in.  Here every object moves there (a catalog-only change: no
 * data is copied), and section 3 below redefines every function body so
 * that it names the objects there.  From here on this script names them
 * as inventory.x: @extschema@ still means the 1.0 schema.
 */
DO $$
DECLARE
    ext         oid;
    old_nsp     oid := '@extschema@'::pg_catalog.regnamespace;
    new_nsp     oid;
    problems    text;
    obj         record;
BEGIN
    SELECT e.oid INTO ext FROM pg_catalog.pg_extension e
     WHERE e.extname OPERATOR(pg_catalog.=) 'inventory';
    SELECT n.oid INTO new_nsp FROM pg_catalog.pg_namespace n
     WHERE n.nspname OPERATOR(pg_catalog.=) 'inventory';
    IF new_nsp IS NULL THEN
        CREATE SCHEMA inventory;
        new_nsp := 'inventory'::pg_catalog.regnamespace;
        -- as after CREATE EXTENSION: the schema is not a member of the
        -- extension (DROP EXTENSION leaves it)
        DELETE FROM pg_catalog.pg_depend d
         WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
           AND d.objid OPERATOR(pg_catalog.=) new_nsp
           AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
           AND d.refobjid OPERATOR(pg_catalog.=) ext;
    END IF;

    -- the check of the install script, on the schema the objects go to
    SELECT pg_catalog.string_agg(p.problem, ' ' ORDER BY p.ord) INTO problems
      FROM (SELECT 1 AS ord,
                   CASE WHEN r.rolname OPERATOR(pg_catalog.=) 'pg_database_owner'
                        THEN 'It is owned by pg_database_owner, that is by whoever owns the database.'
                        ELSE pg_catalog.format('It is owned by role %I, which is not a superuser.', r.rolname)
                   END AS problem
              FROM pg_catalog.pg_namespace n
              JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
             WHERE n.oid OPERATOR(pg_catalog.=) new_nsp
               AND NOT r.rolsuper
            UNION ALL
            SELECT 2, pg_catalog.format('Role %s may create objects in it.',
                                        COALESCE(pg_catalog.quote_ident(r.rolname), 'PUBLIC'))
              FROM pg_catalog.pg_namespace n
             CROSS JOIN LATERAL pg_catalog.aclexplode(n.nspacl) a
              LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) a.grantee
             WHERE n.oid OPERATOR(pg_catalog.=) new_nsp
               AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
               AND NOT COALESCE(r.rolsuper, false)
            UNION ALL
            -- what someone else made there (while they could) stays there
            SELECT 3, pg_catalog.format('%s %I in it is owned by role %I, which is not a superuser.',
                                        o.kind, o.name, r.rolname)
              FROM (SELECT 'Relation' AS kind, c.relname AS name, c.relowner AS owner
                      FROM pg_catalog.pg_class c WHERE c.relnamespace OPERATOR(pg_catalog.=) new_nsp
                    UNION ALL
                    SELECT 'Function', f.proname, f.proowner
                      FROM pg_catalog.pg_proc f WHERE f.pronamespace OPERATOR(pg_catalog.=) new_nsp
                    UNION ALL
                    SELECT 'Type', t.typname, t.typowner
                      FROM pg_catalog.pg_type t WHERE t.typnamespace OPERATOR(pg_catalog.=) new_nsp
                    UNION ALL
                    SELECT 'Operator', op.oprname, op.oprowner
                      FROM pg_catalog.pg_operator op WHERE op.oprnamespace OPERATOR(pg_catalog.=) new_nsp) o
              JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) o.owner
             WHERE NOT r.rolsuper) p;
    IF problems IS NOT NULL THEN
        RAISE EXCEPTION 'schema "inventory" cannot hold the inventory extension'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = problems,
                  HINT = 'The extension runs as a superuser and names its objects by schema, so only superusers may own that schema or create objects in it. Rename or drop that schema, then run ALTER EXTENSION inventory UPDATE again, which makes its own.';
    END IF;

    IF new_nsp OPERATOR(pg_catalog.=) old_nsp THEN
        RETURN;
    END IF;

    -- Move the member objects: tables (with their indexes, constraints,
    -- triggers and row types), sequences, views, functions.
    FOR obj IN
        SELECT CASE c.relkind WHEN 'r' THEN 'TABLE' WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' END AS kind,
               c.oid::pg_catalog.regclass::pg_catalog.text AS name
          FROM pg_catalog.pg_depend d
          JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) d.objid
         WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
           AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
           AND d.refobjid OPERATOR(pg_catalog.=) ext AND d.deptype OPERATOR(pg_catalog.=) 'e'
           AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,S,v}')
        UNION ALL
        SELECT 'FUNCTION', p.oid::pg_catalog.regprocedure::pg_catalog.text
          FROM pg_catalog.pg_depend d
          JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) d.objid
         WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
           AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
           AND d.refobjid OPERATOR(pg_catalog.=) ext AND d.deptype OPERATOR(pg_catalog.=) 'e'
         ORDER BY 1, 2
    LOOP
        EXECUTE pg_catalog.format('ALTER %s %s SET SCHEMA inventory', obj.kind, obj.name);
    END LOOP;

    -- The extension itself, as ALTER EXTENSION ... SET SCHEMA would record it.
    UPDATE pg_catalog.pg_extension e SET extnamespace = new_nsp
     WHERE e.oid OPERATOR(pg_catalog.=) ext;
    UPDATE pg_catalog.pg_depend d SET refobjid = new_nsp
     WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
       AND d.objid OPERATOR(pg_catalog.=) ext
       AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass
       AND d.refobjid OPERATOR(pg_catalog.=) old_nsp;

    RAISE WARNING 'the inventory extension moved from schema "%" to schema "inventory"',
                  pg_catalog.quote_ident(old_nsp::pg_catalog.regnamespace::pg_catalog.text)
        USING DETAIL = 'Its objects are now named inventory.inventory_levels, inventory.inventory_adjust() and so on; no data was copied.',
              HINT = 'Sessions that name them unqualified need the schema in their search_path, for example ALTER DATABASE ... SET search_path = "$user", public, inventory, or ALTER ROLE app SET search_path = ... .';
END
$$;


/*
 * 2. Idempotency keys belong to the calling role.  Existing keys take the
 * role that queued their batch (inventory_queue or inventory_batch_history
 * queued_by); a key whose batch is in neither gets the empty name, which
 * no role can have: it matches nothing and expires with
 * inventory.idempotency_retention.
 */
ALTER TABLE inventory.inventory_idempotency_keys ADD COLUMN role name;
UPDATE inventory.inventory_idempotency_keys k
   SET role = COALESCE((SELECT q.queued_by FROM inventory.inventory_queue q
                         WHERE q.batch_id OPERATOR(pg_catalog.=) k.batch_id),
                       (SELECT h.queued_by FROM inventory.inventory_batch_history h
                         WHERE h.batch_id OPERATOR(pg_catalog.=) k.batch_id),
                       ''::name);
ALTER TABLE inventory.inventory_idempotency_keys
    ALTER COLUMN role SET NOT NULL,
    DROP CONSTRAINT inventory_idempotency_keys_pkey,
    ADD CONSTRAINT inventory_idempotency_keys_pkey PRIMARY KEY (role, key);
COMMENT ON COLUMN inventory.inventory_idempotency_keys.role IS
    'The role that called inventory_adjust (the outer role, as inventory_outer_role() reports it); each role has its own keys';

/*
 * 3. Every function as version 1.1 defines it, naming its objects in the
 * schema inventory, the new ones too.  Generated from inventory--1.1.sql
 * by tools/update-functions: regenerate it whenever a function changes.
 */
-- BEGIN generated by tools/update-functions
CREATE OR REPLACE FUNCTION inventory.inventory_levels_maintain()
    RETURNS trigger
    LANGUAGE c
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_levels_maintain';

CREATE OR REPLACE FUNCTION inventory.inventory_touch_updated_at()
    RETURNS trigger
    LANGUAGE c
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_touch_updated_at';

CREATE OR REPLACE FUNCTION inventory.inventory_outer_role()
    RETURNS name
    LANGUAGE c
    STABLE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_outer_role';

CREATE OR REPLACE FUNCTION inventory.inventory_ledger_reserve_ids()
    RETURNS void
    LANGUAGE c
    VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_ledger_reserve_ids';

CREATE OR REPLACE FUNCTION inventory.inventory_apply_statement()
    RETURNS boolean
    LANGUAGE c
    VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_apply_statement';

CREATE OR REPLACE FUNCTION inventory.inventory_levels_ledger()
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
BEGIN
    -- Load the library first: until it is loaded, inventory.* settings are
    -- placeholders that any role could have set; loading it checks them.
    PERFORM inventory.inventory_outer_role();
    src := COALESCE(NULLIF(pg_catalog.current_setting('inventory.change_source', true), ''),
                    NULLIF(pg_catalog.current_setting('inventory.change_via', true), ''),
                    'direct');
    ord := NULLIF(pg_catalog.current_setting('inventory.change_order', true), '');
    line := NULLIF(pg_catalog.current_setting('inventory.change_line', true), '');
    reason := NULLIF(pg_catalog.current_setting('inventory.change_reason', true), '');
    -- the apply's own writes, and rows being restored, are already recorded
    IF inventory.inventory_apply_statement()
       OR pg_catalog.current_setting('inventory.restoring', true) OPERATOR(pg_catalog.=) 'on' THEN
        RETURN NULL;
    END IF;
    -- a write made while the apply runs (by a trigger the owner added) is
    -- recorded as if made outside it
    IF src OPERATOR(pg_catalog.=) 'adjust' THEN
        src := COALESCE(NULLIF(pg_catalog.current_setting('inventory.change_via', true), ''),
                        'direct');
    END IF;
    PERFORM inventory.inventory_ledger_reserve_ids();
    IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' THEN
        INSERT INTO inventory.inventory_ledger
        SELECT pg_catalog.nextval('inventory.inventory_ledger_id_seq'::pg_catalog.regclass),
               pg_catalog.now(), n.sku, n.warehouse_uuid, src, NULL, NULL, ord, line, reason,
               inventory.inventory_outer_role(), pg_catalog.pg_current_xact_id(),
               0, n.on_hand, 0, n.reserved, 0, n.available
          FROM new_rows n
         WHERE n.on_hand OPERATOR(pg_catalog.<>) 0 OR n.reserved OPERATOR(pg_catalog.<>) 0
         ORDER BY n.sku, n.warehouse_uuid;
    ELSIF TG_OP OPERATOR(pg_catalog.=) 'UPDATE' THEN
        INSERT INTO inventory.inventory_ledger
        SELECT pg_catalog.nextval('inventory.inventory_ledger_id_seq'::pg_catalog.regclass),
               pg_catalog.now(), n.sku, n.warehouse_uuid, src, NULL, NULL, ord, line, reason,
               inventory.inventory_outer_role(), pg_catalog.pg_current_xact_id(),
               o.on_hand, n.on_hand, o.reserved, n.reserved, o.available, n.available
          FROM new_rows n
          JOIN old_rows o ON o.sku OPERATOR(pg_catalog.=) n.sku
                         AND o.warehouse_uuid OPERATOR(pg_catalog.=) n.warehouse_uuid
         WHERE o.on_hand OPERATOR(pg_catalog.<>) n.on_hand
            OR o.reserved OPERATOR(pg_catalog.<>) n.reserved
         ORDER BY n.sku, n.warehouse_uuid;
    ELSE
        INSERT INTO inventory.inventory_ledger
        SELECT pg_catalog.nextval('inventory.inventory_ledger_id_seq'::pg_catalog.regclass),
               pg_catalog.now(), o.sku, o.warehouse_uuid, src, NULL, NULL, ord, line, reason,
               inventory.inventory_outer_role(), pg_catalog.pg_current_xact_id(),
               o.on_hand, 0, o.reserved, 0, o.available, 0
          FROM old_rows o
         WHERE o.on_hand OPERATOR(pg_catalog.<>) 0 OR o.reserved OPERATOR(pg_catalog.<>) 0
         ORDER BY o.sku, o.warehouse_uuid;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION inventory.inventory_reservations_sync()
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
    PERFORM inventory.inventory_outer_role();
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

CREATE OR REPLACE FUNCTION inventory.inventory_check_order_refs(order_ref text, line_ref text, sku text)
    RETURNS void
    LANGUAGE c
    STABLE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_check_order_refs';

CREATE OR REPLACE FUNCTION inventory.inventory_reservations_check()
    RETURNS trigger
    LANGUAGE c
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_reservations_check';

CREATE OR REPLACE FUNCTION inventory.inventory_check_order_args(
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
    PERFORM inventory.inventory_check_order_args(order_ref, sku, warehouse_uuid, quantity, true);
    PERFORM inventory.inventory_check_order_refs(order_ref, line_ref, sku);
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

CREATE OR REPLACE FUNCTION inventory.inventory_take_reservation(
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
    PERFORM inventory.inventory_check_order_args(order_ref, sku, warehouse_uuid, quantity, false);
    PERFORM inventory.inventory_check_order_refs(order_ref, line_ref, sku);
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
    SELECT * FROM inventory.inventory_take_reservation($1, $2, $3, $4, $5, 'release')
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
    SELECT * FROM inventory.inventory_take_reservation($1, $2, $3, $4, $5, 'fulfill')
$$;

CREATE OR REPLACE FUNCTION inventory.inventory_adjust(
    body jsonb, create_missing boolean DEFAULT true, idempotency_key text DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c
    VOLATILE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_adjust';

CREATE OR REPLACE FUNCTION inventory.inventory_process_queue(max_batches integer DEFAULT NULL)
    RETURNS bigint
    LANGUAGE c
    VOLATILE CALLED ON NULL INPUT
    -- applies as the owner, like the worker: a role granted EXECUTE needs
    -- no rights on the tables
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    -- key lookups are index probes whatever the table sizes (see worker.c)
    SET enable_seqscan = off
    SET enable_hashjoin = off
    SET enable_mergejoin = off
    SET jit = off
    -- the apply writes one ledger row per item itself
    SET inventory.change_source = 'adjust'
    AS 'MODULE_PATHNAME', 'inventory_process_queue';

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
BEGIN
    IF batch IS NULL OR timeout IS NULL THEN
        RAISE EXCEPTION 'batch and timeout must not be null'
            USING ERRCODE = 'null_value_not_allowed';
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
                      HINT = 'Check that the inventory worker is running (pg_stat_activity, backend_type ''inventory worker'') and that inventory.enabled is on, or call inventory_process_queue().';
        END IF;
        PERFORM pg_catalog.pg_sleep(pause);
        pause := LEAST(pause OPERATOR(pg_catalog.*) 2, 0.05::double precision);
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION inventory.inventory_ledger_horizon()
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
BEGIN
    IF after IS NULL OR max_rows IS NULL OR max_rows OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION 'after must not be null and max_rows must be at least 1'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- first the horizon, then (a new statement, a new snapshot) the rows
    horizon := inventory.inventory_ledger_horizon();
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

CREATE OR REPLACE FUNCTION inventory.inventory_batch_status(batch bigint)
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
    q inventory.inventory_queue;
    h inventory.inventory_batch_history;
BEGIN
    SELECT * INTO q FROM inventory.inventory_queue x WHERE x.batch_id OPERATOR(pg_catalog.=) batch;
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
    SELECT * INTO h FROM inventory.inventory_batch_history x WHERE x.batch_id OPERATOR(pg_catalog.=) batch;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'inventory batch % does not exist', batch
            USING ERRCODE = 'undefined_object',
                  DETAIL = 'No queued, applied or failed batch has this id.';
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
              FROM inventory.inventory_ledger l
             WHERE l.batch_id OPERATOR(pg_catalog.=) batch
            UNION ALL
            SELECT (s.v OPERATOR(pg_catalog.->>) 'item')::integer, s.v OPERATOR(pg_catalog.->>) 'sku', (s.v OPERATOR(pg_catalog.->>) 'warehouse_uuid')::uuid,
                   'skipped_missing', 'no level row exists and the batch was queued with create_missing => false',
                   NULL, NULL, NULL, NULL, NULL, NULL
              FROM pg_catalog.jsonb_array_elements(COALESCE(h.skipped, '[]'::jsonb)) AS s(v))
        SELECT h.batch_id, h.state, h.create_missing, h.item_count,
               (pg_catalog.count(*) FILTER (WHERE o.outcome OPERATOR(pg_catalog.=) 'applied') OVER ())::integer,
               (pg_catalog.count(*) FILTER (WHERE o.outcome OPERATOR(pg_catalog.=) 'skipped_missing') OVER ())::integer,
               0, h.queued_at, h.applied_at, h.error,
               o.item, o.sku, o.warehouse_uuid, o.outcome, o.reason,
               o.on_hand_before, o.on_hand_after, o.reserved_before, o.reserved_after,
               o.available_before, o.available_after
          FROM outcomes o
         ORDER BY o.item;
END
$$;

CREATE OR REPLACE FUNCTION inventory.inventory_verify()
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
      FROM inventory.inventory_levels l
     WHERE l.available OPERATOR(pg_catalog.<>) (l.on_hand OPERATOR(pg_catalog.-) l.reserved)
    UNION ALL
    -- reserved = sum of open reservations
    SELECT 'reserved', COALESCE(l.sku, r.sku)::text, COALESCE(l.warehouse_uuid, r.warehouse_uuid),
           pg_catalog.format('reserved is %s, open reservations sum to %s',
                             COALESCE(l.reserved, 0), COALESCE(r.total, 0))
      FROM inventory.inventory_levels l
      FULL JOIN (SELECT x.sku, x.warehouse_uuid, pg_catalog.sum(x.quantity) AS total
                   FROM inventory.inventory_reservations x GROUP BY 1, 2) r
        ON r.sku OPERATOR(pg_catalog.=) l.sku AND r.warehouse_uuid OPERATOR(pg_catalog.=) l.warehouse_uuid
     WHERE COALESCE(l.reserved, 0) OPERATOR(pg_catalog.<>) COALESCE(r.total, 0)
    UNION ALL
    -- replaying the ledger gives every level row: its last row's after values
    SELECT 'ledger', COALESCE(l.sku, g.sku)::text, COALESCE(l.warehouse_uuid, g.warehouse_uuid),
           pg_catalog.format('level row has on_hand %s, reserved %s; the ledger ends at on_hand %s, reserved %s',
                             COALESCE(l.on_hand, 0), COALESCE(l.reserved, 0),
                             COALESCE(g.on_hand_after, 0), COALESCE(g.reserved_after, 0))
      FROM inventory.inventory_levels l
      FULL JOIN (SELECT DISTINCT ON (x.sku, x.warehouse_uuid) x.sku, x.warehouse_uuid,
                        x.on_hand_after, x.reserved_after
                   FROM inventory.inventory_ledger x
                  ORDER BY x.sku, x.warehouse_uuid, x.id DESC) g
        ON g.sku OPERATOR(pg_catalog.=) l.sku AND g.warehouse_uuid OPERATOR(pg_catalog.=) l.warehouse_uuid
     WHERE COALESCE(l.on_hand, 0) OPERATOR(pg_catalog.<>) COALESCE(g.on_hand_after, 0)
        OR COALESCE(l.reserved, 0) OPERATOR(pg_catalog.<>) COALESCE(g.reserved_after, 0)
    UNION ALL
    -- each ledger row starts where the key's previous one ended
    SELECT 'ledger chain', c.sku::text, c.warehouse_uuid,
           pg_catalog.format('ledger row %s starts at on_hand %s, reserved %s; the previous row ended at %s, %s',
                             c.id, c.on_hand_before, c.reserved_before, c.prev_on_hand, c.prev_reserved)
      FROM (SELECT x.*, pg_catalog.lag(x.on_hand_after, 1, 0::bigint) OVER w AS prev_on_hand,
                   pg_catalog.lag(x.reserved_after, 1, 0::bigint) OVER w AS prev_reserved
              FROM inventory.inventory_ledger x
            WINDOW w AS (PARTITION BY x.sku, x.warehouse_uuid ORDER BY x.id)) c
     WHERE c.on_hand_before OPERATOR(pg_catalog.<>) c.prev_on_hand
        OR c.reserved_before OPERATOR(pg_catalog.<>) c.prev_reserved
$$;

CREATE OR REPLACE FUNCTION inventory.inventory_worker_status(
    OUT pid integer, OUT enabled boolean, OUT extension_found boolean,
    OUT started_at timestamptz, OUT last_round_at timestamptz,
    OUT batches_applied bigint, OUT items_applied bigint, OUT batches_failed bigint,
    OUT waiting_for_pid integer)
    RETURNS SETOF record
    LANGUAGE c
    VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_worker_status';

COMMENT ON FUNCTION inventory.inventory_levels_maintain() IS
    'BEFORE INSERT OR UPDATE trigger: available = on_hand - reserved; writing available sets on_hand; a new sku must obey inventory_adjust''s rules';

COMMENT ON FUNCTION inventory.inventory_touch_updated_at() IS
    'BEFORE UPDATE trigger: sets updated_at to the transaction time';

COMMENT ON FUNCTION inventory.inventory_outer_role() IS
    'The current role as set by SET ROLE, unaffected by SECURITY DEFINER (internal)';

COMMENT ON FUNCTION inventory.inventory_ledger_reserve_ids() IS
    'Publishes the lowest ledger id this transaction may write (internal)';

COMMENT ON FUNCTION inventory.inventory_apply_statement() IS
    'True while a statement the apply runs itself fires its triggers (internal)';

COMMENT ON FUNCTION inventory.inventory_levels_ledger() IS
    'AFTER statement trigger: a ledger row for every level row whose on_hand or reserved changed';

COMMENT ON FUNCTION inventory.inventory_reservations_sync() IS
    'AFTER statement trigger: adds the change of reserved quantities, summed per key, to inventory_levels.reserved';

COMMENT ON FUNCTION inventory.inventory_check_order_refs(text, text, text) IS
    'Raises the error of an order function''s sku, order_ref or line_ref that inventory_adjust''s rules reject (internal)';

COMMENT ON FUNCTION inventory.inventory_reservations_check() IS
    'BEFORE INSERT OR UPDATE trigger: sku, order_ref and line_ref obey the rules of the order functions';

COMMENT ON FUNCTION inventory.inventory_reserve(text, text, uuid, bigint, text, boolean) IS
    'Reserve stock for an order line; with allow_oversell => false, fail (SQLSTATE IN001) rather than let available drop below zero';

COMMENT ON FUNCTION inventory.inventory_take_reservation(text, text, uuid, bigint, text, text) IS
    'Shared body of inventory_release and inventory_fulfill (internal)';

COMMENT ON FUNCTION inventory.inventory_release(text, text, uuid, bigint, text) IS
    'Cancel quantity (NULL: all) of an order''s reservation; available goes back up';

COMMENT ON FUNCTION inventory.inventory_fulfill(text, text, uuid, bigint, text) IS
    'Ship quantity (NULL: all) of an order''s reservation: on_hand and reserved both drop by it';

COMMENT ON FUNCTION inventory.inventory_adjust(jsonb, boolean, text) IS
    'Validate a batch of adjustments ({"inventory": [...]} or an array) and queue it; returns the batch id. create_missing => false skips items without a level row (PATCH); idempotency_key makes retries safe';

COMMENT ON FUNCTION inventory.inventory_process_queue(integer) IS
    'Apply queued batches now, in this session; returns the number of batches applied or failed';

COMMENT ON FUNCTION inventory.inventory_wait(bigint, interval) IS
    'Wait until a batch is applied or failed and return its state; error on timeout';

COMMENT ON FUNCTION inventory.inventory_ledger_horizon() IS
    'Ledger id up to which no change can still appear (internal; see inventory_changes)';

COMMENT ON FUNCTION inventory.inventory_changes(bigint, integer) IS
    'Changes of available after a cursor (the last change_id seen), in order, none ever skipped; LISTEN inventory_changes to be woken';

COMMENT ON FUNCTION inventory.inventory_batch_status(bigint) IS
    'State, counts and times of a batch, and each item''s outcome (queued, applied, skipped_missing, failed) with before/after values';

COMMENT ON FUNCTION inventory.inventory_verify() IS
    'Rows that drift: available <> on_hand - reserved, reserved <> sum of reservations, levels that the ledger does not replay to; no rows means consistent';

COMMENT ON FUNCTION inventory.inventory_worker_status() IS
    'The running worker: pid, whether it is enabled and found the extension, last round, counters since it started, and the backend holding it back';

REVOKE ALL ON FUNCTION inventory.inventory_levels_maintain() FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_touch_updated_at() FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_adjust(jsonb, boolean, text) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_process_queue(integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_wait(bigint, interval) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_worker_status() FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_outer_role() FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_ledger_reserve_ids() FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_apply_statement() FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_levels_ledger() FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_reservations_sync() FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_reservations_check() FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_check_order_refs(text, text, text) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_check_order_args(text, text, uuid, bigint, boolean) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_reserve(text, text, uuid, bigint, text, boolean) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_take_reservation(text, text, uuid, bigint, text, text) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_release(text, text, uuid, bigint, text) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_fulfill(text, text, uuid, bigint, text) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_ledger_horizon() FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_changes(bigint, integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_batch_status(bigint) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_verify() FROM PUBLIC;

-- END generated by tools/update-functions

/*
 * 4. Direct writes of reservations obey the order functions' rules: the
 * trigger, now that section 3 has made its function.
 */
CREATE TRIGGER inventory_reservations_check
    BEFORE INSERT OR UPDATE OF order_ref, line_ref, sku ON inventory.inventory_reservations
    FOR EACH ROW EXECUTE FUNCTION inventory.inventory_reservations_check();
