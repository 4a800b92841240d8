/* test_redteam_capacity: the attacks of issue 11 on shared capacity, tokens
 * and full stores, each as a tenant or a network peer would make it, each
 * asserting that it fails:
 * - alice floods tool-runner's job slots with slow calls; bob's call still
 *   runs at once (a user holds at most a share of the slots);
 * - a run whose tool call finds tool-runner busy waits and tries again,
 *   and completes, rather than handing `busy` to the model as the result;
 * - 320 stalled unauthenticated connections from five loopback addresses;
 *   an authenticated user still gets answers; one user's requests in
 *   flight are limited, and another user's are still served;
 * - an expired token, and a token revoked while ui-bridge runs, get 401;
 *   guessing tokens from one address gets it 429 (even with a right
 *   token) while another address still authenticates; `caisson token
 *   list` shows the last use and never the token;
 * - with event-log's store full (its map at the limit, or its disk full),
 *   POST /api/runs is not acknowledged (no 201 for a run that is then
 *   lost), and what was stored stays.
 * Real binaries throughout (broker, tool-runner, event-log, orchestrator,
 * ui-bridge, the scripted model); sandbox requests are served by
 * fake_sandbox.c (this program run as `test_redteam_capacity
 * fake-sandbox`). */
#define _GNU_SOURCE
#include "support.h"
#include "ui_support.h"
#include "eventlog_util.h"
#include "fake_sandbox.h"
#include "bus_client.h"
#include "mpjson.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char s_self[1024];

/* ---- the bus ------------------------------------------------------------ */

/* A tools.call of tool name with args (consumed) as user (not sent). */
static proto_msg_t *
tools_call (const char *user, const char *name, json_t *args)
{
    proto_msg_t *req = proto_msg_new (PROTO_tools_call, NULL);
    char id[CID_SIZE];
    cid_new (id);
    proto_set_str (&req->env.user, user);
    proto_set_str (&req->body.tools_call.name, name);
    proto_set_str (&req->body.tools_call.call_id, id);
    mpjson_set (&req->body.tools_call.args, args, 8);
    json_decref (args);
    return req;
}

/* A tools.call of runCommand in sandbox as user (not sent). */
static proto_msg_t *
run_command (const char *user, const char *sandbox, const char *command)
{
    return tools_call (user, "runCommand",
                       json_pack ("{s:s, s:s, s:i}", "sandboxId", sandbox, "command", command,
                                  "timeoutSeconds", 60));
}

/* A sandbox of user's, made through tool-runner. */
static void
create_sandbox (bus_client_t *c, const char *user, char out[96])
{
    json_t *args = json_pack ("{s:s, s:s}", "name", "flood", "language", "python");
    proto_msg_t *req = tools_call (user, "createSandbox", args);
    bus_client_set_timeout (c, 5000, 0);
    proto_msg_t *rep = bus_client_request (c, "tool-runner", req);
    proto_msg_destroy (&req);
    bool ok;
    json_t *r = support_tools_result (rep, "createSandbox", &ok);
    snprintf (out, 96, "%s", json_string_value (json_object_get (r, "sandboxId")) ?: "");
    assert_true (strlen (out) > 5);
    json_decref (r);
}

/* alice's flood: count calls of `sleep secs` sent and not waited for, on
 * their own client (returned, to be destroyed when done). */
static bus_client_t *
flood (const char *user, const char *sandbox, int count, int secs)
{
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    assert_non_null (c);
    char command[32];
    snprintf (command, sizeof command, "sleep %d", secs);
    for (int i = 0; i < count; i++) {
        support_send (c, "tool-runner", run_command (user, sandbox, command));
    }
    return c;
}

/* ---- tool-runner's slots -------------------------------------------------- */

static pid_t
spawn_fake_sandbox (void)
{
    return support_spawn_self ((const char *[]) { s_self, "fake-sandbox", NULL });
}

/* alice fills every slot tool-runner has (16) with slow commands; bob's
 * call still runs, promptly, and succeeds. */
static void
test_tool_slots_shared (void **state)
{
    (void) state;
    support_sandbox_env ("rt-slots");
    pid_t bus = support_spawn ("caisson-bus", NULL);
    pid_t fake = spawn_fake_sandbox ();
    pid_t tools = support_spawn ("caisson-tool-runner", NULL);
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    support_await_service (c, "tool-runner");
    support_await_service (c, "sandbox-manager");
    char alice_sbx[96], bob_sbx[96];
    create_sandbox (c, "alice", alice_sbx);
    create_sandbox (c, "bob", bob_sbx);
    bus_client_t *flooder = flood ("alice", alice_sbx, 16, 8);
    usleep (500000);            /* her calls have taken their slots */
    proto_msg_t *req = run_command ("bob", bob_sbx, "echo bob-ran");
    bus_client_set_timeout (c, 3000, 0);
    int64_t t0 = zclock_mono ();
    proto_msg_t *rep = bus_client_request (c, "tool-runner", req);
    int64_t took = zclock_mono () - t0;
    proto_msg_destroy (&req);
    assert_non_null (rep);
    if (rep->type == PROTO_error)
        fail_msg ("bob's call was refused while alice floods: %s: %s", rep->body.error.code,
                  rep->body.error.message);
    assert_int_equal (rep->type, PROTO_tools_result);
    assert_true (rep->body.tools_result.ok);
    char why[64];
    json_t *r = mpjson_decode (rep->body.tools_result.result.data,
                               rep->body.tools_result.result.size, 16, why, sizeof why);
    assert_non_null (strstr (json_string_value (json_object_get (r, "stdout")) ?: "", "bob-ran"));
    json_decref (r);
    proto_msg_destroy (&rep);
    assert_true (took < 2500);
    /* and alice herself got no more than her share: the rest were busy */
    int busy = 0;
    bus_client_set_timeout (flooder, 200, 0);
    for (int i = 0; i < 16; i++) {
        proto_msg_t *m = bus_client_recv (flooder, 500, NULL);
        if (!m)
            break;
        busy += m->type == PROTO_error && !strcmp (m->body.error.code, "busy");
        proto_msg_destroy (&m);
    }
    assert_int_equal (busy, 8);
    bus_client_destroy (&flooder);
    bus_client_destroy (&c);
    support_stop (tools, SIGKILL, 1000);
    support_stop (fake, SIGTERM, 2000);
    support_stop (bus, SIGTERM, 2000);
}

/* With every slot taken, a run's first tool call finds tool-runner busy:
 * the run waits, tries again once a slot is free, and completes; no tool
 * result of the run is `busy`. */
static void
test_busy_retried (void **state)
{
    (void) state;
    const char *dir = support_sandbox_env ("rt-busy");
    int port = 10000 + (int) (getpid () % 20000) + (int) (time (NULL) % 7) * 3;
    char port_env[64], url_env[128], dir_env[1024];
    snprintf (port_env, sizeof port_env, "CAISSON_LLM_REPLAY_PORT=%d", port);
    snprintf (url_env, sizeof url_env, "CAISSON_LLM_REPLAY_URL=http://127.0.0.1:%d/v1", port);
    snprintf (dir_env, sizeof dir_env, "CAISSON_LLM_REPLAY_DIR=%s/services/llm-replay/cassettes",
              CAISSON_SOURCE_DIR);
    const char *renv[] = { port_env, dir_env, NULL };
    const char *tenv[] = { "CAISSON_TOOLS_CONCURRENCY=2", "CAISSON_TOOLS_SLOTS_PER_USER=2", NULL };
    const char *oenv[] = { "MODEL=replay/demo", url_env, NULL };
    pid_t bus = support_spawn ("caisson-bus", NULL);
    pid_t fake = spawn_fake_sandbox ();
    pid_t tools = support_spawn ("caisson-tool-runner", tenv);
    pid_t elog = support_spawn ("caisson-event-log", NULL);
    pid_t replay = support_spawn ("caisson-llm-replay", renv);
    pid_t orch = support_spawn ("caisson-orchestrator", oenv);
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    support_await_service (c, "tool-runner");
    support_await_service (c, "sandbox-manager");
    support_await_service (c, "event-log");
    support_await_service (c, "orchestrator");
    char sbx[96];
    create_sandbox (c, "alice", sbx);
    bus_client_t *flooder = flood ("alice", sbx, 2, 3);
    usleep (300000);
    proto_msg_t *req = proto_msg_new (PROTO_run_start, NULL);
    proto_set_str (&req->env.user, "carol");
    proto_set_str (&req->body.run_start.task,
                   "write a python reverse_string function with unit tests and run them");
    bus_client_set_timeout (c, 10000, 0);
    proto_msg_t *rep = bus_client_request (c, "orchestrator", req);
    proto_msg_destroy (&req);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_run_started);
    char run[CID_SIZE];
    snprintf (run, sizeof run, "%s", rep->body.run_started.run_id);
    proto_msg_destroy (&rep);
    char status[32] = "";
    for (int i = 0; i < 300; i++) {
        req = proto_msg_new (PROTO_run_get, NULL);
        proto_set_str (&req->env.user, "carol");       /* her run: no one else may read it */
        proto_set_str (&req->body.run_get.run_id, run);
        bus_client_set_timeout (c, 1000, 1);
        rep = bus_client_request (c, "orchestrator", req);
        proto_msg_destroy (&req);
        if (rep && rep->type == PROTO_run_info)
            snprintf (status, sizeof status, "%s", rep->body.run_info.status);
        proto_msg_destroy (&rep);
        if (*status && strcmp (status, "running"))
            break;
        usleep (100000);
    }
    /* what the transcript says of each tool call */
    const char *argv[] = { "caisson", "show", run, "--json", NULL };
    static char out[1 << 18];
    assert_int_equal (support_run (argv, out, sizeof out), 0);
    if (strstr (out, "\"busy\""))
        fail_msg ("a tool result of the run is busy:\n%s", out);
    assert_string_equal (status, "completed");
    assert_non_null (strstr (out, "\"sandboxId\""));
    (void) dir;
    bus_client_destroy (&flooder);
    bus_client_destroy (&c);
    support_expect_clean_exit (orch);
    support_stop (replay, SIGTERM, 2000);
    support_stop (elog, SIGTERM, 2000);
    support_stop (tools, SIGKILL, 1000);
    support_stop (fake, SIGTERM, 2000);
    support_stop (bus, SIGTERM, 2000);
}

/* ---- HTTP from a chosen loopback address ---------------------------------- */

/* One request from address from; returns the status (0: no answer) and
 * the response (headers and body) in out. */
static int
http_from (const char *from, const char *method, const char *path, const char *token,
           const char *body, char *out, size_t outlen)
{
    out[0] = '\0';
    int fd = ui_connect_from (from);
    if (fd < 0)
        return 0;
    char req[4096], auth[256] = "";
    if (token)
        snprintf (auth, sizeof auth, "Authorization: Bearer %s\r\n", token);
    int n = snprintf (req, sizeof req, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                      method, path, auth, body ? strlen (body) : 0, body ? body : "");
    if (write (fd, req, (size_t) n) != n) {
        close (fd);
        return 0;
    }
    size_t got = 0;
    ssize_t r;
    while (got + 1 < outlen && (r = read (fd, out + got, outlen - 1 - got)) > 0)
        got += (size_t) r;
    out[got] = '\0';
    close (fd);
    int status = 0;
    sscanf (out, "HTTP/1.%*d %d", &status);
    return status;
}

static pid_t s_bus, s_elog, s_bridge;

/* The broker, event-log and ui-bridge, with extra settings for the bridge. */
static void
ui_stack_up (const char *name, const char *const bridge_env[])
{
    support_sandbox_env (name);
    ui_pick_port ();
    s_bus = support_spawn ("caisson-bus", NULL);
    s_elog = support_spawn ("caisson-event-log", NULL);
    s_bridge = support_spawn ("caisson-ui-bridge", bridge_env);
    assert_int_equal (ui_wait_ready (), 0);
}

static void
ui_stack_down (void)
{
    support_expect_clean_exit (s_bridge);
    support_stop (s_elog, SIGTERM, 2000);
    support_stop (s_bus, SIGTERM, 2000);
}

/* A token made with the CLI: `caisson token create --user user [extra]`. */
static void
make_token (const char *user, const char *extra, char out[128])
{
    const char *argv[] = { "caisson", "token", "create", "--user", user, extra ? "--expires" : NULL,
                           extra, NULL };
    assert_int_equal (support_run (argv, out, 128), 0);
    out[strcspn (out, "\n")] = '\0';
    assert_true (strlen (out) > 20);
}

/* 320 connections from 127.0.0.2..6 that send half a request line and
 * stall; an authenticated user's requests are still answered, at once. */
static void
test_stalled_anonymous (void **state)
{
    (void) state;
    ui_stack_up ("rt-stall", NULL);
    char token[128], out[8192];
    make_token ("alice", NULL, token);
    int fds[320], open_ = 0;
    for (int i = 0; i < 320; i++) {
        char from[32];
        snprintf (from, sizeof from, "127.0.0.%d", 2 + i % 5);
        fds[i] = ui_connect_from (from);
        if (fds[i] >= 0) {
            open_++;
            const char *part = "GET /api/runs HTTP/1.1\r\nHost: x\r\n";
            ssize_t w = write (fds[i], part, strlen (part));
            (void) w;
        }
    }
    assert_true (open_ >= 300);
    usleep (300000);
    for (int i = 0; i < 5; i++) {
        int64_t t0 = zclock_mono ();
        int status = http_from ("127.0.0.1", "GET", "/api/runs", token, NULL, out, sizeof out);
        if (status != 200)
            fail_msg ("request %d of an authenticated user while 320 stall: status %d", i,
                      status);
        assert_true (zclock_mono () - t0 < 2000);
    }
    for (int i = 0; i < 320; i++)
        if (fds[i] >= 0)
            close (fds[i]);
    ui_stack_down ();
}

/* Past CAISSON_HTTP_MAX_PER_IP (here 4) a client gets an answer it can act
 * on, 429 too_many_connections with Retry-After, not a connection closed
 * unanswered (an SDK reported "fetch failed: other side closed"); another
 * address is served meanwhile, and once the first closes one, so is it. */
static void
test_per_address_limit_answered (void **state)
{
    (void) state;
    const char *env[] = { "CAISSON_HTTP_MAX_PER_IP=4", NULL };
    ui_stack_up ("rt-perip", env);
    char token[128], out[8192];
    make_token ("alice", NULL, token);
    int fds[4];
    for (int i = 0; i < 4; i++)
        assert_true ((fds[i] = ui_connect_from ("127.0.0.9")) >= 0);
    usleep (100000);
    int status = http_from ("127.0.0.9", "GET", "/api/runs", token, NULL, out, sizeof out);
    if (status != 429 || !strstr (out, "too_many_connections") || !strstr (out, "Retry-After"))
        fail_msg ("a fifth connection from one address: status %d\n%s", status, out);
    assert_int_equal (http_from ("127.0.0.8", "GET", "/api/runs", token, NULL, out, sizeof out),
                      200);
    close (fds[0]);
    usleep (200000);
    assert_int_equal (http_from ("127.0.0.9", "GET", "/api/runs", token, NULL, out, sizeof out),
                      200);
    for (int i = 1; i < 4; i++)
        close (fds[i]);
    ui_stack_down ();
}

/* One user holds at most CAISSON_HTTP_MAX_PER_USER requests in flight
 * (here 3): with three event streams of alice's open, her next request is
 * 429 too_many_requests, bob's is served; once one closes (noticed at its
 * next heartbeat), hers is too. */
static void
test_user_inflight (void **state)
{
    (void) state;
    /* a closed stream is noticed at its next write: a short heartbeat */
    const char *env[] = { "CAISSON_HTTP_MAX_PER_USER=3", "CAISSON_SSE_HEARTBEAT_MS=300", NULL };
    ui_stack_up ("rt-inflight", env);
    char alice[128], bob[128], out[8192];
    make_token ("alice", NULL, alice);
    make_token ("bob", NULL, bob);
    bus_client_t *c = client_new (5000, 0);
    char run[CID_SIZE];
    cid_new (run);
    /* as the orchestrator appends a run's events: as its user */
    proto_msg_t *start = started_msg (run, "t", "alice");
    proto_set_str (&start->env.user, "alice");
    proto_msg_t *rep = request (c, start);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_event_ack);
    proto_msg_destroy (&rep);
    char path[128];
    snprintf (path, sizeof path, "/api/runs/%s/events", run);
    int streams[3];
    for (int i = 0; i < 3; i++) {
        streams[i] = ui_connect_from ("127.0.0.1");
        assert_true (streams[i] >= 0);
        char req[512];
        int n = snprintf (req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: "
                          "Bearer %s\r\n\r\n", path, alice);
        assert_int_equal (write (streams[i], req, (size_t) n), n);
        /* the stream has begun: its status line is here */
        ssize_t got = read (streams[i], out, sizeof out - 1);
        assert_true (got > 12);
        out[got] = '\0';
        assert_non_null (strstr (out, " 200 "));
    }
    int status = http_from ("127.0.0.1", "GET", "/api/runs", alice, NULL, out, sizeof out);
    if (status != 429)
        fail_msg ("alice's fourth request in flight: status %d", status);
    assert_non_null (strstr (out, "too_many_requests"));
    assert_int_equal (http_from ("127.0.0.1", "GET", "/api/runs", bob, NULL, out, sizeof out),
                      200);
    close (streams[0]);
    status = 0;
    for (int i = 0; i < 50 && status != 200; i++) {
        usleep (100000);
        status = http_from ("127.0.0.1", "GET", "/api/runs", alice, NULL, out, sizeof out);
    }
    assert_int_equal (status, 200);
    close (streams[1]);
    close (streams[2]);
    bus_client_destroy (&c);
    ui_stack_down ();
}

/* ---- tokens ---------------------------------------------------------------- */

static void
test_expired_token (void **state)
{
    (void) state;
    ui_stack_up ("rt-expire", NULL);
    char shortlived[128], out[8192];
    make_token ("alice", "2s", shortlived);
    assert_int_equal (http_from ("127.0.0.1", "GET", "/api/runs", shortlived, NULL, out,
                                 sizeof out), 200);
    sleep (3);
    assert_int_equal (http_from ("127.0.0.1", "GET", "/api/runs", shortlived, NULL, out,
                                 sizeof out), 401);
    assert_non_null (strstr (out, "expired"));
    /* a bad duration is refused, not taken for "never" */
    const char *argv[] = { "caisson", "token", "create", "--user", "bob", "--expires", "soon",
                           NULL };
    assert_int_not_equal (support_run (argv, out, sizeof out), 0);
    ui_stack_down ();
}

/* The id of alice's token in `caisson token list`, and the whole listing. */
static void
list_tokens (char *listing, size_t len)
{
    const char *argv[] = { "caisson", "token", "list", NULL };
    assert_int_equal (support_run (argv, listing, len), 0);
}

static void
test_revoke_and_list (void **state)
{
    (void) state;
    ui_stack_up ("rt-revoke", NULL);
    char alice[128], bob[128], out[8192], listing[8192];
    make_token ("alice", NULL, alice);
    make_token ("bob", NULL, bob);
    assert_int_equal (http_from ("127.0.0.1", "GET", "/api/runs", alice, NULL, out, sizeof out),
                      200);
    list_tokens (listing, sizeof listing);
    /* never the token, nor the whole of its hash */
    assert_null (strstr (listing, alice));
    assert_null (strstr (listing, alice + 4));
    assert_null (strstr (listing, bob + 4));
    char id[64] = "", line[512];
    FILE *f = fmemopen (listing, strlen (listing), "r");
    bool alice_used = false, bob_used = true;
    while (fgets (line, sizeof line, f)) {
        char lid[64], user[64];
        if (sscanf (line, "%63s %63s", lid, user) != 2)
            continue;
        bool used = strstr (line, "T") && line[strlen (line) - 2] == 'Z';
        if (!strcmp (user, "alice")) {
            snprintf (id, sizeof id, "%s", lid);
            alice_used = used;
        }
        if (!strcmp (user, "bob"))
            bob_used = used;
    }
    fclose (f);
    if (!alice_used || bob_used)
        fail_msg ("the last use is not listed as it happened:\n%s", listing);
    assert_true (strlen (id) >= 8);
    /* revoked while ui-bridge runs: refused from the next request on */
    const char *argv[] = { "caisson", "token", "revoke", id, NULL };
    assert_int_equal (support_run (argv, out, sizeof out), 0);
    assert_int_equal (http_from ("127.0.0.1", "GET", "/api/runs", alice, NULL, out, sizeof out),
                      401);
    assert_int_equal (http_from ("127.0.0.1", "GET", "/api/runs", bob, NULL, out, sizeof out),
                      200);
    list_tokens (listing, sizeof listing);
    assert_null (strstr (listing, id));
    ui_stack_down ();
}

/* Guessing from 127.0.0.2: after ten wrong tokens in a minute that
 * address gets 429 with Retry-After, even with a right token, while
 * 127.0.0.3 still authenticates. */
static void
test_brute_force (void **state)
{
    (void) state;
    ui_stack_up ("rt-brute", NULL);
    char token[128], out[8192], guess[64];
    make_token ("alice", NULL, token);
    int refused = 0;
    for (int i = 0; i < 30; i++) {
        snprintf (guess, sizeof guess, "cst_guess%032d", i);
        int status = http_from ("127.0.0.2", "GET", "/api/runs", guess, NULL, out, sizeof out);
        assert_true (status == 401 || status == 429);
        refused += status == 429;
    }
    assert_true (refused >= 20);
    assert_int_equal (http_from ("127.0.0.2", "GET", "/api/runs", token, NULL, out, sizeof out),
                      429);
    assert_non_null (strcasestr (out, "Retry-After:"));
    assert_int_equal (http_from ("127.0.0.3", "GET", "/api/runs", token, NULL, out, sizeof out),
                      200);
    ui_stack_down ();
}

/* ---- a full store ------------------------------------------------------------ */

static pid_t s_orch;

/* event-log (with extra settings, NULL-terminated, or NULL), orchestrator
 * on the scripted model and ui-bridge on a free port, beside the bus
 * setup_stack started; a client to them, its timeout 5 s. */
static bus_client_t *
store_stack_up (const char *const extra[])
{
    ui_pick_port ();
    s_elog = start_eventlog (extra);
    const char *oenv[] = { "MODEL=replay/demo", "CAISSON_LLM_REPLAY_URL=http://127.0.0.1:9/v1",
                           NULL };
    s_orch = support_spawn ("caisson-orchestrator", oenv);
    s_bridge = support_spawn ("caisson-ui-bridge", NULL);
    assert_int_equal (ui_wait_ready (), 0);
    bus_client_t *c = client_new (5000, 0);
    support_await_service (c, "orchestrator");
    bus_client_set_timeout (c, 5000, 0);
    return c;
}

/* Fills event-log's store with events of run: events of size bytes (of
 * fill) while they fit, then ever smaller ones, down to min bytes. Every
 * refusal must be store_full; *disk is set when one names the disk.
 * Returns how many were acknowledged. */
static int
fill_store (bus_client_t *c, const char *run, size_t size, size_t min, char fill, bool *disk)
{
    int acked = 0;
    for (; size >= min; size /= 10) {
        char *text = malloc (size + 1);
        memset (text, fill, size);
        text[size] = '\0';
        for (int tries = 0; tries < 10000; tries++) {
            proto_msg_t *rep = request (c, APPEND_MSG (run, text, .text = text));
            assert_non_null (rep);
            bool ack = rep->type == PROTO_event_ack;
            if (!ack) {
                assert_string_equal (rep->body.error.code, "store_full");
                *disk |= strstr (rep->body.error.message, "disk") != NULL;
            }
            proto_msg_destroy (&rep);
            if (!ack)
                break;
            acked++;
        }
        free (text);
    }
    return acked;
}

/* With the store full: alice's POST /api/runs is 507 store_full, not 201
 * (why names the store in the failure); run still has its acked events.
 * Then the stack goes down (c destroyed). */
static void
expect_run_refused (bus_client_t **c_p, const char *run, int acked, const char *why)
{
    char token[128], out[8192];
    make_token ("alice", NULL, token);
    int status = http_from ("127.0.0.1", "POST", "/api/runs", token,
                            "{\"task\":\"write a python reverse_string function with unit tests "
                            "and run them\"}", out, sizeof out);
    if (status == 201)
        fail_msg ("a run was acknowledged %s:\n%s", why, out);
    assert_int_equal (status, 507);
    assert_non_null (strstr (out, "store_full"));
    /* nothing stored was lost */
    json_t *evs = read_all (*c_p, run, 1);
    assert_int_equal (json_array_size (evs), (size_t) acked);
    json_decref (evs);
    bus_client_destroy (c_p);
    support_expect_clean_exit (s_orch);
    ui_stack_down ();
}

/* event-log's store is full (its map at CAISSON_LMDB_MAX_MB): POST
 * /api/runs answers 507 store_full rather than 201 for a run whose events
 * go nowhere, and every event acknowledged before is still there. */
static void
test_store_full (void **state)
{
    (void) state;
    s_bus = setup_stack ("rt-full");
    static const char *const small[] = { "CAISSON_LMDB_MAP_MB=1", "CAISSON_LMDB_MAX_MB=2", NULL };
    bus_client_t *c = store_stack_up (small);
    const char *run = rid ("FULL");
    bool disk = false;
    int acked = fill_store (c, run, 300000, 30, 'x', &disk);
    assert_true (acked > 2);
    expect_run_refused (&c, run, acked, "that event-log cannot store");
}

static char s_mounted[1100];

/* A mount a failed test left behind goes with the test program. */
static void
unmount_at_exit (void)
{
    if (*s_mounted)
        umount2 (s_mounted, MNT_DETACH);
}

/* The same on a full disk: event-log's directory is a 2 MiB tmpfs (its
 * map is far larger), so appends fail with ENOSPC. event-log answers
 * store_full naming the disk, POST /api/runs is 507, and what was stored
 * stays. Skipped where this process may not mount (not root). */
static void
test_disk_full (void **state)
{
    (void) state;
    s_bus = setup_stack ("rt-disk");
    char store[1100];
    snprintf (store, sizeof store, "%s/event-log", s_dir);
    assert_int_equal (mkdir (store, 0700), 0);
    if (mount ("tmpfs", store, "tmpfs", MS_NOSUID | MS_NODEV, "size=2m,mode=0700")) {
        support_stop (s_bus, SIGTERM, 2000);
        skip ();
    }
    snprintf (s_mounted, sizeof s_mounted, "%s", store);
    atexit (unmount_at_exit);
    bus_client_t *c = store_stack_up (NULL);
    const char *run = rid ("DISK");
    bool disk = false;
    int acked = fill_store (c, run, 100000, 10, 'y', &disk);
    assert_true (acked > 2);
    assert_true (disk);
    expect_run_refused (&c, run, acked, "on a full disk");
    assert_int_equal (umount (store), 0);
    s_mounted[0] = '\0';
}

int
main (int argc, char **argv)
{
    if (argc > 1 && !strcmp (argv[1], "fake-sandbox"))
        return fake_sandbox_main (getenv ("CAISSON_DATA"));
    support_self_exe (s_self, sizeof s_self);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_tool_slots_shared),
        cmocka_unit_test (test_busy_retried),
        cmocka_unit_test (test_stalled_anonymous),
        cmocka_unit_test (test_per_address_limit_answered),
        cmocka_unit_test (test_user_inflight),
        cmocka_unit_test (test_expired_token),
        cmocka_unit_test (test_revoke_and_list),
        cmocka_unit_test (test_brute_force),
        cmocka_unit_test (test_store_full),
        cmocka_unit_test (test_disk_full),
    };
    return support_run_group_tests (tests, NULL, NULL);
}
