/*-------------------------------------------------------------------------
 *
 * idempotency.c
 *	  Idempotency keys of inventory_adjust: a retried call with the same key
 *	  and the same request gets the first call's batch id and queues nothing.
 *
 * The key row is claimed with INSERT ... ON CONFLICT DO NOTHING before the
 * batch is queued, in the caller's transaction: a concurrent call with the
 * same key waits on the unique index until the first commits (then it finds
 * the key) or rolls back (then it claims it).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "inventory.h"

/* Prepared statements, kept for the session */
static SPIPlanPtr claim_plan = NULL;
static SPIPlanPtr lookup_plan = NULL;
static SPIPlanPtr replace_plan = NULL;
static SPIPlanPtr record_plan = NULL;
static Oid	plans_nspid = InvalidOid;

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
 * Prepare the statements for the extension's schema.
 */
static void
PreparePlans(Oid nspid)
{
	char	   *keys = InventoryQualify(nspid, "inventory_idempotency_keys");
	Oid			t_claim[2] = {TEXTOID, BYTEAOID};
	Oid			t_lookup[2] = {TEXTOID, INT4OID};
	Oid			t_record[2] = {TEXTOID, INT8OID};

	if (plans_nspid == nspid)
		return;
	if (claim_plan)
	{
		SPI_freeplan(claim_plan);
		SPI_freeplan(lookup_plan);
		SPI_freeplan(replace_plan);
		SPI_freeplan(record_plan);
		claim_plan = lookup_plan = replace_plan = record_plan = NULL;
	}
	plans_nspid = InvalidOid;
	claim_plan = InventoryPrepareKept(psprintf("INSERT INTO %s (key, request_hash, batch_id) "
									  "VALUES ($1, $2, 0) ON CONFLICT (key) DO NOTHING",
									  keys), 2, t_claim);
	lookup_plan = InventoryPrepareKept(psprintf("SELECT request_hash, batch_id, "
									   "created_at OPERATOR(pg_catalog.<) (pg_catalog.now() "
									   "OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $2)) "
									   "FROM %s WHERE key OPERATOR(pg_catalog.=) $1 FOR UPDATE",
									   keys), 2, t_lookup);
	replace_plan = InventoryPrepareKept(psprintf("UPDATE %s SET request_hash = $2, batch_id = 0, "
										"created_at = pg_catalog.now() "
										"WHERE key OPERATOR(pg_catalog.=) $1",
										keys), 2, t_claim);
	record_plan = InventoryPrepareKept(psprintf("UPDATE %s SET batch_id = $2 "
									   "WHERE key OPERATOR(pg_catalog.=) $1",
									   keys), 2, t_record);
	plans_nspid = nspid;
}

/*
 * Claim key for a new batch.  Returns 0 when the key is new (or its
 * previous use has expired): the caller queues the batch and records its
 * id with InventoryRecordIdempotencyKey.  Returns the batch id of an
 * earlier identical request; raises an error, having used no batch id,
 * when the key was used for another request.  The caller is connected to
 * SPI.
 */
int64
InventoryClaimIdempotencyKey(Oid nspid, const char *key, bytea *hash)
{
	Datum		args[2];
	bool		isnull;
	bytea	   *old_hash;
	int64		old_batch;
	bool		expired;

	PreparePlans(nspid);
	args[0] = CStringGetTextDatum(key);
	args[1] = PointerGetDatum(hash);
	if (SPI_execute_plan(claim_plan, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "claiming the idempotency key failed");
	if (SPI_processed == 1)
		return 0;

	/* The key is taken: by the same request, another, or an expired one. */
	args[1] = Int32GetDatum(inventory_idempotency_retention_s);
	if (SPI_execute_plan(lookup_plan, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "looking up the idempotency key failed");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("idempotency key \"%s\" changed concurrently", key),
				 errhint("Retry the call.")));
	old_hash = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	old_batch = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	expired = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));

	if (expired)
	{
		args[1] = PointerGetDatum(hash);
		if (SPI_execute_plan(replace_plan, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "renewing the idempotency key failed");
		return 0;
	}
	if (VARSIZE_ANY_EXHDR(old_hash) != VARSIZE_ANY_EXHDR(hash) ||
		memcmp(VARDATA_ANY(old_hash), VARDATA_ANY(hash), VARSIZE_ANY_EXHDR(hash)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("idempotency key \"%s\" was already used for a different request", key),
				 errdetail("The key queued batch %lld with another body or create_missing value.",
						   (long long) old_batch),
				 errhint("Use a new key for a new request; reuse a key only to retry the same request.")));
	return old_batch;
}

/*
 * Record the batch queued under a key just claimed.
 */
void
InventoryRecordIdempotencyKey(Oid nspid, const char *key, int64 batch_id)
{
	Datum		args[2];

	PreparePlans(nspid);
	args[0] = CStringGetTextDatum(key);
	args[1] = Int64GetDatum(batch_id);
	if (SPI_execute_plan(record_plan, args, NULL, false, 0) != SPI_OK_UPDATE || SPI_processed != 1)
		elog(ERROR, "recording the idempotency key's batch failed");
}
