/* gk_purge: forgets keys long dead, so gateway-keys' store does not grow
 * with every sandbox and run for ever.
 *
 * A key revoked (or expired, which the sweep marks revoked) more than
 * CAISSON_GATEWAY_KEYS_KEEP_DAYS ago is deleted with its hash, its index
 * rows and its usage counters; its calls stay in event-log's spend log,
 * which is the record. Its secret is then refused as an unknown key
 * (`invalid_api_key`) instead of `key_revoked`. Usage counters of windows
 * that ended that long ago go too (a `total` window never ends). Run from
 * the loop every CAISSON_GATEWAY_GC_S, in one write transaction. */
#ifndef GK_PURGE_H
#define GK_PURGE_H

#include "gk_store.h"

/* Deletes what is dead for longer than keep_ms at now_ms. Returns how many
 * keys went, or -1 when the store failed (nothing is deleted then). */
int gk_purge (gk_t *gk, uint64_t now_ms, uint64_t keep_ms);

#endif
