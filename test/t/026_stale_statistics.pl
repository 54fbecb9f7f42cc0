# The apply finds a chunk's level rows by probing the primary key once per
# key, whatever the statistics of inventory_levels say.  Planned while the
# table looked empty (a new install, or statistics taken after most rows
# were deleted), a plain join of the keys with the table scanned the whole
# table for every key, and the worker kept that plan while its rounds
# filled the table: a drain creating 20 000 rows took 16 s instead of
# 0.1 s (BENCHMARKS.md).  Timing is the benchmark's business; here the
# plans the worker ran are read from auto_explain: with statistics that
# say the table is empty while it holds rows, the statements that find
# rows by key probe an index with each key, none filters a join of the
# keys with the table, and the statement that writes the rows read or
# locked fetches each by its ctid (a TID scan per key, in the keys' order:
# no sequential scan, hash or merge join, which a cheap plan of an "empty"
# table would otherwise be).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use InventoryTest;

my $WH = 'f1d1e000-0000-4000-8000-000000000003';
my $node = inventory_node('stale_statistics', conf => qq{
shared_preload_libraries = 'inventory, auto_explain'
auto_explain.log_nested_statements = on
});
install_extension($node, $WH);

sub sql { return $node->safe_psql('postgres', $_[0]); }

# statistics of a table that held 3 000 rows and lost them all, then rows
# that the statistics do not know of: 400 existing keys the batches
# update, and 20 000 others (few enough pages that a hash join of the
# 480 keys with the whole table would look cheaper than 480 TID fetches)
sql(qq{
	INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand)
	SELECT 'OLD-' || i, '$WH', 1 FROM generate_series(1, 3000) i;
	DELETE FROM inventory_levels;
	VACUUM ANALYZE inventory_levels;
	INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand)
	SELECT 'STALE-' || lpad(i::text, 3, '0'), '$WH', 5 FROM generate_series(1, 400) i;
	INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand)
	SELECT 'FILL-' || i, '$WH', 1 FROM generate_series(1, 20000) i;
});
is(sql(q{SELECT reltuples <= 1 FROM pg_class WHERE oid = 'inventory_levels'::regclass}), 't',
	'the statistics say inventory_levels is empty');

# every plan the worker runs from now on is logged
sql('ALTER SYSTEM SET auto_explain.log_min_duration = 0');
sql('SELECT pg_reload_conf()');
ok(poll_until($node, 'postgres', 'SHOW auto_explain.log_min_duration', '0', 10), 'auto_explain is on');
my $from = -s $node->logfile;

# 384 of 400 existing keys and 96 new ones, with deltas and absolute
# values, in ten batches (a batch holds at most 50 items) queued in one
# transaction, so that one round applies them: every row read changes,
# so the round writes them without locking them first
my @calls;
for my $first (map { 1 + 50 * $_ } 0 .. 9)
{
	my $body = join(', ', map {
		sprintf('{"sku": "STALE-%03d", "warehouse_uuid": "%s", %s}', $_, $WH,
			$_ % 2 ? '"on_hand_delta": 2' : '"on_hand": 9')
	} $first .. $first + 47);
	push @calls, "SELECT inventory_adjust('[$body]');";
}
my @ids = split /\n/, sql(join("\n", 'BEGIN;', @calls, 'COMMIT;'));
is(scalar(@ids), 10, 'ten batches were queued');
is(sql("SELECT inventory_wait($ids[-1])"), 'applied', 'the batches are applied');

# the 16 existing keys left, set to what they hold: rows that do not
# change are locked (in key order: all at once, before any is written, when
# most of a chunk's rows do not change), not written
my $body = join(', ', map {
	sprintf('{"sku": "STALE-%03d", "warehouse_uuid": "%s", "on_hand": 5}', $_, $WH)
} map { (50 * $_ - 1, 50 * $_) } 1 .. 8);
my $id = sql("SELECT inventory_adjust('[$body]')");
is(sql("SELECT inventory_wait($id)"), 'applied', 'the batch of unchanged rows is applied');
is(sql(q{SELECT count(*) FILTER (WHERE on_hand = 7) || ' ' || count(*) FILTER (WHERE on_hand = 9)
           || ' ' || count(*) FILTER (WHERE on_hand = 2) || ' ' || count(*) FILTER (WHERE on_hand = 5)
           FROM inventory_levels WHERE sku LIKE 'STALE-%'}),
	'192 240 48 16', 'existing rows got their deltas and values, new rows were created');
is(sql("SELECT count(*) FROM inventory_ledger WHERE batch_id = $id AND on_hand_before = 5 AND on_hand_after = 5"),
	'16', 'and each unchanged row has its ledger row');

# the worker's plans: its log lines from $from on
sql('ALTER SYSTEM RESET auto_explain.log_min_duration');
sql('SELECT pg_reload_conf()');
my $log = substr(slurp_file($node->logfile), $from);
my @plans = split /(?=^\S.*LOG:  duration: )/m, $log;
my @read = grep { /Query Text: SELECT l\.\* .*inventory_levels/ && !/FOR NO KEY UPDATE/ } @plans;
my @lock = grep { /Query Text: SELECT l\.\* .*inventory_levels.*FOR NO KEY UPDATE OF l/ } @plans;
my @update = grep { /Query Text: UPDATE \S*inventory_levels AS l SET on_hand.*row_xmin/ } @plans;
ok(scalar(@read) >= 1, 'the plan of the statement that reads the rows was logged')
  or diag(substr($log, 0, 3000));
ok(scalar(@update) >= 1, 'the plan of the statement that writes the rows read was logged');
ok(scalar(@lock) >= 1, 'the plan of the statement that locks the rows was logged');
for my $p (@update)
{
	like($p, qr/Nested Loop.*\n.*Function Scan on k.*\n.*Tid Scan on inventory_levels l.*\n.*TID Cond: \(ctid = k\.row_id\)/,
		'the write fetches each row by its ctid, in the keys\' order')
	  or diag($p);
	unlike($p, qr/Seq Scan|Hash Join|Merge Join/, 'and neither scans nor joins the whole table');
}
for my $p (@read, @lock)
{
	like($p,
		qr/Index Cond: \(\((?:sku = k\.sku\) AND \(warehouse_uuid = k\.wh|warehouse_uuid = k\.wh\) AND \(sku = k\.sku)\)\)/,
		'the statement probes an index with each key');
	unlike($p, qr/Join Filter:.*k\.sku/, 'and filters no join of the keys with the table');
}

done_testing();
