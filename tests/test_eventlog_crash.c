/* test_eventlog_crash: event-log when things go wrong or grow old: kill -9
 * during a burst from several producers (every acknowledged event present
 * exactly once after the restart, the database consistent), a full map
 * (the append refused whole, nothing lost), and retention (old runs and the
 * artifacts only they used deleted). The burst size is CAISSON_TEST_BURST
 * (default 4000). */
#include "eventlog_util.h"
#include "cid.h"
#include "store.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- the database, opened directly -------------------------------------------- */

typedef struct {
    store_t *st;
    size_t i, n;
} count_t;

static int
count_db (MDB_txn *txn, void *arg)
{
    count_t *c = arg;
    MDB_stat stat;
    int rc = mdb_stat (txn, store_dbi (c->st, c->i), &stat);
    c->n = stat.ms_entries;
    return rc;
}

static void
count_entries (size_t counts[3])
{
    static const char *const names[] = { "events", "global", "ids" };
    char path[1024];
    snprintf (path, sizeof path, "%s/event-log", s_dir);
    store_t *st = store_new (path, names, 3, 1 << 20, 1 << 20, 0);
    assert_non_null (st);
    for (size_t i = 0; i < 3; i++) {
        count_t arg = { st, i, 0 };
        assert_int_equal (store_read (st, count_db, &arg), 0);
        counts[i] = arg.n;
    }
    store_destroy (&st);
}

/* ---- kill -9 during a burst -------------------------------------------------- */

typedef struct {
    const char *run;
    int count;
    char (*ids)[CID_SIZE];      /* ids acknowledged */
    uint64_t *seqs;
    int acked, duplicates;
    volatile int *total;
} burst_t;

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;

static void *
burst (void *arg)
{
    burst_t *b = arg;
    bus_client_t *c = client_new (500, 60);
    const char *run = b->run;
    for (int i = 0; i < b->count; i++) {
        proto_msg_t *req = APPEND_MSG (run, text, .text = "burst");
        proto_msg_t *rep = bus_client_request (c, "event-log", req);
        if (rep && rep->type == PROTO_event_ack) {
            snprintf (b->ids[b->acked], CID_SIZE, "%s", req->env.id);
            b->seqs[b->acked++] = rep->body.event_ack.seq;
            b->duplicates += rep->body.event_ack.duplicate;
            pthread_mutex_lock (&s_lock);
            (*b->total)++;
            pthread_mutex_unlock (&s_lock);
        }
        proto_msg_destroy (&rep);
        proto_msg_destroy (&req);
    }
    bus_client_destroy (&c);
    return NULL;
}

static void
test_kill9_during_burst (void **state)
{
    (void) state;
    enum { PRODUCERS = 4 };
    const char *env = getenv ("CAISSON_TEST_BURST");
    int total_events = env && atoi (env) > 0 ? atoi (env) : 4000;
    pid_t bus = setup_stack ("elog-kill");
    static const char *const relaxed[] = { "CAISSON_EVENTLOG_SYNC=nometasync", NULL };
    pid_t el = start_eventlog (relaxed);
    volatile int total = 0;
    burst_t b[PRODUCERS];
    pthread_t th[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        int n = total_events / PRODUCERS;
        char name[8];
        snprintf (name, sizeof name, "B%d", i);
        b[i] = (burst_t) { rid (name), n, calloc ((size_t) n, CID_SIZE), calloc ((size_t) n, 8), 0, 0,
                           &total };
        pthread_create (&th[i], NULL, burst, &b[i]);
    }
    /* Kill it outright a third of the way in, and start it again. */
    for (;;) {
        pthread_mutex_lock (&s_lock);
        int now = total;
        pthread_mutex_unlock (&s_lock);
        if (now >= total_events / 3)
            break;
        assert_true (support_alive (el));
        usleep (2000);
    }
    kill (el, SIGKILL);
    waitpid (el, NULL, 0);
    el = start_eventlog (relaxed);
    int acked = 0, dups = 0;
    for (int i = 0; i < PRODUCERS; i++) {
        pthread_join (th[i], NULL);
        acked += b[i].acked;
        dups += b[i].duplicates;
    }
    print_message ("burst: %d events, %d acked, %d acked as duplicates after the restart\n",
                   total_events, acked, dups);
    assert_int_equal (acked, total_events / PRODUCERS * PRODUCERS);

    /* Every acknowledged event is stored exactly once, where its ack said. */
    bus_client_t *c = client_new (5000, 2);
    json_t *all = read_all (c, NULL, 1);
    json_t *seen = json_object ();
    size_t i;
    json_t *ev;
    json_array_foreach (all, i, ev) {
        const char *id = json_string_value (json_object_get (ev, "id"));
        if (json_object_get (seen, id))
            fail_msg ("event %s stored twice", id);
        json_object_set_new (seen, id, json_integer (int_at (ev, "seq")));
    }
    for (int p = 0; p < PRODUCERS; p++) {
        for (int k = 0; k < b[p].acked; k++) {
            json_t *seq = json_object_get (seen, b[p].ids[k]);
            if (!seq)
                fail_msg ("acked event %s is missing", b[p].ids[k]);
            assert_int_equal ((uint64_t) json_integer_value (seq), b[p].seqs[k]);
        }
        free (b[p].ids);
        free (b[p].seqs);
    }
    assert_int_equal (json_array_size (all), (size_t) acked);
    json_decref (seen);
    json_decref (all);
    bus_client_destroy (&c);
    support_expect_clean_exit (el);

    /* The database opens clean, and its indexes agree with each other. */
    size_t counts[3];
    count_entries (counts);
    assert_int_equal (counts[0], (size_t) acked);
    assert_int_equal (counts[1], (size_t) acked);
    assert_int_equal (counts[2], (size_t) acked);
    support_expect_clean_exit (bus);
}

/* Opens the stopped event-log's LMDB environment directly and counts the
 * entries of the event, global-order and id databases. */
/* ---- a full map ---------------------------------------------------------------- */

static void
test_map_full (void **state)
{
    (void) state;
    pid_t bus = setup_stack ("elog-full");
    static const char *const small[] = { "CAISSON_LMDB_MAP_MB=1", "CAISSON_LMDB_MAX_MB=2", NULL };
    pid_t el = start_eventlog (small);
    bus_client_t *c = client_new (5000, 1);
    char *big = malloc (300000);
    memset (big, 'x', 299990);
    big[299990] = '\0';
    int stored = 0;
    proto_msg_t *rep = NULL;
    for (; stored < 20; stored++) {
        rep = request (c, APPEND_MSG (rid ("FULL"), text, .text = big));
        assert_non_null (rep);
        if (rep->type != PROTO_event_ack)
            break;
        proto_msg_destroy (&rep);
    }
    assert_in_range (stored, 2, 8);
    assert_int_equal (rep->type, PROTO_error);
    assert_string_equal (rep->body.error.code, "store_full");
    assert_non_null (strstr (rep->body.error.message, "CAISSON_LMDB_MAX_MB"));
    proto_msg_destroy (&rep);
    /* What was acked is intact, small events still fit, and it reopens. */
    APPEND (c, rid ("FULL"), text, .text = "small");
    support_expect_clean_exit (el);
    el = start_eventlog (small);
    json_t *evs = read_all (c, rid ("FULL"), 1);
    assert_int_equal (json_array_size (evs), (size_t) stored + 1);
    json_decref (evs);
    free (big);
    bus_client_destroy (&c);
    support_expect_clean_exit (el);
    support_expect_clean_exit (bus);
}

/* ---- retention ------------------------------------------------------------------ */

/* Appends req (consumed) as if sent at ts. */
static void
append_at (bus_client_t *c, proto_msg_t *req, uint64_t ts)
{
    req->env.ts = ts;
    proto_msg_t *rep = request (c, req);
    assert_int_equal (rep->type, PROTO_event_ack);
    proto_msg_destroy (&rep);
}

static bool
artifact_exists (bus_client_t *c, const char *hash)
{
    proto_msg_t *req = proto_msg_new (PROTO_artifact_get, NULL);
    proto_set_str (&req->body.artifact_get.hash, hash);
    proto_msg_t *rep = request (c, req);
    bool found = rep && rep->type == PROTO_artifact_data;
    if (!found)
        assert_string_equal (rep->body.error.code, "not_found");
    proto_msg_destroy (&rep);
    return found;
}

static void
test_retention (void **state)
{
    (void) state;
    pid_t bus = setup_stack ("elog-retain");
    pid_t el = start_eventlog (NULL);
    bus_client_t *c = client_new (5000, 1);
    proto_msg_t *shared = put_artifact (c, "shared bytes", 12, "file");
    proto_msg_t *own = put_artifact (c, "old run's own bytes", 19, "diff");
    uint64_t now = (uint64_t) time (NULL) * 1000000, old = now - 40ull * 86400 * 1000000;
    /* Put long ago and never referenced by any run. */
    proto_msg_t *req = proto_msg_new (PROTO_artifact_put, NULL);
    proto_set_bytes (&req->body.artifact_put.data, "orphan", 6);
    req->env.ts = old;
    proto_msg_t *orphan = request (c, req);
    assert_int_equal (orphan->type, PROTO_artifact_ref);
    const char *hash = shared->body.artifact_ref.hash;
    append_started (c, rid ("OLD"), "old", NULL, old);
    append_at (c, APPEND_MSG (rid ("OLD"), artifact, .hash = hash, .size = 12), old);
    append_started (c, rid ("NEW"), "new", NULL, now);
    append_at (c, APPEND_MSG (rid ("NEW"), artifact, .hash = hash, .size = 12), now);
    hash = own->body.artifact_ref.hash;
    append_at (c, APPEND_MSG (rid ("OLD"), artifact, .hash = hash, .size = 19), old);
    support_expect_clean_exit (el);

    static const char *const keep30[] = { "CAISSON_EVENTLOG_RETENTION_DAYS=30", NULL };
    el = start_eventlog (keep30);
    json_t *rec = run_get (c, rid ("OLD"));
    assert_null (rec);
    rec = run_get (c, rid ("NEW"));
    assert_non_null (rec);
    json_decref (rec);
    assert_true (artifact_exists (c, shared->body.artifact_ref.hash));
    assert_false (artifact_exists (c, own->body.artifact_ref.hash));
    assert_false (artifact_exists (c, orphan->body.artifact_ref.hash));
    proto_msg_destroy (&orphan);
    json_t *all = read_all (c, NULL, 1);
    assert_int_equal (json_array_size (all), 2);
    json_decref (all);
    all = read_all (c, rid ("OLD"), 1);
    assert_int_equal (json_array_size (all), 0);
    json_decref (all);
    proto_msg_destroy (&shared);
    proto_msg_destroy (&own);
    bus_client_destroy (&c);
    support_expect_clean_exit (el);
    support_expect_clean_exit (bus);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_kill9_during_burst),
        cmocka_unit_test (test_map_full),
        cmocka_unit_test (test_retention),
    };
    return support_run_group_tests (tests, NULL, NULL);
}
