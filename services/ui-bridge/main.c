/* caisson-ui-bridge: HTTP, SSE and AG-UI front door for browsers, the CLI
 * and CopilotKit. svc_main (libcommon/svc.h) joins the bus and answers
 * health on the zloop thread; setup starts the HTTP server (its own
 * threads, see http.h), the bus client pool its handlers share, and the
 * event watcher that feeds /metrics. */
#include "app.h"
#include "mcp_http.h"
#include "cfg.h"
#include "clog.h"
#include "svc.h"
#include "watcher.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    app_t app;
    http_t *http;
    watcher_t *watcher;
} state_t;

static void
declare_metrics (metrics_t *m)
{
    metrics_declare (m, "caisson_http_requests_total", METRICS_COUNTER,
                     "HTTP requests answered, by route and status.");
    metrics_declare (m, "caisson_http_request_duration_seconds", METRICS_HISTOGRAM,
                     "Time to answer an HTTP request (to the first byte for streams), by route.");
    metrics_declare (m, "caisson_bus_request_duration_seconds", METRICS_HISTOGRAM,
                     "Time a bus request from ui-bridge took, by service.");
    metrics_declare (m, "caisson_runs_total", METRICS_COUNTER,
                     "Runs seen since this instance started, by status reached.");
    metrics_declare (m, "caisson_steps_total", METRICS_COUNTER, "Agent loop steps finished.");
    metrics_declare (m, "caisson_tool_calls_total", METRICS_COUNTER,
                     "Tool calls finished, by tool and outcome.");
    metrics_declare (m, "caisson_tool_duration_seconds", METRICS_HISTOGRAM,
                     "Tool call latency, by tool.");
    metrics_declare (m, "caisson_model_tokens_total", METRICS_COUNTER,
                     "Model tokens used, by kind (input, output).");
    metrics_declare (m, "caisson_gateway_calls_total", METRICS_COUNTER,
                     "Model gateway calls by user, key (a user key's id; sandbox, run; past "
                     "100 keys other), model and HTTP status.");
    metrics_declare (m, "caisson_gateway_tokens_total", METRICS_COUNTER,
                     "Model gateway tokens by user, key, model and kind (input, output, cached).");
    metrics_declare (m, "caisson_gateway_cost_usd_total", METRICS_COUNTER,
                     "Model gateway cost in USD by user, key and model.");
    metrics_declare (m, "caisson_gateway_ttfb_seconds", METRICS_HISTOGRAM,
                     "Model gateway time to the first byte to the client, by model.");
    metrics_declare (m, "caisson_gateway_overhead_seconds", METRICS_HISTOGRAM,
                     "Time the model gateway itself added before forwarding a call.");
    /* these name users and their keys: only trusted scrapes see them */
    metrics_tenant (m, "caisson_gateway_calls_total");
    metrics_tenant (m, "caisson_gateway_tokens_total");
    metrics_tenant (m, "caisson_gateway_cost_usd_total");
    metrics_declare (m, "caisson_sandboxes", METRICS_GAUGE,
                     "Sandboxes by status, read from sandbox-manager at scrape time.");
}

static void
teardown (svc_t *svc)
{
    state_t *s = svc_state (svc);
    if (!s)
        return;
    atomic_store (&s->app.stopping, true);
    http_destroy (&s->http);
    watcher_destroy (&s->watcher);
    mcp_destroy (&s->app.mcp);
    auth_destroy (&s->app.auth);
    tokens_destroy (&s->app.tokens);
    buspool_destroy (&s->app.bus);
    metrics_destroy (&s->app.metrics);
    free (s);
    svc_set_state (svc, NULL);
}

static int
setup (svc_t *svc)
{
    state_t *s = calloc (1, sizeof *s);
    if (!s)
        return -1;
    svc_set_state (svc, s);
    char path[1024];
    tokens_path (path, sizeof path);
    app_t *app = &s->app;
    app->instance = svc_instance (svc);
    snprintf (app->sub_endpoint, sizeof app->sub_endpoint, "%s", cfg_str ("CAISSON_BUS_SUB"));
    app->metrics = metrics_new ();
    app->tokens = tokens_new (path);
    app->auth = app->tokens ? auth_new (app->tokens) : NULL;
    app->bus = buspool_new (cfg_str ("CAISSON_BUS"), cfg_u64 ("CAISSON_HTTP_MAX_CONNECTIONS"),
                            &app->stopping);
    app->mcp = mcp_new ();
    if (!app->metrics || !app->auth || !app->bus || !app->mcp)
        return -1;
    declare_metrics (app->metrics);
    s->watcher = watcher_new (cfg_str ("CAISSON_BUS_SUB"), app->metrics);
    s->http = http_new (cfg_str ("CAISSON_HTTP"), router_handle, router_done, app);
    if (!s->watcher || !s->http)
        return -1;
    clog_info (NULL, "tokens from %s", path);
    return 0;
}

int
main (int argc, char **argv)
{
    static const svc_def_t def = {
        .name = "ui-bridge",
        .summary = "HTTP, SSE and AG-UI front door for browsers, the CLI and CopilotKit",
        .setup = setup,
        .teardown = teardown,
    };
    return svc_main (argc, argv, &def);
}
