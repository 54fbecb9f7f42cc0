/*-------------------------------------------------------------------------
 *
 * statement.c
 *	  The extension's own SQL statements: prepared once per schema and kept
 *	  for the session, and run with one array argument per column.
 *
 * A statement is written once, as a static InventoryStatement: its text
 * names the extension's objects as @extschema@.name (as the install script
 * does), and its argument types are listed once.  InventoryStatementPlan
 * prepares it for the schema the extension is in, and prepares it again
 * when that schema is renamed or the extension moves, so every caller
 * notices the same changes.
 *
 * Set-based statements take their rows as arrays, one per column
 * (ROWS FROM (unnest($1), unnest($2), ...)): InventoryColumns collects
 * the values, the element types coming from the statement's argument
 * types, and runs the statement with them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "inventory.h"

/* How the statements name the extension's schema */
#define SCHEMA_TOKEN	"@extschema@"

/*
 * The statement's text for a schema: every @extschema@ replaced by the
 * schema's quoted name.
 */
static char *
StatementText(const char *sql, const char *nspname)
{
	StringInfoData buf;
	const char *quoted = quote_identifier(nspname);
	const char *p = sql;
	const char *hit;

	initStringInfo(&buf);
	while ((hit = strstr(p, SCHEMA_TOKEN)) != NULL)
	{
		appendBinaryStringInfo(&buf, p, hit - p);
		appendStringInfoString(&buf, quoted);
		p = hit + strlen(SCHEMA_TOKEN);
	}
	appendStringInfoString(&buf, p);
	return buf.data;
}

/*
 * The statement's plan for the extension in schema nspid, prepared on
 * first use and again after the schema was renamed (or the extension is
 * in another schema).  The caller is connected to SPI.
 */
SPIPlanPtr
InventoryStatementPlan(InventoryStatement *st, Oid nspid)
{
	char	   *nspname = get_namespace_name(nspid);
	char	   *sql;

	if (nspname == NULL)
		elog(ERROR, "cache lookup failed for namespace %u", nspid);
	if (st->plan != NULL && st->nspid == nspid && strcmp(NameStr(st->nspname), nspname) == 0)
		return st->plan;
	if (st->plan != NULL)
		SPI_freeplan(st->plan);
	st->plan = NULL;

	sql = StatementText(st->sql, nspname);
	st->plan = SPI_prepare(sql, st->nargs, st->argtypes);
	if (st->plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s",
			 sql, SPI_result_code_string(SPI_result));
	SPI_keepplan(st->plan);
	st->nspid = nspid;
	namestrcpy(&st->nspname, nspname);
	return st->plan;
}

/*
 * Run a statement with the given arguments (no NULLs); the result code
 * must be the expected one.  Returns the number of rows processed.  The
 * caller's memory context stays current (SPI leaves its own current after
 * a call, where what the caller allocates next would live until
 * SPI_finish).
 */
uint64
InventoryStatementRun(InventoryStatement *st, Oid nspid, Datum *args, bool read_only,
					  int expected)
{
	MemoryContext caller = CurrentMemoryContext;
	int			ret = SPI_execute_plan(InventoryStatementPlan(st, nspid), args, NULL,
									   read_only, 0);

	MemoryContextSwitchTo(caller);
	if (ret != expected)
		elog(ERROR, "inventory statement failed: %s", SPI_result_code_string(ret));
	return SPI_processed;
}

/*
 * Start collecting up to maxrows rows of arguments for statement st, whose
 * arguments are all arrays.  Allocates in the current memory context.
 */
void
InventoryColumnsInit(InventoryColumns *cols, InventoryStatement *st, int maxrows)
{
	Assert(st->nargs <= INVENTORY_MAX_ARGS);
	cols->st = st;
	cols->nrows = 0;
	cols->maxrows = maxrows;
	for (int c = 0; c < st->nargs; c++)
	{
		cols->elemtypes[c] = get_element_type(st->argtypes[c]);
		if (!OidIsValid(cols->elemtypes[c]))
			elog(ERROR, "argument %d of an inventory statement is not an array", c + 1);
		cols->values[c] = palloc(sizeof(Datum) * Max(maxrows, 1));
		cols->nulls[c] = palloc0(sizeof(bool) * Max(maxrows, 1));
	}
}

/*
 * Start a new row; returns its index.  The caller sets values[c][row] (and
 * nulls[c][row] for a NULL) of every column.
 */
int
InventoryColumnsAddRow(InventoryColumns *cols)
{
	if (cols->nrows >= cols->maxrows)
		elog(ERROR, "too many rows for an inventory statement");
	return cols->nrows++;
}

/*
 * Run the statement with the rows collected, one array per column, if
 * there are any.  Returns false (running nothing) when there are none.
 */
bool
InventoryColumnsRun(InventoryColumns *cols, Oid nspid, int expected)
{
	InventoryStatement *st = cols->st;
	Datum		args[INVENTORY_MAX_ARGS];

	if (cols->nrows == 0)
		return false;
	for (int c = 0; c < st->nargs; c++)
	{
		int16		typlen;
		bool		typbyval;
		char		typalign;
		int			dims[1] = {cols->nrows};
		int			lbs[1] = {1};

		get_typlenbyvalalign(cols->elemtypes[c], &typlen, &typbyval, &typalign);
		args[c] = PointerGetDatum(construct_md_array(cols->values[c], cols->nulls[c], 1,
													 dims, lbs, cols->elemtypes[c],
													 typlen, typbyval, typalign));
	}
	(void) InventoryStatementRun(st, nspid, args, false, expected);
	return true;
}
