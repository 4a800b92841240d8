/* caisson-tool-runner: the agent's tools, validated and limited, carried
 * out in sandboxes. svc_main (libcommon/svc.h) does the wiring; handler.c
 * serves tools.list and tools.call. */
#include "handler.h"
#include "svc.h"

static int
setup (svc_t *svc)
{
    handler_t *h = handler_new (svc);
    if (!h)
        return -1;
    svc_set_state (svc, h);
    return 0;
}

static void
teardown (svc_t *svc)
{
    handler_t *h = svc_state (svc);
    handler_destroy (&h);
}

int
main (int argc, char **argv)
{
    static const svc_def_t def = {
        .name = "tool-runner",
        .summary = "the agent's tools, validated and limited, carried out in sandboxes",
        .routes = handler_routes,
        .setup = setup,
        .teardown = teardown,
    };
    return svc_main (argc, argv, &def);
}
