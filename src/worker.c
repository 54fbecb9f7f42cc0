/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The background worker that applies queued batches.
 *
 * It connects to inventory.database, and in a loop applies rounds of
 * batches while there are any, then sleeps on its latch until a queuing
 * transaction commits (shmem.c) or inventory.naptime passes.  When the
 * extension is not installed it idles; errors are logged and retried after
 * a pause, so it never crash-loops.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "inventory.h"

/* Seconds the postmaster waits before restarting a worker that exited */
#define WORKER_RESTART_SECONDS	5

/* Whether we already logged that the extension is missing */
static bool absent_logged = false;

/* Whether the worker has logged that it does not trust the extension */
static bool distrust_logged = false;

/* Ledger horizon last announced with NOTIFY inventory_changes */
static int64 notified_horizon = -1;

/* When expired idempotency keys were last deleted */
static TimestampTz last_purge = 0;

/* Seconds between deletions of expired idempotency keys */
#define PURGE_INTERVAL_S	60

/* Milliseconds at least between two announcements of changes alone */
#define ANNOUNCE_INTERVAL_MS	10

/* State of the main loop (static: kept across the error recovery longjmp) */
static bool more_queued = false;	/* the last round left batches behind */
static bool changes_pending = false;
static TimestampTz last_apply = 0;
static TimestampTz last_announce = 0;

/*
 * Register the worker; called from _PG_init when preloaded.
 */
void
InventoryRegisterWorker(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = WORKER_RESTART_SECONDS;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "inventory");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "inventory_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "inventory worker");
	snprintf(worker.bgw_type, BGW_MAXLEN, "inventory worker");
	worker.bgw_notify_pid = 0;
	RegisterBackgroundWorker(&worker);
}

/*
 * Wake consumers of inventory_changes(): NOTIFY (delivered at our commit)
 * when the ledger horizon moved.  The transactions that write ledger rows
 * wake us at their commit, so they need not take the notification queue's
 * lock themselves.
 */
static void
AnnounceChanges(Oid nspid)
{
	int64		horizon;
	char		payload[32];

	if (!OidIsValid(InventoryRelid(nspid, "inventory_ledger_id_seq")))
		return;
	horizon = InventoryLedgerHorizon(nspid);
	if (horizon < notified_horizon)
		notified_horizon = -1;	/* the extension was created again */
	if (horizon <= notified_horizon)
		return;
	snprintf(payload, sizeof(payload), INT64_FORMAT, horizon);
	Async_Notify("inventory_changes", payload);
	notified_horizon = horizon;
}

/*
 * Delete idempotency keys older than inventory.idempotency_retention, once
 * a minute.
 */
static void
PurgeIdempotencyKeys(Oid nspid)
{
	TimestampTz now = GetCurrentTimestamp();
	char	   *sql;

	if (!TimestampDifferenceExceeds(last_purge, now, PURGE_INTERVAL_S * 1000))
		return;
	last_purge = now;
	if (!OidIsValid(InventoryRelid(nspid, "inventory_idempotency_keys")))
		return;
	/* skip keys a client holds right now: never wait here */
	sql = psprintf("DELETE FROM %1$s WHERE key IN (SELECT key FROM %1$s "
				   "WHERE created_at OPERATOR(pg_catalog.<) "
				   "(pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => %2$d)) "
				   "FOR UPDATE SKIP LOCKED)",
				   InventoryQualify(nspid, "inventory_idempotency_keys"),
				   inventory_idempotency_retention_s);
	if (SPI_execute(sql, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "deleting expired idempotency keys failed");
}

/*
 * Test only (inventory.debug_hold_before_commit): wait with the round
 * applied but not committed, saying so in pg_stat_activity, so that a
 * crash test can kill the worker at exactly that point.
 */
static void
HoldBeforeCommit(void)
{
	TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													inventory_debug_hold_ms);

	pgstat_report_activity(STATE_RUNNING, "inventory worker: holding a round before commit");
	for (;;)
	{
		long		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), until);

		if (left <= 0)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 left, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Whether the extension can be trusted (trust.c), saying so in the log when
 * the answer changes: an untrusted installation's queue is left alone.
 */
static bool
WorkerTrusts(Oid nspid)
{
	const char *problem = InventoryTrustProblem(nspid);

	if (problem != NULL && !distrust_logged)
		ereport(WARNING,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("inventory worker does not apply the queue of database \"%s\": the extension cannot be trusted",
						inventory_database),
				 errdetail("%s Queued batches stay queued.", problem),
				 errhint("%s", InventoryTrustHint())));
	else if (problem == NULL && distrust_logged)
		ereport(LOG,
				(errmsg("inventory worker trusts the extension in database \"%s\" again and is applying its queue",
						inventory_database)));
	distrust_logged = (problem != NULL);
	return problem == NULL;
}

/*
 * Run one round in its own transaction.  Returns whether it left applicable
 * batches behind (the loop then goes on at once); a round that found
 * nothing, or is held back by an uncommitted earlier batch (whose end wakes
 * the worker), returns false.
 */
static bool
RunRound(void)
{
	InventoryApplyResult result;
	Oid			nspid;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());

	nspid = InventoryExtensionSchema();
	if (!OidIsValid(nspid))
	{
		if (!absent_logged)
			ereport(LOG,
					(errmsg("inventory worker is waiting for CREATE EXTENSION inventory in database \"%s\"",
							inventory_database)));
		absent_logged = true;
		PopActiveSnapshot();
		CommitTransactionCommand();
		InventoryReportRound(true, false, 0, NULL);
		return false;
	}
	if (absent_logged)
		ereport(LOG,
				(errmsg("inventory worker found the extension in database \"%s\" and is applying its queue",
						inventory_database)));
	absent_logged = false;
	if (!WorkerTrusts(nspid))
	{
		PopActiveSnapshot();
		CommitTransactionCommand();
		InventoryReportRound(true, true, 0, NULL);
		return false;
	}

	pgstat_report_activity(STATE_RUNNING, "applying queued inventory batches");
	SPI_connect();
	InventoryApplyRound(nspid, inventory_batch_size, PG_INT32_MAX, false, &result);
	AnnounceChanges(nspid);
	PurgeIdempotencyKeys(nspid);
	SPI_finish();
	if (inventory_debug_hold_ms > 0 && result.batches_applied + result.batches_failed > 0)
		HoldBeforeCommit();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	InventoryReportRound(true, true, result.blocking_pid, &result);
	return result.more;
}

/*
 * Announce committed changes (from order functions and direct writes)
 * without applying anything: a short transaction for the NOTIFY.
 */
static void
RunAnnounce(void)
{
	Oid			nspid;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	nspid = InventoryExtensionSchema();
	if (OidIsValid(nspid) && InventoryTrustProblem(nspid) == NULL)
		AnnounceChanges(nspid);
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/*
 * Sleep until the latch is set or timeout_ms passes, handling interrupts.
 */
static void
Sleep(long timeout_ms)
{
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 timeout_ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

/*
 * Pause after an error: the whole time, whatever sets the latch meanwhile,
 * so that a persistent error is retried at a bounded rate.
 */
static void
PauseAfterError(void)
{
	TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													Max(inventory_naptime_ms, 1000));

	for (;;)
	{
		long		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), until);

		if (left <= 0)
			break;
		Sleep(left);
	}
}

/*
 * Entry point of the worker.
 */
void
inventory_worker_main(Datum main_arg pg_attribute_unused())
{
	MemoryContext round_context;


	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(inventory_database, NULL, 0);
	pgstat_report_appname("inventory worker");

	/*
	 * Apply order relies on a new snapshot for each statement, whatever the
	 * cluster's default isolation level.
	 */
	SetConfigOption("default_transaction_isolation", "read committed",
					PGC_SUSET, PGC_S_OVERRIDE);
	/* names the worker's SQL does not qualify resolve only in pg_catalog */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * Every statement of a round looks up at most inventory.batch_size keys
	 * in tables of any size: index probes are always the right plan, and a
	 * hash join over a scan of inventory_levels (which a plan cached while
	 * the table was small would keep) is ruinous.  The same settings are
	 * attached to inventory_process_queue().
	 */
	SetConfigOption("enable_seqscan", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("enable_hashjoin", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("enable_mergejoin", "off", PGC_SUSET, PGC_S_OVERRIDE);
	/* and these short statements never gain from JIT compilation */
	SetConfigOption("jit", "off", PGC_SUSET, PGC_S_OVERRIDE);
	/* the apply writes one ledger row per item itself */
	SetConfigOption("inventory.change_source", "adjust", PGC_SUSET, PGC_S_OVERRIDE);
	InventoryRegisterWorkerProcess();

	round_context = AllocSetContextCreate(TopMemoryContext,
										  "inventory worker round",
										  ALLOCSET_DEFAULT_SIZES);
	ereport(LOG,
			(errmsg("inventory worker started for database \"%s\"", inventory_database)));

	for (;;)
	{
		bool		batches,
					changes;
		volatile bool apply_due;
		bool		announce_due;
		long		timeout;
		TimestampTz now;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		/*
		 * Apply when a batch was queued, when the last round left more, and
		 * every naptime as a safety net; announce changes of the order
		 * functions at most every ANNOUNCE_INTERVAL_MS, so that a stream of
		 * reservations does not keep the worker running rounds.
		 */
		InventoryTakeWakeReasons(&batches, &changes);
		if (changes)
			changes_pending = true;
		now = GetCurrentTimestamp();
		apply_due = inventory_enabled &&
			(batches || more_queued ||
			 TimestampDifferenceExceeds(last_apply, now, inventory_naptime_ms));
		announce_due = changes_pending &&
			TimestampDifferenceExceeds(last_announce, now, ANNOUNCE_INTERVAL_MS);

		if (apply_due || announce_due)
		{
			MemoryContextSwitchTo(round_context);
			PG_TRY();
			{
				if (apply_due)
				{
					more_queued = RunRound();
					last_apply = now;
				}
				else
					RunAnnounce();
				changes_pending = false;
				last_announce = now;
			}
			PG_CATCH();
			{
				HOLD_INTERRUPTS();
				EmitErrorReport();
				AbortOutOfAnyTransaction();
				FlushErrorState();
				pgstat_report_activity(STATE_IDLE, NULL);
				RESUME_INTERRUPTS();
				MemoryContextSwitchTo(TopMemoryContext);
				MemoryContextReset(round_context);
				more_queued = false;
				last_apply = GetCurrentTimestamp();
				PauseAfterError();
				continue;
			}
			PG_END_TRY();
			MemoryContextSwitchTo(TopMemoryContext);
			MemoryContextReset(round_context);
		}
		if (!inventory_enabled)
		{
			InventoryReportRound(false, false, 0, NULL);
			more_queued = false;
		}

		/* More to apply: go on at once (CHECK_FOR_INTERRUPTS lets signals in). */
		if (inventory_enabled && more_queued)
			continue;

		/*
		 * Otherwise sleep until woken (a commit, or the end of a transaction
		 * holding an earlier batch back) or until the next poll or
		 * announcement is due.
		 */
		now = GetCurrentTimestamp();
		if (inventory_enabled)
			timeout = inventory_naptime_ms -
				TimestampDifferenceMilliseconds(last_apply, now);
		else
			timeout = inventory_naptime_ms; /* paused: a reload wakes us */
		if (changes_pending)
			timeout = Min(timeout, ANNOUNCE_INTERVAL_MS -
						  TimestampDifferenceMilliseconds(last_announce, now));
		if (timeout > 0)
			Sleep(timeout);
	}
}
