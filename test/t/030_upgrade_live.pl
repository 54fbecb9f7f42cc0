# ALTER EXTENSION inventory UPDATE from 1.0 while the worker runs and
# clients queue batches: the update waits for nothing it should not, the
# objects are then exactly a fresh install's, every batch accepted before,
# during and after it is applied exactly once (one ledger row per item,
# nothing failed), and inventory_verify() is clean.  Beside it, a database
# left at 1.0 keeps working with the same (new) shared library: its queue
# is applied, its order functions and change feed answer, and the worker's
# retention pass, which 1.0 has no tables for, leaves it alone.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use InventoryTest;

my $WH = 'abcd0000-0000-4000-8000-000000000030';
my $node = inventory_node('upgrade_live', naptime => '100ms', conf => "inventory.retention = '1h'\n");
$node->safe_psql('postgres', 'CREATE DATABASE live; CREATE DATABASE old; CREATE DATABASE fresh');
my $objects_sql = slurp_file("$FindBin::RealBin/../extension_objects.sql");

sub sql { my ($db, $q) = @_; return $node->safe_psql($db, $q); }

# Both databases at 1.0, with levels, a reservation and their ledger.
for my $db (qw(live old))
{
	my $b = sql($db, qq{
		CREATE EXTENSION inventory VERSION '1.0';
		SET search_path = inventory;
		INSERT INTO inventory_warehouses (uuid, name) VALUES ('$WH', 'Main');
		SELECT inventory_adjust((SELECT jsonb_agg(jsonb_build_object(
		           'sku', 'UP-' || i, 'warehouse_uuid', '$WH', 'on_hand', 100)) FROM generate_series(1, 20) i));});
	is(sql($db, "SELECT inventory.inventory_wait($b)"), 'applied', "$db: the worker applies the 1.0 queue");
	sql($db, qq{SELECT inventory.inventory_reserve('order-$db', 'UP-1', '$WH', 3)});
}
sql('fresh', 'CREATE EXTENSION inventory');
my $log_from = -s $node->logfile;

# Clients queue batches (1.0's inventory_adjust, sets by on_hand and by
# available) into "live" for 8 s while it is updated.
my $dir = PostgreSQL::Test::Utils::tempdir();
open my $fh, '>', "$dir/adjust.sql" or die "$dir/adjust.sql: $!";
print $fh qq{SELECT inventory.inventory_adjust((SELECT jsonb_agg(jsonb_build_object(
           'sku', 'UP-' || (1 + floor(random() * 20))::int, 'warehouse_uuid', '$WH',
           CASE WHEN random() < 0.5 THEN 'on_hand' ELSE 'available' END, 10 + floor(random() * 90)::int))
      FROM generate_series(1, 5)));
};
close $fh;
my ($load_out, $load_err) = ('', '');
my $load = IPC::Run::start(
	[ 'pgbench', '-n', '-h', $node->host, '-p', $node->port, '-c', '2', '-T', '8', '-R', '100',
	  '-f', "$dir/adjust.sql", 'live' ],
	'>', \$load_out, '2>', \$load_err);

# Once batches are flowing, update in the middle of them.
ok(poll_until($node, 'live', 'SELECT count(*) > 50 FROM inventory.inventory_batch_history', 't', 30),
	'batches queued by the clients are being applied');
my ($rc, $out, $err) = $node->psql('live', 'ALTER EXTENSION inventory UPDATE', timeout => 60);
is($rc, 0, 'ALTER EXTENSION inventory UPDATE succeeds while the worker applies and clients queue')
  or diag($err);
is(sql('live', "SELECT extversion FROM pg_extension WHERE extname = 'inventory'"), '1.6', 'live is at 1.6');
my $at_update = sql('live', 'SELECT max(batch_id) FROM inventory.inventory_batch_history');
$load->finish;
like($load_out, qr/number of failed transactions: 0/, 'no client call failed, before, during or after the update')
  or diag("$load_out $load_err");
my ($processed) = $load_out =~ m{processed: (\d+)};
cmp_ok($processed, '>', 300, "the clients queued $processed batches");

ok(poll_until($node, 'live', 'SELECT count(*) FROM inventory.inventory_queue', '0', 60), 'the queue is applied');
cmp_ok(sql('live', 'SELECT max(batch_id) FROM inventory.inventory_batch_history'), '>', $at_update,
	'batches queued after the update were applied too');
is(sql('live', $objects_sql), sql('fresh', $objects_sql), 'the objects are exactly a fresh 1.6 install\'s');
is(sql('live', q{
	SELECT count(*) || ' batches, ' || count(*) FILTER (WHERE state <> 'applied') || ' not applied, '
	    || sum(item_count) || ' items'
	  FROM inventory.inventory_batch_history}),
	($processed + 1) . ' batches, 0 not applied, ' . ($processed * 5 + 20) . ' items',
	'every batch accepted was applied, none failed');
is(sql('live', q{
	SELECT count(*) || ' rows for ' || count(DISTINCT (batch_id, item)) || ' items'
	  FROM inventory.inventory_ledger WHERE source = 'adjust'}),
	($processed * 5 + 20) . ' rows for ' . ($processed * 5 + 20) . ' items',
	'each item has exactly one ledger row: none lost, none applied twice');
is(sql('live', 'SELECT count(*) FROM inventory.inventory_verify()'), '0', 'inventory_verify() is clean after the update');
is(sql('live', qq{SELECT (inventory.inventory_reserve('order-2', 'UP-2', '$WH', 1)).reserved}), '1',
	'the order functions work on the updated database');

# "old" is still at 1.0, served by the same library.
is(sql('old', "SELECT extversion FROM pg_extension WHERE extname = 'inventory'"), '1.0', 'old is still at 1.0');
my $b = sql('old', qq{SELECT inventory.inventory_adjust('[{"sku": "UP-1", "warehouse_uuid": "$WH", "available": 50}]')});
is(sql('old', "SELECT inventory.inventory_wait($b)"), 'applied', 'its new batch is applied by the worker');
is(sql('old', q{SELECT on_hand || '/' || reserved || '/' || available FROM inventory.inventory_levels WHERE sku = 'UP-1'}),
	'53/3/50', 'with 1.0\'s semantics (available 50 with 3 reserved: on_hand 53)');
is(sql('old', qq{SELECT (inventory.inventory_reserve('order-3', 'UP-2', '$WH', 4)).available}), '96',
	'its order functions work');
is(sql('old', q{SELECT string_agg(available::text, ',' ORDER BY change_id) FROM inventory.inventory_changes(0) WHERE sku = 'UP-1'}),
	'100,97,50', 'its change feed answers');
is(sql('old', "SELECT outcome FROM inventory.inventory_batch_status($b)"), 'applied', 'its batch status answers');
is(sql('old', 'SELECT count(*) FROM inventory.inventory_verify()'), '0', 'and inventory_verify() is clean');
ok(!grep({ /ERROR|FATAL|PANIC/ && !/canceling statement due to user request/ } log_lines($node, $log_from)),
	'the server logged no error (the worker\'s retention pass skips a database without its tables)')
  or diag(join('', grep { /ERROR|FATAL|PANIC/ } log_lines($node, $log_from)));

# Updated in turn, it is a fresh install too.
sql('old', 'ALTER EXTENSION inventory UPDATE');
is(sql('old', $objects_sql), sql('fresh', $objects_sql), 'old, updated in turn, is a fresh 1.6 install');
is(sql('old', 'SELECT count(*) FROM inventory.inventory_verify()'), '0', 'and is clean');

$node->stop;
done_testing();
