/*-------------------------------------------------------------------------
 *
 * util.c
 *	  Small catalog helpers: where the extension is installed and how to
 *	  name its relations safely.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/uuid.h"
#include "executor/spi.h"
#include "storage/bufmgr.h"
#include "catalog/pg_sequence.h"
#include "commands/sequence.h"

#include "inventory.h"

/*
 * Schema the extension is installed in, or InvalidOid when it is not
 * installed in this database (or is being created or dropped right now).
 */
Oid
InventoryExtensionSchema(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			nspid = InvalidOid;

	if (creating_extension)
		return InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname,
				BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum(INVENTORY_EXTENSION_NAME));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		nspid = ((Form_pg_extension) GETSTRUCT(tuple))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	return nspid;
}

/*
 * OID of one of the extension's relations, or InvalidOid.
 */
Oid
InventoryRelid(Oid nspid, const char *relname)
{
	return get_relname_relid(relname, nspid);
}

/*
 * "schema"."name", quoted as needed, for building SQL text.
 */
char *
InventoryQualify(Oid nspid, const char *name)
{
	char	   *nspname = get_namespace_name(nspid);

	if (nspname == NULL)
		elog(ERROR, "cache lookup failed for namespace %u", nspid);
	return quote_qualified_identifier(nspname, name);
}

/*
 * Value of a hexadecimal digit, or -1.
 */
static int
HexDigitValue(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Parse a UUID in its canonical form (8-4-4-4-12 hexadecimal digits, either
 * case).  Returns false for anything else.
 */
bool
InventoryParseUuid(const char *s, int len, pg_uuid_t *uuid)
{
	int			byte = 0;

	if (len != 36)
		return false;
	for (int i = 0; i < 36;)
	{
		int			hi,
					lo;

		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (s[i] != '-')
				return false;
			i++;
			continue;
		}
		hi = HexDigitValue(s[i]);
		lo = HexDigitValue(s[i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		uuid->data[byte++] = (unsigned char) ((hi << 4) | lo);
		i += 2;
	}
	return byte == UUID_LEN;
}


/*
 * The id horizons (shmem.c) need every nextval to move the sequence's
 * stored last value, which a cache above 1 would not do.
 */
static void
CheckSequenceCache(Relation rel)
{
	HeapTuple	tup = SearchSysCache1(SEQRELID, ObjectIdGetDatum(RelationGetRelid(rel)));

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for sequence %u", RelationGetRelid(rel));
	if (((Form_pg_sequence) GETSTRUCT(tup))->seqcache != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sequence \"%s\" must have CACHE 1", RelationGetRelationName(rel)),
				 errdetail("Batches and changes are read in id order, which a cache of ids would break."),
				 errhint("ALTER SEQUENCE %s CACHE 1;", RelationGetRelationName(rel))));
	ReleaseSysCache(tup);
}

/*
 * Last value handed out by a sequence (0 if none yet), read from its
 * buffer under a share lock: nextval changes it under an exclusive lock,
 * so the read is ordered with every nextval (see shmem.c).
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

/*
 * Schema of the calling SQL function: where the extension's objects are.
 * Refuses to go on when the extension there cannot be trusted (trust.c).
 */
Oid
InventoryFunctionSchema(FunctionCallInfo fcinfo)
{
	Oid			nspid = get_func_namespace(fcinfo->flinfo->fn_oid);

	InventoryRequireTrust(nspid);
	return nspid;
}

/*
 * Prepare a statement and keep it for the session (the caller is connected
 * to SPI).
 */
SPIPlanPtr
InventoryPrepareKept(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s",
			 sql, SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	return plan;
}
