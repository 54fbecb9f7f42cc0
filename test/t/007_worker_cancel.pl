
# pg_cancel_backend on the worker ends only its current round: cancelled
# while idle, the same process goes on applying; cancelled while a round is
# held before commit (and again while it pauses after that error), the
# round is rolled back and retried, and every batch is applied exactly once
# by the same process.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use InventoryTest;

my $WH = '5b1e7a9c-0d2f-4e6a-9b3c-1f2e3d4c5b6a';

my $node = inventory_node('cancel');
install_extension($node, $WH);
my $pid = worker_pid($node);

# The worker's cancel error, from the worker with this pid.
my $cancel_re = qr/\[$pid\] inventory worker ERROR:  canceling statement due to user request/;

# Queue one batch setting sku to on_hand; returns its id.
sub adjust
{
	my ($sku, $on_hand) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT inventory_adjust('[{"sku": "$sku", "warehouse_uuid": "$WH", "on_hand": $on_hand}]')});
}

###########################################################################
# 1. Cancel the idle worker.
###########################################################################
ok(poll_until($node, 'postgres',
		"SELECT wait_event_type || '/' || state FROM pg_stat_activity WHERE pid = $pid",
		'Extension/idle', 30),
	'the worker is idle, asleep on its latch');
my $off = -s $node->logfile;
is($node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)"), 't', 'cancel sent to the idle worker');
ok(wait_for_log_line($node, $cancel_re, $off, 30), 'the cancel reached the worker');

my $b1 = adjust('IDLE-1', 5);
ok(poll_until($node, 'postgres', "SELECT state FROM inventory_batches WHERE batch_id = $b1", 'applied', 30),
	'a batch queued after the cancel is applied');
is(worker_pid($node), $pid, 'by the same worker process');
my @exits = grep { /background worker "inventory worker" \(PID $pid\) exited/ } log_lines($node, $off);
is(scalar(@exits), 0, 'the worker did not exit') or diag(join("\n", @exits));

###########################################################################
# 2. Cancel the worker while a round is applied but not committed, and
#    again while it pauses after that error.
###########################################################################
# (the worker's pid again, so that this part stands on its own)
$pid = worker_pid($node);
$cancel_re = qr/\[$pid\] inventory worker ERROR:  canceling statement due to user request/;
my $t0 = $node->safe_psql('postgres', 'SELECT now()');
$node->safe_psql('postgres',
	"ALTER SYSTEM SET inventory.debug_hold_before_commit = '5s'; SELECT pg_reload_conf()");
# the worker goes round its loop (and rereads its settings) every naptime
ok(poll_until($node, 'postgres',
		"SELECT last_round_at > '$t0'::timestamptz + interval '1 s' FROM inventory_worker_status()", 't', 30),
	'the worker went round its loop after the reload');

# Three batches in one transaction: one round.
my $ids = $node->safe_psql('postgres', qq{
	BEGIN;
	SELECT string_agg(inventory_adjust(jsonb_build_array(jsonb_build_object(
		'sku', 'HOLD-' || i, 'warehouse_uuid', '$WH', 'on_hand', 10 + i)))::text, ',')
	  FROM generate_series(1, 3) i;
	COMMIT;
});
my @ids = split /,/, $ids;
is(scalar(@ids), 3, 'three batches queued');
ok(poll_until($node, 'postgres', "SELECT query FROM pg_stat_activity WHERE pid = $pid",
		'inventory worker: holding a round before commit', 30),
	'the worker holds the round before committing it');

$off = -s $node->logfile;
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
ok(wait_for_log_line($node, $cancel_re, $off, 30), 'the cancel ended the held round');
is($node->safe_psql('postgres',
		"SELECT string_agg(state, ',' ORDER BY batch_id) FROM inventory_batches WHERE batch_id IN ($ids)"),
	'queued,queued,queued', 'the round was rolled back: its batches are queued again');

# A second cancel, while the worker pauses after the first error.
my $off2 = -s $node->logfile;
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
ok(wait_for_log_line($node, $cancel_re, $off2, 30), 'a second cancel reached the pausing worker');

ok(poll_until($node, 'postgres',
		"SELECT count(*) FROM inventory_batches WHERE batch_id IN ($ids) AND state = 'applied'", '3', 60),
	'the round is retried and its batches applied');
is($node->safe_psql('postgres',
		"SELECT string_agg(sku || '=' || on_hand, ',' ORDER BY sku) FROM inventory_levels WHERE sku LIKE 'HOLD-%'"),
	'HOLD-1=11,HOLD-2=12,HOLD-3=13', 'with their values');
is($node->safe_psql('postgres',
		"SELECT count(*) || ' rows, ' || count(DISTINCT batch_id) || ' batches' FROM inventory_ledger WHERE batch_id IN ($ids)"),
	'3 rows, 3 batches', 'each applied exactly once (one ledger row per item)');
is(worker_pid($node), $pid, 'by the same worker process');
@exits = grep { /background worker "inventory worker" \(PID $pid\) exited/ } log_lines($node, $off);
is(scalar(@exits), 0, 'the worker did not exit') or diag(join("\n", @exits));

$node->safe_psql('postgres',
	'ALTER SYSTEM RESET inventory.debug_hold_before_commit; SELECT pg_reload_conf()');
my $b2 = adjust('IDLE-1', 6);
ok(poll_until($node, 'postgres', "SELECT state FROM inventory_batches WHERE batch_id = $b2", 'applied', 30),
	'and it keeps applying new batches');
is($node->safe_psql('postgres', 'SELECT count(*) FROM inventory_verify()'), '0', 'inventory_verify() is clean');

$node->stop;
done_testing();
