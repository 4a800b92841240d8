/* cmd_threads: `caisson threads` and `caisson thread new|show|rename|rm`,
 * a user's conversation threads as event-log keeps them. */
#ifndef CAISSON_CMD_THREADS_H
#define CAISSON_CMD_THREADS_H

#include <stdbool.h>

/* True when command is `threads` or `thread`. */
bool cmd_threads_is (const char *command);

/* Runs `caisson <argv[1]> ...` (after the CLI's own set-up). Returns the
 * exit status: 0, 1 when the request failed, 2 on a usage error. */
int cmd_threads_main (int argc, char **argv);

#endif
