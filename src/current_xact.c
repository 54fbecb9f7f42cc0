/*-------------------------------------------------------------------------
 *
 * current_xact.c
 *	  Whether a row was written by the calling transaction: inventory_wait
 *	  refuses to wait for a batch its own transaction queued, which no
 *	  applier can see before that transaction commits.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "fmgr.h"

#include "inventory.h"

PG_FUNCTION_INFO_V1(inventory_xid_is_current);

/*
 * inventory_xid_is_current(xid) returns boolean: whether the transaction
 * id (a row's xmin) is this transaction's or one of its subtransactions'.
 */
Datum
inventory_xid_is_current(PG_FUNCTION_ARGS)
{
	TransactionId xid = DatumGetTransactionId(PG_GETARG_DATUM(0));

	PG_RETURN_BOOL(TransactionIdIsValid(xid) && TransactionIdIsCurrentTransactionId(xid));
}
