/* threadfetch: a thread's conversation rebuilt from event-log's record
 * when this instance's store lacks it. With several orchestrators a
 * thread's next run can land on an instance that never ran it (the one
 * that did is gone); the run then starts from the thread's stored turns
 * (thread.get) instead of blank. And an instance that holds an older copy
 * (the thread's last run was on another instance, as the thread record's
 * `orchestrator` says) takes event-log's instead of its stale one. Tool
 * outputs are not in that record, so tool turns come back as a note of
 * what was called and how it ended; a run that did not complete is
 * marked as run_thread_convo marks it. */
#ifndef CAISSON_THREADFETCH_H
#define CAISSON_THREADFETCH_H

#include "rpc.h"
#include <jansson.h>

/* Told the rebuilt conversation (new; empty when event-log knows no
 * thread the caller may read, or did not answer), or NULL: the local copy
 * is current (or event-log could not say), use it. */
typedef void (threadfetch_fn) (json_t *messages, void *arg);

/* Asks event-log for thread as cause's user (borrowed); fn is called
 * from the loop once. self: this instance's id, when it holds a copy of
 * the thread (then only a thread whose last run was elsewhere is read
 * whole); NULL when it holds none. Returns 0, or -1 (fn not called). */
int threadfetch_start (rpc_t *rpc, const proto_msg_t *cause, const char *thread,
                       const char *self, threadfetch_fn *fn, void *arg);

/* The model's messages for a thread.convo's runs (borrowed): per run its
 * task as the user's, its texts as the assistant's, its tool turns as one
 * note each, its answer, and how it ended when not completed; the oldest
 * runs dropped beyond max_bytes. New array. */
json_t *threadfetch_messages (const json_t *runs, size_t max_bytes);

#endif
