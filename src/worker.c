/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  A database's worker: it applies the queued batches of the database
 *	  the launcher started it for (launcher.c).
 *
 * In a loop it applies rounds of batches while there are any, then sleeps
 * on its latch until a queuing transaction commits (wakeup.c) or
 * inventory.naptime passes.  It also releases expired holds (expiry.c):
 * it sleeps no longer than the next expiry, and records it when it leaves,
 * so that the launcher starts a worker again when it is due.  After each
 * round that changed stock and each announcement of changes it runs a
 * pass of the feeds (feeds.c), and one when it starts.  Once it has
 * had nothing to do for inventory.idle_timeout it leaves, so that an idle
 * database holds no connection; it leaves at once where the extension is
 * not installed, and after a time slice when it has more to do but other
 * databases wait for a worker.
 *
 * Errors.  The main loop has the explicit error-recovery block of
 * walwriter.c: an error anywhere in it (a failed round, a cancel from
 * pg_cancel_backend while idle or busy) lands in a sigsetjmp block that
 * aborts the transaction, resets the loop's memory, logs the error and
 * pauses before the next try.  So a cancel ends only the current round,
 * and the worker never crash-loops.  A round that waits longer than
 * inventory.lock_timeout for a lock is a transient error too: it is rolled
 * back and retried at once, and the worker logs who holds the lock
 * (blockers.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/async.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include <limits.h>

#include "inventory.h"
#include "databases.h"

/* Settings of the worker */
static int	naptime_ms = 1000;
static int	idle_timeout_s = 30;
static int	inventory_lock_timeout_ms = 5000;
static int	debug_hold_ms = 0;

/* The name of the database served, for messages */
static char *database_name = NULL;

/* Milliseconds a worker with more to do keeps its slot while others wait */
#define WORKER_TIME_SLICE_MS	1000

/* Why the worker last logged that it does not trust the extension, or NULL */
static char *distrust_logged = NULL;

/* Ledger horizon last announced with NOTIFY inventory_changes */
static int64 notified_horizon = -1;

/* When expired idempotency keys were last deleted */
static TimestampTz last_purge = 0;

/* When the last pass of retention began, and whether it left more */
static TimestampTz last_prune = 0;
static bool prune_more = false;

/* Seconds between deletions of expired idempotency keys */
#define PURGE_INTERVAL_S	60

/* Milliseconds at least between two announcements of changes alone */
#define ANNOUNCE_INTERVAL_MS	10

/* Seconds between recounts of the queued items (backpressure.c) */
#define RECOUNT_INTERVAL_S	30

/*
 * Most holds released in one expiry pass (one transaction, which keeps
 * their level rows locked until it commits: reservations of those keys
 * wait for it)
 */
#define EXPIRY_MAX_HOLDS	100

/*
 * Most ledger rows one pass of the feeds reads (one transaction; a
 * backlog takes several, the worker going on at once)
 */
#define FEEDS_MAX_CHANGES	10000

/* Memory of one pass of the main loop, reset after each */
static MemoryContext loop_context = NULL;

/* State of the main loop (static: kept across the error recovery longjmp) */
static bool more_queued = false;	/* the last round left batches behind */
static bool changes_pending = false;
static bool round_changed = false;	/* the last round applied or failed batches */
/*
 * A pass of the feeds is due: at start (a restart loses the wake-up
 * reasons of the changes not fed yet), every naptime (a pass with nothing
 * to do writes nothing), and while the last one left ledger rows, found
 * something busy (then not before FEEDS_RETRY_MS) or failed.  A failed
 * pass (feeds_running still set when the error recovery begins the loop
 * again) is tried again after a naptime, not after every round.  While
 * no channel and no alert exists (feeds_idle), a round does not call for
 * a pass: one every naptime keeps the cursor close, and the change that
 * makes a channel or an alert wakes us at its commit.
 */
static bool feeds_due = true;
static bool feeds_idle = false;
static bool feeds_running = false;
static TimestampTz feeds_retry_at = 0;
static TimestampTz last_feeds_pass = 0;

/* Milliseconds before a pass that found something busy is run again */
#define FEEDS_RETRY_MS		100
static TimestampTz last_apply = 0;
static TimestampTz last_announce = 0;
static TimestampTz last_recount = 0;
static bool recount_due = true; /* count of queued items unknown */
static bool extension_found = false;
static TimestampTz last_busy = 0;	/* last round that had batches */
static TimestampTz slice_started = 0;	/* when the current run of rounds began */
static TimestampTz next_expiry = 0; /* of a hold, as last found (0: none) */
static bool expiry_known = false;	/* next_expiry was found since the start */
static TimestampTz last_expiry_check = 0;

/*
 * When the last round gave up waiting for a lock (inventory.lock_timeout),
 * or 0; the retry reports who holds it.
 */
static TimestampTz lock_gave_up_at = 0;
/* When the current round began: a lock error sooner is no lock_timeout */
static TimestampTz round_started_at = 0;

/* Who has held rounds back since when with an uncommitted batch, or 0 */
static int	held_back_pid = 0;
static TimestampTz held_back_since = 0;

/*
 * Define the worker's settings; called from _PG_init, preloaded or not (so
 * that no session warns about them).
 */
void
InventoryWorkerInit(void)
{
	DefineCustomIntVariable("inventory.naptime",
							"Longest time a worker sleeps between checks of its database's queue.",
							"The worker is woken at the commit of every transaction that queued a batch; this poll is a safety net.",
							&naptime_ms,
							1000, 10, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("inventory.idle_timeout",
							"How long a worker with nothing to do stays connected to its database before it leaves.",
							"An idle database then holds no connection of the extension (it can be dropped or used as a template); the next commit that queues a batch starts a worker again.",
							&idle_timeout_s,
							30, 0, 24 * 3600,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("inventory.lock_timeout",
							"Longest time a round of the inventory worker waits for a lock.",
							"A round that waits longer is rolled back and retried at once, and the worker logs who holds the lock (at most every 10 s while it lasts). 0 waits without limit and reports nothing.",
							&inventory_lock_timeout_ms,
							5000, 0, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("inventory.debug_hold_before_commit",
							"Test only: how long the worker waits between applying a round and committing it.",
							"Lets crash tests kill the worker while a round is applied but not committed; 0 (the default) in production.",
							&debug_hold_ms,
							0, 0, 600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS | GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);
}

/*
 * Sleep for timeout_ms, handling interrupts.  With whole = false, return
 * early when the latch is set (a commit woke us); with whole = true sleep
 * the whole time whatever sets the latch meanwhile (the wake-up reasons
 * are kept in shared memory, so none is lost).
 */
static void
SleepFor(long timeout_ms, bool whole)
{
	TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	long		left = timeout_ms;

	while (left > 0)
	{
		int			rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								   left, PG_WAIT_EXTENSION);

		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if ((rc & WL_LATCH_SET) && !whole)
			break;
		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), until);
	}
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
 * Note who held this round back (0: nobody), and once the same session has
 * done so for inventory.lock_timeout, report it (blockers.c).
 */
static void
NoteHeldBack(int pid)
{
	TimestampTz now = GetCurrentTimestamp();

	if (pid == 0 || pid != held_back_pid)
	{
		held_back_pid = pid;
		held_back_since = now;
	}
	else if (inventory_lock_timeout_ms > 0 &&
			 TimestampDifferenceExceeds(held_back_since, now, inventory_lock_timeout_ms))
		InventoryReportHeldBack(pid, held_back_since);
}

/*
 * Whether the extension can be trusted (trust.c), saying so in the log when
 * the answer or the reason changes: an untrusted installation's queue is
 * left alone.  A new reason is logged even while distrust goes on, so that
 * the log names what is wrong now, not only what was wrong first.
 */
static bool
WorkerTrusts(Oid nspid)
{
	const char *problem = InventoryTrustProblem(nspid);

	if (problem != NULL &&
		(distrust_logged == NULL || strcmp(problem, distrust_logged) != 0))
		ereport(WARNING,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("inventory worker does not apply the queue of database \"%s\": the extension cannot be trusted",
						database_name),
				 errdetail("%s Queued batches stay queued.", problem),
				 errhint("%s", InventoryTrustHint())));
	else if (problem == NULL && distrust_logged != NULL)
		ereport(LOG,
				(errmsg("inventory worker trusts the extension in database \"%s\" again and is applying its queue",
						database_name)));
	if (distrust_logged != NULL &&
		(problem == NULL || strcmp(problem, distrust_logged) != 0))
	{
		pfree(distrust_logged);
		distrust_logged = NULL;
	}
	if (problem != NULL && distrust_logged == NULL)
		distrust_logged = MemoryContextStrdup(TopMemoryContext, problem);
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
	InventoryClock clock;
	Oid			nspid;

	round_started_at = GetCurrentTimestamp();
	InventoryClockStart(&clock);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());

	nspid = InventoryExtensionSchema();
	extension_found = OidIsValid(nspid);
	if (!extension_found || !WorkerTrusts(nspid))
	{
		PopActiveSnapshot();
		CommitTransactionCommand();
		InventoryReportState(INVENTORY_WORKER_IDLE, extension_found);
		return false;
	}
	InventoryReportState(INVENTORY_WORKER_APPLYING, true);

	/* the last try gave up on a lock: say who holds it, then try again */
	if (lock_gave_up_at != 0)
		InventoryReportLockHolders(nspid, lock_gave_up_at, inventory_lock_timeout_ms);
	lock_gave_up_at = 0;

	pgstat_report_activity(STATE_RUNNING, "applying queued inventory batches");
	SPI_connect();
	InventoryApplyRound(nspid, InventoryRoundItems(), PG_INT32_MAX, false, &result);
	AnnounceChanges(nspid);
	SPI_finish();
	NoteHeldBack(result.blocking_pid);

	/*
	 * Test only (inventory.debug_hold_before_commit): wait with the round
	 * applied but not committed, so that a test can kill or cancel the
	 * worker at exactly that point.
	 */
	if (debug_hold_ms > 0 && result.batches_applied + result.batches_failed > 0)
	{
		pgstat_report_activity(STATE_RUNNING, "inventory worker: holding a round before commit");
		SleepFor(debug_hold_ms, true);
	}
	PopActiveSnapshot();
	InventoryClockMark(&clock, 0);
	CommitTransactionCommand();
	InventoryClockMark(&clock, 1);
	/* (clock.started is 0 while inventory.log_min_duration is off) */
	if (clock.started != 0 && result.batches_applied + result.batches_failed > 0)
	{
		int64		batches = result.batches_applied + result.batches_failed;

		InventoryClockLog(&clock,
						  psprintf("a round of %lld %s (%lld items)", (long long) batches,
								   batches == 1 ? "batch" : "batches",
								   (long long) result.items_applied),
						  "applying", "committing");
	}
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	round_changed = result.batches_applied + result.batches_failed > 0;
	InventoryReportRound(result.blocking_pid, &result);
	InventoryReportState(INVENTORY_WORKER_IDLE, true);
	/* held back by an open transaction: not idle, its end wakes us */
	if (result.batches_applied + result.batches_failed > 0 || result.more ||
		result.blocking_pid != 0)
		last_busy = GetCurrentTimestamp();
	return result.more;
}

/*
 * Start a short transaction of the worker's own; returns the extension's
 * schema, or InvalidOid when it is absent or cannot be trusted.
 */
static Oid
BeginShortTransaction(void)
{
	Oid			nspid;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	nspid = InventoryExtensionSchema();
	if (OidIsValid(nspid) && InventoryTrustProblem(nspid) != NULL)
		nspid = InvalidOid;
	return nspid;
}

/*
 * Commit the transaction of BeginShortTransaction.
 */
static void
EndShortTransaction(void)
{
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/*
 * Announce committed changes (from order functions and direct writes)
 * without applying anything: a short transaction for the NOTIFY.
 */
static void
RunAnnounce(void)
{
	Oid			nspid = BeginShortTransaction();

	if (OidIsValid(nspid))
		AnnounceChanges(nspid);
	EndShortTransaction();
}


/*
 * Bring the channel feed and the alert events up to the ledger (feeds.c)
 * in a short transaction: one pass, which a backlog of ledger rows makes
 * the loop run again at once.  Returns what to do next.
 */
static InventoryFeedsNext
RunFeeds(void)
{
	InventoryClock clock;
	Oid			nspid;
	InventoryFeedsNext next = INVENTORY_FEEDS_CAUGHT_UP;

	InventoryClockStart(&clock);
	nspid = BeginShortTransaction();
	if (OidIsValid(nspid) && InventoryHasFeeds(nspid))
	{
		pgstat_report_activity(STATE_RUNNING, "bringing the inventory channel feed and alerts up to date");
		SPI_connect();
		next = InventoryCatchUpFeeds(nspid, FEEDS_MAX_CHANGES);
		SPI_finish();
		pgstat_report_activity(STATE_IDLE, NULL);
	}
	InventoryClockMark(&clock, 0);
	EndShortTransaction();
	InventoryClockMark(&clock, 1);
	InventoryClockLog(&clock, "a pass of the feeds", "deriving", "committing");
	return next;
}

/*
 * Run work(nspid) connected to SPI in a short transaction of its own,
 * when the extension is there and trusted.
 */
static void
RunShortWork(void (*work) (Oid nspid))
{
	Oid			nspid = BeginShortTransaction();

	if (OidIsValid(nspid))
	{
		SPI_connect();
		work(nspid);
		SPI_finish();
	}
	EndShortTransaction();
}

/*
 * Recount the items in the queue (for inventory.max_queued_items): when
 * the count is unknown, and every RECOUNT_INTERVAL_S to correct any drift
 * (a queue emptied by hand, say).
 */
static void
RunRecount(void)
{
	RunShortWork(InventoryRecountQueuedItems);
	recount_due = false;
	last_recount = GetCurrentTimestamp();
}

/*
 * Delete expired idempotency keys (idempotency.c) once a minute, not in a
 * round, which holds the level rows it changed locked until it commits.
 */
static void
RunPurge(void)
{
	RunShortWork(InventoryPurgeIdempotencyKeys);
	last_purge = GetCurrentTimestamp();
}

/*
 * RunShortWork's work for RunPrune: a pass, noting whether more is left.
 */
static void
PruneWork(Oid nspid)
{
	prune_more = InventoryPruneHistory(nspid);
}

/*
 * One pass of retention (retention.c), in a transaction of its own, not in
 * a round; the next comes at once while it leaves more to prune, else
 * after the interval (after one that failed too: it is not retried at
 * once).
 */
static void
RunPrune(void)
{
	prune_more = false;
	last_prune = GetCurrentTimestamp();
	RunShortWork(PruneWork);
}

/*
 * Release expired holds (expiry.c) when the next expiry is due (a commit
 * may have recorded an earlier one), and every naptime, since holds
 * written into inventory_reservations directly tell no one; then find the
 * next expiry and record it in the entry, for the launcher once we have
 * left.  The trust check of the apply comes first; a database at 1.0 to
 * 1.2 has no expiring holds.
 */
static void
RunExpiry(TimestampTz now)
{
	TimestampTz recorded = InventoryTakeExpiry();
	TimestampTz next = 0;
	TimestampTz cutoff;
	bool		skipped = false;
	int			released = 0;
	Oid			nspid;

	if (recorded != 0 && (next_expiry == 0 || recorded < next_expiry))
		next_expiry = recorded;
	if (expiry_known && !(next_expiry != 0 && next_expiry <= now) &&
		!TimestampDifferenceExceeds(last_expiry_check, now, naptime_ms))
		return;

	/*
	 * Should the pass fail (the worker's error recovery then begins the
	 * loop again), the next one waits a naptime rather than run in a loop
	 * ahead of everything else.
	 */
	next_expiry = TimestampTzPlusMilliseconds(now, naptime_ms);
	expiry_known = true;
	last_expiry_check = now;

	nspid = BeginShortTransaction();
	/* now(): the ledger's time of the releases, never before expires_at */
	cutoff = GetCurrentTransactionStartTimestamp();
	if (OidIsValid(nspid) && InventoryHoldsExpire(nspid))
	{
		pgstat_report_activity(STATE_RUNNING, "releasing expired inventory holds");
		SPI_connect();
		released = InventoryExpireHolds(nspid, EXPIRY_MAX_HOLDS, cutoff, &skipped);
		next = InventoryNextHoldExpiry(nspid);
		SPI_finish();
	}
	EndShortTransaction();
	pgstat_report_activity(STATE_IDLE, NULL);

	/*
	 * Holds still due that this pass did not release (not for want of
	 * room): their level row was locked (try again shortly), or something
	 * kept them (a trigger of the owner's, say: try again after a naptime,
	 * not in a loop).
	 */
	if (next != 0 && next <= cutoff && released < EXPIRY_MAX_HOLDS)
		next = skipped ? InventoryExpiryRetryAt()
			: TimestampTzPlusMilliseconds(GetCurrentTimestamp(), naptime_ms);
	InventorySetNextExpiry(next);
	next_expiry = next;
	expiry_known = true;
	last_expiry_check = now;
	if (released > 0)
		last_busy = GetCurrentTimestamp();
}

/*
 * Leave the database: exit, the entry already released (wakeup.c).
 */
static void
LeaveDatabase(const char *why)
{
	ereport(DEBUG1,
			(errmsg("inventory worker leaves database \"%s\": %s", database_name, why)));
	proc_exit(0);
}

/*
 * One pass of the main loop: do what is due and return how long to sleep
 * (0: go on at once); or leave the database.
 *
 * Apply when a batch was queued, when the last round left more (or
 * failed), and every naptime as a safety net; announce changes of the
 * order functions at most every ANNOUNCE_INTERVAL_MS, so that a stream of
 * reservations does not keep the worker running rounds.  Leave when idle
 * for inventory.idle_timeout (at once where the extension is absent, or
 * while other databases wait for a worker), when asked to (a command on
 * the whole database), or after a time slice of rounds while other
 * databases wait for a worker.
 */
static long
RunDueWork(void)
{
	bool		enabled = InventoryApplyEnabled();
	bool		batches = false,
				changes,
				feeds_changed;
	bool		apply_due,
				announce_due;
	TimestampTz now = GetCurrentTimestamp();
	long		timeout;
	long		idle_ms;
	long		prune_interval;

	/*
	 * Before any round (a backlog, or a round failing over and over, must
	 * not keep us): leave when a command on the whole database asks, or
	 * after a time slice of rounds (or of passes of retention) while
	 * another database waits for a worker; the batches reason stays for
	 * the next worker.
	 */
	if (InventoryWorkerAskedToLeave() && InventoryWorkerLeave(more_queued, 0))
		LeaveDatabase("a command on the whole database asked it to");
	if (((enabled && more_queued) || prune_more) &&
		TimestampDifferenceExceeds(slice_started, now, WORKER_TIME_SLICE_MS) &&
		InventoryClaimWaitingSlot() && InventoryWorkerLeave(enabled && more_queued, 0))
		LeaveDatabase("another database waits for a worker");

	/* paused: leave the batches reason, so that queuing does not wake us */
	InventoryReportState(enabled ? INVENTORY_WORKER_IDLE : INVENTORY_WORKER_PAUSED,
						 extension_found);
	InventoryTakeWakeReasons(enabled ? &batches : NULL, &changes, &feeds_changed);
	changes_pending |= changes;

	apply_due = enabled &&
		(batches || more_queued ||
		 TimestampDifferenceExceeds(last_apply, now, naptime_ms));
	announce_due = changes_pending &&
		TimestampDifferenceExceeds(last_announce, now, ANNOUNCE_INTERVAL_MS);
	round_changed = false;
	if (apply_due)
	{
		last_apply = now;
		more_queued = RunRound();
	}
	else if (announce_due)
		RunAnnounce();

	/*
	 * The feeds follow the ledger: after a round that changed stock, an
	 * announcement (changes of others, or of a rule or threshold), or
	 * while a pass is due (see feeds_due).
	 */
	if (feeds_running)
	{
		feeds_running = false;
		feeds_due = true;
		feeds_retry_at = TimestampTzPlusMilliseconds(now, naptime_ms);
	}
	if (((round_changed || announce_due) && !feeds_idle) || feeds_changed ||
		TimestampDifferenceExceeds(last_feeds_pass, now, naptime_ms))
		feeds_due = true;
	if (feeds_due && now >= feeds_retry_at)
	{
		InventoryFeedsNext next;

		feeds_running = true;
		last_feeds_pass = now;
		next = RunFeeds();
		feeds_running = false;
		feeds_idle = next == INVENTORY_FEEDS_IDLE;
		feeds_due = next != INVENTORY_FEEDS_CAUGHT_UP && !feeds_idle;
		if (next == INVENTORY_FEEDS_RETRY)
			feeds_retry_at = TimestampTzPlusMilliseconds(now, FEEDS_RETRY_MS);
		if (feeds_due)
			last_busy = now;
	}
	if (apply_due || announce_due)
	{
		if (changes_pending)
			last_busy = now;
		changes_pending = false;
		last_announce = now;
	}
	if (!enabled)
		more_queued = false;

	/* holds expire while the workers are enabled */
	if (enabled)
		RunExpiry(now);

	/* after the round: the first batch after a start does not wait for these */
	if (recount_due || TimestampDifferenceExceeds(last_recount, now, RECOUNT_INTERVAL_S * 1000))
		RunRecount();
	if (TimestampDifferenceExceeds(last_purge, now, PURGE_INTERVAL_S * 1000))
		RunPurge();
	prune_interval = InventoryRetentionIntervalMs();
	if (prune_interval >= 0 &&
		(prune_more || TimestampDifferenceExceeds(last_prune, now, prune_interval)))
		RunPrune();

	/* More to apply: go on at once (the next pass may give the slot). */
	now = GetCurrentTimestamp();
	if ((enabled && more_queued) || (feeds_due && now >= feeds_retry_at) || prune_more)
		return 0;
	slice_started = now;

	/* Nothing to do now: leave if idle long enough, or to give the slot. */
	idle_ms = TimestampDifferenceMilliseconds(last_busy, now);
	if (!changes_pending && !feeds_due &&
		(!extension_found || idle_ms >= idle_timeout_s * 1000L ||
		 InventoryClaimWaitingSlot()))
	{
		if (InventoryWorkerLeave(false, extension_found ? InventoryCheckIntervalSeconds() * 1000L : 0))
			LeaveDatabase(extension_found ? "idle" : "the extension is not installed there");
		return 0;				/* something arrived meanwhile */
	}

	/*
	 * Otherwise sleep until woken (a commit, or the end of a transaction
	 * holding an earlier batch back) or until the next poll, announcement
	 * or departure is due.
	 */
	if (enabled)
		timeout = naptime_ms - TimestampDifferenceMilliseconds(last_apply, now);
	else
		timeout = naptime_ms; /* paused: a reload wakes us */
	if (changes_pending)
		timeout = Min(timeout, ANNOUNCE_INTERVAL_MS -
					  TimestampDifferenceMilliseconds(last_announce, now));
	timeout = Min(timeout, idle_timeout_s * 1000L - idle_ms);
	if (enabled && next_expiry != 0)
		timeout = Min(timeout, TimestampDifferenceMilliseconds(now, next_expiry) + 1);
	if (feeds_due)
		timeout = Min(timeout, TimestampDifferenceMilliseconds(now, feeds_retry_at) + 1);
	if (prune_interval >= 0)
		timeout = Min(timeout, prune_interval -
					  TimestampDifferenceMilliseconds(last_prune, now) + 1);
	/* a wake-up a lock wait in the round consumed from the latch */
	if (InventoryWakeReasonsPending())
		return 0;
	return Max(timeout, 1);
}

/*
 * The worker's own settings, applied at start and after each reload: every
 * statement of a round gets a new snapshot, names resolve only in
 * pg_catalog, and a round waits at most inventory.lock_timeout for a lock.
 */
static void
ApplyWorkerSettings(void)
{
	char		buf[32];

	SetConfigOption("default_transaction_isolation", "read committed",
					PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * Every statement of a round looks up at most inventory.max_round_items keys
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
	/*
	 * The apply writes one ledger row per item itself.  A session setting
	 * (above the database's and role's, outside any transaction, so
	 * lasting): an expiry pass sets its own source over it for a while
	 * (expiry.c), which an override would not let it do.
	 */
	SetConfigOption("inventory.change_source", INVENTORY_SOURCE_ADJUST, PGC_SUSET, PGC_S_SESSION);
	snprintf(buf, sizeof(buf), "%d", inventory_lock_timeout_ms);
	SetConfigOption("lock_timeout", buf, PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * Settings a database owner may attach to the database (ALTER DATABASE
	 * ... SET) that would stall every round (a read-only default) or turn
	 * the index probes above into scans: the worker does not take them.
	 */
	SetConfigOption("default_transaction_read_only", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("enable_indexscan", "on", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("enable_bitmapscan", "on", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("enable_nestloop", "on", PGC_SUSET, PGC_S_OVERRIDE);
}

/*
 * Entry point of the worker.
 */
void
inventory_worker_main(Datum main_arg)
{
	sigjmp_buf	local_sigjmp_buf;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(main_arg), InvalidOid, 0);
	pgstat_report_appname("inventory worker");
	/* another worker serves the database (a launcher restarted meanwhile) */
	if (!InventoryWorkerArrive())
		proc_exit(0);
	ApplyWorkerSettings();

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	database_name = MemoryContextStrdup(TopMemoryContext, get_database_name(MyDatabaseId));
	extension_found = OidIsValid(InventoryExtensionSchema());
	CommitTransactionCommand();
	InventoryReportState(INVENTORY_WORKER_IDLE, extension_found);
	last_busy = slice_started = GetCurrentTimestamp();

	loop_context = AllocSetContextCreate(TopMemoryContext,
										 "inventory worker loop",
										 ALLOCSET_DEFAULT_SIZES);
	ereport(DEBUG1,
			(errmsg("inventory worker started for database \"%s\"", database_name)));

	/*
	 * Error recovery, as in walwriter.c.  An error anywhere in the loop
	 * below (PG_exception_stack points here) returns to this sigsetjmp:
	 * abort the transaction, reset the loop's memory, log the error and
	 * pause, then go round the loop again.
	 */
	if (sigsetjmp(local_sigjmp_buf, 1) != 0)
	{
		ErrorData  *edata;

		/* Since not using PG_TRY, must reset error stack by hand */
		error_context_stack = NULL;
		HOLD_INTERRUPTS();

		/* a cancel or timeout meant for the failed round is spent */
		disable_all_timeouts(false);
		QueryCancelPending = false;

		/* a round that gave up on a lock is retried at once, quietly */
		MemoryContextSwitchTo(loop_context);
		edata = CopyErrorData();
		if (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE && inventory_lock_timeout_ms > 0 &&
			TimestampDifferenceExceeds(round_started_at, GetCurrentTimestamp(),
									   inventory_lock_timeout_ms))
			lock_gave_up_at = GetCurrentTimestamp();
		else
		{
			lock_gave_up_at = 0;
			EmitErrorReport();
		}

		/* roll the round back, releasing its locks and SPI state */
		AbortOutOfAnyTransaction();
		LWLockReleaseAll();
		ConditionVariableCancelSleep();
		pgstat_report_wait_end();
		pgstat_report_activity(STATE_IDLE, NULL);

		MemoryContextSwitchTo(TopMemoryContext);
		FlushErrorState();
		MemoryContextReset(loop_context);
		RESUME_INTERRUPTS();

		/* retry the round after a pause (an error here comes back here) */
		more_queued = true;
		if (lock_gave_up_at == 0)
			SleepFor(Max(naptime_ms, 1000), true);
	}
	PG_exception_stack = &local_sigjmp_buf;

	for (;;)
	{
		long		timeout;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			ApplyWorkerSettings();
		}
		MemoryContextSwitchTo(loop_context);
		timeout = RunDueWork();
		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextReset(loop_context);
		if (timeout > 0)
			SleepFor(timeout, false);
	}
}
