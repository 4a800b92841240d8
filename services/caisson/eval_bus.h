/* eval_bus: the eval harness's requests over the bus, as its user: tool
 * calls, sandboxes, runs, a run's stored events and the eval records.
 * Each function takes the calling thread's own bus client (a client is
 * one socket, never shared between threads) and waits for its answer. */
#ifndef CAISSON_EVAL_BUS_H
#define CAISSON_EVAL_BUS_H

/* The label the harness puts on its sandboxes, naming the eval. */
#define EVAL_SANDBOX_LABEL "caisson-eval"

#include "bus_client.h"
#include <jansson.h>
#include <stdbool.h>

/* A new client on CAISSON_BUS whose requests wait 5 s and are resent
 * (same frame, so never done twice) up to `tries` times; NULL on a bad
 * endpoint. */
bus_client_t *evalbus_client (int tries);

/* Calls tool name with args (taken) through tool-runner, with a fresh call
 * id and the tool's time limit timeout_s. Returns the result (new) with
 * *ok its ok flag, or NULL with why (n bytes) when tool-runner did not
 * answer or refused the request. */
json_t *evalbus_tool (bus_client_t *c, const char *name, json_t *args, unsigned timeout_s,
                      bool *ok, char *why, size_t n);

/* Calls tool name and requires success: 0, or -1 with why naming the tool
 * and its error. The result is stored in *out (new) when out is not NULL. */
int evalbus_tool_ok (bus_client_t *c, const char *name, json_t *args, unsigned timeout_s,
                     json_t **out, char *why, size_t n);

/* runCommand command in sandbox from dir (NULL: the workspace); the
 * result (new) or NULL with why. */
json_t *evalbus_command (bus_client_t *c, const char *sandbox, const char *command,
                         const char *dir, unsigned timeout_s, char *why, size_t n);

/* Ends a sandbox (sandbox.destroy to its manager); quiet on failure. */
void evalbus_destroy_sandbox (bus_client_t *c, const char *sandbox);
/* Destroys the caller's sandboxes labelled `caisson-eval: eval_id` (what a
 * harness that died left); how many. */
int evalbus_drop_sandboxes (bus_client_t *c, const char *eval_id);

/* Starts a run: run.start {task, model?, profile?, budgets: {wallSeconds}}.
 * Returns 0 with its run and thread ids (each 128 bytes), 1 when the
 * orchestrator answered `limit` (the user's live runs: try later), or -1
 * with why. */
int evalbus_run_start (bus_client_t *c, const char *task, const char *model, const char *profile,
                       unsigned wall_s, char *run, char *thread, char *why, size_t n);

/* run.get of run as JSON {status, reason?, model?, profile?, pending?,
 * usage?} (new), or NULL when its orchestrator did not answer. */
json_t *evalbus_run_get (bus_client_t *c, const char *run);

/* run.cancel, or run.approve/run.decline of call (approve true/false);
 * -1 when not answered or refused. */
int evalbus_run_cancel (bus_client_t *c, const char *run);
int evalbus_run_decide (bus_client_t *c, const char *run, const char *call, bool approve);

/* Every stored event of run, in order, as event-log's events.read gives
 * them ({run_seq, kind, data, ...}); NULL when event-log did not answer. */
json_t *evalbus_events (bus_client_t *c, const char *run);

/* eval.put of record under id: 0, or -1 with why. */
int evalbus_put (bus_client_t *c, const char *id, const json_t *record, char *why, size_t n);
/* eval.list (the records without their tasks), or eval.get's whole record
 * (both new); NULL with why. */
json_t *evalbus_list (bus_client_t *c, char *why, size_t n);
json_t *evalbus_get (bus_client_t *c, const char *id, char *why, size_t n);
/* eval.delete of id: 0, or -1 with why (n bytes). */
int evalbus_delete (bus_client_t *c, const char *id, char *why, size_t n);

#endif
