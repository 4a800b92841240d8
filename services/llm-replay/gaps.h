/* gaps: the loop gap as the model server sees it, i.e. what a provider
 * could measure of its client: for each reply, the time from the end of
 * that reply to the arrival of the request that continues it.
 *
 * The server knows nothing of runs, and the orchestrator sends no run id:
 * what ties a request to the reply it continues is the conversation
 * itself. A reply's key is the hash of its request's conversation with the
 * reply appended as an assistant message; a request's key is the hash of
 * its conversation up to and including its last assistant message. Equal
 * keys are the same run, or runs that are still identical (same task,
 * same results so far), which no peer can tell apart: those are paired
 * first in, first out, so every sample is a true end-to-request interval
 * of that conversation and the mean is exact. A request that continues no
 * recorded reply (a retry, or a conversation whose reply came from
 * elsewhere) counts as unmatched. Thread-safe. */
#ifndef CAISSON_GAPS_H
#define CAISSON_GAPS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _gaps_t gaps_t;

/* A recorder remembering at most max_pending replies not yet continued
 * (the oldest is forgotten first: final replies are never continued) and
 * at most max_samples gaps. NULL when out of memory. */
gaps_t *gaps_new (size_t max_pending, size_t max_samples);
void gaps_destroy (gaps_t **self_p);

/* The key the request continuing a reply with this text will carry; conv
 * is the neutral conversation of the request answered (cassette.h). */
uint64_t gaps_reply_key (const json_t *conv, const char *text);

/* The key of a request's neutral conversation. False when it has no
 * assistant message: a first request continues nothing. */
bool gaps_request_key (const json_t *conv, uint64_t *key);

/* A reply with this key ended (its last byte went to the socket) at
 * at_us (CLOCK_MONOTONIC, microseconds). */
void gaps_reply_end (gaps_t *self, uint64_t key, int64_t at_us);

/* A request with this key arrived at at_us: records the gap to the
 * oldest reply it continues, if any. */
void gaps_request (gaps_t *self, uint64_t key, int64_t at_us);

/* The figures so far, as a new JSON string (docs/llm-replay.md):
 * {gaps, p50Us, p90Us, p99Us, maxUs, meanUs, totalUs, unmatched, pending,
 *  forgotten, dropped}. NULL when out of memory. */
char *gaps_json (gaps_t *self);

#endif
