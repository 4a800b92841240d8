/* wmem: the runs' working memory, read from and written to event-log
 * (proto/memory.def). Before each model turn a run reads its document
 * (the user's, or with CAISSON_MEMORY_SCOPE=thread its thread's); the
 * agent's updateWorkingMemory calls become memory.put requests made as
 * the run's user. runhost sends them (its slot keeps the request id, to
 * forget it when the run goes) and hands each answer to the run. */
#ifndef CAISSON_WMEM_H
#define CAISSON_WMEM_H

#include "rpc.h"
#include "run.h"

typedef struct _wmem_t wmem_t;

/* A working memory client on rpc (borrowed), with the scope and size
 * limit the settings give. */
wmem_t *wmem_new (rpc_t *rpc);
void wmem_destroy (wmem_t **self_p);

/* Sends memory.get for run's document, answered to fn(arg); the request's
 * id goes to req_id (CID_SIZE). Returns 0, or -1 when memory is off or
 * the request could not be sent. */
int wmem_read (wmem_t *self, const run_t *run, rpc_done_fn *fn, void *arg, char *req_id);

/* Hands run the answer to wmem_read (run_memory_done). */
void wmem_read_done (const proto_msg_t *reply, const char *error, run_t *run);

/* Sends the memory.put of a tool call of run (put: memtool_put's
 * fields), answered to fn(arg); its id goes to req_id. Returns 0 or -1. */
int wmem_write (wmem_t *self, const run_t *run, const json_t *put, rpc_done_fn *fn, void *arg,
                char *req_id);

/* Hands run the answer to wmem_write as the tool call's result
 * (run_tool_done): {success, version, bytes, max, scope, thread?}, or
 * {success: false, error: {code, message}} naming what to change. */
void wmem_write_done (const proto_msg_t *reply, const char *error, run_t *run);

#endif
