/* threads: conversation threads as their owner's resource. A thread is
 * the runs that named one thread id; event-log sees every run start and
 * end, so it keeps each thread's record (`threads`), its runs in start
 * order (`thread_runs`) and an index by owner and latest activity
 * (`thread_act`), all folded from the events in the append transaction
 * (threads_fold) like the run records. The requests: thread.create,
 * threads.list and thread.rename here, thread.get in thread_convo.c,
 * thread.delete in thread_delete.c. Someone else's thread is answered not_found. */
#include "elog.h"
#include "cid.h"
#include "clog.h"
#include "evkind.h"
#include "fence.h"
#include "mpjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TITLE_FROM_TASK 80      /* bytes of the first task's first line */
#define DEFAULT_THREADS 50

static const char *
str_of (const json_t *j, const char *key)
{
    return json_string_value (json_object_get (j, key));
}

static uint64_t
u64_of (const json_t *j, const char *key)
{
    return (uint64_t) json_integer_value (json_object_get (j, key));
}

/* user NUL be64 activity thread: a user's threads sort by activity. */
size_t
threads_act_key (uint8_t *out, const char *user, uint64_t act, const char *thread)
{
    size_t u = strlen (user), t = strlen (thread);
    memcpy (out, user, u + 1);
    elog_be64 (out + u + 1, act);
    memcpy (out + u + 9, thread, t);
    return u + 9 + t;
}

/* thread NUL run key: a thread's runs in start order (run ids sort by
 * time). */
size_t
threads_runs_key (uint8_t *out, const char *thread, const char *run)
{
    size_t t = strlen (thread);
    memcpy (out, thread, t + 1);
    if (run)
        elog_run_key (run, out + t + 1);
    return t + 1 + (run ? ELOG_RUN_KEY : 0);
}

/* The stored record of thread, tombstones included. */
static json_t *
load_any (MDB_txn *txn, elog_t *el, const char *thread)
{
    MDB_val k = { strlen (thread), (void *) thread }, v;
    if (!*thread || mdb_get (txn, store_dbi (el->store, DB_THREADS), &k, &v))
        return NULL;
    return json_loadb (v.mv_data, v.mv_size, 0, NULL);
}

json_t *
threads_load (MDB_txn *txn, elog_t *el, const char *thread)
{
    json_t *t = load_any (txn, el, thread);
    if (t && json_object_get (t, "deleted"))
        json_decref (t), t = NULL;
    return t;
}

json_t *
threads_runs (MDB_txn *txn, elog_t *el, const char *thread)
{
    json_t *runs = json_array ();
    uint8_t seek[512];
    size_t n = threads_runs_key (seek, thread, NULL);
    MDB_cursor *cur;
    if (mdb_cursor_open (txn, store_dbi (el->store, DB_THREAD_RUNS), &cur))
        return runs;
    MDB_val k = { n, seek }, v;
    for (int rc = mdb_cursor_get (cur, &k, &v, MDB_SET_RANGE);
         !rc && k.mv_size == n + ELOG_RUN_KEY && !memcmp (k.mv_data, seek, n);
         rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT))
        json_array_append_new (runs, json_stringn ((const char *) k.mv_data + n, ELOG_RUN_KEY));
    mdb_cursor_close (cur);
    return runs;
}

/* Stores t, moving its index entry from activity `was` (0: none yet). */
static int
thread_put (MDB_txn *txn, elog_t *el, const json_t *t, uint64_t was)
{
    const char *id = str_of (t, "thread"), *user = str_of (t, "user") ?: "";
    uint8_t key[512];
    MDB_val k, v = { 0, "" };
    int rc = 0;
    if (was) {
        k = (MDB_val) { threads_act_key (key, user, was, id), key };
        rc = mdb_del (txn, store_dbi (el->store, DB_THREAD_ACT), &k, NULL);
        if (rc && rc != MDB_NOTFOUND)
            return rc;
    }
    k = (MDB_val) { threads_act_key (key, user, u64_of (t, "lastActivity"), id), key };
    if ((rc = mdb_put (txn, store_dbi (el->store, DB_THREAD_ACT), &k, &v, 0)))
        return rc;
    char *text = json_dumps (t, JSON_COMPACT);
    k = (MDB_val) { strlen (id), (void *) id };
    v = (MDB_val) { strlen (text), text };
    rc = mdb_put (txn, store_dbi (el->store, DB_THREADS), &k, &v, 0);
    free (text);
    return rc;
}

/* The title a thread gets from its first task: the first line that is
 * not blank, trimmed, cut to TITLE_FROM_TASK bytes on a character
 * boundary, its control characters as spaces (as a person's title holds
 * none: a title reaches terminals). */
static json_t *
title_of_task (const char *task)
{
    while (*task == ' ' || *task == '\t' || *task == '\n' || *task == '\r')
        task++;
    size_t n = strcspn (task, "\r\n");
    while (n && (task[n - 1] == ' ' || task[n - 1] == '\t'))
        n--;
    if (n > TITLE_FROM_TASK) {
        n = TITLE_FROM_TASK;
        while (n && ((unsigned char) task[n] & 0xC0) == 0x80)
            n--;
    }
    char title[TITLE_FROM_TASK + 1];
    for (size_t i = 0; i < n; i++)
        title[i] = (unsigned char) task[i] < 0x20 || task[i] == 0x7f ? ' ' : task[i];
    return json_stringn (title, n);
}

/* The model's title (thread_titled's data) for t, unless a person named
 * it. */
static void
model_title (json_t *t, const proto_bytes_t *data)
{
    char why[160];
    json_t *d = data->data ? mpjson_decode (data->data, data->size, 8, why, sizeof why) : NULL;
    const char *title = str_of (d, "title");
    if (title && strlen (title) <= 200 && *title && strcmp (str_of (t, "titleSource") ?: "", "user")
        && !strcmp (str_of (d, "threadId") ?: "", str_of (t, "thread"))) {
        json_object_set_new (t, "title", json_string (title));
        json_object_set_new (t, "titleSource", json_string ("model"));
    }
    json_decref (d);
}

int
threads_fold (MDB_txn *txn, elog_t *el, const json_t *rec, const char *kind,
              const proto_bytes_t *data, uint64_t ts)
{
    evk_kind_t k = evk_lookup (kind);
    if (k != EVK_run_started && k != EVK_complete && k != EVK_failed && k != EVK_thread_titled
        && k != EVK_resumed)
        return 0;
    const char *thread = str_of (rec, "thread"), *run = str_of (rec, "run");
    const char *user = str_of (rec, "user") ?: "";
    if (!thread || !*thread || strlen (thread) > 128 || strlen (user) > 128 || !run)
        return 0;
    json_t *t = load_any (txn, el, thread);
    uint64_t was = t ? u64_of (t, "lastActivity") : 0;
    /* its thread was deleted while it ran (threads_admit refuses new ones) */
    if ((!t && k != EVK_run_started) || json_object_get (t, "deleted")) {
        json_decref (t);
        return 0;
    }
    if (!t)
        t = json_pack ("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "thread", thread, "user", user,
                       "title", "", "titleSource", "", "created", (json_int_t) ts,
                       "lastActivity", (json_int_t) ts, "runs", (json_int_t) 0);
    /* an operator's run on someone's thread is not theirs to list */
    if (strcmp (str_of (t, "user") ?: "", user)) {
        json_decref (t);
        return 0;
    }
    int rc = 0;
    bool last = !strcmp (str_of (t, "lastRun") ?: "", run);
    /* the instance that holds the conversation now: clients route the
     * thread's next run there (libcommon/runroute.h) */
    if ((k == EVK_run_started || (k == EVK_resumed && last)) && str_of (rec, "orchestrator"))
        json_object_set (t, "orchestrator", json_object_get (rec, "orchestrator"));
    if (k == EVK_resumed) {
        rc = thread_put (txn, el, t, was);
        json_decref (t);
        return rc;
    }
    if (k == EVK_run_started) {
        json_object_set_new (t, "runs", json_integer ((json_int_t) u64_of (t, "runs") + 1));
        json_object_set_new (t, "lastRun", json_string (run));
        if (!*(str_of (t, "title") ?: "")) {
            json_object_set_new (t, "title", title_of_task (str_of (rec, "task") ?: ""));
            json_object_set_new (t, "titleSource", json_string ("task"));
        }
        uint8_t key[512];
        MDB_val rk = { threads_runs_key (key, thread, run), key }, v = { 0, "" };
        rc = mdb_put (txn, store_dbi (el->store, DB_THREAD_RUNS), &rk, &v, 0);
    }
    if (k == EVK_thread_titled)
        model_title (t, data);
    else if (!strcmp (str_of (t, "lastRun") ?: "", run))
        json_object_set (t, "lastStatus", json_object_get (rec, "status"));
    if (k != EVK_thread_titled && ts > u64_of (t, "lastActivity"))
        json_object_set_new (t, "lastActivity", json_integer ((json_int_t) ts));
    if (!rc)
        rc = thread_put (txn, el, t, was);
    json_decref (t);
    return rc;
}

/* ---- who may run on a thread, and its end --------------------------------- */

int
threads_admit (MDB_txn *txn, elog_t *el, const proto_msg_t *env, const proto_bytes_t *data,
               char *why, size_t len)
{
    char err[160];
    json_t *d = data->data ? mpjson_decode (data->data, data->size, 32, err, sizeof err) : NULL;
    const char *thread = str_of (d, "threadId");
    json_t *t = thread ? load_any (txn, el, thread) : NULL;
    int code = 0;
    if (t && !elog_may_read (env, t)) {
        /* as if it did not exist: its id tells bob nothing */
        snprintf (why, len, "threadId: no thread '%.128s'", thread);
        code = PROTO_ERR_not_found;
    }
    else if (t && (json_object_get (t, "deleted") || json_object_get (t, "deleting"))) {
        snprintf (why, len, "thread '%.128s' was deleted: it takes no more runs; start a new "
                  "thread", thread);
        code = PROTO_ERR_conflict;
    }
    json_decref (t);
    json_decref (d);
    return code;
}

int
threads_bury (MDB_txn *txn, elog_t *el, const char *thread, uint64_t ts)
{
    json_t *t = load_any (txn, el, thread);
    if (!t || json_object_get (t, "deleted")) {
        json_decref (t);
        return 0;
    }
    uint8_t key[512];
    const char *user = str_of (t, "user") ?: "";
    MDB_val k = { threads_act_key (key, user, u64_of (t, "lastActivity"), thread), key };
    int rc = mdb_del (txn, store_dbi (el->store, DB_THREAD_ACT), &k, NULL);
    json_t *stone = json_pack ("{s:s, s:s, s:I}", "thread", thread, "user", user, "deleted",
                               (json_int_t) ts);
    char *text = json_dumps (stone, JSON_COMPACT);
    k = (MDB_val) { strlen (thread), (void *) thread };
    MDB_val v = { strlen (text), text };
    if (!rc || rc == MDB_NOTFOUND)
        rc = mdb_put (txn, store_dbi (el->store, DB_THREADS), &k, &v, 0);
    free (text);
    json_decref (stone);
    json_decref (t);
    return rc;
}

int
threads_forget_run (MDB_txn *txn, elog_t *el, const json_t *rec, const char *run, uint64_t ts)
{
    const char *thread = str_of (rec, "thread");
    if (!thread || !*thread || strlen (thread) > 128)
        return 0;
    uint8_t key[512];
    MDB_val k = { threads_runs_key (key, thread, run), key };
    int rc = mdb_del (txn, store_dbi (el->store, DB_THREAD_RUNS), &k, NULL);
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    json_t *left = threads_runs (txn, el, thread);
    rc = json_array_size (left) ? 0 : threads_bury (txn, el, thread, ts);
    json_decref (left);
    return rc;
}

/* ---- runs stored before threads were kept -------------------------------- */

static int
backfill_fn (MDB_txn *txn, void *arg)
{
    elog_t *el = arg;
    MDB_val mk = { 7, "threads" }, mv;
    int rc = mdb_get (txn, store_dbi (el->store, DB_META), &mk, &mv);
    if (rc != MDB_NOTFOUND)
        return rc;
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open (txn, store_dbi (el->store, DB_RUNS), &cur)))
        return rc;
    proto_bytes_t none = { 0 };
    MDB_val k, v;
    for (rc = mdb_cursor_get (cur, &k, &v, MDB_FIRST); !rc;
         rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT)) {
        json_t *rec = json_loadb (v.mv_data, v.mv_size, 0, NULL);
        uint64_t started = u64_of (rec, "started"), ended = u64_of (rec, "ended");
        const char *status = str_of (rec, "status");
        rc = threads_fold (txn, el, rec, "run_started", &none, started);
        if (!rc && ended)
            rc = threads_fold (txn, el, rec, strcmp (status ?: "", "completed") ? "failed"
                                                                                  : "complete",
                               &none, ended);
        json_decref (rec);
        if (rc)
            break;
    }
    mdb_cursor_close (cur);
    if (rc != MDB_NOTFOUND)
        return rc;
    mv = (MDB_val) { 1, "1" };
    return mdb_put (txn, store_dbi (el->store, DB_META), &mk, &mv, 0);
}

int
threads_backfill (elog_t *el)
{
    return store_write (el->store, backfill_fn, el);
}

static proto_msg_t *
store_error_of (const proto_msg_t *req, elog_t *el)
{
    return proto_error_new (req, PROTO_ERR_store_failed, "%s",
                            mdb_strerror (store_error (el->store)));
}

/* A title a person gave: UTF-8 text (the stored record is JSON, which
 * holds nothing else), not blank, no control characters. */
static bool
title_ok (const char *title)
{
    if (!fence_utf8_valid (title, strlen (title)))
        return false;
    bool text = false;
    for (const unsigned char *p = (const unsigned char *) title; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return false;
        text |= *p != ' ';
    }
    return text;
}

static proto_msg_t *
info_of (const proto_msg_t *req, const json_t *t)
{
    proto_msg_t *rep = proto_msg_new (PROTO_thread_info, req);
    if (mpjson_set (&rep->body.thread_info.thread, t, 8))
        proto_msg_destroy (&rep);
    return rep;
}

/* ---- thread.create, thread.rename ---------------------------------------- */

typedef struct {
    elog_t *el;
    const proto_msg_t *req;
    const char *thread, *title;
    json_t *out;                /* the thread as stored, or NULL: none the caller may see */
} edit_t;

static int
create_fn (MDB_txn *txn, void *arg)
{
    edit_t *e = arg;
    uint64_t now = (uint64_t) zclock_time () * 1000;
    json_decref (e->out);
    e->out = json_pack ("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "thread", e->thread, "user",
                        e->req->env.user ?: "", "title", e->title ?: "", "titleSource",
                        e->title ? "user" : "", "created", (json_int_t) now, "lastActivity",
                        (json_int_t) now, "runs", (json_int_t) 0);
    return thread_put (txn, e->el, e->out, 0);
}

proto_msg_t *
threads_create (const proto_msg_t *req, void *arg)
{
    elog_t *el = svc_state (arg);
    const char *title = req->body.thread_create.title;
    if (title && !title_ok (title))
        return proto_error_new (req, PROTO_ERR_bad_value, "title: blank, not UTF-8 or "
                                "with control characters");
    char id[CID_SIZE];
    cid_new (id);
    edit_t e = { el, req, id, title, NULL };
    proto_msg_t *rep = store_write (el->store, create_fn, &e) ? store_error_of (req, el)
                                                                : info_of (req, e.out);
    json_decref (e.out);
    return rep;
}

static int
rename_fn (MDB_txn *txn, void *arg)
{
    edit_t *e = arg;
    json_decref (e->out);
    e->out = threads_load (txn, e->el, e->thread);
    if (e->out && !elog_may_read (e->req, e->out))
        json_decref (e->out), e->out = NULL;
    if (!e->out)
        return 0;
    json_object_set_new (e->out, "title", json_string (e->title));
    json_object_set_new (e->out, "titleSource", json_string ("user"));
    return thread_put (txn, e->el, e->out, u64_of (e->out, "lastActivity"));
}

proto_msg_t *
threads_rename (const proto_msg_t *req, void *arg)
{
    elog_t *el = svc_state (arg);
    const proto_thread_rename_t *b = &req->body.thread_rename;
    if (!title_ok (b->title))
        return proto_error_new (req, PROTO_ERR_bad_value, "title: blank, not UTF-8 or "
                                "with control characters");
    edit_t e = { el, req, b->thread_id, b->title, NULL };
    proto_msg_t *rep = store_write (el->store, rename_fn, &e) ? store_error_of (req, el)
                     : e.out ? info_of (req, e.out)
                     : proto_error_new (req, PROTO_ERR_not_found, "thread_id: no thread '%s'",
                                        b->thread_id);
    json_decref (e.out);
    return rep;
}

/* ---- threads.list -------------------------------------------------------- */

typedef struct {
    elog_t *el;
    const char *user;
    uint64_t before_act;
    const char *before_thread;  /* NULL: from the newest */
    size_t limit;
    json_t *threads;
    char next[160];
} list_t;

static int
list_fn (MDB_txn *txn, void *arg)
{
    list_t *l = arg;
    json_array_clear (l->threads);
    l->next[0] = '\0';
    size_t plen = strlen (l->user) + 1;
    uint8_t seek[512];
    size_t n = l->before_thread ? threads_act_key (seek, l->user, l->before_act, l->before_thread)
                                : threads_act_key (seek, l->user, UINT64_MAX, "");
    MDB_cursor *cur;
    int rc = mdb_cursor_open (txn, store_dbi (l->el->store, DB_THREAD_ACT), &cur);
    if (rc)
        return rc;
    MDB_val k = { n, seek }, v;
    rc = mdb_cursor_get (cur, &k, &v, MDB_SET_RANGE);
    rc = rc == MDB_NOTFOUND ? mdb_cursor_get (cur, &k, &v, MDB_LAST)
       : rc ? rc : mdb_cursor_get (cur, &k, &v, MDB_PREV);
    for (; !rc && k.mv_size > plen + 8 && !memcmp (k.mv_data, seek, plen);
         rc = mdb_cursor_get (cur, &k, &v, MDB_PREV)) {
        const char *key = k.mv_data;
        char id[129];
        snprintf (id, sizeof id, "%.*s", (int) (k.mv_size - plen - 8), key + plen + 8);
        if (json_array_size (l->threads) == l->limit) {
            json_t *last = json_array_get (l->threads, l->limit - 1);
            snprintf (l->next, sizeof l->next, "%016llx:%s",
                      (unsigned long long) u64_of (last, "lastActivity"), str_of (last, "thread"));
            break;
        }
        json_t *t = threads_load (txn, l->el, id);
        if (t)
            json_array_append_new (l->threads, t);
    }
    mdb_cursor_close (cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

proto_msg_t *
threads_list (const proto_msg_t *req, void *arg)
{
    elog_t *el = svc_state (arg);
    const proto_threads_list_t *q = &req->body.threads_list;
    list_t l = { el, req->env.user ?: "", 0, NULL, q->limit ? q->limit : DEFAULT_THREADS,
                 json_array (), "" };
    if (q->user && req->env.op)
        l.user = q->user;
    unsigned long long act;
    int at = 0;
    if (q->before) {
        if (sscanf (q->before, "%16llx:%n", &act, &at) != 1 || at != 17 || !q->before[at])
            return proto_error_new (req, PROTO_ERR_bad_value, "before: expected a page's "
                                    "`next`");
        l.before_act = act;
        l.before_thread = q->before + at;
    }
    if (store_read (el->store, list_fn, &l)) {
        json_decref (l.threads);
        return store_error_of (req, el);
    }
    proto_msg_t *rep = proto_msg_new (PROTO_threads_page, req);
    if (l.next[0])
        proto_set_str (&rep->body.threads_page.next, l.next);
    if (mpjson_set (&rep->body.threads_page.threads, l.threads, 8))
        proto_msg_destroy (&rep);
    json_decref (l.threads);
    return rep;
}
