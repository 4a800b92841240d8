/* calls: idempotency of tool calls by call id, across instances.
 *
 * Every tool-runner on a host opens the same LMDB environment
 * ($CAISSON_DATA/tool-runner; LMDB is safe across processes). A call is
 * claimed before it runs: the record names the owning instance and a lease
 * that the owner renews while the call runs, and holds the result once it
 * is done. A retry of the call, on any instance, gets the stored result;
 * while the owner's lease is live it waits; once the lease lapses (the
 * owner died mid-call) it takes the call over and runs it again, which is
 * safe because every step a tool takes is itself idempotent by ids derived
 * from the call id (see docs/tools.md). The same environment keeps the
 * local forge's pull requests (forge.c). */
#ifndef TR_CALLS_H
#define TR_CALLS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

typedef struct _calls_t calls_t;

typedef enum {
    CALLS_MINE,         /* claimed: run it */
    CALLS_DONE,         /* already done: *result is the first result */
    CALLS_BUSY,         /* another instance runs it under a live lease */
    CALLS_CONFLICT,     /* the id was used for a different call */
    CALLS_ERROR         /* the store failed */
} calls_state_t;

#define CALLS_DB_PRS 1
#define CALLS_DB_META 2

/* Opens the store in dir for instance. NULL with the reason logged. */
calls_t *calls_new (const char *dir, const char *instance, uint64_t lease_ms);
void calls_destroy (calls_t **self_p);

/* Claims call_id for a call whose fingerprint (tool name, arguments and
 * dry-run flag, canonically encoded) is fp. On CALLS_DONE *result gets a
 * new reference to the stored result and *ok its flag. */
calls_state_t calls_claim (calls_t *self, const char *call_id, const char *fp,
                           json_t **result, bool *ok);

/* The result stored for call_id once it is done (a new reference, *ok
 * its flag); NULL when the call is unknown (or expired) or still runs.
 * Reads only: nothing is claimed. */
json_t *calls_result (calls_t *self, const char *call_id, bool *ok);

/* Renews the lease of each call in ids that this instance owns. */
int calls_renew (calls_t *self, const char *const ids[], size_t count);

/* Stores the result of a call this instance ran, unless another instance
 * stored one first (it took the call over): either way *stored gets a new
 * reference to the result kept, the one every attempt is answered with,
 * and *stored_ok its flag. Returns 0 or -1. */
int calls_finish (calls_t *self, const char *call_id, const json_t *result, bool ok,
                  json_t **stored, bool *stored_ok);

/* Deletes the records of calls finished before before_ms (wall clock),
 * at most max of them per call, so the store does not grow forever.
 * Returns how many went, or -1. */
int calls_expire (calls_t *self, uint64_t before_ms, size_t max);

/* The shared environment, for the forge's records. */
store_t *calls_store (calls_t *self);

/* Milliseconds since the Unix epoch. */
uint64_t calls_now_ms (void);

#endif
