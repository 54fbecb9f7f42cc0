
# An error that is not a batch's fault (here: the worker's statement is
# cancelled while it waits for a row lock) rolls the round back and the
# worker carries on: the batch stays queued, is applied once the lock goes,
# and the worker holds no locks in between (an inventory_process_queue()
# call elsewhere does not wait for it).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use InventoryTest;

my $WH = '5b1e7a9c-0d2f-4e6a-9b3c-1f2e3d4c5b6a';

my $node = inventory_node('transient');
install_extension($node, $WH, qq{
	INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand) VALUES ('HELD', '$WH', 1);
});
my $pid = worker_pid($node);

# A session locks the row the next batch sets.
my $holder = $node->background_psql('postgres', on_error_stop => 1);
$holder->query_safe("BEGIN; SELECT on_hand FROM inventory_levels WHERE sku = 'HELD' FOR UPDATE;");

my $b = $node->safe_psql('postgres', qq{
	SELECT inventory_adjust('[{"sku": "HELD", "warehouse_uuid": "$WH", "on_hand": 7}]')});
ok(poll_until($node, 'postgres',
		"SELECT wait_event_type FROM pg_stat_activity WHERE pid = $pid", 'Lock', 30),
	'the worker waits for the row lock inside its round');

# Cancel the worker's statement: a transient error inside the round.
my $off = -s $node->logfile;
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
ok(wait_for_log_line($node, qr/canceling statement due to user request/, $off, 30),
	'the cancel reached the worker');

# The round was rolled back: the batch is still queued, the worker holds
# no lock on the extension's tables, and another applier does not wait.
ok(poll_until($node, 'postgres',
		"SELECT count(*) FROM pg_locks WHERE pid = $pid AND locktype IN ('relation', 'advisory') "
		  . "AND relation IS DISTINCT FROM 'pg_locks'::regclass AND granted "
		  . "AND (locktype = 'advisory' OR relation::regclass::text LIKE 'inventory%')", '0', 30),
	'the worker released the round\'s locks after the error');
is($node->safe_psql('postgres', "SELECT state FROM inventory_batches WHERE batch_id = $b"),
	'queued', 'the batch is still queued');
is($node->safe_psql('postgres', "SET lock_timeout = '5s'; SELECT inventory_process_queue(0)"),
	'0', 'inventory_process_queue in another session does not wait for the worker');

# The lock goes: the worker, same process, applies the batch, once.
$holder->query_safe('COMMIT;');
$holder->quit;
ok(poll_until($node, 'postgres', "SELECT state FROM inventory_batches WHERE batch_id = $b", 'applied', 30),
	'the batch is applied after the lock is released');
is($node->safe_psql('postgres', "SELECT on_hand FROM inventory_levels WHERE sku = 'HELD'"),
	'7', 'with its value');
is($node->safe_psql('postgres', "SELECT count(*) FROM inventory_ledger WHERE batch_id = $b"),
	'1', 'and one ledger row');
is(worker_pid($node), $pid, 'by the same worker process (no restart needed)');

my $b2 = $node->safe_psql('postgres', qq{
	SELECT inventory_adjust('[{"sku": "HELD", "warehouse_uuid": "$WH", "on_hand": 8}]')});
ok(poll_until($node, 'postgres', "SELECT state FROM inventory_batches WHERE batch_id = $b2", 'applied', 30),
	'and it keeps applying new batches');
is($node->safe_psql('postgres', 'SELECT count(*) FROM inventory_verify()'), '0',
	'inventory_verify() is clean');

$node->stop;
done_testing();
