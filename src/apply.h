/*-------------------------------------------------------------------------
 *
 * apply.h
 *	  The pipeline that applies queued batches, inside the extension:
 *
 *	  round.c        picks a round's batches, takes its locks, runs it
 *	  retry.c        runs batches in a subtransaction; finds failing ones
 *	  apply.c        applies a set of batches: stream, chunks, ledger
 *	  item_stream.c  takes the batches from the queue and streams their
 *	                 items sorted by key, in chunks
 *	  chunk_writer.c reads, evaluates and writes a chunk's level rows
 *	  ledger_append.c appends the chunk's ledger rows
 *
 *-------------------------------------------------------------------------
 */
#ifndef INVENTORY_APPLY_H
#define INVENTORY_APPLY_H

#include "postgres.h"

#include "utils/uuid.h"

#include "inventory.h"
#include "item.h"

/* What applying an item did */
typedef enum ApplyOutcome
{
	APPLY_APPLIED,
	APPLY_SKIPPED,				/* row missing and create_missing false */
	APPLY_CONFLICT,				/* its expect field differs from the row */
	APPLY_OUT_OF_RANGE			/* its operation's result does not fit */
} ApplyOutcome;

/* One queued item, and what applying it did */
typedef struct ApplyItem
{
	int64		batch_id;
	int32		pos;			/* 1-based position in its batch */
	bool		create_missing; /* its batch's mode */
	const char *queued_by;		/* a whole NameData */
	const char *sku;
	int			skulen;
	pg_uuid_t	wh;
	int			op;				/* field number of its operation */
	int64		operand;
	int			expect;			/* field number of its expect field, or -1 */
	int64		expected;		/* its value */
	Datum		values[INVENTORY_MAX_ITEM_FIELDS];	/* row, note and expect
													 * fields */
	bool		given[INVENTORY_MAX_ITEM_FIELDS];
	ApplyOutcome outcome;
	int64		actual;			/* conflict: the row's value; out of range:
								 * its on_hand */
	bool		has_result;		/* out of range: result is known */
	int64		result;			/* out of range: on_hand it would give */
	int64		ledger_id;		/* its ledger row's id, or 0 */
	int64		on_hand_before;
	int64		on_hand_after;
	int64		reserved_before;	/* constant while the row is locked ... */
	int64		reserved_after; /* ... unless an owner's trigger changes it */
} ApplyItem;

/* Applying batches (apply.c) */
extern int64 InventoryApplyBatches(Oid nspid, int64 *ids, int nids);

/* Items of the taken batches, sorted by key (item_stream.c) */
typedef struct InventoryItemStream InventoryItemStream;

extern InventoryItemStream *InventoryItemStreamOpen(Oid nspid, Datum idarr,
												   bool records_rejected);
extern bool InventoryItemStreamNext(InventoryItemStream *stream, ApplyItem **items,
									int *nitems);
extern void InventoryItemStreamClose(InventoryItemStream *stream);

/*
 * Writing a chunk's level rows, ledger rows and the items not applied
 * (chunk_writer.c)
 */
extern int64 InventoryWriteChunk(Oid nspid, InventoryLedgerAppender *ledger,
								 ApplyItem *items, int nitems, bool records_rejected,
								 bool *not_applied);
extern void InventorySortNotApplied(Oid nspid, Datum idarr, bool records_rejected);

/* Running batches in a subtransaction (retry.c) */
typedef enum InventoryTryResult
{
	INVENTORY_TRY_APPLIED,
	INVENTORY_TRY_FAILED,		/* a batch's fault: *error says what */
	INVENTORY_TRY_TOO_BIG		/* out of memory: try fewer batches */
} InventoryTryResult;

extern InventoryTryResult InventoryTryApply(Oid nspid, int64 *ids, int nids, int64 *nitems,
											char **error);
extern void InventoryFindFailingBatches(Oid nspid, int64 *ids, int32 *counts, int nids,
										InventoryApplyResult *result);

#endif							/* INVENTORY_APPLY_H */
