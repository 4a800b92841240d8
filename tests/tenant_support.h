/* tenant_support: the stack the red-team tenant suites (test_redteam_tenant,
 * test_redteam_followup) share: the real services (broker, event-log,
 * sandbox-manager, tool-runner, ui-bridge, orchestrator) with the scripted
 * model (caisson-llm-replay) playing cassettes the suite writes, the
 * tokens of alice, bob and root, and the bus helpers with which a test
 * speaks as a tenant or an operator. Each suite keeps its own differences
 * (tool-runner settings, a second tool-runner, a plain HTTP server, the
 * orchestrator's settings) as the parameters below. */
#ifndef CAISSON_TENANT_SUPPORT_H
#define CAISSON_TENANT_SUPPORT_H

#include "support.h"

/* The processes of the stack, in start order; teardown stops them in the
 * reverse one. A suite that does not start one leaves its pid 0. */
enum { TS_BUS, TS_ELOG, TS_SBX, TS_TOOLS, TS_TOOLS_DEFAULT, TS_BRIDGE, TS_REPLAY, TS_ORCH,
       TS_HTTPD, TS_NPIDS };
extern pid_t ts_pids[TS_NPIDS];
extern const char *ts_dir;                   /* the test's directory */
extern const char *ts_alice, *ts_bob, *ts_root;  /* HTTP tokens (root: an operator) */
extern bus_client_t *ts_client;
extern int ts_http_port;                     /* the plain HTTP server's, when started */
extern char ts_replay_dir[1200];             /* where the suite writes its cassettes */

/* Makes the test's directory (support_sandbox_env (name)), picks the
 * bridge's port, creates ts_replay_dir and, when httpd, serves ts_dir over
 * plain HTTP (python3's http.server, as ts_pids[TS_HTTPD] on ts_http_port,
 * waited for): git clones a bare repository there with its dumb protocol. */
void tenant_stack_begin (const char *name, bool httpd);

/* Starts the broker, event-log, sandbox-manager, tool-runner (with
 * tools_env, NULL-terminated "KEY=VALUE"s), when default_env is not NULL a
 * second tool-runner with it (ts_pids[TS_TOOLS_DEFAULT]), and ui-bridge;
 * connects ts_client, waits for the bridge, event-log, sandbox-manager and
 * each of the NULL-terminated tool_services; then makes the tokens of
 * alice, bob and root. Call after tenant_stack_begin. */
void tenant_stack_services (const char *const tools_env[], const char *const default_env[],
                            const char *const tool_services[]);

/* Starts the scripted model on port, playing ts_replay_dir, and an
 * orchestrator using it (MODEL=replay/demo, CAISSON_APPROVAL=ask, plus the
 * NULL-terminated orch_extra, at most 4), and waits for the orchestrator. */
void tenant_stack_model (int port, const char *const orch_extra[]);

/* Stops the orchestrator (asserting a clean exit) and starts it again on
 * the scripted model with orch_extra as in tenant_stack_model; waits. */
void tenant_orchestrator_restart (const char *const orch_extra[]);

/* The group teardown: closes ts_client, asserts ui-bridge and the
 * orchestrator exit cleanly, and stops the other processes, last first. */
int tenant_stack_down (void **state);

/* A new request of type on behalf of user (NULL: none); op: an operator. */
proto_msg_t *as (const char *user, bool op, proto_type_t type);

/* Sends req (taken) to service on ts_client, waiting timeout_ms (2
 * retries), and returns the reply; fails the test when there is none. */
proto_msg_t *ask (const char *service, proto_msg_t *req, int timeout_ms);

/* Calls tool name with JSON args at service (a tool-runner) for user,
 * waiting up to 60 s; returns the result (new) and sets *ok. Fails the
 * test on any reply other than tools.result. */
json_t *tool (const char *service, const char *user, const char *name, const char *args,
              bool *ok);

/* The code of a tool result's error ("" when it has none). */
const char *error_code (const json_t *result);

/* Makes a sandbox as user through tool-runner's createSandbox (the test
 * fails when it cannot) and copies its id into id. */
void tenant_sandbox_new (const char *user, char *id, size_t len);

/* Writes text to path (asserted). */
void write_file (const char *path, const char *text);

#endif
