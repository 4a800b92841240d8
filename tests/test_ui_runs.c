/* test_ui_runs: the runs API over the real event-log (the broker,
 * event-log and ui-bridge binaries; events appended over the bus as the
 * orchestrator appends them): listing and records per user (someone
 * else's run is 404, an operator sees it), SSE from the start and resumed
 * with Last-Event-ID (history, then events appended while connected,
 * with no gap and no repeat, closed after the terminal event),
 * transcripts in both formats, and an artifact reached through its run. */
#include "support.h"
#include "ui_support.h"

#include "bus_client.h"
#include "evkind.h"
#include "mpjson.h"

#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static ui_elog_stack_t s_ui;
static bus_client_t *s_client;
static char s_run[CID_SIZE];

/* Appends an event whose data (consumed) an evkind constructor built, so
 * it is shaped as the orchestrator emits kind. */
static void
append_ev (const char *run, evk_kind_t kind, json_t *data)
{
    assert_non_null (data);
    proto_msg_t *m = proto_msg_new (PROTO_event_append, NULL);
    /* the runs here are alice's and carol's, written as the orchestrator
     * writes each as its user; event-log takes them all from an operator */
    m->env.op = true;
    proto_set_str (&m->env.run, run);
    proto_set_str (&m->body.event_append.kind, evk_name (kind));
    mpjson_set (&m->body.event_append.data, data, 16);
    json_decref (data);
    proto_msg_t *rep = bus_client_request (s_client, "event-log", m);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_event_ack);
    proto_msg_destroy (&rep);
    proto_msg_destroy (&m);
}

/* APPEND (run, plan, .text = "...") */
#define APPEND(run, kind, ...) append_ev (run, EVK_##kind, EVK (kind, __VA_ARGS__))

/* A run_started of user's, as the orchestrator emits it. */
static void
started (const char *run, const char *task, const char *user, const char *thread)
{
    json_t *budgets = json_pack ("{s:i, s:i, s:i, s:i}", "steps", 20, "toolCalls", 50,
                                 "wallSeconds", 600, "tokens", 200000);
    json_t *policy = json_object ();
    APPEND (run, run_started, .task = task, .user = user, .threadId = thread,
            .model = "replay/demo", .orchestrator = "o1", .promptVersion = "v1",
            .budgets = budgets, .policy = policy);
    json_decref (budgets);
    json_decref (policy);
}

static int
setup (void **state)
{
    (void) state;
    ui_elog_stack_up (&s_ui, "uiruns");
    s_client = bus_client_new (getenv ("CAISSON_BUS"));
    /* The bridge's metrics watcher subscribes at start; the first events
     * after a subscription may go by before it reaches the publisher, so
     * wait until a warm-up run (carol's) is counted. */
    bool counted = false;
    for (int i = 0; i < 100 && !counted; i++) {
        char warm[CID_SIZE];
        cid_new (warm);
        started (warm, "warm-up", "carol", warm);
        ui_res_t r = ui_request ("GET", "/metrics", NULL, NULL, NULL);
        counted = strstr (r.body, "caisson_runs_total{status=\"started\"}") != NULL;
        ui_res_free (&r);
        if (!counted)
            usleep (100000);
    }
    assert_true (counted);
    cid_new (s_run);
    started (s_run, "reverse a string", "alice", "th-1");
    APPEND (s_run, step_started, .step = 1, .overheadUs = 120);
    APPEND (s_run, text, .text = "I will write it.");
    json_t *args = json_pack ("{s:[{s:s, s:s}]}", "files", "path", "a.py", "data", "x");
    json_t *result = json_pack ("{s:[s]}", "filesWritten", "/w/a.py");
    APPEND (s_run, tool_call, .toolCallId = "c1", .name = "writeFiles", .args = args);
    APPEND (s_run, tool_result, .toolCallId = "c1", .name = "writeFiles", .ok = true,
            .result = result, .durationMs = 4, .toolRunner = "tr1");
    json_decref (args);
    json_decref (result);
    return 0;
}

static int
teardown (void **state)
{
    (void) state;
    bus_client_destroy (&s_client);
    support_expect_clean_exit (s_ui.bridge);
    support_stop (s_ui.elog, SIGTERM, 3000);
    support_stop (s_ui.bus, SIGTERM, 2000);
    return 0;
}

static void
test_list_and_isolation (void **state)
{
    (void) state;
    long status;
    json_t *doc = ui_json ("GET", "/api/runs", s_ui.alice, NULL, &status);
    assert_int_equal (status, 200);
    json_t *runs = json_object_get (doc, "runs");
    assert_int_equal (json_array_size (runs), 1);
    assert_string_equal (json_string_value (json_object_get (json_array_get (runs, 0), "run")),
                         s_run);
    json_decref (doc);
    doc = ui_json ("GET", "/api/runs", s_ui.bob, NULL, &status);
    assert_int_equal (json_array_size (json_object_get (doc, "runs")), 0);
    json_decref (doc);
    doc = ui_json ("GET", "/api/runs?user=alice", s_ui.root, NULL, &status);
    assert_int_equal (json_array_size (json_object_get (doc, "runs")), 1);
    json_decref (doc);
    doc = ui_json ("GET", "/api/runs?user=carol", s_ui.bob, NULL, &status);   /* ignored: bob's */
    assert_int_equal (json_array_size (json_object_get (doc, "runs")), 0);
    json_decref (doc);

    char path[128];
    snprintf (path, sizeof path, "/api/runs/%s", s_run);
    doc = ui_json ("GET", path, s_ui.alice, NULL, &status);
    assert_int_equal (status, 200);
    assert_string_equal (json_string_value (json_object_get (doc, "task")), "reverse a string");
    json_decref (doc);
    doc = ui_json ("GET", path, s_ui.bob, NULL, &status);
    assert_int_equal (status, 404);
    json_decref (doc);
    snprintf (path, sizeof path, "/api/runs/%s/events", s_run);
    doc = ui_json ("GET", path, s_ui.bob, NULL, &status);
    assert_int_equal (status, 404);
    json_decref (doc);
    snprintf (path, sizeof path, "/api/runs/%s/transcript", s_run);
    doc = ui_json ("GET", path, s_ui.bob, NULL, &status);
    assert_int_equal (status, 404);
    json_decref (doc);
    doc = ui_json ("GET", "/api/runs/01J0000000000000000000ABCD", s_ui.alice, NULL, &status);
    assert_int_equal (status, 404);
    json_decref (doc);
}

/* An SSE request over a raw socket (HTTP/1.0: the body ends when the
 * server closes). Returns the connected socket. */
static int
sse_open (const char *path, const char *last_id)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    const char *port = strrchr (ui_base, ':') + 1;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) atoi (port)),
                              .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    assert_int_equal (connect (fd, (struct sockaddr *) &sa, sizeof sa), 0);
    char req[1024];
    int n = snprintf (req, sizeof req, "GET %s HTTP/1.0\r\nAuthorization: Bearer %s\r\n"
                      "Accept: text/event-stream\r\n%s%s%s\r\n", path, s_ui.alice,
                      last_id ? "Last-Event-ID: " : "", last_id ? last_id : "",
                      last_id ? "\r\n" : "");
    assert_int_equal (write (fd, req, (size_t) n), n);
    return fd;
}

/* Reads from fd into buf until needle appears or the peer closes (or 20 s
 * pass, which fails the test). Returns true when the peer closed. */
static bool
sse_read_until (int fd, char *buf, size_t cap, const char *needle)
{
    size_t used = strlen (buf);
    for (int waited = 0; waited < 20000;) {
        if (needle && strstr (buf, needle))
            return false;
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll (&p, 1, 100) == 0) {
            waited += 100;
            continue;
        }
        ssize_t n = read (fd, buf + used, cap - used - 1);
        if (n <= 0)
            return true;
        used += (size_t) n;
        buf[used] = '\0';
    }
    fail_msg ("no '%s' in the stream: %s", needle ? needle : "(close)", buf);
    return false;
}

/* The ids of the frames in buf, in order, space-separated. */
static void
ids_of (const char *buf, char *out, size_t outlen)
{
    out[0] = '\0';
    for (const char *p = strstr (buf, "\nid: "); p; p = strstr (p + 1, "\nid: ")) {
        size_t n = strlen (out);
        snprintf (out + n, outlen - n, "%s%d", n ? " " : "", atoi (p + 5));
    }
}

static void
test_sse_resume (void **state)
{
    (void) state;
    char path[128], ids[256];
    static char buf[65536];
    snprintf (path, sizeof path, "/api/runs/%s/events", s_run);

    /* From the start: the five stored events. */
    int fd = sse_open (path, NULL);
    buf[0] = '\0';
    sse_read_until (fd, buf, sizeof buf, "id: 5\n");
    assert_non_null (strstr (buf, "Content-Type: text/event-stream"));
    assert_non_null (strstr (buf, "event: tool_result\n"));
    ids_of (buf, ids, sizeof ids);
    assert_string_equal (ids, "1 2 3 4 5");
    close (fd);

    /* Resumed after 2, then live: what is appended while connected comes
     * once, in order, and the stream closes after `complete`. */
    fd = sse_open (path, "2");
    buf[0] = '\0';
    sse_read_until (fd, buf, sizeof buf, "id: 5\n");
    APPEND (s_run, step_finished, .step = 1);
    APPEND (s_run, usage, .inputTokens = 100, .outputTokens = 20);
    APPEND (s_run, complete, .status = "completed", .answer = "done");
    assert_true (sse_read_until (fd, buf, sizeof buf, NULL));
    close (fd);
    ids_of (buf, ids, sizeof ids);
    assert_string_equal (ids, "3 4 5 6 7 8");
    assert_non_null (strstr (buf, "event: complete\n"));
    assert_null (strchr (strstr (buf, "\r\n\r\n") + 4, '\r'));

    /* A finished run's stream is its history, then closed. */
    fd = sse_open (path, "7");
    buf[0] = '\0';
    assert_true (sse_read_until (fd, buf, sizeof buf, NULL));
    close (fd);
    ids_of (buf, ids, sizeof ids);
    assert_string_equal (ids, "8");

    /* The watcher counted what went by live (its own subscription, so
     * wait for it to catch up with the stream). */
    ui_res_t r = { 0 };
    for (int i = 0; i < 100; i++) {
        ui_res_free (&r);
        r = ui_request ("GET", "/metrics", NULL, NULL, NULL);
        if (strstr (r.body, "caisson_runs_total{status=\"completed\"} 1\n"))
            break;
        usleep (50000);
    }
    assert_non_null (strstr (r.body, "caisson_runs_total{status=\"completed\"} 1\n"));
    assert_non_null (strstr (r.body, "caisson_model_tokens_total{kind=\"input\"} 100\n"));
    assert_non_null (strstr (r.body, "caisson_steps_total 1\n"));
    ui_res_free (&r);
}

static void
test_transcript_and_artifact (void **state)
{
    (void) state;
    char path[256];
    snprintf (path, sizeof path, "/api/runs/%s/transcript?format=md", s_run);
    ui_res_t r = ui_request ("GET", path, s_ui.alice, NULL, NULL);
    assert_int_equal (r.status, 200);
    assert_non_null (strstr (r.body, "reverse a string"));
    char type[128];
    ui_header (&r, "Content-Type", type, sizeof type);
    assert_string_equal (type, "text/markdown; charset=utf-8");
    ui_res_free (&r);
    snprintf (path, sizeof path, "/api/runs/%s/transcript?format=jsonl", s_run);
    r = ui_request ("GET", path, s_ui.alice, NULL, NULL);
    assert_int_equal (r.status, 200);
    assert_non_null (strstr (r.body, "writeFiles"));
    ui_res_free (&r);
    snprintf (path, sizeof path, "/api/runs/%s/transcript?format=pdf", s_run);
    r = ui_request ("GET", path, s_ui.alice, NULL, NULL);
    assert_int_equal (r.status, 400);
    ui_res_free (&r);

    /* An artifact stored and named by an event of alice's run. */
    const char *diff = "--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-x\n+y\n";
    proto_msg_t *m = proto_msg_new (PROTO_artifact_put, NULL);
    proto_set_bytes (&m->body.artifact_put.data, diff, strlen (diff));
    proto_set_str (&m->body.artifact_put.kind, "diff");
    proto_msg_t *rep = bus_client_request (s_client, "event-log", m);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_artifact_ref);
    char hash[65];
    snprintf (hash, sizeof hash, "%s", rep->body.artifact_ref.hash);
    proto_msg_destroy (&rep);
    proto_msg_destroy (&m);
    char other[CID_SIZE];
    cid_new (other);
    started (other, "t", "alice", other);
    APPEND (other, artifact, .hash = hash, .kind = "diff", .name = "a.py", .size = strlen (diff));

    snprintf (path, sizeof path, "/api/artifacts/%s?run=%s", hash, other);
    r = ui_request ("GET", path, s_ui.alice, NULL, NULL);
    assert_int_equal (r.status, 200);
    assert_string_equal (r.body, diff);
    ui_res_free (&r);
    r = ui_request ("GET", path, s_ui.bob, NULL, NULL);
    assert_int_equal (r.status, 404);
    ui_res_free (&r);
    snprintf (path, sizeof path, "/api/artifacts/%s?run=%s", hash, s_run);
    r = ui_request ("GET", path, s_ui.alice, NULL, NULL);       /* a run that does not name it */
    assert_int_equal (r.status, 404);
    ui_res_free (&r);
    snprintf (path, sizeof path, "/api/artifacts/%s", hash);
    r = ui_request ("GET", path, s_ui.root, NULL, NULL);
    assert_int_equal (r.status, 200);
    ui_res_free (&r);
}

/* The dashboard lists alice's run; opening it replays its events (text,
 * tool card, status) and shows its artifact as a diff, in headless
 * Chromium; screenshots in build/ui-screenshots/replay. */
static void
test_browser_replay (void **state)
{
    (void) state;
    const char *diff = "--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-x\n+print('reversed')\n";
    proto_msg_t *m = proto_msg_new (PROTO_artifact_put, NULL);
    proto_set_bytes (&m->body.artifact_put.data, diff, strlen (diff));
    proto_set_str (&m->body.artifact_put.kind, "diff");
    proto_msg_t *rep = bus_client_request (s_client, "event-log", m);
    assert_non_null (rep);
    APPEND (s_run, artifact, .hash = rep->body.artifact_ref.hash, .kind = "diff", .name = "a.py",
            .size = strlen (diff));
    proto_msg_destroy (&rep);
    proto_msg_destroy (&m);
    const char *args[] = { "node", "browser.mjs", ui_base, s_ui.alice,
                           CAISSON_BIN_DIR "/../ui-screenshots/replay", "replay", s_run, diff,
                           NULL };
    assert_int_equal (support_run_node (args), 0);
}

/* A run waiting for approval of git.openPR, whose ask_approval carries the
 * dry run's files and patch (extra fields of the event's data): opened
 * from the dashboard, the approval shows the files with their counts and
 * the patch as a diff view; screenshots in build/ui-screenshots/approval. */
static void
test_browser_approval_diff (void **state)
{
    (void) state;
    char run[CID_SIZE];
    cid_new (run);
    started (run, "rename x in a.py and open a PR", "alice", run);
    APPEND (run, step_started, .step = 1, .overheadUs = 100);
    json_t *args = json_pack ("{s:s,s:s,s:s}", "sandboxId", "sbx1-aa", "title", "Rename x",
                              "body", "As asked");
    json_t *data = EVK (ask_approval, .toolCallId = "c9", .name = "git.openPR", .args = args);
    json_decref (args);
    assert_non_null (data);
    const char *patch = "diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n"
                        "-x = 1\n+renamed = 1\n";
    json_object_set_new (data, "files", json_pack ("[{s:s,s:i,s:i}]", "path", "a.py", "added", 1,
                                                   "removed", 1));
    json_object_set_new (data, "skipped", json_array ());
    json_object_set_new (data, "patch", json_string (patch));
    append_ev (run, EVK_ask_approval, data);
    const char *argv[] = { "node", "browser.mjs", ui_base, s_ui.alice,
                           CAISSON_BIN_DIR "/../ui-screenshots/approval", "approval", run,
                           "diff --git a/a.py b/a.py", "+++ b/a.py", "-x = 1", "+renamed = 1",
                           NULL };
    assert_int_equal (support_run_node (argv), 0);
}

/* True when GET path (as root) lists run. */
static bool
lists (const char *path, const char *run)
{
    long status;
    json_t *doc = ui_json ("GET", path, s_ui.root, NULL, &status), *r;
    assert_int_equal (status, 200);
    size_t i;
    bool found = false;
    json_array_foreach (json_object_get (doc, "runs"), i, r)
        found |= !strcmp (json_string_value (json_object_get (r, "run")), run);
    json_decref (doc);
    return found;
}

/* The dashboard's status filter finds a run waiting for a human, and its
 * steps are its model turns; a cancelled run is counted as cancelled. */
static void
test_status_filter_and_metrics (void **state)
{
    (void) state;
    char run[CID_SIZE];
    cid_new (run);
    started (run, "open a PR", "carol", run);
    APPEND (run, step_started, .step = 1, .overheadUs = 100);
    json_t *args = json_object ();
    APPEND (run, tool_call, .toolCallId = "c1", .name = "createSandbox", .args = args);
    APPEND (run, tool_call, .toolCallId = "c2", .name = "repo.clone", .args = args);
    APPEND (run, ask_approval, .toolCallId = "c3", .name = "git.openPR", .args = args);
    json_decref (args);
    assert_true (lists ("/api/runs?status=awaiting_approval", run));
    assert_false (lists ("/api/runs?status=running", run));
    char path[128];
    snprintf (path, sizeof path, "/api/runs/%s", run);
    long status;
    json_t *doc = ui_json ("GET", path, s_ui.root, NULL, &status);
    assert_int_equal (json_integer_value (json_object_get (doc, "steps")), 1);
    assert_int_equal (json_integer_value (json_object_get (doc, "toolCalls")), 2);
    json_decref (doc);
    APPEND (run, failed, .status = "cancelled", .reason = "cancelled by carol");
    assert_true (lists ("/api/runs?status=cancelled", run));
    ui_res_t r = { 0 };
    for (int i = 0; i < 100; i++) {
        ui_res_free (&r);
        r = ui_request ("GET", "/metrics", NULL, NULL, NULL);
        if (strstr (r.body, "caisson_runs_total{status=\"cancelled\"} 1\n"))
            break;
        usleep (50000);
    }
    assert_non_null (strstr (r.body, "caisson_runs_total{status=\"cancelled\"} 1\n"));
    ui_res_free (&r);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_list_and_isolation),
        cmocka_unit_test (test_sse_resume),
        cmocka_unit_test (test_transcript_and_artifact),
        cmocka_unit_test (test_browser_replay),
        cmocka_unit_test (test_browser_approval_diff),
        cmocka_unit_test (test_status_filter_and_metrics),
    };
    return support_run_group_tests (tests, setup, teardown);
}
