/* thread_delete: thread.delete. A thread goes with its runs: each run's
 * events, record and the artifacts no other run references (as retention
 * deletes a run), then the thread's own entries. Refused while one of its
 * runs is live; and first, every orchestrator instance registered with
 * the broker is told to drop the conversation it keeps for the model
 * (thread.drop): when one does not answer nothing is deleted, so a retry
 * finds everything as it was. */
#include "elog.h"
#include "cfg.h"
#include "clog.h"
#include "runroute.h"

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

static int
survey_fn (MDB_txn *txn, void *arg)
{
    del_t *d = arg;
    json_decref (d->t);
    json_decref (d->runs);
    d->runs = NULL;
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
    return 0;
}

static int
delete_fn (MDB_txn *txn, void *arg)
{
    del_t *d = arg;
    d->gone = 0;
    size_t i;
    json_t *run;
    uint8_t key[512];
    int rc = 0;
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
    json_t *t = threads_load (txn, d->el, d->thread);
    if (!t)
        return 0;
    uint64_t act = (uint64_t) json_integer_value (json_object_get (t, "lastActivity"));
    MDB_val k = { threads_act_key (key, str_of (t, "user") ?: "", act, d->thread), key };
    rc = mdb_del (txn, store_dbi (d->el->store, DB_THREAD_ACT), &k, NULL);
    k = (MDB_val) { strlen (d->thread), (void *) d->thread };
    if (!rc || rc == MDB_NOTFOUND)
        rc = mdb_del (txn, store_dbi (d->el->store, DB_THREADS), &k, NULL);
    json_decref (t);
    return rc == MDB_NOTFOUND ? 0 : rc;
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
    int dropped = 0;
    if (store_read (el->store, survey_fn, &d))
        rep = proto_error_new (req, PROTO_ERR_store_failed, "%s",
                               mdb_strerror (store_error (el->store)));
    else if (!d.t)
        rep = proto_error_new (req, PROTO_ERR_not_found, "thread_id: no thread '%s'", thread);
    else if (d.live)
        rep = proto_error_new (req, PROTO_ERR_busy, "thread %s has a run that has not ended: "
                               "cancel it or wait, then delete the thread", thread);
    else if ((dropped = drop_everywhere (el, req, thread)) < 0)
        rep = proto_error_new (req, PROTO_ERR_unavailable, "thread %s: an orchestrator could "
                               "not drop its conversation; nothing was deleted, try again",
                               thread);
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
