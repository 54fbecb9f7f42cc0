
# The worker's writes obey every rule a normal write obeys, whatever the
# owner adds to the tables: NOT NULL and partitioning of the ledger, rules
# on it, row triggers on inventory_levels that change on_hand before or
# after inventory_levels_maintain, a statement trigger that updates another
# level row.  No change wedges the queue: at worst a batch is failed with
# the error, and the batches after it are applied.  The ledger records
# what was actually written, and inventory_verify() stays clean.  Last, a
# database still at version 1.0 gets exactly one ledger row per item from
# this library.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use InventoryTest;

my $WH = '5b1e7a9c-0d2f-4e6a-9b3c-1f2e3d4c5b6a';

my $node = inventory_node('owner_changes');
install_extension($node, $WH);

# Queue a batch of items given as [sku, on_hand, description or undef].
sub adjust
{
	my @items;
	for my $i (@_)
	{
		my ($sku, $qty, $desc) = @$i;
		my $item = qq{"sku": "$sku", "warehouse_uuid": "$WH", "on_hand": $qty};
		$item .= qq{, "description": "$desc"} if defined $desc;
		push @items, "{$item}";
	}
	return $node->safe_psql('postgres',
		"SELECT inventory_adjust('[" . join(', ', @items) . "]')");
}

# The batch's state once the worker is done with it, or 'still queued'
# after 30 s (a wedged queue).
sub outcome
{
	my ($b) = @_;
	my ($rc, $out, $err) = try_psql($node, 'postgres', "SELECT inventory_wait($b, '30 s')", 60);
	return $rc == 0 ? $out : "still queued ($err)";
}

sub sql { return $node->safe_psql('postgres', $_[0]); }

# A later batch, on an unrelated key, is applied.
my $later = 0;
sub later_batch_applied
{
	my ($case) = @_;
	$later++;
	my $b = adjust([ "LATER-$later", $later, "later" ]);
	is(outcome($b), 'applied', "$case: a later unrelated batch is applied");
}

sub verify_clean
{
	my ($case) = @_;
	is(sql('SELECT count(*) FROM inventory_verify()'), '0', "$case: inventory_verify() is clean")
	  or diag(sql('SELECT * FROM inventory_verify()'));
}

# Each level row of the batch's keys (WHERE $where) as sku=on_hand, by sku.
sub rows_hold
{
	my ($where, $expected, $label) = @_;
	is(sql("SELECT string_agg(sku || '=' || on_hand, ',' ORDER BY sku) FROM inventory_levels WHERE $where"),
		$expected, $label);
}

# The batch's ledger rows as item:before>after, each key's in chain order.
sub ledger_chain
{
	my ($b, $expected, $label) = @_;
	is(sql("SELECT string_agg(item || ':' || on_hand_before || '>' || on_hand_after, ',' ORDER BY sku, id) FROM inventory_ledger WHERE batch_id = $b"),
		$expected, $label);
}

# 1. NOT NULL added to ledger.description: an item without one fails its
# batch with the error (the ledger's fast path must not write the NULL).
sql('ALTER TABLE inventory_ledger ALTER COLUMN description SET NOT NULL');
my $b = adjust([ 'NN-1', 5 ]);
is(outcome($b), 'failed', 'NOT NULL on ledger.description: an item without description fails its batch');
like(sql("SELECT error FROM inventory_batches WHERE batch_id = $b"),
	qr/null value in column "description".*23502/, 'with the not-null error');
is(sql("SELECT count(*) FROM inventory_ledger WHERE description IS NULL"), '0',
	'and no ledger row without description was written');
$b = adjust([ 'NN-2', 6, 'counted' ]);
is(outcome($b), 'applied', 'NOT NULL: a batch whose items have descriptions is applied');
later_batch_applied('NOT NULL');
sql('ALTER TABLE inventory_ledger ALTER COLUMN description DROP NOT NULL');
verify_clean('NOT NULL');

# 2. A rule on inserts into the ledger fires for the worker's rows too.
sql(q{
	CREATE TABLE ledger_audit (sku text, source text);
	CREATE RULE ledger_audit AS ON INSERT TO inventory_ledger
		DO ALSO INSERT INTO public.ledger_audit VALUES (NEW.sku, NEW.source);
});
$b = adjust([ 'RULE-1', 3 ], [ 'RULE-2', 4 ]);
is(outcome($b), 'applied', 'rule on the ledger: the batch is applied');
is(sql("SELECT string_agg(sku || ':' || source, ',' ORDER BY sku) FROM ledger_audit"),
	'RULE-1:adjust,RULE-2:adjust', 'the rule fired for each of the worker\'s ledger rows');
sql('DROP RULE ledger_audit ON inventory_ledger');
later_batch_applied('rule');

# 3. The ledger attached as a partition of another table: its partition
# constraint applies to the worker's rows (here: room for one more id).
my $last = sql('SELECT last_value FROM inventory.inventory_ledger_id_seq');
sql(qq{
	CREATE TABLE ledger_all (LIKE inventory_ledger) PARTITION BY RANGE (id);
	ALTER TABLE ledger_all ATTACH PARTITION inventory_ledger FOR VALUES FROM (MINVALUE) TO (@{[ $last + 2 ]});
});
$b = adjust([ 'PART-1', 1 ]);
is(outcome($b), 'applied', 'ledger as a partition: a row inside its range is written');
$b = adjust([ 'PART-2', 2 ]);
is(outcome($b), 'failed', 'a row outside the partition\'s range fails its batch');
like(sql("SELECT error FROM inventory_batches WHERE batch_id = $b"),
	qr/partition constraint.*23514/, 'with the partition constraint\'s error');
sql('ALTER TABLE ledger_all DETACH PARTITION inventory_ledger; DROP TABLE ledger_all');
later_batch_applied('partition');
verify_clean('partition');

# 4. A BEFORE ROW trigger that clamps on_hand and fires before
# inventory_levels_maintain (names fire in alphabetical order).
sql(qq{
	INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand) VALUES ('CLAMP-A', '$WH', 5);
	CREATE FUNCTION public.clamp_on_hand() RETURNS trigger LANGUAGE plpgsql AS \$\$
	BEGIN
		IF NEW.on_hand > 1000 THEN
			NEW.on_hand := 1000;
			NEW.available := NEW.on_hand - NEW.reserved;
		END IF;
		RETURN NEW;
	END \$\$;
	CREATE TRIGGER aa_clamp BEFORE INSERT OR UPDATE ON inventory_levels
		FOR EACH ROW EXECUTE FUNCTION public.clamp_on_hand();
});
$b = adjust([ 'CLAMP-A', 2000 ], [ 'CLAMP-A', 3000 ], [ 'CLAMP-B', 4000 ]);
is(outcome($b), 'applied', 'aa_clamp: the batch is applied');
rows_hold("sku LIKE 'CLAMP-%'",
	'CLAMP-A=1000,CLAMP-B=1000', 'aa_clamp: the rows hold what the trigger made of them');
ledger_chain($b,
	'1:5>2000,2:2000>1000,3:0>1000', 'aa_clamp: the ledger chains to the row as written');
verify_clean('aa_clamp');
later_batch_applied('aa_clamp');
sql('DROP TRIGGER aa_clamp ON inventory_levels');

# 5. The same trigger firing after inventory_levels_maintain.
sql(q{
	CREATE TRIGGER zz_clamp BEFORE INSERT OR UPDATE ON inventory_levels
		FOR EACH ROW EXECUTE FUNCTION public.clamp_on_hand();
});
$b = adjust([ 'CLAMP-A', 2500 ], [ 'CLAMP-A', 3000 ], [ 'CLAMP-C', 4000 ]);
is(outcome($b), 'applied', 'zz_clamp: the batch is applied');
rows_hold("sku IN ('CLAMP-A', 'CLAMP-C')",
	'CLAMP-A=1000,CLAMP-C=1000', 'zz_clamp: the rows hold what the trigger made of them');
ledger_chain($b,
	'1:1000>2500,2:2500>1000,3:0>1000', 'zz_clamp: the ledger records the row as written, not 3000');
verify_clean('zz_clamp');
later_batch_applied('zz_clamp');
sql('DROP TRIGGER zz_clamp ON inventory_levels');

# 5b. A BEFORE UPDATE trigger that skips the write of some rows (returns
# NULL), counting its calls: the apply writes a row it read without a
# lock only if no one wrote it since, so a row the UPDATE did not return
# is either someone else's write (evaluated again under the lock) or the
# trigger's choice.  Here it is the trigger's: it fired once, the row
# keeps its values, and the ledger chains to it as it is.
sql(qq{
	INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand)
		VALUES ('KEEP-A', '$WH', 5), ('KEEP-B', '$WH', 5);
	CREATE TABLE public.keep_calls (sku text);
	CREATE FUNCTION public.keep_some() RETURNS trigger LANGUAGE plpgsql AS \$\$
	BEGIN
		INSERT INTO public.keep_calls VALUES (NEW.sku);
		RETURN CASE WHEN NEW.sku = 'KEEP-A' THEN NULL ELSE NEW END;
	END \$\$;
	CREATE TRIGGER keep_some BEFORE UPDATE ON inventory_levels
		FOR EACH ROW EXECUTE FUNCTION public.keep_some();
});
$b = adjust([ 'KEEP-A', 9 ], [ 'KEEP-A', 11 ], [ 'KEEP-B', 12 ]);
is(outcome($b), 'applied', 'keep_some: the batch is applied');
rows_hold("sku LIKE 'KEEP-%'",
	'KEEP-A=5,KEEP-B=12', 'keep_some: the row the trigger skipped keeps its values');
is(sql("SELECT string_agg(sku || ':' || n, ',' ORDER BY sku) FROM (SELECT sku, count(*) AS n FROM public.keep_calls GROUP BY sku) c"),
	'KEEP-A:1,KEEP-B:1', 'keep_some: the trigger fired once for each row');
ledger_chain($b,
	'1:5>9,2:9>5,3:5>12', 'keep_some: the ledger chains to the rows as they are');
verify_clean('keep_some');
sql('DROP TRIGGER keep_some ON inventory_levels; DROP FUNCTION public.keep_some(); DROP TABLE public.keep_calls');
later_batch_applied('keep_some');

# 6. A trigger that breaks available = on_hand - reserved: the batch fails
# on the CHECK constraint, later batches go on.
sql(q{
	CREATE FUNCTION public.break_available() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN NEW.on_hand := NEW.on_hand + 1; RETURN NEW; END $$;
	CREATE TRIGGER zz_break BEFORE UPDATE ON inventory_levels
		FOR EACH ROW EXECUTE FUNCTION public.break_available();
});
$b = adjust([ 'CLAMP-A', 7 ]);
is(outcome($b), 'failed', 'a trigger violating the CHECK fails the batch');
like(sql("SELECT error FROM inventory_batches WHERE batch_id = $b"), qr/23514/, 'with the check error');
sql('DROP TRIGGER zz_break ON inventory_levels');
later_batch_applied('CHECK');

# 6b. Row-level security turned on for inventory_warehouses: the check of
# a batch's warehouses then runs as a SELECT, and still accepts registered
# warehouses and refuses others.
sql(q{ALTER TABLE inventory_warehouses ENABLE ROW LEVEL SECURITY});
$b = adjust([ 'RLS-A', 3 ]);
is(outcome($b), 'applied', 'warehouses under row-level security: a batch for a registered warehouse is queued and applied');
my ($rc, $out, $err) = try_psql($node, 'postgres',
	q{SELECT inventory_adjust('[{"sku": "RLS-B", "warehouse_uuid": "00000000-0000-4000-8000-000000000000", "on_hand": 1}]')}, 30);
like($err, qr/warehouse "00000000-0000-4000-8000-000000000000" is not registered/,
	'and an unregistered warehouse is refused');
sql(q{ALTER TABLE inventory_warehouses DISABLE ROW LEVEL SECURITY});

# A statement trigger of the owner's, counting in the level row TOTAL the
# UPDATE statements on inventory_levels (sections 7 and 8).
my $count_updates_trigger = q{
	CREATE TRIGGER count_updates AFTER UPDATE ON inventory_levels
		FOR EACH STATEMENT EXECUTE FUNCTION public.count_updates();
};
my $count_updates_sql = qq{
	CREATE FUNCTION public.count_updates() RETURNS trigger LANGUAGE plpgsql AS \$\$
	BEGIN
		IF pg_catalog.pg_trigger_depth() = 1 THEN
			UPDATE inventory.inventory_levels SET on_hand = on_hand + 1
			 WHERE sku = 'TOTAL' AND warehouse_uuid = '$WH';
		END IF;
		RETURN NULL;
	END \$\$;
} . $count_updates_trigger;

# 7. A statement trigger that updates another level row: an ordinary
# write, with its ledger row ('direct'); the worker is not wedged.
sql(qq{
	INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand) VALUES ('TOTAL', '$WH', 0);
	INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand) VALUES ('STMT-A', '$WH', 1);
$count_updates_sql});
$b = adjust([ 'STMT-A', 10 ], [ 'STMT-B', 20 ]);
is(outcome($b), 'applied', 'statement trigger updating another row: the batch is applied');
is(sql("SELECT on_hand FROM inventory_levels WHERE sku = 'TOTAL'"), '1',
	'the trigger\'s own update was made');
is(sql("SELECT string_agg(source || ':' || on_hand_before || '>' || on_hand_after, ',' ORDER BY id) FROM inventory_ledger WHERE sku = 'TOTAL'"),
	'direct:0>1', 'and has its ledger row, as a direct change');
is(sql("SELECT count(*) FROM inventory_ledger WHERE batch_id = $b"), '2', 'the batch has one ledger row per item');
verify_clean('statement trigger');
later_batch_applied('statement trigger');
sql('DROP TRIGGER count_updates ON inventory_levels');

# 7b. A nested update: a row trigger of the owner's that, when the apply
# writes one level row, updates another row the same chunk writes.  AFTER
# ROW triggers fire when the apply's UPDATE ends, so the nested write comes
# after the apply's: the ledger takes the apply's ids before it writes, and
# each key's chain stays in order.
sql(qq{
	INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand) VALUES
		('NEST-A', '$WH', 1), ('NEST-B', '$WH', 1);
	CREATE FUNCTION public.nest_bump() RETURNS trigger LANGUAGE plpgsql AS \$\$
	BEGIN
		IF NEW.sku = 'NEST-A' AND pg_catalog.pg_trigger_depth() = 1 THEN
			UPDATE inventory.inventory_levels SET on_hand = on_hand + 100
			 WHERE sku = 'NEST-B' AND warehouse_uuid = '$WH';
		END IF;
		RETURN NEW;
	END \$\$;
	CREATE TRIGGER nest_bump AFTER UPDATE ON inventory_levels
		FOR EACH ROW EXECUTE FUNCTION public.nest_bump();
});
$b = adjust([ 'NEST-A', 10 ], [ 'NEST-B', 20 ]);
is(outcome($b), 'applied', 'nested update from an AFTER ROW trigger: the batch is applied');
rows_hold("sku LIKE 'NEST-%'",
	'NEST-A=10,NEST-B=120', 'nested update: the trigger\'s write is on top of the apply\'s');
is(sql("SELECT string_agg(source || ':' || on_hand_before || '>' || on_hand_after, ',' ORDER BY id) FROM inventory_ledger WHERE sku = 'NEST-B'"),
	'direct:0>1,adjust:1>20,direct:20>120', 'nested update: the ledger chains the apply\'s write, then the trigger\'s');
verify_clean('nested update');
later_batch_applied('nested update');
sql('DROP TRIGGER nest_bump ON inventory_levels');

# 7c. The same nested update from a BEFORE ROW trigger changes a row the
# apply's own statement has yet to write, which PostgreSQL refuses for any
# statement: the batch fails with that error, and later batches go on.
sql(q{
	CREATE TRIGGER nest_bump BEFORE UPDATE ON inventory_levels
		FOR EACH ROW EXECUTE FUNCTION public.nest_bump();
});
$b = adjust([ 'NEST-A', 11 ], [ 'NEST-B', 21 ]);
is(outcome($b), 'failed', 'nested update from a BEFORE ROW trigger: the batch fails');
like(sql("SELECT error FROM inventory_batches WHERE batch_id = $b"),
	qr/already modified by an operation triggered by the current command/, 'with PostgreSQL\'s error');
rows_hold("sku LIKE 'NEST-%'",
	'NEST-A=10,NEST-B=120', 'and changes nothing');
sql('DROP TRIGGER nest_bump ON inventory_levels');
later_batch_applied('nested update before');
verify_clean('nested update before');

# The same through inventory_process_queue() in a session.
sql(qq{
	ALTER SYSTEM SET inventory.enabled = off; SELECT pg_reload_conf();
});
ok(poll_until($node, 'postgres', 'SELECT enabled FROM inventory_worker_status()', 'f', 30),
	'worker paused');
sql($count_updates_trigger);
$b = adjust([ 'STMT-A', 11 ]);
is(sql('SELECT inventory_process_queue()'), '1', 'inventory_process_queue applies the batch');
is(sql("SELECT on_hand FROM inventory_levels WHERE sku = 'TOTAL'"), '2', 'the trigger\'s update was made');
is(sql("SELECT count(*) FROM inventory_ledger WHERE sku = 'TOTAL'"), '2', 'and recorded in the ledger');
verify_clean('inventory_process_queue');
sql('DROP TRIGGER count_updates ON inventory_levels; ALTER SYSTEM RESET inventory.enabled; SELECT pg_reload_conf();');

# 8. A database still at 1.0 (its ledger trigger skips every write while
# inventory.change_source = 'adjust'): one ledger row per applied item.
# (The launcher serves this database too: wait for the batch, whoever
# applies it.)
sql('CREATE DATABASE old10');
my $old_b = $node->safe_psql('old10', qq{
	CREATE EXTENSION inventory VERSION '1.0';
	INSERT INTO inventory_warehouses (uuid, name) VALUES ('$WH', 'Main');
	INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand) VALUES ('OLD-A', '$WH', 1);
	SELECT inventory_adjust('[{"sku": "OLD-A", "warehouse_uuid": "$WH", "on_hand": 5},
		{"sku": "OLD-B", "warehouse_uuid": "$WH", "on_hand": 6}]');
});
is($node->safe_psql('old10', "SELECT inventory_wait($old_b)"), 'applied', '1.0: the batch is applied');
is($node->safe_psql('old10', "SELECT count(*) FROM inventory_ledger WHERE source = 'adjust'"), '2',
	'1.0: one ledger row per item');
is($node->safe_psql('old10', 'SELECT count(*) FROM inventory_verify()'), '0', '1.0: inventory_verify() is clean');

# Updated (to the current version, through 1.1), the same database records
# the writes of an owner's trigger during the apply.
$old_b = $node->safe_psql('old10', qq{
	ALTER EXTENSION inventory UPDATE;
	INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand) VALUES ('TOTAL', '$WH', 0);
$count_updates_sql	SELECT inventory_adjust('[{"sku": "OLD-A", "warehouse_uuid": "$WH", "on_hand": 7}]');
});
is($node->safe_psql('old10', "SELECT inventory_wait($old_b)"), 'applied', 'updated: the batch is applied');
is($node->safe_psql('old10', "SELECT string_agg(source, ',' ORDER BY id) FROM inventory_ledger WHERE sku IN ('OLD-A', 'TOTAL') AND id > 2"),
	'adjust,direct', 'updated: the item and the trigger\'s write (made after it) each have their ledger row, in that order');
is($node->safe_psql('old10', 'SELECT count(*) FROM inventory_verify()'), '0', 'updated: inventory_verify() is clean');

done_testing();
