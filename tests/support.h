/* support: what the tests share: temporary directories, unique bus
 * endpoints, starting and stopping the stack's real binaries, and the
 * node scripts in tests/agui. */
#ifndef CAISSON_TEST_SUPPORT_H
#define CAISSON_TEST_SUPPORT_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <cmocka.h>
#include <jansson.h>

#include "bus_client.h"
#include "bus_worker.h"
#include "evkind.h"

/* Makes a fresh directory under $TMPDIR (or /tmp) and points the bus
 * settings (CAISSON_BUS, CAISSON_BUS_PUB, CAISSON_BUS_SUB) at ipc
 * endpoints inside it, CAISSON_DATA at it, and CAISSON_HTTP at a free port,
 * so tests never collide with each other or a running stack. At exit the
 * sandboxes under every such directory are ended and the directories
 * removed (kept when CAISSON_KEEP_TEST_DIRS is set). Returns the directory
 * (static storage). */
const char *support_sandbox_env (const char *name);

/* Starts build/bin/<program> with the current environment plus the given
 * NULL-terminated "KEY=VALUE" list; its stderr goes to <dir>/<program>.log.
 * The child dies with the test process. Returns the pid or -1. */
pid_t support_spawn (const char *program, const char *const extra_env[]);

/* support_spawn, with the NULL-terminated arguments args (NULL: none;
 * at most 30) after the program's path. */
pid_t support_spawn_args (const char *program, const char *const args[],
                          const char *const extra_env[]);

/* Starts argv[0] (the test's own program, playing the part argv[1]
 * names) with argv; the child dies with the test process. The pid, or -1. */
pid_t support_spawn_self (const char *const argv[]);

/* Sends sig to pid and reaps it, waiting at most timeout_ms before
 * SIGKILL. Returns the wait status. */
int support_stop (pid_t pid, int sig, int timeout_ms);

/* Stops pid with SIGTERM and asserts it exited with status 0: a clean
 * shutdown, and, in the sanitizer build (abort_on_error), no ASan, UBSan
 * or leak report. */
void support_expect_clean_exit (pid_t pid);

/* Runs build/bin/<argv[0]> with argv, waits, and returns its exit status;
 * its stdout is captured into out (NUL-terminated, truncated to outlen)
 * when out is not NULL. */
int support_run (const char *const argv[], char *out, size_t outlen);

/* Runs node with args (args[0] is "node") from tests/agui, where the
 * AG-UI and browser scripts live, waits, and returns its exit status
 * (128 + the signal when it did not exit). */
int support_run_node (const char *const args[]);

/* True when a process with this pid exists (and is not a zombie). */
bool support_alive (pid_t pid);

/* cmocka_run_group_tests, except that a failing group teardown (a service
 * that did not exit cleanly, a leftover process) fails the program too:
 * cmocka's own exit status counts only the tests. CAISSON_TEST_FILTER
 * (a cmocka name pattern, e.g. `test_cors*`) runs only matching tests. */
#define support_run_group_tests(tests, setup, teardown) \
    support_run_group (#tests, tests, sizeof (tests) / sizeof ((tests)[0]), setup, teardown)
int support_run_group (const char *name, const struct CMUnitTest *tests, size_t count,
                       CMFixtureFunction setup, CMFixtureFunction teardown);

/* Serves service as instance on the bus ($CAISSON_BUS) with handler and
 * arg until interrupted: the body of a stand-in worker, run in a child
 * started with support_spawn_self. Returns its exit code (1 when the
 * worker could not start). */
int support_serve (const char *service, const char *instance, bus_handler_fn *handler,
                   void *arg);

/* Runs the printf-style shell command with system(3); fails the test,
 * naming the command, unless it exits 0. */
void support_sh (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

/* Asks service for health on c until it answers (each try waits 200 ms,
 * which leaves c's timeout at 200 ms without retries; 200 tries, 50 ms
 * apart); fails the test, naming service, when it never does. */
void support_await_service (bus_client_t *c, const char *service);

/* The result of the tools.result rep (consumed) to the call of tool name,
 * decoded (asserted to decode); *ok is its ok flag. Fails the test, naming
 * name and what came instead (an error's message), on any other reply. */
json_t *support_tools_result (proto_msg_t *rep, const char *name, bool *ok);

/* The result r of a call of tool name (returned), after asserting its ok
 * flag is expect_ok; fails the test with r's text otherwise. */
json_t *support_tools_expect (json_t *r, const char *name, bool ok, bool expect_ok);

/* Sends req (consumed) to service on c without waiting for the reply,
 * which comes to bus_client_recv (asserted encoded and sent). */
void support_send (bus_client_t *c, const char *service, proto_msg_t *req);

/* A tools.call (the caller's) of tool name with args and limits (JSON
 * texts, asserted to parse; limits may be NULL) as call_id (NULL for a
 * fresh id), a dry run when dry. */
proto_msg_t *support_tools_call_new (const char *name, const char *call_id, bool dry,
                                     const char *args, const char *limits);

/* The string at key in the JSON object v (borrowed), "" when absent. */
const char *support_json_str (const json_t *v, const char *key);

/* The code of the error in a tool's result v, "" when it has none. */
const char *support_json_error_code (const json_t *v);

/* JSON object text {"sandboxId":sandbox, ...} with the members fmt (printf
 * style; may be "", so not checked as a format) after the id; static
 * storage, valid until the next call. */
char *support_sbx_args (const char *sandbox, const char *fmt, ...);

/* Starts caisson-llm-replay serving the cassettes in dir on 127.0.0.1:port,
 * wanting key as the Bearer token when key is not NULL; its pid. */
pid_t support_spawn_llm_replay (int port, const char *dir, const char *key);

/* Starts caisson-llm-replay (support_spawn_llm_replay, no key) serving the
 * cassettes in dir on port, and waits up to 5 s for ready () to say it
 * answers; true when it did. The pid is kept for support_llm_replay_down. */
bool support_llm_replay_up (int port, const char *dir, bool (*ready) (void));

/* Asks ready () up to 100 times, 50 ms apart (5 s), until it says true;
 * whether it did. */
bool support_poll (bool (*ready) (void));

/* A cmocka group teardown: the caisson-llm-replay support_llm_replay_up
 * started must exit cleanly when stopped. */
int support_llm_replay_down (void **state);

/* A loopback TCP port free at the moment of asking, below the kernel's
 * ephemeral range (so no outgoing connection takes it meanwhile), not
 * given before in this process; released at once. */
int support_free_port (void);

/* Writes this program's own path (for support_spawn_self's re-exec) into
 * buf of size (always terminated, "" when unknown). */
void support_self_exe (char *buf, size_t size);

/* `caisson up --detach` in this environment, with caisson-llm-replay on
 * 127.0.0.1:replay_port (CAISSON_LLM_REPLAY_PORT and _URL), the HTTP API
 * on 127.0.0.1:http_port and no real model (MODEL and the provider keys
 * unset); fails the test when it does not come up. */
void support_stack_up (int replay_port, int http_port);

/* `caisson down`, asserted to succeed. */
void support_stack_down (void);

/* Runs `caisson run --json TASK` in the background with its output in
 * path (killed with the test); its pid. */
pid_t support_run_in_background (const char *task, const char *path);

/* Waits up to 60 s for the first event of kind (and, when name is not
 * NULL, whose data names that tool) in the JSON-lines output at path;
 * returns it (new). Fails the test when none comes. */
json_t *support_await_event (const char *path, const char *kind, const char *name);

/* Waits for the `ask_approval` event in the run's output at path; fills
 * in the run id and the call awaiting approval (each of size len). */
void support_await_approval (const char *path, char *run, char *call, size_t len);

/* Points CAISSON_TOOLS_REPO_ALLOW at every repository under dir (resolved:
 * tool-runner compares real paths). */
void support_tools_allow_repos_under (const char *dir);

/* What a run_host_t stand-in's emit does with a run's event: checks data
 * against kind's declaration in proto/events.def (the test fails when it
 * does not match) and appends {kind, data} (data taken) to events. */
void support_record_event (json_t *events, evk_kind_t kind, json_t *data);

/* A bus client on CAISSON_BUS once every service named (NULL-ended) is
 * up, with requests timing out after 5 s and retried twice. */
bus_client_t *support_client_when_up (const char *const services[]);

/* Points CAISSON_LLM_REPLAY_URL at a free local port, for a
 * caisson-llm-replay started there (support_spawn_llm_replay), and writes
 * the tests' cassette directory into dir. Returns the port. */
int support_replay_env (char *dir, size_t dirlen);

#endif
