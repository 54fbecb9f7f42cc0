/*-------------------------------------------------------------------------
 *
 * schema.c
 *	  Where the extension's objects are: its schema, found from the
 *	  catalog or from the calling function, its relations there, and
 *	  the internal schema of its trigger functions and helpers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "inventory.h"

/*
 * The internal schema as last looked up, and the extension's schema then;
 * kept while no schema or role changed since (schema_generation counts
 * those changes; an invalidation that arrives during the lookup makes the
 * next call look again).
 */
static uint64 schema_generation = 1;
static uint64 internal_generation = 0;
static Oid	internal_nspid = InvalidOid;
static Oid	internal_extnspid = InvalidOid;
static bool internal_callbacks_registered = false;

/*
 * A schema or a role changed: look the internal schema up again.
 */
static void
InternalSchemaInvalidate(Datum arg pg_attribute_unused(), int cacheid pg_attribute_unused(),
						 uint32 hashvalue pg_attribute_unused())
{
	schema_generation++;
}

/*
 * The extension's schema and OID (*extoid), or InvalidOid for both when
 * the extension is not installed in this database.
 */
static Oid
ExtensionNamespace(Oid *extoid)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			nspid = InvalidOid;

	*extoid = InvalidOid;
	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname,
				BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum(INVENTORY_EXTENSION_NAME));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		nspid = ((Form_pg_extension) GETSTRUCT(tuple))->extnamespace;
		*extoid = ((Form_pg_extension) GETSTRUCT(tuple))->oid;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	return nspid;
}

/*
 * Schema the extension is installed in, or InvalidOid when it is not
 * installed in this database (or is being created or dropped right now).
 */
Oid
InventoryExtensionSchema(void)
{
	Oid			extoid;

	if (creating_extension)
		return InvalidOid;
	return ExtensionNamespace(&extoid);
}

/*
 * The extension's internal schema (inventory_internal, from version 1.2),
 * or InvalidOid.  It is looked up by its fixed name, and taken only if it
 * is a member of the extension (made by the install or update script) and
 * owned by a superuser: a schema of that name that another role made
 * first, or that a superuser gave away, is never taken for it.
 */
Oid
InventoryInternalSchema(void)
{
	uint64		generation;
	Oid			nspid;
	Oid			extoid;
	Oid			extnspid;
	HeapTuple	tup;
	bool		owned_by_superuser = false;

	if (!internal_callbacks_registered)
	{
		CacheRegisterSyscacheCallback(NAMESPACEOID, InternalSchemaInvalidate, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHOID, InternalSchemaInvalidate, (Datum) 0);
		internal_callbacks_registered = true;
	}
	if (internal_generation == schema_generation)
		return internal_nspid;

	generation = schema_generation;
	extnspid = ExtensionNamespace(&extoid);
	nspid = get_namespace_oid(INVENTORY_INTERNAL_SCHEMA, true);
	if (OidIsValid(nspid))
	{
		tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nspid));
		if (HeapTupleIsValid(tup))
		{
			owned_by_superuser = superuser_arg(((Form_pg_namespace) GETSTRUCT(tup))->nspowner);
			ReleaseSysCache(tup);
		}
	}
	if (!OidIsValid(nspid) || !OidIsValid(extoid) || !owned_by_superuser ||
		getExtensionOfObject(NamespaceRelationId, nspid) != extoid)
	{
		nspid = InvalidOid;
		extnspid = InvalidOid;
	}
	internal_nspid = nspid;
	internal_extnspid = extnspid;
	internal_generation = generation;
	return internal_nspid;
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
 * Whether one of the extension's relations has a column: how code tells
 * what a schema made by an older version lacks.
 */
bool
InventoryRelHasColumn(Oid nspid, const char *relname, const char *column)
{
	Oid			relid = InventoryRelid(nspid, relname);

	return OidIsValid(relid) && get_attnum(relid, column) != InvalidAttrNumber;
}

/*
 * Schema of the calling SQL function: where the extension's objects are
 * (for a function in the internal schema, the extension's schema).
 * Refuses to go on when the extension there cannot be trusted (trust.c).
 */
Oid
InventoryFunctionSchema(FunctionCallInfo fcinfo)
{
	Oid			nspid = get_func_namespace(fcinfo->flinfo->fn_oid);
	Oid			internal = InventoryInternalSchema();

	if (OidIsValid(internal) && nspid == internal)
		nspid = internal_extnspid;
	InventoryRequireTrust(nspid);
	return nspid;
}
