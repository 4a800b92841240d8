/* test_profile_run: versioned profiles through the real stack. event-log
 * keeps them (proto/profiles.def); the orchestrator asks for one at every
 * run.start and runs with it. The bus, event-log, the orchestrator, the
 * scripted model (caisson-llm-replay: a task it does not know is answered
 * in one turn) and a stand-in tool-runner (this program re-run as
 * `tools`); and a capturing model (this program re-run as `capture`,
 * reached as provider ollama/) that writes down every request it is sent,
 * so the profile's system prompt and tool descriptions are checked where
 * they matter: in what the model gets. Then the CLI, `caisson profile`,
 * against the same stack, and run.start while event-log is down. The
 * tests run in order over one stack: each takes the profiles as the one
 * before left them. */
#define _GNU_SOURCE /* strcasestr */
#include "support.h"
#include "bus_client.h"
#include "mpjson.h"
#include "tools_standin.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROMPT_1 "You are Caisson's agent, profile one.\nWork in small steps.\n"
#define PROMPT_2 "You are Caisson's agent, profile two.\nWork in small steps.\n"
#define DESC_1 "Runs one shell command in the sandbox (profile one's words)"
#define CAPTURE_PROMPT "You are the capture profile's agent."
#define CAPTURE_DESC "Opens a pull request (the capture profile's words)"
#define CANARY_RUNS 200
#define STEPS_CEILING 30

static char s_self[1024], s_replay_url[128], s_ollama_url[128], s_capture_path[1100];
static const char *s_dir;
static pid_t s_bus, s_elog, s_replay, s_tools, s_orch, s_capture;
static bus_client_t *s_client;
static char s_why[512];         /* the last run.start refusal's message */
static const char *s_model;     /* the model start() asks for; NULL: none */

/* ---- the stand-ins: tool-runner, and a model that records requests ---- */

static proto_msg_t *
tools_handler (const proto_msg_t *req, void *arg)
{
    (void) arg;
    static const char *const names[] = { "createSandbox", "writeFiles", "runCommand",
                                         "git.openPR" };
    if (req->type == PROTO_tools_list)
        return standin_catalogue (req, names, 4, "stand-in ", 3);
    if (req->type != PROTO_tools_call)
        return proto_error_new (req, PROTO_ERR_unknown_type, "stand-in serves tools only");
    return standin_result (req, json_pack ("{s:b, s:s}", "success", 1, "id", "pr-1"), 1000);
}

static void
say_sse (int fd, const char *delta, const char *finish)
{
    char buf[1024];
    int n = snprintf (buf, sizeof buf,
                      "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":"
                      "[{\"index\":0,\"delta\":%s,\"finish_reason\":null}]}\n\n"
                      "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":"
                      "[{\"index\":0,\"delta\":{},\"finish_reason\":\"%s\"}],\"usage\":"
                      "{\"prompt_tokens\":10,\"completion_tokens\":2,\"total_tokens\":12}}\n\n"
                      "data: [DONE]\n\n", delta, finish);
    if (write (fd, buf, (size_t) n) != n)
        perror ("capture: write");
}

/* One request: its body appended to path, one line; answered with a call
 * of git.openPR (gated) on a conversation with no tool result yet, else
 * with a text. */
static void
capture_one (int fd, const char *path)
{
    static char req[1 << 21];
    size_t got = 0;
    char *body = NULL;
    while (got < sizeof req - 1) {
        ssize_t n = read (fd, req + got, sizeof req - 1 - got);
        if (n <= 0)
            return;
        got += (size_t) n;
        req[got] = 0;
        if ((body = strstr (req, "\r\n\r\n")))
            break;
    }
    if (!body)
        return;
    body += 4;
    const char *cl = strcasestr (req, "content-length:");
    size_t want = cl ? strtoul (cl + 15, NULL, 10) : 0;
    if (strcasestr (req, "expect: 100-continue") && body - req == (ptrdiff_t) got) {
        const char *go = "HTTP/1.1 100 Continue\r\n\r\n";
        if (write (fd, go, strlen (go)) < 0)
            return;
    }
    while ((size_t) (req + got - body) < want && got < sizeof req - 1) {
        ssize_t n = read (fd, req + got, sizeof req - 1 - got);
        if (n <= 0)
            return;
        got += (size_t) n;
    }
    req[got] = 0;
    FILE *f = fopen (path, "a");
    if (f) {
        fprintf (f, "%s\n", body);
        fclose (f);
    }
    const char *head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                       "Connection: close\r\n\r\n";
    if (write (fd, head, strlen (head)) < 0)
        return;
    if (strstr (body, "\"role\":\"tool\"") || strstr (body, "Name this conversation"))
        say_sse (fd, "{\"role\":\"assistant\",\"content\":\"Captured.\"}", "stop");
    else
        say_sse (fd, "{\"role\":\"assistant\",\"tool_calls\":[{\"index\":0,\"id\":\"call_c1\","
                 "\"type\":\"function\",\"function\":{\"name\":\"git__openPR\","
                 "\"arguments\":\"{}\"}}]}", "tool_calls");
}

static int
capture_main (int port, const char *path)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0), on = 1;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (bind (fd, (struct sockaddr *) &a, sizeof a) || listen (fd, 16)) {
        perror ("capture: bind");
        close (fd);
        return 1;
    }
    for (;;) {
        int c = accept (fd, NULL, NULL);
        if (c < 0)
            continue;
        capture_one (c, path);
        close (c);
    }
}

/* ---- the stack ---- */

static pid_t
spawn_orchestrator (void)
{
    static char steps[64];
    snprintf (steps, sizeof steps, "CAISSON_RUN_MAX_STEPS=%d", STEPS_CEILING);
    const char *env[] = { "MODEL=replay/demo", "CAISSON_LLM_TIMEOUT_MS=10000", steps,
                          s_replay_url, s_ollama_url, NULL };
    return support_spawn ("caisson-orchestrator", env);
}

static int
stack_up (void **state)
{
    (void) state;
    s_dir = support_sandbox_env ("profile_run");
    int port = support_free_port (), cport = support_free_port ();
    static char port_env[64], dir_env[1024], cport_s[16];
    snprintf (port_env, sizeof port_env, "CAISSON_LLM_REPLAY_PORT=%d", port);
    snprintf (s_replay_url, sizeof s_replay_url, "CAISSON_LLM_REPLAY_URL=http://127.0.0.1:%d/v1",
              port);
    snprintf (s_ollama_url, sizeof s_ollama_url, "OLLAMA_BASE_URL=http://127.0.0.1:%d/v1", cport);
    snprintf (dir_env, sizeof dir_env, "CAISSON_LLM_REPLAY_DIR=%s/services/llm-replay/cassettes",
              CAISSON_SOURCE_DIR);
    snprintf (s_capture_path, sizeof s_capture_path, "%s/capture.jsonl", s_dir);
    snprintf (cport_s, sizeof cport_s, "%d", cport);
    s_bus = support_spawn ("caisson-bus", NULL);
    s_elog = support_spawn ("caisson-event-log", NULL);
    s_replay = support_spawn ("caisson-llm-replay", (const char *[]) { port_env, dir_env, NULL });
    s_tools = support_spawn_self ((const char *[]) { s_self, "tools", NULL });
    s_capture = support_spawn_self ((const char *[]) { s_self, "capture", cport_s,
                                                       s_capture_path, NULL });
    s_orch = spawn_orchestrator ();
    s_client = bus_client_new (getenv ("CAISSON_BUS"));
    bus_client_set_timeout (s_client, 5000, 2);
    support_await_service (s_client, "event-log");
    support_await_service (s_client, "tool-runner");
    support_await_service (s_client, "orchestrator");
    return 0;
}

static int
stack_down (void **state)
{
    (void) state;
    bus_client_destroy (&s_client);
    support_expect_clean_exit (s_orch);
    pid_t rest[] = { s_capture, s_tools, s_replay, s_elog, s_bus };
    for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++)
        support_stop (rest[i], SIGTERM, 5000);
    return 0;
}

/* ---- asking ---- */

/* req (consumed) sent to service as user (an operator when op). */
static proto_msg_t *
ask (const char *service, proto_msg_t *req, const char *user, bool op)
{
    proto_set_str (&req->env.user, user);
    req->env.op = op;
    proto_msg_t *rep = bus_client_request (s_client, service, req);
    proto_msg_destroy (&req);
    assert_non_null (rep);
    return rep;
}

static const char *
error_code (const proto_msg_t *rep)
{
    return rep->type == PROTO_error ? rep->body.error.code : "";
}

/* profile.create of name with body (JSON text); the version made, or 0
 * when refused (*code filled). */
static uint64_t
create (const char *name, const char *body, const char *user, bool op, char code[32])
{
    proto_msg_t *req = proto_msg_new (PROTO_profile_create, NULL);
    proto_set_str (&req->body.profile_create.name, name);
    json_t *b = json_loads (body, 0, NULL);
    assert_non_null (b);
    mpjson_set (&req->body.profile_create.body, b, 16);
    json_decref (b);
    proto_msg_t *rep = ask ("event-log", req, user, op);
    uint64_t v = rep->type == PROTO_profile ? rep->body.profile.version : 0;
    if (code)
        snprintf (code, 32, "%s", error_code (rep));
    proto_msg_destroy (&rep);
    return v;
}

/* profile.activate (pct 0: for all) or, version 0, profile.rollback:
 * the error code, "" when it was done. */
static char *
rollout (const char *name, uint64_t version, uint64_t pct, const char *user, bool op)
{
    static char code[32];
    proto_msg_t *req;
    if (version) {
        req = proto_msg_new (PROTO_profile_activate, NULL);
        proto_set_str (&req->body.profile_activate.name, name);
        req->body.profile_activate.version = version;
        req->body.profile_activate.canary_percent = pct;
    }
    else {
        req = proto_msg_new (PROTO_profile_rollback, NULL);
        proto_set_str (&req->body.profile_rollback.name, name);
    }
    proto_msg_t *rep = ask ("event-log", req, user, op);
    snprintf (code, sizeof code, "%s", rep->type == PROTO_profile_state ? "" : error_code (rep));
    if (rep->type != PROTO_profile_state && rep->type != PROTO_error)
        fail_msg ("profile.%s answered %s", version ? "activate" : "rollback",
                  proto_type_name (rep->type));
    proto_msg_destroy (&rep);
    return code;
}

/* run.start of task on thread (NULL: a new one) with profile (NULL:
 * none) and budgets (JSON text or NULL). Fills id and got (the profile
 * run.started names) and returns "", or returns the error code. */
static char *
start (const char *task, const char *thread, const char *profile, const char *budgets,
       const char *user, bool op, char id[128], char got[64])
{
    static char code[32];
    proto_msg_t *req = proto_msg_new (PROTO_run_start, NULL);
    proto_set_str (&req->body.run_start.task, task);
    proto_set_str (&req->body.run_start.model, s_model);
    proto_set_str (&req->body.run_start.thread_id, thread);
    proto_set_str (&req->body.run_start.profile, profile);
    json_t *b = budgets ? json_loads (budgets, 0, NULL) : NULL;
    if (b)
        mpjson_set (&req->body.run_start.budgets, b, 8);
    json_decref (b);
    proto_msg_t *rep = ask ("orchestrator", req, user, op);
    snprintf (code, sizeof code, "%s", error_code (rep));
    snprintf (s_why, sizeof s_why, "%s", rep->type == PROTO_error ? rep->body.error.message : "");
    if (rep->type == PROTO_run_started) {
        snprintf (id, 128, "%s", rep->body.run_started.run_id);
        snprintf (got, 64, "%s", rep->body.run_started.profile ? rep->body.run_started.profile
                                                                : "(none)");
    }
    else if (rep->type != PROTO_error)
        fail_msg ("run.start answered %s", proto_type_name (rep->type));
    proto_msg_destroy (&rep);
    return code;
}

/* A run started as the operator `ops`, asserted to start. */
static void
start_ok (const char *task, const char *thread, const char *profile, const char *budgets,
          char id[128], char got[64])
{
    const char *code = start (task, thread, profile, budgets, "ops", true, id, got);
    if (*code)
        fail_msg ("run.start (profile %s) refused: %s", profile ? profile : "-", code);
}

/* The run's stored run_started event's data (new). */
static json_t *
run_started_of (const char *id)
{
    proto_msg_t *req = proto_msg_new (PROTO_events_read, NULL);
    proto_set_str (&req->body.events_read.run, id);
    req->body.events_read.from_seq = 1;
    req->body.events_read.limit = 1;
    proto_msg_t *rep = ask ("event-log", req, "ops", true);
    assert_int_equal (rep->type, PROTO_events_page);
    json_t *events = mpjson_get (&rep->body.events_page.events, 32);
    proto_msg_destroy (&rep);
    json_t *ev = json_array_get (events, 0);
    assert_string_equal (support_json_str (ev, "kind"), "run_started");
    json_t *data = json_incref (json_object_get (ev, "data"));
    json_decref (events);
    return data;
}

/* run.get: status and profile into the buffers (either may be NULL). */
static void
run_get (const char *id, char status[32], char profile[64])
{
    proto_msg_t *req = proto_msg_new (PROTO_run_get, NULL);
    proto_set_str (&req->body.run_get.run_id, id);
    proto_msg_t *rep = ask ("orchestrator", req, "ops", true);
    if (rep->type != PROTO_run_info)
        fail_msg ("run.get %s answered %s: %s", id, proto_type_name (rep->type),
                  rep->type == PROTO_error ? rep->body.error.message : "");
    if (status)
        snprintf (status, 32, "%s", rep->body.run_info.status);
    if (profile)
        snprintf (profile, 64, "%s", rep->body.run_info.profile ? rep->body.run_info.profile
                                                                : "(none)");
    proto_msg_destroy (&rep);
}

/* Waits until run id has status want ("": any end); returns its status. */
static char *
await_status (const char *id, const char *want)
{
    static char status[32];
    for (int i = 0; i < 600; i++) {
        run_get (id, status, NULL);
        bool live = !strcmp (status, "running") || !strncmp (status, "awaiting", 8);
        if (*want ? !strcmp (status, want) : !live)
            return status;
        usleep (50000);
    }
    fail_msg ("run %s never reached '%s' (still %s)", id, *want ? want : "an end", status);
    return status;
}

static json_int_t
budget_of (const json_t *started, const char *key)
{
    return json_integer_value (json_object_get (json_object_get (started, "budgets"), key));
}

/* ---- the tests ---- */

/* No profile stored: the deployment's own settings, as before profiles;
 * a profile asked for by name that is not stored is refused. */
static void
test_builtin (void **state)
{
    (void) state;
    char id[128], got[64], status[32], profile[64];
    start_ok ("hello there", NULL, NULL, NULL, id, got);
    assert_string_equal (got, "builtin");
    json_t *ev = run_started_of (id);
    assert_null (json_object_get (ev, "profile"));
    assert_string_equal (support_json_str (ev, "promptVersion"), "caisson-agent-2");
    assert_int_equal (budget_of (ev, "steps"), STEPS_CEILING);
    json_decref (ev);
    run_get (id, status, profile);
    assert_string_equal (profile, "builtin");
    assert_string_equal (start ("hello", NULL, "default", NULL, "ops", true, id, got),
                         "not_found");
    assert_string_equal (start ("hello", NULL, "nosuch@1", NULL, "ops", true, id, got),
                         "not_found");
    assert_string_equal (start ("hello", NULL, "Bad!", NULL, "ops", true, id, got),
                         "bad_value");
    assert_string_equal (start ("hello", NULL, "default@0", NULL, "ops", true, id, got),
                         "bad_value");
}

/* Version 1 made and activated by an operator (a user may do neither):
 * the next run uses it: its prompt's version, budgets and checks. */
static void
test_activate (void **state)
{
    (void) state;
    char code[32], id[128], got[64], profile[64];
    const char *body = "{\"systemPrompt\": \"" "You are Caisson's agent, profile one.\\nWork in "
                       "small steps.\\n" "\", \"toolDescriptions\": {\"runCommand\": \"" DESC_1
                       "\"}, \"budgets\": {\"steps\": 7, \"toolCalls\": 9}, "
                       "\"checks\": [\"tests_passed\"]}";
    assert_int_equal (create ("default", body, "bob", false, code), 0);
    assert_true (*code);
    assert_int_equal (create ("default", body, "ops", true, code), 1);
    /* not used until activated */
    start_ok ("hello there", NULL, NULL, NULL, id, got);
    assert_string_equal (got, "builtin");
    assert_true (*rollout ("default", 1, 0, "bob", false));
    start_ok ("hello there", NULL, NULL, NULL, id, got);
    assert_string_equal (got, "builtin");
    assert_string_equal (rollout ("default", 1, 0, "ops", true), "");
    start_ok ("hello there", NULL, NULL, NULL, id, got);
    assert_string_equal (got, "default@1");
    json_t *ev = run_started_of (id);
    assert_string_equal (support_json_str (ev, "profile"), "default@1");
    assert_string_equal (support_json_str (ev, "promptVersion"), "default@1");
    assert_int_equal (budget_of (ev, "steps"), 7);
    assert_int_equal (budget_of (ev, "toolCalls"), 9);
    json_t *verify = json_object_get (json_object_get (ev, "policy"), "verify");
    assert_int_equal (json_array_size (verify), 1);
    assert_string_equal (json_string_value (json_array_get (verify, 0)), "tests_passed");
    json_decref (ev);
    run_get (id, NULL, profile);
    assert_string_equal (profile, "default@1");
    /* the request's own budget still wins, within the ceiling */
    start_ok ("hello there", NULL, NULL, "{\"steps\": 3}", id, got);
    ev = run_started_of (id);
    assert_int_equal (budget_of (ev, "steps"), 3);
    assert_int_equal (budget_of (ev, "toolCalls"), 9);
    json_decref (ev);
    assert_string_equal (start ("hello", NULL, NULL, "{\"steps\": 31}", "ops", true, id, got),
                         "bad_value");
}

/* The capturing model: what a run pinned to a profile that names its
 * model sends it, first turn and (after a restart of the orchestrator
 * while the run awaits approval) the turn after. */
static json_t *
captured_last (void)
{
    FILE *f = fopen (s_capture_path, "r");
    static char line[1 << 21];
    json_t *last = NULL;
    while (f && fgets (line, sizeof line, f)) {
        if (strstr (line, "Name this conversation"))
            continue;
        json_decref (last);
        last = json_loads (line, 0, NULL);
    }
    if (f)
        fclose (f);
    assert_non_null (last);
    return last;
}

/* The description of tool (wire name) in request req, "" when absent. */
static const char *
offered (const json_t *req, const char *tool)
{
    size_t i;
    json_t *t;
    json_array_foreach (json_object_get (req, "tools"), i, t) {
        json_t *fn = json_object_get (t, "function");
        if (!strcmp (support_json_str (fn, "name"), tool))
            return support_json_str (fn, "description");
    }
    return "";
}

static void
assert_capture_request (void)
{
    json_t *req = captured_last ();
    json_t *first = json_array_get (json_object_get (req, "messages"), 0);
    assert_string_equal (support_json_str (first, "role"), "system");
    assert_string_equal (support_json_str (first, "content"), CAPTURE_PROMPT);
    assert_string_equal (offered (req, "git__openPR"), CAPTURE_DESC);
    assert_string_equal (offered (req, "runCommand"), "stand-in runCommand");
    json_decref (req);
}

static void
test_prompt_and_restart (void **state)
{
    (void) state;
    char code[32], id[128], got[64], profile[64];
    const char *body = "{\"systemPrompt\": \"" CAPTURE_PROMPT "\", \"toolDescriptions\": "
                       "{\"git.openPR\": \"" CAPTURE_DESC "\"}, \"model\": \"ollama/capture\"}";
    assert_int_equal (create ("capture", body, "ops", true, code), 1);
    /* a pinned version needs no activation, and a user may pin one */
    assert_string_equal (start ("open a pull request", NULL, "capture@1", NULL, "bob", false,
                                id, got), "");
    assert_string_equal (got, "capture@1");
    json_t *ev = run_started_of (id);
    assert_string_equal (support_json_str (ev, "model"), "ollama/capture");
    assert_string_equal (support_json_str (ev, "promptVersion"), "capture@1");
    json_decref (ev);
    await_status (id, "awaiting_approval");
    assert_capture_request ();
    usleep (200000);            /* snapshots are written within 20 ms (runstore.c) */
    support_stop (s_orch, SIGKILL, 5000);
    unlink (s_capture_path);
    s_orch = spawn_orchestrator ();
    support_await_service (s_client, "orchestrator");
    run_get (id, NULL, profile);
    assert_string_equal (profile, "capture@1");
    proto_msg_t *req = proto_msg_new (PROTO_run_approve, NULL);
    proto_set_str (&req->body.run_approve.run_id, id);
    proto_set_str (&req->body.run_approve.tool_call_id, "call_c1");
    proto_msg_t *rep = ask ("orchestrator", req, "bob", false);
    assert_int_equal (rep->type, PROTO_run_info);
    proto_msg_destroy (&rep);
    assert_string_equal (await_status (id, ""), "completed");
    /* the resumed run's next turn had the profile's prompt and words */
    assert_capture_request ();
    run_get (id, NULL, profile);
    assert_string_equal (profile, "capture@1");
    /* the request's model wins over the profile's */
    s_model = "replay/demo";
    start_ok ("hello there", NULL, "capture@1", NULL, id, got);
    s_model = NULL;
    ev = run_started_of (id);
    assert_string_equal (support_json_str (ev, "model"), "replay/demo");
    assert_string_equal (support_json_str (ev, "promptVersion"), "capture@1");
    json_decref (ev);
}

/* Version 2 and how it differs from 1. */
static void
test_diff (void **state)
{
    (void) state;
    char code[32];
    const char *body = "{\"systemPrompt\": \"" "You are Caisson's agent, profile two.\\nWork in "
                       "small steps.\\n" "\", \"budgets\": {\"steps\": 1000000}}";
    assert_int_equal (create ("default", body, "ops", true, code), 2);
    proto_msg_t *req = proto_msg_new (PROTO_profile_diff, NULL);
    proto_set_str (&req->body.profile_diff.name, "default");
    req->body.profile_diff.a = 1;
    req->body.profile_diff.b = 2;
    proto_msg_t *rep = ask ("event-log", req, "bob", false);
    assert_int_equal (rep->type, PROTO_profile_diff_result);
    const char *diff = rep->body.profile_diff_result.diff;
    assert_non_null (strstr (diff, "-You are Caisson's agent, profile one."));
    assert_non_null (strstr (diff, "+You are Caisson's agent, profile two."));
    assert_null (strstr (diff, "-Work in small steps."));
    proto_msg_destroy (&rep);
}

/* Version 2 as a canary for 30% of new threads: the share over 200 new
 * threads is within 30 +- 8%, a thread keeps its version, and rolling
 * back gives every new run version 1 again. */
static void
test_canary_and_rollback (void **state)
{
    (void) state;
    assert_true (*rollout ("default", 2, 30, "bob", false));
    assert_string_equal (rollout ("default", 2, 30, "ops", true), "");
    static char ids[CANARY_RUNS][128], versions[CANARY_RUNS][64];
    char thread[64], id[128], got[64];
    int on_two = 0;
    for (int i = 0; i < CANARY_RUNS; i++) {
        snprintf (thread, sizeof thread, "canary-%03d", i);
        start_ok ("hello there", thread, NULL, NULL, ids[i], versions[i]);
        if (!strcmp (versions[i], "default@2"))
            on_two++;
        else
            assert_string_equal (versions[i], "default@1");
    }
    print_message ("canary: %d of %d runs on default@2\n", on_two, CANARY_RUNS);
    assert_in_range (on_two, CANARY_RUNS * 22 / 100, CANARY_RUNS * 38 / 100);
    for (int i = 0; i < CANARY_RUNS; i++)
        await_status (ids[i], "");
    /* a thread keeps its version; version 2's budget is capped at the
     * deployment's ceiling */
    for (int i = 0; i < 20; i++) {
        snprintf (thread, sizeof thread, "canary-%03d", i);
        start_ok ("hello again", thread, NULL, NULL, id, got);
        assert_string_equal (got, versions[i]);
        if (!strcmp (got, "default@2")) {
            json_t *ev = run_started_of (id);
            assert_int_equal (budget_of (ev, "steps"), STEPS_CEILING);
            assert_string_equal (support_json_str (ev, "promptVersion"), "default@2");
            json_decref (ev);
        }
        await_status (id, "");
    }
    /* rollback withdraws the candidate: version 1 for every thread */
    assert_true (*rollout ("default", 0, 0, "bob", false));
    assert_string_equal (rollout ("default", 0, 0, "ops", true), "");
    for (int i = 0; i < 40; i++) {
        snprintf (thread, sizeof thread, "canary-%03d", i);
        start_ok ("hello after", thread, NULL, NULL, id, got);
        assert_string_equal (got, "default@1");
        await_status (id, "");
    }
    /* version 2 for all, then back to 1, then nothing to go back to */
    assert_string_equal (rollout ("default", 2, 0, "ops", true), "");
    start_ok ("hello there", NULL, NULL, NULL, id, got);
    assert_string_equal (got, "default@2");
    assert_string_equal (rollout ("default", 0, 0, "ops", true), "");
    start_ok ("hello there", NULL, NULL, NULL, id, got);
    assert_string_equal (got, "default@1");
    assert_string_equal (rollout ("default", 0, 0, "ops", true), "bad_state");
    start_ok ("hello there", NULL, NULL, NULL, id, got);
    assert_string_equal (got, "default@1");
}

/* A pinned version whatever is active, by a user too; an unknown one is
 * refused. */
static void
test_pinned (void **state)
{
    (void) state;
    char id[128], got[64];
    assert_string_equal (start ("hello there", NULL, "default@2", NULL, "bob", false, id, got),
                         "");
    assert_string_equal (got, "default@2");
    json_t *ev = run_started_of (id);
    assert_string_equal (support_json_str (ev, "profile"), "default@2");
    json_decref (ev);
    start_ok ("hello there", NULL, "default@1", NULL, id, got);
    assert_string_equal (got, "default@1");
    start_ok ("hello there", NULL, "default", NULL, id, got);
    assert_string_equal (got, "default@1");
    assert_string_equal (start ("hello", NULL, "default@99", NULL, "bob", false, id, got),
                         "not_found");
    assert_non_null (strstr (s_why, "default@99"));
    assert_string_equal (start ("hello", NULL, "ghost", NULL, "bob", false, id, got),
                         "not_found");
    assert_non_null (strstr (s_why, "ghost"));
    /* a body the orchestrator cannot use (a check verify does not know)
     * is refused naming the profile, not run without it */
    char code[32];
    assert_int_equal (create ("lint", "{\"checks\": [\"lint\"]}", "ops", true, code), 1);
    assert_string_equal (start ("hello", NULL, "lint@1", NULL, "ops", true, id, got),
                         "bad_value");
    assert_non_null (strstr (s_why, "lint@1"));
    assert_non_null (strstr (s_why, "unknown check 'lint'"));
}

/* `caisson profile ...` and `caisson run --profile` against the stack. */
static void
test_cli (void **state)
{
    (void) state;
    static char out[1 << 16];
    char path[1100];
    snprintf (path, sizeof path, "%s/cli-body.json", s_dir);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs ("{\"systemPrompt\": \"CLI prompt, first words.\", \"budgets\": {\"steps\": 5}}", f);
    fclose (f);
    const char *create1[] = { "caisson", "profile", "create", "cli", "--file", path, "--note",
                              "first cut", "--data", s_dir, NULL };
    assert_int_equal (support_run (create1, out, sizeof out), 0);
    assert_non_null (strstr (out, "created cli@1"));
    f = fopen (path, "w");
    fputs ("{\"systemPrompt\": \"CLI prompt, second words.\", \"budgets\": {\"steps\": 5}}", f);
    fclose (f);
    const char *create2[] = { "caisson", "profile", "create", "cli", "--file", path, "--data",
                              s_dir, NULL };
    assert_int_equal (support_run (create2, out, sizeof out), 0);
    assert_non_null (strstr (out, "created cli@2"));
    const char *show[] = { "caisson", "profile", "show", "cli@1", "--data", s_dir, NULL };
    assert_int_equal (support_run (show, out, sizeof out), 0);
    assert_non_null (strstr (out, "cli@1"));
    assert_non_null (strstr (out, "first cut"));
    assert_non_null (strstr (out, "CLI prompt, first words."));
    const char *diff[] = { "caisson", "profile", "diff", "cli", "1", "2", "--data", s_dir, NULL };
    assert_int_equal (support_run (diff, out, sizeof out), 0);
    assert_non_null (strstr (out, "-CLI prompt, first words."));
    assert_non_null (strstr (out, "+CLI prompt, second words."));
    const char *act1[] = { "caisson", "profile", "activate", "cli", "1", "--data", s_dir, NULL };
    assert_int_equal (support_run (act1, out, sizeof out), 0);
    assert_non_null (strstr (out, "cli: active 1"));
    const char *canary[] = { "caisson", "profile", "activate", "cli", "2", "--canary", "30",
                             "--data", s_dir, NULL };
    assert_int_equal (support_run (canary, out, sizeof out), 0);
    assert_non_null (strstr (out, "candidate 2 at 30%"));
    const char *list[] = { "caisson", "profile", "list", "--data", s_dir, NULL };
    assert_int_equal (support_run (list, out, sizeof out), 0);
    assert_non_null (strstr (out, "cli: active 1, candidate 2 at 30%"));
    assert_non_null (strstr (out, "default: active 1"));
    assert_non_null (strstr (out, "capture: no active version"));
    assert_non_null (strstr (out, "first cut"));
    const char *rollback[] = { "caisson", "profile", "rollback", "cli", "--json", "--data",
                               s_dir, NULL };
    assert_int_equal (support_run (rollback, out, sizeof out), 0);
    json_t *state_j = json_loads (out, 0, NULL);
    json_t *cli = json_array_get (json_object_get (state_j, "profiles"), 0);
    assert_string_equal (support_json_str (cli, "name"), "cli");
    assert_int_equal (json_integer_value (json_object_get (cli, "active")), 1);
    assert_null (json_object_get (cli, "candidate"));
    json_decref (state_j);
    /* nothing to go back to: refused, exit 1 */
    assert_int_equal (support_run (rollback, out, sizeof out), 1);
    const char *bad[] = { "caisson", "profile", "activate", "cli", "x", "--data", s_dir, NULL };
    assert_int_equal (support_run (bad, NULL, 0), 2);
    /* a run through the CLI, pinned */
    const char *run[] = { "caisson", "run", "--json", "--profile", "cli@2", "hello from the cli",
                          "--data", s_dir, NULL };
    assert_int_equal (support_run (run, out, sizeof out), 0);
    assert_non_null (strstr (out, "\"profile\":\"cli@2\""));
    assert_non_null (strstr (out, "\"promptVersion\":\"cli@2\""));
    /* stats group finished runs by the prompt's version */
    const char *stats[] = { "caisson", "stats", "--json", "--data", s_dir, NULL };
    assert_int_equal (support_run (stats, out, sizeof out), 0);
    assert_non_null (strstr (out, "default@1"));
    assert_non_null (strstr (out, "cli@2"));
}

/* event-log does not answer: run.start fails rather than run on
 * settings nobody chose, as when run_started cannot be stored. */
static void
test_eventlog_down (void **state)
{
    (void) state;
    char id[128], got[64];
    support_stop (s_elog, SIGTERM, 5000);
    bus_client_set_timeout (s_client, 30000, 1);
    assert_string_equal (start ("hello there", NULL, NULL, NULL, "ops", true, id, got),
                         "unavailable");
    assert_non_null (strstr (s_why, "profile"));
    bus_client_set_timeout (s_client, 5000, 2);
    s_elog = support_spawn ("caisson-event-log", NULL);
    support_await_service (s_client, "event-log");
    start_ok ("hello there", NULL, NULL, NULL, id, got);
    assert_string_equal (got, "default@1");
}

int
main (int argc, char **argv)
{
    support_self_exe (s_self, sizeof s_self);
    if (argc > 1 && !strcmp (argv[1], "tools"))
        return support_serve ("tool-runner", "standin", tools_handler, NULL);
    if (argc > 3 && !strcmp (argv[1], "capture"))
        return capture_main (atoi (argv[2]), argv[3]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_builtin),
        cmocka_unit_test (test_activate),
        cmocka_unit_test (test_prompt_and_restart),
        cmocka_unit_test (test_diff),
        cmocka_unit_test (test_canary_and_rollback),
        cmocka_unit_test (test_pinned),
        cmocka_unit_test (test_cli),
        cmocka_unit_test (test_eventlog_down),
    };
    return support_run_group ("profile_run", tests, sizeof tests / sizeof tests[0], stack_up,
                              stack_down);
}
