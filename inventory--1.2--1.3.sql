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
 * 2. Item operations: on_hand_delta and expect_on_hand/expect_available
 * (compare-and-set).  An item that does not apply (conflict,
 * out_of_range) is recorded in the batch's history row, in a column added
 * last, as a fresh install has it; the view shows it and skipped, appended
 * by CREATE OR REPLACE VIEW so that the grants on it stay.
 */
ALTER TABLE @extschema@.inventory_batch_history ADD COLUMN rejected jsonb;
COMMENT ON COLUMN @extschema@.inventory_batch_history.rejected IS
    'Items not applied because their expect_on_hand or expect_available differed from the row (outcome conflict) or their on_hand would be out of range (outcome out_of_range): [{"item", "sku", "warehouse_uuid", "outcome", "field", "expected", "actual", "result"}], in item order';
CREATE OR REPLACE VIEW @extschema@.inventory_batches AS
    SELECT q.batch_id, 'queued'::text AS state, q.item_count, q.create_missing,
           q.queued_at, q.queued_by, NULL::timestamptz AS applied_at, NULL::text AS error,
           NULL::jsonb AS skipped, NULL::jsonb AS rejected
      FROM @extschema@.inventory_queue q
    UNION ALL
    SELECT h.batch_id, h.state, h.item_count, h.create_missing,
           h.queued_at, h.queued_by, h.applied_at, h.error,
           h.skipped, h.rejected
      FROM @extschema@.inventory_batch_history h;
COMMENT ON VIEW @extschema@.inventory_batches IS
    'Every batch with its state (queued, applied, failed), item count, times, error, and the items not applied (skipped, rejected)';

-- BEGIN generated by tools/update-functions
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

COMMENT ON FUNCTION inventory.inventory_batch_status(bigint) IS
    'State, counts and times of a batch, and each item''s outcome (queued, applied, skipped_missing, conflict, out_of_range, failed) with before/after values of the applied ones';
-- END generated by tools/update-functions
