/* api: the route functions router.c dispatches to, one module per area. */
#ifndef CAISSON_API_H
#define CAISSON_API_H

#include "app.h"

/* api_health.c: GET /healthz (no token), GET /metrics (no token). */
http_res_t *api_healthz (app_t *app, http_req_t *req);
http_res_t *api_metrics (app_t *app, http_req_t *req);

/* api_sandboxes.c: /api/sandboxes, what `caisson sandbox` does, per user. */
http_res_t *api_sandboxes_list (app_t *app, http_req_t *req);
/* Every host's sandboxes: sandbox.list asked of each sandbox-manager
 * instance the broker knows, the answers merged; user and status filter
 * (NULL: all). Each ask waits timeout_ms, with retries more tries. A new
 * array, or NULL when no instance answered. */
json_t *api_sandboxes_all (app_t *app, http_req_t *req, const char *user, const char *status,
                           int timeout_ms, int retries);
http_res_t *api_sandboxes_create (app_t *app, http_req_t *req);
http_res_t *api_sandboxes_get (app_t *app, http_req_t *req);
http_res_t *api_sandboxes_delete (app_t *app, http_req_t *req);
http_res_t *api_sandboxes_exec (app_t *app, http_req_t *req);
http_res_t *api_sandboxes_files (app_t *app, http_req_t *req);
http_res_t *api_sandboxes_read (app_t *app, http_req_t *req);
http_res_t *api_sandboxes_write (app_t *app, http_req_t *req);
/* A policy sandbox's egress rules changed while it runs. */
http_res_t *api_sandboxes_net (app_t *app, http_req_t *req);
/* A sandbox's background processes: list, and one's output, wait, kill. */
http_res_t *api_sandboxes_procs (app_t *app, http_req_t *req);
http_res_t *api_sandboxes_proc_output (app_t *app, http_req_t *req);
http_res_t *api_sandboxes_proc_wait (app_t *app, http_req_t *req);
http_res_t *api_sandboxes_proc_kill (app_t *app, http_req_t *req);

/* api_runs.c: /api/runs and /api/artifacts, per user. */
http_res_t *api_runs_start (app_t *app, http_req_t *req);
http_res_t *api_runs_list (app_t *app, http_req_t *req);
http_res_t *api_runs_get (app_t *app, http_req_t *req);
http_res_t *api_runs_events (app_t *app, http_req_t *req);
http_res_t *api_runs_approve (app_t *app, http_req_t *req);
http_res_t *api_runs_decline (app_t *app, http_req_t *req);
http_res_t *api_runs_cancel (app_t *app, http_req_t *req);
http_res_t *api_runs_transcript (app_t *app, http_req_t *req);
http_res_t *api_artifacts_get (app_t *app, http_req_t *req);
/* The record of run when req's user may see it (*record, new), else the
 * error to answer (404 for someone else's run). */
http_res_t *api_run_record (app_t *app, http_req_t *req, const char *run, json_t **record);
/* Approves or declines the call a run awaits, asking the orchestrator
 * instance its record (from api_run_record) names. NULL, or the error. */
http_res_t *api_run_decide (app_t *app, http_req_t *req, const json_t *record, const char *run,
                            const char *call, bool approve, const char *reason);
/* Starts a run for req's user: *run_id receives the new id (129 bytes).
 * thread may be NULL; extra (may be NULL) holds more of run.start's
 * fields, by their JSON names (AG-UI's clientTools, context, state,
 * clientHistory). */
http_res_t *api_run_start (app_t *app, http_req_t *req, const char *task, const char *thread,
                           const json_t *extra, char *run_id);

/* api_threads.c: /api/threads, a user's conversation threads. */
http_res_t *api_threads_list (app_t *app, http_req_t *req);
http_res_t *api_threads_create (app_t *app, http_req_t *req);
http_res_t *api_threads_get (app_t *app, http_req_t *req);
http_res_t *api_threads_rename (app_t *app, http_req_t *req);
http_res_t *api_threads_delete (app_t *app, http_req_t *req);
/* api_memory.c: GET and PUT /api/memory, the user's working memory. */
http_res_t *api_memory_get (app_t *app, http_req_t *req);
http_res_t *api_memory_put (app_t *app, http_req_t *req);

/* api_mcp.c: GET, PUT and DELETE /api/mcp, the user's own mcp.json. */
http_res_t *api_mcp_config_get (app_t *app, http_req_t *req);
http_res_t *api_mcp_config_put (app_t *app, http_req_t *req);
http_res_t *api_mcp_config_delete (app_t *app, http_req_t *req);

/* api_keys.c: the model gateway's keys, budgets and spend: /api/keys
 * (GET, POST; DELETE and GET usage of /api/keys/{id}), GET /api/usage,
 * PUT /api/users/{user}/budget (operators), GET /api/spend. */
http_res_t *api_keys_list (app_t *app, http_req_t *req);
http_res_t *api_keys_create (app_t *app, http_req_t *req);
http_res_t *api_keys_revoke (app_t *app, http_req_t *req);
http_res_t *api_keys_usage (app_t *app, http_req_t *req);
http_res_t *api_usage (app_t *app, http_req_t *req);
http_res_t *api_user_budget (app_t *app, http_req_t *req);
http_res_t *api_spend (app_t *app, http_req_t *req);

/* api_evals.c: GET /api/evals and /api/evals/{id}, DELETE /api/evals/{id}, the harness's evals
 * (proto/evals.def) as event-log keeps them, per user. */
http_res_t *api_evals_list (app_t *app, http_req_t *req);
http_res_t *api_evals_get (app_t *app, http_req_t *req);
http_res_t *api_evals_delete (app_t *app, http_req_t *req);
/* True when id is an eval id: `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`. */
bool api_eval_id_ok (const char *id);
/* text (a path segment or query value, may be NULL) as a decimal number
 * from min to max into *out. NULL, or the 400 naming what. */
http_res_t *api_number (const char *text, const char *what, uint64_t min, uint64_t max,
                        uint64_t *out);

/* api_profiles.c: /api/profiles, versioned profiles (proto/profiles.def):
 * GET the list, GET /{name} (its active version) and /{name}/{version},
 * GET /{name}/diff?a=&b=; operators POST /{name} (a new version),
 * /{name}/activate and /{name}/rollback. */
http_res_t *api_profiles_list (app_t *app, http_req_t *req);
http_res_t *api_profiles_get (app_t *app, http_req_t *req);
http_res_t *api_profiles_create (app_t *app, http_req_t *req);
http_res_t *api_profiles_activate (app_t *app, http_req_t *req);
http_res_t *api_profiles_rollback (app_t *app, http_req_t *req);
http_res_t *api_profiles_diff (app_t *app, http_req_t *req);

/* api_agui.c: POST /agui, AG-UI 1.0 over SSE. */
http_res_t *api_agui (app_t *app, http_req_t *req);

/* static.c: the web UI, embedded at build time. */
http_res_t *api_static (app_t *app, http_req_t *req);

#endif
