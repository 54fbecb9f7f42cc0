
# Helpers shared by the TAP tests of the inventory extension (test/t/).

package InventoryTest;

use strict;
use warnings;

use Exporter 'import';
use File::Basename qw(dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);

our @EXPORT = qw(inventory_node try_psql poll_until log_lines worker_lines
  wait_for_log_line worker_pid wait_for_connections install_extension $WORKER_LINE
  $SEARCH_PATH_CONF);

# The extension's objects live in the schema "inventory"; the tests call
# them unqualified, as an application whose search_path ends with it would.
our $SEARCH_PATH_CONF = qq{search_path = '"\$user", public, inventory'\n};

# test/run-tests runs prove without the environment "make check" would set:
# PostgreSQL::Test::Cluster->init needs pg_regress (--config-auth); find it
# through pg_config, which is in PATH there.
if (!defined $ENV{PG_REGRESS})
{
	my $pgxs = `pg_config --pgxs`;
	chomp $pgxs;
	$ENV{PG_REGRESS} = dirname(dirname($pgxs)) . '/test/regress/pg_regress'
	  if $pgxs;
}

# A line of the server log written by the inventory worker, with
# log_line_prefix = '%m [%p] %b ' (the tests set it): pid, level, message.
our $WORKER_LINE = qr/^[^\[]*\[(\d+)\] inventory worker (\w+):  (.*)$/;

# A new node with the library preloaded (the launcher serves every
# database), started.  Workers stay connected for an hour once started
# (inventory.idle_timeout; the launcher's own tests set it in conf).
# Options: database (default postgres),
# create_database (create it before the library is preloaded), naptime (default 200ms), utf8 (initdb with UTF8
# and locale C), conf (more postgresql.conf lines), start (default 1; 0
# leaves the node stopped).  Its log lines carry the prefix $WORKER_LINE
# expects.
sub inventory_node
{
	my ($name, %opt) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	my $database = $opt{database} // 'postgres';
	my $naptime = $opt{naptime} // '200ms';

	$node->init($opt{utf8} ? (extra => [ '--encoding=UTF8', '--locale=C' ]) : ());
	if ($opt{create_database})
	{
		$node->start;
		$node->safe_psql('postgres', "CREATE DATABASE $database");
		$node->stop;
	}
	$node->append_conf(
		'postgresql.conf', qq{
log_line_prefix = '%m [%p] %b '
shared_preload_libraries = 'inventory'
inventory.naptime = '$naptime'
inventory.idle_timeout = '1h'
} . $SEARCH_PATH_CONF . ($opt{conf} // ''));
	$node->start if $opt{start} // 1;
	return $node;
}

# The server log from byte offset $from on, as lines.
sub log_lines
{
	my ($node, $from) = @_;
	my $text = slurp_file($node->logfile, $from // 0);
	return split /\n/, $text;
}

# The worker's log lines from $from on whose level matches $level and
# whose message matches $msg (both regexes).
sub worker_lines
{
	my ($node, $from, $level, $msg) = @_;
	my @out;
	for my $l (log_lines($node, $from))
	{
		next unless $l =~ $WORKER_LINE;
		my ($lvl, $text) = ($2, $3);
		push @out, $l if $lvl =~ $level && $text =~ $msg;
	}
	return @out;
}

# $node->psql that never dies: when the server goes away while psql starts,
# IPC::Run can die writing psql's input ("Broken pipe").  Returns (rc,
# stdout, stderr, timed_out); rc is 2 (psql's "connection lost") then.
sub try_psql
{
	my ($node, $db, $sql, $timeout) = @_;
	my ($out, $err, $to) = ('', '', 0);
	my $rc;
	eval {
		$rc = $node->psql($db, $sql, stdout => \$out, stderr => \$err,
			timeout => $timeout // 60, timed_out => \$to);
		1;
	} or do {
		$rc = 2;
		$err .= ($err eq '' ? '' : "\n") . "psql failed: $@";
	};
	return ($rc, $out, $err, $to);
}

# Run $sql in $db until it returns $expected without error, for at most
# $timeout seconds.  Returns whether it did; says what it saw when not.
sub poll_until
{
	my ($node, $db, $sql, $expected, $timeout) = @_;
	my $deadline = time + $timeout;
	my ($rc, $out, $err);
	while (time < $deadline)
	{
		($rc, $out, $err) = try_psql($node, $db, $sql);
		return 1 if $rc == 0 && defined $out && $out eq $expected;
		usleep(100_000);
	}
	diag("timed out after ${timeout}s waiting for [$sql] to return [$expected]; "
		  . "last output [" . ($out // '') . "], stderr [" . ($err // '') . "]");
	return 0;
}

# Wait at most $timeout seconds until the log from $from on has a line
# matching $re.  Returns whether it did.
sub wait_for_log_line
{
	my ($node, $re, $from, $timeout) = @_;
	my $deadline = time + $timeout;
	while (time < $deadline)
	{
		return 1 if grep { $_ =~ $re } log_lines($node, $from);
		usleep(100_000);
	}
	return 0;
}

# Pid of the inventory worker (connected to $db if given), or ''.
sub worker_pid
{
	my ($node, $db) = @_;
	my $cond = defined $db ? " AND datname = '$db'" : '';
	my ($rc, $out) = try_psql($node, 'postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'inventory worker'$cond");
	return $rc == 0 ? $out : '';
}

# Wait at most $timeout seconds until the server accepts connections and
# is out of recovery.  Returns whether it did.
sub wait_for_connections
{
	my ($node, $timeout) = @_;
	my $deadline = time + $timeout;
	while (time < $deadline)
	{
		my ($rc, $out) = try_psql($node, 'postgres', 'SELECT pg_is_in_recovery()');
		return 1 if $rc == 0 && $out eq 'f';
		usleep(100_000);
	}
	return 0;
}

# In the postgres database of a node made by inventory_node: CREATE
# EXTENSION, register warehouse $wh as 'Main', run $more_sql (optional),
# then restart the node, so that the launcher's start-up visit gives the
# database a worker (which stays: inventory.idle_timeout is an hour), and
# check (a test) that it runs.
sub install_extension
{
	my ($node, $wh, $more_sql) = @_;
	$node->safe_psql('postgres', qq{
	CREATE EXTENSION inventory;
	INSERT INTO inventory_warehouses (uuid, name) VALUES ('$wh', 'Main');
} . ($more_sql // ''));
	$node->restart;
	ok(poll_until($node, 'postgres',
			"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'inventory worker' AND datname = 'postgres'",
			'1', 60),
		'worker is running');
}

1;
