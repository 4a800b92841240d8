/* caisson-event-log: the system's memory. This process owns the LMDB
 * environment under $CAISSON_DATA/event-log: it commits appended events in
 * batches before acknowledging them (journal.c), answers reads of runs,
 * events, transcripts and figures (reader.c, transcript.c), keeps
 * artifacts and applies retention (artifact.c), keeps versioned profiles
 * (profiles.c) and eval records (evals.c). docs/storage.md gives the
 * layout, docs/events.md the event kinds. */
#include "cfg.h"
#include "clog.h"
#include "elog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA_VERSION "1"
#define RETENTION_EVERY_MS (3600 * 1000)

static const char *const dbnames[DB_COUNT] = {
    "meta", "events", "global", "ids", "runs", "artifacts", "chunks", "refs", "recall",
    "threads", "thread_act", "thread_runs", "memory", "spend", "spend_ids", "spend_agg",
    "profiles", "evals"
};

static int
write_schema (MDB_txn *txn, void *arg)
{
    store_t *store = arg;
    MDB_val key = { 6, "schema" }, val = { strlen (SCHEMA_VERSION), SCHEMA_VERSION };
    return mdb_put (txn, store_dbi (store, DB_META), &key, &val, 0);
}

static int
sync_now (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop, (void) timer_id;
    elog_t *el = arg;
    if (store_sync (el->store))
        clog_error (NULL, "store sync failed: %s", mdb_strerror (store_error (el->store)));
    return 0;
}

static int
retain (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop, (void) timer_id;
    elog_t *el = arg;
    uint64_t cutoff = (uint64_t) zclock_time () * 1000 - el->retention_days * 86400000000ull;
    int gone = artifact_retain (el, cutoff);
    if (gone)
        clog_info (NULL, "retention: %d runs older than %llu days deleted", gone,
                   (unsigned long long) el->retention_days);
    return 0;
}

static int
retain_spend (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop, (void) timer_id;
    uint64_t days = cfg_u64 ("CAISSON_SPEND_RETENTION_DAYS");
    int gone = spend_retain (arg, days);
    if (gone > 0)
        clog_info (NULL, "retention: %d spend records older than %llu days deleted", gone,
                   (unsigned long long) days);
    return 0;
}

static int
setup (svc_t *svc)
{
    const char *policy = cfg_str ("CAISSON_EVENTLOG_SYNC");
    unsigned flags = !strcmp (policy, "nometasync") ? MDB_NOMETASYNC
                   : !strcmp (policy, "nosync") ? MDB_NOSYNC : 0;
    if (!flags && strcmp (policy, "full")) {
        clog_error (NULL, "CAISSON_EVENTLOG_SYNC: expected full, nometasync or nosync, got '%s'",
                    policy);
        return -1;
    }
    elog_t *el = calloc (1, sizeof *el);
    if (!el)
        return -1;
    el->svc = svc;
    svc_set_state (svc, el);
    const char *dir = el->dir;
    snprintf (el->dir, sizeof el->dir, "%s/event-log", cfg_str ("CAISSON_DATA"));
    el->store = store_new (dir, dbnames, DB_COUNT, cfg_u64 ("CAISSON_LMDB_MAP_MB") << 20,
                           cfg_u64 ("CAISSON_LMDB_MAX_MB") << 20, flags);
    if (!el->store)
        return -1;
    if (store_write (el->store, write_schema, el->store)) {
        clog_error (NULL, "cannot write to %s: %s", dir, mdb_strerror (store_error (el->store)));
        return -1;
    }
    if (threads_backfill (el)) {
        clog_error (NULL, "cannot fill the threads of stored runs: %s",
                    mdb_strerror (store_error (el->store)));
        return -1;
    }
    el->journal = journal_new (el);
    if (!el->journal)
        return -1;
    if (flags == MDB_NOSYNC
        && zloop_timer (svc_loop (svc), cfg_u64 ("CAISSON_EVENTLOG_SYNC_MS"), 0, sync_now, el) < 0)
        return -1;
    el->retention_days = cfg_u64 ("CAISSON_EVENTLOG_RETENTION_DAYS");
    if (el->retention_days) {
        retain (NULL, 0, el);
        if (zloop_timer (svc_loop (svc), RETENTION_EVERY_MS, 0, retain, el) < 0)
            return -1;
    }
    retain_spend (NULL, 0, el);
    if (zloop_timer (svc_loop (svc), RETENTION_EVERY_MS, 0, retain_spend, el) < 0)
        return -1;
    clog_info (NULL, "store open at %s (map %llu MiB, sync %s)", dir,
               (unsigned long long) (store_map_size (el->store) >> 20), policy);
    return 0;
}

static void
teardown (svc_t *svc)
{
    elog_t *el = svc_state (svc);
    if (!el)
        return;
    journal_destroy (&el->journal);
    bus_client_destroy (&el->client);
    if (el->store)
        store_sync (el->store);
    store_destroy (&el->store);
    free (el);
    svc_set_state (svc, NULL);
}

static proto_msg_t *
append (const proto_msg_t *req, void *arg)
{
    elog_t *el = svc_state (arg);
    return journal_append (el->journal, req);
}

static const bus_route_t routes[] = {
    { PROTO_event_append, append },
    { PROTO_run_record_get, reader_run_record_get },
    { PROTO_runs_list, reader_runs_list },
    { PROTO_events_read, reader_events_read },
    { PROTO_stats_get, reader_stats_get },
    { PROTO_transcript_get, transcript_get },
    { PROTO_artifact_put, artifact_put },
    { PROTO_artifact_get, artifact_get },
    { PROTO_recall_search, recall_bus_search },
    { PROTO_recall_vectors, recall_bus_vectors },
    { PROTO_thread_create, threads_create },
    { PROTO_threads_list, threads_list },
    { PROTO_thread_get, threads_get },
    { PROTO_thread_rename, threads_rename },
    { PROTO_thread_delete, threads_delete },
    { PROTO_memory_get, memory_get },
    { PROTO_memory_put, memory_put },
    { PROTO_spend_append, spend_append },
    { PROTO_spend_read, spend_read },
    { PROTO_profile_create, profiles_create },
    { PROTO_profile_list, profiles_list },
    { PROTO_profile_get, profiles_get },
    { PROTO_profile_activate, profiles_activate },
    { PROTO_profile_rollback, profiles_rollback },
    { PROTO_profile_diff, profiles_diff },
    { PROTO_profile_resolve, profiles_resolve },
    { PROTO_eval_put, evals_put },
    { PROTO_eval_list, evals_list },
    { PROTO_eval_get, evals_get },
    { PROTO_eval_delete, evals_delete },
    BUS_ROUTES_END
};

int
main (int argc, char **argv)
{
    static const svc_def_t def = {
        .name = "event-log",
        .summary = "durable events, transcripts, artifacts, replay and the live tap",
        .routes = routes,
        .setup = setup,
        .teardown = teardown,
    };
    return svc_main (argc, argv, &def);
}
