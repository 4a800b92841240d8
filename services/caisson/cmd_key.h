/* cmd_key: `caisson key create|list|revoke|usage|budget`: the model
 * gateway's virtual keys (vk_..., docs/gateway.md), asked of gateway-keys
 * over the bus. Not `caisson keys`, which makes the bus's CURVE keys. */
#ifndef CAISSON_CMD_KEY_H
#define CAISSON_CMD_KEY_H

/* Runs `caisson key ...` (argv[1] is "key"). Returns the exit status. */
int cmd_key (int argc, char **argv);

#endif
