/*-------------------------------------------------------------------------
 *
 * transaction_end.c
 *	  What a transaction that queued batches or wrote ledger rows does when
 *	  it ends: it may not be prepared; at its end it clears the id bounds
 *	  it published (id_horizon.c) and wakes the worker (wakeup.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"

#include "inventory.h"

/*
 * Transaction callback: refuse PREPARE of a transaction that published id
 * bounds, and at its end clear them and wake the worker.
 */
static void
TransactionEnd(XactEvent event, void *arg pg_attribute_unused())
{
	bool		batches = InventoryIdBoundPublished(INVENTORY_ID_BATCH);
	bool		changes = InventoryIdBoundPublished(INVENTORY_ID_LEDGER);

	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			if (batches || changes)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that queued inventory batches or changed stock"),
						 errdetail("Batches and changes are read in order, which a prepared transaction could hold back indefinitely.")));
			break;

		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			if (!batches && !changes)
				break;
			InventoryClearIdBounds();

			/*
			 * Tell the worker what happened: a batch queued, or (even on
			 * abort) a bound it may have been waiting on gone; or changes
			 * to announce.  Only a commit gives an idle database a worker.
			 */
			{
				bool		committed = (event == XACT_EVENT_COMMIT ||
										 event == XACT_EVENT_PARALLEL_COMMIT);

				InventoryWakeFor(batches, changes && committed, committed);
			}
			break;

		default:
			break;
	}
}

/*
 * Register the transaction callback; called from _PG_init.
 */
void
InventoryTransactionEndInit(void)
{
	RegisterXactCallback(TransactionEnd, NULL);
}
