/* caisson-egress-proxy: the one way out of a sandbox in network mode
 * `policy`. svc_main (libcommon/svc.h) does the wiring and holds the lock
 * on the store (one proxy per data dir: a second exits 2); ep_ctl.c serves
 * the egress.* requests and runs the data thread. */
#include "ep_ctl.h"
#include "svc.h"

#include <signal.h>

static int
setup (svc_t *svc)
{
    /* splice into a socket its client closed raises SIGPIPE (it has no
     * MSG_NOSIGNAL): the relay handles EPIPE instead */
    signal (SIGPIPE, SIG_IGN);
    ep_ctl_t *ctl = ep_ctl_new (svc);
    if (!ctl)
        return -1;
    svc_set_state (svc, ctl);
    return 0;
}

static void
teardown (svc_t *svc)
{
    ep_ctl_t *ctl = svc_state (svc);
    ep_ctl_destroy (&ctl);
}

int
main (int argc, char **argv)
{
    static const svc_def_t def = {
        .name = "egress-proxy",
        .summary = "a policy sandbox's way out: HTTP, CONNECT and SOCKS5 under its egress rules",
        .routes = ep_ctl_routes,
        .setup = setup,
        .teardown = teardown,
        .exclusive_store = true,
    };
    return svc_main (argc, argv, &def);
}
