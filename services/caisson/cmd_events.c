/* cmd_events: reading the system's memory from the command line. tap
 * follows the Clone pattern of the ZeroMQ guide when --from is given: it
 * subscribes first, makes sure the subscription reaches event-log (an
 * events.read with a sync token, answered by a marker on `sync.<token>`),
 * reads the stored history, and then prints live events, dropping those at
 * or before the last one read: no gap, no duplicate. */
#include "cmd_events.h"
#include "bus_client.h"
#include "cliask.h"
#include "bus_tap.h"
#include "cfg.h"
#include "mpjson.h"
#include "runroute.h"
#include "stack.h"

#include <czmq.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *command;
    const char *arg;        /* RUN, HASH, or tap's PREFIX */
    const char *run;
    const char *topic;
    uint64_t from;
    bool has_from;
    uint64_t count;
    bool json, markdown;
    char data[PATH_MAX];
    bus_client_t *client;
} opts_t;

static const char *const commands[] = { "tap", "runs", "show", "artifact", "stats", NULL };

bool
cmd_events_is (const char *command)
{
    for (int i = 0; commands[i]; i++)
        if (!strcmp (command, commands[i]))
            return true;
    return false;
}

static int
parse (int argc, char **argv, opts_t *o)
{
    o->command = argv[1];
    const char *data = cfg_str ("CAISSON_DATA");
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (!strcmp (a, "--data") && more)
            data = argv[++i];
        else if (!strcmp (a, "--json"))
            o->json = true;
        else if (!strcmp (a, "--markdown"))
            o->markdown = true;
        else if (!strcmp (a, "--run") && more)
            o->run = argv[++i];
        else if (!strcmp (a, "--topic") && more)
            o->topic = argv[++i];
        else if ((!strcmp (a, "--from") || !strcmp (a, "--count")) && more) {
            char *end;
            uint64_t v = strtoull (argv[++i], &end, 10);
            if (*end || !*argv[i]) {
                fprintf (stderr, "caisson: %s needs a number, got '%s'\n", a, argv[i]);
                return -1;
            }
            if (a[2] == 'f')
                o->from = v, o->has_from = true;
            else
                o->count = v;
        }
        else if (a[0] != '-' && !o->arg)
            o->arg = a;
        else {
            fprintf (stderr, "caisson: unexpected argument '%s' (try --help)\n", a);
            return -1;
        }
    }
    return stack_prepare (data, o->data, sizeof o->data);
}

/* Sends req (consumed) to event-log; returns its declared reply, else
 * prints the error and returns NULL. */
static proto_msg_t *
ask (opts_t *o, proto_msg_t *req)
{
    return cliask (o->client, "event-log", req);
}

static json_t *
any_json (const proto_bytes_t *b)
{
    return b->data ? mpjson_get (b, 64) : json_null ();
}

static void
print_json (json_t *v, size_t flags)
{
    char *s = json_dumps (v, flags | JSON_ENCODE_ANY);
    if (s)
        printf ("%s\n", s);
    free (s);
}

/* ---- tap ------------------------------------------------------------------- */

static bool
wanted (const opts_t *o, const char *topic)
{
    const char *prefix = o->topic ? o->topic : "";
    return !strncmp (topic, prefix, strlen (prefix));
}

/* Prints one event, a JSON object with topic, seq, run_seq, run, id,
 * kind, ts, data and live (false when it came from the stored history),
 * when its topic is wanted. Returns 1 when printed. */
static int
emit (const opts_t *o, json_t *ev)
{
    const char *topic = json_string_value (json_object_get (ev, "topic"));
    if (!topic || !wanted (o, topic))
        return 0;
    if (o->json)
        print_json (ev, JSON_COMPACT);
    else {
        char seq[24] = "-", rseq[24] = "-";
        if (json_object_get (ev, "seq")) {
            snprintf (seq, sizeof seq, "%lld", (long long) json_integer_value (json_object_get (ev, "seq")));
            snprintf (rseq, sizeof rseq, "%lld",
                      (long long) json_integer_value (json_object_get (ev, "run_seq")));
        }
        char *d = json_dumps (json_object_get (ev, "data"), JSON_COMPACT | JSON_ENCODE_ANY);
        printf ("%8s %5s  %-40s %s\n", seq, rseq, topic, d ? d : "");
        free (d);
    }
    fflush (stdout);
    return 1;
}

static json_t *
live_json (const char *topic, const proto_msg_t *m)
{
    json_t *ev = json_pack ("{s:s, s:s, s:s, s:I, s:b}", "topic", topic, "type",
                            proto_type_name (m->type), "id", m->env.cause ? m->env.cause : m->env.id,
                            "ts", (json_int_t) m->env.ts, "live", 1);
    if (m->env.run)
        json_object_set_new (ev, "run", json_string (m->env.run));
    if (m->type == PROTO_event) {
        const proto_event_t *e = &m->body.event;
        json_object_set_new (ev, "kind", json_string (e->kind));
        if (e->seq) {
            json_object_set_new (ev, "seq", json_integer ((json_int_t) e->seq));
            json_object_set_new (ev, "run_seq", json_integer ((json_int_t) e->run_seq));
        }
        json_object_set_new (ev, "data", any_json (&e->data));
    }
    return ev;
}

/* Waits until a marker published by event-log on sync.<token> arrives:
 * from then on every event it publishes on our prefixes reaches us. */
static int
sync_tap (opts_t *o, bus_tap_t *tap)
{
    char token[CID_SIZE], topic[64];
    cid_token (token, 12);
    snprintf (topic, sizeof topic, "sync.%s", token);
    if (bus_tap_subscribe (tap, topic))
        return -1;
    for (int tries = 0; tries < 40 && !zsys_interrupted; tries++) {
        proto_msg_t *req = proto_msg_new (PROTO_events_read, NULL);
        if (req) {
            req->body.events_read.limit = 1;
            proto_set_str (&req->body.events_read.sync, token);
        }
        proto_msg_t *rep = ask (o, req);
        if (!rep)
            return -1;
        proto_msg_destroy (&rep);
        int64_t until = zclock_mono () + 250;
        while (zclock_mono () < until) {
            char got[256];
            proto_msg_t *m = bus_tap_recv (tap, got, sizeof got, 50, NULL);
            bool hit = m && !strcmp (got, topic);
            proto_msg_destroy (&m);
            if (hit)
                return 0;
        }
    }
    fprintf (stderr, "caisson: the subscription never reached event-log\n");
    return -1;
}

/* Prints stored events from o->from; *last gets the last position shown
 * (run_seq with --run, else seq). Returns printed count or -1. */
static int64_t
history (opts_t *o, uint64_t *last)
{
    uint64_t from = o->from ? o->from : 1;
    int64_t printed = 0;
    *last = from - 1;
    for (;;) {
        proto_msg_t *req = proto_msg_new (PROTO_events_read, NULL);
        if (req) {
            req->body.events_read.from_seq = from;
            if (o->run)
                proto_set_str (&req->body.events_read.run, o->run);
        }
        proto_msg_t *rep = ask (o, req);
        if (!rep)
            return -1;
        json_t *evs = any_json (&rep->body.events_page.events);
        size_t i;
        json_t *ev;
        json_array_foreach (evs, i, ev) {
            char topic[200];
            snprintf (topic, sizeof topic, "run.%s.%s",
                      json_string_value (json_object_get (ev, "run")),
                      json_string_value (json_object_get (ev, "kind")));
            json_object_set_new (ev, "topic", json_string (topic));
            json_object_set_new (ev, "type", json_string ("event"));
            json_object_set_new (ev, "live", json_false ());
            if (!o->count || (uint64_t) printed < o->count)
                printed += emit (o, ev);
        }
        bool done = !json_array_size (evs) || rep->body.events_page.next > rep->body.events_page.head;
        from = rep->body.events_page.next;
        *last = from - 1;
        json_decref (evs);
        proto_msg_destroy (&rep);
        if (done || (o->count && (uint64_t) printed >= o->count))
            return printed;
    }
}

static int
cmd_tap (opts_t *o)
{
    char prefix[128];
    if (o->run)
        snprintf (prefix, sizeof prefix, "run.%s.", o->run);
    else
        snprintf (prefix, sizeof prefix, "%s", o->topic ? o->topic : o->arg ? o->arg : "");
    if (!o->topic && o->arg)
        o->topic = o->arg;
    bus_tap_t *tap = bus_tap_new (cfg_str ("CAISSON_BUS_SUB"), prefix);
    if (!tap)
        return 1;
    uint64_t last = 0, printed = 0;
    if (o->has_from) {
        int64_t n = sync_tap (o, tap) ? -1 : history (o, &last);
        if (n < 0) {
            bus_tap_destroy (&tap);
            return 1;
        }
        printed = (uint64_t) n;
    }
    while (!zsys_interrupted && (!o->count || printed < o->count)) {
        char topic[256];
        proto_err_t err;
        proto_msg_t *m = bus_tap_recv (tap, topic, sizeof topic, 500, &err);
        if (!m) {
            if (err.code)
                fprintf (stderr, "caisson: undecodable event on %s: %s\n", topic, err.text);
            continue;
        }
        bool stale = false;
        if (!strncmp (topic, "sync.", 5))
            stale = true;
        else if (o->has_from && m->type == PROTO_event && m->body.event.seq) {
            uint64_t at = o->run ? m->body.event.run_seq : m->body.event.seq;
            stale = at <= last;
            if (!stale)
                last = at;
        }
        if (!stale) {
            json_t *ev = live_json (topic, m);
            printed += (uint64_t) emit (o, ev);
            json_decref (ev);
        }
        proto_msg_destroy (&m);
    }
    bus_tap_destroy (&tap);
    return 0;
}

/* ---- runs, show, artifact, stats ---------------------------------------------- */

static int
cmd_runs (opts_t *o)
{
    proto_msg_t *rep = ask (o, proto_msg_new (PROTO_runs_list, NULL));
    if (!rep)
        return 1;
    json_t *runs = any_json (&rep->body.runs_page.runs);
    if (o->json)
        print_json (runs, JSON_COMPACT);
    else {
        printf ("%-26s %-17s %-12s %-20s %5s %5s %9s  %s\n", "RUN", "STATUS", "USER", "MODEL",
                "STEPS", "CALLS", "TOKENS", "TASK");
        size_t i;
        json_t *r;
        json_array_foreach (runs, i, r) {
            json_t *t = json_object_get (r, "tokens");
            char *task = json_dumps (json_object_get (r, "task"), JSON_ENCODE_ANY);
            printf ("%-26s %-17s %-12.12s %-20.20s %5lld %5lld %9lld  %.60s\n",
                    json_string_value (json_object_get (r, "run")),
                    json_string_value (json_object_get (r, "status")),
                    json_string_value (json_object_get (r, "user")) ?: "-",
                    json_string_value (json_object_get (r, "model")) ?: "-",
                    (long long) json_integer_value (json_object_get (r, "steps")),
                    (long long) json_integer_value (json_object_get (r, "toolCalls")),
                    (long long) (json_integer_value (json_object_get (t, "input"))
                                 + json_integer_value (json_object_get (t, "output"))),
                    task ? task : "");
            free (task);
        }
    }
    json_decref (runs);
    proto_msg_destroy (&rep);
    return 0;
}

/* After a run's transcript: what it kept (diffs, test logs, pull
 * requests), each to open with `caisson artifact HASH`. */
static int
show_artifacts (opts_t *o)
{
    proto_msg_t *req = proto_msg_new (PROTO_run_record_get, NULL);
    proto_set_str (&req->body.run_record_get.run, o->arg);
    proto_msg_t *rep = ask (o, req);
    if (!rep)
        return 1;
    json_t *rec = any_json (&rep->body.run_record.run), *a;
    json_t *arts = json_object_get (rec, "artifacts");
    size_t i;
    if (json_array_size (arts))
        printf ("\n## Artifacts (caisson artifact HASH)\n\n");
    json_array_foreach (arts, i, a)
        printf ("- %s  %-8s %8lld B  %s\n", json_string_value (json_object_get (a, "hash")),
                json_string_value (json_object_get (a, "kind")) ?: "file",
                (long long) json_integer_value (json_object_get (a, "size")),
                json_string_value (json_object_get (a, "name")) ?: "");
    json_decref (rec);
    proto_msg_destroy (&rep);
    return 0;
}

/* One budget line: used of limit, for each budget the run has. */
static void
show_budgets (const json_t *b)
{
    static const char *const names[] = { "steps", "toolCalls", "seconds", "tokens" };
    json_t *limits = json_object_get (b, "limits"), *used = json_object_get (b, "used");
    printf ("\n## Budgets (used of limit)\n\n");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        printf ("- %s: %lld of %lld\n", names[i],
                (long long) json_integer_value (json_object_get (used, names[i])),
                (long long) json_integer_value (json_object_get (limits, names[i])));
}

static void
show_names (const char *label, const json_t *names)
{
    size_t i;
    json_t *n;
    printf ("- %s: %s", label, json_array_size (names) ? "" : "none");
    json_array_foreach (names, i, n)
        printf ("%s%s", i ? ", " : "", json_string_value (n) ?: "?");
    printf ("\n");
}

/* What the orchestrator knows of the run beyond its transcript: budgets
 * (limits and used) and checks (configured, and the last round's
 * outcomes). Says so when no orchestrator answers. */
static void
show_state (opts_t *o)
{
    char owner[96];
    runroute_service (o->client, o->arg, owner, sizeof owner);
    proto_msg_t *req = proto_msg_new (PROTO_run_get, NULL), *rep = NULL;
    if (req) {
        proto_set_str (&req->body.run_get.run_id, o->arg);
        bus_client_set_timeout (o->client, 3000, 1);
        rep = bus_client_request (o->client, owner, req);
        proto_msg_destroy (&req);
    }
    if (!rep || rep->type != PROTO_run_info) {
        printf ("\n(budgets and checks: %s)\n", rep ? rep->body.error.message
                                                     : "no orchestrator answered");
        proto_msg_destroy (&rep);
        return;
    }
    json_t *budgets = any_json (&rep->body.run_info.budgets);
    json_t *checks = any_json (&rep->body.run_info.checks), *c;
    if (json_is_object (budgets))
        show_budgets (budgets);
    if (json_is_object (checks)) {
        printf ("\n## Checks\n\n");
        show_names ("configured", json_object_get (checks, "configured"));
        show_names ("once files change", json_object_get (checks, "onChange"));
        size_t i;
        json_array_foreach (json_object_get (checks, "latest"), i, c) {
            const char *detail = json_string_value (json_object_get (c, "detail"));
            printf ("- %s: %s%s%s\n", json_string_value (json_object_get (c, "name")) ?: "?",
                    json_is_true (json_object_get (c, "ok")) ? "passed" : "FAILED",
                    detail && *detail ? ": " : "", detail ? detail : "");
        }
        if (!json_array_size (json_object_get (checks, "latest")))
            printf ("- latest: not run\n");
    }
    json_decref (budgets);
    json_decref (checks);
    proto_msg_destroy (&rep);
}

static int
cmd_show (opts_t *o)
{
    if (!o->arg) {
        fprintf (stderr, "caisson: show needs a run id\n");
        return 2;
    }
    proto_msg_t *req = proto_msg_new (PROTO_transcript_get, NULL);
    if (req) {
        proto_set_str (&req->body.transcript_get.run, o->arg);
        proto_set_str (&req->body.transcript_get.format, o->json ? "jsonl" : "markdown");
    }
    proto_msg_t *rep = ask (o, req);
    if (!rep)
        return 1;
    fputs (rep->body.transcript.text, stdout);
    if (rep->body.transcript.truncated)
        fprintf (stderr, "caisson: transcript truncated (too large for one reply)\n");
    proto_msg_destroy (&rep);
    if (o->json)
        return 0;
    int rc = show_artifacts (o);
    show_state (o);
    return rc;
}

static int
cmd_artifact (opts_t *o)
{
    if (!o->arg) {
        fprintf (stderr, "caisson: artifact needs a hash\n");
        return 2;
    }
    uint64_t offset = 0, size = 1;
    while (offset < size) {
        proto_msg_t *req = proto_msg_new (PROTO_artifact_get, NULL);
        if (req) {
            proto_set_str (&req->body.artifact_get.hash, o->arg);
            req->body.artifact_get.offset = offset;
        }
        proto_msg_t *rep = ask (o, req);
        if (!rep)
            return 1;
        const proto_artifact_data_t *b = &rep->body.artifact_data;
        size = b->size;
        if (b->data.size && fwrite (b->data.data, 1, b->data.size, stdout) != b->data.size) {
            proto_msg_destroy (&rep);
            return 1;
        }
        offset += b->data.size;
        bool stuck = !b->data.size;
        proto_msg_destroy (&rep);
        if (stuck)
            break;
    }
    return 0;
}

static void
stats_row (const char *label, json_t *f)
{
    json_t *causes = json_object_get (f, "failureCauses");
    const char *top = json_string_value (json_object_get (json_array_get (causes, 0), "cause"));
    printf ("%-32.32s %5lld %7.1f%% %9lld %10.0f %10.0f %10.0f %6.1f %6.1f  %s\n", label,
            (long long) json_integer_value (json_object_get (f, "finished")),
            100 * json_real_value (json_object_get (f, "passRate")),
            (long long) json_integer_value (json_object_get (f, "completedUnchecked")),
            json_real_value (json_object_get (f, "tokensMean")),
            json_real_value (json_object_get (f, "tokensMedian")),
            json_real_value (json_object_get (f, "runtimeMsMean")),
            json_real_value (json_object_get (f, "stepsMean")),
            json_real_value (json_object_get (f, "toolCallsMean")), top ? top : "-");
}

/* The Spend table: model gateway calls per user, key and model. */
static void
spend_rows (json_t *spend)
{
    static const char *const bys[] = { "byUser", "user", "byKey", "key", "byModel", "model" };
    if (!spend || !json_object_size (json_object_get (spend, "byUser")))
        return;
    printf ("\nSpend (model gateway)\n%-40s %7s %10s %10s %10s %12s %6s\n", "SCOPE", "CALLS",
            "IN", "OUT", "CACHED", "USD", "ERRORS");
    for (size_t i = 0; i < 6; i += 2) {
        const char *k;
        json_t *v;
        json_object_foreach (json_object_get (spend, bys[i]), k, v)
            printf ("%-5s %-34.34s %7lld %10lld %10lld %10lld %12.6f %6lld\n", bys[i + 1], k,
                    (long long) json_integer_value (json_object_get (v, "calls")),
                    (long long) json_integer_value (json_object_get (v, "in")),
                    (long long) json_integer_value (json_object_get (v, "out")),
                    (long long) json_integer_value (json_object_get (v, "cached")),
                    (double) json_integer_value (json_object_get (v, "nusd")) / 1e9,
                    (long long) json_integer_value (json_object_get (v, "errors")));
    }
}

static int
cmd_stats (opts_t *o)
{
    proto_msg_t *rep = ask (o, proto_msg_new (PROTO_stats_get, NULL));
    if (!rep)
        return 1;
    json_t *s = any_json (&rep->body.stats.stats);
    if (o->json)
        print_json (s, JSON_COMPACT);
    else {
        printf ("%-32s %5s %8s %9s %10s %10s %10s %6s %6s  %s\n", "GROUP", "RUNS", "PASS",
                "UNCHECKED", "TOK MEAN", "TOK MED", "MS MEAN", "STEPS", "CALLS", "TOP FAILURE");
        if (json_object_get (s, "all"))
            stats_row ("all", json_object_get (s, "all"));
        const char *k;
        json_t *v;
        char label[300];
        json_object_foreach (json_object_get (s, "byModel"), k, v) {
            snprintf (label, sizeof label, "model %s", k);
            stats_row (label, v);
        }
        json_object_foreach (json_object_get (s, "byPromptVersion"), k, v) {
            snprintf (label, sizeof label, "prompt %s", k);
            stats_row (label, v);
        }
        spend_rows (json_object_get (s, "spend"));
    }
    json_decref (s);
    proto_msg_destroy (&rep);
    return 0;
}

int
cmd_events_main (int argc, char **argv)
{
    opts_t o = { 0 };
    if (parse (argc, argv, &o))
        return 2;
    if (stack_load_endpoints (o.data) && !strcmp (o.command, "tap"))
        fprintf (stderr, "caisson: no stack recorded in %s; using configured endpoints\n", o.data);
    o.client = bus_client_new (cfg_str ("CAISSON_BUS"));
    if (!o.client)
        return 1;
    int status = !strcmp (o.command, "tap") ? cmd_tap (&o)
               : !strcmp (o.command, "runs") ? cmd_runs (&o)
               : !strcmp (o.command, "show") ? cmd_show (&o)
               : !strcmp (o.command, "artifact") ? cmd_artifact (&o)
               : cmd_stats (&o);
    bus_client_destroy (&o.client);
    return status;
}
