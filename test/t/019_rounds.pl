
# Rounds.  inventory.max_round_items bounds the items of one round (one
# transaction), and its deprecated name inventory.batch_size still works
# while it is set, overriding the new name, with a WARNING in the log.
# A round looks for batches above a low-water mark (no batch below it is
# queued); a batch put back into the queue below it by hand, as a restore
# would, is still applied, once the mark is forgotten (every 10 s).
# A round's transaction shows in the ledger: its rows carry the applying
# transaction's id (xid), so three one-item batches queued together are
# applied in three transactions with rounds of one item, in one otherwise.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use InventoryTest;

my $WH = '5b1e7a9c-0d2f-4e6a-9b3c-1f2e3d4c5b6a';

my $node = inventory_node('round_size');
install_extension($node, $WH);

sub sql { return $node->safe_psql('postgres', $_[0]); }

# Change settings and reload, and wait until the worker has taken them:
# it reports inventory.enabled as it sees it, so the settings are changed
# together with a pause, and the pause is lifted once the worker shows it.
sub reload_with
{
	my ($settings) = @_;
	sql("$settings; ALTER SYSTEM SET inventory.enabled = off; SELECT pg_reload_conf()");
	ok(poll_until($node, 'postgres', 'SELECT enabled FROM inventory_worker_status()', 'f', 30),
		"worker took: $settings");
	sql('ALTER SYSTEM RESET inventory.enabled; SELECT pg_reload_conf()');
	ok(poll_until($node, 'postgres', 'SELECT enabled FROM inventory_worker_status()', 't', 30),
		'worker resumed');
}

# Queue three one-item batches in one transaction, wait until they are
# applied, and return how many transactions applied them.
my $round = 0;
sub transactions_for_three_batches
{
	$round++;
	my $ids = sql(qq{
		BEGIN;
		SELECT inventory_adjust('[{"sku": "R$round-1", "warehouse_uuid": "$WH", "on_hand": 1}]');
		SELECT inventory_adjust('[{"sku": "R$round-2", "warehouse_uuid": "$WH", "on_hand": 2}]');
		SELECT inventory_adjust('[{"sku": "R$round-3", "warehouse_uuid": "$WH", "on_hand": 3}]');
		COMMIT;
	});
	my @ids = split /\n/, $ids;
	for my $b (@ids)
	{
		is(sql("SELECT inventory_wait($b, '30 s')"), 'applied', "batch $b applied");
	}
	return sql("SELECT count(DISTINCT xid) FROM inventory_ledger WHERE sku LIKE 'R$round-%'");
}

is(sql('SHOW inventory.max_round_items'), '200000', 'inventory.max_round_items defaults to 200000');
is(sql('SHOW inventory.batch_size'), '0', 'the deprecated inventory.batch_size is not set (0)');
is(transactions_for_three_batches(), '1', 'by default the three batches are applied in one round');

reload_with('ALTER SYSTEM SET inventory.max_round_items = 1');
is(transactions_for_three_batches(), '3', 'inventory.max_round_items = 1: one round per batch');

my $off = -s $node->logfile;
reload_with('ALTER SYSTEM RESET inventory.max_round_items; ALTER SYSTEM SET inventory.batch_size = 1');
is(transactions_for_three_batches(), '3', 'the deprecated inventory.batch_size = 1 still sets the round size');
ok(wait_for_log_line($node, qr/WARNING:  inventory\.batch_size is deprecated/, $off, 30),
	'and the worker warns that it is deprecated');

reload_with('ALTER SYSTEM SET inventory.max_round_items = 100000');
is(transactions_for_three_batches(), '3', 'while set, inventory.batch_size overrides inventory.max_round_items');

reload_with('ALTER SYSTEM RESET inventory.batch_size');
is(transactions_for_three_batches(), '1', 'once reset, inventory.max_round_items applies again');

# A batch put into the queue by hand with an id below the rounds' low-water
# mark: take an id, let later batches be applied past it, then queue a batch
# under that id directly.
my $old_id = sql("SELECT nextval('inventory.inventory_batch_id_seq')");
is(transactions_for_three_batches(), '1', 'later batches are applied past the id taken');
sql(qq{INSERT INTO inventory.inventory_queue (batch_id, items, item_count, queued_by)
	VALUES ($old_id, '[{"sku": "BY-HAND", "warehouse_uuid": "$WH", "on_hand": 4}]', 1, 'postgres')});
is(sql("SELECT inventory_wait($old_id, '40 s')"), 'applied',
	'a batch queued by hand below the low-water mark is applied (within the 10 s after which the mark is forgotten)');
is(sql(q{SELECT on_hand FROM inventory_levels WHERE sku = 'BY-HAND'}), '4', 'its item was applied');

$node->stop;
done_testing();
