/*-------------------------------------------------------------------------
 *
 * restore.c
 *	  Restoring a dump without inventory.restoring: the COPY of
 *	  inventory_levels and inventory_reservations (and, from 1.4, of the
 *	  channels, their warehouses and the stock alerts) in the middle of a
 *	  restore runs as if the setting were on, and a COPY that collides with
 *	  the ledger's ids says how to restore.
 *
 * pg_dump writes the rows of the extension's tables, then sets their
 * sequences.  The tables come in name order, but for foreign keys:
 * inventory_batch_history, inventory_idempotency_keys, inventory_ledger,
 * inventory_warehouses, inventory_levels, inventory_queue,
 * inventory_reservations.  The dump holds the ledger and the reserved sums
 * already, so the triggers that derive them must stand aside while the
 * level rows and the reservations are loaded; left to fire, the ledger
 * trigger takes ids from a sequence not yet set, which the restored ledger
 * holds already (a duplicate key), and the reservations trigger counts
 * every reservation a second time.  Likewise the triggers of the channels,
 * their warehouses and the stock alerts (1.4): the dump holds the channel
 * feed and the alert states already, and left to fire they would have
 * every channel said again and every threshold reported again.
 *
 * A restore is under way when the ledger, the batch history or the queue
 * holds an id its sequence has not issued (from 1.5 the ledger's retention
 * checkpoints too, which pg_dump loads before the level rows: once
 * retention has pruned every ledger row and batch, they alone hold ids):
 * ids come only from those sequences, so nothing but loading rows before
 * setting the sequence makes that state, and while it lasts the triggers
 * could not write a ledger row without colliding anyway.  A superuser's COPY into one of those tables
 * then runs with inventory.restoring on for that statement, and the server log says so.  That covers pg_restore and psql
 * restoring in one session (the default).  A parallel pg_restore (-j) may
 * load the level rows before the ledger, a dump made with --inserts loads
 * them without COPY, and a data-only restore may find the sequences set:
 * those still need the setting, and the ledger's duplicate key error says
 * so in its HINT.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "inventory.h"

/* How to restore, for the HINT of a collision */
#define RESTORE_HINT "A dump of a database with the inventory extension is restored with inventory.restoring on " \
	"for the restoring session, as a superuser, into a new database: " \
	"PGOPTIONS='-c inventory.restoring=on' pg_restore -d newdb dump.file " \
	"(or psql -f dump.sql newdb with the same PGOPTIONS). " \
	"Without it, only a restore in one session (no -j, a dump without --inserts) works."

/* The largest ids the ledger and the batches hold */
#define RESTORED_BATCH_IDS \
	"GREATEST((SELECT pg_catalog.max(h.batch_id) FROM @extschema@.inventory_batch_history h), " \
	"(SELECT pg_catalog.max(q.batch_id) FROM @extschema@.inventory_queue q))"
static InventoryStatement restored_ids = {
	.sql = "SELECT (SELECT pg_catalog.max(l.id) FROM @extschema@.inventory_ledger l), "
	RESTORED_BATCH_IDS,
	.nargs = 0
};

/* The same, with the ledger ids the retention checkpoints hold (1.5) */
static InventoryStatement restored_ids_checkpoints = {
	.sql = "SELECT GREATEST((SELECT pg_catalog.max(l.id) FROM @extschema@.inventory_ledger l), "
	"(SELECT pg_catalog.max(c.ledger_id) FROM @extschema@.inventory_ledger_checkpoints c)), "
	RESTORED_BATCH_IDS,
	.nargs = 0
};

/*
 * Whether rows are being restored into the extension in schema nspid: the
 * ledger or the batches hold an id their sequence has not issued.  The ids
 * are read before the sequences, so that an id taken concurrently (and
 * committed) cannot look unissued.  Sets *ledger_max and *ledger_last for
 * the log.
 */
static bool
RestoreUnderWay(Oid nspid, int64 *ledger_max, int64 *ledger_last)
{
	Oid			batch_seq = InventoryRelid(nspid, "inventory_batch_id_seq");
	bool		isnull;
	Datum		d;
	int64		batch_max = 0;

	*ledger_max = 0;
	if (!OidIsValid(batch_seq) ||
		!OidIsValid(InventoryRelid(nspid, "inventory_ledger_id_seq")) ||
		!OidIsValid(InventoryRelid(nspid, "inventory_ledger")) ||
		!OidIsValid(InventoryRelid(nspid, "inventory_batch_history")) ||
		!OidIsValid(InventoryRelid(nspid, "inventory_queue")))
		return false;

	SPI_connect();
	(void) InventoryStatementRun(OidIsValid(InventoryRelid(nspid, "inventory_ledger_checkpoints")) ?
								 &restored_ids_checkpoints : &restored_ids,
								 nspid, NULL, true, SPI_OK_SELECT);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		*ledger_max = DatumGetInt64(d);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (!isnull)
		batch_max = DatumGetInt64(d);
	SPI_finish();

	*ledger_last = InventorySequenceLastValue(InventoryLedgerSequence(nspid));
	return *ledger_max > *ledger_last ||
		batch_max > InventorySequenceLastValue(batch_seq);
}

/*
 * Before a COPY: when it loads rows into one of the extension's tables
 * whose loading a restore needs to know about (inventory_levels,
 * inventory_reservations, inventory_ledger, and the channels, their
 * warehouses and the stock alerts), fill in *copy and return true; the
 * caller then runs it with InventoryRestoreCopyFailed on error and
 * InventoryRestoreCopyEnd after.  A superuser's COPY into one of them but
 * the ledger while a restore is under way runs with inventory.restoring
 * on.
 */
bool
InventoryRestoreCopyBegin(CopyStmt *stmt, InventoryRestoreCopy *copy)
{
	Oid			nspid;
	Oid			relid;
	int64		ledger_max;
	int64		ledger_last;

	memset(copy, 0, sizeof(*copy));
	if (!stmt->is_from || stmt->relation == NULL)
		return false;
	nspid = InventoryExtensionSchema();
	if (!OidIsValid(nspid))
		return false;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (!OidIsValid(relid) || get_rel_namespace(relid) != nspid)
		return false;
	if (relid == InventoryRelid(nspid, "inventory_ledger"))
		copy->table = "inventory_ledger";
	else if (relid == InventoryRelid(nspid, "inventory_levels"))
		copy->table = "inventory_levels";
	else if (relid == InventoryRelid(nspid, "inventory_reservations"))
		copy->table = "inventory_reservations";
	else if (relid == InventoryRelid(nspid, "inventory_channels"))
		copy->table = "inventory_channels";
	else if (relid == InventoryRelid(nspid, "inventory_channel_warehouses"))
		copy->table = "inventory_channel_warehouses";
	else if (relid == InventoryRelid(nspid, "inventory_stock_alerts"))
		copy->table = "inventory_stock_alerts";
	else
		return false;
	copy->nspname = MemoryContextStrdup(TopTransactionContext, get_namespace_name(nspid));

	if (strcmp(copy->table, "inventory_ledger") != 0 && superuser() &&
		strcmp(GetConfigOption("inventory.restoring", false, false), "on") != 0 &&
		InventoryTrustProblem(nspid) == NULL &&
		RestoreUnderWay(nspid, &ledger_max, &ledger_last))
	{
		ereport(LOG,
				(errmsg("inventory: COPY into %s.%s restores its rows as dumped, as with inventory.restoring on",
						quote_identifier(copy->nspname), copy->table),
				 errdetail("A dump is being restored: the ledger or the batches hold ids their sequences have not issued yet (ledger ids up to %lld, inventory_ledger_id_seq at %lld), so the ledger and reservation triggers stand aside for this statement.",
						   (long long) ledger_max, (long long) ledger_last)));
		copy->guc_level = NewGUCNestLevel();
		(void) set_config_option("inventory.restoring", "on", PGC_SUSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	}
	return true;
}

/*
 * After the COPY: inventory.restoring back to what it was.
 */
void
InventoryRestoreCopyEnd(InventoryRestoreCopy *copy)
{
	if (copy->guc_level > 0)
		AtEOXact_GUC(true, copy->guc_level);
	copy->guc_level = 0;
}

/*
 * The COPY failed (called in PG_CATCH, with the memory context current
 * before the COPY): a duplicate ledger id gets a HINT saying how to
 * restore, and is thrown again; any other error is left to the caller to
 * throw again.
 */
void
InventoryRestoreCopyFailed(InventoryRestoreCopy *copy, MemoryContext cxt)
{
	MemoryContext ecxt = MemoryContextSwitchTo(cxt);
	ErrorData  *edata = CopyErrorData();

	if (edata->sqlerrcode == ERRCODE_UNIQUE_VIOLATION && edata->hint == NULL &&
		edata->constraint_name != NULL && edata->schema_name != NULL &&
		strcmp(edata->constraint_name, "inventory_ledger_pkey") == 0 &&
		strcmp(edata->schema_name, copy->nspname) == 0)
	{
		FlushErrorState();
		edata->hint = pstrdup(RESTORE_HINT);
		ReThrowError(edata);
	}
	FreeErrorData(edata);
	MemoryContextSwitchTo(ecxt);
}
