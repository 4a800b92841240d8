/* net_tools: the agent's way to ask for more network (requestNetworkAccess).
 *
 * A sandbox in network mode `policy` reaches only what its allow rules
 * name (docs/sandbox.md § Network). When a connection is refused the
 * model sees "blocked by policy: <host> ..."; it may then ask for that
 * host with a reason. The tool's effect is external (it widens what the
 * sandbox can reach), so a run's approval gate asks a person first; a
 * rule outside the deployment's ceiling (CAISSON_EGRESS_ALLOW_MAX) is
 * refused by the tool itself, approved or not. Approved and within the
 * ceiling, the sandbox's manager adds the rule at once (sandbox.net.update)
 * and the sandbox keeps running. */
#ifndef TR_NET_TOOLS_H
#define TR_NET_TOOLS_H

#include "toolctx.h"

/* {sandboxId, host, reason} -> {success, allowed: [rules in force], note},
 * or a dry run's {wouldDo: "allow <host> for sandbox <id>: <reason>"}.
 * Errors: bad_policy (host is not one rule), forbidden (outside the
 * ceiling), and whatever sandbox-manager answers. */
tool_fn net_tools_request_access;

/* 0 when rule (one rule as the model wrote it) parses and lies within the
 * deployment's ceiling; else -1 with *error set (bad_policy or forbidden,
 * field "host"). */
int net_tools_check_rule (const char *rule, json_t **error);

#endif
