
# The change feed wakes consumers: a LISTEN inventory_changes session is
# notified after a reservation (a change made outside the worker) and after
# a batch the worker applies, and inventory_changes() then returns them.

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

$listener->quit;
$node->stop;
done_testing();
