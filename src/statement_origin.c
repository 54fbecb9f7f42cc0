/*-------------------------------------------------------------------------
 *
 * statement_origin.c
 *	  Whether the statement firing a trigger is one the apply runs itself.
 *
 * The apply writes one ledger row per queued item itself, so the ledger's
 * statement trigger on inventory_levels must skip the apply's own UPDATE
 * and INSERT; but a write that a trigger the owner added makes while the
 * apply runs (a statement trigger updating another level row, say) is an
 * ordinary write and gets its ledger rows like any other.  The two are told
 * apart by the executor nesting level, kept as contrib/pg_stat_statements
 * keeps it: the apply notes the level at which it runs its own statements,
 * and AFTER statement triggers fire inside the ExecutorFinish of the
 * statement that queued them, so "the innermost ExecutorFinish running is
 * at the apply's level" is true exactly while the apply's own statements
 * fire their triggers.  Statements run by those triggers finish deeper.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/executor.h"

#include "inventory.h"

PG_FUNCTION_INFO_V1(inventory_apply_statement);

static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;

/* Executor nesting level: ExecutorRun and ExecutorFinish calls running */
static int	nesting_level = 0;

/* Level of the apply's own statements while it runs one, else -1 */
static int	apply_level = -1;

/* Whether the innermost ExecutorFinish running is the apply's statement's */
static bool finishing_apply = false;

/*
 * ExecutorRun hook: count the level.
 */
static void
StatementOriginExecutorRun(QueryDesc *queryDesc, ScanDirection direction,
						   uint64 count, bool execute_once)
{
	nesting_level++;
	PG_TRY();
	{
		if (prev_ExecutorRun)
			prev_ExecutorRun(queryDesc, direction, count, execute_once);
		else
			standard_ExecutorRun(queryDesc, direction, count, execute_once);
	}
	PG_FINALLY();
	{
		nesting_level--;
	}
	PG_END_TRY();
}

/*
 * ExecutorFinish hook: count the level, and note whether the statement
 * finishing (and firing its AFTER triggers) is the apply's own.
 */
static void
StatementOriginExecutorFinish(QueryDesc *queryDesc)
{
	bool		save_finishing = finishing_apply;

	finishing_apply = (apply_level == nesting_level);
	nesting_level++;
	PG_TRY();
	{
		if (prev_ExecutorFinish)
			prev_ExecutorFinish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
	}
	PG_FINALLY();
	{
		nesting_level--;
		finishing_apply = save_finishing;
	}
	PG_END_TRY();
}

/*
 * Install the executor hooks; called from _PG_init.
 */
void
InventoryStatementOriginInit(void)
{
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = StatementOriginExecutorRun;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = StatementOriginExecutorFinish;
}

/*
 * Mark the statements run from now on at the current level as the
 * apply's own; returns what to pass to InventoryApplyStatementsEnd.
 */
int
InventoryApplyStatementsBegin(void)
{
	int			save = apply_level;

	apply_level = nesting_level;
	return save;
}

/*
 * End what InventoryApplyStatementsBegin started.
 */
void
InventoryApplyStatementsEnd(int save)
{
	apply_level = save;
}

/*
 * Whether the apply's own statement is running: its row triggers fire for
 * its own rows (a statement a trigger runs meanwhile runs deeper).
 */
bool
InventoryApplyStatementRunning(void)
{
	return apply_level >= 0 && nesting_level == apply_level + 1;
}

/*
 * inventory_apply_statement(): true while the apply's own statement fires
 * its AFTER triggers (for the ledger trigger, which then writes nothing).
 */
Datum
inventory_apply_statement(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(finishing_apply);
}
