
# A transaction left idle after inventory_reserve holds a level row's lock
# and stalls the worker's rounds.  The worker says so in the log within
# seconds (inventory.lock_timeout), naming that session's pid, what it holds
# and its state, and repeats it at a bounded rate while it lasts, without
# marking any batch failed; once the session commits the batch is applied.
# Likewise for a transaction left idle after queuing a batch, which holds
# back the batches queued after it.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use FindBin;
use lib "$FindBin::RealBin/../perl";
use InventoryTest;

my $WH = '5b1e7a9c-0d2f-4e6a-9b3c-1f2e3d4c5b6a';

my $node = inventory_node('lockreport', conf => "inventory.lock_timeout = '1s'\n");
install_extension($node, $WH, qq{
	INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand) VALUES ('HELD', '$WH', 10);
});
my $pid = worker_pid($node);

# A session reserves a unit and stays idle in its transaction.
my $holder = $node->background_psql('postgres', on_error_stop => 1);
my $hpid = $holder->query_safe('SELECT pg_backend_pid()');
$holder->query_safe(qq{BEGIN; SELECT on_hand FROM inventory_reserve('order-1', 'HELD', '$WH', 1);});

my $off = -s $node->logfile;
my $b = $node->safe_psql('postgres', qq{
	SELECT inventory_adjust('[{"sku": "HELD", "warehouse_uuid": "$WH", "on_hand": 7}]')});
my $t_queued = time;

my $report_re = qr/\[$pid\] inventory worker LOG:  inventory worker is blocked by process $hpid, which holds RowExclusiveLock on inventory_levels and is idle in transaction since /;
ok(wait_for_log_line($node, $report_re, $off, 20), "the worker logs that process $hpid blocks it");
note(sprintf('first report %.1f s after the batch was queued', time - $t_queued));
my @after = log_lines($node, $off);
ok(grep({ /\[$pid\] inventory worker DETAIL:  A round waited 1000 ms for a lock, was rolled back and is retried/ } @after),
	'with a DETAIL saying the round is retried') or diag(join("\n", @after));
ok(grep({ /\[$pid\] inventory worker HINT:  .*pg_terminate_backend\($hpid\).*idle_in_transaction_session_timeout/ } @after),
	'and a HINT naming the remedies');

# Count the reports over a window from the first one on.
my $window = 15;
my $t0 = time;
my $n = 0;
while (time < $t0 + $window)
{
	$n = scalar grep { $_ =~ $report_re } log_lines($node, $off);
	usleep(250_000);
}
note("$n reports in ${window} s");
cmp_ok($n, '>=', 2, 'the report is repeated while the session stays idle');
cmp_ok($n, '<=', 3, 'at a bounded rate (one per 10 s, not one per 1 s retry)');

my @errs = worker_lines($node, $off, qr/^(ERROR|FATAL)$/, qr/./);
is(scalar(@errs), 0, 'the lock timeouts are not logged as errors') or diag(join("\n", @errs));
is($node->safe_psql('postgres', "SELECT state FROM inventory_batches WHERE batch_id = $b"),
	'queued', 'the batch is still queued, not failed');

# The session commits: the batch is applied, once, by the same worker.
$holder->query_safe('COMMIT;');
$holder->quit;
ok(poll_until($node, 'postgres', "SELECT state FROM inventory_batches WHERE batch_id = $b", 'applied', 30),
	'the batch is applied once the session commits');
is($node->safe_psql('postgres',
		"SELECT on_hand || '/' || reserved || '/' || available FROM inventory_levels WHERE sku = 'HELD'"),
	'7/1/6', 'with its value, and the reservation kept');
is($node->safe_psql('postgres', "SELECT count(*) FROM inventory_ledger WHERE batch_id = $b"),
	'1', 'one ledger row for it');
is(worker_pid($node), $pid, 'by the same worker process');

# A session queues a batch and stays idle in its transaction; a batch
# queued after it waits for it.
my $queuer = $node->background_psql('postgres', on_error_stop => 1);
my $qpid = $queuer->query_safe('SELECT pg_backend_pid()');
$queuer->query_safe(qq{BEGIN; SELECT inventory_adjust('[{"sku": "EARLY", "warehouse_uuid": "$WH", "on_hand": 1}]');});
$off = -s $node->logfile;
my $b2 = $node->safe_psql('postgres', qq{
	SELECT inventory_adjust('[{"sku": "LATE", "warehouse_uuid": "$WH", "on_hand": 2}]')});
my $held_re = qr/\[$pid\] inventory worker LOG:  inventory worker is held back by process $qpid, whose transaction queued a batch that is not committed and is idle in transaction since /;
ok(wait_for_log_line($node, $held_re, $off, 30), "the worker logs that process $qpid holds it back");
is($node->safe_psql('postgres', "SELECT state FROM inventory_batches WHERE batch_id = $b2"),
	'queued', 'the later batch waits');
$queuer->query_safe('COMMIT;');
$queuer->quit;
ok(poll_until($node, 'postgres',
		"SELECT string_agg(sku || '=' || on_hand, ',' ORDER BY sku) FROM inventory_levels WHERE sku IN ('EARLY', 'LATE')",
		'EARLY=1,LATE=2', 30),
	'both batches are applied once that session commits');
is($node->safe_psql('postgres', 'SELECT count(*) FROM inventory_verify()'), '0', 'inventory_verify() is clean');

$node->stop;
done_testing();
