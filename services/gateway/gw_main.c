/* caisson-gateway: the model gateway's HTTP front (docs/gateway.md).
 * Stateless, any number of replicas: the keys, budgets and reservations
 * are gateway-keys'; this process holds the real provider keys (from its
 * environment, through the provider table) and nobody else needs them.
 * At start it tells gateway-keys that reservations of its earlier life
 * (the same instance id) are dead, retrying until gateway-keys answers. */
#include "gw_http.h"
#include "gw_up.h"
#include "cfg.h"
#include "clog.h"
#include "svc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    gw_ctx_t ctx;
    mprices_t *prices;
    gw_http_t *http;
    atomic_bool stop;
    pthread_t release;
    bool releasing;
    char instance[128];
} gw_main_t;

static gw_main_t s_gw;

static void *
release_instance (void *arg)
{
    gw_main_t *g = arg;
    while (!atomic_load (&g->stop)) {
        proto_msg_t *m = proto_msg_new (PROTO_gkey_release_instance, NULL);
        proto_set_str (&m->body.gkey_release_instance.gateway, g->instance);
        proto_msg_t *rep = gw_bus_request (g->ctx.bus, m);
        bool done = rep && rep->type == PROTO_gkey_ack;
        proto_msg_destroy (&rep);
        proto_msg_destroy (&m);
        if (done)
            break;
        for (int i = 0; i < 10 && !atomic_load (&g->stop); i++)
            usleep (100000);
    }
    return NULL;
}

static int
setup (svc_t *svc)
{
    gw_main_t *g = &s_gw;
    char why[256] = "";
    snprintf (g->instance, sizeof g->instance, "%s", svc_instance (svc));
    g->prices = mprices_load (cfg_str ("CAISSON_GATEWAY_PRICES"), why, sizeof why);
    if (!g->prices) {
        clog_error (NULL, "CAISSON_GATEWAY_PRICES: %s", why);
        return -1;
    }
    const char *nu = cfg_str ("CAISSON_GATEWAY_NO_USAGE");
    if (strcmp (nu, "bound") && strcmp (nu, "estimate")) {
        clog_error (NULL, "CAISSON_GATEWAY_NO_USAGE: `bound` or `estimate`, not '%s'", nu);
        return -1;
    }
    if (gw_up_global_init ()) {
        clog_error (NULL, "libcurl did not start");
        return -1;
    }
    g->ctx = (gw_ctx_t) {
        .instance = g->instance,
        .body = { .aliases = cfg_str ("CAISSON_GATEWAY_ALIASES"),
                  .default_provider = cfg_str ("CAISSON_GATEWAY_DEFAULT_PROVIDER"),
                  .max_output = cfg_u64 ("CAISSON_GATEWAY_MAX_OUTPUT"),
                  .image_tokens = cfg_str ("CAISSON_GATEWAY_IMAGE_TOKENS"),
                  .document_tokens = cfg_u64 ("CAISSON_GATEWAY_DOCUMENT_TOKENS"),
                  .prices = g->prices },
        .timeout_s = (long) cfg_u64 ("CAISSON_GATEWAY_UPSTREAM_TIMEOUT_S"),
        .cap = cfg_u64 ("CAISSON_GATEWAY_CAP_MAX_TOKENS") != 0,
        .no_usage_bound = !strcmp (nu, "bound"),
    };
    if (!(g->ctx.bus = gw_bus_new (cfg_str ("CAISSON_BUS"), &g->stop)))
        return -1;
    g->releasing = !pthread_create (&g->release, NULL, release_instance, g);
    if (!(g->http = gw_http_new (cfg_str ("CAISSON_GATEWAY_HTTP"), &g->ctx)))
        return -1;
    return 0;
}

static void
teardown (svc_t *svc)
{
    (void) svc;
    gw_main_t *g = &s_gw;
    gw_http_destroy (&g->http);         /* calls in flight end and settle */
    if (g->ctx.bus)
        gw_bus_drain (g->ctx.bus, 3000);
    atomic_store (&g->stop, true);
    if (g->releasing)
        pthread_join (g->release, NULL);
    gw_bus_destroy (&g->ctx.bus);
    mprices_destroy (&g->prices);
    gw_up_global_cleanup ();
}

int
main (int argc, char **argv)
{
    const svc_def_t def = {
        .name = "gateway",
        .summary = "the model gateway: OpenAI and Anthropic HTTP APIs for virtual keys, "
                   "forwarded with the real provider keys within the keys' budgets",
        .setup = setup,
        .teardown = teardown,
    };
    return svc_main (argc, argv, &def);
}
