-- Every object of the inventory extension, as text without OIDs, one line
-- each, sorted: two databases hold the same objects exactly when this
-- prints the same lines (test/t/015_upgrade.pl compares a fresh install
-- with an updated one).
SET search_path = pg_catalog;
WITH ext AS (
    SELECT e.oid, e.extname, e.extversion, e.extnamespace, e.extrelocatable,
           e.extconfig, e.extcondition
      FROM pg_extension e WHERE e.extname = 'inventory'
), members AS (
    SELECT d.classid, d.objid
      FROM pg_depend d, ext
     WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid
       AND d.deptype = 'e'
), rels AS (
    SELECT c.* FROM pg_class c JOIN members m
        ON m.classid = 'pg_class'::regclass AND m.objid = c.oid
    UNION ALL
    -- a composite type's attributes are those of its pg_class row
    SELECT c.* FROM pg_class c JOIN pg_type t ON t.typrelid = c.oid
      JOIN members m ON m.classid = 'pg_type'::regclass AND m.objid = t.oid
)
SELECT line FROM (
    SELECT format('extension %s %s schema=%s relocatable=%s', extname, extversion,
                  extnamespace::regnamespace, extrelocatable) AS line
      FROM ext
    UNION ALL
    -- the extension's schema, and the schemas it made (inventory_internal)
    SELECT format('schema %s owner=%s acl=%s member=%s comment=%s', n.nspname, n.nspowner::regrole, n.nspacl,
                  EXISTS (SELECT FROM members m WHERE m.classid = 'pg_namespace'::regclass
                                                  AND m.objid = n.oid),
                  obj_description(n.oid, 'pg_namespace'))
      FROM pg_namespace n, ext
     WHERE n.oid = ext.extnamespace
        OR n.oid IN (SELECT m.objid FROM members m WHERE m.classid = 'pg_namespace'::regclass)
    UNION ALL
    SELECT format('config %s %s', c::regclass, COALESCE(cond, ''))
      FROM ext, unnest(ext.extconfig, ext.extcondition) AS u(c, cond)
    UNION ALL
    SELECT format('member %s', pg_describe_object(m.classid, m.objid, 0)) FROM members m
    UNION ALL
    SELECT format('relation %s kind=%s persistence=%s options=%s acl=%s owner=%s comment=%s',
                  r.oid::regclass, r.relkind, r.relpersistence, r.reloptions, r.relacl,
                  r.relowner::regrole, obj_description(r.oid, 'pg_class'))
      FROM rels r
    UNION ALL
    SELECT format('column %s #%s %s %s notnull=%s default=%s collation=%s compression=%s comment=%s',
                  r.oid::regclass,
                  row_number() OVER (PARTITION BY r.oid ORDER BY a.attnum),
                  a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  pg_get_expr(ad.adbin, ad.adrelid), a.attcollation::regcollation,
                  a.attcompression, col_description(r.oid, a.attnum))
      FROM rels r
      JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_attrdef ad ON ad.adrelid = r.oid AND ad.adnum = a.attnum
     WHERE r.relkind <> 'S'
    UNION ALL
    SELECT format('constraint %s %s %s', r.oid::regclass, co.conname, pg_get_constraintdef(co.oid))
      FROM rels r JOIN pg_constraint co ON co.conrelid = r.oid
    UNION ALL
    SELECT format('index %s', pg_get_indexdef(i.indexrelid))
      FROM rels r JOIN pg_index i ON i.indrelid = r.oid
    UNION ALL
    SELECT format('trigger %s enabled=%s', pg_get_triggerdef(t.oid), t.tgenabled)
      FROM rels r JOIN pg_trigger t ON t.tgrelid = r.oid AND NOT t.tgisinternal
    UNION ALL
    SELECT format('rule %s', pg_get_ruledef(ru.oid))
      FROM rels r JOIN pg_rewrite ru ON ru.ev_class = r.oid AND ru.rulename <> '_RETURN'
    UNION ALL
    SELECT format('view %s %s', r.oid::regclass, pg_get_viewdef(r.oid))
      FROM rels r WHERE r.relkind = 'v'
    UNION ALL
    SELECT format('sequence %s %s start=%s inc=%s min=%s max=%s cache=%s cycle=%s',
                  r.oid::regclass, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement,
                  s.seqmin, s.seqmax, s.seqcache, s.seqcycle)
      FROM rels r JOIN pg_sequence s ON s.seqrelid = r.oid
    UNION ALL
    SELECT format('type %s owner=%s acl=%s comment=%s', t.oid::regtype, t.typowner::regrole, t.typacl,
                  obj_description(t.oid, 'pg_type'))
      FROM pg_type t JOIN members m ON m.classid = 'pg_type'::regclass AND m.objid = t.oid
    UNION ALL
    SELECT format('function %s owner=%s acl=%s comment=%s', pg_get_functiondef(p.oid),
                  p.proowner::regrole, p.proacl, obj_description(p.oid, 'pg_proc'))
      FROM pg_proc p JOIN members m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
) all_lines
ORDER BY line;
