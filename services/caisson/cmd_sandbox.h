/* cmd_sandbox: `caisson sandbox create|ls|info|exec|write|read|rm|pause|resume|net`,
 * people's way into sandbox-manager over the bus. */
#ifndef CAISSON_CMD_SANDBOX_H
#define CAISSON_CMD_SANDBOX_H

/* argv[0] is the subcommand (after `caisson sandbox`). Returns the exit
 * status: for exec, the command's own exit code. */
int cmd_sandbox (int argc, char **argv);

#endif
