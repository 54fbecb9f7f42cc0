/*-------------------------------------------------------------------------
 *
 * utility_hook.c
 *	  What the extension does around other utility statements: it counts
 *	  the queue a DROP EXTENSION discards (drop_queue.c) and lets a COPY
 *	  that restores a dump through (restore.c).  Chains to the hook that
 *	  was installed before it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/memutils.h"

#include "inventory.h"

static ProcessUtility_hook_type prev_process_utility = NULL;

/*
 * Run the statement: the previous hook, or PostgreSQL's own processing.
 */
static void
RunUtility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
		   ProcessUtilityContext context, ParamListInfo params,
		   QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	if (prev_process_utility)
		prev_process_utility(pstmt, queryString, readOnlyTree, context, params,
							 queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
}

/*
 * The hook: a DROP that takes the queue with it is counted before and
 * reported after; a COPY into the extension's tables runs as a restore
 * when one is under way, and its errors say how to restore.
 */
static void
InventoryProcessUtility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
						ProcessUtilityContext context, ParamListInfo params,
						QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	InventoryDroppedQueue dropped;
	InventoryRestoreCopy copy;
	MemoryContext cxt = CurrentMemoryContext;

	if (IsA(parsetree, DropStmt) &&
		InventoryCountDroppedQueue((DropStmt *) parsetree, &dropped))
	{
		RunUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
		InventoryReportDroppedQueue(&dropped);
		return;
	}
	if (IsA(parsetree, CopyStmt) &&
		InventoryRestoreCopyBegin((CopyStmt *) parsetree, &copy))
	{
		PG_TRY();
		{
			RunUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
		}
		PG_CATCH();
		{
			InventoryRestoreCopyFailed(&copy, cxt);
			PG_RE_THROW();
		}
		PG_END_TRY();
		InventoryRestoreCopyEnd(&copy);
		return;
	}
	RunUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
}

/*
 * Install the hook; called from _PG_init.
 */
void
InventoryUtilityHookInit(void)
{
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = InventoryProcessUtility;
}
