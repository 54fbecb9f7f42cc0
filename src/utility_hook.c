/*-------------------------------------------------------------------------
 *
 * utility_hook.c
 *	  What the extension does around other utility statements: it counts
 *	  the queue a DROP EXTENSION discards (drop_queue.c), lets a COPY
 *	  that restores a dump through (restore.c), and keeps a database's
 *	  worker out of a command that needs the database to itself
 *	  (database_commands.c).  Chains to the hook that was installed
 *	  before it.
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
 * Run a command that needs database dboid to itself, that database's
 * worker held off until it ends, whether it succeeds or fails.
 */
static void
RunAlone(Oid dboid, PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
		 ProcessUtilityContext context, ParamListInfo params,
		 QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	PG_TRY();
	{
		RunUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	}
	PG_CATCH();
	{
		InventoryDatabaseCommandEnd(dboid);
		PG_RE_THROW();
	}
	PG_END_TRY();
	InventoryDatabaseCommandEnd(dboid);
}

/*
 * The hook: a DROP that takes the queue with it is counted before and
 * reported after; a COPY into the extension's tables runs as a restore
 * when one is under way, and its errors say how to restore; DROP DATABASE
 * and the like run with that database's worker held off.
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
	Oid			alone;

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
	/* a command that needs a database to itself: its worker stays out */
	alone = InventoryDatabaseCommandBegin(parsetree);
	if (OidIsValid(alone))
	{
		RunAlone(alone, pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
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
