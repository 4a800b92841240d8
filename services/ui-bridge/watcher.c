/* watcher: run events and the model gateway's spend records to metrics.
 * See watcher.h. */
#include "watcher.h"
#include "bus_tap.h"
#include "evkind.h"
#include "mpjson.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEYS_MAX 100        /* key (and model) labels kept apart; the rest are `other` */
#define MODEL_LEN 96        /* a longer model name is `other` too */

struct _watcher_t {
    pthread_t thread;
    bus_tap_t *tap;
    metrics_t *metrics;
    atomic_bool stop;
    char keys[KEYS_MAX][24];    /* the key labels seen, first come (watcher thread only) */
    size_t nkeys;
    char models[KEYS_MAX][MODEL_LEN];   /* the same for models */
    size_t nmodels;
};

static double
num (json_t *obj, const char *key)
{
    json_t *v = json_object_get (obj, key);
    return json_is_number (v) ? json_number_value (v) : 0;
}

/* The tool label of a tool_result: its name only when tool-runner ran a
 * tool of its catalogue. A name is the model's word, and /metrics is
 * public: a made-up name (or a client's own tool, `client`) would show a
 * tenant's text to anyone and grow a series per name. Calls the
 * orchestrator refused before tool-runner (policy, bad arguments) are
 * `other` for the same reason. */
static const char *
s_tool_label (const json_t *data)
{
    if (json_is_true (json_object_get (data, "client")))
        return "client";
    const char *code = json_string_value (json_object_get (
        json_object_get (json_object_get (data, "result"), "error"), "code"));
    const char *name = json_string_value (json_object_get (data, "name"));
    if (!name || !json_is_string (json_object_get (data, "toolRunner"))
        || (code && !strcmp (code, "unknown_tool")))
        return "other";
    return name;
}

/* The label of a `failed` run: its status when it is a plain word (the
 * orchestrator's few endings), else "failed", so a label stays bounded. */
static const char *
s_end_label (json_t *data)
{
    const char *st = json_string_value (json_object_get (data, "status"));
    if (!st || !*st || strlen (st) > 32)
        return "failed";
    for (const char *p = st; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || *p == '_'))
            return "failed";
    return st;
}

/* Counts one event of kind k; its payload is as proto/events.def declares. */
static void
s_count (watcher_t *self, evk_kind_t k, json_t *data)
{
    char labels[256] = "";
    switch (k) {
        case EVK_run_started:
        case EVK_complete:
        case EVK_failed:
            /* a run that did not complete is counted by its own ending
             * (cancelled, budget_exhausted...), as its record says */
            metrics_label (labels, sizeof labels, "status",
                           k == EVK_run_started ? "started"
                           : k == EVK_complete ? "completed" : s_end_label (data));
            metrics_add (self->metrics, "caisson_runs_total", labels, 1);
            break;
        case EVK_step_finished:
            metrics_add (self->metrics, "caisson_steps_total", "", 1);
            break;
        case EVK_tool_result: {
            metrics_label (labels, sizeof labels, "tool", s_tool_label (data));
            char tool_only[256];
            memcpy (tool_only, labels, sizeof labels);
            metrics_label (labels, sizeof labels, "outcome",
                           json_is_true (json_object_get (data, "ok")) ? "ok" : "error");
            metrics_add (self->metrics, "caisson_tool_calls_total", labels, 1);
            metrics_observe (self->metrics, "caisson_tool_duration_seconds", tool_only,
                             num (data, "durationMs") / 1000.0);
            break;
        }
        case EVK_usage:
            metrics_add (self->metrics, "caisson_model_tokens_total", "kind=\"input\"",
                         num (data, "inputTokens"));
            metrics_add (self->metrics, "caisson_model_tokens_total", "kind=\"output\"",
                         num (data, "outputTokens"));
            break;
        default:
            break;
    }
}

/* name's entry in the first-come table seen (n in use, KEYS_MAX rows of
 * width bytes), added when there is room; `other` when there is none or
 * name does not fit. Bounds a label's values, as /metrics is public. */
static const char *
s_bounded (char *seen, size_t width, size_t *n, const char *name)
{
    if (!name || !*name || strlen (name) >= width)
        return "other";
    for (size_t i = 0; i < *n; i++)
        if (!strcmp (seen + i * width, name))
            return seen + i * width;
    if (*n == KEYS_MAX)
        return "other";
    snprintf (seen + *n * width, width, "%s", name);
    return seen + (*n)++ * width;
}

/* The `key` label of a spend record: the key id for a user's own key,
 * its kind for minted ones (one series per sandbox would grow without
 * end), and `other` past KEYS_MAX distinct keys. */
static const char *
s_key_label (watcher_t *self, const json_t *rec)
{
    const char *kind = json_string_value (json_object_get (rec, "keyKind"));
    if (kind && strcmp (kind, "user"))
        return !strcmp (kind, "sandbox") ? "sandbox" : !strcmp (kind, "run") ? "run" : "other";
    return s_bounded (self->keys[0], sizeof self->keys[0], &self->nkeys,
                      json_string_value (json_object_get (rec, "key")));
}

static const char *
s_str (const json_t *rec, const char *key)
{
    const char *v = json_string_value (json_object_get (rec, key));
    return v && *v ? v : "-";
}

/* Counts one call's spend record (proto/gateway.def `spend`). */
static void
s_spend (watcher_t *self, const json_t *rec)
{
    char base[512] = "", labels[600], status[16];
    metrics_label (base, sizeof base, "user", s_str (rec, "user"));
    metrics_label (base, sizeof base, "key", s_key_label (self, rec));
    /* a model a provider refused may be any text the client sent */
    const char *model_name = s_bounded (self->models[0], sizeof self->models[0], &self->nmodels,
                                        json_string_value (json_object_get (rec, "model")));
    metrics_label (base, sizeof base, "model", model_name);
    snprintf (labels, sizeof labels, "%s", base);
    snprintf (status, sizeof status, "%lld",
              (long long) json_integer_value (json_object_get (rec, "status")));
    metrics_label (labels, sizeof labels, "status", status);
    metrics_add (self->metrics, "caisson_gateway_calls_total", labels, 1);
    static const char *const kinds[][2] = { { "in", "input" }, { "out", "output" },
                                            { "cached", "cached" } };
    for (size_t i = 0; i < 3; i++) {
        snprintf (labels, sizeof labels, "%s", base);
        metrics_label (labels, sizeof labels, "kind", kinds[i][1]);
        metrics_add (self->metrics, "caisson_gateway_tokens_total", labels,
                     num ((json_t *) rec, kinds[i][0]));
    }
    metrics_add (self->metrics, "caisson_gateway_cost_usd_total", base,
                 num ((json_t *) rec, "nusd") / 1e9);
    char model[300] = "";
    metrics_label (model, sizeof model, "model", model_name);
    if (num ((json_t *) rec, "ttfbUs") > 0)
        metrics_observe (self->metrics, "caisson_gateway_ttfb_seconds", model,
                         num ((json_t *) rec, "ttfbUs") / 1e6);
    metrics_observe (self->metrics, "caisson_gateway_overhead_seconds", "",
                     num ((json_t *) rec, "overheadUs") / 1e6);
}

static void *
s_run (void *arg)
{
    watcher_t *self = arg;
    while (!atomic_load (&self->stop)) {
        char topic[256];
        proto_msg_t *m = bus_tap_recv (self->tap, topic, sizeof topic, 500, NULL);
        if (m && m->type == PROTO_spend) {
            json_t *rec = mpjson_get (&m->body.spend.record, 8);
            if (json_is_object (rec))
                s_spend (self, rec);
            json_decref (rec);
        }
        if (!m || m->type != PROTO_event) {
            proto_msg_destroy (&m);
            continue;
        }
        /* Only these kinds' contents are counted; text deltas, most of the
         * traffic, are not decoded. */
        evk_kind_t kind = evk_lookup (m->body.event.kind);
        json_t *data = kind == EVK_tool_result || kind == EVK_usage || kind == EVK_failed
                     ? mpjson_get (&m->body.event.data, 16) : NULL;
        s_count (self, kind, data);
        json_decref (data);
        proto_msg_destroy (&m);
    }
    return NULL;
}

watcher_t *
watcher_new (const char *endpoint, metrics_t *metrics)
{
    watcher_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->metrics = metrics;
    self->tap = bus_tap_new (endpoint, "run.");
    if (self->tap && bus_tap_subscribe (self->tap, "spend."))
        bus_tap_destroy (&self->tap);
    if (!self->tap || pthread_create (&self->thread, NULL, s_run, self)) {
        bus_tap_destroy (&self->tap);
        free (self);
        return NULL;
    }
    return self;
}

void
watcher_destroy (watcher_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    watcher_t *self = *self_p;
    atomic_store (&self->stop, true);
    pthread_join (self->thread, NULL);
    bus_tap_destroy (&self->tap);
    free (self);
    *self_p = NULL;
}
