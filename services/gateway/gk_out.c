/* gk_out: the outbox drain and the sweeps of gateway-keys. See gk_out.h. */
#include "gk_out.h"
#include "gk_keys.h"
#include "gk_purge.h"
#include "gk_resv.h"
#include "bus_client.h"
#include "cfg.h"
#include "clog.h"
#include "mdp.h"
#include "mpjson.h"

#include <string.h>

#define ROUND_MAX 32
#define TICK_MS 250
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 8000
#define DONE_KEEP_MS (24 * 3600 * 1000ull)

typedef struct {
    char id[CID_SIZE];
    uint64_t seq;
    int state;                  /* 0 waiting, 1 acked, 2 failed */
} flight_t;

struct gk_out_t {
    gk_t *gk;
    zloop_t *loop;
    bus_client_t *client;
    bool sync;
    flight_t flight[ROUND_MAX];
    int nflight, nopen;
    int64_t round_deadline, next_try, next_sweep, next_gc;
    int backoff_ms;
    bool complained;
    char inst_id[CID_SIZE];     /* the bus.instances asked, "" when none */
    zhashx_t *seen;             /* gateway instance -> last seen (ms, boxed) */
    int timer;
};

static void round_end (gk_out_t *self);

/* ---- the outbox drain --------------------------------------------------- */

static int
read_rows (MDB_txn *txn, void *arg)
{
    gk_out_t *self = arg;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_cursor_open (txn, gk_dbi (self->gk, GK_DB_OUTBOX), &cur);
    if (rc)
        return rc;
    self->nflight = 0;
    for (int op = MDB_FIRST; self->nflight < ROUND_MAX && !mdb_cursor_get (cur, &k, &v, op);
         op = MDB_NEXT) {
        if (k.mv_size != 8)
            continue;
        uint64_t seq = 0;
        for (int i = 0; i < 8; i++)
            seq = seq << 8 | ((const uint8_t *) k.mv_data)[i];
        proto_msg_t *m = proto_msg_new (PROTO_spend_append, NULL);
        m->env.op = true;
        proto_set_bytes (&m->body.spend_append.record, v.mv_data, v.mv_size);
        uint8_t *data;
        size_t size;
        if (proto_encode (m, &data, &size) == 0) {
            flight_t *f = &self->flight[self->nflight++];
            snprintf (f->id, sizeof f->id, "%s", m->env.id);
            f->seq = seq;
            f->state = bus_client_send (self->client, "event-log", data, size) ? 2 : 0;
            free (data);
        }
        proto_msg_destroy (&m);
    }
    mdb_cursor_close (cur);
    return 0;
}

static void
round_start (gk_out_t *self)
{
    if (self->nflight || zclock_mono () < self->next_try)
        return;
    if (store_read (self->gk->store, read_rows, self)) {
        self->nflight = 0;
        return;
    }
    self->nopen = 0;
    for (int i = 0; i < self->nflight; i++)
        self->nopen += self->flight[i].state == 0;
    self->round_deadline = zclock_mono () + 2 * (int64_t) cfg_u64 ("CAISSON_REQUEST_TIMEOUT_MS");
    if (self->nflight && !self->nopen)
        round_end (self);
}

static int
delete_acked (MDB_txn *txn, void *arg)
{
    gk_out_t *self = arg;
    for (int i = 0; i < self->nflight; i++) {
        if (self->flight[i].state != 1)
            continue;
        uint8_t k[8];
        for (int b = 0; b < 8; b++)
            k[b] = (uint8_t) (self->flight[i].seq >> (56 - 8 * b));
        MDB_val key = { 8, k };
        int rc = mdb_del (txn, gk_dbi (self->gk, GK_DB_OUTBOX), &key, NULL);
        if (rc && rc != MDB_NOTFOUND)
            return rc;
    }
    return 0;
}

/* Every request of the round answered or timed out: drop what was
 * stored, then go on at once, or back off when anything failed. */
static void
round_end (gk_out_t *self)
{
    int acked = 0, failed = 0;
    for (int i = 0; i < self->nflight; i++) {
        acked += self->flight[i].state == 1;
        failed += self->flight[i].state != 1;
    }
    if (acked && store_write (self->gk->store, delete_acked, self))
        failed = 1;
    bool full = self->nflight == ROUND_MAX;
    self->nflight = 0;
    if (failed) {
        self->backoff_ms = self->backoff_ms ? self->backoff_ms * 2 : BACKOFF_MIN_MS;
        if (self->backoff_ms > BACKOFF_MAX_MS)
            self->backoff_ms = BACKOFF_MAX_MS;
        self->next_try = zclock_mono () + self->backoff_ms;
        return;
    }
    if (self->complained)
        clog_info (NULL, "event-log takes spend records again; draining the outbox");
    self->complained = false;
    self->backoff_ms = 0;
    if (full)
        round_start (self);
}

void
gk_out_kick (gk_out_t *self)
{
    if (self)
        round_start (self);
}

/* ---- the sweeps ----------------------------------------------------------- */

typedef struct {
    gk_out_t *out;
    json_t *registered;         /* bare instance ids, or NULL: deadlines only */
    uint64_t now, charged;
} sweep_t;

static bool
registered (const json_t *ids, const char *gw)
{
    const char *bare = strncmp (gw, "gateway.", 8) ? gw : gw + 8;
    size_t i;
    json_t *id;
    json_array_foreach (ids, i, id)
        if (json_is_string (id) && !strcmp (json_string_value (id), bare))
            return true;
    return false;
}

static int
sweep_txn (MDB_txn *txn, void *arg)
{
    sweep_t *s = arg;
    gk_out_t *self = s->out;
    gk_t *gk = self->gk;
    zlistx_t *gone = zlistx_new (), *late = zlistx_new ();
    zlistx_set_destructor (gone, (zlistx_destructor_fn *) zstr_free);
    zlistx_set_destructor (late, (zlistx_destructor_fn *) zstr_free);
    MDB_cursor *cur;
    MDB_val k, v;
    uint64_t orphan_ms = cfg_u64 ("CAISSON_GATEWAY_ORPHAN_S") * 1000;
    int rc = mdb_cursor_open (txn, gk_dbi (gk, GK_DB_RESV_GW), &cur);
    char last[160] = "";
    for (int op = MDB_FIRST; !rc && !mdb_cursor_get (cur, &k, &v, op); op = MDB_NEXT) {
        const char *gw = k.mv_data;
        size_t gn = strnlen (gw, k.mv_size);
        if (gn >= sizeof last || (gn == strlen (last) && !memcmp (gw, last, gn)))
            continue;
        memcpy (last, gw, gn);
        last[gn] = '\0';
        if (!s->registered)
            continue;
        uint64_t *seen = zhashx_lookup (self->seen, last);
        if (!seen) {
            seen = zmalloc (sizeof *seen);
            *seen = s->now;
            zhashx_insert (self->seen, last, seen);
        }
        if (registered (s->registered, last))
            *seen = s->now;
        else if (s->now - *seen > orphan_ms)
            zlistx_add_end (gone, strdup (last));
    }
    if (!rc) {
        mdb_cursor_close (cur);
        rc = mdb_cursor_open (txn, gk_dbi (gk, GK_DB_RESV), &cur);
    }
    for (int op = MDB_FIRST; !rc && !mdb_cursor_get (cur, &k, &v, op); op = MDB_NEXT) {
        json_t *r = json_loadb (v.mv_data, v.mv_size, 0, NULL);
        json_t *d = json_object_get (r, "deadline");
        if (json_is_integer (d) && (uint64_t) json_integer_value (d) < s->now)
            zlistx_add_end (late, strndup (k.mv_data, k.mv_size));
        json_decref (r);
    }
    if (!rc)
        mdb_cursor_close (cur);
    s->charged = 0;
    for (char *g = zlistx_first (gone); g && !rc; g = zlistx_next (gone)) {
        uint64_t n = 0;
        rc = gk_orphan_instance (txn, gk, g, s->now, &n);
        s->charged += n;
        if (n)
            clog_warn (NULL, "gateway %s is gone: %llu calls in flight charged in full", g,
                       (unsigned long long) n);
    }
    for (char *c = zlistx_first (late); c && !rc; c = zlistx_next (late)) {
        rc = gk_orphan (txn, gk, c, s->now);
        s->charged++;
    }
    zlistx_destroy (&gone);
    zlistx_destroy (&late);
    /* Charges older than a day are past any late settle. */
    if (!rc)
        rc = mdb_cursor_open (txn, gk_dbi (gk, GK_DB_DONE), &cur);
    for (int op = MDB_FIRST; !rc && !mdb_cursor_get (cur, &k, &v, op); op = MDB_NEXT) {
        json_t *r = json_loadb (v.mv_data, v.mv_size, 0, NULL);
        json_t *ts = json_object_get (r, "ts");
        if (json_is_integer (ts) && (uint64_t) json_integer_value (ts) + DONE_KEEP_MS < s->now)
            rc = mdb_cursor_del (cur, 0);
        json_decref (r);
    }
    if (!rc)
        mdb_cursor_close (cur);
    return rc;
}

static void
sweep (gk_out_t *self, json_t *ids)
{
    sweep_t s = { self, ids, gk_now_ms (), 0 };
    if (store_write (self->gk->store, sweep_txn, &s)) {
        clog_error (NULL, "sweep failed: %s", mdb_strerror (store_error (self->gk->store)));
        return;
    }
    if (s.charged) {
        if (self->sync)
            store_sync (self->gk->store);
        round_start (self);
    }
}

static void
ask_instances (gk_out_t *self)
{
    proto_msg_t *m = proto_msg_new (PROTO_bus_instances, NULL);
    proto_set_str (&m->body.bus_instances.service, "gateway");
    uint8_t *data;
    size_t size;
    if (proto_encode (m, &data, &size) == 0) {
        if (bus_client_send (self->client, MDP_BROKER_SERVICE, data, size) == 0)
            snprintf (self->inst_id, sizeof self->inst_id, "%s", m->env.id);
        free (data);
    }
    proto_msg_destroy (&m);
}

/* ---- the loop's side ------------------------------------------------------ */

static int
on_reply (zloop_t *loop, zsock_t *sock, void *arg)
{
    (void) loop, (void) sock;
    gk_out_t *self = arg;
    proto_msg_t *rep;
    while ((rep = bus_client_recv (self->client, 0, NULL))) {
        const char *cause = rep->env.cause ? rep->env.cause : "";
        if (*self->inst_id && !strcmp (cause, self->inst_id)) {
            self->inst_id[0] = '\0';
            json_t *ids = rep->type == PROTO_bus_instance_list
                          ? mpjson_get (&rep->body.bus_instance_list.instances, 2) : NULL;
            if (json_is_array (ids))
                sweep (self, ids);
            json_decref (ids);
        }
        for (int i = 0; i < self->nflight; i++) {
            flight_t *f = &self->flight[i];
            if (f->state || strcmp (cause, f->id))
                continue;
            f->state = rep->type == PROTO_spend_ack ? 1 : 2;
            self->nopen--;
            if (f->state == 2 && !self->complained) {
                self->complained = true;
                clog_warn (NULL, "event-log did not take a spend record (%s%s%s): keeping the "
                           "outbox, retrying", proto_type_name (rep->type),
                           rep->type == PROTO_error ? ": " : "",
                           rep->type == PROTO_error ? rep->body.error.message : "");
            }
        }
        proto_msg_destroy (&rep);
        if (self->nflight && !self->nopen)
            round_end (self);
    }
    return 0;
}

static int
on_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop, (void) timer_id;
    gk_out_t *self = arg;
    int64_t now = zclock_mono ();
    if (self->nflight && now >= self->round_deadline) {
        if (!self->complained)
            clog_warn (NULL, "event-log does not answer: keeping the outbox, retrying");
        self->complained = true;
        for (int i = 0; i < self->nflight; i++)
            if (!self->flight[i].state)
                self->flight[i].state = 2;
        round_end (self);
    }
    round_start (self);
    if (now >= self->next_sweep) {
        uint64_t every = cfg_u64 ("CAISSON_GATEWAY_ORPHAN_S") * 1000 / 3;
        self->next_sweep = now + (int64_t) (every < TICK_MS ? TICK_MS : every);
        if (*self->inst_id)
            self->inst_id[0] = '\0';    /* the last question went unanswered */
        sweep (self, NULL);
        ask_instances (self);
        gk_rate_prune (self->gk->rate, gk_now_ms ());
    }
    if (now >= self->next_gc) {
        self->next_gc = now + (int64_t) cfg_u64 ("CAISSON_GATEWAY_GC_S") * 1000;
        int n = gk_keys_gc (self->gk, gk_now_ms ());
        if (n > 0)
            clog_info (NULL, "%d expired keys marked", n);
        n = gk_purge (self->gk, gk_now_ms (),
                      cfg_u64 ("CAISSON_GATEWAY_KEYS_KEEP_DAYS") * 24 * 3600 * 1000);
        if (n > 0)
            clog_info (NULL, "%d keys dead for CAISSON_GATEWAY_KEYS_KEEP_DAYS forgotten", n);
    }
    return 0;
}

gk_out_t *
gk_out_new (gk_t *gk, zloop_t *loop, const char *endpoint, bool sync)
{
    gk_out_t *self = zmalloc (sizeof *self);
    self->gk = gk;
    self->loop = loop;
    self->sync = sync;
    self->seen = zhashx_new ();
    zhashx_set_destructor (self->seen, (zhashx_destructor_fn *) zstr_free);
    self->timer = -1;
    self->client = bus_client_new (endpoint);
    if (!self->client || zloop_reader (loop, bus_client_socket (self->client), on_reply, self)
        || (self->timer = zloop_timer (loop, TICK_MS, 0, on_tick, self)) < 0) {
        gk_out_destroy (&self);
        return NULL;
    }
    int64_t now = zclock_mono ();
    self->next_sweep = now + TICK_MS;
    self->next_gc = now + (int64_t) cfg_u64 ("CAISSON_GATEWAY_GC_S") * 1000;
    round_start (self);
    return self;
}

void
gk_out_destroy (gk_out_t **self_p)
{
    gk_out_t *self = *self_p;
    if (!self)
        return;
    if (self->client)
        zloop_reader_end (self->loop, bus_client_socket (self->client));
    if (self->timer >= 0)
        zloop_timer_end (self->loop, self->timer);
    bus_client_destroy (&self->client);
    zhashx_destroy (&self->seen);
    free (self);
    *self_p = NULL;
}
