/* caisson-orchestrator: the agent loop: model calls, tool dispatch,
 * approvals and budgets. svc_main (libcommon/svc.h) does the wiring;
 * orch.c is the service. Before it starts, the model set-up is checked
 * and said: an unknown default model is refused here, at start, rather
 * than failing every run. */
#include "orch.h"
#include "clog.h"
#include "llm_provider.h"

#include <stdlib.h>
#include <string.h>

int
main (int argc, char **argv)
{
    bool info = false;          /* --help, --version: nothing to run */
    for (int i = 1; i < argc; i++)
        info |= strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0
             || strcmp (argv[i], "--version") == 0;
    if (!info) {
        clog_init ("orchestrator", NULL);
        char why[512];
        if (llm_provider_check_default (why, sizeof why)) {
            clog_error (NULL, "%s", why);
            return 2;
        }
        char *models = llm_provider_summary ();
        clog_info (NULL, "models: %s", models ? models : "?");
        free (models);
    }
    return orch_main (argc, argv);
}
