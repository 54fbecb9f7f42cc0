/*-------------------------------------------------------------------------
 *
 * inventory.h
 *	  Shared declarations of the inventory extension.
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
#include "utils/jsonb.h"
#include "utils/uuid.h"

#if PG_VERSION_NUM < 150000
#error "inventory requires PostgreSQL 15 or later"
#endif

#define INVENTORY_EXTENSION_NAME	"inventory"

/* Longest sku, bin_location and description accepted, in characters */
#define INVENTORY_MAX_SKU_LEN			255
#define INVENTORY_MAX_BIN_LEN			255
#define INVENTORY_MAX_DESCRIPTION_LEN	1000
/* Longest order_ref and line_ref accepted, in characters */
#define INVENTORY_MAX_REF_LEN			255

/* Largest quantity accepted for on_hand and available (int32) */
#define INVENTORY_MAX_QUANTITY		PG_INT32_MAX

/* GUC variables (inventory.c) */
extern char *inventory_database;
extern int	inventory_naptime_ms;
extern bool inventory_enabled;
extern int	inventory_batch_size;
extern int	inventory_max_batch_items;
extern int	inventory_idempotency_retention_s;
extern int	inventory_debug_hold_ms;
extern bool inventory_restoring;
extern int	inventory_lock_timeout_ms;
extern int	inventory_max_queued_items;
extern char *inventory_change_source;

/* Applying queued batches (apply.c) */
typedef struct InventoryApplyResult
{
	int64		batches_applied;
	int64		batches_failed;
	int64		items_applied;
	bool		more;			/* more batches were eligible than were taken */
	bool		blocked;		/* an uncommitted earlier batch held us back */
	int			blocking_pid;	/* who held us back, or 0 */
} InventoryApplyResult;

/* What the worker reports about itself (shmem.c) */
typedef struct InventoryWorkerStats
{
	int			pid;			/* 0 when no worker runs */
	bool		enabled;		/* inventory.enabled as the worker sees it */
	bool		extension_found;	/* extension installed in its database */
	TimestampTz started_at;
	TimestampTz last_round_at;
	int64		batches_applied;
	int64		items_applied;
	int64		batches_failed;
	int			waiting_for_pid;	/* holder of an uncommitted earlier batch */
} InventoryWorkerStats;

/* Shared state and commit-time wake-up (shmem.c) */
extern void InventoryShmemInit(void);
extern bool InventoryShmemAvailable(void);
typedef enum InventoryIdKind
{
	INVENTORY_ID_BATCH,			/* inventory_batch_id_seq */
	INVENTORY_ID_LEDGER,		/* inventory_ledger_id_seq */
	INVENTORY_NUM_ID_KINDS
} InventoryIdKind;

extern void InventoryPublishIdBound(InventoryIdKind kind, Oid seqid);
extern int64 InventoryIdHorizon(InventoryIdKind kind, int64 last_assigned, int *blocking_pid);
extern void InventoryRegisterWorkerProcess(void);
extern void InventoryTakeWakeReasons(bool *batches, bool *changes);
extern void InventoryWakeWorker(void);
extern void InventoryXactCallback(XactEvent event, void *arg);
extern void InventoryReportRound(bool enabled, bool extension_found, int blocking_pid,
								 const InventoryApplyResult *result);

/* Count of queued items in shared memory (shmem.c) */
extern void InventoryQueuedItemsSet(Oid dboid, int64 items);
extern void InventoryQueuedItemsAdd(int64 delta);
extern bool InventoryQueuedItemsGet(int64 *items);

/* Backpressure: the cap on queued items (backpressure.c) */
extern void InventoryBackpressureInit(void);
extern void InventoryClaimQueueRoom(int nitems);
extern void InventoryNoteDequeuedItems(int64 nitems);
extern void InventoryRecountQueuedItems(Oid nspid);

/* Who stalls the worker's rounds (blockers.c) */
extern void InventoryReportLockHolders(Oid nspid, TimestampTz gave_up_at, int waited_ms);
extern void InventoryReportHeldBack(int pid, TimestampTz held_since);

/* Applying queued batches (apply.c) */
extern void InventoryApplyRound(Oid nspid, int max_items, int max_batches, bool wait,
								InventoryApplyResult *result);

/* Ledger and change feed (ledger.c) */
extern void InventoryLedgerReserveIds(Oid nspid);
extern int64 InventoryLedgerHorizon(Oid nspid);

/* Appending the apply's ledger rows (ledger_append.c) */
typedef struct InventoryLedgerAppender InventoryLedgerAppender;

typedef struct InventoryLedgerRow
{
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
extern void InventoryLedgerAppendRow(InventoryLedgerAppender *a, const InventoryLedgerRow *row);
extern void InventoryLedgerAppendEnd(InventoryLedgerAppender *a);

/* Idempotency keys (idempotency.c) */
extern bytea *InventoryRequestHash(Jsonb *body, bool create_missing);
extern int64 InventoryClaimIdempotencyKey(Oid nspid, const char *key, bytea *hash);
extern void InventoryRecordIdempotencyKey(Oid nspid, const char *key, int64 batch_id);

/* Rules for text values (validate.c) */
#define INVENTORY_TEXT_NONEMPTY		0x01	/* at least one character */
#define INVENTORY_TEXT_TRIMMED		0x02	/* no leading or trailing space */
#define INVENTORY_TEXT_SKU			(INVENTORY_TEXT_NONEMPTY | INVENTORY_TEXT_TRIMMED)
extern char *InventoryPrintable(char *s);
extern char *InventoryTextProblem(const char *field, const char *s, int len,
								  int maxchars, int flags);

/* Which statements are the apply's own, for the ledger trigger (statement_origin.c) */
extern void InventoryStatementOriginInit(void);
extern int	InventoryApplyStatementsBegin(void);
extern void InventoryApplyStatementsEnd(int save);

/* Whether the extension's schema and objects can be trusted (trust.c) */
extern const char *InventoryTrustProblem(Oid nspid);
extern void InventoryRequireTrust(Oid nspid);
extern const char *InventoryTrustHint(void);

/* Background worker (worker.c) */
extern void InventoryRegisterWorker(void);
extern PGDLLEXPORT void inventory_worker_main(Datum main_arg);

/* Helpers (util.c) */
extern Oid	InventoryExtensionSchema(void);
extern Oid	InventoryRelid(Oid nspid, const char *relname);
extern char *InventoryQualify(Oid nspid, const char *name);
extern int64 InventorySequenceLastValue(Oid seqid);
extern Oid	InventoryFunctionSchema(FunctionCallInfo fcinfo);
extern SPIPlanPtr InventoryPrepareKept(const char *sql, int nargs, Oid *argtypes);
extern bool InventoryParseUuid(const char *s, int len, pg_uuid_t *uuid);

#endif							/* INVENTORY_H */
