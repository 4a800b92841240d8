/* caisson-gateway-keys: the one owner of the model gateway's virtual keys,
 * budgets, reservations and spend outbox (docs/gateway.md, "Keys and
 * budgets"). Exactly one runs per store: the lock on $CAISSON_DATA/
 * gateway-keys makes a second exit 2 naming the holder.
 *
 * The calls' path (gkey.reserve, gkey.settle, gkey.release_instance) is
 * batched: requests the bus worker drains in one wake-up are deferred
 * and applied one after another in ONE write transaction on this loop's
 * thread, then answered. So every reserve is an atomic check-and-reserve
 * that sees every reservation before it, whatever the number of gateway
 * replicas, and a batch costs one commit.
 *
 * With CAISSON_GATEWAY_KEYS_SYNC=settle, what must be durable before its
 * answer (settles, orphan charges) is held for a flush on gk_sync's thread
 * (one for all that waits); reserves are answered at their commit, so the
 * loop never waits on the disk and the next batch goes on meanwhile. */
#include "gk_keys.h"
#include "gk_out.h"
#include "gk_resv.h"
#include "gk_sbx.h"
#include "gk_sync.h"
#include "cfg.h"
#include "clog.h"
#include "svc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    proto_msg_t *req;           /* a copy: the worker frees its own */
    bus_pending_t *pending;
    proto_msg_t *rep;
} job_t;

typedef struct {
    svc_t *svc;
    gk_t *gk;
    gk_out_t *out;
    gk_sbx_t *sbx;              /* revokes the keys of sandboxes gone */
    zlistx_t *batch;            /* job_t, in arrival order */
    gk_sync_t *sync;            /* KEYS_SYNC=settle: the flusher */
    zlistx_t *held;             /* job_t committed, awaiting a flush not begun */
    zlistx_t *flushing;         /* job_t covered by the flush under way */
    int flush_timer;            /* -1: none scheduled */
    bool sync_admin;            /* flush after key changes */
    uint64_t now;               /* the batch's clock */
    bool charged;
} keys_t;

static void
job_free (job_t **job_p)
{
    job_t *j = *job_p;
    if (!j)
        return;
    proto_msg_destroy (&j->req);
    proto_msg_destroy (&j->rep);
    free (j);
    *job_p = NULL;
}

/* Applies one job of the batch, writing its reply. */
static int
apply_job (MDB_txn *txn, keys_t *k, job_t *j)
{
    const proto_msg_t *req = j->req;
    proto_msg_destroy (&j->rep);
    char why[256];
    int rc = 0;
    switch (req->type) {
    case PROTO_gkey_reserve:
        j->rep = proto_msg_new (PROTO_gkey_grant, req);
        rc = gk_reserve (txn, k->gk, &req->body.gkey_reserve, k->now, &j->rep->body.gkey_grant,
                         why, sizeof why);
        if (rc == -1) {
            proto_msg_destroy (&j->rep);
            j->rep = proto_error_new (req, PROTO_ERR_bad_value, "%s", why);
            rc = 0;
        }
        break;
    case PROTO_gkey_settle:
        j->rep = proto_msg_new (PROTO_gkey_settled, req);
        rc = gk_settle (txn, k->gk, &req->body.gkey_settle, k->now, &j->rep->body.gkey_settled);
        k->charged = true;
        break;
    default: {
        j->rep = proto_msg_new (PROTO_gkey_ack, req);
        rc = gk_orphan_instance (txn, k->gk, req->body.gkey_release_instance.gateway, k->now,
                                 &j->rep->body.gkey_ack.count);
        k->charged |= j->rep->body.gkey_ack.count > 0;
        break;
    }
    }
    return rc;
}

static int
batch_txn (MDB_txn *txn, void *arg)
{
    keys_t *k = arg;
    gk_rate_begin (k->gk->rate);
    k->charged = false;
    int rc = 0;
    for (job_t *j = zlistx_first (k->batch); j && !rc; j = zlistx_next (k->batch))
        rc = apply_job (txn, k, j);
    return rc;
}

static void
answer (keys_t *k, job_t **job_p)
{
    job_t *j = *job_p;
    bus_worker_answer (svc_worker (k->svc), &j->pending, j->rep);
    j->rep = NULL;
    job_free (job_p);
}

/* A flush covering the held answers, when none runs. */
static void
flush_held (keys_t *k)
{
    if (!zlistx_size (k->held) || gk_sync_busy (k->sync))
        return;
    if (!gk_sync_start (k->sync)) {
        /* no thread to flush on: flush here, as before */
        if (store_sync (k->gk->store))
            clog_error (NULL, "store sync failed: %s", mdb_strerror (store_error (k->gk->store)));
        job_t *j;
        while ((j = zlistx_detach (k->held, NULL)))
            answer (k, &j);
        gk_out_kick (k->out);
        return;
    }
    job_t *j;
    while ((j = zlistx_detach (k->held, NULL)))
        zlistx_add_end (k->flushing, j);
}

static void
flushed (void *arg, int err)
{
    keys_t *k = arg;
    if (err)
        clog_error (NULL, "store sync failed: %s", mdb_strerror (err));
    job_t *j;
    while ((j = zlistx_detach (k->flushing, NULL)))
        answer (k, &j);
    gk_out_kick (k->out);
    flush_held (k);
}

/* Whether j's answer must wait for a flush: a settle, or a release that
 * charged (KEYS_SYNC=settle). Reserves never: a power loss may lose a
 * reservation, never acknowledged spend. */
static bool
needs_flush (const keys_t *k, const job_t *j)
{
    if (!k->sync || j->rep->type == PROTO_error)
        return false;
    return j->req->type == PROTO_gkey_settle
           || (j->req->type == PROTO_gkey_release_instance && j->rep->body.gkey_ack.count > 0);
}

static int
flush (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop, (void) timer_id;
    keys_t *k = arg;
    k->flush_timer = -1;
    k->now = gk_now_ms ();
    int rc = store_write (k->gk->store, batch_txn, k);
    if (rc == 0)
        gk_rate_commit (k->gk->rate);
    else
        gk_rate_begin (k->gk->rate);
    job_t *j;
    while ((j = zlistx_detach (k->batch, NULL))) {
        if (rc) {
            proto_msg_destroy (&j->rep);
            j->rep = gk_store_failure (k->gk, j->req);
        }
        if (needs_flush (k, j))
            zlistx_add_end (k->held, j);
        else
            answer (k, &j);
    }
    if (rc == 0 && k->charged && !k->sync)
        gk_out_kick (k->out);
    flush_held (k);
    return 0;
}

/* Defers a call-path request into the batch the next loop turn commits. */
static proto_msg_t *
batched (const proto_msg_t *req, void *arg)
{
    keys_t *k = svc_state (arg);
    uint8_t *data;
    size_t size;
    proto_err_t perr;
    if (proto_encode (req, &data, &size))
        return NULL;
    job_t *j = calloc (1, sizeof *j);
    j->req = proto_decode (data, size, &perr);
    free (data);
    j->pending = j->req ? bus_worker_defer (svc_worker (k->svc)) : NULL;
    if (!j->pending) {
        job_free (&j);
        return NULL;
    }
    zlistx_add_end (k->batch, j);
    if (k->flush_timer < 0)
        k->flush_timer = zloop_timer (svc_loop (k->svc), 0, 1, flush, k);
    return BUS_DEFERRED;
}

static proto_msg_t *
h_create (const proto_msg_t *req, void *arg)
{
    keys_t *k = svc_state (arg);
    return gk_keys_create (k->gk, req, k->sync_admin);
}

static proto_msg_t *
h_list (const proto_msg_t *req, void *arg)
{
    return gk_keys_list (((keys_t *) svc_state (arg))->gk, req);
}

static proto_msg_t *
h_revoke (const proto_msg_t *req, void *arg)
{
    keys_t *k = svc_state (arg);
    return gk_keys_revoke (k->gk, req, k->sync_admin);
}

static proto_msg_t *
h_context (const proto_msg_t *req, void *arg)
{
    keys_t *k = svc_state (arg);
    return gk_keys_context (k->gk, req, k->sync_admin);
}

static proto_msg_t *
h_user_set (const proto_msg_t *req, void *arg)
{
    keys_t *k = svc_state (arg);
    return gk_keys_user_set (k->gk, req, k->sync_admin);
}

static proto_msg_t *
h_usage (const proto_msg_t *req, void *arg)
{
    return gk_keys_usage (((keys_t *) svc_state (arg))->gk, req);
}

static int
sync_now (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop, (void) timer_id;
    keys_t *k = arg;
    if (store_sync (k->gk->store))
        clog_error (NULL, "store sync failed: %s", mdb_strerror (store_error (k->gk->store)));
    return 0;
}

static int
setup (svc_t *svc)
{
    const char *policy = cfg_str ("CAISSON_GATEWAY_KEYS_SYNC");
    bool full = !strcmp (policy, "full"), settle = !strcmp (policy, "settle");
    if (!full && !settle && strcmp (policy, "nosync")) {
        clog_error (NULL, "CAISSON_GATEWAY_KEYS_SYNC: expected settle, full or nosync, got '%s'",
                    policy);
        return -1;
    }
    /* Budgets hold only when every reserve meets every reservation: one
     * store for all gateways, never one per instance. */
    if (cfg_u64 ("CAISSON_STORE_PER_INSTANCE")) {
        clog_error (NULL, "gateway-keys keeps the one store all gateways share: "
                    "CAISSON_STORE_PER_INSTANCE must be 0 for it");
        return -1;
    }
    keys_t *k = calloc (1, sizeof *k);
    if (!k)
        return -1;
    k->svc = svc;
    k->flush_timer = -1;
    k->sync_admin = settle;
    k->batch = zlistx_new ();
    k->held = zlistx_new ();
    k->flushing = zlistx_new ();
    svc_set_state (svc, k);
    char dir[4096], why[512] = "";
    if (svc_store_dir (svc, dir, sizeof dir))
        return -1;
    k->gk = gk_new (dir, full ? 0 : MDB_NOSYNC, why, sizeof why);
    if (!k->gk) {
        clog_error (NULL, "%s", why);
        return -1;
    }
    if (!full && !settle
        && zloop_timer (svc_loop (svc), cfg_u64 ("CAISSON_GATEWAY_KEYS_SYNC_MS"), 0, sync_now, k)
               < 0)
        return -1;
    k->out = gk_out_new (k->gk, svc_loop (svc), cfg_str ("CAISSON_BUS"), settle || full);
    if (!k->out)
        return -1;
    k->sbx = gk_sbx_new (k->gk, svc_loop (svc), cfg_str ("CAISSON_BUS"), k->sync_admin);
    if (!k->sbx)
        return -1;
    if (settle && !(k->sync = gk_sync_new (k->gk->store, svc_loop (svc), flushed, k)))
        return -1;
    clog_info (NULL, "store open at %s (sync %s)", dir, policy);
    return 0;
}

static void
teardown (svc_t *svc)
{
    keys_t *k = svc_state (svc);
    if (!k)
        return;
    job_t *j;
    while ((j = zlistx_detach (k->batch, NULL))) {
        bus_worker_answer (svc_worker (svc), &j->pending,
                           proto_error_new (j->req, PROTO_ERR_unavailable, "gateway-keys stops"));
        job_free (&j);
    }
    /* Committed answers still owed a flush: flush here and send them. */
    gk_sync_destroy (&k->sync);
    if (k->gk && (zlistx_size (k->held) || zlistx_size (k->flushing)))
        store_sync (k->gk->store);
    zlistx_t *owed[] = { k->flushing, k->held };
    for (size_t i = 0; i < 2; i++)
        while (owed[i] && (j = zlistx_detach (owed[i], NULL)))
            answer (k, &j);
    zlistx_destroy (&k->held);
    zlistx_destroy (&k->flushing);
    zlistx_destroy (&k->batch);
    gk_out_destroy (&k->out);
    gk_sbx_destroy (&k->sbx);
    gk_destroy (&k->gk);
    free (k);
    svc_set_state (svc, NULL);
}

static const bus_route_t routes[] = {
    { PROTO_gkey_create, h_create },
    { PROTO_gkey_list, h_list },
    { PROTO_gkey_revoke, h_revoke },
    { PROTO_gkey_context, h_context },
    { PROTO_gkey_user_set, h_user_set },
    { PROTO_gkey_usage_get, h_usage },
    { PROTO_gkey_reserve, batched },
    { PROTO_gkey_settle, batched },
    { PROTO_gkey_release_instance, batched },
    BUS_ROUTES_END
};

int
main (int argc, char **argv)
{
    static const svc_def_t def = {
        .name = "gateway-keys",
        .summary = "virtual keys, budgets and reservations of the model gateway",
        .routes = routes,
        .setup = setup,
        .teardown = teardown,
        .exclusive_store = true,
    };
    return svc_main (argc, argv, &def);
}
