/* threadfetch: a thread's conversation rebuilt from event-log's record
 * when this instance's store lacks it. With several orchestrators a
 * thread's next run can land on an instance that never ran it (the one
 * that did is gone); the run then starts from the thread's stored turns
 * (thread.get) instead of blank. Tool outputs are not in that record, so
 * tool turns come back as a note of what was called and how it ended; a
 * run that did not complete is marked as run_thread_convo marks it. */
#ifndef CAISSON_THREADFETCH_H
#define CAISSON_THREADFETCH_H

#include "rpc.h"
#include <jansson.h>

/* Told the rebuilt conversation (new; empty when event-log knows no
 * thread the caller may read, or did not answer). */
typedef void (threadfetch_fn) (json_t *messages, void *arg);

/* Asks event-log for thread as cause's user (borrowed); fn is called
 * from the loop once. Returns 0, or -1 (fn not called). */
int threadfetch_start (rpc_t *rpc, const proto_msg_t *cause, const char *thread,
                       threadfetch_fn *fn, void *arg);

/* The model's messages for a thread.convo's runs (borrowed): per run its
 * task as the user's, its texts as the assistant's, its tool turns as one
 * note each, its answer, and how it ended when not completed; the oldest
 * runs dropped beyond max_bytes. New array. */
json_t *threadfetch_messages (const json_t *runs, size_t max_bytes);

#endif
