/* cmd_sandbox_net: `caisson sandbox net ID ...`, a policy sandbox's egress
 * rules (docs/sandbox.md § Network) seen and changed from the command line:
 * the rules in force, additions and removals while it runs
 * (sandbox.net.update), the proxy's counters (egress.stats.get) and a live
 * line per connection decided (`sandbox.<id>.net`). */
#ifndef CAISSON_CMD_SANDBOX_NET_H
#define CAISSON_CMD_SANDBOX_NET_H

/* argv: the options after `caisson sandbox net ID`: [--allow R]...
 * [--remove R]... [--deny R]... [--reason TEXT], or --stats, or --watch.
 * service is the sandbox's manager instance. Returns the exit status. */
int cmd_sandbox_net (const char *service, const char *id, int argc, char **argv);

#endif
