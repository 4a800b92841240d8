/* caisson-orchestrator: the agent loop: model calls, tool dispatch,
 * approvals and budgets. svc_main (libcommon/svc.h) does the wiring;
 * orch.c is the service. */
#include "orch.h"

int
main (int argc, char **argv)
{
    return orch_main (argc, argv);
}
