/*-------------------------------------------------------------------------
 *
 * inventory.h
 *	  Shared declarations of the inventory extension, grouped by the file
 *	  that defines them (CONTRIBUTING.md has the map).
 *
 *-------------------------------------------------------------------------
 */
#ifndef INVENTORY_H
#define INVENTORY_H

#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "datatype/timestamp.h"
#include "nodes/parsenodes.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

#if PG_VERSION_NUM < 150000
#error "inventory requires PostgreSQL 15 or later"
#endif

#define INVENTORY_EXTENSION_NAME	"inventory"
/*
 * The schema the extension's install script makes for its trigger
 * functions and internal helpers (1.2 on); the SQL names it by this name
 */
#define INVENTORY_INTERNAL_SCHEMA	"inventory_internal"

/* The ledger's source of the apply's rows (inventory.change_source) */
#define INVENTORY_SOURCE_ADJUST		"adjust"

/* Longest sku, bin_location and description accepted, in characters */
#define INVENTORY_MAX_SKU_LEN			255
#define INVENTORY_MAX_BIN_LEN			255
#define INVENTORY_MAX_DESCRIPTION_LEN	1000
/* Longest order_ref and line_ref accepted, in characters */
#define INVENTORY_MAX_REF_LEN			255

/* Largest quantity accepted for on_hand and available (int32) */
#define INVENTORY_MAX_QUANTITY		PG_INT32_MAX

/* inventory_adjust (adjust.c) */
extern void InventoryAdjustInit(void);

/* Registered and archived warehouses (warehouses.c) */
extern void InventoryLookUpWarehouses(Oid nspid, pg_uuid_t *uuids, int n, bool *found,
									  bool *archived, char **merchants);

/* The merchant a session acts for: inventory.merchant (merchant.c) */
extern void InventoryMerchantInit(void);
extern const char *InventoryCurrentMerchant(void);

/* Retention of the ledger and the batch history (retention.c) */
extern void InventoryRetentionInit(void);
extern long InventoryRetentionIntervalMs(void);
extern bool InventoryPruneHistory(Oid nspid);

/* Idempotency keys (idempotency.c) */
extern void InventoryIdempotencyInit(void);
extern bytea *InventoryRequestHash(Jsonb *body, bool create_missing);
extern int64 InventoryClaimIdempotencyKey(Oid nspid, const char *key, const char *merchant,
										  bytea *hash);
extern void InventoryRecordIdempotencyKey(Oid nspid, const char *key, const char *merchant,
										  int64 batch_id);
extern void InventoryPurgeIdempotencyKeys(Oid nspid);

/* What one round did (round.c) */
typedef struct InventoryApplyResult
{
	int64		batches_applied;
	int64		batches_failed;
	int64		items_applied;
	bool		more;			/* more batches were eligible than were taken */
	bool		blocked;		/* an uncommitted earlier batch held us back */
	int			blocking_pid;	/* who held us back, or 0 */
} InventoryApplyResult;

/* One round of the apply (round.c) */
extern void InventoryRoundInit(void);
extern int	InventoryRoundItems(void);
extern bool InventoryRoundItemsDeprecated(void);
extern void InventoryApplyRound(Oid nspid, int max_items, int max_batches, bool wait,
								InventoryApplyResult *result);

/* Appending the apply's ledger rows (ledger_append.c) */
typedef struct InventoryLedgerAppender InventoryLedgerAppender;

typedef struct InventoryLedgerRow
{
	int64		id;				/* taken with InventoryLedgerTakeId */
	const char *sku;
	int			skulen;
	const pg_uuid_t *wh;
	int64		batch_id;
	int32		item;
	text	   *description;	/* or NULL */
	const char *role;			/* points to a whole NameData */
	int64		on_hand_before;
	int64		on_hand_after;
	int64		reserved_before;
	int64		reserved_after;
} InventoryLedgerRow;

extern InventoryLedgerAppender *InventoryLedgerAppendBegin(Oid nspid);
extern int64 InventoryLedgerTakeId(InventoryLedgerAppender *a);
extern void InventoryLedgerAppendRow(InventoryLedgerAppender *a, const InventoryLedgerRow *row);
extern void InventoryLedgerAppendFlush(InventoryLedgerAppender *a);
extern void InventoryLedgerAppendEnd(InventoryLedgerAppender *a);

/* Ledger ids and the change feed's horizon (ledger_ids.c) */
extern Oid	InventoryLedgerSequence(Oid nspid);
extern void InventoryLedgerPublishIdBound(Oid nspid);
extern int64 InventoryLedgerHorizon(Oid nspid);

/* Settings the ledger trigger reads (ledger_context.c) */
extern void InventoryLedgerContextInit(void);

/* The role a change is recorded for (outer_role.c) */
extern Datum InventoryOuterRoleName(void);

/* Row triggers (triggers.c) */
extern void InventoryTriggersInit(void);

/* Which statements are the apply's own, for the ledger trigger (statement_origin.c) */
extern void InventoryStatementOriginInit(void);
extern int	InventoryApplyStatementsBegin(void);
extern void InventoryApplyStatementsEnd(int save);
extern bool InventoryApplyStatementRunning(void);

/* The extension's SQL statements (statement.c) */
#define INVENTORY_MAX_ARGS	24

typedef struct InventoryStatement
{
	const char *sql;			/* names objects as @extschema@.name */
	int			nargs;
	Oid			argtypes[INVENTORY_MAX_ARGS];
	/* the plan, for the schema it was prepared for */
	Oid			nspid;
	NameData	nspname;
	SPIPlanPtr	plan;
} InventoryStatement;

/* Rows of arguments of a statement whose arguments are arrays */
typedef struct InventoryColumns
{
	InventoryStatement *st;
	int			nrows;
	int			maxrows;
	Oid			elemtypes[INVENTORY_MAX_ARGS];
	Datum	   *values[INVENTORY_MAX_ARGS];	/* values[column][row] */
	bool	   *nulls[INVENTORY_MAX_ARGS];
} InventoryColumns;

extern SPIPlanPtr InventoryStatementPlan(InventoryStatement *st, Oid nspid);
extern uint64 InventoryStatementRun(InventoryStatement *st, Oid nspid, Datum *args,
									bool read_only, int expected);
extern void InventoryColumnsInit(InventoryColumns *cols, InventoryStatement *st, int maxrows);
extern int	InventoryColumnsAddRow(InventoryColumns *cols);
extern bool InventoryColumnsRun(InventoryColumns *cols, Oid nspid, int expected);

/* Where the extension's objects are (schema.c) */
extern Oid	InventoryExtensionSchema(void);
extern Oid	InventoryRelid(Oid nspid, const char *relname);
extern bool InventoryRelHasColumn(Oid nspid, const char *relname, const char *column);
extern Oid	InventoryInternalSchema(void);
extern Oid	InventoryFunctionSchema(FunctionCallInfo fcinfo);

/* Whether the extension's schema and objects can be trusted (trust.c) */
extern const char *InventoryTrustProblem(Oid nspid);
extern void InventoryRequireTrust(Oid nspid);
extern const char *InventoryTrustHint(void);

/* Rules for values (validate.c) */
#define INVENTORY_TEXT_NONEMPTY		0x01	/* at least one character */
#define INVENTORY_TEXT_TRIMMED		0x02	/* no leading or trailing space */
#define INVENTORY_TEXT_SKU			(INVENTORY_TEXT_NONEMPTY | INVENTORY_TEXT_TRIMMED)
extern char *InventoryPrintable(char *s);
extern char *InventoryTextProblem(const char *field, const char *s, int len,
								  int maxchars, int flags);
extern bool InventoryParseUuid(const char *s, int len, pg_uuid_t *uuid);

/* The last value of a sequence (sequence.c) */
extern int64 InventorySequenceLastValue(Oid seqid);

/* Shared memory (shmem.c) */
extern void InventoryShmemInit(void);
extern bool InventoryShmemAvailable(void);

/* Id bounds of open transactions, and the horizons they set (id_horizon.c) */
typedef enum InventoryIdKind
{
	INVENTORY_ID_BATCH,			/* inventory_batch_id_seq */
	INVENTORY_ID_LEDGER,		/* inventory_ledger_id_seq */
	INVENTORY_NUM_ID_KINDS
} InventoryIdKind;

extern Size InventoryIdHorizonShmemSize(void);
extern void InventoryIdHorizonShmemInit(void);
extern void InventoryPublishIdBound(InventoryIdKind kind, Oid seqid);
extern bool InventoryIdBoundPublished(InventoryIdKind kind);
extern void InventoryClearIdBounds(void);
extern int64 InventoryIdHorizon(InventoryIdKind kind, int64 last_assigned, int *blocking_pid);

/* Waking the worker (wakeup.c) */
extern void InventoryWakeFor(bool batches, bool changes, bool start);
extern void InventoryWakeForFeeds(void);
extern void InventoryTakeWakeReasons(bool *batches, bool *changes, bool *feeds);
extern void InventoryWakeForExpiry(TimestampTz at);

/* The end of a transaction that queued batches or wrote ledger rows (transaction_end.c) */
extern void InventoryTransactionEndInit(void);

/* What the worker reports (worker_status.c) */
extern void InventoryReportRound(int blocking_pid, const InventoryApplyResult *result);

/* Backpressure: the cap on queued items (backpressure.c) */
extern void InventoryBackpressureInit(void);
extern void InventoryClaimQueueRoom(Oid nspid, int nitems);
extern void InventoryNoteDequeuedItems(int64 nitems);
extern void InventoryRecountQueuedItems(Oid nspid);

/* Who stalls the worker's rounds (blockers.c) */
extern void InventoryReportLockHolders(Oid nspid, TimestampTz gave_up_at, int waited_ms);
extern void InventoryReportHeldBack(int pid, TimestampTz held_since);

/* Around other utility statements (utility_hook.c) */
extern void InventoryUtilityHookInit(void);

/* The queue a DROP discards (drop_queue.c) */
typedef struct InventoryDroppedQueue
{
	int64		batches;
	int64		items;
	bool		is_schema;		/* DROP SCHEMA rather than DROP EXTENSION */
} InventoryDroppedQueue;

extern bool InventoryCountDroppedQueue(DropStmt *stmt, InventoryDroppedQueue *dropped);
extern void InventoryReportDroppedQueue(const InventoryDroppedQueue *dropped);

/* A COPY during a restore of a dump (restore.c) */
typedef struct InventoryRestoreCopy
{
	const char *table;			/* the extension's table it loads */
	char	   *nspname;		/* the extension's schema */
	int			guc_level;		/* > 0: runs with inventory.restoring on */
} InventoryRestoreCopy;

extern bool InventoryRestoreCopyBegin(CopyStmt *stmt, InventoryRestoreCopy *copy);
extern void InventoryRestoreCopyEnd(InventoryRestoreCopy *copy);
extern void InventoryRestoreCopyFailed(InventoryRestoreCopy *copy, MemoryContext cxt);

/* Timing the worker's rounds and passes for the log (round_log.c) */
typedef struct InventoryClock
{
	TimestampTz started;		/* 0: inventory.log_min_duration is off */
	TimestampTz last;			/* the end of the last phase */
	int64		cpu_started;	/* CPU time at the start, microseconds */
	int64		phase_us[2];	/* time of each phase */
} InventoryClock;

extern void InventoryRoundLogInit(void);
extern void InventoryClockStart(InventoryClock *clock);
extern void InventoryClockMark(InventoryClock *clock, int phase);
extern void InventoryClockLog(InventoryClock *clock, const char *what,
							  const char *phase0, const char *phase1);

/* The channel feed and the alert events (feeds.c) */
extern void InventoryFeedsInit(void);
extern bool InventoryHasFeeds(Oid nspid);
typedef enum InventoryFeedsNext
{
	INVENTORY_FEEDS_CAUGHT_UP,	/* nothing left */
	INVENTORY_FEEDS_MORE,		/* ledger rows remain: again at once */
	INVENTORY_FEEDS_RETRY,		/* something was busy: again shortly */
	INVENTORY_FEEDS_IDLE		/* nothing to feed: every naptime is enough */
} InventoryFeedsNext;

extern InventoryFeedsNext InventoryCatchUpFeeds(Oid nspid, int max_changes);

/* Expiring holds (expiry.c) */
extern void InventoryExpiryInit(void);
extern bool InventoryHoldsExpire(Oid nspid);
extern int	InventoryExpireHolds(Oid nspid, int max_holds, TimestampTz cutoff,
								 bool *skipped);
extern TimestampTz InventoryNextHoldExpiry(Oid nspid);
extern TimestampTz InventoryExpiryRetryAt(void);

/* The launcher (launcher.c) */
extern void InventoryLauncherInit(void);
extern PGDLLEXPORT void inventory_launcher_main(Datum main_arg);

/* A database's worker (worker.c) */
extern void InventoryWorkerInit(void);
extern PGDLLEXPORT void inventory_worker_main(Datum main_arg);

/* Commands on a whole database, which its worker must leave (database_commands.c) */
extern Oid	InventoryDatabaseCommandBegin(Node *stmt);
extern void InventoryDatabaseCommandEnd(Oid dboid);

#endif							/* INVENTORY_H */
