
# The worker's private memory is bounded by a constant, whatever the input:
#  - one hot key: 800 batches of 50 items, all the same (sku, warehouse),
#    each with a 1000-character description of 4-byte characters, applied
#    in one round;
#  - a round with 6 000 one-item batches and one whose warehouse was
#    deleted after it was queued, which makes the worker look for the
#    failing batch.
# The worker's RssAnon (/proc/<pid>/status) is sampled while it applies
# and must stay under 64 MB.  INVENTORY_MEMORY_SCALE=10 runs both at 10
# times the size.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use FindBin;
use lib "$FindBin::RealBin/../perl";
use InventoryTest;

my $SCALE = $ENV{INVENTORY_MEMORY_SCALE} // 1;
my $LIMIT_KB = 64 * 1024;
my $WH = '5b1e7a9c-0d2f-4e6a-9b3c-1f2e3d4c5b6a';
my $GONE = '0d5e2a4c-8b1f-4c3d-9e7a-6f5b4a3c2d1e';

my $node = inventory_node('memory', utf8 => 1);
$node->safe_psql('postgres', qq{
	CREATE EXTENSION inventory;
	INSERT INTO inventory_warehouses (uuid, name) VALUES ('$WH', 'Main'), ('$GONE', 'Closing');
});
# the launcher's start-up visit gives the database its worker, which stays
$node->restart;
ok(poll_until($node, 'postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'inventory worker'", '1', 60),
	'worker is running');

sub set_enabled
{
	my ($on) = @_;
	$node->safe_psql('postgres',
		"ALTER SYSTEM SET inventory.enabled = " . ($on ? 'on' : 'off') . "; SELECT pg_reload_conf();");
	return poll_until($node, 'postgres', 'SELECT enabled FROM inventory_worker_status()',
		$on ? 't' : 'f', 30);
}

sub rss_anon_kb
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/status") or return undef;
	while (<$fh>)
	{
		return $1 if /^RssAnon:\s+(\d+)\s+kB/;
	}
	return undef;
}

# Let the worker apply what is queued, sampling its RssAnon; returns the
# largest sample in kB.
sub apply_and_measure
{
	my ($timeout) = @_;
	my $pid = worker_pid($node);
	my $max = rss_anon_kb($pid) // 0;
	my $deadline = time + $timeout;
	# resume without waiting: the worker reports itself enabled only after
	# its first round, which is the one to watch
	$node->safe_psql('postgres',
		'ALTER SYSTEM SET inventory.enabled = on; SELECT pg_reload_conf();');
	while (time < $deadline)
	{
		# sample every 5 ms, look at the queue every 0.25 s
		for (1 .. 50)
		{
			my $rss = rss_anon_kb($pid);
			$max = $rss if defined $rss && $rss > $max;
			usleep(5_000);
		}
		my ($rc, $out) = try_psql($node, 'postgres', 'SELECT queued_batches FROM inventory_queue_summary');
		last if $rc == 0 && $out eq '0';
	}
	my $rss = rss_anon_kb($pid);
	$max = $rss if defined $rss && $rss > $max;
	is(worker_pid($node), $pid, 'the same worker process applied it all');
	return $max;
}

ok(set_enabled(0), 'worker paused while batches are queued');

# 1. One hot key.
my $hot_batches = 800 * $SCALE;
$node->safe_psql('postgres', qq{
	SELECT inventory_adjust(b.body)
	  FROM generate_series(1, $hot_batches) AS g(n),
	       LATERAL (SELECT jsonb_agg(jsonb_build_object('sku', 'HOT', 'warehouse_uuid', '$WH',
	                                'on_hand', g.n * 100 + i, 'description', repeat(chr(128512), 1000)))
	                  FROM generate_series(1, 50) AS i) AS b(body);
});
my $max = apply_and_measure(600 * $SCALE);
cmp_ok($max, '<', $LIMIT_KB, "hot key: worker RssAnon stayed under 64 MB (max $max kB)");
diag("hot key, scale $SCALE: worker RssAnon max $max kB");
is($node->safe_psql('postgres', "SELECT count(*) FILTER (WHERE state = 'applied') FROM inventory_batches"),
	$hot_batches, 'hot key: every batch applied');
is($node->safe_psql('postgres', "SELECT on_hand FROM inventory_levels WHERE sku = 'HOT'"),
	$hot_batches * 100 + 50, 'hot key: the last item wins');
is($node->safe_psql('postgres', "SELECT count(*) FROM inventory_ledger WHERE sku = 'HOT'"),
	$hot_batches * 50, 'hot key: one ledger row per item');
is($node->safe_psql('postgres', 'SELECT count(*) FROM inventory_verify()'), '0',
	'hot key: inventory_verify() is clean');

# 2. Many one-item batches, the last one failing.
ok(set_enabled(0), 'worker paused again');
my $small = 6000 * $SCALE;
$node->safe_psql('postgres', qq{
	SELECT inventory_adjust(jsonb_build_array(jsonb_build_object(
	           'sku', 'S-' || n, 'warehouse_uuid', '$WH', 'on_hand', n)))
	  FROM generate_series(1, $small) AS n;
});
my $bad = $node->safe_psql('postgres', qq{
	SELECT inventory_adjust('[{"sku": "GONE", "warehouse_uuid": "$GONE", "on_hand": 1}]');
});
$node->safe_psql('postgres', "DELETE FROM inventory_warehouses WHERE uuid = '$GONE'");
$max = apply_and_measure(600 * $SCALE);
cmp_ok($max, '<', $LIMIT_KB, "failing batch: worker RssAnon stayed under 64 MB (max $max kB)");
diag("failing batch, scale $SCALE: worker RssAnon max $max kB");
is($node->safe_psql('postgres', "SELECT state FROM inventory_batches WHERE batch_id = $bad"),
	'failed', 'the batch whose warehouse went is failed');
is($node->safe_psql('postgres', "SELECT count(*) FROM inventory_levels WHERE sku LIKE 'S-%'"),
	$small, 'every other batch is applied');
is($node->safe_psql('postgres', 'SELECT count(*) FROM inventory_verify()'), '0',
	'inventory_verify() is clean');

$node->safe_psql('postgres', 'ALTER SYSTEM RESET inventory.enabled; SELECT pg_reload_conf();');
done_testing();
