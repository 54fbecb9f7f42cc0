# shellcheck shell=bash
# Sourced by test/run-tests, test/check-virtualenv and demo/run-demo: install
# the built extension into a private directory that throw-away clusters load
# it from, instead of into PostgreSQL's own directories, which a running
# server on the same machine uses.
#
# Debian's PostgreSQL (and apt.postgresql.org's) has a setting of its own,
# extension_destdir: the server looks for extension control and script files,
# and for libraries named "$libdir/...", under that prefix first (Debian's
# pg_virtualenv -p and dh_pgxs_test test packages before they are installed
# this way).  A bare library name, as in shared_preload_libraries =
# 'inventory', is looked up along dynamic_library_path, so that names the
# private directory first too.  JIT inlining still reads bitcode from
# PostgreSQL's own directory, where another version of the extension may be
# installed: the throw-away clusters do not inline (jit_inline_above_cost =
# -1) rather than inline that version's code.
#
# private_install ROOT PG_CONFIG
#   runs "make install DESTDIR=DIR" in ROOT (built already) into a new
#   directory DIR under /tmp, readable by the postgres user that runs the
#   servers, writes PRIVATE_CONF, and sets the variables of private_use.
#   The caller removes PRIVATE_DIR.
#
# private_use DIR PG_CONFIG
#   sets, for the private installation in DIR:
#     PRIVATE_DIR   DIR
#     PRIVATE_LIB   the library's path there
#     PRIVATE_OPTS  pg_virtualenv options that make a cluster use it
#     PRIVATE_CONF  a postgresql.conf fragment with the same settings, in
#                   DIR (for TEMP_CONFIG, which PostgreSQL::Test::Cluster
#                   adds to the configuration of every node it creates)
#
# private_check
#   checks, in the server that psql reaches through the environment and
#   that preloads the library, that the library it loaded is PRIVATE_LIB;
#   fails naming the one it did load otherwise.

private_install() {
    local root=$1 pg_config=$2 sharedir pkglibdir

    sharedir=$("$pg_config" --sharedir)
    pkglibdir=$("$pg_config" --pkglibdir)
    if ! grep -q extension_destdir "$sharedir/postgresql.conf.sample"; then
        echo "private_install: this PostgreSQL ($pg_config) lacks Debian's extension_destdir setting;" \
             "the tests need PostgreSQL from Debian's or apt.postgresql.org's packages" >&2
        return 1
    fi
    private_use "$(mktemp -d /tmp/inventory-private.XXXXXX)" "$pg_config"
    chmod 755 "$PRIVATE_DIR"
    make -C "$root" -s PG_CONFIG="$pg_config" DESTDIR="$PRIVATE_DIR" install
    if [ ! -f "$PRIVATE_LIB" ] || [ ! -f "$PRIVATE_DIR$sharedir/extension/inventory.control" ]; then
        echo "private_install: make install put no inventory.so or inventory.control under $PRIVATE_DIR" >&2
        return 1
    fi
    cat >"$PRIVATE_CONF" <<EOF
extension_destdir = '$PRIVATE_DIR'
dynamic_library_path = '$PRIVATE_DIR$pkglibdir:\$libdir'
jit_inline_above_cost = -1
EOF
    chmod 644 "$PRIVATE_CONF"
}

private_use() {
    local pkglibdir
    PRIVATE_DIR=$1
    pkglibdir=$("$2" --pkglibdir)
    PRIVATE_LIB=$PRIVATE_DIR$pkglibdir/inventory.so
    # shellcheck disable=SC2034  # for the scripts that source this file
    PRIVATE_OPTS=(-o "extension_destdir=$PRIVATE_DIR"
                  -o "dynamic_library_path=$PRIVATE_DIR$pkglibdir:\$libdir"
                  -o "jit_inline_above_cost=-1")
    PRIVATE_CONF=$PRIVATE_DIR/private.conf
}

private_check() {
    local loaded
    loaded=$(psql -X -At -c "SELECT pg_read_file('/proc/' || pg_backend_pid() || '/maps')" |
             awk '$6 ~ /\/inventory\.so$/ { print $6; exit }')
    if [ "$loaded" != "$PRIVATE_LIB" ]; then
        echo "private_check: the server loaded '${loaded:-no inventory.so}', not $PRIVATE_LIB" >&2
        return 1
    fi
}
