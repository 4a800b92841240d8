/* cmd_profile: `caisson profile list|show|create|diff|activate|rollback`,
 * the versioned profiles event-log keeps (proto/profiles.def): the system
 * prompt, tool descriptions, default budgets, checks and model runs use.
 * The CLI holds the bus key, so it acts as an operator. */
#ifndef CAISSON_CMD_PROFILE_H
#define CAISSON_CMD_PROFILE_H

#include <stdbool.h>

/* True when argv[1] names this command. */
bool cmd_profile_is (const char *argv1);

/* Runs `caisson profile ...` (after the CLI's own set-up). Returns the
 * exit status: 0, 1 when the stack refused (the reason on stderr), 2 for
 * a usage error. */
int cmd_profile_main (int argc, char **argv);

#endif
