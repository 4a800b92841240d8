/* journal: the append path. Each event.append is checked, deferred and
 * queued; once per loop turn (or after CAISSON_EVENTLOG_BATCH_MS) the whole
 * queue is handed to the writer thread, which commits it in one LMDB write
 * transaction, so a batch costs one sync. Only after the commit are the
 * acks sent and the events published on `run.<run>.<kind>`, back on the
 * loop thread (the bus objects are not shared). While one batch commits,
 * the loop keeps taking requests into the next, so the sync overlaps the
 * bus work instead of stalling it. The run record is derived from the
 * events in the same transaction (event sourcing), so it never disagrees
 * with them. */
#define _GNU_SOURCE /* pipe2 */
#include "xalloc.h"
#include "elog.h"
#include "cfg.h"
#include "clog.h"
#include "evkind.h"
#include "mpjson.h"
#include "recall.h"

#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

typedef struct {
    bus_pending_t *pending;
    char *kind;
    proto_bytes_t data;
    uint64_t seq, run_seq;
    bool duplicate;
    int refused;                /* not stored: the error code (the run or its thread is
                                   another user's, or its thread is deleted) */
    char why[200];
} item_t;

typedef struct {
    char run[ELOG_RUN_KEY + 1];
    json_t *rec;
} cached_run_t;

typedef struct {
    item_t *items;
    size_t count, cap;
} queue_t;

struct _journal_t {
    elog_t *el;
    queue_t filling;            /* loop thread: requests taken since the last handover */
    queue_t busy;               /* writer thread while committing, then loop thread */
    bool committing;            /* a batch is with the writer (loop thread's view) */
    int result;                 /* the writer's store_write outcome, 0 or an LMDB code */
    bool work, quit;            /* under lock */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t writer;
    bool started;
    int done[2];                /* writer -> loop: a batch is committed */
    int timer;
    int batch_ms;
    msgpack_sbuffer buf;
    cached_run_t *runs;
    size_t nruns;
    uint64_t batches, events;
};

static bool
kind_valid (const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

static void
item_free (item_t *it)
{
    free (it->kind);
    free (it->data.data);
    memset (it, 0, sizeof *it);
}

/* ---- the run record ------------------------------------------------------ */

static json_t *
run_record (journal_t *self, MDB_txn *txn, const char *run, uint64_t ts)
{
    for (size_t i = 0; i < self->nruns; i++)
        if (!strcmp (self->runs[i].run, run))
            return self->runs[i].rec;
    json_t *rec = elog_run_load (txn, self->el, run);
    if (!rec)
        rec = json_pack ("{s:s, s:s, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I}, s:[]}", "run", run,
                         "status", proto_run_status_name (PROTO_RUN_running), "started", (json_int_t) ts, "events",
                         (json_int_t) 0, "steps", (json_int_t) 0, "toolCalls", (json_int_t) 0,
                         "tokens", "input",
                         (json_int_t) 0, "output", (json_int_t) 0, "cached", (json_int_t) 0,
                         "artifacts");
    cached_run_t *grown = rec ? realloc (self->runs, (self->nruns + 1) * sizeof *grown) : NULL;
    if (!grown) {
        json_decref (rec);
        return NULL;
    }
    self->runs = grown;
    snprintf (grown[self->nruns].run, sizeof grown[0].run, "%s", run);
    grown[self->nruns++].rec = rec;
    return rec;
}

static void
runs_clear (journal_t *self)
{
    for (size_t i = 0; i < self->nruns; i++)
        json_decref (self->runs[i].rec);
    self->nruns = 0;
}

static void
add_int (json_t *obj, const char *key, json_int_t by)
{
    json_object_set_new (obj, key, json_integer (json_integer_value (json_object_get (obj, key)) + by));
}

static void
copy_field (json_t *to, const char *tokey, json_t *from, const char *fromkey)
{
    json_t *v = json_object_get (from, fromkey);
    if (v)
        json_object_set (to, tokey, v);
}

/* True when the artifact event it may reference its hash: the sender put
 * those bytes (or is an operator). Knowing a hash is no claim to the
 * bytes, and a hash not stored yet is refused too: no one claims bytes
 * before someone puts them. */
static bool
artifact_claim_ok (MDB_txn *txn, elog_t *el, const proto_msg_t *env, const item_t *it)
{
    if (env->env.op)
        return true;
    char why[160];
    json_t *d = it->data.data ? mpjson_decode (it->data.data, it->data.size, 32, why, sizeof why)
                              : NULL;
    const char *hash = json_string_value (json_object_get (d, "hash"));
    bool ok = !hash || strlen (hash) != ELOG_HASH_HEX;      /* run_apply ignores these */
    MDB_val k = { ELOG_HASH_HEX, (void *) hash }, v;
    if (!ok && mdb_get (txn, store_dbi (el->store, DB_ARTIFACTS), &k, &v) == 0) {
        json_t *meta = json_loadb (v.mv_data, v.mv_size, 0, NULL);
        ok = elog_artifact_put_by (meta, env->env.user ? env->env.user : "");
        json_decref (meta);
    }
    json_decref (d);
    return ok;
}

/* The status a run waiting on a human shows, and back: only a live run
 * changes, so a late event never reopens an ended one. */
static void
set_live_status (json_t *rec, proto_run_status_t from, proto_run_status_t to)
{
    const char *now = json_string_value (json_object_get (rec, "status"));
    if (proto_run_status_lookup (now) == from)
        json_object_set_new (rec, "status", json_string (proto_run_status_name (to)));
}

/* Folds one event into its run's record. Unknown kinds only count. */
static int
run_apply (MDB_txn *txn, elog_t *el, json_t *rec, const char *run, const item_t *it,
           uint64_t ts)
{
    json_object_set_new (rec, "events", json_integer ((json_int_t) it->run_seq));
    json_object_set_new (rec, "updated", json_integer ((json_int_t) ts));
    evk_kind_t k = evk_lookup (it->kind);
    if (k == EVK_step_started)
        add_int (rec, "steps", 1);          /* a model turn */
    else if (k == EVK_tool_call)
        add_int (rec, "toolCalls", 1);
    else if (k == EVK_ask_approval)
        set_live_status (rec, PROTO_RUN_running, PROTO_RUN_awaiting_approval);
    else if (k == EVK_approval_decision)
        set_live_status (rec, PROTO_RUN_awaiting_approval, PROTO_RUN_running);
    bool wanted = k == EVK_run_started || k == EVK_usage || k == EVK_complete
               || k == EVK_failed || k == EVK_artifact || k == EVK_check || k == EVK_resumed;
    if (!wanted || !it->data.data)
        return 0;
    char why[160];
    json_t *d = mpjson_decode (it->data.data, it->data.size, 32, why, sizeof why);
    if (!json_is_object (d)) {
        json_decref (d);
        return 0;
    }
    if (k == EVK_run_started) {
        copy_field (rec, "task", d, "task");
        copy_field (rec, "user", d, "user");
        copy_field (rec, "thread", d, "threadId");
        copy_field (rec, "model", d, "model");
        copy_field (rec, "promptVersion", d, "promptVersion");
        copy_field (rec, "budgets", d, "budgets");
        copy_field (rec, "orchestrator", d, "orchestrator");
        json_object_set_new (rec, "started", json_integer ((json_int_t) ts));
        size_t checks = json_array_size (json_object_get (json_object_get (d, "policy"),
                                                          "verify"));
        if (checks)
            json_object_set_new (rec, "checksConfigured", json_integer ((json_int_t) checks));
    }
    else if (k == EVK_check) {
        /* the latest outcome of each check: a failed check the model then
         * fixed counts as passed. Names are a policy's few, short ones: a
         * record is not grown without bound by odd events. */
        const char *name = json_string_value (json_object_get (d, "name"));
        if (!json_object_get (rec, "checks"))
            json_object_set_new (rec, "checks", json_object ());
        json_t *checks = json_object_get (rec, "checks");
        if (name && strlen (name) <= 64
            && (json_object_get (checks, name) || json_object_size (checks) < 32))
            json_object_set_new (checks, name,
                                 json_boolean (json_is_true (json_object_get (d, "ok"))));
    }
    else if (k == EVK_resumed) {
        /* an adopter takes the run over: clients route to it from now */
        copy_field (rec, "orchestrator", d, "orchestrator");
        proto_run_status_t st = proto_run_status_lookup (json_string_value (
            json_object_get (d, "status")));
        if (st == PROTO_RUN_running || st == PROTO_RUN_awaiting_approval)
            set_live_status (rec, st == PROTO_RUN_running ? PROTO_RUN_awaiting_approval
                                                          : PROTO_RUN_running, st);
    }
    else if (k == EVK_usage) {
        json_t *t = json_object_get (rec, "tokens");
        add_int (t, "input", json_integer_value (json_object_get (d, "inputTokens")));
        add_int (t, "output", json_integer_value (json_object_get (d, "outputTokens")));
        add_int (t, "cached", json_integer_value (json_object_get (d, "cachedTokens")));
    }
    else if (k == EVK_complete || k == EVK_failed) {
        json_t *st = json_object_get (d, "status");
        json_object_set_new (rec, "status", json_is_string (st) ? json_copy (st)
                                            : json_string (proto_run_status_name (
                                                k == EVK_complete ? PROTO_RUN_completed
                                                                  : PROTO_RUN_failed)));
        copy_field (rec, "answer", d, "answer");
        copy_field (rec, "failure", d, "reason");
        copy_field (rec, "budget", d, "budget");
        copy_field (rec, "check", d, "check");
        json_object_set_new (rec, "ended", json_integer ((json_int_t) ts));
        json_int_t started = json_integer_value (json_object_get (rec, "started"));
        json_object_set_new (rec, "runtimeMs", json_integer (((json_int_t) ts - started) / 1000));
    }
    else if (k == EVK_artifact) {
        json_t *h = json_object_get (d, "hash");
        const char *hash = json_string_value (h);
        if (hash && strlen (hash) == ELOG_HASH_HEX) {
            uint8_t key[ELOG_HASH_HEX + ELOG_RUN_KEY];
            memcpy (key, hash, ELOG_HASH_HEX);
            elog_run_key (run, key + ELOG_HASH_HEX);
            MDB_val k2 = { sizeof key, key }, v = { 0, "" };
            int rc = mdb_put (txn, store_dbi (el->store, DB_REFS), &k2, &v, 0);
            if (rc) {
                json_decref (d);
                return rc;
            }
            json_array_append (json_object_get (rec, "artifacts"), d);
        }
    }
    json_decref (d);
    return 0;
}

/* ---- one batch ----------------------------------------------------------- */

static int
pack_event (journal_t *self, const char *run, const char *id, const item_t *it, uint64_t ts)
{
    msgpack_sbuffer_clear (&self->buf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &self->buf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 7);
#define KEY(s) msgpack_pack_str_with_body (&pk, s, strlen (s))
    KEY ("seq");
    msgpack_pack_uint64 (&pk, it->seq);
    KEY ("run_seq");
    msgpack_pack_uint64 (&pk, it->run_seq);
    KEY ("run");
    KEY (run);
    KEY ("id");
    KEY (id);
    KEY ("kind");
    KEY (it->kind);
    KEY ("ts");
    msgpack_pack_uint64 (&pk, ts);
    KEY ("data");
#undef KEY
    if (it->data.data)
        return msgpack_sbuffer_write (&self->buf, (const char *) it->data.data, it->data.size);
    return msgpack_pack_nil (&pk);
}

static int
write_batch (MDB_txn *txn, void *arg)
{
    journal_t *self = arg;
    elog_t *el = self->el;
    runs_clear (self);
    MDB_cursor *cur;
    int rc = mdb_cursor_open (txn, store_dbi (el->store, DB_GLOBAL), &cur);
    if (rc)
        return rc;
    MDB_val k, v;
    uint64_t last = 0;
    rc = mdb_cursor_get (cur, &k, &v, MDB_LAST);
    if (!rc && k.mv_size == 8)
        last = elog_get64 (k.mv_data);
    mdb_cursor_close (cur);
    if (rc && rc != MDB_NOTFOUND)
        return rc;

    for (size_t i = 0; i < self->busy.count; i++) {
        item_t *it = &self->busy.items[i];
        const proto_msg_t *env = bus_pending_request (it->pending);
        const char *run = env->env.run, *id = env->env.id;
        MDB_val idk = { strlen (id), (void *) id }, idv;
        it->duplicate = false;
        rc = mdb_get (txn, store_dbi (el->store, DB_IDS), &idk, &idv);
        if (!rc && idv.mv_size == 16) {
            it->duplicate = true;
            it->seq = elog_get64 (idv.mv_data);
            it->run_seq = elog_get64 ((uint8_t *) idv.mv_data + 8);
            continue;
        }
        if (rc != MDB_NOTFOUND)
            return rc ? rc : MDB_CORRUPTED;
        json_t *rec = run_record (self, txn, run, env->env.ts);
        if (!rec)
            return ENOMEM;
        /* a run that has events is its owner's: another user's event would
         * re-derive its record (a second run_started names a new owner) */
        bool refused = (json_integer_value (json_object_get (rec, "events")) > 0
                        && !elog_may_read (env, rec))
                    || (evk_lookup (it->kind) == EVK_artifact
                        && !artifact_claim_ok (txn, el, env, it));
        it->refused = refused ? PROTO_ERR_not_found : 0;
        if (refused)
            snprintf (it->why, sizeof it->why, "event.append: no run '%s'", run);
        /* event-log alone says whose a thread is: a run on another's, or
         * on a deleted one, never starts (the orchestrator drops it) */
        if (!refused && evk_lookup (it->kind) == EVK_run_started)
            it->refused = threads_admit (txn, el, env, &it->data, it->why, sizeof it->why);
        if (it->refused)
            continue;
        it->seq = ++last;
        it->run_seq = (uint64_t) json_integer_value (json_object_get (rec, "events")) + 1;
        if (pack_event (self, run, id, it, env->env.ts))
            return ENOMEM;
        uint8_t ekey[ELOG_EVENT_KEY], gkey[8], ids[16];
        elog_run_key (run, ekey);
        elog_be64 (ekey + ELOG_RUN_KEY, it->run_seq);
        elog_be64 (gkey, it->seq);
        elog_be64 (ids, it->seq);
        elog_be64 (ids + 8, it->run_seq);
        MDB_val ek = { sizeof ekey, ekey }, ev = { self->buf.size, self->buf.data };
        MDB_val gk = { 8, gkey }, gv = { sizeof ekey, ekey }, iv = { 16, ids };
        if ((rc = mdb_put (txn, store_dbi (el->store, DB_EVENTS), &ek, &ev, 0))
            || (rc = mdb_put (txn, store_dbi (el->store, DB_GLOBAL), &gk, &gv, MDB_APPEND))
            || (rc = mdb_put (txn, store_dbi (el->store, DB_IDS), &idk, &iv, 0))
            || (rc = run_apply (txn, el, rec, run, it, env->env.ts))
            || (rc = recall_add_event (txn, store_dbi (el->store, DB_RECALL), rec, run,
                                       it->run_seq, env->env.ts, it->kind, it->data.data,
                                       it->data.size))
            || (rc = threads_fold (txn, el, rec, it->kind, &it->data, env->env.ts)))
            return rc;
    }
    for (size_t i = 0; i < self->nruns; i++) {
        /* a run whose only events were refused has no record */
        if (!json_integer_value (json_object_get (self->runs[i].rec, "events")))
            continue;
        char *text = json_dumps (self->runs[i].rec, JSON_COMPACT);
        if (!text)
            return ENOMEM;
        uint8_t rk[ELOG_RUN_KEY];
        elog_run_key (self->runs[i].run, rk);
        MDB_val key = { sizeof rk, rk }, val = { strlen (text), text };
        rc = mdb_put (txn, store_dbi (el->store, DB_RUNS), &key, &val, 0);
        free (text);
        if (rc)
            return rc;
    }
    return 0;
}

static proto_msg_t *
published (const item_t *it)
{
    proto_msg_t *ev = proto_msg_new (PROTO_event, bus_pending_request (it->pending));
    proto_set_str (&ev->body.event.kind, it->kind);
    if (it->data.data)
        proto_set_bytes (&ev->body.event.data, it->data.data, it->data.size);
    ev->body.event.seq = it->seq;
    ev->body.event.run_seq = it->run_seq;
    return ev;
}

/* True when a failed commit (code) failed for want of disk: ENOSPC or
 * EDQUOT, or another I/O error (LMDB reports a short write as EIO) with
 * less than a MiB left where the store lives. */
static bool
disk_full (elog_t *el, int code)
{
    if (code == ENOSPC || code == EDQUOT)
        return true;
    struct statvfs st;
    return code == EIO && statvfs (el->dir, &st) == 0
        && (uint64_t) st.f_bavail * st.f_frsize < (1u << 20);
}

/* Answers and publishes every request of the committed batch. */
static void
answer_all (journal_t *self, int code)
{
    elog_t *el = self->el;
    bus_worker_t *worker = svc_worker (el->svc);
    bool full = code == MDB_MAP_FULL || (code && disk_full (el, code));
    if (code)
        clog_error (NULL, "append batch of %zu failed: %s", self->busy.count, mdb_strerror (code));
    else {
        self->batches++;
        self->events += self->busy.count;
    }
    for (size_t i = 0; i < self->busy.count; i++) {
        item_t *it = &self->busy.items[i];
        const proto_msg_t *req = bus_pending_request (it->pending);
        proto_msg_t *rep, *ev = NULL;
        if (code)
            /* full, whether the map or the disk: the caller must not take
             * the event for stored, and a person can act on the reason */
            rep = proto_error_new (req, full ? PROTO_ERR_store_full : PROTO_ERR_store_failed,
                                   "event not stored: %s%s", mdb_strerror (code),
                                   code == MDB_MAP_FULL ? " (CAISSON_LMDB_MAX_MB reached)"
                                   : full ? " (the disk holding the event store is full)" : "");
        else if (it->refused)
            rep = proto_error_new (req, (proto_ecode_t) it->refused, "%s", it->why);
        else {
            rep = proto_msg_new (PROTO_event_ack, req);
            if (rep) {
                rep->body.event_ack.seq = it->seq;
                rep->body.event_ack.run_seq = it->run_seq;
                rep->body.event_ack.duplicate = it->duplicate;
            }
            if (!it->duplicate)
                ev = published (it);
        }
        char topic[160];
        snprintf (topic, sizeof topic, "run.%s.%s", req->env.run, it->kind);
        bus_worker_answer (worker, &it->pending, rep);
        if (ev)
            bus_pub_send (svc_pub (el->svc), topic, ev);
        proto_msg_destroy (&ev);
        item_free (it);
    }
    self->busy.count = 0;
    runs_clear (self);
}

static int
commit (journal_t *self)
{
    return store_write (self->el->store, write_batch, self) ? store_error (self->el->store) : 0;
}

static void *
writer_main (void *arg)
{
    journal_t *self = arg;
    pthread_mutex_lock (&self->lock);
    for (;;) {
        while (!self->work && !self->quit)
            pthread_cond_wait (&self->wake, &self->lock);
        if (!self->work)
            break;
        pthread_mutex_unlock (&self->lock);
        int result = commit (self);
        pthread_mutex_lock (&self->lock);
        self->result = result;
        self->work = false;
        char one = 1;
        if (write (self->done[1], &one, 1) != 1)
            clog_error (NULL, "journal: cannot signal a committed batch");
    }
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

/* Gives the filling queue to the writer, when it is free and there is
 * something to commit. */
static void
handover (journal_t *self)
{
    if (self->committing || !self->filling.count)
        return;
    queue_t swap = self->busy;
    self->busy = self->filling;
    self->filling = swap;
    self->committing = true;
    pthread_mutex_lock (&self->lock);
    self->work = true;
    pthread_cond_signal (&self->wake);
    pthread_mutex_unlock (&self->lock);
}

static int
on_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop, (void) timer_id;
    journal_t *self = arg;
    self->timer = -1;
    handover (self);
    return 0;
}

/* The writer has committed (or failed) a batch: answer it, and start the
 * next one with whatever arrived meanwhile. */
static int
on_done (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) loop, (void) item;
    journal_t *self = arg;
    char one;
    if (read (self->done[0], &one, 1) != 1)
        return 0;
    pthread_mutex_lock (&self->lock);
    int result = self->result;
    pthread_mutex_unlock (&self->lock);
    self->committing = false;
    answer_all (self, result);
    handover (self);
    return 0;
}

/* ---- public ---------------------------------------------------------------- */

journal_t *
journal_new (elog_t *el)
{
    journal_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->el = el;
    self->timer = -1;
    self->done[0] = self->done[1] = -1;
    self->batch_ms = (int) cfg_u64 ("CAISSON_EVENTLOG_BATCH_MS");
    msgpack_sbuffer_init (&self->buf);
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->wake, NULL);
    if (pipe2 (self->done, O_CLOEXEC)) {
        journal_destroy (&self);
        return NULL;
    }
    zmq_pollitem_t item = { .fd = self->done[0], .events = ZMQ_POLLIN };
    if (zloop_poller (svc_loop (el->svc), &item, on_done, self)
        || pthread_create (&self->writer, NULL, writer_main, self)) {
        journal_destroy (&self);
        return NULL;
    }
    self->started = true;
    return self;
}

void
journal_destroy (journal_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    journal_t *self = *self_p;
    if (self->started) {
        pthread_mutex_lock (&self->lock);
        self->quit = true;
        pthread_cond_signal (&self->wake);
        pthread_mutex_unlock (&self->lock);
        pthread_join (self->writer, NULL);
    }
    /* The loop has ended: answer the batch in flight, and commit what was
     * accepted after it, here. */
    if (self->committing) {
        self->committing = false;
        answer_all (self, self->result);
    }
    if (self->filling.count) {
        queue_t swap = self->busy;
        self->busy = self->filling;
        self->filling = swap;
        answer_all (self, commit (self));
    }
    if (self->timer >= 0)
        zloop_timer_end (svc_loop (self->el->svc), self->timer);
    if (self->done[0] >= 0) {
        zmq_pollitem_t item = { .fd = self->done[0], .events = ZMQ_POLLIN };
        zloop_poller_end (svc_loop (self->el->svc), &item);
        close (self->done[0]);
        close (self->done[1]);
    }
    pthread_mutex_destroy (&self->lock);
    pthread_cond_destroy (&self->wake);
    free (self->filling.items);
    free (self->busy.items);
    free (self->runs);
    msgpack_sbuffer_destroy (&self->buf);
    free (self);
    *self_p = NULL;
}

void
journal_counts (journal_t *self, uint64_t *batches, uint64_t *events)
{
    *batches = self->batches;
    *events = self->events;
}

/* True when req, a run_started, names as the run's user (its data's
 * `user`, which becomes the record's owner) the envelope's user, or
 * comes from an operator: no one starts a run in another's name. */
static bool
started_by_sender (const proto_msg_t *req)
{
    if (req->env.op)
        return true;
    const proto_bytes_t *data = &req->body.event_append.data;
    char why[160];
    json_t *d = data->data ? mpjson_decode (data->data, data->size, 32, why, sizeof why) : NULL;
    json_t *user = json_object_get (d, "user");
    bool same = user ? json_is_string (user)
                           && !strcmp (json_string_value (user), req->env.user ?: "")
                     : !req->env.user || !*req->env.user;
    json_decref (d);
    return same;
}

proto_msg_t *
journal_append (journal_t *self, const proto_msg_t *req)
{
    const proto_event_append_t *b = &req->body.event_append;
    if (!req->env.run || !elog_run_valid (req->env.run))
        return proto_error_new (req, PROTO_ERR_bad_run,
                                "event.append: envelope field run must be a 26-character id");
    if (!kind_valid (b->kind))
        return proto_error_new (req, PROTO_ERR_bad_kind, "event.append: field kind must be [a-z0-9_]+");
    if (evk_lookup (b->kind) == EVK_run_started && !started_by_sender (req))
        return proto_error_new (req, PROTO_ERR_not_found, "event.append: a run_started names its "
                                "sender (the envelope's user) as the run's user");
    queue_t *q = &self->filling;
    if (q->count == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 256;
        item_t *grown = realloc (q->items, cap * sizeof *grown);
        if (!grown)
            return NULL;
        q->items = grown;
        q->cap = cap;
    }
    item_t *it = &q->items[q->count];
    memset (it, 0, sizeof *it);
    it->kind = xstrdup (b->kind);
    if (b->data.data)
        proto_set_bytes (&it->data, b->data.data, b->data.size);
    if (!(it->pending = bus_worker_defer (svc_worker (self->el->svc)))) {
        item_free (it);
        return NULL;
    }
    q->count++;
    /* While a batch commits, the next one fills; on_done hands it over. */
    if (!self->committing && self->timer < 0) {
        self->timer = zloop_timer (svc_loop (self->el->svc), (size_t) self->batch_ms, 1, on_timer,
                                   self);
        if (self->timer < 0)
            handover (self);
    }
    return BUS_DEFERRED;
}
