/*-------------------------------------------------------------------------
 *
 * retry.c
 *	  Run batches in a subtransaction, and when a round fails because of a
 *	  batch, find the batches at fault and record them as failed.
 *
 * After a round failed because of a batch, its batches are tried in
 * growing groups (1, 2, 4, ... batches; a failing group is halved) to find
 * the failing ones, each group in a subtransaction.  At most
 * MAX_RETRY_ATTEMPTS such subtransactions run in one transaction (a
 * committed subtransaction keeps a little memory until the top-level
 * commit); the batches left over go to the next round.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "apply.h"

#define MAX_RETRY_ATTEMPTS 256

/* Move a batch from the queue to the history as failed, with its error */
static InventoryStatement mark_failed = {
	.sql = "WITH taken AS (DELETE FROM @extschema@.inventory_queue q "
	"  WHERE q.batch_id OPERATOR(pg_catalog.=) $1 "
	"  RETURNING q.*, q.xmin AS queued_xid) "
	"INSERT INTO @extschema@.inventory_batch_history (batch_id, state, item_count, "
	"  create_missing, queued_at, queued_by, queued_xid, applied_at, error, items) "
	"SELECT batch_id, 'failed', item_count, create_missing, queued_at, "
	"       queued_by, queued_xid, pg_catalog.clock_timestamp(), $2, items FROM taken",
	.nargs = 2,
	.argtypes = {INT8OID, TEXTOID}
};

/*
 * Whether an error is the batch's fault rather than a passing condition,
 * after which the round is retried rather than its batches marked failed.
 *
 * Passing: a deadlock or serialization failure, a lock or statement
 * timeout, a cancel or shutdown, a lack of resources, an I/O or internal
 * error, and a fault of the extension's own bookkeeping (a ledger id taken
 * twice after a restore without inventory.restoring).  Everything else
 * (bad data, a constraint, a trigger or rule the owner added to any table
 * the apply writes, a table changed under it) is the batch's: retrying it
 * would only wedge the queue, so it is recorded as failed with its error
 * and later batches go on.
 */
static bool
ErrorIsBatchFault(ErrorData *edata)
{
	if (edata->sqlerrcode == ERRCODE_UNIQUE_VIOLATION &&
		edata->constraint_name != NULL &&
		strcmp(edata->constraint_name, "inventory_ledger_pkey") == 0)
		return false;
	if (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE ||
		edata->sqlerrcode == ERRCODE_OBJECT_IN_USE)
		return false;
	switch (ERRCODE_TO_CATEGORY(edata->sqlerrcode))
	{
		case ERRCODE_CONNECTION_EXCEPTION:
		case ERRCODE_INVALID_TRANSACTION_STATE:
		case ERRCODE_SAVEPOINT_EXCEPTION:
		case ERRCODE_TRANSACTION_ROLLBACK:
		case ERRCODE_INSUFFICIENT_RESOURCES:
		case ERRCODE_OPERATOR_INTERVENTION:
		case ERRCODE_SYSTEM_ERROR:
		case ERRCODE_SNAPSHOT_TOO_OLD:
		case ERRCODE_CONFIG_FILE_ERROR:
		case ERRCODE_INTERNAL_ERROR:
			return false;
		default:
			return true;
	}
}

/*
 * Run InventoryApplyBatches in a subtransaction and a memory context of its own,
 * both gone when it returns (a committed subtransaction keeps only what
 * the transaction needs).  On an error that is the batches' fault returns
 * INVENTORY_TRY_FAILED with *error set (allocated in the caller's context); on
 * running out of memory with several batches, INVENTORY_TRY_TOO_BIG; any other error
 * is re-thrown.
 */
InventoryTryResult
InventoryTryApply(Oid nspid, int64 *ids, int nids, int64 *nitems, char **error)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	MemoryContext attempt_cxt = AllocSetContextCreate(oldcontext, "inventory apply attempt",
													  ALLOCSET_DEFAULT_SIZES);
	volatile InventoryTryResult result = INVENTORY_TRY_APPLIED;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(attempt_cxt);
	PG_TRY();
	{
		*nitems = InventoryApplyBatches(nspid, ids, nids);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		MemoryContextDelete(attempt_cxt);

		if (edata->sqlerrcode == ERRCODE_OUT_OF_MEMORY && nids > 1)
			return INVENTORY_TRY_TOO_BIG;
		/* Not the batches' fault: end this round, the caller retries. */
		if (!ErrorIsBatchFault(edata))
			ReThrowError(edata);

		*error = edata->detail
			? psprintf("%s (SQLSTATE %s): %s", edata->message,
					   unpack_sql_state(edata->sqlerrcode), edata->detail)
			: psprintf("%s (SQLSTATE %s)", edata->message,
					   unpack_sql_state(edata->sqlerrcode));
		FreeErrorData(edata);
		result = INVENTORY_TRY_FAILED;
	}
	PG_END_TRY();
	if (result == INVENTORY_TRY_APPLIED)
		MemoryContextDelete(attempt_cxt);
	return result;
}

/*
 * After the round's batches failed together, find the ones at fault:
 * try them in groups of 1, 2, 4, ... while they apply; a group that fails
 * is halved until the failing batch is alone, which is recorded as failed
 * with its error.  Stops after MAX_RETRY_ATTEMPTS subtransactions, leaving
 * the rest for the next round.
 */
void
InventoryFindFailingBatches(Oid nspid, int64 *ids, int32 *counts, int nids,
				   InventoryApplyResult *result)
{
	int			pos = 0;
	int			step = 1;
	int			attempts = 0;

	while (pos < nids)
	{
		int			n = Min(step, nids - pos);
		int64		nitems;
		char	   *error = NULL;
		Datum		args[2];

		if (attempts++ >= MAX_RETRY_ATTEMPTS)
		{
			/* the batches left stay queued: count their items back in */
			int64		left = 0;

			for (int i = pos; i < nids; i++)
				left += counts[i];
			InventoryNoteDequeuedItems(-left);
			result->more = true;
			break;
		}
		CHECK_FOR_INTERRUPTS();
		switch (InventoryTryApply(nspid, &ids[pos], n, &nitems, &error))
		{
			case INVENTORY_TRY_APPLIED:
				result->batches_applied += n;
				result->items_applied += nitems;
				pos += n;
				step = Min(step * 2, 1 << 20);
				continue;
			case INVENTORY_TRY_TOO_BIG:
				step = Max(n / 2, 1);
				continue;
			case INVENTORY_TRY_FAILED:
				if (n > 1)
				{
					step = n / 2;
					continue;
				}
				break;
		}
		args[0] = Int64GetDatum(ids[pos]);
		args[1] = CStringGetTextDatum(error);
		(void) InventoryStatementRun(&mark_failed, nspid, args, false, SPI_OK_INSERT);
		result->batches_failed++;
		ereport(WARNING,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("inventory batch %lld failed", (long long) ids[pos]),
				 errdetail("%s", error),
				 errhint("The batch is recorded as failed in inventory_batches; later batches are applied.")));
		pos++;
		step = 1;
	}
}
