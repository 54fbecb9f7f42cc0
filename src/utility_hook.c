/*-------------------------------------------------------------------------
 *
 * utility_hook.c
 *	  What the extension does around other utility statements: it counts
 *	  the queue a DROP EXTENSION discards (drop_queue.c).  Chains to the
 *	  hook that was installed before it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "nodes/parsenodes.h"
#include "tcop/utility.h"

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
 * reported after.
 */
static void
InventoryProcessUtility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
						ProcessUtilityContext context, ParamListInfo params,
						QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	InventoryDroppedQueue dropped;

	if (IsA(parsetree, DropStmt) &&
		InventoryCountDroppedQueue((DropStmt *) parsetree, &dropped))
	{
		RunUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
		InventoryReportDroppedQueue(&dropped);
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
