/*-------------------------------------------------------------------------
 *
 * expiry.c
 *	  Expiring holds: releasing the reservations whose expires_at has
 *	  passed, and telling the worker when the next one is due.
 *
 * A reservation may carry expires_at (1.3 on).  The database's worker
 * (worker.c) runs an expiry pass when the earliest one it knows is due,
 * and at least every inventory.naptime while it runs: the pass deletes
 * the expired reservations one by one, in key order, each under its level
 * row's lock (taken first, as the order functions take it), with the
 * ledger source "expire" and the hold's order and line; so the ledger and
 * the change feed show each release.  A hold whose level row another
 * transaction holds locked is skipped and tried again shortly: whichever
 * of the expiry and a fulfillment or release gets the lock first wins,
 * and the other finds the reservation gone.
 *
 * The pass then reads the next expiry, which the worker sleeps no longer
 * than, and records it in the database's entry (wakeup.c): when the
 * worker has left, the launcher starts one when it is due.  A transaction
 * that makes or moves a hold (inventory_reserve, inventory_extend_hold)
 * calls inventory_note_expiry(); at its commit an expiry earlier than the
 * one recorded is recorded and wakes the worker or the launcher.
 *
 * A database whose reservations have no expires_at (versions 1.0 to 1.2)
 * has nothing to expire: the pass looks at the column first, a syscache
 * lookup.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "inventory.h"

PG_FUNCTION_INFO_V1(inventory_note_expiry);
PG_FUNCTION_INFO_V1(inventory_expire_holds);

/* The ledger's source of the releases of expired holds */
#define INVENTORY_SOURCE_EXPIRE		"expire"

/* Milliseconds before holds skipped for a lock are tried again */
#define EXPIRY_RETRY_MS		100

/* The earliest expiry this transaction made or moved, or 0 */
static TimestampTz pending_expiry = 0;

/* The holds expired at $2, in key order, at most $1 */
static InventoryStatement due_holds = {
	.sql = "SELECT r.id, r.order_ref, r.line_ref, r.sku, r.warehouse_uuid"
	"  FROM @extschema@.inventory_reservations r"
	" WHERE r.expires_at OPERATOR(pg_catalog.<=) $2"
	" ORDER BY r.sku, r.warehouse_uuid, r.id LIMIT $1",
	.nargs = 2,
	.argtypes = {INT4OID, TIMESTAMPTZOID}
};

/* Lock a level row, unless another transaction holds it */
static InventoryStatement lock_level = {
	.sql = "SELECT FROM @extschema@.inventory_levels l"
	" WHERE l.sku OPERATOR(pg_catalog.=) $1 AND l.warehouse_uuid OPERATOR(pg_catalog.=) $2"
	"   FOR NO KEY UPDATE SKIP LOCKED",
	.nargs = 2,
	.argtypes = {TEXTOID, UUIDOID}
};

/* Whether a level row exists (when it could not be locked) */
static InventoryStatement level_exists = {
	.sql = "SELECT FROM @extschema@.inventory_levels l"
	" WHERE l.sku OPERATOR(pg_catalog.=) $1 AND l.warehouse_uuid OPERATOR(pg_catalog.=) $2",
	.nargs = 2,
	.argtypes = {TEXTOID, UUIDOID}
};

/*
 * Release one hold if it is still there and still expired, unless another
 * transaction holds its row: one that wrote the reservation directly
 * (its trigger then waits for the level row this pass holds) must not be
 * waited for.
 */
static InventoryStatement delete_hold = {
	.sql = "DELETE FROM @extschema@.inventory_reservations r"
	" WHERE r.id OPERATOR(pg_catalog.=) (SELECT h.id FROM @extschema@.inventory_reservations h"
	"   WHERE h.id OPERATOR(pg_catalog.=) $1 AND h.expires_at OPERATOR(pg_catalog.<=) $2"
	"   FOR UPDATE SKIP LOCKED)",
	.nargs = 2,
	.argtypes = {INT8OID, TIMESTAMPTZOID}
};

/* Whether a hold is still there and still expired (when it was not released) */
static InventoryStatement hold_due = {
	.sql = "SELECT FROM @extschema@.inventory_reservations h"
	" WHERE h.id OPERATOR(pg_catalog.=) $1 AND h.expires_at OPERATOR(pg_catalog.<=) $2",
	.nargs = 2,
	.argtypes = {INT8OID, TIMESTAMPTZOID}
};

/* The earliest expiry (the partial index's first entry) */
static InventoryStatement next_expiry = {
	.sql = "SELECT pg_catalog.min(r.expires_at) FROM @extschema@.inventory_reservations r"
	" WHERE r.expires_at IS NOT NULL",
	.nargs = 0
};

/*
 * Transaction callback: at commit, record the earliest expiry the
 * transaction made or moved (wakeup.c); at its end, forget it.
 */
static void
ExpiryXactCallback(XactEvent event, void *arg pg_attribute_unused())
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (pending_expiry != 0)
				InventoryWakeForExpiry(pending_expiry);
			pending_expiry = 0;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			pending_expiry = 0;
			break;
		default:
			break;
	}
}

/*
 * Register the transaction callback; called from _PG_init.
 */
void
InventoryExpiryInit(void)
{
	RegisterXactCallback(ExpiryXactCallback, NULL);
}

/*
 * inventory_internal.inventory_note_expiry(expires_at): a hold expiring
 * then was made or moved; the worker hears of it at commit.
 */
Datum
inventory_note_expiry(PG_FUNCTION_ARGS)
{
	TimestampTz at = PG_GETARG_TIMESTAMPTZ(0);

	if (!TIMESTAMP_NOT_FINITE(at) && (pending_expiry == 0 || at < pending_expiry))
		pending_expiry = at;
	PG_RETURN_VOID();
}

/*
 * Whether the extension in schema nspid has expiring holds: its
 * reservations have expires_at (1.3 on).
 */
bool
InventoryHoldsExpire(Oid nspid)
{
	return InventoryRelHasColumn(nspid, "inventory_reservations", "expires_at");
}

/*
 * Set one of the ledger's settings until the caller closes its GUC nest
 * level, as a function's SET clause does.
 */
static void
SetLedgerSetting(const char *name, const char *value)
{
	(void) set_config_option(name, value, PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/*
 * Release up to max_holds holds of the extension in schema nspid expired
 * at cutoff, in key order.  Returns how many were released; *skipped says
 * whether some were skipped because another transaction holds their level
 * row (try again soon).  The caller is connected to SPI and checked that
 * InventoryHoldsExpire.
 */
int
InventoryExpireHolds(Oid nspid, int max_holds, TimestampTz cutoff, bool *skipped)
{
	Datum		args[2];
	Datum		hold[2];
	SPITupleTable *holds;
	uint64		nholds;
	int			released = 0;
	int			guc_level;

	*skipped = false;
	args[0] = Int32GetDatum(max_holds);
	args[1] = TimestampTzGetDatum(cutoff);
	nholds = InventoryStatementRun(&due_holds, nspid, args, false, SPI_OK_SELECT);
	if (nholds == 0)
		return 0;
	holds = SPI_tuptable;

	guc_level = NewGUCNestLevel();
	SetLedgerSetting("inventory.change_source", INVENTORY_SOURCE_EXPIRE);
	SetLedgerSetting("inventory.change_reason", "");
	for (uint64 i = 0; i < nholds; i++)
	{
		HeapTuple	tup = holds->vals[i];
		TupleDesc	desc = holds->tupdesc;
		bool		isnull;
		char	   *order_ref = SPI_getvalue(tup, desc, 2);
		char	   *line_ref = SPI_getvalue(tup, desc, 3);

		CHECK_FOR_INTERRUPTS();
		args[0] = SPI_getbinval(tup, desc, 4, &isnull);
		args[1] = SPI_getbinval(tup, desc, 5, &isnull);

		/* the level row first, as the order functions lock */
		if (InventoryStatementRun(&lock_level, nspid, args, false, SPI_OK_SELECT) == 0 &&
			InventoryStatementRun(&level_exists, nspid, args, false, SPI_OK_SELECT) > 0)
		{
			*skipped = true;
			continue;
		}
		SetLedgerSetting("inventory.change_order", order_ref);
		SetLedgerSetting("inventory.change_line", line_ref != NULL ? line_ref : "");
		/* gone (fulfilled, released) or extended meanwhile: not ours */
		hold[0] = SPI_getbinval(tup, desc, 1, &isnull);
		hold[1] = TimestampTzGetDatum(cutoff);
		if (InventoryStatementRun(&delete_hold, nspid, hold, false, SPI_OK_DELETE) > 0)
			released++;
		else if (InventoryStatementRun(&hold_due, nspid, hold, false, SPI_OK_SELECT) > 0)
			*skipped = true;	/* its row is held: try again soon */
	}
	AtEOXact_GUC(true, guc_level);
	return released;
}

/*
 * When the next hold of the extension in schema nspid expires, or 0 when
 * none does.  The caller is connected to SPI and checked that
 * InventoryHoldsExpire.
 */
TimestampTz
InventoryNextHoldExpiry(Oid nspid)
{
	bool		isnull;
	Datum		at;

	/* a new snapshot: one taken after the worker took the recorded expiry */
	if (InventoryStatementRun(&next_expiry, nspid, NULL, false, SPI_OK_SELECT) != 1)
		return 0;
	at = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetTimestampTz(at);
}

/*
 * When the holds skipped for a lock are tried again, from now.
 */
TimestampTz
InventoryExpiryRetryAt(void)
{
	return TimestampTzPlusMilliseconds(GetCurrentTimestamp(), EXPIRY_RETRY_MS);
}

/*
 * inventory_internal.inventory_expire_holds(max_holds): one expiry pass
 * from a session, as the worker runs it; returns how many holds were
 * released.
 */
Datum
inventory_expire_holds(PG_FUNCTION_ARGS)
{
	int32		max_holds = PG_GETARG_INT32(0);
	Oid			nspid = InventoryFunctionSchema(fcinfo);
	bool		skipped;
	int			released;

	if (max_holds <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_holds must be positive, not %d", max_holds)));
	if (!InventoryHoldsExpire(nspid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the reservations of the inventory extension have no expires_at"),
				 errhint("Run ALTER EXTENSION inventory UPDATE.")));
	SPI_connect();
	released = InventoryExpireHolds(nspid, max_holds, GetCurrentTransactionStartTimestamp(),
								   &skipped);
	SPI_finish();
	PG_RETURN_INT32(released);
}
