# A database owner who is not a superuser cannot make the extension's
# superuser-owned code (the worker, SECURITY DEFINER functions, triggers)
# run code of theirs, nor stall the queue or break the order functions, by
# renaming, replacing or filling schemas; and a careless superuser who
# loosens the extension's schema or objects makes it stop, not escalate.
#
# The attacks are those of the trust issue: with the extension installed
# by a superuser and the database later given to mallory, mallory renames
# public, creates a new public with an inventory_outer_role() that makes
# mallory a superuser when a superuser runs it, and plants overloads with
# extra defaulted arguments (which made every reservation fail with "is
# not unique" and stalled the worker).  Version 1.0 fell to all of them:
# its function bodies named "public.".  Also: the same in a database made
# from a template that had the extension.  The internal schema
# (inventory_internal, where the trigger functions and helpers are) is
# held to the same rules as the schema inventory.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";
use InventoryTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $W1 = '11111111-1111-4111-8111-111111111111';
my $node = inventory_node('trust', database => 'shop', create_database => 1);

$node->safe_psql('postgres', q{
CREATE ROLE mallory LOGIN;
CREATE ROLE app LOGIN;
CREATE DATABASE tmpl;
});

# Install as a superuser, grant the app what the README says.
my $install = qq{
CREATE EXTENSION inventory;
INSERT INTO inventory.inventory_warehouses (uuid, name) VALUES ('$W1', 'Main');
GRANT USAGE ON SCHEMA inventory TO app;
GRANT EXECUTE ON FUNCTION inventory.inventory_adjust(jsonb, boolean, text),
    inventory.inventory_reserve(text, text, uuid, bigint, text, boolean, timestamptz),
    inventory.inventory_release(text, text, uuid, bigint, text),
    inventory.inventory_fulfill(text, text, uuid, bigint, text) TO app;
GRANT SELECT ON inventory.inventory_levels TO app;
};
$node->safe_psql('shop', $install);
$node->safe_psql('tmpl', $install);
$node->safe_psql('postgres', q{
ALTER DATABASE shop OWNER TO mallory;
CREATE DATABASE shop2 TEMPLATE tmpl OWNER mallory;
});

sub as_mallory
{
	my ($db, $sql) = @_;
	my ($rc, $out, $err) = $node->psql($db, $sql, extra_params => [ '-U', 'mallory' ]);
	return ($rc, $err);
}

sub mallory_is_superuser
{
	return $node->safe_psql('postgres', "SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'");
}

# The attacks, as mallory, in a database mallory owns.
sub attack
{
	my ($db) = @_;
	my ($rc, $err) = as_mallory($db, q{
ALTER SCHEMA public RENAME TO inv_real;
CREATE SCHEMA public;
CREATE FUNCTION public.inventory_outer_role() RETURNS name LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    EXECUTE 'ALTER ROLE mallory SUPERUSER';
  END IF;
  RETURN current_user;
END $$;
CREATE FUNCTION inv_real.inventory_outer_role(x int DEFAULT 0) RETURNS name LANGUAGE sql
  AS $$ SELECT current_user $$;
CREATE FUNCTION public.inventory_take_reservation(order_ref text, sku text, warehouse_uuid uuid,
  quantity bigint, line_ref text, verb text, extra int DEFAULT 0)
  RETURNS void LANGUAGE sql AS $$ SELECT $$;
CREATE FUNCTION public.inventory_check_order_args(order_ref text, sku text, warehouse_uuid uuid,
  quantity bigint, quantity_required boolean, extra int DEFAULT 0)
  RETURNS void LANGUAGE sql AS $$ SELECT $$;
});
	is($rc, 0, "$db: mallory, owning the database, renames public and plants functions and overloads");

	# The schema the extension lives in is out of mallory's reach.
	for my $try ([ 'ALTER SCHEMA inventory RENAME TO inv2', 'rename' ],
		[ 'ALTER SCHEMA inventory OWNER TO mallory', 'take over' ],
		[ 'DROP SCHEMA inventory CASCADE', 'drop' ],
		[ 'CREATE FUNCTION inventory.inventory_outer_role(x int DEFAULT 0) RETURNS name LANGUAGE sql AS $$ SELECT current_user $$', 'plant an overload in' ],
		[ 'CREATE TABLE inventory.t (x int)', 'create a table in' ],
		[ 'ALTER FUNCTION inventory.inventory_reserve(text, text, uuid, bigint, text, boolean, timestamptz) RENAME TO r2', 'rename a function of' ],
		[ 'CREATE TRIGGER t AFTER INSERT ON inventory.inventory_ledger FOR EACH ROW EXECUTE FUNCTION inv_real.inventory_outer_role()', 'add a trigger to' ])
	{
		my ($rc2, $err2) = as_mallory($db, $try->[0]);
		like($err2, qr/ERROR:  (must be owner|permission denied)/, "$db: mallory cannot $try->[1] the schema inventory");
	}
	# Nor is the internal schema, nor what is in it.
	for my $try ([ 'ALTER SCHEMA inventory_internal RENAME TO inv2', 'rename' ],
		[ 'ALTER SCHEMA inventory_internal OWNER TO mallory', 'take over' ],
		[ 'DROP SCHEMA inventory_internal CASCADE', 'drop' ],
		[ 'CREATE FUNCTION inventory_internal.inventory_outer_role(x int DEFAULT 0) RETURNS name LANGUAGE sql AS $$ SELECT current_user $$', 'plant an overload in' ],
		[ 'ALTER FUNCTION inventory_internal.inventory_outer_role() RENAME TO r2', 'rename a function of' ],
		[ 'SELECT inventory_internal.inventory_outer_role()', 'call a function of' ])
	{
		my ($rc2, $err2) = as_mallory($db, $try->[0]);
		like($err2, qr/ERROR:  (must be owner|permission denied)/, "$db: mallory cannot $try->[1] the schema inventory_internal");
	}
}

# Everything superuser-owned code does, after the attacks: the worker
# applies (shop) or a superuser applies by hand (shop2); order functions
# called by the app and by a superuser; a direct change by a superuser.
sub exercise
{
	my ($db, $by_worker) = @_;
	my $b = $node->safe_psql($db, qq{SELECT inventory.inventory_adjust('[{"sku": "S1", "warehouse_uuid": "$W1", "on_hand": 10, "description": "after the attack"}]')},
		extra_params => [ '-U', 'app' ]);
	if ($by_worker)
	{
		ok(poll_until($node, $db, "SELECT state FROM inventory.inventory_batches WHERE batch_id = $b", 'applied', 30),
			"$db: the worker applies the app's batch");
	}
	else
	{
		$node->safe_psql($db, 'SELECT inventory.inventory_process_queue()');
		is($node->safe_psql($db, "SELECT state FROM inventory.inventory_batches WHERE batch_id = $b"), 'applied',
			"$db: a superuser applies the app's batch with inventory_process_queue()");
	}
	is($node->safe_psql($db, qq{SELECT (inventory.inventory_reserve('o1', 'S1', '$W1', 4)).available},
			extra_params => [ '-U', 'app' ]), '6', "$db: the app reserves");
	is($node->safe_psql($db, qq{SELECT (inventory.inventory_reserve('o2', 'S1', '$W1', 1, allow_oversell => false)).available}),
		'5', "$db: a superuser reserves");
	is($node->safe_psql($db, qq{SELECT (inventory.inventory_release('o2', 'S1', '$W1')).available}),
		'6', "$db: a superuser releases (inventory_take_reservation is not mallory's)");
	is($node->safe_psql($db, qq{SELECT (inventory.inventory_fulfill('o1', 'S1', '$W1', 4)).on_hand},
			extra_params => [ '-U', 'app' ]), '6', "$db: the app fulfills");
	$node->safe_psql($db, "UPDATE inventory.inventory_levels SET on_hand = 7 WHERE sku = 'S1'");
	is($node->safe_psql($db, "SELECT count(*) FROM inventory.inventory_ledger WHERE sku = 'S1'"), '6',
		"$db: every change has its ledger row");
	is($node->safe_psql($db, 'SELECT count(*) FROM inventory.inventory_verify()'), '0',
		"$db: inventory_verify() finds nothing");
	is(mallory_is_superuser(), 'f', "$db: mallory is still not a superuser");
}

attack('shop');
exercise('shop', 1);
attack('shop2');
exercise('shop2', 0);
is($node->safe_psql('shop2', "SELECT nspowner::regrole FROM pg_namespace WHERE nspname = 'inventory'"),
	$node->safe_psql('postgres', 'SELECT current_user'),
	'in a copy of a template the schema inventory still belongs to the superuser');

# A careless superuser loosens the schema or an object: the extension
# stops (the worker leaves the queue alone and says why; the API refuses
# with a HINT) rather than let mallory plant code, and resumes once fixed.
for my $case (
	[ 'GRANT CREATE ON SCHEMA inventory TO mallory', 'REVOKE CREATE ON SCHEMA inventory FROM mallory',
		qr/Role mallory may create objects in schema inventory\./ ],
	[ 'ALTER SCHEMA inventory OWNER TO mallory', 'ALTER SCHEMA inventory OWNER TO CURRENT_USER',
		qr/Schema inventory is owned by role mallory, which is not a superuser\./ ],
	[ 'ALTER TABLE inventory.inventory_ledger OWNER TO mallory', 'ALTER TABLE inventory.inventory_ledger OWNER TO CURRENT_USER',
		qr/Relation inventory_ledger of the extension is owned by role mallory, which is not a superuser\./ ],
	[ 'ALTER FUNCTION inventory_internal.inventory_levels_ledger() OWNER TO mallory', 'ALTER FUNCTION inventory_internal.inventory_levels_ledger() OWNER TO CURRENT_USER',
		qr/Function inventory_levels_ledger\(\) of the extension is owned by role mallory, which is not a superuser\./ ],
	# the internal schema, loosened the same ways
	[ 'GRANT CREATE ON SCHEMA inventory_internal TO mallory', 'REVOKE CREATE ON SCHEMA inventory_internal FROM mallory',
		qr/Role mallory may create objects in schema inventory_internal\./ ],
	[ 'ALTER SCHEMA inventory_internal OWNER TO mallory', 'ALTER SCHEMA inventory_internal OWNER TO CURRENT_USER',
		qr/Schema inventory_internal is owned by role mallory, which is not a superuser\./ ],
	[ 'GRANT CREATE ON SCHEMA inventory_internal TO mallory; SET ROLE mallory; '
		  . 'CREATE FUNCTION inventory_internal.inventory_outer_role(x int DEFAULT 0) RETURNS name LANGUAGE sql AS $$ SELECT current_user $$; '
		  . 'RESET ROLE; REVOKE CREATE ON SCHEMA inventory_internal FROM mallory',
		'DROP FUNCTION inventory_internal.inventory_outer_role(int)',
		qr/Function inventory_outer_role in schema inventory_internal is owned by role mallory, which is not a superuser\./ ],
	# renamed, so that mallory can make a schema of its name: hers is not
	# taken for the extension's
	[ 'ALTER SCHEMA inventory_internal RENAME TO inventory_old; SET ROLE mallory; CREATE SCHEMA inventory_internal; RESET ROLE',
		'DROP SCHEMA inventory_internal; ALTER SCHEMA inventory_old RENAME TO inventory_internal',
		qr/Schema inventory_old of the extension is not named inventory_internal, the name its functions use\./ ],
	# what mallory planted while she could create there stays after the REVOKE
	[ 'GRANT CREATE ON SCHEMA inventory TO mallory; SET ROLE mallory; '
		  . 'CREATE FUNCTION inventory.inventory_outer_role(x int DEFAULT 0) RETURNS name LANGUAGE sql AS $$ SELECT current_user $$; '
		  . 'RESET ROLE; REVOKE CREATE ON SCHEMA inventory FROM mallory',
		'DROP FUNCTION inventory.inventory_outer_role(int)',
		qr/Function inventory_outer_role in schema inventory is owned by role mallory, which is not a superuser\./ ])
{
	my ($loosen, $fix, $why) = @$case;
	my $off = -s $node->logfile;
	$node->safe_psql('shop', $loosen);
	my ($rc, $out, $err) = $node->psql('shop', qq{SELECT inventory.inventory_adjust('[{"sku": "S2", "warehouse_uuid": "$W1", "on_hand": 1}]')},
		extra_params => [ '-U', 'app' ]);
	like($err, qr/ERROR:  the inventory extension refuses to run in schema "inventory"\nDETAIL:  $why\nHINT:  /,
		"after \"$loosen\" inventory_adjust refuses, saying why");
	# a batch queued before is left alone while the worker distrusts
	$node->safe_psql('shop', $fix);
	$node->safe_psql('postgres', "ALTER SYSTEM SET inventory.enabled = off; SELECT pg_reload_conf()");
	ok(poll_until($node, 'shop', 'SELECT enabled FROM inventory.inventory_worker_status()', 'f', 30), 'worker paused');
	my $b = $node->safe_psql('shop', qq{SELECT inventory.inventory_adjust('[{"sku": "S2", "warehouse_uuid": "$W1", "on_hand": 2}]')});
	$node->safe_psql('shop', $loosen);
	$node->safe_psql('postgres', "ALTER SYSTEM RESET inventory.enabled; SELECT pg_reload_conf()");
	ok(wait_for_log_line($node, qr/DETAIL:  $why Queued batches stay queued\./, $off, 30),
		"the worker says why it leaves the queue alone");
	is($node->safe_psql('shop', "SELECT state FROM inventory.inventory_batches WHERE batch_id = $b"), 'queued',
		'the batch stays queued');
	$node->safe_psql('shop', $fix);
	ok(poll_until($node, 'shop', "SELECT state FROM inventory.inventory_batches WHERE batch_id = $b", 'applied', 30),
		"after \"$fix\" the worker applies it");
}
# When the reason changes while the worker distrusts (mallory could
# create, then planted a function and lost CREATE), the log names the new
# reason, not only the first.
{
	my $off = -s $node->logfile;
	$node->safe_psql('shop', 'GRANT CREATE ON SCHEMA inventory TO mallory');
	ok(wait_for_log_line($node, qr/DETAIL:  Role mallory may create objects in schema inventory\. Queued batches stay queued\./, $off, 30),
		'the worker says it distrusts, for the first reason');
	$off = -s $node->logfile;
	as_mallory('shop', 'CREATE FUNCTION inventory.inventory_outer_role(x int DEFAULT 0) RETURNS name LANGUAGE sql AS $$ SELECT current_user $$');
	$node->safe_psql('shop', 'REVOKE CREATE ON SCHEMA inventory FROM mallory');
	ok(wait_for_log_line($node, qr/DETAIL:  Function inventory_outer_role in schema inventory is owned by role mallory, which is not a superuser\. Queued batches stay queued\./, $off, 30),
		'and, once the reason changes, the new reason');
	$node->safe_psql('shop', 'DROP FUNCTION inventory.inventory_outer_role(int)');
	ok(wait_for_log_line($node, qr/inventory worker trusts the extension in database "shop" again/, $off, 30),
		'and says when it trusts again');
}
# Database settings the owner may attach do not stall the worker (a
# read-only default) nor put words in the order functions' ledger rows.
as_mallory('shop', q{ALTER DATABASE shop SET default_transaction_read_only = on;
ALTER DATABASE shop SET inventory.change_reason = 'forged by mallory'});
$node->safe_psql('postgres', "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'inventory worker' AND datname = 'shop'");
ok(poll_until($node, 'postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'inventory worker' AND datname = 'shop'", '1', 30),
	'the worker starts again in a database whose default is read-only');
my $b2 = $node->safe_psql('shop', qq{BEGIN READ WRITE; SELECT inventory.inventory_adjust('[{"sku": "S3", "warehouse_uuid": "$W1", "on_hand": 3}]'); COMMIT;});
ok(poll_until($node, 'shop', "SELECT state FROM inventory.inventory_batches WHERE batch_id = $b2", 'applied', 30),
	'and applies batches there');
$node->safe_psql('shop', qq{BEGIN READ WRITE; SELECT inventory.inventory_reserve('o3', 'S3', '$W1', 1); COMMIT;});
is($node->safe_psql('shop', "SELECT coalesce(description, 'none') FROM inventory.inventory_ledger WHERE order_ref = 'o3'"),
	'none', "the database's inventory.change_reason does not reach an order function's ledger row");
as_mallory('shop', q{ALTER DATABASE shop RESET default_transaction_read_only; ALTER DATABASE shop RESET inventory.change_reason});

is(mallory_is_superuser(), 'f', 'mallory never became a superuser');

$node->stop;
done_testing();
