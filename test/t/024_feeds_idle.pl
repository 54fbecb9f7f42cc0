# With no active channel and no stock alert there is nothing to feed: the
# worker's rounds do not run a pass of the feeds (each would cost about as
# much as a small round), one every naptime keeps the cursor close, and
# the commit that makes a channel or an alert brings a pass at once.
#
# The node's naptime is long (1 min), so that only the passes a round, a
# start or a commit calls for happen while the test runs.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use InventoryTest;

my $WH = 'f1d1e000-0000-4000-8000-000000000001';
my $CH = 'f1d1e000-0000-4000-8000-0000000000c1';

my $node = inventory_node('feeds_idle', naptime => '1min');
install_extension($node, $WH);

sub sql { return $node->safe_psql('postgres', $_[0]); }

# Apply a one-item batch and wait for it; returns the largest ledger id.
sub apply_one
{
	my ($sku, $on_hand) = @_;
	my $b = sql(qq{SELECT inventory_adjust('[{"sku": "$sku", "warehouse_uuid": "$WH", "on_hand": $on_hand}]')});
	is(sql("SELECT inventory_wait($b)"), 'applied', "batch $sku applied");
	return sql('SELECT max(id) FROM inventory_ledger');
}

# the start's pass has run once the worker applies a batch
my $first = apply_one('IDLE-A', 5);
my $second = apply_one('IDLE-B', 6);
my $third = apply_one('IDLE-C', 7);
my $cursor = sql('SELECT ledger_cursor FROM inventory_feeds_status()');
cmp_ok($cursor, '<', $third,
	'rounds without a channel or an alert run no pass: the cursor stays behind their ledger rows');
is(sql('SELECT caught_up FROM inventory_feeds_status()'), 't',
	'with nothing to feed, the feeds are caught up');

# a channel: its commit wakes the worker, whose pass says every sku
sql(qq{
	INSERT INTO inventory_channels (uuid, name) VALUES ('$CH', 'Idle shop');
	INSERT INTO inventory_channel_warehouses (channel_uuid, warehouse_uuid) VALUES ('$CH', '$WH');
});
ok(poll_until($node, 'postgres',
		"SELECT count(*) FROM inventory_channel_changes('$CH', 0, 100) WHERE reason = 'rule'", '3', 30),
	'a new channel is fed at once, well before the naptime');
is(sql('SELECT ledger_cursor >= ledger_horizon FROM inventory_feeds_status()'), 't',
	'the pass brought the cursor to the horizon');

# with a channel, a round is followed by a pass again
apply_one('IDLE-A', 9);
ok(poll_until($node, 'postgres',
		"SELECT quantity FROM inventory_channel_changes('$CH', 0, 100) WHERE sku = 'IDLE-A' ORDER BY change_id DESC LIMIT 1",
		'9', 30),
	'with a channel, the pass follows the round');

# an alert alone (the channel inactive) also makes the feeds live
sql("UPDATE inventory_channels SET active = false WHERE uuid = '$CH'");
sql(qq{INSERT INTO inventory_stock_alerts (sku, warehouse_uuid, threshold) VALUES ('IDLE-B', '$WH', 3)});
ok(poll_until($node, 'postgres', q{SELECT count(*) FROM inventory_alerts(0, 10)}, '1', 30),
	'a new alert is reported at once');
apply_one('IDLE-B', 2);
ok(poll_until($node, 'postgres',
		q{SELECT state FROM inventory_alerts(0, 10) ORDER BY alert_id DESC LIMIT 1}, 'low_stock', 30),
	'with an alert, the pass follows the round');

done_testing();
