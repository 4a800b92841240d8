/* sbx_gkey: a sandbox's virtual key for the model gateway (docs/gateway.md).
 *
 * On create, when CAISSON_GATEWAY_SANDBOX_KEYS is on and a gateway-keys is
 * registered, the manager mints a key of kind `sandbox` for the owner
 * (gkey.create as a service: limits and budget from the deployment's
 * CAISSON_GATEWAY_SANDBOX_*, expiring with the sandbox, naming its run),
 * keeps it in the sealed record (`gatewayKey`, `gatewayKeyId`) and hands
 * it to the sandbox's processes with the gateway's URL. A create never
 * fails for want of a key: the sandbox is made without model access and
 * its record's `gatewayReason` says why (sandbox.info.reason). Destroy
 * revokes it. The real provider keys never come near: the key is the
 * owner's, virtual, and the gateway swaps it.
 *
 * The requests are synchronous, bounded by a short timeout: gkey.create
 * is one LMDB write at gateway-keys, and no request is sent at all when
 * no gateway-keys is registered. */
#ifndef CAISSON_SBX_GKEY_H
#define CAISSON_SBX_GKEY_H

#include "sbx_mgr.h"

typedef struct _sbx_gkey_t sbx_gkey_t;

/* A client of gateway-keys through the broker at endpoint; NULL on a bad
 * endpoint. */
sbx_gkey_t *sbx_gkey_new (const char *endpoint);
void sbx_gkey_destroy (sbx_gkey_t **self_p);

/* Mints box's key (its record names the owner, network and expiresAt; run
 * may be NULL), storing it or the reason there is none in the record. */
void sbx_gkey_mint (sbx_gkey_t *self, box_t *box, const char *run);
/* Revokes the keys minted for box (when it has one). */
void sbx_gkey_revoke (sbx_gkey_t *self, box_t *box);
/* Tells gateway-keys box's key now works for run and expires at the
 * record's expiresAt (run changes, set_timeout). */
void sbx_gkey_context (sbx_gkey_t *self, box_t *box, const char *run);
/* Adds the model variables to env (a sandbox's process environment,
 * before its own envVars go over it) when box holds a key:
 * OPENAI_BASE_URL, ANTHROPIC_BASE_URL, OPENAI_API_KEY, ANTHROPIC_API_KEY
 * and, in network modes none and policy, CAISSON_GATEWAY_SANDBOX_PORT (the
 * init then listens there). */
void sbx_gkey_env (box_t *box, json_t *env);
/* The gateway's URL as box's processes reach it into out ("" without a
 * key). */
void sbx_gkey_url (box_t *box, char *out, size_t n);

#endif
