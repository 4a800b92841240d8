/* caisson-tool-runner: the agent's tools, validated and limited, carried out in sandboxes.
 * This process joins the bus and answers health; its own requests arrive
 * with its issue. svc_main (libcommon/svc.h) does the wiring. */
#include "svc.h"

int
main (int argc, char **argv)
{
    static const svc_def_t def = { .name = "tool-runner", .summary = "the agent's tools, validated and limited, carried out in sandboxes" };
    return svc_main (argc, argv, &def);
}
