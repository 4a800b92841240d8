/* mcpc_int: what mcpc.c (the sets, their servers' start, their lists),
 * mcpc_rows.c (their tools' rows) and mcpc_call.c (tools/call on a
 * server, restarts, back-off, cancellation) share; nothing else includes
 * it. */
#ifndef TR_MCPC_INT_H
#define TR_MCPC_INT_H

#include "mcpc.h"
#include "mcpc_http.h"
#include "mcpc_stdio.h"

#include <pthread.h>
#include <stdatomic.h>

/* The user a deployment's stdio server's sandbox belongs to. */
#define SERVICE_USER "mcp"
/* Longest wait between restarts of a server that keeps failing. */
#define BACKOFF_MAX_MS 60000
/* Most rows a set keeps of tools its servers no longer list (a running
 * call may hold one); past it, a server's new lists are not taken. */
#define RETIRED_MAX 1024

/* A tool of a ready server: its catalogue row, kept until mcpc_destroy
 * since a running job holds it. */
typedef struct _mtool_t mtool_t;
struct _mtool_t {
    tool_def_t def;             /* first: a call's ctx->def is its mtool_t */
    json_t *entry;              /* its tools.list entry; owns def's strings */
    size_t server;              /* index in the config */
    mcpc_t *set;                /* its server set, for mcpc_tool_fn */
    mtool_t *next;
};

/* A call of an MCP tool in flight, for mcpc_cancel to find. */
typedef struct _inflight_t inflight_t;
struct _inflight_t {
    const void *key;            /* the call's tool_cancel_t */
    const char *user;           /* whose call (their session with a remote server) */
    atomic_bool cancelled;      /* its transport's wait ends once true */
    char reason[256];           /* why, under the set's lock */
    inflight_t *next;
};

typedef struct {
    const char *state;
    char *reason;
    mcpc_stdio_t *conn;         /* a stdio server */
    mcpc_http_t *http;          /* a remote one */
    pthread_mutex_t call_lock;  /* stdio: one request at a time on conn, and its restarts;
                                 * http: its back-off (requests run at once) */
    int64_t retry_at;           /* zclock_mono: no restart before */
    int64_t backoff;            /* ms: the next failed restart's wait */
    char *left_out;             /* the tools its list had that are not in the catalogue, and
                                 * why (shown as its reason while it is ready), or NULL */
} server_t;

/* The back-off after a failed start of server srv (1 s, doubling to
 * BACKOFF_MAX_MS): sets its retry_at. */
void mcpc_backoff (server_t *srv);

struct _mcpc_t {
    mcpc_config_t *config;      /* NULL: no servers (a user's: until read) */
    char *problem;              /* why the file as a whole was not used */
    char *path;
    char *owner;                /* a user's set: the user; NULL: the deployment's */
    const mcpc_config_t *deployment;    /* a user's: the deployment's servers, for the limits */
    bool loaded;                /* a user's: their mcp.json was read (or failed to be) */
    int refs;                   /* see mcpc_ref */
    int64_t used;               /* zclock_mono of the last mcpc_touch */
    server_t servers[MCPC_SERVERS_MAX];
    mtool_t *tools;
    mtool_t *retired;           /* rows replaced by a later tools/list, freed with the set */
    inflight_t *inflight;       /* calls running, under lock */
    size_t nretired;
    pthread_mutex_t lock;       /* states, reasons, tools */
    pthread_t starter;
    bool starting;
    atomic_bool stop;
};

/* Sets server i's state (a constant) and reason (copied; NULL: none). */
void mcpc_set_state (mcpc_t *self, size_t i, const char *state, const char *reason);

/* Adds the entries of server i as catalogue rows, screened: those named
 * as one of Caisson's own tools (a server `git` offering `openPR`) and
 * those past the set's MCPC_SET_BYTES_MAX move to skipped
 * ([{name, reason}]), which is logged and kept for `caisson mcp list`.
 * Returns how many were added. */
size_t mcpc_add_tools (mcpc_t *self, size_t i, json_t *entries, json_t *skipped);

/* Logs and keeps skipped for server i when its start failed: `caisson mcp
 * list` shows what was left out. */
void mcpc_note_left_out (mcpc_t *self, size_t i, const json_t *skipped);

/* Lists server i's tools again (after notifications/tools/list_changed, or
 * a restart or new session) and makes the catalogue follow: rows that
 * changed or went are retired, new ones added. On a stdio server, under
 * its call_lock. A list that fails leaves the rows as they were (logged). */
void mcpc_relist (mcpc_t *self, size_t i);

/* Whose sandboxes the set's stdio servers run in. */
const char *mcpc_sandbox_user (const mcpc_t *self);

/* tool_fn of every MCP tool: tools/call on its server (ctx->def is the
 * row, an mtool_t). */
json_t *mcpc_tool_fn (tool_ctx_t *ctx, json_t *args);

#endif
