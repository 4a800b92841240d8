/* cmd_eval: `caisson eval run|list|show|report|export` (docs/evals.md):
 * runs a golden set through the whole stack as the CLI's user and keeps
 * the results with event-log; reads, compares and exports them. */
#ifndef CAISSON_CMD_EVAL_H
#define CAISSON_CMD_EVAL_H

#include <stdbool.h>

/* True for the command this module serves (`eval`). */
bool cmd_eval_is (const char *argv1);

/* Runs it with the whole command line. Returns the exit status: 0 when
 * the eval ran (whatever its pass rate) or the record was read, 1 on a
 * harness error (a set that does not load, a stack that does not answer,
 * an attempt the harness could not carry out), 2 on bad usage, 130 when
 * interrupted. */
int cmd_eval_main (int argc, char **argv);

#endif
