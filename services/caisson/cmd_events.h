/* cmd_events: the caisson subcommands that read event-log: tap (live
 * events, from history first when asked), runs, show, artifact, stats. */
#ifndef CAISSON_CMD_EVENTS_H
#define CAISSON_CMD_EVENTS_H

#include <stdbool.h>

/* True when command is one of this module's subcommands. */
bool cmd_events_is (const char *command);

/* Runs `caisson <argv[1]> ...` (after the CLI's own set-up: limits, logs).
 * Returns the exit status. */
int cmd_events_main (int argc, char **argv);

#endif
