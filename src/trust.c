/*-------------------------------------------------------------------------
 *
 * trust.c
 *	  Whether the extension's schemas and objects can be trusted: only
 *	  superusers own them or can create objects in the schemas.
 *
 * The extension's code runs as a superuser (the worker, SECURITY DEFINER
 * functions, triggers) and names its objects by schema.  If another role
 * owned the schema, it could rename it and put objects of its own where
 * that code looks; if it could create objects there, it could plant
 * overloads of the extension's functions (and what it made there while it
 * could stays there after the grant is gone); if it owned one of the
 * extension's tables or functions, it could add a trigger or replace a
 * body that a superuser then runs.  The same holds for the internal
 * schema (inventory_internal, from version 1.2), where the trigger
 * functions and helpers are, named by that fixed name: it must be the
 * extension's own (a member, so not one that another role made first)
 * and superusers' alone, and every function and relation of the
 * extension must be in one of the two schemas.  So every entry point in
 * C checks first, and refuses to run otherwise.  The answer is cached
 * until a schema, relation, function or role changes (syscache
 * invalidation), so the check costs nothing on the hot path.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "inventory.h"

/*
 * The cached answer, for one schema.  Every invalidation of a catalog it
 * rests on bumps catalog_generation; one of pg_namespace or pg_authid also
 * bumps schema_generation.  The answer is kept while the generation it was
 * computed at is current (an invalidation that arrives while it is being
 * computed makes the next call compute it again).
 *
 * The scan for other roles' objects in the schema reads whole catalogs, so
 * it is not redone on every change of some relation or function anywhere
 * in the database (autovacuum's statistics, temporary tables): only when
 * the schema or a role changed (a GRANT CREATE, say), and otherwise at
 * most every OBJECT_RESCAN_MS while relations or functions change.
 */
#define OBJECT_RESCAN_MS	10000

static uint64 catalog_generation = 1;
static uint64 schema_generation = 1;
static uint64 trust_generation = 0; /* catalog_generation of the answer */
static Oid	trust_nspid = InvalidOid;
static char *trust_problem = NULL;	/* NULL: trusted; in TopMemoryContext */
static uint64 objects_generation = 0;	/* schema_generation of the scan */
static Oid	objects_nspid = InvalidOid;
static Oid	objects_internal = InvalidOid;	/* the internal schema scanned too */
static char *objects_problem = NULL;	/* in TopMemoryContext */
static TimestampTz objects_scanned_at = 0;
static bool objects_pending = false;	/* a change since the scan is unchecked */
static bool callbacks_registered = false;

/*
 * A catalog row the answer rests on may have changed.
 */
static void
TrustInvalidate(Datum arg pg_attribute_unused(), int cacheid,
				uint32 hashvalue pg_attribute_unused())
{
	catalog_generation++;
	if (cacheid == NAMESPACEOID || cacheid == AUTHOID)
		schema_generation++;
}

/*
 * The name of a role, quoted for a message.
 */
static const char *
RoleName(Oid roleid)
{
	if (roleid == ACL_ID_PUBLIC)
		return "PUBLIC";
	return quote_identifier(GetUserNameFromId(roleid, false));
}

/*
 * What makes the schema untrustworthy, or NULL.
 */
static char *
SchemaProblem(Oid nspid)
{
	HeapTuple	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nspid));
	Form_pg_namespace nsp;
	const char *nspname;
	char	   *problem = NULL;
	Datum		acldatum;
	bool		isnull;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for namespace %u", nspid);
	nsp = (Form_pg_namespace) GETSTRUCT(tup);
	nspname = quote_identifier(NameStr(nsp->nspname));

	if (nsp->nspowner == ROLE_PG_DATABASE_OWNER)
		problem = psprintf("Schema %s is owned by pg_database_owner, that is by whoever owns the database.",
						   nspname);
	else if (!superuser_arg(nsp->nspowner))
		problem = psprintf("Schema %s is owned by role %s, which is not a superuser.",
						   nspname, RoleName(nsp->nspowner));

	acldatum = SysCacheGetAttr(NAMESPACEOID, tup, Anum_pg_namespace_nspacl, &isnull);
	if (problem == NULL && !isnull)
	{
		Acl		   *acl = DatumGetAclP(acldatum);
		AclItem    *items = ACL_DAT(acl);

		for (int i = 0; i < ACL_NUM(acl) && problem == NULL; i++)
		{
			Oid			grantee = items[i].ai_grantee;

			if ((ACLITEM_GET_PRIVS(items[i]) & ACL_CREATE) == 0)
				continue;
			if (grantee == ACL_ID_PUBLIC || grantee == ROLE_PG_DATABASE_OWNER ||
				!superuser_arg(grantee))
				problem = psprintf("Role %s may create objects in schema %s.",
								   RoleName(grantee), nspname);
		}
	}
	ReleaseSysCache(tup);
	return problem;
}

/*
 * Owner of a member object of the extension (a relation or a function),
 * or InvalidOid for other kinds; *what names it for a message, *nspid is
 * its schema.
 */
static Oid
MemberOwner(Oid classid, Oid objid, char **what, Oid *nspid)
{
	HeapTuple	tup;
	Oid			owner = InvalidOid;

	if (classid == RelationRelationId)
	{
		tup = SearchSysCache1(RELOID, ObjectIdGetDatum(objid));
		if (!HeapTupleIsValid(tup))
			return InvalidOid;
		owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
		*nspid = ((Form_pg_class) GETSTRUCT(tup))->relnamespace;
		*what = psprintf("Relation %s", quote_identifier(NameStr(((Form_pg_class) GETSTRUCT(tup))->relname)));
		ReleaseSysCache(tup);
	}
	else if (classid == ProcedureRelationId)
	{
		tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(objid));
		if (!HeapTupleIsValid(tup))
			return InvalidOid;
		owner = ((Form_pg_proc) GETSTRUCT(tup))->proowner;
		*nspid = ((Form_pg_proc) GETSTRUCT(tup))->pronamespace;
		*what = psprintf("Function %s()", quote_identifier(NameStr(((Form_pg_proc) GETSTRUCT(tup))->proname)));
		ReleaseSysCache(tup);
	}
	return owner;
}

/*
 * The member objects of the extension, as a list of ObjectAddress.
 */
static List *
Members(Oid extoid)
{
	Relation	rel;
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;
	List	   *members = NIL;

	rel = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(ExtensionRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extoid));
	scan = systable_beginscan(rel, DependReferenceIndexId, true, NULL, 2, key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tup);
		ObjectAddress *member;

		if (dep->deptype != DEPENDENCY_EXTENSION)
			continue;
		member = palloc(sizeof(ObjectAddress));
		member->classId = dep->classid;
		member->objectId = dep->objid;
		member->objectSubId = 0;
		members = lappend(members, member);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return members;
}

/*
 * What makes one of the extension's schemas, tables, sequences, views or
 * functions untrustworthy, or NULL: a schema the extension made (the
 * internal schema) that is not named inventory_internal (its functions
 * name it so) or that SchemaProblem finds fault with; an owner that is not
 * a superuser; a table or function outside the extension's schema nspid
 * and its internal schema.  *internal is set to the internal schema, or
 * InvalidOid when the extension has none (before version 1.2).
 */
static char *
MemberProblem(Oid nspid, Oid *internal)
{
	Oid			extoid = get_extension_oid(INVENTORY_EXTENSION_NAME, true);
	List	   *members;
	ListCell   *lc;
	char	   *problem = NULL;

	*internal = InvalidOid;
	if (!OidIsValid(extoid))
		return NULL;
	members = Members(extoid);

	/* the schemas first: where the other members may be */
	foreach(lc, members)
	{
		ObjectAddress *member = lfirst(lc);
		char	   *name;

		if (member->classId != NamespaceRelationId ||
			(name = get_namespace_name(member->objectId)) == NULL)
			continue;
		if (strcmp(name, INVENTORY_INTERNAL_SCHEMA) != 0)
			problem = psprintf("Schema %s of the extension is not named %s, the name its functions use.",
							   quote_identifier(name), INVENTORY_INTERNAL_SCHEMA);
		else
			problem = SchemaProblem(member->objectId);
		if (problem != NULL)
			break;
		*internal = member->objectId;
	}

	foreach(lc, members)
	{
		ObjectAddress *member = lfirst(lc);
		char	   *what = NULL;
		Oid			member_nspid = InvalidOid;
		Oid			owner;

		if (problem != NULL)
			break;
		owner = MemberOwner(member->classId, member->objectId, &what, &member_nspid);
		if (!OidIsValid(owner))
			continue;
		if (!superuser_arg(owner))
			problem = psprintf("%s of the extension is owned by role %s, which is not a superuser.",
							   what, RoleName(owner));
		else if (member_nspid != nspid && member_nspid != *internal)
			problem = psprintf("%s of the extension is in schema %s, which is not one of the extension's schemas.",
							   what, quote_identifier(get_namespace_name(member_nspid)));
	}
	list_free_deep(members);
	return problem;
}

/*
 * What makes one of the objects in the schema that code could resolve by
 * name (a relation, function, type or operator, member of the extension or
 * not) untrustworthy: an owner that is not a superuser, for instance a
 * function someone planted while they could create objects there.  A scan
 * of each catalog, done only when the cached answer was invalidated.
 */
static char *
SchemaObjectProblem(Oid nspid)
{
	static const struct
	{
		Oid			catalog;
		AttrNumber	nsp_attnum;
		AttrNumber	owner_attnum;
		AttrNumber	name_attnum;
		const char *kind;
	}			catalogs[] = {
		{RelationRelationId, Anum_pg_class_relnamespace, Anum_pg_class_relowner,
		Anum_pg_class_relname, "Relation"},
		{ProcedureRelationId, Anum_pg_proc_pronamespace, Anum_pg_proc_proowner,
		Anum_pg_proc_proname, "Function"},
		{TypeRelationId, Anum_pg_type_typnamespace, Anum_pg_type_typowner,
		Anum_pg_type_typname, "Type"},
		{OperatorRelationId, Anum_pg_operator_oprnamespace, Anum_pg_operator_oprowner,
		Anum_pg_operator_oprname, "Operator"},
	};
	char	   *problem = NULL;

	for (int c = 0; c < (int) lengthof(catalogs) && problem == NULL; c++)
	{
		Relation	rel = table_open(catalogs[c].catalog, AccessShareLock);
		TupleDesc	desc = RelationGetDescr(rel);
		ScanKeyData key;
		SysScanDesc scan;
		HeapTuple	tup;

		ScanKeyInit(&key, catalogs[c].nsp_attnum, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(nspid));
		scan = systable_beginscan(rel, InvalidOid, false, NULL, 1, &key);
		while (problem == NULL && HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			bool		isnull;
			Oid			owner = DatumGetObjectId(heap_getattr(tup, catalogs[c].owner_attnum,
															 desc, &isnull));

			if (!superuser_arg(owner))
				problem = psprintf("%s %s in schema %s is owned by role %s, which is not a superuser.",
								   catalogs[c].kind,
								   quote_identifier(NameStr(*DatumGetName(heap_getattr(tup, catalogs[c].name_attnum,
																					  desc, &isnull)))),
								   quote_identifier(get_namespace_name(nspid)),
								   RoleName(owner));
		}
		systable_endscan(scan);
		table_close(rel, AccessShareLock);
	}
	return problem;
}

/*
 * Why the extension in schema nspid cannot be trusted, or NULL when it can.
 * The answer is cached until the catalogs it rests on change.
 */
const char *
InventoryTrustProblem(Oid nspid)
{
	char	   *problem;
	uint64		generation;
	Oid			internal = InvalidOid;

	if (!callbacks_registered)
	{
		CacheRegisterSyscacheCallback(NAMESPACEOID, TrustInvalidate, (Datum) 0);
		CacheRegisterSyscacheCallback(RELOID, TrustInvalidate, (Datum) 0);
		CacheRegisterSyscacheCallback(PROCOID, TrustInvalidate, (Datum) 0);
		CacheRegisterSyscacheCallback(TYPEOID, TrustInvalidate, (Datum) 0);
		CacheRegisterSyscacheCallback(OPEROID, TrustInvalidate, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHOID, TrustInvalidate, (Datum) 0);
		callbacks_registered = true;
	}
	if (trust_generation == catalog_generation && trust_nspid == nspid &&
		!(objects_pending &&
		  TimestampDifferenceExceeds(objects_scanned_at, GetCurrentTimestamp(), OBJECT_RESCAN_MS)))
		return trust_problem;

	generation = catalog_generation;
	problem = SchemaProblem(nspid);
	if (problem == NULL)
		problem = MemberProblem(nspid, &internal);
	if (problem == NULL)
	{
		TimestampTz now = GetCurrentTimestamp();

		if (objects_nspid != nspid || objects_internal != internal ||
			objects_generation != schema_generation ||
			TimestampDifferenceExceeds(objects_scanned_at, now, OBJECT_RESCAN_MS))
		{
			uint64		scanned_generation = schema_generation;
			char	   *found = SchemaObjectProblem(nspid);

			if (found == NULL && OidIsValid(internal))
				found = SchemaObjectProblem(internal);
			if (objects_problem)
				pfree(objects_problem);
			objects_problem = found ? MemoryContextStrdup(TopMemoryContext, found) : NULL;
			objects_nspid = nspid;
			objects_internal = internal;
			objects_generation = scanned_generation;
			objects_scanned_at = now;
			objects_pending = false;
		}
		else
			objects_pending = true;
		problem = objects_problem;
	}

	if (trust_problem)
		pfree(trust_problem);
	trust_problem = problem ? MemoryContextStrdup(TopMemoryContext, problem) : NULL;
	trust_nspid = nspid;
	trust_generation = generation;
	return trust_problem;
}

/*
 * Refuse to run when the extension in schema nspid cannot be trusted.
 */
void
InventoryRequireTrust(Oid nspid)
{
	const char *problem = InventoryTrustProblem(nspid);

	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("the inventory extension refuses to run in schema \"%s\"",
						get_namespace_name(nspid)),
				 errdetail("%s", problem),
				 errhint("%s", InventoryTrustHint())));
}

/*
 * The remedy for an untrusted installation, as a HINT.
 */
const char *
InventoryTrustHint(void)
{
	return "The extension runs as a superuser, so only superusers may own its schema and objects or create objects in its schema. "
		"A database still at version 1.0 in schema public: run ALTER EXTENSION inventory UPDATE, which moves it to the schema inventory. "
		"Otherwise give the schema or object back to a superuser, revoke CREATE on the schema, and drop what other roles made there.";
}
