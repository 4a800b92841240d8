/* gk_resv: reserve, settle and orphan charges of gateway-keys.
 *
 * Each function runs inside the caller's write transaction (one per batch
 * of requests, applied one after another), so each reserve is an atomic
 * check-and-reserve across the key's chain of budgets [key, sandbox cap,
 * user]: a later reserve of the batch sees what an earlier one reserved.
 * A refusal changes no counter but `refused`. A function may run again
 * (store_write after a map resize): it writes its whole answer each time. */
#ifndef GK_RESV_H
#define GK_RESV_H

#include "gk_store.h"
#include "proto.h"

/* Answers one gkey.reserve into grant (a gkey.grant body). Returns 0, an
 * LMDB error, or -1 when the request is malformed (why set, n bytes). */
int gk_reserve (MDB_txn *txn, gk_t *gk, const proto_gkey_reserve_t *req, uint64_t now_ms,
                proto_gkey_grant_t *grant, char *why, size_t n);

/* Answers one gkey.settle into out. Returns 0 or an LMDB error. */
int gk_settle (MDB_txn *txn, gk_t *gk, const proto_gkey_settle_t *req, uint64_t now_ms,
               proto_gkey_settled_t *out);

/* Charges the reservation of call in full (the provider may have served
 * it): outcome `orphaned`, estimated, a late settle corrects it. Returns
 * 0 (also when call holds no reservation) or an LMDB error. */
int gk_orphan (MDB_txn *txn, gk_t *gk, const char *call, uint64_t now_ms);

/* Charges every reservation held by gateway instance gw; *count gets how
 * many. Returns 0 or an LMDB error. */
int gk_orphan_instance (MDB_txn *txn, gk_t *gk, const char *gw, uint64_t now_ms,
                        uint64_t *count);

/* True when model matches pattern: `*`, a provider wildcard (`provider/` then `*`) or itself. */
bool gk_model_match (const char *pattern, const char *model);
/* True when CAISSON_GATEWAY_MODELS allows model. */
bool gk_model_ceiling (const char *model);

#endif
