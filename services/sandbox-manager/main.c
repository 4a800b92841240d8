/* caisson-sandbox-manager: isolated Linux sandboxes on this host.
 * This process joins the bus and answers health; its own requests arrive
 * with its issue. svc_main (libcommon/svc.h) does the wiring. */
#include "svc.h"

int
main (int argc, char **argv)
{
    static const svc_def_t def = { .name = "sandbox-manager", .summary = "isolated Linux sandboxes on this host" };
    return svc_main (argc, argv, &def);
}
