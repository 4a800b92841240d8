/* cmd_memory: `caisson memory show|edit|set|clear`, the working memory of
 * the CLI's user (--user), which event-log keeps (proto/memory.def). */
#ifndef CAISSON_CMD_MEMORY_H
#define CAISSON_CMD_MEMORY_H

/* Runs `caisson memory ...` (after the CLI's own set-up). Returns the exit
 * status: 0, 1 when the stack refused (the reason on stderr), 2 for a
 * usage error. */
int cmd_memory_main (int argc, char **argv);

#endif
