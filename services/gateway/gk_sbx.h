/* gk_sbx: the sweep of gateway-keys that revokes the keys of sandboxes
 * that no longer exist (a backstop: sandbox-manager revokes a sandbox's
 * key when it destroys it, but it may have died or lost the request).
 *
 * Every CAISSON_GATEWAY_GC_S it asks, for each sandbox-manager instance
 * that owns a sandbox holding a live key of kind `sandbox` (the instance
 * is named by the sandbox id), `sandbox.list`; a sandbox the instance's
 * answer does not hold (or holds as `destroyed`) has its keys revoked,
 * with `revokedBy` "sandbox gone". An instance that does not answer, or
 * answers an error, changes nothing (a manager down is not a sandbox
 * gone). Keys younger than CAISSON_GATEWAY_GC_S are left alone: a key is
 * minted while its sandbox is being made. */
#ifndef GK_SBX_H
#define GK_SBX_H

#include "gk_store.h"
#include <czmq.h>

typedef struct gk_sbx_t gk_sbx_t;

/* Starts the sweep on loop, asking through the broker at endpoint; sync:
 * flush the store after revoking. NULL on failure. */
gk_sbx_t *gk_sbx_new (gk_t *gk, zloop_t *loop, const char *endpoint, bool sync);
void gk_sbx_destroy (gk_sbx_t **self_p);

#endif
