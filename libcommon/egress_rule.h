/* egress_rule: a sandbox's network allow and deny rules, and the checks of
 * one connection against them (network mode `policy`, docs/sandbox.md §
 * Network).
 *
 * Pure: no I/O, no resolving, so sandbox-manager (checking a create against
 * the deployment's ceiling), tool-runner (requestNetworkAccess) and
 * egress-proxy (every connection) apply the same rules the same way.
 *
 * A rule is a string: a preset name (`pypi`); a host name, exact
 * (`pypi.org`); `*.suffix` (subdomains only, never the apex); `*` (any
 * public address: meant for ceilings); an IPv4 or IPv6 address (`[v6]`
 * when a port follows) or a CIDR (`10.1.0.0/16`, `fd00::/8`). Any of them
 * may end in `:port`, `:p1,p2` or `:lo-hi`; with no port, 80 and 443 (in
 * a deny list or a ceiling, which restrict: every port).
 * Names are ASCII (punycode for others), compared without case and
 * without a trailing dot.
 *
 * A connection is checked in two steps. The name step, before resolving:
 * a matching deny rule refuses, otherwise an allow rule must match the
 * name (an address literal goes straight to the address step). The
 * address step, for each resolved address: a matching deny rule refuses;
 * an address that is not public (loopback, private, link-local, metadata,
 * CGNAT, multicast, unspecified) is refused unless an address or CIDR
 * allow rule contains it, so a public name that resolves inward cannot
 * reach inside (no SSRF). The deployment's ceiling (CAISSON_EGRESS_ALLOW_MAX)
 * bounds the allow rules at both steps; its deny rules
 * (CAISSON_EGRESS_DENY) join the sandbox's. */
#ifndef CAISSON_EGRESS_RULE_H
#define CAISSON_EGRESS_RULE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Longest rule, in bytes, and most rules in one list (presets expanded). */
#define EGRESS_RULE_MAX 300
#define EGRESS_RULES_MAX 512

/* Where a sandbox's egress socket lives: the directory
 * `<data>/sandboxes/<id>/net` on the host, bound read-only at
 * EGRESS_SANDBOX_DIR inside the sandbox, holding EGRESS_SOCKET_NAME. */
#define EGRESS_SANDBOX_DIR "/run/caisson"
#define EGRESS_SOCKET_NAME "egress.sock"

typedef struct egress_presets_t egress_presets_t;
typedef struct egress_rules_t egress_rules_t;

/* The kinds of address the address step tells apart. An IPv4-mapped
 * (::ffff:a.b.c.d) or NAT64 (64:ff9b::/96) address is classed as the IPv4
 * address inside it. */
typedef enum {
    EGRESS_ADDR_PUBLIC,
    EGRESS_ADDR_LOOPBACK,
    EGRESS_ADDR_PRIVATE,   /* 10/8, 172.16/12, 192.168/16, fc00::/7 */
    EGRESS_ADDR_LINKLOCAL, /* 169.254/16, fe80::/10 */
    EGRESS_ADDR_METADATA,  /* 169.254.169.254, fd00:ec2::254 */
    EGRESS_ADDR_CGNAT,     /* 100.64/10 */
    EGRESS_ADDR_MULTICAST, /* 224/4, 240/4, 255.255.255.255, ff00::/8 */
    EGRESS_ADDR_UNSPEC     /* 0/8, ::, anything else not routable */
} egress_addr_class_t;

/* One check's outcome. rule is the rule that decided, as written (empty
 * when none matched); reason, for a refusal, is the sentence the client
 * and the model are given, e.g. "blocked by policy: x.org is not in this
 * sandbox's allow list". port_named is true when the deciding allow rule
 * names its ports explicitly (the proxy lets a CONNECT without TLS pass
 * only then). */
typedef struct {
    bool allow;
    bool port_named;
    char rule[EGRESS_RULE_MAX + 1];
    char reason[512];
} egress_verdict_t;

/* What a connection is checked against. Every member is borrowed; ceiling
 * and deny_all may be NULL (no ceiling, no deployment-wide denies). */
typedef struct {
    const egress_rules_t *allow;    /* the sandbox's allow rules */
    const egress_rules_t *deny;     /* the sandbox's deny rules */
    const egress_rules_t *ceiling;  /* CAISSON_EGRESS_ALLOW_MAX */
    const egress_rules_t *deny_all; /* CAISSON_EGRESS_DENY */
} egress_policy_t;

/* The built-in presets (pypi, npm, debian, github) with those of config
 * (CAISSON_EGRESS_PRESETS syntax: `name=rule rule;name2=rule`; NULL or ""
 * for none) over them. NULL, with why (n bytes) saying what is wrong,
 * when config does not parse. */
egress_presets_t *egress_presets_new (const char *config, char *why, size_t n);
void egress_presets_destroy (egress_presets_t **self_p);

/* Parses a JSON array of rule strings (NULL: an empty list), expanding
 * preset names from presets (may be NULL). NULL, with why naming the
 * first bad entry (`network rule 'x': ...`), when one does not parse, a
 * preset is unknown, or the list is longer than EGRESS_RULES_MAX. */
egress_rules_t *egress_rules_from_json (const json_t *list, const egress_presets_t *presets,
                                        char *why, size_t n);
/* The same for a comma-separated string (configuration); NULL or "" is an
 * empty list. */
egress_rules_t *egress_rules_from_csv (const char *csv, const egress_presets_t *presets,
                                       char *why, size_t n);
void egress_rules_destroy (egress_rules_t **self_p);

size_t egress_rules_count (const egress_rules_t *self);
/* A new JSON array of the rules, normalized and expanded (as stored and
 * sent to the proxy). The caller owns it. */
json_t *egress_rules_json (const egress_rules_t *self);
/* A new list: a's rules then b's not already in a, or a without b's when
 * remove is true. NULL (why set) when the result would be too long. */
egress_rules_t *egress_rules_merge (const egress_rules_t *a, const egress_rules_t *b, bool remove,
                                    char *why, size_t n);

/* 0 when every rule of rules asks for no more than ceiling allows (a name
 * rule within a name or suffix rule or `*`, an address rule within a CIDR,
 * ports within ports); -1 with why naming the first one outside
 * ("network rule 'x' is outside this deployment's ceiling"). A NULL
 * ceiling allows everything. */
int egress_rules_within (const egress_rules_t *rules, const egress_rules_t *ceiling, char *why,
                         size_t n);

/* The name step for host (a name, or an address literal, which passes
 * this step to be decided by the address step) and port. */
egress_verdict_t egress_check_name (const egress_policy_t *policy, const char *host, uint16_t port);
/* The address step for one resolved (or literal) address of host. */
egress_verdict_t egress_check_addr (const egress_policy_t *policy, const char *host,
                                    const struct sockaddr *addr, uint16_t port);

egress_addr_class_t egress_addr_class (const struct sockaddr *addr);
/* "public", "loopback", "private", "link-local", "metadata", "CGNAT",
 * "multicast", "unspecified". */
const char *egress_addr_class_name (egress_addr_class_t c);

/* Writes host lowercased, without a trailing dot, into out (n bytes).
 * 0, or -1 (why set) when host is not a name or address a rule could
 * match: empty, too long, non-ASCII, an empty label, a character other
 * than letters, digits, '-', '.', or ':' and brackets for IPv6. */
int egress_host_normalize (const char *host, char *out, size_t n, char *why, size_t wn);

/* Writes `<data>/sandboxes/<sandbox_id>/net` into out. 0, or -1 when it
 * does not fit or sandbox_id is not a sandbox id. */
int egress_socket_dir (const char *data, const char *sandbox_id, char *out, size_t n);

#endif
