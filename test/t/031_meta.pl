# META.json (PGXN) agrees with the extension: it parses, has the fields the
# PGXN spec requires, its version is the control file's default_version
# (as x.y.0), and the install script and docfile it names exist; likewise
# for the router extension (inventory_router).  No
# cluster is needed.

use strict;
use warnings;

use FindBin;
use JSON::PP;
use Test::More;

my $root = "$FindBin::RealBin/../..";
sub slurp
{
	my ($path) = @_;
	open my $fh, '<', $path or die "$path: $!";
	local $/;
	return <$fh>;
}

my $meta = eval { decode_json(slurp("$root/META.json")) };
ok($meta, 'META.json is valid JSON') or diag($@);
for my $field (qw(name abstract version maintainer license provides meta-spec))
{
	ok(exists $meta->{$field}, "it has $field");
}
my ($default) = slurp("$root/inventory.control") =~ /^default_version\s*=\s*'([^']+)'/m;
is($meta->{version}, "$default.0", "its version is the control file's default_version ($default)");
my $provided = $meta->{provides}{inventory};
is($provided->{version}, $meta->{version}, 'the extension it provides has that version');
is($provided->{file}, "inventory--$default.sql", 'and names the current install script');
ok(-f "$root/$provided->{file}", 'which exists');
ok(-f "$root/$provided->{docfile}", 'as does its docfile');
my ($router) = slurp("$root/inventory_router.control") =~ /^default_version\s*=\s*'([^']+)'/m;
is($meta->{provides}{inventory_router}{version}, "$router.0", "the router extension it provides has its control file's version ($router)");
is($meta->{provides}{inventory_router}{file}, "inventory_router--$router.sql", 'and names its install script');
ok(-f "$root/$meta->{provides}{inventory_router}{file}", 'which exists');
is($meta->{license}, 'postgresql', 'under the PostgreSQL license');

done_testing();
