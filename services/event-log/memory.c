/* memory: working memory documents (memory.get, memory.put; family
 * proto/memory.def). One Markdown document per user, or per user and
 * thread, kept in the `memory` database beside the events, so every front
 * end reads the same one and it survives restarts. A document is always
 * its owner's: the key starts with the envelope's user, so naming someone
 * else's thread names one's own document of that thread, and only an
 * operator may name another user (anyone else is told there is none).
 * Every change takes the next version; a put based on another version is
 * refused (`conflict`), a patch must find its text exactly once.
 * The same code keeps a user's own mcp.json (`doc`: `mcp`, key m<user>),
 * which tool-runner checks before it stores it: versioned the same way,
 * without a thread and without an event. */
#include "elog.h"
#include "cid.h"
#include "cfg.h"
#include "clog.h"
#include "evkind.h"
#include "fence.h"
#include "mpjson.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 300
/* The largest mcp.json a user may keep (mcp.config.put's `content`). */
#define MCP_DOC_MAX 65536

typedef struct {
    const proto_msg_t *req;
    elog_t *el;
    const char *user, *thread;
    bool mcp;                   /* the user's mcp.json, not a working memory */
    uint8_t key[KEY_MAX];
    size_t keylen;
    /* what the put makes, or why it did not */
    const proto_memory_put_t *put;
    proto_ecode_t ecode;
    char why[256];
    char *content;              /* the document as stored after the request */
    uint64_t version, updated;
    char by[16];
} doc_t;

/* The document's key in key (KEY_MAX bytes), u<user>, m<user> (kind
 * 'm': the mcp.json) or t<user>\0<thread> (user names hold no NUL); its
 * length. */
static size_t
doc_key (uint8_t *key, char kind, const char *user, const char *thread)
{
    size_t n = (size_t) snprintf ((char *) key, KEY_MAX, "%c%s", thread ? 't' : kind, user);
    n = n < KEY_MAX - 1 ? n : KEY_MAX - 2;
    if (thread) {
        key[n++] = '\0';
        n += (size_t) snprintf ((char *) key + n, KEY_MAX - n, "%s", thread);
        n = n < KEY_MAX ? n : KEY_MAX - 1;
    }
    return n;
}

/* Fills d's owner and key from the request; -1 (an error reply in *rep)
 * when a non-operator names another user. */
static int
doc_init (doc_t *d, elog_t *el, const proto_msg_t *req, const char *user, const char *thread,
          const char *doc, proto_msg_t **rep)
{
    const char *own = req->env.user ? req->env.user : "";
    memset (d, 0, sizeof *d);
    d->req = req;
    d->el = el;
    d->user = user ? user : own;
    d->thread = thread && *thread ? thread : NULL;
    d->mcp = doc && !strcmp (doc, "mcp");
    if ((doc && !d->mcp && strcmp (doc, "working")) || (d->mcp && d->thread)) {
        *rep = proto_error_new (req, PROTO_ERR_bad_value, "doc: `working`, or `mcp` without "
                                "a thread");
        return -1;
    }
    if (d->thread && !cid_name_ok (d->thread, 128)) {
        *rep = proto_error_new (req, PROTO_ERR_bad_value, "thread: 1 to 128 letters, digits, "
                                "'.', '_', ':' or '-'");
        return -1;
    }
    if (strcmp (d->user, own) != 0 && !req->env.op) {
        *rep = proto_error_new (req, PROTO_ERR_not_found, "%s: no %s of user '%s'",
                                proto_type_name (req->type),
                                d->mcp ? "mcp.json" : "working memory", d->user);
        return -1;
    }
    d->keylen = doc_key (d->key, d->mcp ? 'm' : 'u', d->user, d->thread);
    return 0;
}

int
memory_forget_thread (MDB_txn *txn, elog_t *el, const char *user, const char *thread)
{
    uint8_t key[KEY_MAX];
    MDB_val k = { doc_key (key, 'u', user, thread), key };
    int rc = mdb_del (txn, store_dbi (el->store, DB_MEMORY), &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Reads the stored document into d (an empty one, version 0, when none). */
static int
load (MDB_txn *txn, doc_t *d)
{
    free (d->content);
    d->content = NULL;
    d->version = d->updated = 0;
    d->by[0] = '\0';
    MDB_val k = { d->keylen, d->key }, v;
    int rc = mdb_get (txn, store_dbi (d->el->store, DB_MEMORY), &k, &v);
    if (rc == MDB_NOTFOUND) {
        d->content = xstrdup ("");
        return 0;
    }
    if (rc)
        return rc;
    json_t *rec = json_loadb (v.mv_data, v.mv_size, 0, NULL);
    d->content = xstrdup (json_string_value (json_object_get (rec, "content")) ?: "");
    d->version = (uint64_t) json_integer_value (json_object_get (rec, "version"));
    d->updated = (uint64_t) json_integer_value (json_object_get (rec, "updated"));
    snprintf (d->by, sizeof d->by, "%s", json_string_value (json_object_get (rec, "by")) ?: "");
    json_decref (rec);
    return 0;
}

static int
read_doc (MDB_txn *txn, void *arg)
{
    return load (txn, arg);
}

/* How many times needle occurs in hay (overlaps counted), up to 2. */
static int
occurrences (const char *hay, const char *needle, const char **first)
{
    int n = 0;
    *first = strstr (hay, needle);
    for (const char *at = *first; at && n < 2; at = strstr (at + 1, needle))
        n++;
    return n;
}

/* The new document from the stored one and the put, or NULL with d's
 * error set. */
static char *
changed (doc_t *d)
{
    const proto_memory_put_t *b = d->put;
    const char *mode = b->mode ? b->mode : "replace";
    if (strcmp (mode, "replace") == 0)
        return xstrdup (b->content ? b->content : "");
    const char *at;
    int n = occurrences (d->content, b->old, &at);
    if (n != 1) {
        d->ecode = n ? PROTO_ERR_ambiguous : PROTO_ERR_no_match;
        snprintf (d->why, sizeof d->why, n ? "the text to replace occurs more than once in "
                  "the working memory: give more of the text around it, so it occurs once"
                  : "the text to replace does not occur in the working memory (version %llu): "
                  "read it again and copy the text exactly", (unsigned long long) d->version);
        return NULL;
    }
    size_t pre = (size_t) (at - d->content), oldlen = strlen (b->old);
    const char *repl = b->new ? b->new : "";
    size_t total = strlen (d->content) - oldlen + strlen (repl);
    char *out = xmalloc (total + 1);
    memcpy (out, d->content, pre);
    strcpy (out + pre, repl);
    strcat (out, at + oldlen);
    return out;
}

static int
write_doc (MDB_txn *txn, void *arg)
{
    doc_t *d = arg;
    d->ecode = PROTO_ERR_COUNT;
    int rc = load (txn, d);
    if (rc)
        return rc;
    const proto_memory_put_t *b = d->put;
    if (!b->any_version && b->version != d->version) {
        d->ecode = PROTO_ERR_conflict;
        snprintf (d->why, sizeof d->why, "the working memory is at version %llu, not %llu: it "
                  "changed since it was read; read it again and apply the change to it",
                  (unsigned long long) d->version, (unsigned long long) b->version);
        return 0;
    }
    char *doc = changed (d);
    if (!doc)
        return 0;
    uint64_t max = d->mcp ? MCP_DOC_MAX : cfg_u64 ("CAISSON_MEMORY_MAX_BYTES");
    if (d->mcp && strlen (doc) > max) {
        d->ecode = PROTO_ERR_over_limit;
        snprintf (d->why, sizeof d->why, "the mcp.json would be %zu bytes; at most %llu",
                  strlen (doc), (unsigned long long) max);
        free (doc);
        return 0;
    }
    if (strlen (doc) > max) {
        d->ecode = PROTO_ERR_over_limit;
        snprintf (d->why, sizeof d->why, "the working memory would be %zu bytes; it may hold "
                  "at most %llu: keep it shorter (summarize, drop what no longer matters)",
                  strlen (doc), (unsigned long long) max);
        free (doc);
        return 0;
    }
    uint64_t now = (uint64_t) zclock_time () * 1000;
    const char *by = b->by && !strcmp (b->by, "agent") ? "agent" : "user";
    json_t *rec = json_pack ("{s:s, s:I, s:I, s:s}", "content", doc, "version",
                             (json_int_t) d->version + 1, "updated", (json_int_t) now, "by", by);
    char *text = rec ? json_dumps (rec, JSON_COMPACT) : NULL;
    json_decref (rec);
    if (!text) {                /* not UTF-8: refused before, so never expected */
        d->ecode = PROTO_ERR_bad_format;
        snprintf (d->why, sizeof d->why, "the working memory is not UTF-8 text");
        free (doc);
        return 0;
    }
    MDB_val k = { d->keylen, d->key }, v = { strlen (text), text };
    rc = mdb_put (txn, store_dbi (d->el->store, DB_MEMORY), &k, &v, 0);
    free (text);
    if (rc) {
        free (doc);
        return rc;
    }
    free (d->content);
    d->content = doc;
    d->version++;
    d->updated = now;
    snprintf (d->by, sizeof d->by, "%s", by);
    d->ecode = PROTO_ERR_COUNT;     /* none */
    return 0;
}

static proto_msg_t *
reply (doc_t *d)
{
    proto_msg_t *rep = proto_msg_new (PROTO_memory, d->req);
    proto_memory_t *m = &rep->body.memory;
    proto_set_str (&m->content, d->content);
    m->version = d->version;
    m->bytes = strlen (d->content);
    m->max = d->mcp ? MCP_DOC_MAX : cfg_u64 ("CAISSON_MEMORY_MAX_BYTES");
    proto_set_str (&m->scope, d->mcp ? "mcp" : d->thread ? "thread" : "user");
    proto_set_str (&m->thread, d->thread);
    proto_set_str (&m->user, *d->user ? d->user : NULL);
    m->updated = d->updated;
    proto_set_str (&m->by, *d->by ? d->by : NULL);
    return rep;
}

/* Publishes working_memory_updated on memory.<user>.working_memory_updated. */
static void
announce (doc_t *d)
{
    json_t *data = EVK (working_memory_updated, .scope = d->thread ? "thread" : "user",
                        .thread = d->thread, .version = d->version,
                        .bytes = strlen (d->content), .by = d->by);
    if (!data)
        return;
    proto_msg_t *ev = proto_msg_new (PROTO_event, d->req);
    proto_set_str (&ev->env.user, *d->user ? d->user : NULL);
    proto_set_str (&ev->body.event.kind, evk_name (EVK_working_memory_updated));
    mpjson_set (&ev->body.event.data, data, 8);
    json_decref (data);
    char topic[200];
    snprintf (topic, sizeof topic, "memory.%s.%s", d->user, evk_name (EVK_working_memory_updated));
    bus_pub_send (svc_pub (d->el->svc), topic, ev);
    proto_msg_destroy (&ev);
}

proto_msg_t *
memory_get (const proto_msg_t *req, void *arg)
{
    elog_t *el = svc_state (arg);
    const proto_memory_get_t *b = &req->body.memory_get;
    doc_t d;
    proto_msg_t *rep = NULL;
    if (doc_init (&d, el, req, b->user, b->thread, b->doc, &rep))
        return rep;
    if (store_read (el->store, read_doc, &d))
        rep = proto_error_new (req, PROTO_ERR_store_failed, "memory.get: %s",
                               mdb_strerror (store_error (el->store)));
    else
        rep = reply (&d);
    free (d.content);
    return rep;
}

/* The put's own faults, before the store is touched, or NULL. */
static proto_msg_t *
refused (const proto_msg_t *req, const proto_memory_put_t *b)
{
    const char *mode = b->mode ? b->mode : "replace";
    if (strcmp (mode, "replace") && strcmp (mode, "patch"))
        return proto_error_new (req, PROTO_ERR_bad_value, "memory.put: mode: expected replace "
                                "or patch, got '%s'", mode);
    if (!strcmp (mode, "patch") && (!b->old || !*b->old))
        return proto_error_new (req, PROTO_ERR_missing, "memory.put: a patch needs `old`, "
                                "the text to replace");
    if (b->by && strcmp (b->by, "agent") && strcmp (b->by, "user"))
        return proto_error_new (req, PROTO_ERR_bad_value, "memory.put: by: expected agent or "
                                "user");
    const char *texts[] = { b->content, b->old, b->new };
    for (size_t i = 0; i < 3; i++)
        if (texts[i] && !fence_utf8_valid (texts[i], strlen (texts[i])))
            return proto_error_new (req, PROTO_ERR_bad_format, "memory.put: working memory is "
                                    "UTF-8 text; this is not valid UTF-8");
    return NULL;
}

proto_msg_t *
memory_put (const proto_msg_t *req, void *arg)
{
    elog_t *el = svc_state (arg);
    const proto_memory_put_t *b = &req->body.memory_put;
    doc_t d;
    proto_msg_t *rep = refused (req, b);
    if (rep || doc_init (&d, el, req, b->user, b->thread, b->doc, &rep))
        return rep;
    d.put = b;
    if (store_write (el->store, write_doc, &d)) {
        int code = store_error (el->store);
        rep = proto_error_new (req, code == MDB_MAP_FULL ? PROTO_ERR_store_full
                                                         : PROTO_ERR_store_failed,
                               "memory.put: not stored: %s", mdb_strerror (code));
    }
    else if (d.ecode != PROTO_ERR_COUNT)
        rep = proto_error_new (req, d.ecode, "%s", d.why);
    else {
        rep = reply (&d);
        if (!d.mcp)             /* tool-runner, which stored it, acts on it itself */
            announce (&d);
        clog_info (req->env.corr, "%s of %s%s%s: version %llu, %zu bytes, by %s%s%s",
                   d.mcp ? "mcp.json" : "working memory", d.user, d.thread ? " thread " : "", d.thread ? d.thread : "",
                   (unsigned long long) d.version, strlen (d.content), d.by,
                   b->run ? " in run " : "", b->run ? b->run : "");
    }
    free (d.content);
    return rep;
}
