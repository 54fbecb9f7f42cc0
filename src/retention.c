/*-------------------------------------------------------------------------
 *
 * retention.c
 *	  Retention: the worker prunes the ledger and the batch history older
 *	  than inventory.retention, through inventory_prune() (version 1.5).
 *
 * The pruning itself is SQL (inventory_prune, in the install script), so
 * that a DBA can run it by hand or from a scheduler with the same result.
 * The worker calls it in short transactions of their own, outside rounds,
 * a bounded number of rows at a time, and again at once while it reports
 * more to do.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/guc.h"

#include <limits.h>

#include "inventory.h"

/* Rows of each kind (ledger ids, batches) one call prunes at most */
#define PRUNE_MAX_ROWS	20000

/* Longest pause between two passes, in seconds */
#define PRUNE_MAX_INTERVAL_S	60

/* inventory.retention, in seconds (0: keep everything) */
static int	inventory_retention_s = 0;

static InventoryStatement prune = {
	.sql = "SELECT more FROM @extschema@.inventory_prune("
	"pg_catalog.make_interval(secs => $1), $2)",
	.nargs = 2,
	.argtypes = {INT4OID, INT4OID}
};

/*
 * Define inventory.retention; called from _PG_init.
 */
void
InventoryRetentionInit(void)
{
	DefineCustomIntVariable("inventory.retention",
							"How long the ledger and the history of applied batches are kept.",
							"The worker prunes older rows, keeping where each key's ledger ended. "
							"0 keeps everything.",
							&inventory_retention_s,
							0, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
}

/*
 * Milliseconds between two passes of the worker, or -1 when retention is
 * off: a quarter of the horizon, so that nothing is kept much longer than
 * it, but at least a second and at most a minute apart.
 */
long
InventoryRetentionIntervalMs(void)
{
	long		interval_s;

	if (inventory_retention_s <= 0)
		return -1;
	interval_s = Max(1, Min(PRUNE_MAX_INTERVAL_S, inventory_retention_s / 4));
	return interval_s * 1000L;
}

/*
 * One pass of inventory_prune() in the extension's schema nspid, when the
 * database's version has it; returns whether more is left to prune now.
 * The caller is connected to SPI.
 */
bool
InventoryPruneHistory(Oid nspid)
{
	Datum		args[2];
	bool		isnull;
	Datum		more;

	if (inventory_retention_s <= 0 ||
		!OidIsValid(InventoryRelid(nspid, "inventory_retention_state")))
		return false;
	args[0] = Int32GetDatum(inventory_retention_s);
	args[1] = Int32GetDatum(PRUNE_MAX_ROWS);
	if (InventoryStatementRun(&prune, nspid, args, false, SPI_OK_SELECT) != 1)
		elog(ERROR, "inventory_prune() returned no row");
	more = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return !isnull && DatumGetBool(more);
}
