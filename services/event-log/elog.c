/* elog: key helpers and record decoding shared by the event-log modules.
 * See elog.h. */
#include "elog.h"
#include "mpjson.h"

#include <stdlib.h>
#include <string.h>

void
elog_run_key (const char *run, uint8_t key[ELOG_RUN_KEY])
{
    memset (key, 0, ELOG_RUN_KEY);
    size_t n = strlen (run);
    memcpy (key, run, n < ELOG_RUN_KEY ? n : ELOG_RUN_KEY);
}

bool
elog_run_valid (const char *s)
{
    return cid_valid (s);
}

void
elog_be64 (uint8_t out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t) v;
}

uint64_t
elog_get64 (const uint8_t in[8])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | in[i];
    return v;
}

json_t *
elog_run_load (MDB_txn *txn, elog_t *el, const char *run)
{
    uint8_t rk[ELOG_RUN_KEY];
    elog_run_key (run, rk);
    MDB_val key = { sizeof rk, rk }, val;
    if (mdb_get (txn, store_dbi (el->store, DB_RUNS), &key, &val))
        return NULL;
    return json_loadb (val.mv_data, val.mv_size, 0, NULL);
}

bool
elog_may_read (const proto_msg_t *req, const json_t *rec)
{
    const char *owner = json_string_value (json_object_get (rec, "user"));
    return req->env.op || !strcmp (owner ? owner : "", req->env.user ? req->env.user : "");
}

bool
elog_may_read_key (MDB_txn *txn, elog_t *el, const proto_msg_t *req, const uint8_t *rk)
{
    if (req->env.op)
        return true;
    char run[ELOG_RUN_KEY + 1];
    memcpy (run, rk, ELOG_RUN_KEY);
    run[ELOG_RUN_KEY] = '\0';
    json_t *rec = elog_run_load (txn, el, run);
    bool ok = rec && elog_may_read (req, rec);
    json_decref (rec);
    return ok;
}

json_t *
elog_event_json (const MDB_val *val)
{
    char why[160];
    return mpjson_decode (val->mv_data, val->mv_size, 64, why, sizeof why);
}
