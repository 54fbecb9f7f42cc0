/*-------------------------------------------------------------------------
 *
 * warehouses.c
 *	  Which warehouses are registered in inventory_warehouses, which of
 *	  them are archived and whose they are, for inventory_adjust.
 *
 * Every call checks its batch's warehouses, usually a handful of distinct
 * ones, so each distinct uuid is one probe of the table's primary key:
 * what a SELECT by key does, without the executor.  Should the owner have
 * changed the key (another column, another type, no key) or turned on
 * row-level security, the lookup runs as a SELECT statement instead.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_am.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "inventory.h"

/* The statement used when the primary key cannot be probed directly */
static InventoryStatement warehouse_lookup = {
	.sql = "SELECT w.uuid, w.archived, NULL::text FROM @extschema@.inventory_warehouses w "
	"WHERE w.uuid OPERATOR(pg_catalog.=) ANY ($1)",
	.nargs = 1,
	.argtypes = {UUIDARRAYOID}
};

/* The same with the merchant column (version 1.6 and later) */
static InventoryStatement warehouse_merchant_lookup = {
	.sql = "SELECT w.uuid, w.archived, w.merchant FROM @extschema@.inventory_warehouses w "
	"WHERE w.uuid OPERATOR(pg_catalog.=) ANY ($1)",
	.nargs = 1,
	.argtypes = {UUIDARRAYOID}
};

/*
 * The primary key index of the warehouses table when it is a btree on the
 * uuid column alone, else InvalidOid.
 */
static Oid
UuidKeyIndex(Relation rel, AttrNumber uuid_att)
{
	Oid			indexid = RelationGetPrimaryKeyIndex(rel);
	Relation	index;
	bool		usable;

	if (!OidIsValid(indexid) || uuid_att == InvalidAttrNumber ||
		TupleDescAttr(RelationGetDescr(rel), uuid_att - 1)->atttypid != UUIDOID)
		return InvalidOid;
	index = index_open(indexid, AccessShareLock);
	usable = index->rd_rel->relam == BTREE_AM_OID &&
		index->rd_index->indnatts == 1 &&
		index->rd_index->indkey.values[0] == uuid_att &&
		index->rd_opcintype[0] == UUIDOID;
	index_close(index, AccessShareLock);
	return usable ? indexid : InvalidOid;
}

/*
 * Look the warehouses up with the SELECT statement.
 */
static void
LookUpByStatement(Oid nspid, pg_uuid_t *uuids, int n, bool with_merchant,
				  bool *found, bool *archived, char **merchants)
{
	Datum	   *d = palloc(sizeof(Datum) * n);
	Datum		args[1];

	for (int i = 0; i < n; i++)
		d[i] = UUIDPGetDatum(&uuids[i]);
	args[0] = PointerGetDatum(construct_array(d, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	(void) InventoryStatementRun(with_merchant ? &warehouse_merchant_lookup : &warehouse_lookup,
								 nspid, args, true, SPI_OK_SELECT);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		pg_uuid_t  *u = DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[r],
													SPI_tuptable->tupdesc, 1, &isnull));

		for (int i = 0; i < n; i++)
			if (memcmp(u->data, uuids[i].data, UUID_LEN) == 0)
			{
				found[i] = true;
				archived[i] = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[r],
														 SPI_tuptable->tupdesc, 2, &isnull));
				merchants[i] = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 3);
			}
	}
}

/*
 * For each of n distinct warehouse uuids, whether it is registered, whether
 * it is archived and its merchant (NULL before version 1.6, which has no
 * merchants), as the current snapshot sees the table.  The caller is
 * connected to SPI.
 */
void
InventoryLookUpWarehouses(Oid nspid, pg_uuid_t *uuids, int n, bool *found, bool *archived,
						  char **merchants)
{
	Oid			relid = InventoryRelid(nspid, "inventory_warehouses");
	Relation	rel;
	AttrNumber	uuid_att;
	AttrNumber	archived_att;
	AttrNumber	merchant_att;
	Oid			indexid;

	memset(found, 0, sizeof(bool) * n);
	memset(archived, 0, sizeof(bool) * n);
	memset(merchants, 0, sizeof(char *) * n);
	if (n == 0)
		return;
	if (!OidIsValid(relid))
		elog(ERROR, "inventory_warehouses is missing");
	rel = table_open(relid, AccessShareLock);
	uuid_att = get_attnum(relid, "uuid");
	archived_att = get_attnum(relid, "archived");
	merchant_att = get_attnum(relid, "merchant");
	indexid = UuidKeyIndex(rel, uuid_att);
	if (!OidIsValid(indexid) || archived_att == InvalidAttrNumber ||
		(merchant_att != InvalidAttrNumber &&
		 TupleDescAttr(RelationGetDescr(rel), merchant_att - 1)->atttypid != TEXTOID) ||
		rel->rd_rel->relrowsecurity || !ActiveSnapshotSet())
	{
		table_close(rel, AccessShareLock);
		LookUpByStatement(nspid, uuids, n, merchant_att != InvalidAttrNumber,
						  found, archived, merchants);
		return;
	}
	for (int i = 0; i < n; i++)
	{
		ScanKeyData key;
		SysScanDesc scan;
		HeapTuple	tup;

		ScanKeyInit(&key, uuid_att, BTEqualStrategyNumber, F_UUID_EQ,
					UUIDPGetDatum(&uuids[i]));
		scan = systable_beginscan(rel, indexid, true, GetActiveSnapshot(), 1, &key);
		tup = systable_getnext(scan);
		if (HeapTupleIsValid(tup))
		{
			bool		isnull;
			Datum		d = heap_getattr(tup, archived_att, RelationGetDescr(rel), &isnull);

			found[i] = true;
			archived[i] = !isnull && DatumGetBool(d);
			if (merchant_att != InvalidAttrNumber)
			{
				d = heap_getattr(tup, merchant_att, RelationGetDescr(rel), &isnull);
				if (!isnull)
					merchants[i] = TextDatumGetCString(d);
			}
		}
		systable_endscan(scan);
	}
	table_close(rel, AccessShareLock);
}
