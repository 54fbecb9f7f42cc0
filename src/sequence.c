/*-------------------------------------------------------------------------
 *
 * sequence.c
 *	  The last value a sequence handed out, read from its page, in order
 *	  with every nextval (for the id horizons, id_horizon.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/pg_sequence.h"
#include "commands/sequence.h"
#include "storage/bufmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "inventory.h"

/*
 * The id horizons (id_horizon.c) need every nextval to move the sequence's
 * stored last value, which a cache above 1 would not do.
 */
static void
CheckSequenceCache(Relation rel)
{
	HeapTuple	tup = SearchSysCache1(SEQRELID, ObjectIdGetDatum(RelationGetRelid(rel)));

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for sequence %u", RelationGetRelid(rel));
	if (((Form_pg_sequence) GETSTRUCT(tup))->seqcache != 1)
	{
		const char *name = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
													  RelationGetRelationName(rel));

		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sequence \"%s\" must have CACHE 1", RelationGetRelationName(rel)),
				 errdetail("Batches and changes are read in id order, which a cache of ids would break."),
				 errhint("ALTER SEQUENCE %s CACHE 1;", name)));
	}
	ReleaseSysCache(tup);
}

/*
 * Last value handed out by a sequence (0 if none yet), read from its
 * buffer under a share lock: nextval changes it under an exclusive lock,
 * so the read is ordered with every nextval (see id_horizon.c).
 */
int64
InventorySequenceLastValue(Oid seqid)
{
	Relation	rel = relation_open(seqid, AccessShareLock);
	Buffer		buf;
	Page		page;
	ItemId		lp;
	HeapTupleData tuple;
	Form_pg_sequence_data seq;
	int64		last;

	if (rel->rd_rel->relkind != RELKIND_SEQUENCE)
		elog(ERROR, "\"%s\" is not a sequence", RelationGetRelationName(rel));
	CheckSequenceCache(rel);
	buf = ReadBuffer(rel, 0);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	lp = PageGetItemId(page, FirstOffsetNumber);
	tuple.t_data = (HeapTupleHeader) PageGetItem(page, lp);
	tuple.t_len = ItemIdGetLength(lp);
	seq = (Form_pg_sequence_data) GETSTRUCT(&tuple);
	last = seq->is_called ? seq->last_value : 0;
	UnlockReleaseBuffer(buf);
	relation_close(rel, AccessShareLock);
	return last;
}
