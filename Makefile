# PGXS build for the inventory extension.
#
# Layout: install scripts at the top level (inventory--<version>.sql), C sources
# in src/, pg_regress tests in sql/ + expected/, isolation specs in
# test/specs/ + test/expected/, TAP tests in test/t/, scripts in test/.

EXTENSION = inventory
MODULE_big = inventory
OBJS = \
	src/inventory.o \
	src/shmem.o \
	src/adjust.o \
	src/warehouses.o \
	src/problems.o \
	src/item.o \
	src/idempotency.o \
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
	src/wakeup.o \
	src/transaction_end.o \
	src/worker_status.o \
	src/worker.o \
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

DATA = $(wildcard inventory--*.sql)


# pg_regress tests (sql/ and expected/); run against a server that preloads
# the library, see test/run-tests.
REGRESS = setup validation apply triggers worker orders ledger rounds idempotency
# The database must exist already and be the worker's inventory.database;
# test/run-tests passes CONTRIB_TESTDB and ISOLATION_TESTDB to name it.
REGRESS_OPTS = --use-existing

# isolation specs
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
