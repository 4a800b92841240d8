/* caisson-orchestrator: the agent loop: model calls, tool dispatch, approvals and budgets.
 * This process joins the bus and answers health; its own requests arrive
 * with its issue. svc_main (libcommon/svc.h) does the wiring. */
#include "svc.h"

int
main (int argc, char **argv)
{
    static const svc_def_t def = { .name = "orchestrator", .summary = "the agent loop: model calls, tool dispatch, approvals and budgets" };
    return svc_main (argc, argv, &def);
}
