/*-------------------------------------------------------------------------
 *
 * ledger_ids.c
 *	  Ledger ids and the change feed: the bound a writer publishes before it
 *	  takes ledger ids, and up to which id readers may safely read.
 *
 * Ledger ids come from a sequence while the writing transaction is open, so
 * a consumer reading "every change after my cursor" could move its cursor
 * past a change that commits later with a smaller id.  Writers publish a
 * lower bound of their ids before taking any (id_horizon.c), and
 * inventory_changes() reads only up to inventory_ledger_horizon().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "inventory.h"

PG_FUNCTION_INFO_V1(inventory_ledger_reserve_ids);
PG_FUNCTION_INFO_V1(inventory_ledger_horizon);

/*
 * Sequence of ledger ids in the given schema.
 */
Oid
InventoryLedgerSequence(Oid nspid)
{
	Oid			seqid = InventoryRelid(nspid, "inventory_ledger_id_seq");

	if (!OidIsValid(seqid))
		elog(ERROR, "inventory_ledger_id_seq is missing");
	return seqid;
}

/*
 * Publish the lowest ledger id this transaction may write; called before
 * writing ledger rows.
 */
void
InventoryLedgerPublishIdBound(Oid nspid)
{
	InventoryPublishIdBound(INVENTORY_ID_LEDGER, InventoryLedgerSequence(nspid));
}

/*
 * Largest ledger id up to which every change is committed or will never
 * exist; changes above it may still appear.
 */
int64
InventoryLedgerHorizon(Oid nspid)
{
	int			blocking_pid;
	int64		last = InventorySequenceLastValue(InventoryLedgerSequence(nspid));

	return InventoryIdHorizon(INVENTORY_ID_LEDGER, last, &blocking_pid);
}

/*
 * inventory_ledger_reserve_ids(): SQL entry point of
 * InventoryLedgerPublishIdBound, for the ledger trigger (its SQL name is
 * kept: databases at versions 1.0 and 1.1 call it).
 */
Datum
inventory_ledger_reserve_ids(PG_FUNCTION_ARGS)
{
	InventoryLedgerPublishIdBound(InventoryFunctionSchema(fcinfo));
	PG_RETURN_VOID();
}

/*
 * inventory_ledger_horizon(): see InventoryLedgerHorizon.  The caller must
 * read the ledger with a snapshot taken after this call, so READ COMMITTED
 * is required, and shared memory: without the preload there are no
 * published bounds to respect.
 */
Datum
inventory_ledger_horizon(PG_FUNCTION_ARGS)
{
	if (!InventoryShmemAvailable())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("reading inventory changes requires the inventory library in shared_preload_libraries"),
				 errdetail("Without it, a change committed late with a smaller id could be skipped.")));
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("inventory changes cannot be read on a standby"),
				 errdetail("Which changes may still commit is known only on the primary."),
				 errhint("Read inventory_changes() on the primary.")));
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("reading inventory changes requires the READ COMMITTED isolation level"),
				 errhint("Call it outside an explicit transaction, or in a READ COMMITTED one.")));
	PG_RETURN_INT64(InventoryLedgerHorizon(InventoryFunctionSchema(fcinfo)));
}
