/* reader: the reading side of event-log: one run's record, the list of
 * runs, stored events by run or in the global order, and the eval figures
 * over runs. Every answer comes from one read transaction, so it is a
 * consistent snapshot; event pages are copied straight from the stored
 * msgpack without decoding them. */
#include "elog.h"
#include "clog.h"
#include "evkind.h"
#include "mpjson.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_EVENTS 1000
#define DEFAULT_RUNS 50

/* ---- run.record.get---------------------------------------------------------- */

typedef struct {
    elog_t *el;
    const char *run;
    json_t *rec;
} get_t;

static int
get_run (MDB_txn *txn, void *arg)
{
    get_t *g = arg;
    g->rec = elog_run_load (txn, g->el, g->run);
    return 0;
}

proto_msg_t *
reader_run_record_get (const proto_msg_t *req, void *arg)
{
    elog_t *el = svc_state (arg);
    get_t g = { el, req->body.run_record_get.run, NULL };
    if (store_read (el->store, get_run, &g))
        return proto_error_new (req, PROTO_ERR_store_failed, "%s", mdb_strerror (store_error (el->store)));
    if (g.rec && !elog_may_read (req, g.rec))
        json_decref (g.rec), g.rec = NULL;
    if (!g.rec)
        return proto_error_new (req, PROTO_ERR_not_found, "run.record.get: no run '%s'", g.run);
    proto_msg_t *rep = proto_msg_new (PROTO_run_record, req);
    if (mpjson_set (&rep->body.run_record.run, g.rec, 64))
        proto_msg_destroy (&rep);
    json_decref (g.rec);
    return rep;
}

/* ---- runs.list ----------------------------------------------------------- */

typedef struct {
    elog_t *el;
    const proto_msg_t *req;     /* a non-operator lists only their runs */
    const proto_runs_list_t *q;
    json_t *runs;
    char next[ELOG_RUN_KEY + 1];
} list_t;

static bool
str_match (json_t *rec, const char *key, const char *want)
{
    const char *v = json_string_value (json_object_get (rec, key));
    return !want || (v && !strcmp (v, want));
}

static int
list_runs (MDB_txn *txn, void *arg)
{
    list_t *l = arg;
    const proto_runs_list_t *q = l->q;
    size_t limit = q->limit ? q->limit : DEFAULT_RUNS;
    MDB_cursor *cur;
    int rc = mdb_cursor_open (txn, store_dbi (l->el->store, DB_RUNS), &cur);
    if (rc)
        return rc;
    MDB_val k, v;
    uint8_t start[ELOG_RUN_KEY];
    if (q->before) {
        elog_run_key (q->before, start);
        k = (MDB_val) { sizeof start, start };
        rc = mdb_cursor_get (cur, &k, &v, MDB_SET_RANGE);
        rc = rc == MDB_NOTFOUND ? mdb_cursor_get (cur, &k, &v, MDB_LAST)
                                : mdb_cursor_get (cur, &k, &v, MDB_PREV);
    }
    else
        rc = mdb_cursor_get (cur, &k, &v, MDB_LAST);
    for (; !rc; rc = mdb_cursor_get (cur, &k, &v, MDB_PREV)) {
        if (q->before && k.mv_size == ELOG_RUN_KEY && memcmp (k.mv_data, start, ELOG_RUN_KEY) >= 0)
            continue;
        json_t *rec = json_loadb (v.mv_data, v.mv_size, 0, NULL);
        if (!rec)
            continue;
        uint64_t started = (uint64_t) json_integer_value (json_object_get (rec, "started"));
        if (elog_may_read (l->req, rec)
            && str_match (rec, "status", q->status) && str_match (rec, "user", q->user)
            && str_match (rec, "thread", q->thread) && (!q->since || started >= q->since)
            && (!q->until || started < q->until)) {
            if (json_array_size (l->runs) == limit) {
                json_decref (rec);
                snprintf (l->next, sizeof l->next, "%s",
                          json_string_value (json_object_get (
                              json_array_get (l->runs, limit - 1), "run")));
                break;
            }
            json_array_append_new (l->runs, rec);
        }
        else
            json_decref (rec);
    }
    mdb_cursor_close (cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

proto_msg_t *
reader_runs_list (const proto_msg_t *req, void *arg)
{
    elog_t *el = svc_state (arg);
    list_t l = { el, req, &req->body.runs_list, json_array (), "" };
    proto_msg_t *rep = NULL;
    if (store_read (el->store, list_runs, &l))
        rep = proto_error_new (req, PROTO_ERR_store_failed, "%s", mdb_strerror (store_error (el->store)));
    else {
        rep = proto_msg_new (PROTO_runs_page, req);
        if (*l.next)
            proto_set_str (&rep->body.runs_page.next, l.next);
        if (mpjson_set (&rep->body.runs_page.runs, l.runs, 64))
            proto_msg_destroy (&rep);
    }
    json_decref (l.runs);
    return rep;
}

/* ---- events.read --------------------------------------------------------- */

typedef struct {
    elog_t *el;
    const proto_msg_t *req;
    const proto_events_read_t *q;
    msgpack_sbuffer out;
    uint64_t next, head;
    bool hidden;                /* the run is someone else's */
} read_t;

/* The stored values are msgpack maps already: the page is an array header
 * followed by them, byte for byte. */
static int
emit (read_t *r, MDB_val *vals, size_t n)
{
    msgpack_packer pk;
    msgpack_packer_init (&pk, &r->out, msgpack_sbuffer_write);
    if (msgpack_pack_array (&pk, n))
        return ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (msgpack_sbuffer_write (&r->out, vals[i].mv_data, vals[i].mv_size))
            return ENOMEM;
    return 0;
}

static int
read_events (MDB_txn *txn, void *arg)
{
    read_t *r = arg;
    const proto_events_read_t *q = r->q;
    store_t *st = r->el->store;
    size_t limit = q->limit ? q->limit : DEFAULT_EVENTS, n = 0, bytes = 0;
    uint64_t from = q->from_seq ? q->from_seq : 1;
    MDB_val *vals = calloc (limit, sizeof *vals);
    MDB_cursor *cur;
    int rc = vals ? 0 : ENOMEM;
    if (!rc)
        rc = mdb_cursor_open (txn, store_dbi (st, q->run ? DB_EVENTS : DB_GLOBAL), &cur);
    if (rc) {
        free (vals);
        return rc;
    }
    uint8_t key[ELOG_EVENT_KEY];
    MDB_val k, v;
    r->next = from;
    if (q->run) {
        json_t *owner = elog_run_load (txn, r->el, q->run);
        r->hidden = owner && !elog_may_read (r->req, owner);
        json_decref (owner);
        if (r->hidden) {
            mdb_cursor_close (cur);
            free (vals);
            return 0;
        }
        elog_run_key (q->run, key);
        elog_be64 (key + ELOG_RUN_KEY, from);
        k = (MDB_val) { sizeof key, key };
        for (rc = mdb_cursor_get (cur, &k, &v, MDB_SET_RANGE);
             !rc && n < limit && bytes < ELOG_PAGE_BYTES;
             rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT)) {
            if (k.mv_size != ELOG_EVENT_KEY || memcmp (k.mv_data, key, ELOG_RUN_KEY))
                break;
            vals[n++] = v;
            bytes += v.mv_size;
            r->next = elog_get64 ((uint8_t *) k.mv_data + ELOG_RUN_KEY) + 1;
        }
        json_t *rec = elog_run_load (txn, r->el, q->run);
        r->head = (uint64_t) json_integer_value (json_object_get (rec, "events"));
        json_decref (rec);
    }
    else {
        elog_be64 (key, from);
        k = (MDB_val) { 8, key };
        /* the global order, less the runs the caller may not read; the
         * verdict on the last run looked up is kept, since runs' events
         * come in stretches */
        uint8_t last[ELOG_RUN_KEY];
        bool known = false, readable = false;
        for (rc = mdb_cursor_get (cur, &k, &v, MDB_SET_RANGE);
             !rc && n < limit && bytes < ELOG_PAGE_BYTES;
             rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT)) {
            MDB_val ev;
            r->next = elog_get64 (k.mv_data) + 1;
            if (v.mv_size != ELOG_EVENT_KEY)
                continue;
            if (!known || memcmp (last, v.mv_data, ELOG_RUN_KEY)) {
                memcpy (last, v.mv_data, ELOG_RUN_KEY);
                known = true;
                readable = elog_may_read_key (txn, r->el, r->req, last);
            }
            if (!readable || mdb_get (txn, store_dbi (st, DB_EVENTS), &v, &ev))
                continue;
            vals[n++] = ev;
            bytes += ev.mv_size;
        }
        r->head = 0;
        if (!mdb_cursor_get (cur, &k, &v, MDB_LAST))
            r->head = elog_get64 (k.mv_data);
    }
    mdb_cursor_close (cur);
    rc = emit (r, vals, n);
    free (vals);
    return rc;
}

proto_msg_t *
reader_events_read (const proto_msg_t *req, void *arg)
{
    elog_t *el = svc_state (arg);
    const proto_events_read_t *q = &req->body.events_read;
    if (q->run && !elog_run_valid (q->run))
        return proto_error_new (req, PROTO_ERR_bad_run, "events.read: field run must be a 26-character id");
    read_t r = { .el = el, .req = req, .q = q };
    msgpack_sbuffer_init (&r.out);
    proto_msg_t *rep = NULL;
    if (store_read (el->store, read_events, &r))
        rep = proto_error_new (req, PROTO_ERR_store_failed, "%s", mdb_strerror (store_error (el->store)));
    else if (r.hidden)
        rep = proto_error_new (req, PROTO_ERR_not_found, "events.read: no run '%s'", q->run);
    else {
        rep = proto_msg_new (PROTO_events_page, req);
        rep->body.events_page.events.size = r.out.size;
        rep->body.events_page.events.data = (uint8_t *) msgpack_sbuffer_release (&r.out);
        rep->body.events_page.next = r.next;
        rep->body.events_page.head = r.head;
    }
    msgpack_sbuffer_destroy (&r.out);
    if (rep && q->sync) {
        proto_msg_t *mark = proto_msg_new (PROTO_event, req);
        char topic[64];
        snprintf (topic, sizeof topic, "sync.%s", q->sync);
        proto_set_str (&mark->body.event.kind, evk_name (EVK_sync));
        bus_pub_send (svc_pub (el->svc), topic, mark);
        proto_msg_destroy (&mark);
    }
    return rep;
}

/* ---- stats --------------------------------------------------------------- */

typedef struct {
    char name[224];     /* "all", "model:<m>" or "prompt:<p>" */
    json_t *tokens;     /* array of totals, for the median */
    json_int_t runs, finished, passed, unchecked, runtime, steps, calls, cached;
    json_t *causes;     /* cause -> count */
    json_t *statuses;   /* status -> count */
} group_t;

typedef struct {
    elog_t *el;
    uint64_t since;
    const char *user;   /* only this user's runs; NULL: everyone's (an operator) */
    group_t *groups;
    size_t ngroups;
} stats_t;

static int
cmp_int (const void *a, const void *b)
{
    json_int_t x = *(const json_int_t *) a, y = *(const json_int_t *) b;
    return x < y ? -1 : x > y;
}

/* The group named name, made empty when new; valid until the next call. */
static group_t *
group (stats_t *s, const char *name)
{
    for (size_t i = 0; i < s->ngroups; i++)
        if (!strcmp (s->groups[i].name, name))
            return &s->groups[i];
    group_t *grown = realloc (s->groups, (s->ngroups + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    s->groups = grown;
    group_t *g = &grown[s->ngroups++];
    memset (g, 0, sizeof *g);
    snprintf (g->name, sizeof g->name, "%s", name);
    g->tokens = json_array ();
    g->causes = json_object ();
    g->statuses = json_object ();
    return g;
}

static void
bump (json_t *counts, const char *key)
{
    json_object_set_new (counts, key,
                         json_integer (json_integer_value (json_object_get (counts, key)) + 1));
}

/* True when every check the record saw last passed, and there was one. */
static bool
checks_passed (json_t *rec)
{
    json_t *checks = json_object_get (rec, "checks");
    const char *key;
    json_t *ok;
    json_object_foreach (checks, key, ok)
        if (!json_is_true (ok))
            return false;
    return json_object_size (checks) > 0;
}

/* Counts a finished run: it passed only when it completed and its checks
 * passed; one that completed with no check configured nor run is counted
 * apart (nothing says it did the task), and any other is a failure cause. */
static void
count_run (group_t *g, json_t *rec)
{
    if (!g)
        return;
    const char *status = json_string_value (json_object_get (rec, "status"));
    g->runs++;
    proto_run_status_t st = proto_run_status_lookup (status);
    if (!status || (st != PROTO_RUN_STATUS_COUNT && proto_run_status_live (st)))
        return;
    g->finished++;
    bump (g->statuses, status);
    json_t *t = json_object_get (rec, "tokens");
    json_int_t total = json_integer_value (json_object_get (t, "input"))
                     + json_integer_value (json_object_get (t, "output"));
    json_array_append_new (g->tokens, json_integer (total));
    g->cached += json_integer_value (json_object_get (t, "cached"));
    g->runtime += json_integer_value (json_object_get (rec, "runtimeMs"));
    g->steps += json_integer_value (json_object_get (rec, "steps"));
    g->calls += json_integer_value (json_object_get (rec, "toolCalls"));
    bool completed = st == PROTO_RUN_completed;
    if (completed && checks_passed (rec)) {
        g->passed++;
        return;
    }
    if (completed && !json_object_get (rec, "checks")
        && !json_integer_value (json_object_get (rec, "checksConfigured"))) {
        g->unchecked++;
        return;
    }
    const char *why = completed ? "a configured check did not pass"
                                : json_string_value (json_object_get (rec, "failure"));
    char cause[160];
    snprintf (cause, sizeof cause, "%s%s%.120s", status, why ? ": " : "", why ? why : "");
    json_object_set_new (g->causes, cause,
                         json_integer (json_integer_value (json_object_get (g->causes, cause)) + 1));
}

static int
scan_runs (MDB_txn *txn, void *arg)
{
    stats_t *s = arg;
    MDB_cursor *cur;
    int rc = mdb_cursor_open (txn, store_dbi (s->el->store, DB_RUNS), &cur);
    if (rc)
        return rc;
    MDB_val k, v;
    for (rc = mdb_cursor_get (cur, &k, &v, MDB_FIRST); !rc;
         rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT)) {
        json_t *rec = json_loadb (v.mv_data, v.mv_size, 0, NULL);
        if (!rec)
            continue;
        const char *owner = json_string_value (json_object_get (rec, "user"));
        bool theirs = !s->user || (owner && strcmp (owner, s->user) == 0);
        if (theirs && (uint64_t) json_integer_value (json_object_get (rec, "started")) >= s->since) {
            char name[300];
            count_run (group (s, "all"), rec);
            const char *m = json_string_value (json_object_get (rec, "model"));
            snprintf (name, sizeof name, "model:%.200s", m ? m : "?");
            count_run (group (s, name), rec);
            json_t *pv = json_object_get (rec, "promptVersion");
            char *pvs = pv ? json_dumps (pv, JSON_ENCODE_ANY) : NULL;
            snprintf (name, sizeof name, "prompt:%.200s",
                      json_is_string (pv) ? json_string_value (pv) : pvs ? pvs : "?");
            free (pvs);
            count_run (group (s, name), rec);
        }
        json_decref (rec);
    }
    mdb_cursor_close (cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* The figures of one group; releases what the group holds. */
static json_t *
figures (group_t *g)
{
    size_t n = json_array_size (g->tokens);
    json_int_t *sorted = calloc (n ? n : 1, sizeof *sorted), sum = 0;
    for (size_t i = 0; sorted && i < n; i++)
        sum += sorted[i] = json_integer_value (json_array_get (g->tokens, i));
    if (sorted)
        qsort (sorted, n, sizeof *sorted, cmp_int);
    double median = !n || !sorted ? 0 : n % 2 ? (double) sorted[n / 2]
                                              : (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0;
    json_t *causes = json_array ();
    for (int top = 0; top < 5; top++) {
        const char *best = NULL, *key;
        json_int_t bestn = 0;
        json_t *val;
        json_object_foreach (g->causes, key, val)
            if (json_integer_value (val) > bestn) {
                best = key;
                bestn = json_integer_value (val);
            }
        if (!best)
            break;
        json_array_append_new (causes, json_pack ("{s:s, s:I}", "cause", best, "runs", bestn));
        json_object_del (g->causes, best);
    }
    double fin = g->finished ? (double) g->finished : 1.0;
    json_t *out = json_pack ("{s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:o, s:o}",
                             "runs", g->runs, "finished", g->finished, "passed", g->passed,
                             "completedUnchecked", g->unchecked, "passRate",
                             g->finished ? g->passed / fin : 0.0, "tokensMean", sum / fin,
                             "tokensMedian", median, "cachedTokensMean", g->cached / fin,
                             "runtimeMsMean", g->runtime / fin, "stepsMean", g->steps / fin,
                             "toolCallsMean", g->calls / fin, "byStatus", g->statuses,
                             "failureCauses", causes);
    free (sorted);
    json_decref (g->tokens);
    json_decref (g->causes);
    return out;
}

proto_msg_t *
reader_stats_get (const proto_msg_t *req, void *arg)
{
    elog_t *el = svc_state (arg);
    /* a user's figures (and failure reasons) are their own runs' only */
    stats_t s = { el, req->body.stats_get.since, req->env.op ? NULL : req->env.user ?: "", NULL,
                  0 };
    int failed = store_read (el->store, scan_runs, &s);
    json_t *out = json_pack ("{s:{}, s:{}, s:{}}", "all", "byModel", "byPromptVersion");
    for (size_t i = 0; i < s.ngroups; i++) {
        const char *key = s.groups[i].name;
        json_t *f = figures (&s.groups[i]);
        if (!strcmp (key, "all"))
            json_object_set_new (out, "all", f);
        else if (!strncmp (key, "model:", 6))
            json_object_set_new (json_object_get (out, "byModel"), key + 6, f);
        else
            json_object_set_new (json_object_get (out, "byPromptVersion"), key + 7, f);
    }
    free (s.groups);
    json_object_set_new (out, "spend", spend_stats (el, s.user, s.since));
    uint64_t batches, events;
    journal_counts (el->journal, &batches, &events);
    json_object_set_new (out, "journal", json_pack ("{s:I, s:I}", "batches", (json_int_t) batches,
                                                    "events", (json_int_t) events));
    proto_msg_t *rep = failed ? proto_error_new (req, PROTO_ERR_store_failed, "%s",
                                                 mdb_strerror (store_error (el->store)))
                              : proto_msg_new (PROTO_stats, req);
    if (rep && !failed && mpjson_set (&rep->body.stats.stats, out, 64))
        proto_msg_destroy (&rep);
    json_decref (out);
    return rep;
}
