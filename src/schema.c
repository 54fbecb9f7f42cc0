/*-------------------------------------------------------------------------
 *
 * schema.c
 *	  Where the extension's objects are: its schema, found from the
 *	  catalog or from the calling function, and its relations there.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

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
