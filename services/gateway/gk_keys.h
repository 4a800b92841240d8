/* gk_keys: the key requests of gateway-keys that are not on a call's
 * path: create, list, revoke, context, user.set and usage.get.
 *
 * Users (the envelope's user) see and change their own keys; operators
 * (the envelope's op, also what services send) anyone's. A user makes
 * keys of kind `user` only, within the deployment's self-service ceilings
 * (CAISSON_GATEWAY_USER_KEYS_MAX or the user's own keysMax, _RPM_MAX,
 * _TPM_MAX, _MODELS) and with budgets no larger than their own. Each
 * handler runs its own write or read transaction on the loop thread, so
 * it is ordered with the batches of reserves and settles. */
#ifndef GK_KEYS_H
#define GK_KEYS_H

#include "gk_store.h"
#include "proto.h"

/* Each answers req (its type's body) with a new reply. sync: flush the
 * store before answering (CAISSON_GATEWAY_KEYS_SYNC is not nosync). */
proto_msg_t *gk_keys_create (gk_t *gk, const proto_msg_t *req, bool sync);
proto_msg_t *gk_keys_list (gk_t *gk, const proto_msg_t *req);
proto_msg_t *gk_keys_revoke (gk_t *gk, const proto_msg_t *req, bool sync);
proto_msg_t *gk_keys_context (gk_t *gk, const proto_msg_t *req, bool sync);
proto_msg_t *gk_keys_user_set (gk_t *gk, const proto_msg_t *req, bool sync);
proto_msg_t *gk_keys_usage (gk_t *gk, const proto_msg_t *req);

/* The error answering req after the store failed (store_error): with a
 * full map, `store_full` naming the store and its size. */
proto_msg_t *gk_store_failure (gk_t *gk, const proto_msg_t *req);

/* Marks keys expired by now_ms revoked (reason `expired`). Returns how
 * many, or -1 when the store failed. */
int gk_keys_gc (gk_t *gk, uint64_t now_ms);

#endif
