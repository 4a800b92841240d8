/* api_health: GET /healthz asks the broker and every service for its
 * health, all at once through one client, and answers 200 when all
 * answer, else 503 naming what did not; GET /metrics renders the registry
 * after refreshing the gauges that are read at scrape time (sandboxes by
 * status). Neither needs a token: probes and Prometheus scrape them. The
 * series that name users and their keys (the gateway's spend) are shown
 * only to a scrape that brings CAISSON_METRICS_TOKEN or an operator's
 * token: anyone who can reach the port would otherwise learn who spends
 * what. A wrong token is 401, so a misconfigured scraper shows. */
#include "api.h"
#include "cfg.h"
#include "mpjson.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HEALTH_TIMEOUT_MS 1500
#define GAUGE_TIMEOUT_MS 300

static const char *const s_targets[] = {
    "bus", "orchestrator", "tool-runner", "sandbox-manager", "event-log", "ui-bridge",
};
#define NTARGETS (sizeof s_targets / sizeof s_targets[0])

http_res_t *
api_healthz (app_t *app, http_req_t *req)
{
    (void) req;
    proto_msg_t *sent[NTARGETS] = { 0 }, *got[NTARGETS] = { 0 };
    bus_client_t *client = buspool_take (app->bus);
    if (!client)
        return http_res_error (503, "bus_unavailable", "cannot open a bus client");
    for (size_t i = 0; i < NTARGETS; i++) {
        uint8_t *data;
        size_t size;
        sent[i] = app_msg (req, PROTO_health_req);
        if (sent[i] && proto_encode (sent[i], &data, &size) == 0) {
            bus_client_send (client, s_targets[i], data, size);
            free (data);
        }
    }
    int64_t deadline = zclock_mono () + HEALTH_TIMEOUT_MS;
    size_t answered = 0;
    while (answered < NTARGETS) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0)
            break;
        proto_msg_t *m = bus_client_recv (client, (int) left, NULL);
        if (!m)
            break;
        for (size_t i = 0; i < NTARGETS; i++)
            if (sent[i] && !got[i] && m->env.cause && !strcmp (m->env.cause, sent[i]->env.id)) {
                got[i] = m;
                m = NULL;
                answered++;
                break;
            }
        proto_msg_destroy (&m);
    }
    buspool_give (app->bus, client);
    json_t *services = json_object ();
    bool all = true;
    for (size_t i = 0; i < NTARGETS; i++) {
        json_t *s;
        if (got[i] && got[i]->type == PROTO_health_rep) {
            const proto_health_rep_t *h = &got[i]->body.health_rep;
            s = json_pack ("{s:b,s:s,s:s,s:I,s:I}", "ok", 1, "instance", h->instance,
                           "version", h->version, "pid", (json_int_t) h->pid, "uptimeMs",
                           (json_int_t) h->uptime_ms);
        }
        else {
            s = json_pack ("{s:b,s:s}", "ok", 0, "error",
                           got[i] ? "answered with an error" : "no answer in time");
            all = false;
        }
        json_object_set_new (services, s_targets[i], s);
        proto_msg_destroy (&sent[i]);
        proto_msg_destroy (&got[i]);
    }
    return http_res_json (all ? 200 : 503,
                          json_pack ("{s:s,s:s,s:o}", "status", all ? "ok" : "degraded",
                                     "instance", app->instance, "services", services));
}

/* Refreshes caisson_sandboxes{status} from sandbox-manager's list. */
static void
s_sandbox_gauge (app_t *app, http_req_t *req)
{
    /* One short try per host: a scrape must not wait on a missing manager. */
    json_t *list = api_sandboxes_all (app, req, NULL, NULL, GAUGE_TIMEOUT_MS, 0);
    if (!list)
        return;
    metrics_clear (app->metrics, "caisson_sandboxes");
    size_t i;
    json_t *s;
    json_array_foreach (list, i, s) {
        const char *status = json_string_value (json_object_get (s, "status"));
        char labels[96] = "";
        metrics_label (labels, sizeof labels, "status", status ? status : "unknown");
        metrics_add (app->metrics, "caisson_sandboxes", labels, 1);
    }
    json_decref (list);
}

/* 1: req bears the metrics token; 0: it bears none; -1: another bearer.
 * The comparison takes the same time wherever the tokens differ. */
static int
s_metrics_token (http_req_t *req)
{
    const char *want = cfg_str ("CAISSON_METRICS_TOKEN");
    const char *got = http_header (req, "Authorization");
    if (!got)
        return 0;
    if (strncmp (got, "Bearer ", 7) || !want || !*want)
        return -1;
    got += 7;
    size_t n = strlen (want);
    if (strlen (got) != n)
        return -1;
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char) (got[i] ^ want[i]);
    return diff ? -1 : 1;
}

http_res_t *
api_metrics (app_t *app, http_req_t *req)
{
    bool tenants = false;
    int token = s_metrics_token (req);
    if (token < 0) {
        http_res_t *denied = auth_check (app->auth, req);
        if (denied)
            return denied;
        if (!req->operator_)
            return http_res_error (403, "forbidden", "/metrics with a token needs "
                                   "CAISSON_METRICS_TOKEN or an operator's token");
        tenants = true;
    }
    else if (token > 0)
        tenants = true;
    s_sandbox_gauge (app, req);
    char *text = metrics_render (app->metrics, tenants);
    if (!text)
        return NULL;
    http_res_t *res = http_res_bytes (200, "text/plain; version=0.0.4; charset=utf-8", text,
                                      strlen (text), true);
    free (text);
    return res;
}
