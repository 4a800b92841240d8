/* ui_support: what the ui-bridge tests share: a libcurl HTTP client, a
 * free port, and starting the bus and ui-bridge with a token file (with
 * event-log too: ui_elog_stack_up). */
#ifndef CAISSON_UI_SUPPORT_H
#define CAISSON_UI_SUPPORT_H

#include "proto.h"

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct {
    long status;
    char *body;             /* NUL-terminated */
    size_t len;
    char headers[8192];     /* raw response headers */
} ui_res_t;

/* The base URL of the bridge under test ("http://127.0.0.1:PORT"). */
extern char ui_base[96];

/* Picks a free TCP port on 127.0.0.1 and sets CAISSON_HTTP and ui_base. */
void ui_pick_port (void);

/* A connection to the bridge at ui_base from loopback address from (e.g.
 * "127.0.0.7", so per-address limits can be tried), with 3 s timeouts on
 * every step; -1 when refused. */
int ui_connect_from (const char *from);

/* Waits until the bridge accepts connections. Returns 0 or -1. */
int ui_wait_ready (void);

/* Makes a token for user with the real CLI; returns it (static storage
 * per slot 0..3). */
const char *ui_token (int slot, const char *user, int operator_);

/* The bus, event-log and ui-bridge of a test of the HTTP API over the
 * real event-log, and the tokens of alice, bob and root (an operator;
 * ui_token's slots 0 to 2). */
typedef struct {
    pid_t bus, elog, bridge;
    const char *alice, *bob, *root;
} ui_elog_stack_t;

/* Starts s in a new sandbox named name, the bridge on a free port (as
 * ui_pick_port), and makes the tokens; fails the test when the bridge
 * does not come up. */
void ui_elog_stack_up (ui_elog_stack_t *s, const char *name);

/* One request. method "GET"...; token may be NULL; body may be NULL;
 * extra is a NULL-terminated list of raw header lines or NULL. */
ui_res_t ui_request (const char *method, const char *path, const char *token,
                     const char *body, const char *const extra[]);
/* The same, with the body parsed as JSON (asserted to parse). */
json_t *ui_json (const char *method, const char *path, const char *token, const char *body,
                 long *status);
void ui_res_free (ui_res_t *res);

/* The value of response header name (case-insensitive) copied into out,
 * or "" when absent. */
void ui_header (const ui_res_t *res, const char *name, char *out, size_t outlen);

/* Waits (15 s at most, else fails the test) until ui-bridge's /healthz
 * says the orchestrator, event-log and tool-runner are up. */
void ui_await_healthy (void);

/* A stand-in tool-runner for the suites that need the catalogue and not
 * the tools: tools.list answers catalogue (JSON text), tools.call a
 * success naming sandbox_id (NULL: calls refused). */
typedef struct {
    const char *catalogue;
    const char *sandbox_id;
} ui_standin_t;

/* support_serve's handler for a stand-in; arg is its ui_standin_t. */
proto_msg_t *ui_standin_tools (const proto_msg_t *req, void *arg);

#endif
