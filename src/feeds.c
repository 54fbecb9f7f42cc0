/*-------------------------------------------------------------------------
 *
 * feeds.c
 *	  The derived feeds (the channel feed and the alert events): the
 *	  worker's pass that brings them up to date, and the wake-up of a
 *	  transaction that changed what they derive from.
 *
 * The pass itself is SQL (inventory_internal.inventory_feeds_catch_up,
 * see the install script's section 11): it reads the ledger after the
 * feeds' cursor.  Every transaction that writes ledger rows wakes the
 * worker at its commit already (transaction_end.c), and the worker runs a
 * pass after each round and each announcement of changes.  A change of a
 * channel's rule or warehouses, or of a threshold, writes no ledger row:
 * its trigger calls inventory_note_feed_change(), and the commit wakes
 * the worker the same way.
 *
 * A transaction that changed a rule or a threshold may not be prepared:
 * COMMIT PREPARED would tell the worker nothing.  A change whose wake-up
 * is lost anyway (a restart) is fed by the pass the worker runs when it
 * starts, and every naptime while it runs.
 *
 * A database at 1.0 to 1.3 has no feeds: the pass is looked up first.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "inventory.h"

PG_FUNCTION_INFO_V1(inventory_note_feed_change);

/* Whether this transaction changed a rule, a channel's warehouses or a threshold */
static bool feed_changed = false;

/* One pass of at most $1 ledger rows; what to do next */
static InventoryStatement catch_up = {
	.sql = "SELECT inventory_internal.inventory_feeds_catch_up($1)",
	.nargs = 1,
	.argtypes = {INT4OID}
};

/*
 * Transaction callback: at commit, wake the worker (or the launcher) for
 * the change; at its end, forget it.
 */
static void
FeedsXactCallback(XactEvent event, void *arg pg_attribute_unused())
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (feed_changed)
				InventoryWakeForFeeds();
			feed_changed = false;
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (feed_changed)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that changed inventory channels or stock alerts"),
						 errdetail("The worker hears of such a change when its transaction commits, which COMMIT PREPARED does not tell it."),
						 errhint("Make the change in a transaction of its own.")));
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			feed_changed = false;
			break;
		default:
			break;
	}
}

/*
 * Register the transaction callback; called from _PG_init.
 */
void
InventoryFeedsInit(void)
{
	RegisterXactCallback(FeedsXactCallback, NULL);
}

/*
 * inventory_internal.inventory_note_feed_change(): the worker hears at
 * commit that this transaction changed what the feeds derive from.
 */
Datum
inventory_note_feed_change(PG_FUNCTION_ARGS)
{
	feed_changed = true;
	PG_RETURN_VOID();
}

/*
 * Whether the extension in schema nspid has feeds (1.4 on).
 */
bool
InventoryHasFeeds(Oid nspid)
{
	return OidIsValid(InventoryRelid(nspid, "inventory_feed_state"));
}

/*
 * Run one pass of at most max_changes ledger rows (the caller is
 * connected to SPI, in a transaction of its own, and found the extension
 * in schema nspid to have feeds); returns what to do next.
 */
InventoryFeedsNext
InventoryCatchUpFeeds(Oid nspid, int max_changes)
{
	Datum		arg = Int32GetDatum(max_changes);
	char	   *next;

	if (InventoryStatementRun(&catch_up, nspid, &arg, false, SPI_OK_SELECT) != 1)
		return INVENTORY_FEEDS_RETRY;
	next = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (next != NULL && strcmp(next, "caught_up") == 0)
		return INVENTORY_FEEDS_CAUGHT_UP;
	if (next != NULL && strcmp(next, "more") == 0)
		return INVENTORY_FEEDS_MORE;
	if (next != NULL && strcmp(next, "idle") == 0)
		return INVENTORY_FEEDS_IDLE;
	return INVENTORY_FEEDS_RETRY;
}
