# The text rules of the API (no control characters: C0, DEL and C1) hold in
# every database encoding, for inventory_adjust, the order functions and
# direct writes alike:
#   - LATIN1: the bytes 0x80..0x9F are the C1 controls U+0080..U+009F and
#     are refused; other bytes above 0x7F (0xE9, e acute) are letters and
#     are accepted;
#   - WIN1252: the same bytes 0x80..0x9F are printable characters (0x80 is
#     the euro sign) and are accepted;
#   - UTF8: U+0085 is refused, U+00E9 accepted.
# The value is decoded to code points, not judged byte by byte.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use InventoryTest;
use File::Basename qw(dirname);

$ENV{PG_REGRESS} //= dirname(dirname(`pg_config --pgxs`)) . '/test/regress/pg_regress';

my $W1 = '11111111-1111-4111-8111-111111111111';
my $node = inventory_node('encodings', utf8 => 1);

for my $enc (qw(LATIN1 WIN1252 UTF8))
{
	my $db = lc "enc_$enc";
	$node->safe_psql('postgres',
		"CREATE DATABASE $db ENCODING '$enc' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0");
	$node->safe_psql($db, qq{
SET client_min_messages = error;
CREATE EXTENSION inventory;
INSERT INTO inventory_warehouses (uuid, name) VALUES ('$W1', 'Main');
});
	is($node->safe_psql($db, 'SHOW server_encoding'), $enc, "database $db is $enc");
}

# Run SQL in $db, then roll it back; returns "ok <result>" or
# "<SQLSTATE> <message> | <detail>".
sub outcome
{
	my ($db, $sql) = @_;
	return $node->safe_psql($db, qq{
CREATE FUNCTION pg_temp.outcome(q text) RETURNS text LANGUAGE plpgsql AS \$f\$
DECLARE
    st text; msg text; det text; res text;
BEGIN
    EXECUTE q INTO res;
    RETURN 'ok ' || res;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
    RETURN st || ' ' || msg || ' | ' || coalesce(det, '');
END
\$f\$;
BEGIN;
SELECT pg_temp.outcome(\$q\$$sql\$q\$);
ROLLBACK;
});
}

# The calls, with the sku 'A' followed by the character chr($code) of the
# database's encoding (chr() takes a byte for single-byte encodings and a
# code point for UTF8).
sub calls
{
	my ($code) = @_;
	my $sku = "'A' || chr($code)";
	return (
		adjust => "SELECT inventory_adjust(jsonb_build_array(jsonb_build_object('sku', $sku, "
		  . "'warehouse_uuid', '$W1', 'on_hand', 1)))::text",
		reserve => "SELECT reserved::text FROM inventory_reserve('ORDER-1', $sku, '$W1', 1)",
		reserve_ref => "SELECT reserved::text FROM inventory_reserve('ORDER-' || chr($code), 'A', '$W1', 1)",
		direct_level => "INSERT INTO inventory_levels (sku, warehouse_uuid, on_hand) "
		  . "VALUES ($sku, '$W1', 1) RETURNING 'inserted'",
		direct_reservation => "INSERT INTO inventory_reservations (order_ref, line_ref, sku, warehouse_uuid, quantity) "
		  . "VALUES ('ORDER-2', 'L' || chr($code), 'A', '$W1', 1) RETURNING 'inserted'");
}

my %refused = (
	adjust => qr/^22023 inventory batch rejected: 1 of 1 items are invalid \| Item 1: "sku" must not contain control characters\.$/,
	reserve => qr/^22023 invalid sku \| "sku" must not contain control characters\.$/,
	reserve_ref => qr/^22023 invalid order_ref \| "order_ref" must not contain control characters\.$/,
	direct_level => qr/^23514 new row for relation "inventory_levels" has an invalid sku \| "sku" must not contain control characters\.$/,
	direct_reservation => qr/^23514 new row for relation "inventory_reservations" has an invalid line_ref \| "line_ref" must not contain control characters\.$/);

# [database, code, what it is, refused?]
my @cases = (
	[ 'enc_latin1', 133, 'LATIN1 0x85 (C1, NEXT LINE)', 1 ],
	[ 'enc_latin1', 128, 'LATIN1 0x80 (C1)', 1 ],
	[ 'enc_latin1', 159, 'LATIN1 0x9F (C1)', 1 ],
	[ 'enc_latin1', 233, 'LATIN1 0xE9 (e acute)', 0 ],
	[ 'enc_latin1', 160, 'LATIN1 0xA0 (no-break space, not a control)', 0 ],
	[ 'enc_win1252', 128, 'WIN1252 0x80 (euro sign)', 0 ],
	[ 'enc_win1252', 133, 'WIN1252 0x85 (ellipsis)', 0 ],
	[ 'enc_utf8', 133, 'UTF8 U+0085 (C1)', 1 ],
	[ 'enc_utf8', 233, 'UTF8 U+00E9 (e acute)', 0 ]);

for my $case (@cases)
{
	my ($db, $code, $what, $refuse) = @$case;
	my %calls = calls($code);
	for my $call (sort keys %calls)
	{
		my $got = outcome($db, $calls{$call});
		if ($refuse)
		{
			like($got, $refused{$call}, "$what: $call refused");
		}
		else
		{
			like($got, qr/^ok /, "$what: $call accepted");
		}
	}
}

# C0 and DEL are refused in every encoding.
for my $db (qw(enc_latin1 enc_win1252 enc_utf8))
{
	for my $code (1, 9, 127)
	{
		my %calls = calls($code);
		like(outcome($db, $calls{$_}), $refused{$_}, "$db chr($code): $_ refused") for sort keys %calls;
	}
}

# Nothing above was kept (every call was rolled back).
for my $db (qw(enc_latin1 enc_win1252 enc_utf8))
{
	is($node->safe_psql($db, q{SELECT (SELECT count(*) FROM inventory_levels) + (SELECT count(*) FROM inventory_reservations)
	                             + (SELECT count(*) FROM inventory_queue)}), '0', "$db: nothing kept");
}

$node->stop;
done_testing();
