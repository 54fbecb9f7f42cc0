/*-------------------------------------------------------------------------
 *
 * apply.c
 *	  Apply a set of queued batches in the current (sub)transaction: their
 *	  items, streamed in key order (item_stream.c), are written chunk by
 *	  chunk (chunk_writer.c) with their ledger rows (ledger_append.c).
 *
 * Items are coalesced per (sku, warehouse): within a round a key's items
 * are applied in queue order while its row is locked, and the row is
 * written once with the result.  A crash leaves each batch wholly applied
 * or wholly queued: the batches leave the queue in the same transaction.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/array.h"

#include "apply.h"

/*
 * Apply the given batches (ids in ascending order).  Returns the number of
 * items applied (not skipped or rejected).  Allocates in the current memory context,
 * which the caller frees.
 */
int64
InventoryApplyBatches(Oid nspid, int64 *ids, int nids)
{
	Datum	   *iddatums = palloc(sizeof(Datum) * nids);
	Datum		idarr;
	InventoryItemStream *stream;
	InventoryLedgerAppender *ledger;
	ApplyItem  *items;
	int			nitems;
	bool		not_applied = false;
	bool		records_rejected = InventorySchemaRecordsRejected(nspid);
	int64		applied = 0;

	for (int i = 0; i < nids; i++)
		iddatums[i] = Int64GetDatum(ids[i]);
	idarr = PointerGetDatum(construct_array(iddatums, nids, INT8OID, sizeof(int64),
											true, TYPALIGN_DOUBLE));

	stream = InventoryItemStreamOpen(nspid, idarr, records_rejected);
	ledger = InventoryLedgerAppendBegin(nspid);
	while (InventoryItemStreamNext(stream, &items, &nitems))
		applied += InventoryWriteChunk(nspid, ledger, items, nitems, records_rejected,
									   &not_applied);
	InventoryLedgerAppendEnd(ledger);
	InventoryItemStreamClose(stream);

	/* chunks recorded skipped and rejected items in key order: item order */
	if (not_applied)
		InventorySortNotApplied(nspid, idarr, records_rejected);
	return applied;
}
