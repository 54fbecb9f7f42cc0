/* inventory--1.2--1.3.sql: update the inventory extension from 1.2 to 1.3 */

\echo Use "ALTER EXTENSION inventory UPDATE TO '1.3'" to load this file. \quit

/*
 * Version 1.3 adds operations beyond the absolute set (issue 11).
 */

/*
 * 1. Trust, checked again before anything in the schemas is used.  A 1.2
 * installation passed this check when it was made; since then a
 * superuser may have let other roles create objects in the schema
 * inventory or inventory_internal, or given them one of their objects, and
 * what they made there could be found by the statements below.  The same
 * check as the install script's (see inventory--1.3.sql), for both
 * schemas, with a HINT for an update.
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
 * Hand-written changes, one numbered section per feature (2, 3, ...):
 * new columns, tables, indexes, and DROP FUNCTION for a function whose
 * signature or result type changed.
 * ------------------------------------------------------------------------
 */

/*
 * 2. Expiring holds: when the worker releases a reservation (NULL: never),
 * an index on the holds that expire, and inventory_reserve's new last
 * parameter expires_at.  A new signature: a placeholder of the new
 * function takes over the grants of the 1.2 one (an application's EXECUTE
 * survives the update), the 1.2 one is dropped, and the generated part
 * below gives the placeholder its body (CREATE OR REPLACE keeps grants).
 */
ALTER TABLE @extschema@.inventory_reservations ADD COLUMN expires_at timestamptz;
CREATE INDEX inventory_reservations_expires_idx
    ON @extschema@.inventory_reservations (expires_at)
    WHERE expires_at IS NOT NULL;
COMMENT ON COLUMN @extschema@.inventory_reservations.expires_at IS
    'When the worker releases this hold (ledger source expire); NULL: it holds until released or fulfilled';
COMMENT ON COLUMN @extschema@.inventory_ledger.source IS
    'adjust (a queued item), reserve, release, fulfill (order functions), expire (a hold released by the worker at its expires_at), reservations (a direct change of inventory_reservations), direct (any other write to inventory_levels)';
CREATE FUNCTION @extschema@.inventory_reserve(
    order_ref text, sku text, warehouse_uuid uuid, quantity bigint,
    line_ref text DEFAULT NULL, allow_oversell boolean DEFAULT true,
    expires_at timestamptz DEFAULT NULL)
    RETURNS @extschema@.inventory_levels
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
    AS 'SELECT NULL::@extschema@.inventory_levels';
REVOKE ALL ON FUNCTION @extschema@.inventory_reserve(text, text, uuid, bigint, text, boolean, timestamptz) FROM PUBLIC;
DO $$
DECLARE
    g record;
BEGIN
    FOR g IN SELECT a.grantee, a.is_grantable
               FROM pg_catalog.pg_proc p
              CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) a
              WHERE p.oid OPERATOR(pg_catalog.=) '@extschema@.inventory_reserve(text, text, uuid, bigint, text, boolean)'::pg_catalog.regprocedure
                AND a.grantee OPERATOR(pg_catalog.<>) p.proowner
                AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION @extschema@.inventory_reserve(text, text, uuid, bigint, text, boolean, timestamptz) TO %s%s',
                                  CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                                       ELSE g.grantee::pg_catalog.regrole::pg_catalog.text END,
                                  CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
END
$$;
DROP FUNCTION @extschema@.inventory_reserve(text, text, uuid, bigint, text, boolean);

-- BEGIN generated by tools/update-functions
CREATE OR REPLACE FUNCTION inventory_internal.inventory_note_expiry(expires_at timestamptz)
    RETURNS void
    LANGUAGE c
    VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_note_expiry';

CREATE OR REPLACE FUNCTION inventory_internal.inventory_check_expires_at(expires_at timestamptz)
    RETURNS void
    LANGUAGE plpgsql
    STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF expires_at IS NOT NULL
       AND (NOT pg_catalog.isfinite(expires_at) OR expires_at OPERATOR(pg_catalog.<=) pg_catalog.now()) THEN
        RAISE EXCEPTION 'expires_at must be a finite time after the start of the transaction'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('expires_at is %s; the transaction started at %s.',
                                             expires_at, pg_catalog.now()),
                  HINT = 'Pass NULL for a hold that does not expire.';
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION inventory.inventory_reserve(
    order_ref text, sku text, warehouse_uuid uuid, quantity bigint,
    line_ref text DEFAULT NULL, allow_oversell boolean DEFAULT true,
    expires_at timestamptz DEFAULT NULL)
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
    PERFORM inventory_internal.inventory_check_expires_at(expires_at);
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
           (order_ref, line_ref, sku, warehouse_uuid, quantity, expires_at)
    VALUES (inventory_reserve.order_ref, inventory_reserve.line_ref, inventory_reserve.sku,
            inventory_reserve.warehouse_uuid, inventory_reserve.quantity, inventory_reserve.expires_at)
    ON CONFLICT ON CONSTRAINT inventory_reservations_order_line_key
    DO UPDATE SET quantity = r.quantity OPERATOR(pg_catalog.+) excluded.quantity,
                  expires_at = excluded.expires_at;
    IF expires_at IS NOT NULL THEN
        PERFORM inventory_internal.inventory_note_expiry(expires_at);
    END IF;

    SELECT * INTO lvl FROM inventory.inventory_levels l
     WHERE l.sku OPERATOR(pg_catalog.=) inventory_reserve.sku
       AND l.warehouse_uuid OPERATOR(pg_catalog.=) inventory_reserve.warehouse_uuid;
    RETURN lvl;
END
$$;

CREATE OR REPLACE FUNCTION inventory.inventory_extend_hold(
    order_ref text, sku text, warehouse_uuid uuid, expires_at timestamptz,
    line_ref text DEFAULT NULL)
    RETURNS SETOF inventory.inventory_reservations
    LANGUAGE plpgsql
    VOLATILE CALLED ON NULL INPUT
    SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM inventory_internal.inventory_check_order_args(order_ref, sku, warehouse_uuid, NULL, false);
    PERFORM inventory_internal.inventory_check_order_refs(order_ref, line_ref, sku);
    PERFORM inventory_internal.inventory_check_expires_at(expires_at);
    -- Only the reservations are locked (they alone change), so this takes
    -- no lock after another the order functions or the expiry take.
    RETURN QUERY
    WITH changed AS (
        UPDATE inventory.inventory_reservations r
           SET expires_at = inventory_extend_hold.expires_at
         WHERE r.order_ref OPERATOR(pg_catalog.=) inventory_extend_hold.order_ref
           AND r.sku OPERATOR(pg_catalog.=) inventory_extend_hold.sku
           AND r.warehouse_uuid OPERATOR(pg_catalog.=) inventory_extend_hold.warehouse_uuid
           AND (inventory_extend_hold.line_ref IS NULL
                OR r.line_ref OPERATOR(pg_catalog.=) inventory_extend_hold.line_ref)
        RETURNING r.*)
    SELECT * FROM changed c ORDER BY c.created_at, c.id;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n OPERATOR(pg_catalog.=) 0 THEN
        RAISE EXCEPTION '%', pg_catalog.format('order "%s" has no reservation of sku "%s" in warehouse %s%s',
                        order_ref, sku, warehouse_uuid,
                        CASE WHEN line_ref IS NULL THEN '' ELSE pg_catalog.format(' on line "%s"', line_ref) END)
            USING ERRCODE = 'IN002',
                  DETAIL = 'Nothing was extended: it was never reserved, or was released, fulfilled or expired.';
    END IF;
    IF expires_at IS NOT NULL THEN
        PERFORM inventory_internal.inventory_note_expiry(expires_at);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION inventory_internal.inventory_expire_holds(max_holds integer DEFAULT 1000)
    RETURNS integer
    LANGUAGE c
    VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'inventory_expire_holds';

COMMENT ON FUNCTION inventory_internal.inventory_note_expiry(timestamptz) IS
    'Tells the worker at commit that a hold expires at expires_at (internal)';

COMMENT ON FUNCTION inventory_internal.inventory_check_expires_at(timestamptz) IS
    'Raises the error of a hold''s expires_at that is not NULL, finite and after now() (internal)';

COMMENT ON FUNCTION inventory.inventory_reserve(text, text, uuid, bigint, text, boolean, timestamptz) IS
    'Reserve stock for an order line; with allow_oversell => false, fail (SQLSTATE IN001) rather than let available drop below zero; with expires_at, the worker releases the hold then';

COMMENT ON FUNCTION inventory.inventory_extend_hold(text, text, uuid, timestamptz, text) IS
    'Set when an order''s holds of one key (or one line) expire, NULL for never; returns the reservations changed';

COMMENT ON FUNCTION inventory_internal.inventory_expire_holds(integer) IS
    'Releases up to max_holds expired holds now, as the worker does; returns how many (internal)';

REVOKE ALL ON FUNCTION inventory_internal.inventory_note_expiry(timestamptz) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory_internal.inventory_check_expires_at(timestamptz) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_reserve(text, text, uuid, bigint, text, boolean, timestamptz) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory.inventory_extend_hold(text, text, uuid, timestamptz, text) FROM PUBLIC;

REVOKE ALL ON FUNCTION inventory_internal.inventory_expire_holds(integer) FROM PUBLIC;
-- END generated by tools/update-functions
