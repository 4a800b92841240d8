/* thread_delete: thread.delete. A thread goes with its runs: each run's
 * events, record and the artifacts no other run references (as retention
 * deletes a run), then the thread's own entries, leaving a tombstone (its
 * id and owner) that refuses any later run naming it. Refused while one
 * of its runs is live; the check and a `deleting` mark are one write
 * transaction, so no run_started (the journal's writes) slips between the
 * check and the delete: one stored before is seen live, one after is
 * refused. Then every orchestrator instance registered with the broker is
 * told to drop the conversation it keeps for the model (thread.drop):
 * when one does not answer the mark is lifted and nothing is deleted, so
 * a retry finds everything as it was. */
#include "elog.h"
#include "cfg.h"
#include "clog.h"
#include "runroute.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DROP_TIMEOUT_MS 2000

static const char *
str_of (const json_t *j, const char *key)
{
    return json_string_value (json_object_get (j, key));
}

typedef struct {
    elog_t *el;
    const proto_msg_t *req;
    const char *thread;
    json_t *t;                  /* the thread, when the caller may see it */
    json_t *runs;               /* its run ids */
    bool live;                  /* one of them has not ended */
    uint64_t gone;
} del_t;

/* Stores t (its activity unchanged), with or without the deleting mark. */
static int
mark (MDB_txn *txn, elog_t *el, json_t *t, bool deleting)
{
    if (deleting)
        json_object_set_new (t, "deleting", json_true ());
    else
        json_object_del (t, "deleting");
    const char *id = str_of (t, "thread");
    char *text = json_dumps (t, JSON_COMPACT);
    MDB_val k = { strlen (id), (void *) id }, v = { text ? strlen (text) : 0, text };
    int rc = text ? mdb_put (txn, store_dbi (el->store, DB_THREADS), &k, &v, 0) : ENOMEM;
    free (text);
    return rc;
}

/* Finds the thread and its runs; marks it deleting unless one is live. */
static int
survey_fn (MDB_txn *txn, void *arg)
{
    del_t *d = arg;
    json_decref (d->t);
    json_decref (d->runs);
    d->runs = NULL;
    d->live = false;
    d->t = threads_load (txn, d->el, d->thread);
    if (d->t && !elog_may_read (d->req, d->t))
        json_decref (d->t), d->t = NULL;
    if (!d->t)
        return 0;
    d->runs = threads_runs (txn, d->el, d->thread);
    size_t i;
    json_t *run;
    json_array_foreach (d->runs, i, run) {
        json_t *rec = elog_run_load (txn, d->el, json_string_value (run));
        if (rec && proto_run_status_live (proto_run_status_lookup (str_of (rec, "status"))))
            d->live = true;
        json_decref (rec);
    }
    return d->live ? 0 : mark (txn, d->el, d->t, true);
}

static int
unmark_fn (MDB_txn *txn, void *arg)
{
    del_t *d = arg;
    json_t *t = threads_load (txn, d->el, d->thread);
    int rc = t ? mark (txn, d->el, t, false) : 0;
    json_decref (t);
    return rc;
}

static int
delete_fn (MDB_txn *txn, void *arg)
{
    del_t *d = arg;
    d->gone = 0;
    size_t i;
    json_t *run;
    uint8_t key[512];
    int rc;
    json_array_foreach (d->runs, i, run) {
        json_t *rec = elog_run_load (txn, d->el, json_string_value (run));
        uint8_t rk[ELOG_RUN_KEY];
        elog_run_key (json_string_value (run), rk);
        if (rec && (rc = artifact_drop_run (txn, d->el, rk, rec)) && rc != MDB_NOTFOUND) {
            json_decref (rec);
            return rc;
        }
        d->gone += rec != NULL;
        json_decref (rec);
        MDB_val k = { threads_runs_key (key, d->thread, json_string_value (run)), key };
        if ((rc = mdb_del (txn, store_dbi (d->el->store, DB_THREAD_RUNS), &k, NULL))
            && rc != MDB_NOTFOUND)
            return rc;
    }
    /* the thread's own working memory goes with its conversation */
    if ((rc = memory_forget_thread (txn, d->el, str_of (d->t, "user") ?: "", d->thread)))
        return rc;
    return threads_bury (txn, d->el, d->thread, (uint64_t) zclock_time () * 1000);
}

/* Tells every orchestrator instance registered now to forget the
 * thread's conversation, as req's sender. Returns how many did, or -1
 * when one did not answer (nothing is deleted then: the caller retries). */
static int
drop_everywhere (elog_t *el, const proto_msg_t *req, const char *thread)
{
    if (!el->client) {
        el->client = bus_client_new (cfg_str ("CAISSON_BUS"));
        if (!el->client)
            return -1;
        bus_client_set_timeout (el->client, DROP_TIMEOUT_MS, 1);
    }
    json_t *targets = runroute_instances (el->client, "orchestrator"), *s;
    size_t i;
    int done = 0;
    json_array_foreach (targets, i, s) {
        const char *service = json_string_value (s);
        if (!strchr (service, '.'))     /* none registered now */
            continue;
        proto_msg_t *drop = proto_msg_new (PROTO_thread_drop, req);
        proto_set_str (&drop->body.thread_drop.thread_id, thread);
        proto_msg_t *rep = bus_client_request (el->client, service, drop);
        proto_msg_destroy (&drop);
        bool ok = rep && rep->type == PROTO_thread_dropped;
        if (!ok)
            clog_error (req->env.corr, "thread %s: %s did not drop it: %s", thread, service,
                        rep && rep->type == PROTO_error ? rep->body.error.message
                                                        : "no answer");
        proto_msg_destroy (&rep);
        if (!ok) {
            done = -1;
            break;
        }
        done++;
    }
    json_decref (targets);
    return done;
}

proto_msg_t *
threads_delete (const proto_msg_t *req, void *arg)
{
    elog_t *el = svc_state (arg);
    const char *thread = req->body.thread_delete.thread_id;
    del_t d = { el, req, thread, NULL, NULL, false, 0 };
    proto_msg_t *rep = NULL;
    int dropped;
    if (store_write (el->store, survey_fn, &d))
        rep = proto_error_new (req, PROTO_ERR_store_failed, "%s",
                               mdb_strerror (store_error (el->store)));
    else if (!d.t)
        rep = proto_error_new (req, PROTO_ERR_not_found, "thread_id: no thread '%s'", thread);
    else if (d.live)
        rep = proto_error_new (req, PROTO_ERR_busy, "thread %s has a run that has not ended: "
                               "cancel it or wait, then delete the thread", thread);
    else if ((dropped = drop_everywhere (el, req, thread)) < 0) {
        if (store_write (el->store, unmark_fn, &d))
            clog_error (req->env.corr, "thread %s: still marked deleting: %s", thread,
                        mdb_strerror (store_error (el->store)));
        rep = proto_error_new (req, PROTO_ERR_unavailable, "thread %s: an orchestrator could "
                               "not drop its conversation; nothing was deleted, try again",
                               thread);
    }
    else if (store_write (el->store, delete_fn, &d))
        rep = proto_error_new (req, PROTO_ERR_store_failed, "%s",
                               mdb_strerror (store_error (el->store)));
    else {
        rep = proto_msg_new (PROTO_thread_deleted, req);
        proto_set_str (&rep->body.thread_deleted.thread_id, thread);
        rep->body.thread_deleted.runs = d.gone;
        rep->body.thread_deleted.orchestrators = (uint64_t) dropped;
        clog_info (req->env.corr, "thread %s deleted with %llu runs", thread,
                   (unsigned long long) d.gone);
    }
    json_decref (d.t);
    json_decref (d.runs);
    return rep;
}
