/*-------------------------------------------------------------------------
 *
 * drop_queue.c
 *	  DROP EXTENSION inventory (or DROP SCHEMA of its schema) discards the
 *	  batches still queued: they are counted before the drop and reported
 *	  in a WARNING after it.
 *
 * The utility hook (utility_hook.c) calls this, so the warning needs the
 * library loaded in the dropping session: always with
 * shared_preload_libraries, otherwise once the session has used one of
 * the extension's functions.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"

#include "inventory.h"

/* The batches and items in the queue */
static InventoryStatement queue_count = {
	.sql = "SELECT pg_catalog.count(*), pg_catalog.sum(q.item_count) "
	"FROM @extschema@.inventory_queue q",
	.nargs = 0
};

/*
 * Whether a DROP statement names the extension inventory or the schema it
 * is in (nspid).
 */
static bool
DropsExtension(DropStmt *stmt, Oid nspid)
{
	const char *target;
	ListCell   *lc;

	if (stmt->removeType == OBJECT_EXTENSION)
		target = INVENTORY_EXTENSION_NAME;
	else if (stmt->removeType == OBJECT_SCHEMA)
		target = get_namespace_name(nspid);
	else
		return false;
	if (target == NULL)
		return false;
	foreach(lc, stmt->objects)
	{
		Node	   *name = lfirst(lc);

		if (IsA(name, String) && strcmp(strVal(name), target) == 0)
			return true;
	}
	return false;
}

/*
 * Before a DROP: when it drops the extension (or its schema) and batches
 * are queued, count them into *dropped and return true.  The queue is
 * locked as the drop will lock it, so nothing is applied or queued in
 * between and the count is what the drop discards.
 */
bool
InventoryCountDroppedQueue(DropStmt *stmt, InventoryDroppedQueue *dropped)
{
	Oid			nspid = InventoryExtensionSchema();
	Oid			queue;
	bool		isnull;
	Datum		sum;

	memset(dropped, 0, sizeof(*dropped));
	if (!OidIsValid(nspid) || !DropsExtension(stmt, nspid))
		return false;
	queue = InventoryRelid(nspid, "inventory_queue");
	if (!OidIsValid(queue) ||
		pg_class_aclcheck(queue, GetUserId(), ACL_SELECT) != ACLCHECK_OK ||
		InventoryTrustProblem(nspid) != NULL)
		return false;
	LockRelationOid(queue, AccessExclusiveLock);
	/* a concurrent drop may have come first */
	if (InventoryExtensionSchema() != nspid || InventoryRelid(nspid, "inventory_queue") != queue)
		return false;

	SPI_connect();
	(void) InventoryStatementRun(&queue_count, nspid, NULL, true, SPI_OK_SELECT);
	dropped->batches = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 1, &isnull));
	sum = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	dropped->items = isnull ? 0 : DatumGetInt64(sum);
	SPI_finish();
	dropped->is_schema = (stmt->removeType == OBJECT_SCHEMA);
	return dropped->batches > 0;
}

/*
 * After the drop succeeded: say what it discarded.
 */
void
InventoryReportDroppedQueue(const InventoryDroppedQueue *dropped)
{
	ereport(WARNING,
			(errcode(ERRCODE_WARNING),
			 errmsg("%s discards %lld queued inventory %s (%lld %s)",
					dropped->is_schema ? "DROP SCHEMA" : "DROP EXTENSION inventory",
					(long long) dropped->batches,
					dropped->batches == 1 ? "batch" : "batches",
					(long long) dropped->items,
					dropped->items == 1 ? "item" : "items"),
			 errdetail("inventory_adjust accepted them, but they were not applied yet; they go with the extension's tables when this transaction commits."),
			 errhint("To keep them, roll back and let the worker apply them first (SELECT * FROM inventory_queue_summary shows what is left), or call inventory_process_queue(). After CREATE EXTENSION, batch and ledger ids start again at 1: change feed consumers must start again from cursor 0.")));
}
