/* caisson-bus: the broker process. Reads its endpoints from the
 * configuration and runs the broker until SIGTERM or SIGINT. */
#include "xalloc.h"
#include "broker.h"
#include "buskey.h"
#include "cfg.h"
#include "cid.h"
#include "clog.h"
#include "proto.h"
#include "svc.h"

#include <czmq.h>
#include <stdio.h>
#include <string.h>

int
main (int argc, char **argv)
{
    const char *summary = "the request broker (Majordomo) and event proxy (XSUB/XPUB)";
    xalloc_install ();
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv[i], "--help") || !strcmp (argv[i], "-h")) {
            svc_usage ("caisson-bus", summary, "caisson-bus [--help] [--version]");
            return 0;
        }
        if (!strcmp (argv[i], "--version")) {
            printf ("caisson-bus %s\n", CAISSON_VERSION);
            return 0;
        }
        fprintf (stderr, "caisson-bus: unknown argument '%s' (try --help)\n", argv[i]);
        return 2;
    }
    char err[256];
    if (cfg_check (err, sizeof err)) {
        fprintf (stderr, "caisson-bus: %s\n", err);
        return 2;
    }
    proto_limits_load ();
    zsys_init ();
    zsys_set_logstream (NULL);
    char instance[64];
    snprintf (instance, sizeof instance, "%s", cfg_str ("CAISSON_INSTANCE"));
    if (!*instance)
        cid_token (instance, 8);
    clog_init ("bus", instance);
    buskey_set_role (BUSKEY_BUS);
    if (!buskey_curve ())
        clog_warn (NULL, "CAISSON_BUS_CURVE=0: the bus is plain ZeroMQ; any process that "
                   "reaches its endpoints may serve, call and listen");

    broker_t *broker = broker_new (cfg_str ("CAISSON_BUS"), cfg_str ("CAISSON_BUS_PUB"),
                                   cfg_str ("CAISSON_BUS_SUB"), instance);
    if (!broker)
        return 1;
    clog_info (NULL, "started: requests %s, events in %s, events out %s",
               cfg_str ("CAISSON_BUS"), cfg_str ("CAISSON_BUS_PUB"), cfg_str ("CAISSON_BUS_SUB"));
    broker_run (broker);
    clog_info (NULL, "stopping");
    broker_destroy (&broker);
    return 0;
}
