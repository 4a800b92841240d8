/* caisson-ui-bridge: HTTP, SSE and AG-UI front door for browsers, the CLI and CopilotKit.
 * This process joins the bus and answers health; its own requests arrive
 * with its issue. svc_main (libcommon/svc.h) does the wiring. */
#include "svc.h"

int
main (int argc, char **argv)
{
    static const svc_def_t def = { .name = "ui-bridge", .summary = "HTTP, SSE and AG-UI front door for browsers, the CLI and CopilotKit" };
    return svc_main (argc, argv, &def);
}
