/* toolctx: what a tool function is given, and how it reports an error.
 *
 * A tool runs on a job thread (handler.c) with its own bus client, the
 * call's effective guardrails, a deadline and its call id. It returns a
 * new JSON result: its output shape, or tool_error's structured error. */
#ifndef TR_TOOLCTX_H
#define TR_TOOLCTX_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus_client.h"
#include "guard.h"
#include "proto.h"
#include "sandbox_id.h"

typedef struct _forge_t forge_t;
typedef struct _calls_t calls_t;
struct _tool_def_t;

/* A call's cancellation, shared by its job thread and the service loop
 * (handler.c): the loop sets cancelled and kills the process named here;
 * the thread names each process it starts and starts none once
 * cancelled, so one of the two always sees the other. */
typedef struct {
    pthread_mutex_t lock;
    bool cancelled;
    char sandbox_id[SANDBOX_ID_SIZE]; /* the sandbox of the exec in flight */
    char request[CID_SIZE];     /* that exec's request id, or "" */
} tool_cancel_t;

typedef struct {
    const char *call_id;
    const char *tool;           /* the tool's catalogue name */
    const char *corr;           /* the tools.call's correlation id */
    const char *user;           /* the tools.call envelope's: whose sandboxes */
    const char *run;            /* its run (envelope), or NULL: where artifacts go */
    bool op;                    /* that user is an operator (any sandbox) */
    bool dry_run;
    const guard_t *guard;       /* effective: deployment narrowed by the run */
    int64_t deadline;           /* zclock_mono milliseconds */
    unsigned timeout_s;         /* the call's effective timeout */
    bus_client_t *client;       /* this job's own connection to the broker */
    unsigned step;              /* counts requests, for their derived ids */
    forge_t *forge;
    calls_t *calls;             /* the calls' records (calls.h): earlier results */
    tool_cancel_t *cancel;      /* NULL: the call cannot be cancelled */
    const struct _tool_def_t *def;      /* the row called (catalogue.h): an MCP tool's
                                         * row leads to its server */
} tool_ctx_t;

typedef json_t *(tool_fn) (tool_ctx_t *ctx, json_t *args);

/* A new `{success: false, error: {code, message, field?}}`. field may be
 * NULL. */
json_t *tool_error (const char *code, const char *field, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

/* True when result is a tool_error value. */
bool tool_failed (const json_t *result);

/* True once the call is cancelled: a tool that loops should stop. */
bool tool_cancelled (tool_ctx_t *ctx);

/* Milliseconds left before the deadline (at least 1). */
int tool_left_ms (const tool_ctx_t *ctx);

#endif
