/* caisson-event-log: the system's memory. This process owns the LMDB
 * environment under $CAISSON_DATA/event-log; durable append, replay and the
 * reading API arrive with its issue. Here it opens the store, records the
 * schema version, and answers health over the bus. */
#include "cfg.h"
#include "clog.h"
#include "store.h"
#include "svc.h"

#include <stdio.h>
#include <string.h>

#define SCHEMA_VERSION "1"

static const char *const dbnames[] = { "meta" };

static int
write_schema (MDB_txn *txn, void *arg)
{
    store_t *store = arg;
    MDB_val key = { 6, "schema" }, val = { strlen (SCHEMA_VERSION), SCHEMA_VERSION };
    return mdb_put (txn, store_dbi (store, 0), &key, &val, 0);
}

static int
setup (svc_t *svc)
{
    char dir[4096];
    snprintf (dir, sizeof dir, "%s/event-log", cfg_str ("CAISSON_DATA"));
    store_t *store = store_new (dir, dbnames, 1, cfg_u64 ("CAISSON_LMDB_MAP_MB") << 20,
                                cfg_u64 ("CAISSON_LMDB_MAX_MB") << 20, 0);
    if (!store)
        return -1;
    if (store_write (store, write_schema, store)) {
        clog_error (NULL, "cannot write to %s: %s", dir, mdb_strerror (store_error (store)));
        store_destroy (&store);
        return -1;
    }
    clog_info (NULL, "store open at %s (map %llu MiB)", dir,
               (unsigned long long) (store_map_size (store) >> 20));
    svc_set_state (svc, store);
    return 0;
}

static void
teardown (svc_t *svc)
{
    store_t *store = svc_state (svc);
    store_destroy (&store);
}

int
main (int argc, char **argv)
{
    static const svc_def_t def = {
        .name = "event-log",
        .summary = "durable events, transcripts, artifacts, replay and the live tap",
        .setup = setup,
        .teardown = teardown,
    };
    return svc_main (argc, argv, &def);
}
