/* test_eventlog: event-log as the rest of the system sees it. Each test
 * starts the real broker and event-log in a private directory and talks
 * to them over the bus and through the caisson CLI: acknowledged appends,
 * de-duplication across a restart, ordering, the run record, catch-up then
 * live with no gap under a concurrent producer, kill -9 during a burst
 * from several producers, a full map, retention, and both transcript
 * formats. */
#include "support.h"
#include "bus_client.h"
#include "bus_tap.h"
#include "mpjson.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *s_dir;

/* A run id for a short test name: a fresh cid per name and sandbox, made
 * 2 ms apart so runs made later sort later, as in a real stack. */
static const char *
rid (const char *name)
{
    static char names[32][16], ids[32][CID_SIZE];
    static int n;
    for (int i = 0; i < n; i++)
        if (!strcmp (names[i], name))
            return ids[i];
    assert_true (n < 32);
    usleep (2000);
    snprintf (names[n], sizeof names[n], "%s", name);
    cid_new (ids[n]);
    return ids[n++];
}

/* ---- helpers ------------------------------------------------------------ */

static bus_client_t *
client_new (int timeout_ms, int retries)
{
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    assert_non_null (c);
    bus_client_set_timeout (c, timeout_ms, retries);
    return c;
}

static proto_msg_t *
request (bus_client_t *c, proto_msg_t *req)
{
    proto_msg_t *rep = bus_client_request (c, "event-log", req);
    proto_msg_destroy (&req);
    return rep;
}

static pid_t
start_eventlog (const char *const env[])
{
    pid_t pid = support_spawn ("caisson-event-log", env);
    bus_client_t *c = client_new (200, 0);
    for (int i = 0; i < 100; i++) {
        proto_msg_t *rep = request (c, proto_msg_new (PROTO_health_req, NULL));
        bool up = rep && rep->type == PROTO_health_rep
                  && rep->body.health_rep.pid == (uint64_t) pid;
        proto_msg_destroy (&rep);
        if (up) {
            bus_client_destroy (&c);
            return pid;
        }
    }
    fail_msg ("event-log never answered");
    return -1;
}

static pid_t
setup_stack (const char *name)
{
    assert_non_null (s_dir = support_sandbox_env (name));
    setenv ("CAISSON_HEARTBEAT_MS", "100", 1);
    return support_spawn ("caisson-bus", NULL);
}

/* A new event.append for run with data given as JSON text (NULL: none). */
static proto_msg_t *
append_msg (const char *run, const char *kind, const char *json)
{
    proto_msg_t *m = proto_msg_new (PROTO_event_append, NULL);
    assert_non_null (m);
    proto_set_str (&m->env.run, run);
    proto_set_str (&m->body.event_append.kind, kind);
    if (json) {
        json_t *v = json_loads (json, JSON_DECODE_ANY, NULL);
        assert_non_null (v);
        uint8_t *data;
        size_t size;
        assert_int_equal (mpjson_encode (v, 32, &data, &size), 0);
        m->body.event_append.data.data = data;
        m->body.event_append.data.size = size;
        json_decref (v);
    }
    return m;
}

/* Appends and expects an ack; returns its global seq. */
static uint64_t
append (bus_client_t *c, const char *run, const char *kind, const char *json)
{
    proto_msg_t *rep = request (c, append_msg (run, kind, json));
    assert_non_null (rep);
    if (rep->type != PROTO_event_ack)
        fail_msg ("append %s: %s", kind, rep->type == PROTO_error ? rep->body.error.message : "?");
    uint64_t seq = rep->body.event_ack.seq;
    proto_msg_destroy (&rep);
    return seq;
}

static json_t *
any_json (const proto_bytes_t *b)
{
    char why[160];
    json_t *v = mpjson_decode (b->data, b->size, 64, why, sizeof why);
    if (!v)
        fail_msg ("undecodable ANY: %s", why);
    return v;
}

/* Every stored event of run (NULL: the global order) from from_seq on. */
static json_t *
read_all (bus_client_t *c, const char *run, uint64_t from)
{
    json_t *all = json_array ();
    for (;;) {
        proto_msg_t *req = proto_msg_new (PROTO_events_read, NULL);
        req->body.events_read.from_seq = from;
        if (run)
            proto_set_str (&req->body.events_read.run, run);
        proto_msg_t *rep = request (c, req);
        assert_non_null (rep);
        assert_int_equal (rep->type, PROTO_events_page);
        json_t *page = any_json (&rep->body.events_page.events);
        json_array_extend (all, page);
        bool done = !json_array_size (page);
        from = rep->body.events_page.next;
        json_decref (page);
        proto_msg_destroy (&rep);
        if (done)
            return all;
    }
}

static json_t *
run_get (bus_client_t *c, const char *run)
{
    proto_msg_t *req = proto_msg_new (PROTO_run_get, NULL);
    proto_set_str (&req->body.run_get.run, run);
    proto_msg_t *rep = request (c, req);
    assert_non_null (rep);
    json_t *rec = rep->type == PROTO_run_info ? any_json (&rep->body.run_info.run) : NULL;
    proto_msg_destroy (&rep);
    return rec;
}

static json_int_t
int_at (json_t *obj, const char *key)
{
    return json_integer_value (json_object_get (obj, key));
}

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

    uint64_t s1 = append (c, rid ("R1"), "run_started", "{\"task\":\"t\",\"user\":\"ann\"}");
    uint64_t s2 = append (c, rid ("R2"), "run_started", "{\"task\":\"u\"}");
    uint64_t s3 = append (c, rid ("R1"), "text", "{\"text\":\"hi\"}");
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
    proto_msg_t *again = append_msg (rid ("R1"), "tool_call", "{\"name\":\"x\"}");
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
    proto_msg_t *req = proto_msg_new (PROTO_run_get, NULL);
    proto_set_str (&req->body.run_get.run, "nosuch");
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

static proto_msg_t *
put_artifact (bus_client_t *c, const void *data, size_t size, const char *kind)
{
    proto_msg_t *req = proto_msg_new (PROTO_artifact_put, NULL);
    proto_set_bytes (&req->body.artifact_put.data, data, size);
    proto_set_str (&req->body.artifact_put.kind, kind);
    proto_msg_t *rep = request (c, req);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_artifact_ref);
    return rep;
}

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

    append (c, rid ("RUN1"), "run_started", "{\"task\":\"fix the build\",\"user\":\"ann\","
            "\"threadId\":\"T1\",\"model\":\"m-large\",\"promptVersion\":\"v2\","
            "\"budgets\":{\"steps\":20}}");
    append (c, rid ("RUN1"), "plan", "{\"plan\":\"read, then patch\"}");
    append (c, rid ("RUN1"), "tool_call", "{\"toolCallId\":\"c1\",\"name\":\"read_file\","
            "\"args\":{\"path\":\"Makefile\"}}");
    append (c, rid ("RUN1"), "tool_result", "{\"toolCallId\":\"c1\",\"name\":\"read_file\","
            "\"ok\":true,\"result\":\"all: build\",\"durationMs\":12}");
    append (c, rid ("RUN1"), "ask_approval", "{\"toolCallId\":\"c2\",\"name\":\"run_command\","
            "\"args\":{\"cmd\":\"make\"}}");
    append (c, rid ("RUN1"), "approval_decision", "{\"toolCallId\":\"c2\",\"approved\":true}");
    append (c, rid ("RUN1"), "tool_call", "{\"toolCallId\":\"c2\",\"name\":\"run_command\","
            "\"args\":{\"cmd\":\"make\"}}");
    append (c, rid ("RUN1"), "usage", "{\"inputTokens\":100,\"outputTokens\":20,\"cachedTokens\":50}");
    char art[256];
    snprintf (art, sizeof art, "{\"hash\":\"%s\",\"kind\":\"test_log\",\"name\":\"make.log\","
              "\"size\":%zu}", hash, big);
    append (c, rid ("RUN1"), "artifact", art);
    append (c, rid ("RUN1"), "usage", "{\"inputTokens\":300,\"outputTokens\":40,\"cachedTokens\":0}");
    append (c, rid ("RUN1"), "text", "{\"text\":\"The build works now.\"}");
    append (c, rid ("RUN1"), "complete", "{\"status\":\"completed\",\"answer\":\"fixed\"}");
    append (c, rid ("RUN2"), "run_started", "{\"task\":\"other\",\"user\":\"bob\",\"model\":\"m-small\","
            "\"promptVersion\":\"v1\"}");
    append (c, rid ("RUN2"), "failed", "{\"status\":\"budget_exhausted\",\"reason\":\"step budget\"}");
    append (c, rid ("RUN3"), "run_started", "{\"task\":\"still going\",\"user\":\"ann\"}");

    json_t *rec = run_get (c, rid ("RUN1"));
    assert_non_null (rec);
    assert_string_equal (json_string_value (json_object_get (rec, "status")), "completed");
    assert_string_equal (json_string_value (json_object_get (rec, "task")), "fix the build");
    assert_string_equal (json_string_value (json_object_get (rec, "thread")), "T1");
    assert_string_equal (json_string_value (json_object_get (rec, "model")), "m-large");
    assert_int_equal (int_at (rec, "steps"), 2);
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

    /* Figures: 2 finished runs, one passed. */
    const char *stats[] = { "caisson", "stats", "--json", "--data", s_dir, NULL };
    assert_int_equal (support_run (stats, out, sizeof out), 0);
    json_t *s = json_loads (out, 0, NULL);
    assert_non_null (s);
    json_t *all = json_object_get (s, "all");
    assert_int_equal (int_at (all, "runs"), 3);
    assert_int_equal (int_at (all, "finished"), 2);
    assert_true (json_real_value (json_object_get (all, "passRate")) == 0.5);
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
    int count;
    int done;
} producer_t;

static void *
produce (void *arg)
{
    producer_t *p = arg;
    bus_client_t *c = client_new (2000, 5);
    for (int i = 0; i < p->count; i++) {
        char data[64];
        snprintf (data, sizeof data, "{\"i\":%d}", i);
        proto_msg_t *rep = request (c, append_msg (p->run, "text", data));
        p->done += rep && rep->type == PROTO_event_ack;
        proto_msg_destroy (&rep);
    }
    bus_client_destroy (&c);
    return NULL;
}

static void
test_catch_up_then_live (void **state)
{
    (void) state;
    pid_t bus = setup_stack ("elog-clone");
    pid_t el = start_eventlog (NULL);
    bus_client_t *c = client_new (2000, 2);
    for (int i = 0; i < 300; i++)
        append (c, rid ("CU"), "text", "{\"i\":-1}");
    producer_t p = { rid ("CU"), 1500, 0 };
    pthread_t th;
    pthread_create (&th, NULL, produce, &p);
    usleep (50000);

    /* The tap starts while the producer is writing: history, then live. */
    enum { TOTAL = 1800 };
    static char out[4 << 20];
    const char *tap[] = { "caisson", "tap", "--run", rid ("CU"), "--from", "1", "--count", "1800",
                          "--json", "--data", s_dir, NULL };
    assert_int_equal (support_run (tap, out, sizeof out), 0);
    pthread_join (th, NULL);
    assert_int_equal (p.done, 1500);
    int n = 0;
    for (char *line = strtok (out, "\n"); line; line = strtok (NULL, "\n")) {
        json_t *ev = json_loads (line, 0, NULL);
        assert_non_null (ev);
        if (int_at (ev, "run_seq") != n + 1)
            fail_msg ("line %d has run_seq %lld: a gap or a duplicate", n + 1,
                      (long long) int_at (ev, "run_seq"));
        n++;
        json_decref (ev);
    }
    assert_int_equal (n, TOTAL);
    bus_client_destroy (&c);
    support_expect_clean_exit (el);
    support_expect_clean_exit (bus);
}

/* ---- kill -9 during a burst -------------------------------------------------- */

typedef struct {
    const char *run;
    int count;
    char (*ids)[CID_SIZE];      /* ids acknowledged */
    uint64_t *seqs;
    int acked, duplicates;
    volatile int *total;
} burst_t;

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;

static void *
burst (void *arg)
{
    burst_t *b = arg;
    bus_client_t *c = client_new (500, 60);
    const char *run = b->run;
    for (int i = 0; i < b->count; i++) {
        proto_msg_t *req = append_msg (run, "text", "{\"text\":\"burst\"}");
        proto_msg_t *rep = bus_client_request (c, "event-log", req);
        if (rep && rep->type == PROTO_event_ack) {
            snprintf (b->ids[b->acked], CID_SIZE, "%s", req->env.id);
            b->seqs[b->acked++] = rep->body.event_ack.seq;
            b->duplicates += rep->body.event_ack.duplicate;
            pthread_mutex_lock (&s_lock);
            (*b->total)++;
            pthread_mutex_unlock (&s_lock);
        }
        proto_msg_destroy (&rep);
        proto_msg_destroy (&req);
    }
    bus_client_destroy (&c);
    return NULL;
}

static void
test_kill9_during_burst (void **state)
{
    (void) state;
    enum { PRODUCERS = 4 };
    const char *env = getenv ("CAISSON_TEST_BURST");
    int total_events = env && atoi (env) > 0 ? atoi (env) : 4000;
    pid_t bus = setup_stack ("elog-kill");
    static const char *const relaxed[] = { "CAISSON_EVENTLOG_SYNC=nometasync", NULL };
    pid_t el = start_eventlog (relaxed);
    volatile int total = 0;
    burst_t b[PRODUCERS];
    pthread_t th[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        int n = total_events / PRODUCERS;
        char name[8];
        snprintf (name, sizeof name, "B%d", i);
        b[i] = (burst_t) { rid (name), n, calloc ((size_t) n, CID_SIZE), calloc ((size_t) n, 8), 0, 0,
                           &total };
        pthread_create (&th[i], NULL, burst, &b[i]);
    }
    /* Kill it outright a third of the way in, and start it again. */
    for (;;) {
        pthread_mutex_lock (&s_lock);
        int now = total;
        pthread_mutex_unlock (&s_lock);
        if (now >= total_events / 3)
            break;
        assert_true (support_alive (el));
        usleep (2000);
    }
    kill (el, SIGKILL);
    waitpid (el, NULL, 0);
    el = start_eventlog (relaxed);
    int acked = 0, dups = 0;
    for (int i = 0; i < PRODUCERS; i++) {
        pthread_join (th[i], NULL);
        acked += b[i].acked;
        dups += b[i].duplicates;
    }
    print_message ("burst: %d events, %d acked, %d acked as duplicates after the restart\n",
                   total_events, acked, dups);
    assert_int_equal (acked, total_events / PRODUCERS * PRODUCERS);

    /* Every acknowledged event is stored exactly once, where its ack said. */
    bus_client_t *c = client_new (5000, 2);
    json_t *all = read_all (c, NULL, 1);
    json_t *seen = json_object ();
    size_t i;
    json_t *ev;
    json_array_foreach (all, i, ev) {
        const char *id = json_string_value (json_object_get (ev, "id"));
        if (json_object_get (seen, id))
            fail_msg ("event %s stored twice", id);
        json_object_set_new (seen, id, json_integer (int_at (ev, "seq")));
    }
    for (int p = 0; p < PRODUCERS; p++) {
        for (int k = 0; k < b[p].acked; k++) {
            json_t *seq = json_object_get (seen, b[p].ids[k]);
            if (!seq)
                fail_msg ("acked event %s is missing", b[p].ids[k]);
            assert_int_equal ((uint64_t) json_integer_value (seq), b[p].seqs[k]);
        }
        free (b[p].ids);
        free (b[p].seqs);
    }
    assert_int_equal (json_array_size (all), (size_t) acked);
    json_decref (seen);
    json_decref (all);
    bus_client_destroy (&c);
    support_expect_clean_exit (el);
    support_expect_clean_exit (bus);
}

/* ---- a full map ---------------------------------------------------------------- */

static void
test_map_full (void **state)
{
    (void) state;
    pid_t bus = setup_stack ("elog-full");
    static const char *const small[] = { "CAISSON_LMDB_MAP_MB=1", "CAISSON_LMDB_MAX_MB=2", NULL };
    pid_t el = start_eventlog (small);
    bus_client_t *c = client_new (5000, 1);
    char *big = malloc (300000);
    memset (big, 'x', 299990);
    big[0] = '"';
    big[299990] = '"';
    big[299991] = '\0';
    int stored = 0;
    proto_msg_t *rep = NULL;
    for (; stored < 20; stored++) {
        rep = request (c, append_msg (rid ("FULL"), "text", big));
        assert_non_null (rep);
        if (rep->type != PROTO_event_ack)
            break;
        proto_msg_destroy (&rep);
    }
    assert_in_range (stored, 2, 8);
    assert_int_equal (rep->type, PROTO_error);
    assert_string_equal (rep->body.error.code, "store_full");
    assert_non_null (strstr (rep->body.error.message, "CAISSON_LMDB_MAX_MB"));
    proto_msg_destroy (&rep);
    /* What was acked is intact, small events still fit, and it reopens. */
    append (c, rid ("FULL"), "text", "{\"small\":1}");
    support_expect_clean_exit (el);
    el = start_eventlog (small);
    json_t *evs = read_all (c, rid ("FULL"), 1);
    assert_int_equal (json_array_size (evs), (size_t) stored + 1);
    json_decref (evs);
    free (big);
    bus_client_destroy (&c);
    support_expect_clean_exit (el);
    support_expect_clean_exit (bus);
}

/* ---- retention ------------------------------------------------------------------ */

static void
append_at (bus_client_t *c, const char *run, const char *kind, const char *json, uint64_t ts)
{
    proto_msg_t *req = append_msg (run, kind, json);
    req->env.ts = ts;
    proto_msg_t *rep = request (c, req);
    assert_int_equal (rep->type, PROTO_event_ack);
    proto_msg_destroy (&rep);
}

static bool
artifact_exists (bus_client_t *c, const char *hash)
{
    proto_msg_t *req = proto_msg_new (PROTO_artifact_get, NULL);
    proto_set_str (&req->body.artifact_get.hash, hash);
    proto_msg_t *rep = request (c, req);
    bool found = rep && rep->type == PROTO_artifact_data;
    if (!found)
        assert_string_equal (rep->body.error.code, "not_found");
    proto_msg_destroy (&rep);
    return found;
}

static void
test_retention (void **state)
{
    (void) state;
    pid_t bus = setup_stack ("elog-retain");
    pid_t el = start_eventlog (NULL);
    bus_client_t *c = client_new (5000, 1);
    proto_msg_t *shared = put_artifact (c, "shared bytes", 12, "file");
    proto_msg_t *own = put_artifact (c, "old run's own bytes", 19, "diff");
    char art[256];
    uint64_t now = (uint64_t) time (NULL) * 1000000, old = now - 40ull * 86400 * 1000000;
    append_at (c, rid ("OLD"), "run_started", "{\"task\":\"old\"}", old);
    snprintf (art, sizeof art, "{\"hash\":\"%s\",\"size\":12}", shared->body.artifact_ref.hash);
    append_at (c, rid ("OLD"), "artifact", art, old);
    append_at (c, rid ("NEW"), "run_started", "{\"task\":\"new\"}", now);
    append_at (c, rid ("NEW"), "artifact", art, now);
    snprintf (art, sizeof art, "{\"hash\":\"%s\",\"size\":19}", own->body.artifact_ref.hash);
    append_at (c, rid ("OLD"), "artifact", art, old);
    support_expect_clean_exit (el);

    static const char *const keep30[] = { "CAISSON_EVENTLOG_RETENTION_DAYS=30", NULL };
    el = start_eventlog (keep30);
    json_t *rec = run_get (c, rid ("OLD"));
    assert_null (rec);
    rec = run_get (c, rid ("NEW"));
    assert_non_null (rec);
    json_decref (rec);
    assert_true (artifact_exists (c, shared->body.artifact_ref.hash));
    assert_false (artifact_exists (c, own->body.artifact_ref.hash));
    json_t *all = read_all (c, NULL, 1);
    assert_int_equal (json_array_size (all), 2);
    json_decref (all);
    all = read_all (c, rid ("OLD"), 1);
    assert_int_equal (json_array_size (all), 0);
    json_decref (all);
    proto_msg_destroy (&shared);
    proto_msg_destroy (&own);
    bus_client_destroy (&c);
    support_expect_clean_exit (el);
    support_expect_clean_exit (bus);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_append_ack_dedup_order),
        cmocka_unit_test (test_run_record_and_exports),
        cmocka_unit_test (test_catch_up_then_live),
        cmocka_unit_test (test_kill9_during_burst),
        cmocka_unit_test (test_map_full),
        cmocka_unit_test (test_retention),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
