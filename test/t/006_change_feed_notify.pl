
# The change feed wakes consumers: a LISTEN inventory_changes session is
# notified after a reservation (a change made outside the worker) and after
# a batch the worker applies, and inventory_changes() then returns them;
# likewise the channel feed and the alerts (1.4).

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

my $node = inventory_node('feed', naptime => '10s');
install_extension($node, $WH);
my $cursor = $node->safe_psql('postgres', 'SELECT COALESCE(max(id), 0) FROM inventory_ledger');

my $listener = $node->background_psql('postgres', on_error_stop => 1);
$listener->query_safe('LISTEN inventory_changes');

# Wait (bounded) until the listener has received a notification: psql
# prints it after the next command it runs.
sub notified
{
	my $deadline = time + 5;    # well under inventory.naptime (10 s)
	while (time < $deadline)
	{
		my $out = $listener->query_safe('SELECT 1');
		return 1 if $listener->{stdout} =~ /Asynchronous notification "inventory_changes"/
		  || $out =~ /Asynchronous notification "inventory_changes"/;
		usleep(100_000);
	}
	return 0;
}

$node->safe_psql('postgres',
	"SELECT available FROM inventory_reserve('FEED-1', 'FEED-SKU', '$WH', 3)");
ok(notified(), 'a reservation wakes the listener (well before the 10 s naptime)');

$listener->{stdout} = '';
$node->safe_psql('postgres', qq{
	SELECT inventory_adjust('[{"sku": "FEED-SKU", "warehouse_uuid": "$WH", "available": 5}]')});
ok(notified(), 'an applied batch wakes the listener');

is($node->safe_psql('postgres',
		"SELECT string_agg(source || ':' || available_before || '->' || available, ',' ORDER BY change_id) "
		  . "FROM inventory_changes($cursor) WHERE sku = 'FEED-SKU'"),
	'reserve:0->-3,adjust:-3->5', 'inventory_changes returns both changes, in order');

# The channel feed and the alerts (1.4) wake their consumers too: NOTIFY
# inventory_channel_changes with the channel's uuid, NOTIFY
# inventory_alerts with the last alert id, both well before the naptime.
my $CH = '6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d';
$listener->query_safe('LISTEN inventory_channel_changes');
$listener->query_safe('LISTEN inventory_alerts');
$listener->{stdout} = '';

# Wait (bounded) for a notification on $channel whose payload matches
# $payload, among those seen since $seen was last emptied; returns it, or
# '' after 5 s.
my $seen = '';
sub notified_on
{
	my ($channel, $payload) = @_;
	my $deadline = time + 5;
	while (time < $deadline)
	{
		# psql prints it after the next command, in that command's output
		$seen .= $listener->query_safe('SELECT 1') . $listener->{stdout};
		return $1 if $seen =~ /Asynchronous notification "$channel" with payload "($payload)"/;
		usleep(100_000);
	}
	return '';
}

$node->safe_psql('postgres', qq{
	INSERT INTO inventory_channels (uuid, name, percent) VALUES ('$CH', 'Notify shop', 50);
	INSERT INTO inventory_channel_warehouses VALUES ('$CH', '$WH');
	INSERT INTO inventory_stock_alerts (sku, threshold) VALUES ('FEED-SKU', 3);});
is(notified_on('inventory_channel_changes', $CH), $CH,
	'a new channel, said in full, wakes its listener with the channel as payload');
like(notified_on('inventory_alerts', '\d+'), qr/^\d+$/, 'a new threshold reports its state and wakes the alerts listener');
my $alert = $node->safe_psql('postgres', 'SELECT max(alert_id) FROM inventory_alerts()');
$seen = '';
$node->safe_psql('postgres',
	"SELECT available FROM inventory_reserve('FEED-2', 'FEED-SKU', '$WH', 4)");
is(notified_on('inventory_channel_changes', $CH), $CH, 'a reservation that changes the listed quantity wakes it');
is(notified_on('inventory_alerts', '\d+'), $alert + 1, 'and the alert it raises (its id as payload)');
is($node->safe_psql('postgres', qq{
	SELECT quantity FROM inventory_channel_changes('$CH', 0) ORDER BY change_id DESC LIMIT 1}),
	'0', 'the feed says the new quantity (available 5 - 4 = 1, half is 0)');
is($node->safe_psql('postgres', "SELECT state FROM inventory_alerts($alert)"), 'low_stock',
	'the alert says low stock');

$listener->quit;
$node->stop;
done_testing();
