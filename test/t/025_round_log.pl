# inventory.log_min_duration logs the worker's rounds and passes of the
# feeds that take at least that long, with the time of each phase and the
# time on a CPU; -1 (the default) logs none.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use InventoryTest;

my $WH = 'f1d1e000-0000-4000-8000-000000000002';
my $node = inventory_node('round_log');
install_extension($node, $WH);

sub sql { return $node->safe_psql('postgres', $_[0]); }

my $ROUND = qr/inventory worker: a round of 1 batch \(2 items\) took [0-9.]+ ms \(applying [0-9.]+ ms, committing [0-9.]+ ms; on a CPU [0-9.]+ ms\)/;

# Apply a two-item batch; returns the log's length before it.
sub apply_batch
{
	my $from = -s $node->logfile;
	my $b = sql(qq{SELECT inventory_adjust('[{"sku": "LOG-A", "warehouse_uuid": "$WH", "on_hand": 1},
	                                        {"sku": "LOG-B", "warehouse_uuid": "$WH", "on_hand": 2}]')});
	is(sql("SELECT inventory_wait($b)"), 'applied', 'the batch is applied');
	return $from;
}

# off by default: nothing logged (a later line would be in the log by the
# time the one with the setting on is)
my $off = apply_batch();

sql("ALTER SYSTEM SET inventory.log_min_duration = 0");
sql("SELECT pg_reload_conf()");
ok(poll_until($node, 'postgres', 'SHOW inventory.log_min_duration', '0', 10), 'the setting is on');
# the worker reads the reloaded file before its next round
my $on = apply_batch();
ok(wait_for_log_line($node, $ROUND, $on, 30), 'with 0, the round is logged with its phases');
my $before = substr(slurp_file($node->logfile), $off, $on - $off);
unlike($before, $ROUND, 'with the default -1, no round is logged');

# a channel: its passes are logged too
sql(qq{INSERT INTO inventory_channels (uuid, name) VALUES ('f1d1e000-0000-4000-8000-0000000000c2', 'Log shop');
       INSERT INTO inventory_channel_warehouses (channel_uuid, warehouse_uuid)
           VALUES ('f1d1e000-0000-4000-8000-0000000000c2', '$WH')});
ok(wait_for_log_line($node,
		qr/inventory worker: a pass of the feeds took [0-9.]+ ms \(deriving [0-9.]+ ms, committing [0-9.]+ ms; on a CPU [0-9.]+ ms\)/,
		$on, 30),
	'a pass of the feeds is logged');

# a threshold no round reaches logs nothing
sql("ALTER SYSTEM SET inventory.log_min_duration = '1h'");
sql("SELECT pg_reload_conf()");
ok(poll_until($node, 'postgres', 'SHOW inventory.log_min_duration', '1h', 10), 'the threshold is an hour');
my $high = apply_batch();
my $b = sql(qq{SELECT inventory_adjust('[{"sku": "LOG-C", "warehouse_uuid": "$WH", "on_hand": 3}]')});
sql("SELECT inventory_wait($b)");
unlike(substr(slurp_file($node->logfile), $high), $ROUND, 'rounds shorter than the threshold are not logged');

done_testing();
