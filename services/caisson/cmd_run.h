/* cmd_run: `caisson run`, `caisson approve` and `caisson decline`: start a
 * run and stream it in the terminal, or answer a run awaiting approval. */
#ifndef CAISSON_CMD_RUN_H
#define CAISSON_CMD_RUN_H

#include <stdbool.h>

/* True for the subcommands this module serves. */
bool cmd_run_handles (const char *command);

/* Runs one of them with the whole command line. Returns the exit status:
 * for `run`, 0 only when the run completed. */
int cmd_run_main (int argc, char **argv);

#endif
