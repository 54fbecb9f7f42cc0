# PGXS build for the inventory extension.
#
# Layout: install scripts at the top level (inventory--<version>.sql), C sources
# in src/, pg_regress tests in sql/ + expected/, isolation specs in
# test/specs/ + test/expected/, TAP tests in test/t/, scripts in test/.

EXTENSION = inventory inventory_router
MODULE_big = inventory
OBJS = \
	src/inventory.o \
	src/shmem.o \
	src/adjust.o \
	src/warehouses.o \
	src/merchant.o \
	src/problems.o \
	src/item.o \
	src/idempotency.o \
	src/retention.o \
	src/round.o \
	src/retry.o \
	src/apply.o \
	src/item_stream.o \
	src/chunk_writer.o \
	src/ledger_append.o \
	src/ledger_ids.o \
	src/ledger_context.o \
	src/outer_role.o \
	src/statement.o \
	src/schema.o \
	src/sequence.o \
	src/id_horizon.o \
	src/databases.o \
	src/wakeup.o \
	src/transaction_end.o \
	src/expiry.o \
	src/feeds.o \
	src/round_log.o \
	src/channel_rule.o \
	src/worker_status.o \
	src/worker.o \
	src/launcher.o \
	src/database_commands.o \
	src/blockers.o \
	src/backpressure.o \
	src/triggers.o \
	src/trust.o \
	src/validate.o \
	src/statement_origin.o \
	src/utility_hook.o \
	src/drop_queue.o \
	src/restore.o \
	src/current_xact.o

DATA = $(wildcard inventory--*.sql) $(wildcard inventory_router--*.sql)


# pg_regress tests (sql/ and expected/) and isolation specs (test/specs/),
# in the database inventory_regress, which "make installcheck" makes anew
# (dropping one left by an earlier run).  They need a server that preloads
# the library (its launcher serves every database), and they create roles and databases of their own: "make check-virtualenv"
# runs them in throw-away clusters (test/check-virtualenv), and
# sql/nopreload.sql in one without the preload.

REGRESS = setup validation apply triggers worker orders holds ledger rounds operations transfers get idempotency channels merchants retention
REGRESS_OPTS = --use-existing
REGRESS_PREP = installcheck-database

# isolation specs, in the same database, after the pg_regress tests
ISOLATION = $(patsubst test/specs/%.spec,%,$(sort $(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test --outputdir=test/output_iso --use-existing

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)

# Our code builds clean with -Wall -Wextra -Werror.  PostgreSQL's headers are
# not -Wextra clean (unused parameters in inline functions), so they are
# included as system headers, which GCC and clang exempt from warnings.
PG_CPPFLAGS = -I$(srcdir)/src -isystem $(shell $(PG_CONFIG) --includedir-server)
PG_CFLAGS = -Wall -Wextra -Werror

include $(PGXS)

# After PGXS, which sets defaults of its own.
CONTRIB_TESTDB = inventory_regress
ISOLATION_TESTDB = inventory_regress

# TAP tests (test/t/), with PostgreSQL's TAP modules (Debian's
# postgresql-server-dev-15, and libipc-run-perl), wired as pgvector wires
# them: "make prove_installcheck" runs them against the installed
# extension, each in clusters of its own, as a user initdb accepts (not
# root).  Not part of "make installcheck", which runs against a server.
PROVE_TESTS = test/t/*.pl
PROVE_FLAGS += -I ./test/perl

.PHONY: installcheck-database check-virtualenv prove_installcheck

prove_installcheck:
	$(prove_installcheck)

# The tests' database, made anew.  As root outside pg_virtualenv (which sets
# PGUSER), pg_regress would connect as the role "root": say what to run.
installcheck-database:
	@if [ "$$(id -u)" = 0 ] && [ -z "$${PGUSER:-}" ]; then \
	    echo 'make installcheck: as root, pg_regress would connect as the role "root".' >&2; \
	    echo 'Run "make check-virtualenv" (throw-away clusters), or set PGUSER, PGHOST and PGPORT for a server the tests may change.' >&2; \
	    exit 1; \
	fi
	PGOPTIONS='-c client_min_messages=warning' '$(bindir)/dropdb' --if-exists --force '$(CONTRIB_TESTDB)'
	'$(bindir)/createdb' '$(CONTRIB_TESTDB)'
	'$(bindir)/psql' -X -q -v ON_ERROR_STOP=1 -d '$(CONTRIB_TESTDB)' -f test/search_path.sql

# Build, install into a private directory, and run the pg_regress and
# isolation tests in throw-away clusters; leaves PostgreSQL's directories and
# running servers alone.
check-virtualenv:
	PG_CONFIG='$(PG_CONFIG)' test/check-virtualenv
