/* runcall: the `model_call` events a run gets from the gateway's spend
 * records (runcall.h). The event is stored as journal.c stores one
 * (events, the global order, the id for dedup, the run record's count),
 * here inside spend.append's transaction: both are one write. */
#include "runcall.h"
#include "jfield.h"
#include "clog.h"
#include "evkind.h"
#include "mpjson.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The model_call data of spend record rec (new), or NULL. */
static json_t *
event_data (const json_t *rec)
{
    const char *sbx = jfield_str (rec, "sandbox");
    return EVK (model_call, .call = jfield_str (rec, "call"), .keyId = jfield_str (rec, "key"),
                .keyKind = jfield_str (rec, "keyKind"), .sandboxId = *sbx ? sbx : NULL,
                .model = jfield_str (rec, "model"), .route = jfield_str (rec, "route"),
                .status = jfield_u64 (rec, "status"), .outcome = jfield_str (rec, "outcome"),
                .in = jfield_u64 (rec, "in"), .out = jfield_u64 (rec, "out"),
                .cached = jfield_u64 (rec, "cached"),
                .nusd = jfield_u64 (rec, "nusd"), .totalUs = jfield_u64 (rec, "totalUs"),
                .estimated = json_is_true (json_object_get (rec, "estimated")));
}

/* The next global seq (the last stored + 1). */
static int
next_global (MDB_txn *txn, elog_t *el, uint64_t *seq)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open (txn, store_dbi (el->store, DB_GLOBAL), &cur);
    if (rc)
        return rc;
    MDB_val k, v;
    rc = mdb_cursor_get (cur, &k, &v, MDB_LAST);
    *seq = (!rc && k.mv_size == 8 ? elog_get64 (k.mv_data) : 0) + 1;
    mdb_cursor_close (cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Stores the event (id, data) as run's next and folds it into its record
 * runrec (written back). */
static int
store_event (MDB_txn *txn, elog_t *el, json_t *runrec, runcall_t *out, const char *id,
             json_t *data)
{
    int rc = next_global (txn, el, &out->seq);
    if (rc)
        return rc;
    uint64_t ts = (uint64_t) zclock_usecs ();
    out->run_seq = jfield_u64 (runrec, "events") + 1;
    json_t *ev = json_pack ("{s:I, s:I, s:s, s:s, s:s, s:I, s:O}", "seq",
                            (json_int_t) out->seq, "run_seq", (json_int_t) out->run_seq, "run",
                            out->run, "id", id, "kind", "model_call", "ts", (json_int_t) ts,
                            "data", data);
    uint8_t *packed = NULL;
    size_t size;
    if (!ev || mpjson_encode (ev, 8, &packed, &size)
        || mpjson_encode (data, 8, &out->data.data, &out->data.size)) {
        json_decref (ev);
        free (packed);
        return ENOMEM;
    }
    json_decref (ev);
    uint8_t ekey[ELOG_EVENT_KEY], gkey[8], ids[16];
    elog_run_key (out->run, ekey);
    elog_be64 (ekey + ELOG_RUN_KEY, out->run_seq);
    elog_be64 (gkey, out->seq);
    elog_be64 (ids, out->seq);
    elog_be64 (ids + 8, out->run_seq);
    MDB_val ek = { sizeof ekey, ekey }, evv = { size, packed }, gk = { 8, gkey };
    MDB_val gv = { sizeof ekey, ekey }, ik = { strlen (id), (void *) id }, iv = { 16, ids };
    if ((rc = mdb_put (txn, store_dbi (el->store, DB_EVENTS), &ek, &evv, 0))
        || (rc = mdb_put (txn, store_dbi (el->store, DB_GLOBAL), &gk, &gv, MDB_APPEND))
        || (rc = mdb_put (txn, store_dbi (el->store, DB_IDS), &ik, &iv, 0))) {
        free (packed);
        return rc;
    }
    free (packed);
    json_object_set_new (runrec, "events", json_integer ((json_int_t) out->run_seq));
    json_object_set_new (runrec, "updated", json_integer ((json_int_t) ts));
    out->appended = true;
    return 0;
}

/* Writes the run record runrec of out->run back. */
static int
save_run (MDB_txn *txn, elog_t *el, const runcall_t *out, const json_t *runrec)
{
    char *text = json_dumps (runrec, JSON_COMPACT);
    if (!text)
        return ENOMEM;
    uint8_t rk[ELOG_RUN_KEY];
    elog_run_key (out->run, rk);
    MDB_val k = { sizeof rk, rk }, v = { strlen (text), text };
    int rc = mdb_put (txn, store_dbi (el->store, DB_RUNS), &k, &v, 0);
    free (text);
    return rc;
}

int
runcall_add (MDB_txn *txn, elog_t *el, const json_t *rec, uint64_t max, runcall_t *out)
{
    free (out->data.data);      /* a transaction tried again (the map grew) */
    memset (out, 0, sizeof *out);
    const char *kind = jfield_str (rec, "keyKind"), *run = jfield_str (rec, "run");
    const char *call = jfield_str (rec, "call");
    if ((strcmp (kind, "sandbox") && strcmp (kind, "user")) || !*run)
        return 0;
    json_t *runrec = elog_run_valid (run) ? elog_run_load (txn, el, run) : NULL;
    const char *owner = jfield_str (runrec, "user"), *user = jfield_str (rec, "user");
    if (!runrec || strcmp (owner, user)) {
        /* not a run of this user: their key names it, nothing more */
        clog_info (NULL, "call %s of %s's %s key names run '%.40s', not theirs: no model_call",
                   call, user, kind, run);
        json_decref (runrec);
        return 0;
    }
    snprintf (out->run, sizeof out->run, "%s", run);
    snprintf (out->user, sizeof out->user, "%s", owner);
    char id[96];
    snprintf (id, sizeof id, "model_call.%s", call);
    MDB_val ik = { strlen (id), id }, iv;
    int rc = mdb_get (txn, store_dbi (el->store, DB_IDS), &ik, &iv);
    if (rc != MDB_NOTFOUND) {
        json_decref (runrec);
        return rc;      /* 0: this call has its event already (a late correction) */
    }
    uint64_t calls = jfield_u64 (runrec, "modelCalls") + 1;
    json_object_set_new (runrec, "modelCalls", json_integer ((json_int_t) calls));
    rc = 0;
    if (calls <= max) {
        json_t *data = event_data (rec);
        rc = data ? store_event (txn, el, runrec, out, id, data) : 0;
        json_decref (data);
    }
    else if (calls == max + 1)
        clog_info (NULL, "run %s: %" PRIu64 " model_call events, the most it gets; further "
                   "calls are counted (modelCalls) and in the spend log", run, max);
    if (!rc)
        rc = save_run (txn, el, out, runrec);
    json_decref (runrec);
    return rc;
}

void
runcall_publish (elog_t *el, const proto_msg_t *cause, runcall_t *out)
{
    if (out->appended) {
        proto_msg_t *ev = proto_msg_new (PROTO_event, cause);
        proto_set_str (&ev->env.user, out->user);
        proto_set_str (&ev->env.run, out->run);
        ev->env.op = false;
        proto_set_str (&ev->body.event.kind, "model_call");
        proto_set_bytes (&ev->body.event.data, out->data.data, out->data.size);
        ev->body.event.seq = out->seq;
        ev->body.event.run_seq = out->run_seq;
        char topic[160];
        snprintf (topic, sizeof topic, "run.%s.model_call", out->run);
        bus_pub_send (svc_pub (el->svc), topic, ev);
        proto_msg_destroy (&ev);
    }
    free (out->data.data);
    memset (out, 0, sizeof *out);
}
