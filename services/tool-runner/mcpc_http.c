/* mcpc_http: a remote MCP server over Streamable HTTP. See mcpc_http.h. */
#include "mcpc_http.h"

#include "mcpc_frame.h"
#include "mcpc_post.h"
#include "mcpc_tools.h"
#include "xalloc.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* One Caisson user's MCP session with the server: each user's calls run
 * in a session of their own, so a stateful server (a login, a browser
 * page, a remembered value) never hands one user what another left. */
typedef struct {
    char *user;                         /* "": the deployment's own (tools/list) */
    pthread_mutex_t init_lock;          /* one initialize at a time */
    /* under the client's lock: */
    char session[MCPC_SESSION_MAX + 1]; /* "" when the server gave none */
    char version[16];                   /* "" until initialized */
    unsigned generation;                /* sessions initialized so far */
    int refs;                           /* the table's, and each request's in flight */
    uint64_t used;                      /* the client's tick at its last use (LRU) */
} sess_t;

struct _mcpc_http_t {
    const mcpc_server_t *server;
    const atomic_bool *abort;
    pthread_mutex_t lock;               /* the table, and each session's fields */
    sess_t *sessions[MCPC_HTTP_SESSIONS_MAX];
    size_t count;
    uint64_t tick;
    atomic_llong next_id;
    atomic_bool tools_changed;          /* list_changed came, or a new session replaced one */
};

/* The session's view a request is sent with. */
typedef struct {
    unsigned generation;
    mcpc_post_to_t to;
} view_t;

static void
snapshot (mcpc_http_t *self, sess_t *sess, view_t *view)
{
    pthread_mutex_lock (&self->lock);
    view->generation = sess->generation;
    view->to = (mcpc_post_to_t) { .server = self->server, .abort = self->abort };
    memcpy (view->to.session, sess->session, sizeof view->to.session);
    memcpy (view->to.version, sess->version, sizeof view->to.version);
    pthread_mutex_unlock (&self->lock);
}

/* Drops a reference to sess; the last ends its session with the server
 * (a DELETE, waited for 1 s at most: the spec asks clients to end what
 * they began) and frees it. */
static void
release (mcpc_http_t *self, sess_t *sess)
{
    pthread_mutex_lock (&self->lock);
    bool last = --sess->refs == 0;
    pthread_mutex_unlock (&self->lock);
    if (!last)
        return;
    view_t view;
    snapshot (self, sess, &view);
    char why[256];
    if (*view.to.session)
        mcpc_post (&view.to, "DELETE", -1, NULL, MCPC_POST_ACK_MS, NULL, NULL, why, sizeof why);
    pthread_mutex_destroy (&sess->init_lock);
    free (sess->user);
    free (sess);
}

/* user's session (a new reference; release it), made when they have none;
 * past MCPC_HTTP_SESSIONS_MAX the least recently used one is dropped from
 * the table (ended once its requests in flight are done). */
static sess_t *
acquire (mcpc_http_t *self, const char *user)
{
    sess_t *sess = NULL, *dropped = NULL;
    pthread_mutex_lock (&self->lock);
    for (size_t i = 0; i < self->count && !sess; i++)
        if (!strcmp (self->sessions[i]->user, user))
            sess = self->sessions[i];
    if (!sess) {
        if (self->count == MCPC_HTTP_SESSIONS_MAX) {
            size_t lru = 0;
            for (size_t i = 1; i < self->count; i++)
                if (self->sessions[i]->used < self->sessions[lru]->used)
                    lru = i;
            dropped = self->sessions[lru];
            self->sessions[lru] = self->sessions[--self->count];
        }
        sess = xcalloc (1, sizeof *sess);
        sess->user = xstrdup (user);
        sess->refs = 1;
        pthread_mutex_init (&sess->init_lock, NULL);
        self->sessions[self->count++] = sess;
    }
    sess->refs++;
    sess->used = ++self->tick;
    pthread_mutex_unlock (&self->lock);
    if (dropped)
        release (self, dropped);
    return sess;
}

/* The result of a JSON-RPC response msg (consumed) to method: 0 with
 * *result a new reference, or MCPC_HTTP_FAILED with why (its error). */
static int
take_result (mcpc_http_t *self, const char *method, json_t *msg, json_t **result, char *why,
             size_t whylen)
{
    json_t *error = json_object_get (msg, "error");
    int rc = 0;
    if (error) {
        char what[512];
        snprintf (what, sizeof what, "answered %s with error %lld: %.200s", method,
                  (long long) json_integer_value (json_object_get (error, "code")),
                  json_string_value (json_object_get (error, "message")));
        rc = mcpc_post_fail (self->server, MCPC_HTTP_FAILED, why, whylen, what);
    }
    else
        *result = json_incref (json_object_get (msg, "result"));
    json_decref (msg);
    return rc;
}

/* Initializes a new session for sess, unless one newer than the
 * generation the caller saw was made meanwhile (by another thread). 0, or
 * a failure. */
static int
initialize (mcpc_http_t *self, sess_t *sess, unsigned seen, char *why, size_t whylen)
{
    pthread_mutex_lock (&sess->init_lock);
    view_t view = { 0 };
    snapshot (self, sess, &view);
    if (view.generation != seen) {
        pthread_mutex_unlock (&sess->init_lock);
        return 0;
    }
    view.to.session[0] = view.to.version[0] = '\0';
    json_t *params = mcpc_initialize_params ();
    long long id = self->next_id++;
    char *text = mcpc_frame_request (id, "initialize", params);
    json_decref (params);
    json_t *msg = NULL, *result = NULL;
    mcpc_post_got_t got = { 0 };
    int rc = mcpc_post (&view.to, "initialize", id, text, self->server->timeout_ms, &msg, &got,
                        why, whylen);
    free (text);
    if (!rc)
        rc = take_result (self, "initialize", msg, &result, why, whylen);
    char reason[256];
    const char *version = rc ? NULL : mcpc_initialize_version (result, reason, sizeof reason);
    if (!rc && !version) {
        char what[400];
        snprintf (what, sizeof what, "failed to start: %s", reason);
        rc = mcpc_post_fail (self->server, MCPC_HTTP_FAILED, why, whylen, what);
    }
    if (!rc) {
        snprintf (view.to.version, sizeof view.to.version, "%s", version);
        memcpy (view.to.session, got.session, sizeof view.to.session);
        text = mcpc_frame_request (-1, "notifications/initialized", NULL);
        rc = mcpc_post (&view.to, "notifications/initialized", -1, text,
                        self->server->timeout_ms, NULL, NULL, why, whylen);
        free (text);
    }
    json_decref (result);
    if (!rc) {
        pthread_mutex_lock (&self->lock);
        if (sess->generation)           /* a reconnect: its tools may have changed */
            self->tools_changed = true;
        memcpy (sess->session, view.to.session, sizeof sess->session);
        memcpy (sess->version, view.to.version, sizeof sess->version);
        sess->generation++;
        pthread_mutex_unlock (&self->lock);
    }
    pthread_mutex_unlock (&sess->init_lock);
    return rc;
}

mcpc_http_t *
mcpc_http_new (const mcpc_server_t *server, const atomic_bool *abort)
{
    mcpc_http_t *self = xcalloc (1, sizeof *self);
    self->server = server;
    self->abort = abort;
    pthread_mutex_init (&self->lock, NULL);
    return self;
}

void
mcpc_http_destroy (mcpc_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mcpc_http_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        release (self, self->sessions[i]);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

int
mcpc_http_request (mcpc_http_t *self, const char *user, const char *method,
                   const json_t *params, json_t **result, char *why, size_t whylen)
{
    return mcpc_http_call (self, user, method, params, NULL, NULL, result, why, whylen);
}

int
mcpc_http_call (mcpc_http_t *self, const char *user, const char *method, const json_t *params,
                const atomic_bool *cancel, long long *sent, json_t **result, char *why,
                size_t whylen)
{
    *result = NULL;
    sess_t *sess = acquire (self, user ? user : "");
    view_t view;
    snapshot (self, sess, &view);
    int rc = *view.to.version ? 0 : initialize (self, sess, view.generation, why, whylen);
    for (int attempt = 0; !rc; attempt++) {
        snapshot (self, sess, &view);
        if (cancel)
            view.to.abort = cancel;
        long long id = self->next_id++;
        if (sent)
            *sent = id;
        char *text = mcpc_frame_request (id, method, params);
        json_t *msg = NULL;
        mcpc_post_got_t got = { 0 };
        rc = mcpc_post (&view.to, method, id, text, self->server->timeout_ms, &msg, &got, why,
                        whylen);
        free (text);
        if (got.tools_changed)
            self->tools_changed = true;
        if (cancel && *cancel) {
            json_decref (msg);
            rc = MCPC_HTTP_CANCELLED;
            break;
        }
        if (!rc) {
            rc = take_result (self, method, msg, result, why, whylen);
            break;
        }
        /* A 404 to a session: the server forgot it (a restart); once more
         * on a new one. */
        if (got.status != 404 || !*view.to.session || attempt)
            break;
        rc = initialize (self, sess, view.generation, why, whylen);
    }
    release (self, sess);
    return rc;
}

int
mcpc_http_notify (mcpc_http_t *self, const char *user, const char *method,
                  const json_t *params, char *why, size_t whylen)
{
    sess_t *sess = acquire (self, user ? user : "");
    view_t view;
    snapshot (self, sess, &view);
    char *text = mcpc_frame_request (-1, method, params);
    int rc = mcpc_post (&view.to, method, -1, text, MCPC_POST_ACK_MS, NULL, NULL, why, whylen);
    free (text);
    release (self, sess);
    return rc;
}

/* mcpc_request_fn over mcpc_http_request, in the deployment's session. */
static int
request_fn (void *conn, const char *method, const json_t *params, json_t **result, char *why,
            size_t whylen)
{
    return mcpc_http_request (conn, "", method, params, result, why, whylen);
}

json_t *
mcpc_http_tools (mcpc_http_t *self, json_t *skipped, char *why, size_t whylen)
{
    sess_t *sess = acquire (self, "");
    view_t view;
    snapshot (self, sess, &view);
    int rc = initialize (self, sess, view.generation, why, whylen);
    release (self, sess);
    return rc ? NULL : mcpc_tools_list (self->server, request_fn, self, skipped, why, whylen);
}

bool
mcpc_http_tools_changed (mcpc_http_t *self)
{
    return atomic_exchange (&self->tools_changed, false);
}

void
mcpc_http_version (mcpc_http_t *self, char *buf, size_t size)
{
    sess_t *sess = acquire (self, "");
    pthread_mutex_lock (&self->lock);
    snprintf (buf, size, "%s", sess->version);
    pthread_mutex_unlock (&self->lock);
    release (self, sess);
}
