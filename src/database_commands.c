/*-------------------------------------------------------------------------
 *
 * database_commands.c
 *	  Commands on a whole database that no other session may be connected
 *	  to: DROP DATABASE, CREATE DATABASE ... TEMPLATE, ALTER DATABASE
 *	  RENAME or SET TABLESPACE.  The database's worker is asked to leave,
 *	  and the launcher starts none there until the command ends.
 *
 * Those commands wait up to 5 s for other sessions to leave, so the worker
 * only has to leave in time; the hold-off keeps the launcher from starting
 * another meanwhile.  It lasts at most HOLD_OFF_MS if the session dies, and
 * only a role that may run the command causes it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "inventory.h"
#include "databases.h"

/* Longest hold-off of a database's worker by one command */
#define HOLD_OFF_MS		60000

/*
 * The name of the database a statement needs to itself, or NULL.
 */
static const char *
DatabaseNeededAlone(Node *stmt)
{
	ListCell   *lc;

	switch (nodeTag(stmt))
	{
		case T_DropdbStmt:
			return ((DropdbStmt *) stmt)->dbname;
		case T_CreatedbStmt:
			foreach(lc, ((CreatedbStmt *) stmt)->options)
			{
				DefElem    *opt = lfirst_node(DefElem, lc);

				if (strcmp(opt->defname, "template") == 0 && opt->arg != NULL)
					return defGetString(opt);
			}
			/* no TEMPLATE, or TEMPLATE DEFAULT: a copy of template1 */
			return "template1";
		case T_RenameStmt:
			if (((RenameStmt *) stmt)->renameType == OBJECT_DATABASE)
				return ((RenameStmt *) stmt)->subname;
			return NULL;
		case T_AlterDatabaseStmt:
			foreach(lc, ((AlterDatabaseStmt *) stmt)->options)
			{
				if (strcmp(lfirst_node(DefElem, lc)->defname, "tablespace") == 0)
					return ((AlterDatabaseStmt *) stmt)->dbname;
			}
			return NULL;
		default:
			return NULL;
	}
}

/*
 * Whether the current user may run such a command on database dboid: its
 * owner or a superuser, or, to copy a template, a role that may create
 * databases.  Others' commands fail anyway; they must not make the worker
 * leave over and over.
 */
static bool
MayRunOn(Oid dboid, Node *stmt)
{
	HeapTuple	tup;
	bool		ok = false;

	if (superuser() || pg_database_ownercheck(dboid, GetUserId()))
		return true;
	if (!IsA(stmt, CreatedbStmt))
		return false;
	tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(dboid));
	if (HeapTupleIsValid(tup))
	{
		ok = ((Form_pg_database) GETSTRUCT(tup))->datistemplate;
		ReleaseSysCache(tup);
	}
	if (!ok)
		return false;
	tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(GetUserId()));
	ok = false;
	if (HeapTupleIsValid(tup))
	{
		ok = ((Form_pg_authid) GETSTRUCT(tup))->rolcreatedb;
		ReleaseSysCache(tup);
	}
	return ok;
}

/*
 * Hold off the worker of database dboid until (0: this command ended),
 * asking a running or starting one to leave.  Commands on one database
 * may overlap (two copies of one template): the hold-off lasts until the
 * last of them ends, or the latest deadline passes.
 */
static void
HoldOffWorker(Oid dboid, TimestampTz until)
{
	InventoryDatabase *db = InventoryDatabaseLock(dboid, until != 0);
	int			procno = -1;

	if (db == NULL)
		return;
	if (until != 0)
	{
		db->hold_offs++;
		db->hold_off_until = Max(db->hold_off_until, until);
		if (db->state != INVENTORY_WORKER_NONE)
		{
			db->leave = true;
			procno = db->worker_procno;
		}
	}
	else if (db->hold_offs > 0 && --db->hold_offs == 0)
		db->hold_off_until = 0;
	InventoryDatabaseUnlock(db);
	if (procno >= 0)
		ProcSendSignal(procno);
	if (until == 0)
		InventoryWakeLauncher();
}

/*
 * Before a utility statement: when it needs a database to itself, keep that
 * database's worker out, and return the database to release afterwards
 * (InvalidOid: nothing to do).
 */
Oid
InventoryDatabaseCommandBegin(Node *stmt)
{
	const char *dbname = InventoryShmemAvailable() ? DatabaseNeededAlone(stmt) : NULL;
	Oid			dboid = dbname ? get_database_oid(dbname, true) : InvalidOid;

	if (!OidIsValid(dboid) || !MayRunOn(dboid, stmt))
		return InvalidOid;
	HoldOffWorker(dboid, TimestampTzPlusMilliseconds(GetCurrentTimestamp(), HOLD_OFF_MS));
	return dboid;
}

/*
 * After the statement, whether it succeeded or failed: let the launcher
 * serve the database again.
 */
void
InventoryDatabaseCommandEnd(Oid dboid)
{
	HoldOffWorker(dboid, 0);
}
