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
 * Nothing here blocks the manager's loop on gateway-keys: requests go out
 * on one DEALER read from the loop (as sbx_egress does). A mint's answer,
 * or the end of its bounded wait (GKEY_MINT_MS), is handed to a callback,
 * so a create is answered then and other requests are served meanwhile;
 * a key gateway-keys makes after that wait is revoked.
 * A revoke is kept in the manager's own registry until gateway-keys
 * acknowledges it and sent again until then, across restarts. */
#ifndef CAISSON_SBX_GKEY_H
#define CAISSON_SBX_GKEY_H

#include "sbx_mgr.h"

/* Called once per mint that went out: id is the sandbox's (look it up:
 * it may be gone), stopping true when the manager stops before the key
 * came (the create is then not to be finished). */
typedef void (sbx_gkey_fn) (const char *id, bool stopping, void *arg);

/* A client of gateway-keys through the broker at endpoint, read from
 * loop; boxes (borrowed) is the manager's table and reg (borrowed) its
 * own registry, where revokes not yet acknowledged are kept. NULL on a
 * bad endpoint. */
sbx_gkey_t *sbx_gkey_new (zloop_t *loop, const char *endpoint, zhashx_t *boxes,
                          sbx_registry_t *reg);
/* Calls every mint callback still waiting (stopping) before it goes. */
void sbx_gkey_destroy (sbx_gkey_t **self_p);

/* Starts minting box's key (its record names the owner, network and
 * expiresAt; run may be NULL). Returns true when a request went out: fn
 * is called once its answer is in the record (the key, or gatewayReason)
 * or the wait ran out. Returns false when the record already says all
 * (keys off, no owner, no gateway-keys registered): fn is not called. */
bool sbx_gkey_mint (sbx_gkey_t *self, box_t *box, const char *run, sbx_gkey_fn *fn, void *arg);
/* Revokes the keys minted for box (when it has one), until acknowledged. */
void sbx_gkey_revoke (sbx_gkey_t *self, box_t *box);
/* Tells gateway-keys box's key now works for run and expires at the
 * record's expiresAt (run changes, set_timeout); fire and forget. */
void sbx_gkey_context (sbx_gkey_t *self, box_t *box, const char *run);
/* A stored record of the registry reg under id that is a pending revoke
 * (not a sandbox): taken over (into the manager's own registry) and sent
 * again; returns true. false for any other record. */
bool sbx_gkey_restore (sbx_gkey_t *self, const sbx_registry_t *reg, const char *id,
                       const json_t *rec, const char *forged);
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
