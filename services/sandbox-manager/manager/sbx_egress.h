/* sbx_egress: the manager's side of network mode `policy`. It checks a
 * sandbox's allow and deny rules against the deployment's (presets
 * expanded, each allow rule within CAISSON_EGRESS_ALLOW_MAX), and tells
 * egress-proxy about policy sandboxes over the bus without blocking the
 * loop: `egress.policy.set` when one is created, updated or taken back at
 * start, `egress.policy.drop` when one goes, `egress.context` when one
 * starts working for another run. A set's answer (or its absence within
 * the request timeout and retries) is handed to a callback, so a create
 * can be answered only once its socket exists. */
#ifndef CAISSON_SBX_EGRESS_H
#define CAISSON_SBX_EGRESS_H

#include "sbx_mgr.h"

/* Called once per set: ack is the proxy's `egress.ack`, or NULL with why
 * saying what went wrong (no answer, an error). Both are borrowed. */
typedef void (sbx_egress_fn) (const proto_msg_t *ack, const char *why, void *arg);

/* A client of egress-proxy on the broker at endpoint, read from loop.
 * boxes (borrowed) is the manager's table: a set the proxy did not take
 * (it was down, say) is sent again (from the record, every six request
 * timeouts: 15 s by default) until it is, and so is a drop. */
sbx_egress_t *sbx_egress_new (zloop_t *loop, const char *endpoint, zhashx_t *boxes);
/* Calls every callback still waiting (no answer: the manager is stopping)
 * before it goes: destroy it while the boxes are still there. */
void sbx_egress_destroy (sbx_egress_t **self_p);

/* Checks a policy's rules: allow (a JSON array of rule strings, or NULL
 * for CAISSON_EGRESS_ALLOW) and deny (NULL: none). On success writes the
 * expanded, normalized arrays into *allow_out and *deny_out (the
 * caller's) and returns 0; else returns PROTO_ERR_bad_policy (a rule does
 * not parse), PROTO_ERR_forbidden (an allow rule outside the ceiling) or
 * PROTO_ERR_over_limit (too many rules), with why naming the rule. */
int sbx_egress_rules (const json_t *allow, const json_t *deny, json_t **allow_out,
                      json_t **deny_out, char *why, size_t n);

/* The same for sandbox.net.update: allow and deny are the rules in force
 * (normalized); allow_add (each within the ceiling), allow_remove and
 * deny_add (each may be NULL) change them. 0 with the new lists in
 * *allow_out and *deny_out, or an error code as above. */
int sbx_egress_update (const json_t *allow, const json_t *deny, const json_t *allow_add,
                       const json_t *allow_remove, const json_t *deny_add, json_t **allow_out,
                       json_t **deny_out, char *why, size_t n);
/* A network mode's rank (none 0 < policy 1 < host 2), -1 for anything else. */
int sbx_egress_mode_rank (const char *mode);

/* True when egress-proxy serves box: network policy, or a model key
 * (sbx_gkey.h) in mode none, whose policy allows nothing but the gateway
 * path. */
bool sbx_egress_proxied (box_t *box);
/* Sends box's policy (its record's networkAllow, networkDeny and uid) to
 * the proxy; fn (may be NULL: a failure is logged) gets the outcome. The
 * run and corr of cause (may be NULL) travel with it. Returns 0 or -1. */
int sbx_egress_set (sbx_egress_t *self, box_t *box, const proto_msg_t *cause,
                    sbx_egress_fn *fn, void *arg);
/* Tells the proxy box is gone (fire and forget, failures logged). */
void sbx_egress_drop (sbx_egress_t *self, const char *sandbox_id);
/* When req names a run other than the last one told for box (a policy
 * sandbox), tells the proxy box now works for it (fire and forget). */
void sbx_egress_context (sbx_egress_t *self, box_t *box, const proto_msg_t *req);
/* Re-sends the policy of every policy sandbox of home that is not broken
 * (after a restart or an adoption: the proxy may have lost or missed it). */
void sbx_egress_resync (sbx_egress_t *self, sbx_mgr_t *m, const sbx_home_t *home);
/* The environment a policy sandbox's processes get (proxy variables),
 * with box's envVars over it; a new object. For other modes, a copy of
 * envVars. */
json_t *sbx_egress_env (box_t *box);

#endif
