# The apply finds a chunk's level rows by probing the primary key once per
# key, whatever the statistics of inventory_levels say.  Planned while the
# table looked empty (a new install, or statistics taken after most rows
# were deleted), a plain join of the keys with the table scanned the whole
# table for every key, and the worker kept that plan while its rounds
# filled the table: a drain creating 20 000 rows took 16 s instead of
# 0.1 s (BENCHMARKS.md).  Timing is the benchmark's business; here the
# plans the worker ran are read from auto_explain: with statistics that
# say the table is empty while it holds rows, the statements that lock and
# update the rows probe an index with each key, and none filters a join
# of the keys with the table.

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
# that the statistics do not know of: 40 existing keys the batch updates
sql(qq{
	INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand)
	SELECT 'OLD-' || i, '$WH', 1 FROM generate_series(1, 3000) i;
	DELETE FROM inventory_levels;
	VACUUM ANALYZE inventory_levels;
	INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand)
	SELECT 'STALE-' || lpad(i::text, 3, '0'), '$WH', 5 FROM generate_series(1, 40) i;
});
is(sql(q{SELECT reltuples <= 1 FROM pg_class WHERE oid = 'inventory_levels'::regclass}), 't',
	'the statistics say inventory_levels is empty');

# every plan the worker runs from now on is logged
sql('ALTER SYSTEM SET auto_explain.log_min_duration = 0');
sql('SELECT pg_reload_conf()');
ok(poll_until($node, 'postgres', 'SHOW auto_explain.log_min_duration', '0', 10), 'auto_explain is on');
my $from = -s $node->logfile;

# 40 existing keys and 40 new ones, with deltas and absolute values
# in two batches (a batch holds at most 50 items)
my @ids;
for my $chunk ([ 1 .. 50 ], [ 51 .. 80 ])
{
	my $body = join(', ', map {
		sprintf('{"sku": "STALE-%03d", "warehouse_uuid": "%s", %s}', $_, $WH,
			$_ % 2 ? '"on_hand_delta": 2' : '"on_hand": 9')
	} @$chunk);
	push @ids, sql("SELECT inventory_adjust('[$body]')");
}
is(sql("SELECT inventory_wait($ids[-1])"), 'applied', 'the batches are applied');
is(sql(q{SELECT count(*) FILTER (WHERE on_hand = 7) || ' ' || count(*) FILTER (WHERE on_hand = 9)
           || ' ' || count(*) FILTER (WHERE on_hand = 2)
           FROM inventory_levels WHERE sku LIKE 'STALE-%'}),
	'20 40 20', 'existing rows got their deltas, new rows were created');

# the worker's plans: its log lines from $from on
sql('ALTER SYSTEM RESET auto_explain.log_min_duration');
sql('SELECT pg_reload_conf()');
my $log = substr(slurp_file($node->logfile), $from);
my @plans = split /(?=^\S.*LOG:  duration: )/m, $log;
my @lock = grep { /Query Text: SELECT l\.sku.*inventory_levels.*FOR NO KEY UPDATE OF l/ } @plans;
my @update = grep { /Query Text: UPDATE \S*inventory_levels AS l SET on_hand/ } @plans;
ok(scalar(@lock) >= 1, 'the plan of the statement that locks the rows was logged')
  or diag(substr($log, 0, 3000));
ok(scalar(@update) >= 1, 'the plan of the statement that updates the rows was logged');
for my $p (@lock, @update)
{
	like($p,
		qr/Index Cond: \(\((?:sku = k\.sku\) AND \(warehouse_uuid = k\.wh|warehouse_uuid = k\.wh\) AND \(sku = k\.sku)\)\)/,
		'the statement probes an index with each key');
	unlike($p, qr/Join Filter:.*k\.sku/, 'and filters no join of the keys with the table');
}

done_testing();
