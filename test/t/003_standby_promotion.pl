
# The worker and streaming replication: batches queued on the primary while
# its worker is paused reach the standby still queued; no worker runs on the
# standby; after promotion the standby's worker applies them exactly once.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use FindBin;
use lib "$FindBin::RealBin/../perl";
use InventoryTest;

my $WH = '33333333-3333-4333-8333-333333333333';
my $CONF = qq{
log_line_prefix = '%m [%p] %b '
shared_preload_libraries = 'inventory'
inventory.database = 'postgres'
inventory.naptime = '100ms'
};

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', $CONF . $SEARCH_PATH_CONF);
$primary->start;
$primary->safe_psql('postgres', qq{
	CREATE EXTENSION inventory;
	INSERT INTO inventory_warehouses (uuid, name) VALUES ('$WH', 'Replicated');
});

# The worker of the primary works.
my $b0 = $primary->safe_psql('postgres',
	qq{SELECT inventory_adjust('[{"sku": "REP-0", "warehouse_uuid": "$WH", "on_hand": 5}]')});
is($primary->safe_psql('postgres', "SELECT inventory_wait($b0, '60 s')"), 'applied',
	'primary worker applies a batch');

# The standby, streaming from the primary, with the worker enabled in its
# own configuration (the primary is paused below by its own configuration).
$primary->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->append_conf('postgresql.conf', "inventory.enabled = on");
$standby->start;

# Pause the primary's worker.
$primary->append_conf('postgresql.conf', 'inventory.enabled = off');
$primary->reload;
ok(poll_until($primary, 'postgres', 'SELECT enabled FROM inventory_worker_status()', 'f', 60),
	'primary worker reports itself paused');

# Queue batches of 1..5 items; SKUs overlap so that order matters.
my (%items, @batches);
my %model = ('REP-0' => 5);
for my $i (1 .. 25)
{
	my $n = 1 + ($i % 5);
	my @json;
	for my $j (1 .. $n)
	{
		my $sku = 'REP-' . (($i * 7 + $j) % 12);
		my $v = $i * 100 + $j;
		push @json, sprintf('{"sku": "%s", "warehouse_uuid": "%s", "on_hand": %d}', $sku, $WH, $v);
		$model{$sku} = $v;
	}
	my $b = $primary->safe_psql('postgres', "SELECT inventory_adjust('[" . join(', ', @json) . "]')");
	push @batches, $b;
	$items{$b} = $n;
}
my $blist = join(',', @batches);
ok(poll_until($primary, 'postgres', 'SELECT state FROM inventory_worker_status()', 'paused', 30),
	'the primary says its database is paused with batches queued');
is($primary->safe_psql('postgres',
		"SELECT count(*) FROM inventory_batches WHERE batch_id IN ($blist) AND state = 'queued'"),
	scalar(@batches), 'the batches stay queued on the paused primary');

$primary->wait_for_catchup($standby);

is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'standby is in recovery');
my @samples;
for (1 .. 5)
{
	push @samples, $standby->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'inventory worker'");
	usleep(300_000);
}
is(join(',', @samples), '0,0,0,0,0', 'no inventory worker on the standby');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM inventory_worker_status()'), '0',
	'inventory_worker_status() has no row on the standby');
is($standby->safe_psql('postgres',
		"SELECT count(*) FROM inventory_batches WHERE batch_id IN ($blist) AND state = 'queued'"),
	scalar(@batches), 'the batches are queued on the standby');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM inventory_ledger WHERE batch_id IS NOT NULL AND batch_id <> ' . $b0),
	'0', 'no ledger rows for them on the standby');

# Fail over: stop the primary, promote the standby.
$primary->stop;
my $off = -s $standby->logfile;
$standby->promote;
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 'f', 'standby promoted');
ok(poll_until($standby, 'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'inventory worker'", '1', 30),
	'the worker starts after promotion');
ok(poll_until($standby, 'postgres',
		"SELECT count(*) FROM inventory_batches WHERE batch_id IN ($blist) AND state = 'applied'",
		scalar(@batches), 60),
	'every replicated batch is applied on the promoted standby');

my %ledger = map { split /\|/ } split /\n/, $standby->safe_psql('postgres', qq{
	SELECT batch_id || '|' || count(*) FROM inventory_ledger
	 WHERE batch_id IN ($blist) GROUP BY batch_id});
my @wrong = grep { ($ledger{$_} // 0) != $items{$_} } @batches;
is(scalar(@wrong), 0, 'one ledger row per item of each batch (ledger rows = item_count)')
  or diag(join("\n", map { "batch $_: $items{$_} items, " . ($ledger{$_} // 0) . ' ledger rows' } @wrong));
is($standby->safe_psql('postgres', qq{
	SELECT count(*) FROM (SELECT batch_id, item FROM inventory_ledger
	 WHERE batch_id IN ($blist) GROUP BY 1, 2 HAVING count(*) > 1) d}),
	'0', 'no (batch_id, item) twice in the ledger');
is($standby->safe_psql('postgres', qq{
	SELECT string_agg(batch_id || ':' || item_count, ',' ORDER BY batch_id) FROM inventory_batches
	 WHERE batch_id IN ($blist)}),
	join(',', map { "$_:$items{$_}" } @batches), 'item_count of each batch as queued');

my $levels = $standby->safe_psql('postgres', qq{
	SELECT string_agg(sku || '=' || on_hand, ',' ORDER BY sku) FROM inventory_levels
	 WHERE sku LIKE 'REP-%'});
is($levels, join(',', map { "$_=$model{$_}" } sort keys %model),
	'levels are those of the batches applied in id order');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM inventory_verify()'), '0',
	'inventory_verify() is empty on the promoted standby');

# New batches on the promoted standby get new ids and are applied.
my $bnew = $standby->safe_psql('postgres',
	qq{SELECT inventory_adjust('[{"sku": "REP-NEW", "warehouse_uuid": "$WH", "on_hand": 1}]')});
cmp_ok($bnew, '>', $batches[-1], "a new batch id ($bnew) after the replicated ones");
is($standby->safe_psql('postgres', "SELECT inventory_wait($bnew, '60 s')"), 'applied',
	'a new batch is applied on the promoted standby');

my @errs = worker_lines($standby, $off, qr/^(ERROR|FATAL|PANIC)$/, qr/./);
is(scalar(@errs), 0, 'no worker errors on the promoted standby') or diag(join("\n", @errs));

$standby->stop;
done_testing();
