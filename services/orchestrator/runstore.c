/* runstore: the orchestrator's own LMDB under $CAISSON_DATA/orchestrator.
 * `runs` maps a run id to its latest snapshot (JSON), `live` lists the
 * runs not finished (what a restart resumes), `threads` maps a thread to
 * its conversation after its last completed run, trimmed to a size the
 * model's context can take; `owners` maps a thread to the user who
 * started it (its conversation is theirs alone).
 *
 * Saves are grouped: a transition marks the run dirty, and every 20 ms
 * one transaction writes the snapshots of all dirty runs (a run that moved
 * three times meanwhile is written once). A finished run's snapshot is
 * taken at once, since the run is freed. Reads see unwritten snapshots.
 * The environment runs with MDB_NOSYNC: a killed process loses only the
 * transitions of the last 20 ms (resumed from the one before: tool calls
 * are idempotent), a host crash perhaps a little more. */
#include "orch.h"
#include "cfg.h"
#include "clog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREAD_MAX_BYTES (256u << 10)
#define FLUSH_MS 20

enum { DB_RUNS, DB_LIVE, DB_THREADS, DB_OWNERS };
static const char *const dbnames[] = { "runs", "live", "threads", "owners" };
static store_t *s_store;
static zhashx_t *s_dirty;       /* run id -> run_t *, to snapshot at the flush */
static zhashx_t *s_ready;       /* run id -> ready_t, to write at the flush */
static zloop_t *s_loop;
static int s_timer = -1;

static void flush (void);

typedef struct {
    char *text;
    bool live;
} ready_t;

static void
ready_free (void **item)
{
    ready_t *r = *item;
    if (r) {
        free (r->text);
        free (r);
        *item = NULL;
    }
}


static int
on_flush (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    (void) arg;
    flush ();
    return 0;
}

int
runstore_open (orch_t *orch, const char *dir)
{
    s_store = store_new (dir, dbnames, 4, cfg_u64 ("CAISSON_LMDB_MAP_MB") << 20,
                         cfg_u64 ("CAISSON_LMDB_MAX_MB") << 20, MDB_NOSYNC);
    s_dirty = zhashx_new ();
    s_ready = zhashx_new ();
    if (s_ready)
        zhashx_set_destructor (s_ready, ready_free);
    s_loop = orch_loop (orch);
    if (!s_store || !s_dirty || !s_ready)
        return -1;
    s_timer = zloop_timer (s_loop, FLUSH_MS, 0, on_flush, NULL);
    return 0;
}

void
runstore_close (void)
{
    if (s_store)
        flush ();
    if (s_timer >= 0)
        zloop_timer_end (s_loop, s_timer);
    s_timer = -1;
    zhashx_destroy (&s_dirty);
    zhashx_destroy (&s_ready);
    store_destroy (&s_store);
}

typedef struct {
    const char *key;
    const char *val;
    bool live;
    size_t db;
} put_t;

static int
put_fn (MDB_txn *txn, void *arg)
{
    put_t *p = arg;
    MDB_val k = { strlen (p->key), (void *) p->key }, v = { strlen (p->val), (void *) p->val };
    int rc = mdb_put (txn, store_dbi (s_store, p->db), &k, &v, 0);
    if (rc || p->db != DB_RUNS)
        return rc;
    MDB_val empty = { 0, "" };
    if (p->live)
        return mdb_put (txn, store_dbi (s_store, DB_LIVE), &k, &empty, 0);
    rc = mdb_del (txn, store_dbi (s_store, DB_LIVE), &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static json_t *
snapshot (const run_t *r)
{
    json_t *snap = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:s, s:O, s:O, s:O?, s:I, s:i,"
                      " s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I}}",
                      "id", r->id, "thread", r->thread, "model", r->model, "user", r->user,
                      "task", r->task, "status", r->status, "answer", r->answer, "reason",
                      r->reason, "messages", r->messages, "policy", r->policy, "calls",
                      r->calls, "next", (json_int_t) r->next, "verifyRounds", r->verify_rounds,
                      "max", "steps", (json_int_t) r->max.steps, "toolCalls",
                      (json_int_t) r->max.tool_calls, "seconds", (json_int_t) r->max.seconds,
                      "tokens", (json_int_t) r->max.tokens,
                      "used", "steps", (json_int_t) r->used.steps, "toolCalls",
                      (json_int_t) r->used.tool_calls, "seconds", (json_int_t) 0, "tokens",
                      (json_int_t) 0, "tokens", "input", (json_int_t) r->in_tokens, "output",
                      (json_int_t) r->out_tokens, "cached", (json_int_t) r->cached_tokens);
    if (snap && r->client_tools)
        json_object_set (snap, "clientTools", r->client_tools);
    if (snap && r->op)
        json_object_set_new (snap, "op", json_true ());
    return snap;
}

static char *
snapshot_text (const run_t *r)
{
    json_t *snap = runstore_snapshot (r);
    char *text = snap ? json_dumps (snap, JSON_COMPACT) : NULL;
    json_decref (snap);
    return text;
}

static bool
is_live (const char *status)
{
    return strcmp (status, "running") == 0 || strcmp (status, "awaiting_approval") == 0
        || strcmp (status, "awaiting_tool_result") == 0;
}

/* Moves a snapshot into the ready set, replacing an older one. */
static void
ready (const char *id, char *text, bool live)
{
    ready_t *r = malloc (sizeof *r);
    if (!r) {
        free (text);
        return;
    }
    *r = (ready_t) { text, live };
    zhashx_update (s_ready, id, r);
}

int
runstore_save (const run_t *r)
{
    if (is_live (r->status)) {
        zhashx_update (s_dirty, r->id, (void *) r);
        return 0;
    }
    zhashx_delete (s_dirty, r->id);
    char *text = snapshot_text (r);
    if (!text)
        return -1;
    ready (r->id, text, false);
    return 0;
}

void
runstore_drop (const run_t *r)
{
    if (s_dirty && zhashx_lookup (s_dirty, r->id) == r)
        zhashx_delete (s_dirty, r->id);
}

static int
flush_fn (MDB_txn *txn, void *arg)
{
    (void) arg;
    for (ready_t *r = zhashx_first (s_ready); r; r = zhashx_next (s_ready)) {
        put_t p = { zhashx_cursor (s_ready), r->text, r->live, DB_RUNS };
        int rc = put_fn (txn, &p);
        if (rc)
            return rc;
    }
    return 0;
}

static void
flush (void)
{
    for (run_t *r = zhashx_first (s_dirty); r; r = zhashx_next (s_dirty)) {
        char *text = snapshot_text (r);
        if (text)
            ready (r->id, text, is_live (r->status));
    }
    zhashx_purge (s_dirty);
    if (!zhashx_size (s_ready))
        return;
    if (store_write (s_store, flush_fn, NULL))
        clog_error (NULL, "cannot save %zu runs: %s", zhashx_size (s_ready),
                    mdb_strerror (store_error (s_store)));
    zhashx_purge (s_ready);
}

typedef struct {
    const char *key;
    size_t db;
    json_t *out;
} get_t;

static int
get_fn (MDB_txn *txn, void *arg)
{
    get_t *g = arg;
    MDB_val k = { strlen (g->key), (void *) g->key }, v;
    int rc = mdb_get (txn, store_dbi (s_store, g->db), &k, &v);
    if (rc == 0)
        g->out = json_loadb (v.mv_data, v.mv_size, 0, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

json_t *
runstore_snapshot (const run_t *r)
{
    json_t *snap = snapshot (r);
    json_object_set_new (snap, "startedWall", json_integer ((json_int_t) r->started_wall));
    json_object_set_new (snap, "owner", json_string (orch_instance (r->orch)));
    return snap;
}

json_t *
runstore_load (const char *run_id)
{
    run_t *r = zhashx_lookup (s_dirty, run_id);
    if (r)
        return runstore_snapshot (r);
    const ready_t *ready = zhashx_lookup (s_ready, run_id);
    if (ready)
        return json_loads (ready->text, 0, NULL);
    get_t g = { run_id, DB_RUNS, NULL };
    store_read (s_store, get_fn, &g);
    return g.out;
}

typedef struct {
    const char *thread, *user;
    bool op;
    int verdict;
} claim_t;

static int
claim_fn (MDB_txn *txn, void *arg)
{
    claim_t *c = arg;
    MDB_val k = { strlen (c->thread), (void *) c->thread }, v;
    int rc = mdb_get (txn, store_dbi (s_store, DB_OWNERS), &k, &v);
    if (rc == 0) {
        bool same = v.mv_size == strlen (c->user) && memcmp (v.mv_data, c->user, v.mv_size) == 0;
        c->verdict = same || c->op ? 0 : 1;
        return 0;
    }
    if (rc != MDB_NOTFOUND)
        return rc;
    /* a conversation kept before owners were recorded: nobody can say
     * whose it is, so only an operator continues it (and claims nothing) */
    rc = mdb_get (txn, store_dbi (s_store, DB_THREADS), &k, &v);
    if (rc == 0) {
        c->verdict = c->op ? 0 : 1;
        return 0;
    }
    if (rc != MDB_NOTFOUND)
        return rc;
    c->verdict = 0;
    MDB_val owner = { strlen (c->user), (void *) c->user };
    return mdb_put (txn, store_dbi (s_store, DB_OWNERS), &k, &owner, 0);
}

int
runstore_claim_thread (const char *thread, const char *user, bool op)
{
    claim_t c = { thread, user ? user : "", op, 0 };
    if (store_write (s_store, claim_fn, &c))
        return -1;
    return c.verdict;
}

json_t *
runstore_thread (const char *thread)
{
    get_t g = { thread, DB_THREADS, NULL };
    store_read (s_store, get_fn, &g);
    return json_is_array (g.out) ? g.out : (json_decref (g.out), json_array ());
}

int
runstore_save_thread (const char *thread, const json_t *messages)
{
    json_t *kept = json_copy ((json_t *) messages);
    char *text = json_dumps (kept, JSON_COMPACT);
    /* Oldest first, drop whole exchanges until it fits: the kept part
     * starts at a user message, so no tool result loses its call. */
    while (text && strlen (text) > THREAD_MAX_BYTES && json_array_size (kept) > 1) {
        json_array_remove (kept, 0);
        while (json_array_size (kept) > 1
               && strcmp (json_string_value (json_object_get (json_array_get (kept, 0), "role"))
                          ?: "", "user") != 0)
            json_array_remove (kept, 0);
        free (text);
        text = json_dumps (kept, JSON_COMPACT);
    }
    json_decref (kept);
    if (!text)
        return -1;
    put_t p = { thread, text, false, DB_THREADS };
    int rc = store_write (s_store, put_fn, &p);
    free (text);
    return rc;
}

static int
live_fn (MDB_txn *txn, void *arg)
{
    zlist_t *ids = arg;
    MDB_cursor *cur;
    int rc = mdb_cursor_open (txn, store_dbi (s_store, DB_LIVE), &cur);
    if (rc)
        return rc;
    MDB_val k, v;
    for (rc = mdb_cursor_get (cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT)) {
        char *id = strndup (k.mv_data, k.mv_size);
        zlist_append (ids, id);
        zlist_freefn (ids, id, free, true);
    }
    mdb_cursor_close (cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static uint64_t
u64 (const json_t *obj, const char *a, const char *b)
{
    return (uint64_t) json_integer_value (json_object_get (json_object_get (obj, a), b));
}

static run_t *
runstore_rebuild (orch_t *orch, const json_t *snap)
{
    run_t *r = run_new (orch, json_string_value (json_object_get (snap, "id")) ?: "");
    if (!r)
        return NULL;
    snprintf (r->thread, sizeof r->thread, "%s", json_string_value (json_object_get (snap, "thread")) ?: "");
    snprintf (r->model, sizeof r->model, "%s", json_string_value (json_object_get (snap, "model")) ?: "");
    snprintf (r->user, sizeof r->user, "%s", json_string_value (json_object_get (snap, "user")) ?: "");
    r->op = json_is_true (json_object_get (snap, "op"));
    snprintf (r->status, sizeof r->status, "%s", json_string_value (json_object_get (snap, "status")) ?: "");
    r->task = strdup (json_string_value (json_object_get (snap, "task")) ?: "");
    json_decref (r->messages);
    r->messages = json_incref (json_object_get (snap, "messages"));
    r->policy = json_incref (json_object_get (snap, "policy"));
    json_t *client = json_object_get (snap, "clientTools");
    r->client_tools = json_is_array (client) ? json_incref (client) : NULL;
    json_t *calls = json_object_get (snap, "calls");
    r->calls = json_is_array (calls) ? json_incref (calls) : NULL;
    r->next = (size_t) json_integer_value (json_object_get (snap, "next"));
    r->verify_rounds = (int) json_integer_value (json_object_get (snap, "verifyRounds"));
    r->max = (budgets_t) { u64 (snap, "max", "steps"), u64 (snap, "max", "toolCalls"),
                           u64 (snap, "max", "seconds"), u64 (snap, "max", "tokens") };
    r->used.steps = u64 (snap, "used", "steps");
    r->used.tool_calls = u64 (snap, "used", "toolCalls");
    r->in_tokens = u64 (snap, "tokens", "input");
    r->out_tokens = u64 (snap, "tokens", "output");
    r->cached_tokens = u64 (snap, "tokens", "cached");
    r->started_wall = (uint64_t) json_integer_value (json_object_get (snap, "startedWall"));
    r->provider = llm_provider_find (r->model, &r->model_name);
    if (!r->messages || !r->task)
        run_free (&r);
    return r;
}

int
runstore_resume (orch_t *orch, void (*fn) (run_t *r, void *arg), void *arg)
{
    zlist_t *ids = zlist_new ();
    bool shared = *cfg_str ("CAISSON_INSTANCE") != '\0';
    int rc = store_read (s_store, live_fn, ids);
    for (char *id = zlist_first (ids); id; id = zlist_next (ids)) {
        json_t *snap = runstore_load (id);
        /* Instances that share this store have stable ids (the launcher's
         * slots, a container's host name) and resume only the runs they
         * started, since a run is addressed to its owner (runroute.h). A
         * process with a random id is alone with its store and resumes
         * every run, whoever started it. */
        const char *owner = json_string_value (json_object_get (snap, "owner"));
        if (shared && owner && strcmp (owner, orch_instance (orch)) != 0) {
            json_decref (snap);
            continue;
        }
        run_t *r = snap ? runstore_rebuild (orch, snap) : NULL;
        json_decref (snap);
        if (r)
            fn (r, arg);
    }
    zlist_destroy (&ids);
    return rc;
}
