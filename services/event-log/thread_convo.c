/* thread_convo: thread.get, a thread read back as a conversation: each of
 * its runs in start order with its task, its turns (the model's texts,
 * its tool calls, the calls it asked a person to approve, and their
 * outcomes by name), its status and answer
 * or failure. A run that failed or was cancelled keeps the turns it had:
 * its status says how it ended. Read in one transaction, from the
 * stored events (the same the transcripts render). */
#include "elog.h"
#include "evkind.h"
#include "mpjson.h"

#include <string.h>

#define CONVO_BUDGET (ELOG_PAGE_BYTES - (256u << 10))   /* room for the envelope */

typedef struct {
    elog_t *el;
    const proto_msg_t *req;
    const char *thread;
    json_t *t, *runs;
    size_t bytes;
    bool truncated;
} convo_t;

static const char *
str_of (const json_t *j, const char *key)
{
    return json_string_value (json_object_get (j, key));
}

/* One stored event as a turn, or NULL for kinds a reader of the
 * conversation does not need (usage, steps...). */
static json_t *
turn_of (const json_t *ev)
{
    const json_t *d = json_object_get (ev, "data");
    switch (evk_lookup (str_of (ev, "kind"))) {
    case EVK_text:
        return json_pack ("{s:s, s:O?}", "kind", "text", "text", json_object_get (d, "text"));
    case EVK_tool_call:
        return json_pack ("{s:s, s:O?, s:O?}", "kind", "tool_call", "name",
                          json_object_get (d, "name"), "toolCallId",
                          json_object_get (d, "toolCallId"));
    case EVK_ask_approval:
        return json_pack ("{s:s, s:O?, s:O?}", "kind", "approval", "name",
                          json_object_get (d, "name"), "toolCallId",
                          json_object_get (d, "toolCallId"));
    case EVK_tool_result:
        return json_pack ("{s:s, s:O?, s:O?, s:b}", "kind", "tool_result", "name",
                          json_object_get (d, "name"), "toolCallId",
                          json_object_get (d, "toolCallId"), "ok",
                          json_is_true (json_object_get (d, "ok")));
    default:
        return NULL;
    }
}

static json_t *
turns_of (convo_t *c, MDB_txn *txn, const char *run)
{
    json_t *turns = json_array ();
    uint8_t rk[ELOG_RUN_KEY];
    elog_run_key (run, rk);
    MDB_cursor *cur;
    if (mdb_cursor_open (txn, store_dbi (c->el->store, DB_EVENTS), &cur))
        return turns;
    MDB_val k = { sizeof rk, rk }, v;
    for (int rc = mdb_cursor_get (cur, &k, &v, MDB_SET_RANGE);
         !rc && k.mv_size == ELOG_EVENT_KEY && !memcmp (k.mv_data, rk, sizeof rk);
         rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT)) {
        json_t *ev = elog_event_json (&v), *turn = ev ? turn_of (ev) : NULL;
        json_decref (ev);
        if (!turn)
            continue;
        size_t n = json_dumpb (turn, NULL, 0, JSON_COMPACT);
        if (c->bytes + n > CONVO_BUDGET) {
            c->truncated = true;
            json_decref (turn);
            break;
        }
        c->bytes += n;
        json_array_append_new (turns, turn);
    }
    mdb_cursor_close (cur);
    return turns;
}

static int
convo_fn (MDB_txn *txn, void *arg)
{
    convo_t *c = arg;
    json_decref (c->t);
    c->t = threads_load (txn, c->el, c->thread);
    if (c->t && !elog_may_read (c->req, c->t))
        json_decref (c->t), c->t = NULL;
    json_array_clear (c->runs);
    c->bytes = 0;
    c->truncated = false;
    if (!c->t || c->req->body.thread_get.head)
        return 0;
    json_t *ids = threads_runs (txn, c->el, c->thread), *id;
    size_t i;
    json_array_foreach (ids, i, id) {
        json_t *rec = elog_run_load (txn, c->el, json_string_value (id));
        if (!rec)               /* gone with retention */
            continue;
        json_t *run = json_pack ("{s:O, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "run",
                                 id, "task", json_object_get (rec, "task"), "status",
                                 json_object_get (rec, "status"), "started",
                                 json_object_get (rec, "started"), "ended",
                                 json_object_get (rec, "ended"), "answer",
                                 json_object_get (rec, "answer"), "failure",
                                 json_object_get (rec, "failure"));
        c->bytes += json_dumpb (run, NULL, 0, JSON_COMPACT);
        json_object_set_new (run, "turns",
                             c->truncated ? json_array ()
                                          : turns_of (c, txn, json_string_value (id)));
        json_array_append_new (c->runs, run);
        json_decref (rec);
    }
    json_decref (ids);
    return 0;
}

proto_msg_t *
threads_get (const proto_msg_t *req, void *arg)
{
    elog_t *el = svc_state (arg);
    convo_t c = { el, req, req->body.thread_get.thread_id, NULL, json_array (), 0, false };
    proto_msg_t *rep = NULL;
    if (store_read (el->store, convo_fn, &c))
        rep = proto_error_new (req, PROTO_ERR_store_failed, "%s",
                               mdb_strerror (store_error (el->store)));
    else if (!c.t)
        rep = proto_error_new (req, PROTO_ERR_not_found, "thread_id: no thread '%s'", c.thread);
    else {
        rep = proto_msg_new (PROTO_thread_convo, req);
        proto_thread_convo_t *b = &rep->body.thread_convo;
        b->truncated = c.truncated;
        if (mpjson_set (&b->thread, c.t, 8) || mpjson_set (&b->runs, c.runs, 16))
            proto_msg_destroy (&rep);
    }
    json_decref (c.t);
    json_decref (c.runs);
    return rep;
}
