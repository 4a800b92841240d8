/* runstream: history then live, without a gap. See runstream.h. */
#include "runstream.h"
#include "bus_tap.h"
#include "evkind.h"
#include "mpjson.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE 500
#define SYNC_TRIES 10
#define SYNC_WAIT_MS 300

struct _runstream_t {
    app_t *app;
    http_req_t req;             /* corr and user, for the requests it makes */
    char *token;                /* the bearer token that opened it, or NULL */
    char run[160];
    char prefix[192];
    bus_tap_t *tap;
    uint64_t next;              /* the next run_seq to read from history */
    uint64_t last;              /* the last run_seq given */
    json_t *page;               /* history events not given yet */
    size_t at;
    bool synced;
    bool history_done;
    char error[256];
};

bool
runstream_terminal (const char *kind)
{
    evk_kind_t k = evk_lookup (kind);
    return k == EVK_complete || k == EVK_failed;
}

runstream_t *
runstream_new (app_t *app, http_req_t *req, const char *run, uint64_t from)
{
    runstream_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->app = app;
    memcpy (self->req.corr, req->corr, sizeof self->req.corr);
    memcpy (self->req.user, req->user, sizeof self->req.user);
    self->req.operator_ = req->operator_;
    const char *auth = http_header (req, "Authorization");
    if (auth && strlen (auth) > 7 && !(self->token = strdup (auth + 7))) {
        free (self);
        return NULL;
    }
    snprintf (self->run, sizeof self->run, "%s", run);
    snprintf (self->prefix, sizeof self->prefix, "run.%s.", run);
    self->next = from ? from : 1;
    self->last = self->next - 1;
    self->tap = bus_tap_new (app->sub_endpoint, self->prefix);
    if (!self->tap) {
        free (self);
        return NULL;
    }
    return self;
}

void
runstream_destroy (runstream_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    runstream_t *self = *self_p;
    bus_tap_destroy (&self->tap);
    json_decref (self->page);
    free (self->token);
    free (self);
    *self_p = NULL;
}

const char *
runstream_error (runstream_t *self)
{
    return *self->error ? self->error : NULL;
}

/* One events.read from self->next; keeps the page. Returns 0 or -1. */
static int
s_read (runstream_t *self, uint64_t limit, const char *sync)
{
    json_t *body = json_pack ("{s:s,s:I,s:I}", "run", self->run, "fromSeq",
                              (json_int_t) self->next, "limit", (json_int_t) limit);
    if (sync)
        json_object_set_new (body, "sync", json_string (sync));
    json_t *page;
    http_res_t *err = app_call_json (self->app, &self->req, "event-log", PROTO_events_read, body,
                                     5000, &page);
    json_decref (body);
    if (err) {
        snprintf (self->error, sizeof self->error, "event-log: events.read failed (HTTP %d)",
                  http_res_status (err));
        http_res_destroy (&err);
        return -1;
    }
    if (!sync) {
        json_decref (self->page);
        self->page = json_incref (json_object_get (page, "events"));
        self->at = 0;
        uint64_t next = (uint64_t) json_integer_value (json_object_get (page, "next"));
        uint64_t head = (uint64_t) json_integer_value (json_object_get (page, "head"));
        if (json_array_size (self->page) == 0 || next > head || next <= self->next)
            self->history_done = true;
        self->next = next > self->next ? next : self->next;
    }
    json_decref (page);
    return 0;
}

/* Waits until our subscription is seen to reach event-log: it publishes
 * `sync.<token>` after a read that asks for it. */
void
runstream_sync (runstream_t *self)
{
    if (self->synced)
        return;
    self->synced = true;
    char token[CID_SIZE], topic[64];
    cid_new (token);
    snprintf (topic, sizeof topic, "sync.%s", token);
    bus_tap_subscribe (self->tap, topic);
    for (int i = 0; i < SYNC_TRIES && !atomic_load (&self->app->stopping); i++) {
        if (s_read (self, 1, token))
            return;
        int64_t deadline = zclock_mono () + SYNC_WAIT_MS;
        while (zclock_mono () < deadline) {
            char got[256];
            proto_msg_t *m = bus_tap_recv (self->tap, got, sizeof got, SYNC_WAIT_MS, NULL);
            bool seen = m && !strcmp (got, topic);
            proto_msg_destroy (&m);   /* run events seen now come again from history */
            if (seen)
                return;
        }
    }
}

static json_t *
s_item (const char *kind, json_t *data, uint64_t seq, uint64_t run_seq)
{
    json_t *item = json_pack ("{s:s}", "kind", kind);
    if (data)
        json_object_set (item, "data", data);
    if (seq)
        json_object_set_new (item, "seq", json_integer ((json_int_t) seq));
    if (run_seq)
        json_object_set_new (item, "runSeq", json_integer ((json_int_t) run_seq));
    return item;
}

static json_t *
s_next (runstream_t *self, int timeout_ms)
{
    if (*self->error || atomic_load (&self->app->stopping))
        return NULL;
    runstream_sync (self);
    while (!self->history_done || self->at < json_array_size (self->page)) {
        if (self->at == json_array_size (self->page) && s_read (self, PAGE, NULL))
            return NULL;
        while (self->at < json_array_size (self->page)) {
            json_t *e = json_array_get (self->page, self->at++);
            uint64_t rs = (uint64_t) json_integer_value (json_object_get (e, "run_seq"));
            const char *kind = json_string_value (json_object_get (e, "kind"));
            if (!kind || rs <= self->last)
                continue;
            self->last = rs;
            return s_item (kind, json_object_get (e, "data"),
                           (uint64_t) json_integer_value (json_object_get (e, "seq")), rs);
        }
    }
    int64_t deadline = zclock_mono () + timeout_ms;
    for (;;) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0 || atomic_load (&self->app->stopping))
            return NULL;
        char topic[256];
        proto_msg_t *m = bus_tap_recv (self->tap, topic, sizeof topic,
                                       (int) (left < 500 ? left : 500), NULL);
        if (!m || m->type != PROTO_event) {
            proto_msg_destroy (&m);
            continue;
        }
        const proto_event_t *e = &m->body.event;
        if (e->run_seq && e->run_seq <= self->last) {
            proto_msg_destroy (&m);
            continue;
        }
        if (e->run_seq > self->last + 1) {
            /* Stored events went by unseen (a full queue): read them. */
            self->history_done = false;
            self->next = self->last + 1;
            proto_msg_destroy (&m);
            return s_next (self, timeout_ms);
        }
        char why[160];
        json_t *data = e->data.size
                     ? mpjson_decode (e->data.data, e->data.size, 30, why, sizeof why) : NULL;
        if (e->run_seq)
            self->last = e->run_seq;
        json_t *item = s_item (e->kind, data, e->seq, e->run_seq);
        json_decref (data);
        proto_msg_destroy (&m);
        return item;
    }
}

/* True while the token that opened the stream still names its user: a
 * revoked or expired token ends the streams it opened, as it fails the
 * next request. */
static bool
s_still_valid (runstream_t *self)
{
    if (!self->token)
        return true;
    char user[TOKENS_USER_MAX + 1];
    bool op;
    if (!tokens_lookup (self->app->tokens, self->token, user, &op)
        && !strcmp (user, self->req.user) && op == self->req.operator_)
        return true;
    snprintf (self->error, sizeof self->error, "the token was revoked or has expired");
    return false;
}

json_t *
runstream_next (runstream_t *self, int timeout_ms)
{
    json_t *item = s_next (self, timeout_ms);
    if (!item || s_still_valid (self))
        return item;
    json_decref (item);
    return NULL;
}
