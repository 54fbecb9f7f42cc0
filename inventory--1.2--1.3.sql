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
