/* test_eventlog: event-log as the rest of the system sees it, through the
 * real broker and event-log binaries, the bus, and the caisson CLI:
 * acknowledged appends, de-duplication across a restart, ordering, refused
 * input, the run record, artifacts, both transcript formats, figures, and
 * catch-up then live with no gap under a concurrent producer.
 * test_eventlog_crash covers kill -9, a full map and retention. */
#include "eventlog_util.h"
#include "bus_tap.h"
#include "cid.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- append, ack, dedup, ordering ------------------------------------------ */

static void
test_append_ack_dedup_order (void **state)
{
    (void) state;
    pid_t bus = setup_stack ("elog-append");
    pid_t el = start_eventlog (NULL);
    bus_client_t *c = client_new (2000, 2);
    char prefix[64], topic[256];
    snprintf (prefix, sizeof prefix, "run.%s.", rid ("R1"));
    bus_tap_t *tap = bus_tap_new (getenv ("CAISSON_BUS_SUB"), prefix);
    usleep (200000);

    uint64_t s1 = append_started (c, rid ("R1"), "t", "ann", 0);
    uint64_t s2 = append_started (c, rid ("R2"), "u", NULL, 0);
    uint64_t s3 = APPEND (c, rid ("R1"), text, .text = "hi");
    assert_true (s1 < s2 && s2 < s3);

    /* Published after commit, with both sequence numbers. */
    char want[128];
    proto_msg_t *ev = bus_tap_recv (tap, topic, sizeof topic, 2000, NULL);
    assert_non_null (ev);
    snprintf (want, sizeof want, "%srun_started", prefix);
    assert_string_equal (topic, want);
    assert_int_equal (ev->body.event.seq, s1);
    assert_int_equal (ev->body.event.run_seq, 1);
    proto_msg_destroy (&ev);
    ev = bus_tap_recv (tap, topic, sizeof topic, 2000, NULL);
    assert_non_null (ev);
    snprintf (want, sizeof want, "%stext", prefix);
    assert_string_equal (topic, want);
    assert_int_equal (ev->body.event.run_seq, 2);
    proto_msg_destroy (&ev);

    /* The same event id after a restart (no reply cache left) is stored once. */
    json_t *args = json_object ();
    proto_msg_t *again = APPEND_MSG (rid ("R1"), tool_call, .toolCallId = "c1", .name = "x",
                                     .args = args);
    json_decref (args);
    proto_msg_t *rep = bus_client_request (c, "event-log", again);
    assert_int_equal (rep->type, PROTO_event_ack);
    uint64_t seq = rep->body.event_ack.seq;
    assert_false (rep->body.event_ack.duplicate);
    proto_msg_destroy (&rep);
    support_expect_clean_exit (el);
    el = start_eventlog (NULL);
    rep = bus_client_request (c, "event-log", again);
    assert_int_equal (rep->type, PROTO_event_ack);
    assert_true (rep->body.event_ack.duplicate);
    assert_int_equal (rep->body.event_ack.seq, seq);
    assert_int_equal (rep->body.event_ack.run_seq, 3);
    proto_msg_destroy (&rep);
    proto_msg_destroy (&again);

    json_t *r1 = read_all (c, rid ("R1"), 1);
    assert_int_equal (json_array_size (r1), 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal (int_at (json_array_get (r1, i), "run_seq"), (json_int_t) i + 1);
    json_decref (r1);
    json_t *all = read_all (c, NULL, 1);
    assert_int_equal (json_array_size (all), 4);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal (int_at (json_array_get (all, i), "seq"), (json_int_t) i + 1);
    json_decref (all);

    /* Refused appends name the field. */
    rep = request (c, append_msg ("bad.run", "text", NULL));
    assert_int_equal (rep->type, PROTO_error);
    assert_non_null (strstr (rep->body.error.message, "run"));
    proto_msg_destroy (&rep);
    rep = request (c, append_msg (NULL, "text", NULL));
    assert_int_equal (rep->type, PROTO_error);
    assert_string_equal (rep->body.error.code, "bad_run");
    proto_msg_destroy (&rep);
    rep = request (c, append_msg (rid ("R1"), "Bad-Kind", NULL));
    assert_int_equal (rep->type, PROTO_error);
    assert_string_equal (rep->body.error.code, "bad_kind");
    proto_msg_destroy (&rep);
    char unknown[CID_SIZE];
    cid_new (unknown);
    proto_msg_t *req = proto_msg_new (PROTO_run_record_get, NULL);
    proto_set_str (&req->body.run_record_get.run, unknown);
    rep = request (c, req);
    assert_int_equal (rep->type, PROTO_error);
    assert_string_equal (rep->body.error.code, "not_found");
    proto_msg_destroy (&rep);

    /* Untrusted reads: each refusal names the field. */
    req = proto_msg_new (PROTO_events_read, NULL);
    req->body.events_read.limit = 10001;
    rep = request (c, req);
    assert_int_equal (rep->type, PROTO_error);
    assert_non_null (strstr (rep->body.error.message, "limit"));
    proto_msg_destroy (&rep);
    req = proto_msg_new (PROTO_events_read, NULL);
    proto_set_str (&req->body.events_read.run, "not-a-run");
    rep = request (c, req);
    assert_int_equal (rep->type, PROTO_error);
    assert_string_equal (rep->body.error.code, "bad_run");
    proto_msg_destroy (&rep);
    req = proto_msg_new (PROTO_transcript_get, NULL);
    proto_set_str (&req->body.transcript_get.run, rid ("R1"));
    proto_set_str (&req->body.transcript_get.format, "html");
    rep = request (c, req);
    assert_int_equal (rep->type, PROTO_error);
    assert_string_equal (rep->body.error.code, "bad_format");
    proto_msg_destroy (&rep);
    req = proto_msg_new (PROTO_artifact_get, NULL);
    proto_set_str (&req->body.artifact_get.hash, "../../etc/passwd");
    rep = request (c, req);
    assert_int_equal (rep->type, PROTO_error);
    assert_string_equal (rep->body.error.code, "bad_hash");
    proto_msg_destroy (&rep);
    req = proto_msg_new (PROTO_artifact_get, NULL);
    proto_set_str (&req->body.artifact_get.hash,
                   "0000000000000000000000000000000000000000000000000000000000000000");
    rep = request (c, req);
    assert_int_equal (rep->type, PROTO_error);
    assert_string_equal (rep->body.error.code, "not_found");
    proto_msg_destroy (&rep);

    bus_tap_destroy (&tap);
    bus_client_destroy (&c);
    support_expect_clean_exit (el);
    support_expect_clean_exit (bus);
}

/* ---- the run record, artifacts, exports, CLI ---------------------------------- */

static void
test_run_record_and_exports (void **state)
{
    (void) state;
    pid_t bus = setup_stack ("elog-record");
    pid_t el = start_eventlog (NULL);
    bus_client_t *c = client_new (5000, 1);

    /* 3 MiB + 5 bytes: four chunks; the same bytes again are not stored twice. */
    size_t big = (3u << 20) + 5;
    uint8_t *blob = malloc (big);
    for (size_t i = 0; i < big; i++)
        blob[i] = (uint8_t) (i * 7 + (i >> 12));
    proto_msg_t *ref = put_artifact (c, blob, big, "test_log");
    assert_false (ref->body.artifact_ref.duplicate);
    char hash[65];
    snprintf (hash, sizeof hash, "%s", ref->body.artifact_ref.hash);
    proto_msg_destroy (&ref);
    ref = put_artifact (c, blob, big, "test_log");
    assert_true (ref->body.artifact_ref.duplicate);
    assert_string_equal (ref->body.artifact_ref.hash, hash);
    proto_msg_destroy (&ref);

    /* three runs, their events shaped as the orchestrator emits them */
    json_t *budgets = json_pack ("{s:i}", "steps", 20), *policy = json_object ();
    json_t *read_args = json_pack ("{s:s}", "path", "Makefile");
    json_t *make_args = json_pack ("{s:s}", "cmd", "make"), *read = json_string ("all: build");
    APPEND (c, rid ("RUN1"), run_started, .task = "fix the build", .user = "ann",
            .threadId = "T1", .model = "m-large", .orchestrator = "o1", .promptVersion = "v2",
            .budgets = budgets, .policy = policy);
    APPEND (c, rid ("RUN1"), plan, .text = "read, then patch");
    APPEND (c, rid ("RUN1"), tool_call, .toolCallId = "c1", .name = "read_file",
            .args = read_args);
    APPEND (c, rid ("RUN1"), tool_result, .toolCallId = "c1", .name = "read_file", .ok = true,
            .result = read, .durationMs = 12);
    APPEND (c, rid ("RUN1"), ask_approval, .toolCallId = "c2", .name = "run_command",
            .args = make_args);
    APPEND (c, rid ("RUN1"), approval_decision, .toolCallId = "c2", .approved = true);
    APPEND (c, rid ("RUN1"), tool_call, .toolCallId = "c2", .name = "run_command",
            .args = make_args);
    APPEND (c, rid ("RUN1"), usage, .inputTokens = 100, .outputTokens = 20, .cachedTokens = 50);
    APPEND (c, rid ("RUN1"), artifact, .hash = hash, .kind = "test_log", .name = "make.log",
            .size = big);
    APPEND (c, rid ("RUN1"), usage, .inputTokens = 300, .outputTokens = 40);
    APPEND (c, rid ("RUN1"), text, .text = "The build works now.");
    APPEND (c, rid ("RUN1"), complete, .status = "completed", .answer = "fixed");
    APPEND (c, rid ("RUN2"), run_started, .task = "other", .user = "bob", .threadId = "T2",
            .model = "m-small", .orchestrator = "o1", .promptVersion = "v1",
            .budgets = budgets, .policy = policy);
    APPEND (c, rid ("RUN2"), failed, .status = "budget_exhausted", .reason = "step budget");
    APPEND (c, rid ("RUN3"), run_started, .task = "still going", .user = "ann",
            .threadId = "T3", .model = "m-large", .orchestrator = "o1", .promptVersion = "v2",
            .budgets = budgets, .policy = policy);
    json_decref (budgets);
    json_decref (policy);
    json_decref (read_args);
    json_decref (make_args);
    json_decref (read);

    json_t *rec = run_get (c, rid ("RUN1"));
    assert_non_null (rec);
    assert_string_equal (json_string_value (json_object_get (rec, "status")), "completed");
    assert_string_equal (json_string_value (json_object_get (rec, "task")), "fix the build");
    assert_string_equal (json_string_value (json_object_get (rec, "thread")), "T1");
    assert_string_equal (json_string_value (json_object_get (rec, "model")), "m-large");
    assert_int_equal (int_at (rec, "steps"), 0);         /* no step_started: no model turn */
    assert_int_equal (int_at (rec, "toolCalls"), 2);
    assert_int_equal (int_at (rec, "events"), 12);
    json_t *tok = json_object_get (rec, "tokens");
    assert_int_equal (int_at (tok, "input"), 400);
    assert_int_equal (int_at (tok, "output"), 60);
    assert_int_equal (int_at (tok, "cached"), 50);
    assert_int_equal (json_array_size (json_object_get (rec, "artifacts")), 1);
    json_decref (rec);
    rec = run_get (c, rid ("RUN2"));
    assert_string_equal (json_string_value (json_object_get (rec, "status")), "budget_exhausted");
    assert_string_equal (json_string_value (json_object_get (rec, "failure")), "step budget");
    json_decref (rec);

    /* runs.list: filters and paging, newest first. */
    proto_msg_t *req = proto_msg_new (PROTO_runs_list, NULL);
    proto_set_str (&req->body.runs_list.user, "ann");
    req->body.runs_list.limit = 1;
    proto_msg_t *rep = request (c, req);
    assert_int_equal (rep->type, PROTO_runs_page);
    json_t *runs = any_json (&rep->body.runs_page.runs);
    assert_int_equal (json_array_size (runs), 1);
    assert_string_equal (json_string_value (json_object_get (json_array_get (runs, 0), "run")), rid ("RUN3"));
    assert_non_null (rep->body.runs_page.next);
    req = proto_msg_new (PROTO_runs_list, NULL);
    proto_set_str (&req->body.runs_list.user, "ann");
    proto_set_str (&req->body.runs_list.before, rep->body.runs_page.next);
    json_decref (runs);
    proto_msg_destroy (&rep);
    rep = request (c, req);
    runs = any_json (&rep->body.runs_page.runs);
    assert_int_equal (json_array_size (runs), 1);
    assert_string_equal (json_string_value (json_object_get (json_array_get (runs, 0), "run")), rid ("RUN1"));
    assert_null (rep->body.runs_page.next);
    json_decref (runs);
    proto_msg_destroy (&rep);
    req = proto_msg_new (PROTO_runs_list, NULL);
    proto_set_str (&req->body.runs_list.status, "running");
    rep = request (c, req);
    runs = any_json (&rep->body.runs_page.runs);
    assert_int_equal (json_array_size (runs), 1);
    json_decref (runs);
    proto_msg_destroy (&rep);

    /* JSON Lines: one stored event per line, in order. */
    req = proto_msg_new (PROTO_transcript_get, NULL);
    proto_set_str (&req->body.transcript_get.run, rid ("RUN1"));
    rep = request (c, req);
    assert_int_equal (rep->type, PROTO_transcript);
    int lines = 0;
    for (char *line = strtok (rep->body.transcript.text, "\n"); line; line = strtok (NULL, "\n")) {
        json_t *ev = json_loads (line, 0, NULL);
        assert_non_null (ev);
        assert_int_equal (int_at (ev, "run_seq"), ++lines);
        json_decref (ev);
    }
    assert_int_equal (lines, 12);
    proto_msg_destroy (&rep);

    /* Markdown, through the CLI: task, steps with arguments and results,
     * approvals, the answer, the artifact. */
    static char out[1 << 20];
    const char *show[] = { "caisson", "show", rid ("RUN1"), "--markdown", "--data", s_dir, NULL };
    assert_int_equal (support_run (show, out, sizeof out), 0);
    assert_non_null (strstr (out, "## Task\n\nfix the build"));
    assert_non_null (strstr (out, "## Plan\n\nread, then patch\n"));
    assert_non_null (strstr (out, "## Step 1: `read_file`"));
    assert_non_null (strstr (out, "\"path\": \"Makefile\""));
    assert_non_null (strstr (out, "all: build"));
    assert_non_null (strstr (out, "**Approval granted**"));
    assert_non_null (strstr (out, "## Step 2: `run_command`"));
    assert_non_null (strstr (out, "## Answer\n\nfixed"));
    assert_non_null (strstr (out, hash));
    const char *jsonl[] = { "caisson", "show", rid ("RUN1"), "--json", "--data", s_dir, NULL };
    assert_int_equal (support_run (jsonl, out, sizeof out), 0);
    assert_non_null (strstr (out, "\"kind\":\"complete\""));
    const char *missing[] = { "caisson", "show", "NOPE", "--data", s_dir, NULL };
    assert_int_equal (support_run (missing, NULL, 0), 1);

    /* The artifact comes back whole, across several replies. */
    char *got = malloc (big + 16);
    const char *dl[] = { "caisson", "artifact", hash, "--data", s_dir, NULL };
    assert_int_equal (support_run (dl, got, big + 16), 0);
    assert_memory_equal (got, blob, big);
    free (got);
    free (blob);

    /* Figures: 2 finished runs; the completed one had no checks, so it
     * is counted apart, not passed (test_eventlog_status). */
    const char *stats[] = { "caisson", "stats", "--json", "--data", s_dir, NULL };
    assert_int_equal (support_run (stats, out, sizeof out), 0);
    json_t *s = json_loads (out, 0, NULL);
    assert_non_null (s);
    json_t *all = json_object_get (s, "all");
    assert_int_equal (int_at (all, "runs"), 3);
    assert_int_equal (int_at (all, "finished"), 2);
    assert_true (json_real_value (json_object_get (all, "passRate")) == 0.0);
    assert_int_equal (int_at (all, "completedUnchecked"), 1);
    assert_true (json_real_value (json_object_get (all, "tokensMean")) == 230.0);
    json_t *m = json_object_get (json_object_get (s, "byModel"), "m-small");
    assert_string_equal (json_string_value (json_object_get (
                             json_array_get (json_object_get (m, "failureCauses"), 0), "cause")),
                         "budget_exhausted: step budget");
    json_decref (s);
    const char *list[] = { "caisson", "runs", "--data", s_dir, NULL };
    assert_int_equal (support_run (list, out, sizeof out), 0);
    assert_non_null (strstr (out, rid ("RUN2")));

    bus_client_destroy (&c);
    support_expect_clean_exit (el);
    support_expect_clean_exit (bus);
}

/* ---- catch-up then live ----------------------------------------------------- */

typedef struct {
    const char *run;
    const char *gate;       /* a file that must be non-empty before the last part */
    int count, last;
    int done;
} producer_t;

static bool
non_empty (const char *path)
{
    struct stat st;
    return !stat (path, &st) && st.st_size > 0;
}

static void *
produce (void *arg)
{
    producer_t *p = arg;
    bus_client_t *c = client_new (2000, 5);
    for (int i = 0; i < p->count; i++) {
        for (int waited = 0; i == p->count - p->last && !non_empty (p->gate) && waited < 30000;
             waited++)
            usleep (1000);      /* at most 30 s: a tap that never prints fails below */
        char text[32];
        snprintf (text, sizeof text, "%d", i);
        proto_msg_t *rep = request (c, APPEND_MSG (p->run, text, .text = text));
        p->done += rep && rep->type == PROTO_event_ack;
        proto_msg_destroy (&rep);
    }
    bus_client_destroy (&c);
    return NULL;
}

/* Starts `caisson` with argv, its stdout into path. */
static pid_t
spawn_cli (const char *const argv[], const char *path)
{
    pid_t pid = fork ();
    if (pid == 0) {
        int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0)
            _exit (127);
        dup2 (fd, STDOUT_FILENO);
        close (fd);
        char bin[1024];
        snprintf (bin, sizeof bin, "%s/caisson", CAISSON_BIN_DIR);
        execv (bin, (char *const *) argv);
        _exit (127);
    }
    return pid;
}

static void
test_catch_up_then_live (void **state)
{
    (void) state;
    pid_t bus = setup_stack ("elog-clone");
    pid_t el = start_eventlog (NULL);
    bus_client_t *c = client_new (2000, 2);
    for (int i = 0; i < 300; i++)
        APPEND (c, rid ("CU"), text, .text = "-1");

    /* The tap starts while the producer writes, and the producer's last 500
     * events wait until the tap has printed its first line, so the tap
     * surely reads history and then goes live, both under load. */
    enum { TOTAL = 1800 };
    char out[1024];
    snprintf (out, sizeof out, "%s/tap.out", s_dir);
    producer_t p = { rid ("CU"), out, 1500, 500, 0 };
    pthread_t th;
    pthread_create (&th, NULL, produce, &p);
    usleep (50000);
    const char *tap[] = { "caisson", "tap", "--run", rid ("CU"), "--from", "1", "--count", "1800",
                          "--json", "--data", s_dir, NULL };
    pid_t cli = spawn_cli (tap, out);
    pthread_join (th, NULL);
    assert_int_equal (p.done, 1500);
    int status;
    assert_int_equal (waitpid (cli, &status, 0), cli);
    assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);

    FILE *f = fopen (out, "r");
    assert_non_null (f);
    static char line[4096];
    int n = 0, live = 0;
    while (fgets (line, sizeof line, f)) {
        json_t *ev = json_loads (line, 0, NULL);
        assert_non_null (ev);
        if (int_at (ev, "run_seq") != n + 1)
            fail_msg ("line %d has run_seq %lld: a gap or a duplicate", n + 1,
                      (long long) int_at (ev, "run_seq"));
        live += json_is_true (json_object_get (ev, "live"));
        n++;
        json_decref (ev);
    }
    fclose (f);
    assert_int_equal (n, TOTAL);
    print_message ("tap: %d events from history, then %d live\n", n - live, live);
    assert_in_range (live, 1, TOTAL - 300);
    bus_client_destroy (&c);
    support_expect_clean_exit (el);
    support_expect_clean_exit (bus);
}

int
main (void)
{
    /* these tests read every user's runs: as an operator, since event-log
     * answers anyone else with their own runs only (test_redteam_tenant) */
    proto_set_identity ("ops", true);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_append_ack_dedup_order),
        cmocka_unit_test (test_run_record_and_exports),
        cmocka_unit_test (test_catch_up_then_live),
    };
    return support_run_group_tests (tests, NULL, NULL);
}
