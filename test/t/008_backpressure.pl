
# inventory.max_queued_items: while the worker is paused, inventory_adjust
# accepts batches until the queue would pass the cap, then refuses with
# SQLSTATE 53400 and queues nothing (no batch id taken); a transaction's
# own uncommitted batches count, a rolled-back savepoint's do not; once the
# worker has applied the backlog, batches are accepted again, and also once
# the queue was emptied by hand (the worker recounts it).

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
my $CAP = 100;

my $node = inventory_node('backpressure', conf => "inventory.max_queued_items = $CAP\n");
install_extension($node, $WH);

# Pause the worker.
$node->safe_psql('postgres', 'ALTER SYSTEM SET inventory.enabled = off; SELECT pg_reload_conf()');
ok(poll_until($node, 'postgres', 'SELECT enabled FROM inventory_worker_status()', 'f', 30),
	'worker is paused');

# A call queuing one batch of 10 items (keys K1..K10 of sku prefix $p).
sub adjust_sql
{
	my ($p) = @_;
	return qq{SELECT inventory_adjust((SELECT jsonb_agg(jsonb_build_object(
		'sku', '$p' || i, 'warehouse_uuid', '$WH', 'on_hand', i)) FROM generate_series(1, 10) i))};
}

# The queue: batches, items, and the batch sequence's last value.
my $QUEUE_SQL = q{SELECT count(*) || '/' || COALESCE(sum(item_count), 0) || '/'
	|| (SELECT last_value FROM inventory.inventory_batch_id_seq) FROM inventory_queue};

my ($accepted, $rc, $out, $err, $before) = (0);
for my $i (1 .. 20)
{
	$before = $node->safe_psql('postgres', $QUEUE_SQL);
	($rc, $out, $err) = try_psql($node, 'postgres', "\\set VERBOSITY verbose\n" . adjust_sql("A$i-"));
	last if $rc != 0;
	$accepted++;
}
is($accepted, $CAP / 10, "$accepted batches of 10 items accepted, up to the cap of $CAP");
like($err, qr/ERROR:  53400: inventory queue is full/, 'the next one is refused with SQLSTATE 53400');
like($err, qr/DETAIL:  100 items are queued; this batch of 10 items would take the queue beyond inventory.max_queued_items \(100\)\./,
	'DETAIL gives the counts');
like($err, qr/HINT:  Nothing was queued\./, 'HINT says nothing was queued');
is($node->safe_psql('postgres', $QUEUE_SQL), $before,
	'the refused call queued nothing and took no batch id');

# Resume: the backlog is applied and batches are accepted again.
$node->safe_psql('postgres', 'ALTER SYSTEM RESET inventory.enabled; SELECT pg_reload_conf()');
ok(poll_until($node, 'postgres', 'SELECT count(*) FROM inventory_queue', '0', 60),
	'the worker applies the backlog');
is($node->safe_psql('postgres', "SELECT count(*) FROM inventory_batches WHERE state = 'applied'"),
	$CAP / 10, 'every accepted batch is applied');
($rc, $out, $err) = try_psql($node, 'postgres', adjust_sql('B-'));
is($rc, 0, 'a batch is accepted again after the backlog is applied') or diag($err);
ok(poll_until($node, 'postgres', 'SELECT count(*) FROM inventory_queue', '0', 60), 'and applied');

# Pause again: a transaction's own batches count before it commits, those
# of a savepoint rolled back do not.
$node->safe_psql('postgres', 'ALTER SYSTEM SET inventory.enabled = off; SELECT pg_reload_conf()');
ok(poll_until($node, 'postgres', 'SELECT enabled FROM inventory_worker_status()', 'f', 30),
	'worker is paused again');
my $ten = join('', map { adjust_sql("C$_-") . ";\n" } 1 .. 10);
($rc, $out, $err) = try_psql($node, 'postgres', "BEGIN;\n$ten" . adjust_sql('C11-') . ";\nCOMMIT;");
like($err, qr/ERROR:  inventory queue is full/,
	'in one transaction, the batch after 100 uncommitted items is refused');
is($node->safe_psql('postgres', 'SELECT count(*) FROM inventory_queue'), '0',
	'and that transaction queued nothing');
($rc, $out, $err) = try_psql($node, 'postgres',
	"BEGIN;\nSAVEPOINT s;\n$ten" . "ROLLBACK TO SAVEPOINT s;\n$ten" . "COMMIT;");
is($rc, 0, 'items of a rolled-back savepoint do not count') or diag($err);
is($node->safe_psql('postgres', 'SELECT sum(item_count) FROM inventory_queue'), '100',
	'100 items queued');
($rc, $out, $err) = try_psql($node, 'postgres', adjust_sql('D-'));
like($err, qr/ERROR:  inventory queue is full/, 'the committed items count: the next batch is refused');

# The owner empties the queue by hand: the worker's periodic recount (every
# 30 s) notices, and batches are accepted again.
$node->safe_psql('postgres', 'DELETE FROM inventory_queue');
my $t0 = time;
my $accepted_again = 0;
while (time < $t0 + 45)
{
	($rc, $out, $err) = try_psql($node, 'postgres', adjust_sql('E-'));
	if ($rc == 0) { $accepted_again = 1; last; }
	usleep(1_000_000);
}
ok($accepted_again, 'after the queue was emptied by hand, the recount lets batches in again')
  or diag($err);
note(sprintf('accepted again %.0f s after the queue was emptied', time - $t0));

$node->safe_psql('postgres', 'ALTER SYSTEM RESET inventory.enabled; SELECT pg_reload_conf()');
ok(poll_until($node, 'postgres', 'SELECT count(*) FROM inventory_queue', '0', 60),
	'the worker applies them');
is($node->safe_psql('postgres', 'SELECT count(*) FROM inventory_verify()'), '0', 'inventory_verify() is clean');

$node->stop;
done_testing();
