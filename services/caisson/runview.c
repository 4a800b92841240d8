/* runview: see runview.h. */
#include "runview.h"
#include "evkind.h"
#include "mpjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAIL 60

struct _runview_t {
    bus_client_t *c;
    char run[64];
    bool tail;
    runview_ask_fn *ask;
    void *arg;
    uint64_t last;              /* the last run_seq shown */
    char *plan;                 /* the current step's plan, shown; NULL when none */
    char *text;                 /* the last model text shown */
    char shown[TAIL + 1];       /* the provisional tail, as on stderr */
    bool tail_on;
    int status;                 /* -1 until the run has ended */
};

runview_t *
runview_new (bus_client_t *c, const char *run, bool tail, runview_ask_fn *ask, void *arg)
{
    runview_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->c = c;
    snprintf (self->run, sizeof self->run, "%s", run);
    self->tail = tail;
    self->ask = ask;
    self->arg = arg;
    self->status = -1;
    return self;
}

void
runview_destroy (runview_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    runview_t *self = *self_p;
    free (self->plan);
    free (self->text);
    free (self);
    *self_p = NULL;
}

/* s without trailing white space, as a new string (the caller's). */
static char *
trimmed (const char *s)
{
    size_t n = strlen (s ? s : "");
    while (n && strchr (" \t\r\n", s[n - 1]))
        n--;
    return strndup (s ? s : "", n);
}

static bool
same (const char *a, const char *b)
{
    return a && b && !strcmp (a, b);
}

static void
clear_tail (runview_t *self)
{
    if (self->tail_on) {
        fputs ("\r\033[K", stderr);
        fflush (stderr);
    }
    self->tail_on = false;
    self->shown[0] = '\0';
}

/* A delta: the last TAIL characters of the text streaming now, on one
 * line of stderr, until a stored event takes its place. */
static void
delta (runview_t *self, const char *text)
{
    if (!self->tail || !text)
        return;
    size_t have = strlen (self->shown), add = strlen (text);
    if (add >= TAIL) {
        memcpy (self->shown, text + add - TAIL, TAIL + 1);
    }
    else {
        size_t keep = have + add > TAIL ? TAIL - add : have;
        memmove (self->shown, self->shown + have - keep, keep);
        memcpy (self->shown + keep, text, add + 1);
    }
    for (char *p = self->shown; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    fprintf (stderr, "\r\033[K  ... %s", self->shown);
    fflush (stderr);
    self->tail_on = true;
}

static void
print_json (const json_t *v, size_t max)
{
    char *s = json_dumps (v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (s && strlen (s) > max)
        printf ("%.*s...", (int) max, s);
    else
        printf ("%s", s ? s : "null");
    free (s);
}

static const char *
str (const json_t *data, const char *key)
{
    return json_string_value (json_object_get (data, key)) ?: "";
}

/* A model text, once: the first step's text is its plan, shown already,
 * and the answer is the last text. */
static void
model_text (runview_t *self, const char *text, bool plan)
{
    char *t = trimmed (text);
    if (!t)
        return;
    if (*t && !(!plan && same (t, self->plan)))
        printf ("%s\n", t);
    free (self->plan);
    self->plan = plan ? strdup (t) : NULL;
    free (self->text);
    self->text = t;
}

/* Shows one stored event. */
static void
render (runview_t *self, const char *kind, const json_t *data)
{
    clear_tail (self);
    switch (evk_lookup (kind)) {
        case EVK_plan:
            model_text (self, str (data, "text"), true);
            break;
        case EVK_text:
            model_text (self, str (data, "text"), false);
            break;
        case EVK_step_started:
            free (self->plan);
            self->plan = NULL;
            break;
        case EVK_tool_call:
            printf ("-> %s ", str (data, "name"));
            print_json (json_object_get (data, "args"), 300);
            printf ("\n");
            break;
        case EVK_tool_result:
            printf ("   %s %s (%lld ms): ", json_is_true (json_object_get (data, "ok")) ? "ok"
                                                                                     : "FAILED",
                    str (data, "name"),
                    (long long) json_integer_value (json_object_get (data, "durationMs")));
            print_json (json_object_get (data, "result"), 400);
            printf ("\n");
            break;
        case EVK_check:
            printf ("   check %s: %s%s\n", str (data, "name"),
                    json_is_true (json_object_get (data, "ok")) ? "" : "FAILED: ",
                    str (data, "detail"));
            break;
        case EVK_ask_approval:
            fflush (stdout);
            if (self->ask)
                self->ask (self->arg, data);
            break;
        case EVK_working_memory_updated:
            printf ("   working memory updated: version %lld, %lld bytes\n",
                    (long long) json_integer_value (json_object_get (data, "version")),
                    (long long) json_integer_value (json_object_get (data, "bytes")));
            break;
        case EVK_approval_decision:
            printf ("   %s%s%s\n", json_is_true (json_object_get (data, "approved")) ? "approved"
                                                                                : "declined",
                    *str (data, "reason") ? ": " : "", str (data, "reason"));
            break;
        case EVK_complete: {
            char *answer = trimmed (str (data, "answer"));
            if (answer && *answer && !same (answer, self->text))
                printf ("%s\n", answer);
            free (answer);
            self->status = 0;
            break;
        }
        case EVK_failed: {
            const char *status = *str (data, "status") ? str (data, "status")
                                                       : proto_run_status_name (PROTO_RUN_failed);
            fflush (stdout);
            fprintf (stderr, "caisson: run %s %s: %s\n", self->run, status, str (data, "reason"));
            self->status = 1;
            break;
        }
        default:
            break;
    }
    fflush (stdout);
}

int
runview_catch_up (runview_t *self)
{
    while (self->status < 0) {
        proto_msg_t *req = proto_msg_new (PROTO_events_read, NULL);
        proto_set_str (&req->body.events_read.run, self->run);
        req->body.events_read.from_seq = self->last + 1;
        proto_msg_t *rep = bus_client_request (self->c, "event-log", req);
        proto_msg_destroy (&req);
        json_t *events = rep && rep->type == PROTO_events_page
                       ? mpjson_get (&rep->body.events_page.events, 64) : NULL;
        proto_msg_destroy (&rep);
        size_t i;
        json_t *e;
        bool more = false;      /* a page that shows nothing new is the end */
        json_array_foreach (events, i, e) {
            uint64_t seq = (uint64_t) json_integer_value (json_object_get (e, "run_seq"));
            if (seq <= self->last)
                continue;
            self->last = seq;
            more = true;
            render (self, str (e, "kind"), json_object_get (e, "data"));
            if (self->status >= 0)
                break;
        }
        json_decref (events);
        if (!more)
            break;
    }
    return self->status;
}

int
runview_event (runview_t *self, const char *kind, const json_t *data, uint64_t run_seq)
{
    if (self->status >= 0)
        return self->status;
    if (evk_lookup (kind) == EVK_text_delta) {
        delta (self, str (data, "text"));
        return -1;
    }
    if (!run_seq) {
        /* not numbered (a stand-in producer, not event-log): shown as it
         * comes, there being no order to keep */
        render (self, kind, data);
        return self->status;
    }
    if (run_seq <= self->last)
        return -1;              /* shown already (read back after a gap) */
    if (run_seq > self->last + 1) {
        /* stored events went by unseen: read them, this one included */
        runview_catch_up (self);
        if (run_seq <= self->last || self->status >= 0)
            return self->status;
    }
    self->last = run_seq;
    render (self, kind, data);
    return self->status;
}
