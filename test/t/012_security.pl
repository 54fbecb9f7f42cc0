# Privileges and search_path safety of the inventory extension.
#
#  (a) every function of the extension pins search_path (pg_catalog and
#      pg_temp, pg_temp last) and none is executable by PUBLIC; PUBLIC has
#      no privilege on any table, view or sequence;
#  (b) a role set up with the README's "application role" recipe (run
#      verbatim from README.md) can queue and wait, use the order functions,
#      read inventory_levels; it is refused every write to the internal
#      tables and inventory_process_queue;
#  (c) a role with nothing granted gets SQLSTATE 42501 from every function
#      and every table, view and sequence, and sees no data;
#  (d) search_path hijacking: a database owner (not a superuser) puts a
#      schema of its own first on its search_path and on the database's
#      (which the worker, a superuser session, gets), plants functions,
#      operators, an aggregate and tables named like those the extension
#      uses, and temp tables named like the extension's; inventory_adjust,
#      the worker's apply, inventory_reserve, _release and _fulfill still
#      write the real tables with the right values and never call a
#      planted object (they would write into a marker table).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use InventoryTest;
use File::Basename qw(dirname);
use Time::HiRes qw(usleep time);

# PostgreSQL::Test::Cluster->init runs $ENV{PG_REGRESS} --config-auth;
# test/run-tests does not set it: take the one of the installed PGXS.
$ENV{PG_REGRESS} //= dirname(dirname(`pg_config --pgxs`)) . '/test/regress/pg_regress';

my $W1 = '11111111-1111-4111-8111-111111111111';
my $W2 = '22222222-2222-4222-8222-222222222222';
my $WFAKE = '66666666-6666-4666-8666-666666666666';    # never registered

my $node = inventory_node('security', utf8 => 1, database => 'shop');

# The database is owned by an ordinary role (used in (d)); the extension is
# installed by the superuser.
$node->safe_psql('postgres', q{
CREATE ROLE mallory LOGIN;
CREATE ROLE app LOGIN;
CREATE ROLE nobody LOGIN;
CREATE DATABASE shop OWNER mallory;
});
$node->safe_psql('shop', qq{
CREATE EXTENSION inventory;
INSERT INTO inventory_warehouses (uuid, name) VALUES ('$W1', 'Main'), ('$W2', 'Second');
});

# Run @stmts in $db as $role, each in its own subtransaction; returns a list
# of [sqlstate or 'ok', message] in order.
sub try_as
{
	my ($role, $db, @stmts) = @_;
	my $arr = join(",\n", map { die "tag in $_" if /\$s\$/; "\$s\$$_\$s\$" } @stmts);
	my $sql = qq{
CREATE TEMP TABLE try_result (i int, st text, msg text);
DO \$do\$
DECLARE
    s   text[] := ARRAY[$arr];
    st  text;
    msg text;
BEGIN
    FOR i IN 1 .. cardinality(s) LOOP
        BEGIN
            EXECUTE s[i];
            INSERT INTO try_result VALUES (i, 'ok', NULL);
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
            INSERT INTO try_result VALUES (i, st, msg);
        END;
    END LOOP;
END
\$do\$;
SELECT st || E'\\t' || coalesce(msg, '') FROM try_result ORDER BY i;
};
	my ($ret, $out, $err) = $node->psql($db, $sql,
		connstr => $node->connstr($db) . " user=$role");
	die "try_as($role) failed: $err" if $ret != 0;
	return map { [ split /\t/, $_, 2 ] } split /\n/, $out;
}

# Run $sql as $role; dies on error.
sub psql_as
{
	my ($role, $db, $sql) = @_;
	return $node->safe_psql($db, $sql, connstr => $node->connstr($db) . " user=$role");
}

###########################################################################
# (a) pinned search_path, nothing for PUBLIC
###########################################################################
my $ext_funcs = q{
SELECT p.oid::regprocedure::text AS sig, p.oid, p.prosecdef, p.prorettype = 'trigger'::regtype AS is_trigger,
       p.prokind, coalesce(array_to_string(p.proconfig, ' | '), '') AS config
  FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
 WHERE d.classid = 'pg_proc'::regclass AND d.refclassid = 'pg_extension'::regclass
   AND d.deptype = 'e' AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'inventory')
};
my @funcs = map { [ split /\|/, $_, 2 ] } split /\n/, $node->safe_psql('shop',
	"SELECT sig || '|' || is_trigger FROM ($ext_funcs) f ORDER BY sig");
cmp_ok(scalar(@funcs), '>=', 10, 'the extension has functions (' . scalar(@funcs) . ')');
note('functions: ' . join(', ', map { $_->[0] } @funcs));

my $unpinned = $node->safe_psql('shop', qq{
SELECT string_agg(sig || ': ' || CASE WHEN config = '' THEN 'no settings' ELSE config END, E'\\n' ORDER BY sig)
  FROM ($ext_funcs) f
 WHERE NOT EXISTS (SELECT FROM unnest(string_to_array(config, ' | ')) c
                    WHERE c ~ '^search_path=(pg_catalog, *)?pg_temp\$')
});
is($unpinned, '', 'every function pins search_path to pg_catalog, pg_temp (pg_temp last)');

my $public_exec = $node->safe_psql('shop', qq{
SELECT string_agg(sig, ', ' ORDER BY sig) FROM ($ext_funcs) f
 WHERE has_function_privilege('public', f.oid, 'EXECUTE')
});
is($public_exec, '', 'PUBLIC can execute no function of the extension');

my $ext_rels = q{
SELECT c.oid::regclass::text AS rel, c.relkind::text AS relkind
  FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
 WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_extension'::regclass
   AND d.deptype = 'e' AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'inventory')
   AND c.relkind IN ('r', 'v', 'S', 'm', 'p', 'f')
};
my @rels = map { [ split /\|/ ] } split /\n/, $node->safe_psql('shop',
	"SELECT rel || '|' || relkind FROM ($ext_rels) r ORDER BY rel");
note('relations: ' . join(', ', map { $_->[0] } @rels));
my $public_rel = $node->safe_psql('shop', qq{
SELECT string_agg(rel || ' ' || p, ', ' ORDER BY rel, p)
  FROM ($ext_rels) r,
       unnest(CASE WHEN relkind = 'S' THEN ARRAY['SELECT', 'USAGE', 'UPDATE']
                   ELSE ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'] END) p
 WHERE CASE WHEN relkind = 'S' THEN has_sequence_privilege('public', rel, p)
            ELSE has_table_privilege('public', rel, p) END
});
is($public_rel, '', 'PUBLIC has no privilege on any table, view or sequence of the extension');

# The internal schema (trigger functions and helpers) is the installing
# superuser's alone: no other role may use it or create in it, not even
# the database's owner (predefined roles such as pg_read_all_data aside:
# only a superuser grants them).
is($node->safe_psql('shop', q{
SELECT count(*) FROM pg_namespace n
  JOIN pg_depend d ON d.classid = 'pg_namespace'::regclass AND d.objid = n.oid AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'inventory')
 WHERE n.nspname = 'inventory_internal'}), '1', 'the schema inventory_internal is a member of the extension');
is($node->safe_psql('shop', q{
SELECT string_agg(r.rolname || ' ' || p, ', ' ORDER BY r.rolname, p)
  FROM pg_roles r, unnest(ARRAY['USAGE', 'CREATE']) p
 WHERE NOT r.rolsuper AND r.rolname !~ '^pg_' AND has_schema_privilege(r.oid, 'inventory_internal', p)}), '',
	'no role but superusers has USAGE or CREATE on the schema inventory_internal');
is($node->safe_psql('shop', q{
SELECT string_agg(p.proname, ', ' ORDER BY p.proname) FROM pg_proc p
 WHERE p.pronamespace = 'inventory'::regnamespace AND p.prorettype = 'trigger'::regtype}), '',
	'no trigger function is in the schema inventory');

###########################################################################
# (b) the README's application role
###########################################################################
my $readme = slurp_file('README.md');
my ($recipe) = $readme =~ /An application role:\s*```sql\n(.*?)```/s;
ok(defined $recipe, "README.md has the application-role recipe");
$recipe //= '';
note("README recipe:\n$recipe");
my ($rc, $out, $err) = $node->psql('shop', $recipe, on_error_stop => 1);
is($rc, 0, "the README's application-role recipe runs as written") or diag("error: $err");

# What the recipe has to grant for the rest of this test, as the README
# should say it.  The order functions and the change feed are not in it.
my @order_funcs = (
	'inventory_reserve(text, text, uuid, bigint, text, boolean, timestamptz)',
	'inventory_release(text, text, uuid, bigint, text)',
	'inventory_fulfill(text, text, uuid, bigint, text)',
	'inventory_changes(bigint, integer)',
	'inventory_batch_status(bigint)');
my @missing = grep { my $f = $_ =~ s/\(.*//r; $recipe !~ /\b\Q$f\E\b/ } @order_funcs;
ok(!@missing, 'the README recipe grants the order functions and the change feed')
  or diag("not in the README recipe: " . join(', ', @missing));
if ($rc != 0)
{
	# e.g. a signature that does not exist: grant with the real ones
	my $fixed = $recipe;
	$fixed =~ s/inventory_adjust\(jsonb\)/inventory_adjust(jsonb, boolean, text)/;
	note("granting the recipe with corrected signatures:\n$fixed");
	$node->safe_psql('shop', $fixed);
}
$node->safe_psql('shop', 'GRANT EXECUTE ON FUNCTION ' . join(', ', @order_funcs) . ' TO app');

# The role can do its job.
my $batch = psql_as('app', 'shop', qq{SELECT inventory_adjust('[{"sku": "APP-1", "warehouse_uuid": "$W1", "on_hand": 10}]')});
like($batch, qr/^\d+$/, 'app queues a batch');
is(psql_as('app', 'shop', "SELECT inventory_wait($batch, '60 s')"), 'applied', 'app waits for it: applied');
is(psql_as('app', 'shop', "SELECT on_hand || ' ' || reserved || ' ' || available FROM inventory_levels WHERE sku = 'APP-1'"),
	'10 0 10', 'app reads inventory_levels');
is(psql_as('app', 'shop', qq{
SELECT (inventory_reserve('O-1', 'APP-1', '$W1', 4)).available;
SELECT (inventory_reserve('O-2', 'APP-1', '$W1', 1, 'L1', false)).available;
SELECT (inventory_release('O-2', 'APP-1', '$W1')).available;
SELECT (inventory_fulfill('O-1', 'APP-1', '$W1', 3)).on_hand;
SELECT count(*) > 0 FROM inventory_changes(0, 100);
SELECT state FROM inventory_batch_status($batch) LIMIT 1;
SELECT count(*) FROM inventory_warehouses;
SELECT state FROM inventory_batches WHERE batch_id = $batch;
SELECT queued_batches FROM inventory_queue_summary;
}), "6\n5\n6\n7\nt\napplied\n2\napplied\n0", 'app reserves, releases, fulfills, reads the change feed, batch status and the views');
is($node->safe_psql('shop', "SELECT string_agg(DISTINCT role, ',') FROM inventory_ledger WHERE sku = 'APP-1' AND source <> 'adjust'"),
	'app', 'the ledger names app as the role of its order changes');
is($node->safe_psql('shop', "SELECT queued_by FROM inventory_batch_history WHERE batch_id = $batch"),
	'app', 'the batch history names app as the role that queued');

# ... and nothing else.
my @internal = qw(inventory_queue inventory_ledger inventory_batch_history inventory_levels
  inventory_reservations inventory_idempotency_keys);
my %write_sql = (
	inventory_queue => [
		"INSERT INTO inventory_queue (batch_id, items, item_count, queued_by) VALUES (999999, '[]', 0, 'app')",
		"UPDATE inventory_queue SET item_count = 0",
		"DELETE FROM inventory_queue" ],
	inventory_ledger => [
		"INSERT INTO inventory_ledger (id, at, sku, warehouse_uuid, source, role, xid, on_hand_before, on_hand_after, reserved_before, reserved_after, available_before, available_after) VALUES (999999, now(), 'X', '$W1', 'direct', 'app', '1', 0, 0, 0, 0, 0, 0)",
		"UPDATE inventory_ledger SET on_hand_after = 0",
		"DELETE FROM inventory_ledger" ],
	inventory_batch_history => [
		"INSERT INTO inventory_batch_history (batch_id, state, item_count, queued_at, queued_by, queued_xid, applied_at) VALUES (999999, 'applied', 0, now(), 'app', '1', now())",
		"UPDATE inventory_batch_history SET state = 'failed', error = 'x'",
		"DELETE FROM inventory_batch_history" ],
	inventory_levels => [
		"INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand) VALUES ('HACK', '$W1', 1000)",
		"UPDATE inventory_levels SET on_hand = 1000",
		"DELETE FROM inventory_levels" ],
	inventory_reservations => [
		"INSERT INTO inventory_reservations (order_ref, sku, warehouse_uuid, quantity) VALUES ('X', 'APP-1', '$W1', 1)",
		"UPDATE inventory_reservations SET quantity = 1",
		"DELETE FROM inventory_reservations" ],
	inventory_idempotency_keys => [
		"INSERT INTO inventory_idempotency_keys (key, request_hash, batch_id) VALUES ('k', '\\x00', 1)",
		"UPDATE inventory_idempotency_keys SET batch_id = 1",
		"DELETE FROM inventory_idempotency_keys" ],
);
my @app_denied = ((map { @{ $write_sql{$_} }, "TRUNCATE $_" } @internal),
	(map { "SELECT * FROM $_" } grep { $_ ne 'inventory_levels' } @internal),
	'SELECT inventory_process_queue()',
	'SELECT inventory_process_queue(1)',
	'SELECT * FROM inventory_worker_status()',
	'SELECT * FROM inventory_verify()',
	"SELECT nextval('inventory_batch_id_seq')",
	"SELECT setval('inventory_ledger_id_seq', 1)",
	"INSERT INTO inventory_warehouses (uuid, name) VALUES ('$WFAKE', 'Fake')",
	"UPDATE inventory_warehouses SET archived = true",
	"DELETE FROM inventory_warehouses",
	"SELECT inventory_internal.inventory_take_reservation('O-1', 'APP-1', '$W1', 1, NULL, 'release')",
	"SELECT inventory_internal.inventory_check_order_args('O', 'S', '$W1', 1, true)",
	"SELECT inventory_internal.inventory_outer_role()",
	"SELECT inventory_internal.inventory_ledger_reserve_ids()",
	"SELECT inventory_internal.inventory_ledger_horizon()",
	"SELECT inventory_internal.inventory_xid_is_current('1'::xid)",
	"SET inventory.change_source = 'adjust'",
	"SET inventory.change_via = 'adjust'",
	"SELECT set_config('inventory.change_source', 'adjust', false)");
my @res = try_as('app', 'shop', @app_denied);
for my $i (0 .. $#app_denied)
{
	is($res[$i][0], '42501', "app: permission denied: $app_denied[$i]")
	  or diag("got $res[$i][0]: $res[$i][1]");
}
is($node->safe_psql('shop', "SELECT count(*) FROM inventory_levels WHERE sku = 'HACK' OR on_hand = 1000"),
	'0', 'app changed no level row');

###########################################################################
# (c) a role with nothing
###########################################################################
my @fcalls = split /\n/, $node->safe_psql('shop', qq{
SELECT format('SELECT %s.%s(%s)', p.pronamespace::regnamespace, p.proname,
              coalesce((SELECT string_agg(format('NULL::%s', t::regtype), ', ' ORDER BY o)
                          FROM unnest(p.proargtypes) WITH ORDINALITY a(t, o)), ''))
  FROM ($ext_funcs) f JOIN pg_proc p ON p.oid = f.oid ORDER BY 1
});
my @rel_sql;
for my $r (@rels)
{
	my ($rel, $kind) = @$r;
	if ($kind eq 'S')
	{
		push @rel_sql, "SELECT * FROM inventory.$rel", "SELECT nextval('inventory.$rel')",
		  "SELECT setval('inventory.$rel', 1)", "SELECT currval('inventory.$rel')";
		next;
	}
	my $col = $node->safe_psql('shop', "SELECT attname FROM pg_attribute WHERE attrelid = '$rel'::regclass AND attnum = 1");
	push @rel_sql, "SELECT * FROM inventory.$rel", "SELECT count(*) FROM inventory.$rel";
	# (views are not updatable: writing them fails before privileges count)
	push @rel_sql, "INSERT INTO inventory.$rel SELECT * FROM inventory.$rel",
	  "UPDATE inventory.$rel SET $col = $col", "DELETE FROM inventory.$rel",
	  "TRUNCATE inventory.$rel" if $kind eq 'r';
}
my @nobody = (@fcalls, @rel_sql);
@res = try_as('nobody', 'shop', @nobody);
my @wrong;
for my $i (0 .. $#nobody)
{
	push @wrong, "$nobody[$i]: $res[$i][0] $res[$i][1]" if $res[$i][0] ne '42501';
}
is(scalar(@wrong), 0, 'a role with nothing gets 42501 from each of ' . scalar(@fcalls) . ' functions and '
	  . scalar(@rel_sql) . ' statements on ' . scalar(@rels) . ' relations')
  or diag(join("\n", @wrong));

###########################################################################
# (e) administration by a role the owner grants it to (README: "Administration
#     (inventory_process_queue, inventory_worker_status, changes to
#     inventory_warehouses) is for the owner or roles it grants")
###########################################################################
$node->safe_psql('shop', q{
CREATE ROLE ops LOGIN;
GRANT USAGE ON SCHEMA inventory TO ops;
GRANT EXECUTE ON FUNCTION inventory_process_queue(integer), inventory_worker_status(boolean) TO ops;
GRANT ALL ON ALL TABLES IN SCHEMA inventory TO ops;
GRANT ALL ON ALL SEQUENCES IN SCHEMA inventory TO ops;
ALTER SYSTEM SET inventory.enabled = off;
SELECT pg_reload_conf();
});
# wait (bounded) until the worker says it is paused
my $paused = '';
my $until = time + 60;
while (time < $until)
{
	$paused = $node->safe_psql('shop', 'SELECT enabled FROM inventory_worker_status()');
	last if $paused eq 'f';
	usleep(50_000);
}
is($paused, 'f', 'worker paused');
my $ops_batch = $node->safe_psql('shop',
	qq{SELECT inventory_adjust('[{"sku": "OPS-1", "warehouse_uuid": "$W1", "on_hand": 3}]')});
my @ops = try_as('ops', 'shop',
	"INSERT INTO inventory_warehouses (uuid, name) VALUES ('$WFAKE', 'Ops')",
	"UPDATE inventory_warehouses SET archived = true WHERE uuid = '$WFAKE'",
	'SELECT * FROM inventory_worker_status()',
	'SELECT inventory_process_queue()');
is(join(' ', map { $_->[0] } @ops), 'ok ok ok ok',
	'a role granted administration changes warehouses, reads the worker status and applies the queue')
  or diag(join("\n", map { "$_->[0] $_->[1]" } @ops));
$node->safe_psql('shop', q{
ALTER SYSTEM RESET inventory.enabled;
SELECT pg_reload_conf();
});
is($node->safe_psql('shop', "SELECT inventory_wait($ops_batch, '60 s')"), 'applied', 'the batch is applied (by ops or, resumed, the worker)');

###########################################################################
# (d) search_path hijacking
###########################################################################
# mallory also needs what applications get
$node->safe_psql('shop', q{
GRANT USAGE ON SCHEMA inventory TO mallory;
GRANT EXECUTE ON FUNCTION inventory_adjust(jsonb, boolean, text), inventory_wait(bigint, interval),
    inventory_reserve(text, text, uuid, bigint, text, boolean, timestamptz), inventory_release(text, text, uuid, bigint, text),
    inventory_fulfill(text, text, uuid, bigint, text), inventory_changes(bigint, integer),
    inventory_batch_status(bigint) TO mallory;
GRANT SELECT ON inventory_levels, inventory_warehouses, inventory_batches, inventory_queue_summary TO mallory;
});

# Column lists of the extension's tables, to plant look-alikes (mallory
# may not read the real ones, so LIKE is not possible for her).
my %cols;
for my $t (qw(inventory_levels inventory_queue inventory_warehouses inventory_reservations
	inventory_ledger inventory_batch_history inventory_idempotency_keys))
{
	$cols{$t} = $node->safe_psql('shop', qq{
SELECT string_agg(quote_ident(attname) || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
  FROM pg_attribute WHERE attrelid = 'inventory.$t'::regclass AND attnum > 0 AND NOT attisdropped});
}
my $plant_tables = join('', map { "CREATE TABLE mal.$_ ($cols{$_});\n" } sort keys %cols)
  . "GRANT ALL ON ALL TABLES IN SCHEMA mal TO PUBLIC;\n";

# The database owner plants look-alikes in a schema of its own: each writes
# a marker row when called (and otherwise behaves like the real one).
psql_as('mallory', 'shop', q{
CREATE SCHEMA mal;
GRANT USAGE ON SCHEMA mal TO PUBLIC;
CREATE TABLE mal.marker (what text, by_role name DEFAULT current_user, backend text,
                         at timestamptz DEFAULT clock_timestamp());
GRANT INSERT, SELECT ON mal.marker TO PUBLIC;
CREATE FUNCTION mal.hit(what text) RETURNS void LANGUAGE sql SECURITY INVOKER
    SET search_path = pg_catalog AS $$
    INSERT INTO mal.marker (what, backend)
    SELECT what, coalesce((SELECT a.backend_type FROM pg_catalog.pg_stat_activity a
                            WHERE a.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()), '?') $$;

CREATE FUNCTION mal.now() RETURNS timestamptz LANGUAGE plpgsql SET search_path = pg_catalog AS
  $$ BEGIN PERFORM mal.hit('now()'); RETURN '2000-01-01'; END $$;
CREATE FUNCTION mal.clock_timestamp() RETURNS timestamptz LANGUAGE plpgsql SET search_path = pg_catalog AS
  $$ BEGIN PERFORM mal.hit('clock_timestamp()'); RETURN '2000-01-01'; END $$;
CREATE FUNCTION mal.nextval(regclass) RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog AS
  $$ BEGIN PERFORM mal.hit('nextval(regclass)'); RETURN pg_catalog.nextval($1); END $$;
CREATE FUNCTION mal.jsonb_array_elements(jsonb) RETURNS SETOF jsonb LANGUAGE plpgsql SET search_path = pg_catalog AS
  $$ BEGIN PERFORM mal.hit('jsonb_array_elements(jsonb)'); RETURN QUERY SELECT pg_catalog.jsonb_array_elements($1); END $$;
CREATE FUNCTION mal.jsonb_array_length(jsonb) RETURNS int LANGUAGE plpgsql SET search_path = pg_catalog AS
  $$ BEGIN PERFORM mal.hit('jsonb_array_length(jsonb)'); RETURN pg_catalog.jsonb_array_length($1); END $$;
CREATE FUNCTION mal.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE plpgsql SET search_path = pg_catalog AS
  $$ BEGIN PERFORM mal.hit('unnest(anyarray)'); RETURN QUERY SELECT pg_catalog.unnest($1); END $$;
CREATE FUNCTION mal.current_setting(text) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog AS
  $$ BEGIN PERFORM mal.hit('current_setting(text)'); RETURN pg_catalog.current_setting($1); END $$;
CREATE FUNCTION mal.current_setting(text, boolean) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog AS
  $$ BEGIN PERFORM mal.hit('current_setting(text, boolean)'); RETURN pg_catalog.current_setting($1, $2); END $$;
CREATE FUNCTION mal.set_config(text, text, boolean) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog AS
  $$ BEGIN PERFORM mal.hit('set_config(text, text, boolean)'); RETURN pg_catalog.set_config($1, $2, $3); END $$;
CREATE FUNCTION mal.pg_current_xact_id() RETURNS xid8 LANGUAGE plpgsql SET search_path = pg_catalog AS
  $$ BEGIN PERFORM mal.hit('pg_current_xact_id()'); RETURN pg_catalog.pg_current_xact_id(); END $$;
CREATE FUNCTION mal.pg_sleep(double precision) RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS
  $$ BEGIN PERFORM mal.hit('pg_sleep(double precision)'); PERFORM pg_catalog.pg_sleep($1); END $$;
CREATE FUNCTION mal.length(text) RETURNS int LANGUAGE plpgsql SET search_path = pg_catalog AS
  $$ BEGIN PERFORM mal.hit('length(text)'); RETURN pg_catalog.length($1); END $$;
CREATE FUNCTION mal.format(text, VARIADIC text[]) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog AS
  $$ BEGIN PERFORM mal.hit('format(text, text[])'); RETURN pg_catalog.format($1, VARIADIC $2); END $$;
CREATE FUNCTION mal.inventory_outer_role() RETURNS name LANGUAGE plpgsql SET search_path = pg_catalog AS
  $$ BEGIN PERFORM mal.hit('inventory_outer_role()'); RETURN 'postgres'; END $$;

CREATE FUNCTION mal.sum_step(numeric, bigint) RETURNS numeric LANGUAGE plpgsql SET search_path = pg_catalog AS
  $$ BEGIN PERFORM mal.hit('sum(bigint)'); RETURN coalesce($1, 0) OPERATOR(pg_catalog.+) $2; END $$;
CREATE AGGREGATE mal.sum(bigint) (SFUNC = mal.sum_step, STYPE = numeric);
CREATE FUNCTION mal.count_step(bigint) RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog AS
  $$ BEGIN PERFORM mal.hit('count(*)'); RETURN $1 OPERATOR(pg_catalog.+) 1; END $$;
CREATE AGGREGATE mal.count(*) (SFUNC = mal.count_step, STYPE = bigint, INITCOND = '0');

-- operators: each calls the real one
CREATE FUNCTION mal.eq_text(text, text) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog AS
  $$ BEGIN PERFORM mal.hit('=(text, text)'); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE OPERATOR mal.= (LEFTARG = text, RIGHTARG = text, FUNCTION = mal.eq_text);
CREATE FUNCTION mal.eq_uuid(uuid, uuid) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog AS
  $$ BEGIN PERFORM mal.hit('=(uuid, uuid)'); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE OPERATOR mal.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = mal.eq_uuid);
CREATE FUNCTION mal.eq_int8(bigint, bigint) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog AS
  $$ BEGIN PERFORM mal.hit('=(bigint, bigint)'); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE OPERATOR mal.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = mal.eq_int8);
CREATE FUNCTION mal.ne_int8(bigint, bigint) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog AS
  $$ BEGIN PERFORM mal.hit('<>(bigint, bigint)'); RETURN $1 OPERATOR(pg_catalog.<>) $2; END $$;
CREATE OPERATOR mal.<> (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = mal.ne_int8);
CREATE FUNCTION mal.lt_int8(bigint, bigint) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog AS
  $$ BEGIN PERFORM mal.hit('<(bigint, bigint)'); RETURN $1 OPERATOR(pg_catalog.<) $2; END $$;
CREATE OPERATOR mal.< (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = mal.lt_int8);
CREATE FUNCTION mal.le_int8(bigint, bigint) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog AS
  $$ BEGIN PERFORM mal.hit('<=(bigint, bigint)'); RETURN $1 OPERATOR(pg_catalog.<=) $2; END $$;
CREATE OPERATOR mal.<= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = mal.le_int8);
CREATE FUNCTION mal.gt_int8(bigint, bigint) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog AS
  $$ BEGIN PERFORM mal.hit('>(bigint, bigint)'); RETURN $1 OPERATOR(pg_catalog.>) $2; END $$;
CREATE OPERATOR mal.> (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = mal.gt_int8);
CREATE FUNCTION mal.ge_int8(bigint, bigint) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog AS
  $$ BEGIN PERFORM mal.hit('>=(bigint, bigint)'); RETURN $1 OPERATOR(pg_catalog.>=) $2; END $$;
CREATE OPERATOR mal.>= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = mal.ge_int8);
CREATE FUNCTION mal.plus_int8(bigint, bigint) RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog AS
  $$ BEGIN PERFORM mal.hit('+(bigint, bigint)'); RETURN $1 OPERATOR(pg_catalog.+) $2 OPERATOR(pg_catalog.+) 1000; END $$;
CREATE OPERATOR mal.+ (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = mal.plus_int8);
CREATE FUNCTION mal.minus_int8(bigint, bigint) RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog AS
  $$ BEGIN PERFORM mal.hit('-(bigint, bigint)'); RETURN $1 OPERATOR(pg_catalog.-) $2 OPERATOR(pg_catalog.+) 1000; END $$;
CREATE OPERATOR mal.- (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = mal.minus_int8);
CREATE FUNCTION mal.neg_int8(bigint) RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog AS
  $$ BEGIN PERFORM mal.hit('-(bigint)'); RETURN OPERATOR(pg_catalog.-) $1; END $$;
CREATE OPERATOR mal.- (RIGHTARG = bigint, FUNCTION = mal.neg_int8);
CREATE FUNCTION mal.eq_int4(integer, integer) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog AS
  $$ BEGIN PERFORM mal.hit('=(integer, integer)'); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE OPERATOR mal.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = mal.eq_int4);

});
# tables named like the extension's: any row in them was misdirected
psql_as('mallory', 'shop', $plant_tables);
psql_as('mallory', 'shop', qq{
INSERT INTO mal.inventory_warehouses (uuid, name) VALUES ('$WFAKE', 'Fake');
ALTER ROLE mallory SET search_path = mal, pg_catalog, public, inventory;
ALTER DATABASE shop SET search_path = mal, pg_catalog, public, inventory;
});

# From here on the database's search_path puts mal first for every session,
# the superuser's too: this test's own checks pin theirs.
sub su { return $node->safe_psql('shop', "SET search_path = pg_catalog, public, inventory;\n" . shift); }

# The worker connects once: restart so that it runs with the database's
# new search_path.
$node->restart;
my $deadline = time + 60;
my $worker = '';
while (time < $deadline)
{
	$worker = su("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'inventory worker'");
	last if $worker eq '1';
	usleep(100_000);
}
is($worker, '1', 'the worker is back after the restart');
is(su("SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = 'shop') AND setrole = 0"),
	'search_path=mal, pg_catalog, public, inventory', "the database's search_path (the worker's) puts mal first");

# Control: in mallory's own session the planted objects do shadow the real
# ones (else this part would prove nothing).
my $control = psql_as('mallory', 'shop', qq{
SHOW search_path;
SELECT now() = '2000-01-01'::timestamptz;
SELECT 1::bigint + 1::bigint;
SELECT count(*) FROM (VALUES (1), (2)) v(x);
SELECT count(*) FROM jsonb_array_elements('[1, 2]');
SELECT count(*) FROM unnest(ARRAY[1, 2]);
SELECT 'a'::text = 'a'::text, '$W1'::uuid = '$W1'::uuid, 1::bigint = 1::bigint, 1 = 1;
SELECT count(*) FROM inventory_warehouses WHERE uuid = '$WFAKE';
SELECT string_agg(DISTINCT what, ', ' ORDER BY what) FROM mal.marker;
TRUNCATE mal.marker;
});
is($control, join("\n", 'mal, pg_catalog, public, inventory', 't', '1002', '2', '2', '2', 't|t|t|t', '1',
		'+(bigint, bigint), =(bigint, bigint), =(integer, integer), =(text, text), =(uuid, uuid), count(*), jsonb_array_elements(jsonb), now(), unnest(anyarray)'),
	"control: in mallory's session the planted objects shadow pg_catalog's");

# Temp tables named like the extension's, in mallory's session, too.
my $temp_setup = join('', map { "CREATE TEMP TABLE $_ ($cols{$_});\n" } sort keys %cols)
  . "INSERT INTO inventory_warehouses (uuid, name) VALUES ('$WFAKE', 'Fake');\n";

# Now the real calls, unqualified, from mallory's session.
my $b1 = psql_as('mallory', 'shop', qq{$temp_setup
SELECT inventory_adjust('{"inventory": [{"sku": "HIJ-1", "warehouse_uuid": "$W1", "on_hand": 10, "cost": 1.5},
                                        {"sku": "HIJ-2", "warehouse_uuid": "$W2", "available": 4}]}', true, 'hijack-key-1');
});
like($b1, qr/^\d+$/, 'mallory queues a batch');
is(psql_as('mallory', 'shop', "$temp_setup SELECT inventory_wait($b1, '60 s')"), 'applied', 'the worker applies it');

my @fake = try_as('mallory', 'shop', qq{SELECT inventory_adjust('[{"sku": "HIJ-3", "warehouse_uuid": "$WFAKE", "on_hand": 1}]')});
is($fake[0][0], '22023', 'a warehouse registered only in the planted tables is rejected') or diag("got @{$fake[0]}");

my $orders = psql_as('mallory', 'shop', qq{$temp_setup
SELECT (inventory_reserve('H-1', 'HIJ-1', '$W1', 3)).available;
SELECT (inventory_reserve('H-2', 'HIJ-1', '$W1', 2, 'line-a', false)).available;
});
is($orders, "7\n5", 'reservations computed right (available 7, then 5)');
my $b2 = psql_as('mallory', 'shop', qq{$temp_setup
SELECT inventory_adjust('[{"sku": "HIJ-1", "warehouse_uuid": "$W1", "available": 8, "bin_location": "Z-9"}]');
});
is(psql_as('mallory', 'shop', "SELECT inventory_wait($b2, '60 s')"), 'applied', 'an "available" batch is applied by the worker');
$orders = psql_as('mallory', 'shop', qq{$temp_setup
SELECT (inventory_release('H-2', 'HIJ-1', '$W1', 1)).available;
SELECT (inventory_fulfill('H-1', 'HIJ-1', '$W1')).on_hand;
SELECT pg_catalog.count(*) FROM inventory_changes(0, 1000) WHERE sku LIKE 'HIJ-%';
SELECT pg_catalog.count(*) FROM inventory_batch_status($b1);
});
is($orders, "9\n10\n6\n2", 'release, fulfill, change feed and batch status computed right');

# The real tables hold the right values ...
is(su(q{
SELECT string_agg(format('%s %s %s %s %s %s %s', sku, warehouse_uuid, on_hand, reserved, available,
                         coalesce(bin_location, '-'), coalesce(cost::text, '-')), E'\n' ORDER BY sku)
  FROM inventory.inventory_levels WHERE sku LIKE 'HIJ-%'}),
	"HIJ-1 $W1 10 1 9 Z-9 1.50\nHIJ-2 $W2 4 0 4 - -",
	'levels: HIJ-1 on_hand 10 (8 available + 3 + 2 reserved, then 1 released, 3 fulfilled), HIJ-2 4');
is(su(q{SELECT string_agg(order_ref || ' ' || coalesce(line_ref, '-') || ' ' || quantity, ',') FROM inventory.inventory_reservations WHERE sku = 'HIJ-1'}),
	'H-2 line-a 1', 'reservations: H-2 line-a 1 left');
is(su(q{
SELECT string_agg(format('%s %s/%s %s->%s %s->%s', source, coalesce(order_ref, '-'), role, on_hand_before, on_hand_after,
                         reserved_before, reserved_after), E'\n' ORDER BY id)
  FROM inventory.inventory_ledger WHERE sku = 'HIJ-1'}),
	join("\n", 'adjust -/mallory 0->10 0->0', 'reserve H-1/mallory 10->10 0->3', 'reserve H-2/mallory 10->10 3->5',
		'adjust -/mallory 10->13 5->5', 'release H-2/mallory 13->13 5->4', 'fulfill H-1/mallory 13->10 4->1'),
	'the ledger of HIJ-1 is right, attributed to mallory');
is(su('SELECT count(*) FROM inventory_verify()'), '0', 'inventory_verify() finds nothing');
is(su("SELECT key || ' ' || batch_id FROM inventory.inventory_idempotency_keys WHERE key = 'hijack-key-1'"),
	"hijack-key-1 $b1", 'the idempotency key is in the real table');

# ... and no planted object was used.
is(su("SELECT coalesce(string_agg(what || ' by ' || by_role || ' (' || backend || ')', ', '), '') FROM mal.marker"),
	'', 'no planted function, operator or aggregate was called');
is(su(q{
SELECT (SELECT count(*) FROM mal.inventory_levels) + (SELECT count(*) FROM mal.inventory_queue)
     + (SELECT count(*) FROM mal.inventory_reservations) + (SELECT count(*) FROM mal.inventory_ledger)
     + (SELECT count(*) FROM mal.inventory_batch_history) + (SELECT count(*) FROM mal.inventory_idempotency_keys)
     + (SELECT count(*) FROM mal.inventory_warehouses) - 1}),
	'0', 'the planted tables were not written');
unlike(slurp_file($node->logfile), qr/terminated by signal/, 'no backend crashed');

$node->stop;
done_testing();
