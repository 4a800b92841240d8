/* mcpc_http: a remote MCP server over Streamable HTTP. See mcpc_http.h. */
#include "mcpc_http.h"

#include "mcpc_frame.h"
#include "mcpc_post.h"
#include "mcpc_tools.h"
#include "xalloc.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct _mcpc_http_t {
    const mcpc_server_t *server;
    const atomic_bool *abort;
    pthread_mutex_t lock;               /* session, version, generation */
    pthread_mutex_t init_lock;          /* one initialize at a time */
    char session[MCPC_SESSION_MAX + 1];      /* "" when the server gave none */
    char version[16];                   /* "" until initialized */
    unsigned generation;                /* sessions initialized so far */
    atomic_llong next_id;
    atomic_bool tools_changed;          /* list_changed came, or a new session replaced one */
};

/* The session's view a request is sent with. */
typedef struct {
    unsigned generation;
    mcpc_post_to_t to;
} view_t;

static void
snapshot (mcpc_http_t *self, view_t *view)
{
    pthread_mutex_lock (&self->lock);
    view->generation = self->generation;
    view->to = (mcpc_post_to_t) { .server = self->server, .abort = self->abort };
    memcpy (view->to.session, self->session, sizeof view->to.session);
    memcpy (view->to.version, self->version, sizeof view->to.version);
    pthread_mutex_unlock (&self->lock);
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

/* Initializes a new session, unless one newer than the generation the
 * caller saw was made meanwhile (by another thread). 0, or a failure. */
static int
initialize (mcpc_http_t *self, unsigned seen, char *why, size_t whylen)
{
    pthread_mutex_lock (&self->init_lock);
    view_t view = { 0 };
    snapshot (self, &view);
    if (view.generation != seen) {
        pthread_mutex_unlock (&self->init_lock);
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
        if (self->generation)           /* a reconnect: its tools may have changed */
            self->tools_changed = true;
        memcpy (self->session, view.to.session, sizeof self->session);
        memcpy (self->version, view.to.version, sizeof self->version);
        self->generation++;
        pthread_mutex_unlock (&self->lock);
    }
    pthread_mutex_unlock (&self->init_lock);
    return rc;
}

mcpc_http_t *
mcpc_http_new (const mcpc_server_t *server, const atomic_bool *abort)
{
    mcpc_http_t *self = xcalloc (1, sizeof *self);
    self->server = server;
    self->abort = abort;
    pthread_mutex_init (&self->lock, NULL);
    pthread_mutex_init (&self->init_lock, NULL);
    return self;
}

void
mcpc_http_destroy (mcpc_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mcpc_http_t *self = *self_p;
    view_t view;
    snapshot (self, &view);
    char why[256];
    if (*view.to.session)       /* the spec asks clients to end what they began */
        mcpc_post (&view.to, "DELETE", -1, NULL, MCPC_POST_ACK_MS, NULL, NULL, why, sizeof why);
    pthread_mutex_destroy (&self->lock);
    pthread_mutex_destroy (&self->init_lock);
    free (self);
    *self_p = NULL;
}

int
mcpc_http_request (mcpc_http_t *self, const char *method, const json_t *params,
                   json_t **result, char *why, size_t whylen)
{
    return mcpc_http_call (self, method, params, NULL, NULL, result, why, whylen);
}

int
mcpc_http_call (mcpc_http_t *self, const char *method, const json_t *params,
                const atomic_bool *cancel, long long *sent, json_t **result, char *why,
                size_t whylen)
{
    *result = NULL;
    view_t view;
    snapshot (self, &view);
    int rc = *view.to.version ? 0 : initialize (self, view.generation, why, whylen);
    for (int attempt = 0; !rc; attempt++) {
        snapshot (self, &view);
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
        if (cancel && *cancel)
            return MCPC_HTTP_CANCELLED;
        if (got.tools_changed)
            self->tools_changed = true;
        if (!rc)
            return take_result (self, method, msg, result, why, whylen);
        /* A 404 to a session: the server forgot it (a restart); once more
         * on a new one. */
        if (got.status != 404 || !*view.to.session || attempt)
            break;
        rc = initialize (self, view.generation, why, whylen);
    }
    return rc;
}

int
mcpc_http_notify (mcpc_http_t *self, const char *method, const json_t *params, char *why,
                  size_t whylen)
{
    view_t view;
    snapshot (self, &view);
    char *text = mcpc_frame_request (-1, method, params);
    int rc = mcpc_post (&view.to, method, -1, text, MCPC_POST_ACK_MS, NULL, NULL, why, whylen);
    free (text);
    return rc;
}

/* mcpc_request_fn over mcpc_http_request. */
static int
request_fn (void *conn, const char *method, const json_t *params, json_t **result, char *why,
            size_t whylen)
{
    return mcpc_http_request (conn, method, params, result, why, whylen);
}

json_t *
mcpc_http_tools (mcpc_http_t *self, json_t *skipped, char *why, size_t whylen)
{
    view_t view;
    snapshot (self, &view);
    if (initialize (self, view.generation, why, whylen))
        return NULL;
    return mcpc_tools_list (self->server, request_fn, self, skipped, why, whylen);
}

bool
mcpc_http_tools_changed (mcpc_http_t *self)
{
    return atomic_exchange (&self->tools_changed, false);
}

void
mcpc_http_version (mcpc_http_t *self, char *buf, size_t size)
{
    pthread_mutex_lock (&self->lock);
    snprintf (buf, size, "%s", self->version);
    pthread_mutex_unlock (&self->lock);
}
