/*-------------------------------------------------------------------------
 *
 * idempotency.c
 *	  Idempotency keys of inventory_adjust: a retried call with the same key,
 *	  the identical body and the same create_missing gets the first call's
 *	  batch id and queues nothing.
 *
 * The key row is claimed with INSERT ... ON CONFLICT DO NOTHING before the
 * batch is queued, in the caller's transaction: a concurrent call with the
 * same key waits on the unique index until the first commits (then it finds
 * the key) or rolls back (then it claims it).
 *
 * Keys belong to the calling role (the outer role, not the owner of the
 * SECURITY DEFINER function): two roles may use the same key, each for its
 * own batch, and a conflict never names another role's batch.  A database
 * still at version 1.0 has no role column: there keys stay one namespace,
 * and a conflict's DETAIL names no batch.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/guc.h"

#include <limits.h>

#include "inventory.h"

/* inventory.idempotency_retention, in seconds */
static int	inventory_idempotency_retention_s = 86400;

/*
 * The statements on the keys, for the table with the merchant column (1.6
 * and later: keys per role and merchant), with the role column (1.1 to
 * 1.5) and without either (1.0, where keys are one namespace and the role
 * argument is ignored): $1 the role, $2 the key, $4 the merchant (ignored
 * before 1.6).
 */
typedef struct KeyStatements
{
	InventoryStatement claim;	/* $3 the request hash */
	InventoryStatement lookup;	/* $3 the retention in seconds */
	InventoryStatement replace; /* $3 the request hash */
	InventoryStatement record;	/* $3 the batch id */
} KeyStatements;

#define BY_MERCHANT "role OPERATOR(pg_catalog.=) $1 AND key OPERATOR(pg_catalog.=) $2 " \
	"AND merchant OPERATOR(pg_catalog.=) $4"
#define BY_ROLE "role OPERATOR(pg_catalog.=) $1 AND key OPERATOR(pg_catalog.=) $2"
#define BY_KEY "$1 IS NOT NULL AND key OPERATOR(pg_catalog.=) $2"
#define KEYS "@extschema@.inventory_idempotency_keys"
#define LOOKUP(match) \
	"SELECT request_hash, batch_id, created_at OPERATOR(pg_catalog.<) (pg_catalog.now() " \
	"OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $3)) FROM " KEYS \
	" WHERE " match " FOR UPDATE"
#define REPLACE(match) \
	"UPDATE " KEYS " SET request_hash = $3, batch_id = 0, created_at = pg_catalog.now() " \
	"WHERE " match
#define RECORD(match) "UPDATE " KEYS " SET batch_id = $3 WHERE " match

static KeyStatements merchant_keys = {
	.claim = {.sql = "INSERT INTO " KEYS " (role, key, request_hash, batch_id, merchant) "
		"VALUES ($1, $2, $3, 0, $4) ON CONFLICT (role, merchant, key) DO NOTHING",
	.nargs = 4,.argtypes = {NAMEOID, TEXTOID, BYTEAOID, TEXTOID}},
	.lookup = {.sql = LOOKUP(BY_MERCHANT),.nargs = 4,.argtypes = {NAMEOID, TEXTOID, INT4OID, TEXTOID}},
	.replace = {.sql = REPLACE(BY_MERCHANT),.nargs = 4,.argtypes = {NAMEOID, TEXTOID, BYTEAOID, TEXTOID}},
	.record = {.sql = RECORD(BY_MERCHANT),.nargs = 4,.argtypes = {NAMEOID, TEXTOID, INT8OID, TEXTOID}},
};

static KeyStatements role_keys = {
	.claim = {.sql = "INSERT INTO " KEYS " (role, key, request_hash, batch_id) "
		"VALUES ($1, $2, $3, 0) ON CONFLICT (role, key) DO NOTHING",
	.nargs = 3,.argtypes = {NAMEOID, TEXTOID, BYTEAOID}},
	.lookup = {.sql = LOOKUP(BY_ROLE),.nargs = 3,.argtypes = {NAMEOID, TEXTOID, INT4OID}},
	.replace = {.sql = REPLACE(BY_ROLE),.nargs = 3,.argtypes = {NAMEOID, TEXTOID, BYTEAOID}},
	.record = {.sql = RECORD(BY_ROLE),.nargs = 3,.argtypes = {NAMEOID, TEXTOID, INT8OID}},
};

static KeyStatements shared_keys = {
	.claim = {.sql = "INSERT INTO " KEYS " (key, request_hash, batch_id) "
		"SELECT $2, $3, 0 WHERE $1 IS NOT NULL ON CONFLICT (key) DO NOTHING",
	.nargs = 3,.argtypes = {NAMEOID, TEXTOID, BYTEAOID}},
	.lookup = {.sql = LOOKUP(BY_KEY),.nargs = 3,.argtypes = {NAMEOID, TEXTOID, INT4OID}},
	.replace = {.sql = REPLACE(BY_KEY),.nargs = 3,.argtypes = {NAMEOID, TEXTOID, BYTEAOID}},
	.record = {.sql = RECORD(BY_KEY),.nargs = 3,.argtypes = {NAMEOID, TEXTOID, INT8OID}},
};

/*
 * Delete expired keys, skipping any a client holds right now; by row, as
 * another role's (or merchant's) key of the same text may be fresh.
 */
static InventoryStatement purge_keys = {
	.sql = "DELETE FROM " KEYS " k USING (SELECT ctid AS row_id FROM " KEYS " "
	"WHERE created_at OPERATOR(pg_catalog.<) "
	"(pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $1)) "
	"FOR UPDATE SKIP LOCKED) e WHERE k.ctid OPERATOR(pg_catalog.=) e.row_id",
	.nargs = 1,
	.argtypes = {INT4OID}
};

/*
 * Define the settings of idempotency keys; called from _PG_init.
 */
void
InventoryIdempotencyInit(void)
{
	DefineCustomIntVariable("inventory.idempotency_retention",
							"How long idempotency keys of inventory_adjust are kept.",
							"A key older than this may be used again for a new request.",
							&inventory_idempotency_retention_s,
							86400, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
}

/*
 * SHA-256 of the request: the mode byte, then the body's text.
 */
bytea *
InventoryRequestHash(Jsonb *body, bool create_missing)
{
	char	   *text = JsonbToCString(NULL, &body->root, VARSIZE(body));
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	bytea	   *result = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	uint8		mode = create_missing ? 1 : 0;

	if (ctx == NULL ||
		pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, &mode, 1) < 0 ||
		pg_cryptohash_update(ctx, (uint8 *) text, strlen(text)) < 0 ||
		pg_cryptohash_final(ctx, (uint8 *) VARDATA(result), PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "could not compute the request hash: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
	SET_VARSIZE(result, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	return result;
}

/*
 * The statements for the keys table of schema nspid: per role and merchant
 * when it has the merchant column (version 1.6 and later), per role when it
 * has the role column (1.1 to 1.5), else shared.
 */
static KeyStatements *
Statements(Oid nspid, bool *by_role)
{
	*by_role = InventoryRelHasColumn(nspid, "inventory_idempotency_keys", "role");
	if (*by_role && InventoryRelHasColumn(nspid, "inventory_idempotency_keys", "merchant"))
		return &merchant_keys;
	return *by_role ? &role_keys : &shared_keys;
}

/* What makes two bodies the same, for the conflict's DETAIL */
#define SAME_BODY "Bodies are compared as jsonb values: spaces and the order of keys do not matter, " \
	"but a bare array and the same items wrapped in {\"inventory\": [...]}, an upper-case " \
	"and a lower-case UUID, or 1.0 and 1 are different bodies."

/*
 * Claim the calling role's key of the batch's merchant for a new batch.  Returns 0 when the key is new (or its
 * previous use has expired): the caller queues the batch and records its
 * id with InventoryRecordIdempotencyKey.  Returns the batch id of an
 * earlier identical request; raises an error, having used no batch id,
 * when the key was used for another request.  The caller is connected to
 * SPI.
 */
int64
InventoryClaimIdempotencyKey(Oid nspid, const char *key, const char *merchant, bytea *hash)
{
	Datum		args[4];
	bool		isnull;
	bytea	   *old_hash;
	int64		old_batch;
	bool		expired;
	bool		by_role;
	KeyStatements *st = Statements(nspid, &by_role);

	args[0] = InventoryOuterRoleName();
	args[1] = CStringGetTextDatum(key);
	args[2] = PointerGetDatum(hash);
	args[3] = CStringGetTextDatum(merchant ? merchant : "");
	if (InventoryStatementRun(&st->claim, nspid, args, false, SPI_OK_INSERT) == 1)
		return 0;

	/* The key is taken: by the same request, another, or an expired one. */
	args[2] = Int32GetDatum(inventory_idempotency_retention_s);
	if (InventoryStatementRun(&st->lookup, nspid, args, false, SPI_OK_SELECT) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("idempotency key \"%s\" changed concurrently",
						InventoryPrintable(pstrdup(key))),
				 errhint("Retry the call.")));
	old_hash = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	old_batch = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	expired = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));

	if (expired)
	{
		args[2] = PointerGetDatum(hash);
		(void) InventoryStatementRun(&st->replace, nspid, args, false, SPI_OK_UPDATE);
		return 0;
	}
	if (VARSIZE_ANY_EXHDR(old_hash) != VARSIZE_ANY_EXHDR(hash) ||
		memcmp(VARDATA_ANY(old_hash), VARDATA_ANY(hash), VARSIZE_ANY_EXHDR(hash)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("idempotency key \"%s\" was already used for another body or create_missing value",
						InventoryPrintable(pstrdup(key))),
		/* a 1.0 table has no role: the batch may be another role's */
				 by_role
				 ? errdetail("The key queued batch %lld with another body or create_missing value. %s",
							 (long long) old_batch, SAME_BODY)
				 : errdetail("The key queued a batch with another body or create_missing value. %s",
							 SAME_BODY),
				 errhint("Reuse a key only to retry the identical body, sent as the first time, with the same create_missing; use a new key for a new request.")));
	return old_batch;
}

/*
 * Record the batch queued under a key just claimed.
 */
void
InventoryRecordIdempotencyKey(Oid nspid, const char *key, const char *merchant, int64 batch_id)
{
	Datum		args[4];
	bool		by_role;
	KeyStatements *st = Statements(nspid, &by_role);

	args[0] = InventoryOuterRoleName();
	args[1] = CStringGetTextDatum(key);
	args[2] = Int64GetDatum(batch_id);
	args[3] = CStringGetTextDatum(merchant ? merchant : "");
	if (InventoryStatementRun(&st->record, nspid, args, false, SPI_OK_UPDATE) != 1)
		elog(ERROR, "recording the idempotency key's batch failed");
}

/*
 * Delete the keys older than inventory.idempotency_retention, skipping any
 * a client holds right now (never waiting).  The caller is connected to
 * SPI.
 */
void
InventoryPurgeIdempotencyKeys(Oid nspid)
{
	Datum		args[1];

	if (!OidIsValid(InventoryRelid(nspid, "inventory_idempotency_keys")))
		return;
	args[0] = Int32GetDatum(inventory_idempotency_retention_s);
	(void) InventoryStatementRun(&purge_keys, nspid, args, false, SPI_OK_DELETE);
}
