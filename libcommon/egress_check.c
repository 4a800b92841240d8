/* egress_check: the checks of one connection against a sandbox's rules
 * (the name step, the address step), address classes, and the ceiling
 * subset test. See egress_rule.h; egress_rule.c parses the rules.
 *
 * Ports: a rule without a port means 80 and 443 when it grants (a
 * sandbox's allow list) and every port when it restricts (a deny list, or
 * a ceiling bounding what may be granted), so that `deny: [x.org]` shuts
 * x.org whatever the port and the default ceiling `*` does not silently
 * forbid `host:8000`. Pure and without state: safe from any thread. */
#include "egress_rule_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- addresses -------------------------------------------------------- */

typedef struct {
    const char *net;
    int prefix;
    egress_addr_class_t c;
} block_t;

/* First match wins, so the metadata address precedes link-local. */
static const block_t blocks4[] = {
    { "169.254.169.254", 32, EGRESS_ADDR_METADATA }, { "0.0.0.0", 8, EGRESS_ADDR_UNSPEC },
    { "127.0.0.0", 8, EGRESS_ADDR_LOOPBACK },        { "10.0.0.0", 8, EGRESS_ADDR_PRIVATE },
    { "172.16.0.0", 12, EGRESS_ADDR_PRIVATE },       { "192.168.0.0", 16, EGRESS_ADDR_PRIVATE },
    { "169.254.0.0", 16, EGRESS_ADDR_LINKLOCAL },    { "100.64.0.0", 10, EGRESS_ADDR_CGNAT },
    { "224.0.0.0", 4, EGRESS_ADDR_MULTICAST },       { "240.0.0.0", 4, EGRESS_ADDR_MULTICAST },
    { "192.0.0.0", 24, EGRESS_ADDR_UNSPEC },         { "192.0.2.0", 24, EGRESS_ADDR_UNSPEC },
    { "198.18.0.0", 15, EGRESS_ADDR_UNSPEC },        { "198.51.100.0", 24, EGRESS_ADDR_UNSPEC },
    { "203.0.113.0", 24, EGRESS_ADDR_UNSPEC },
};
/* Global unicast is 2000::/3; everything outside it that is not listed
 * here is unspecified. ::ffff:0:0/96 and 64:ff9b::/96 are unwrapped first. */
static const block_t blocks6[] = {
    { "::1", 128, EGRESS_ADDR_LOOPBACK },   { "fd00:ec2::254", 128, EGRESS_ADDR_METADATA },
    { "fc00::", 7, EGRESS_ADDR_PRIVATE },   { "fe80::", 10, EGRESS_ADDR_LINKLOCAL },
    { "ff00::", 8, EGRESS_ADDR_MULTICAST }, { "2001:db8::", 32, EGRESS_ADDR_UNSPEC },
};

/* True when the first `prefix` bits of a and b agree. */
static bool
bits_equal (const uint8_t *a, const uint8_t *b, int prefix)
{
    int whole = prefix / 8, rest = prefix % 8;
    if (memcmp (a, b, (size_t) whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t) (0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

static bool
block_has (const block_t *b, int family, const uint8_t *addr, int prefix)
{
    uint8_t net[16];
    inet_pton (family, b->net, net);
    return prefix >= b->prefix && bits_equal (net, addr, b->prefix);
}

/* True when the ranges overlap: one contains the other. */
static bool
block_overlaps (const block_t *b, int family, const uint8_t *addr, int prefix)
{
    uint8_t net[16];
    inet_pton (family, b->net, net);
    return bits_equal (net, addr, prefix < b->prefix ? prefix : b->prefix);
}

static const uint8_t mapped_pfx[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
static const uint8_t nat64_pfx[12] = { 0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0 };

/* An address as bytes, with the IPv4 address inside an IPv4-mapped or
 * NAT64 IPv6 one in v4 (family AF_INET there). false for another family. */
typedef struct {
    int family;
    bool v6;           /* given as IPv6 */
    uint8_t raw[16];   /* as given */
    uint8_t v4[4];     /* valid when family is AF_INET */
} addr_t;

static bool
addr_read (const struct sockaddr *sa, addr_t *a)
{
    memset (a, 0, sizeof *a);
    if (sa && sa->sa_family == AF_INET) {
        a->family = AF_INET;
        memcpy (a->v4, &((const struct sockaddr_in *) sa)->sin_addr, 4);
        memcpy (a->raw, a->v4, 4);
        return true;
    }
    if (sa && sa->sa_family == AF_INET6) {
        a->family = AF_INET6;
        a->v6 = true;
        memcpy (a->raw, &((const struct sockaddr_in6 *) sa)->sin6_addr, 16);
        if (!memcmp (a->raw, mapped_pfx, 12) || !memcmp (a->raw, nat64_pfx, 12)) {
            a->family = AF_INET;
            memcpy (a->v4, a->raw + 12, 4);
        }
        return true;
    }
    return false;
}

static egress_addr_class_t
addr_class (const addr_t *a)
{
    if (a->family == AF_INET) {
        for (size_t i = 0; i < sizeof blocks4 / sizeof blocks4[0]; i++)
            if (block_has (&blocks4[i], AF_INET, a->v4, 32))
                return blocks4[i].c;
        return EGRESS_ADDR_PUBLIC;
    }
    for (size_t i = 0; i < sizeof blocks6 / sizeof blocks6[0]; i++)
        if (block_has (&blocks6[i], AF_INET6, a->raw, 128))
            return blocks6[i].c;
    return (a->raw[0] & 0xe0) == 0x20 ? EGRESS_ADDR_PUBLIC : EGRESS_ADDR_UNSPEC;
}

egress_addr_class_t
egress_addr_class (const struct sockaddr *addr)
{
    addr_t a;
    return addr_read (addr, &a) ? addr_class (&a) : EGRESS_ADDR_UNSPEC;
}

const char *
egress_addr_class_name (egress_addr_class_t c)
{
    static const char *const names[] = { "public",   "loopback", "private",   "link-local",
                                         "metadata", "CGNAT",    "multicast", "unspecified" };
    return (unsigned) c < sizeof names / sizeof names[0] ? names[c] : "unspecified";
}

/* True when the whole range of an address rule is public. */
static bool
range_public (const rule_t *r)
{
    if (r->family == AF_INET) {
        for (size_t i = 0; i < sizeof blocks4 / sizeof blocks4[0]; i++)
            if (block_overlaps (&blocks4[i], AF_INET, r->addr, r->prefix))
                return false;
        return true;
    }
    if (r->prefix < 3 || (r->addr[0] & 0xe0) != 0x20)
        return false;
    for (size_t i = 0; i < sizeof blocks6 / sizeof blocks6[0]; i++)
        if (block_overlaps (&blocks6[i], AF_INET6, r->addr, r->prefix))
            return false;
    return true;
}

/* ---- matching --------------------------------------------------------- */

/* wide: a rule without a port covers every port (deny lists, ceilings);
 * otherwise 80 and 443. */
static bool
port_in (const rule_t *r, uint16_t port, bool wide)
{
    if (r->nports == 0)
        return wide || port == 80 || port == 443;
    for (size_t i = 0; i < r->nports; i++)
        if (port >= r->ports[i].lo && port <= r->ports[i].hi)
            return true;
    return false;
}

static bool
name_in (const rule_t *r, const char *host)
{
    if (r->kind == R_ANY)
        return true;
    if (r->kind == R_NAME)
        return !strcmp (r->name, host);
    if (r->kind == R_SUFFIX) {
        size_t hl = strlen (host), sl = strlen (r->name);
        return hl > sl + 1 && host[hl - sl - 1] == '.' && !strcmp (host + hl - sl, r->name);
    }
    return false;
}

static bool
addr_in (const rule_t *r, const addr_t *a)
{
    if (r->kind != R_ADDR)
        return false;
    if (r->family == AF_INET)
        return a->family == AF_INET && bits_equal (r->addr, a->v4, r->prefix);
    return a->v6 && bits_equal (r->addr, a->raw, r->prefix);
}

typedef enum { BY_NAME, BY_ADDR, BY_ADDR_OR_ANY } by_t;

/* The rule of list that grants host or a (as by says) on port, one naming
 * its ports preferred; NULL when none does. */
static const rule_t *
grant (const egress_rules_t *list, by_t by, const char *host, const addr_t *a, uint16_t port,
       bool wide)
{
    const rule_t *found = NULL;
    for (size_t i = 0; list && i < list->n; i++) {
        const rule_t *r = &list->r[i];
        bool hit = by == BY_NAME ? r->kind != R_ADDR && name_in (r, host)
                                 : addr_in (r, a) || (by == BY_ADDR_OR_ANY && r->kind == R_ANY);
        if (hit && port_in (r, port, wide) && (!found || (!found->nports && r->nports)))
            found = r;
    }
    return found;
}

/* The first deny rule of list matching the name (when host is one), the
 * address (when a is given), or `*`. */
static const rule_t *
denied (const egress_rules_t *list, const char *host, const addr_t *a, uint16_t port)
{
    for (size_t i = 0; list && i < list->n; i++) {
        const rule_t *r = &list->r[i];
        bool hit = r->kind == R_ANY || (host && r->kind != R_ADDR && name_in (r, host))
                   || (a && addr_in (r, a));
        if (hit && port_in (r, port, true))
            return r;
    }
    return NULL;
}

static egress_verdict_t
refuse (const rule_t *r, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static egress_verdict_t
refuse (const rule_t *r, const char *fmt, ...)
{
    egress_verdict_t v;
    memset (&v, 0, sizeof v);
    if (r)
        snprintf (v.rule, sizeof v.rule, "%s", r->text);
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (v.reason, sizeof v.reason, fmt, ap);
    va_end (ap);
    return v;
}

static egress_verdict_t
pass (const rule_t *r)
{
    egress_verdict_t v;
    memset (&v, 0, sizeof v);
    v.allow = true;
    if (r) {
        snprintf (v.rule, sizeof v.rule, "%s", r->text);
        v.port_named = r->nports > 0;
    }
    return v;
}

static bool
is_literal (const char *host)
{
    struct in_addr a4;
    return strchr (host, ':') || inet_pton (AF_INET, host, &a4) == 1;
}

/* Normalizes host into out, or writes the refusal into v. */
static bool
host_ok (const char *host, char out[256], egress_verdict_t *v)
{
    char why[200];
    if (egress_host_normalize (host, out, 256, why, sizeof why) == 0)
        return true;
    *v = refuse (NULL, "blocked by policy: '%.100s' is not a host name (%s)", host ? host : "",
                 why);
    return false;
}

static egress_verdict_t
name_step (const egress_policy_t *policy, const char *host, uint16_t port)
{
    const rule_t *r = denied (policy->deny, host, NULL, port);
    if (!r)
        r = denied (policy->deny_all, host, NULL, port);
    if (r)
        return refuse (r, "blocked by policy: %s matches deny rule '%s'", host, r->text);
    const rule_t *g = grant (policy->allow, BY_NAME, host, NULL, port, false);
    if (!g)
        return refuse (NULL, "blocked by policy: %s is not in this sandbox's allow list", host);
    if (policy->ceiling && !grant (policy->ceiling, BY_NAME, host, NULL, port, true))
        return refuse (NULL,
                       "blocked by policy: %s is allowed by rule '%s', but this deployment "
                       "does not allow it",
                       host, g->text);
    return pass (g);
}

egress_verdict_t
egress_check_name (const egress_policy_t *policy, const char *host, uint16_t port)
{
    char h[256];
    egress_verdict_t v;
    if (!host_ok (host, h, &v))
        return v;
    return is_literal (h) ? pass (NULL) : name_step (policy, h, port);
}

egress_verdict_t
egress_check_addr (const egress_policy_t *policy, const char *host, const struct sockaddr *addr,
                   uint16_t port)
{
    char h[256], text[INET6_ADDRSTRLEN];
    egress_verdict_t v;
    addr_t a;
    if (!host_ok (host, h, &v))
        return v;
    if (!addr_read (addr, &a))
        return refuse (NULL, "blocked by policy: %s has no IP address", h);
    inet_ntop (a.v6 ? AF_INET6 : AF_INET, a.raw, text, sizeof text);
    bool literal = is_literal (h);
    if (!literal) {
        v = name_step (policy, h, port);
        if (!v.allow)
            return v;
    }
    const rule_t *r = denied (policy->deny, NULL, &a, port);
    if (!r)
        r = denied (policy->deny_all, NULL, &a, port);
    if (r)
        return refuse (r, "blocked by policy: %s matches deny rule '%s'", h, r->text);
    egress_addr_class_t c = addr_class (&a);
    if (c == EGRESS_ADDR_PUBLIC && !literal)
        return v;   /* the name rule decided */
    by_t by = c == EGRESS_ADDR_PUBLIC ? BY_ADDR_OR_ANY : BY_ADDR;
    const rule_t *g = grant (policy->allow, by, h, &a, port, false);
    if (!g && c == EGRESS_ADDR_PUBLIC)
        return refuse (NULL, "blocked by policy: %s is not in this sandbox's allow list", h);
    if (!g && literal)
        return refuse (NULL, "blocked by policy: %s is a %s address (list the address to allow it)",
                       h, egress_addr_class_name (c));
    if (!g)
        return refuse (NULL,
                       "blocked by policy: %s resolves to %s, a %s address (list the address "
                       "to allow it)",
                       h, text, egress_addr_class_name (c));
    if (policy->ceiling && !grant (policy->ceiling, by, h, &a, port, true))
        return refuse (NULL,
                       "blocked by policy: %s (%s) is allowed by rule '%s', but this deployment "
                       "does not allow it",
                       h, text, g->text);
    return pass (g);
}

/* ---- ceilings --------------------------------------------------------- */

static bool
ports_within (const rule_t *r, const rule_t *c)
{
    static const port_range_t web[2] = { { 80, 80 }, { 443, 443 } };
    if (c->nports == 0)
        return true;
    const port_range_t *rp = r->nports ? r->ports : web;
    size_t rn = r->nports ? r->nports : 2;
    for (size_t i = 0; i < rn; i++) {
        uint32_t cur = rp[i].lo;
        while (cur <= rp[i].hi) {
            size_t j = 0;
            while (j < c->nports && !(cur >= c->ports[j].lo && cur <= c->ports[j].hi))
                j++;
            if (j == c->nports)
                return false;
            cur = (uint32_t) c->ports[j].hi + 1;
        }
    }
    return true;
}

static bool
rule_within (const rule_t *r, const rule_t *c)
{
    if (!ports_within (r, c))
        return false;
    switch (r->kind) {
    case R_NAME:
        return c->kind != R_ADDR && name_in (c, r->name);
    case R_SUFFIX:
        return c->kind == R_ANY
               || (c->kind == R_SUFFIX && (!strcmp (c->name, r->name) || name_in (c, r->name)));
    case R_ANY:
        return c->kind == R_ANY;
    case R_ADDR:
        if (c->kind == R_ANY)
            return range_public (r);
        return c->kind == R_ADDR && c->family == r->family && c->prefix <= r->prefix
               && bits_equal (c->addr, r->addr, c->prefix);
    }
    return false;
}

int
egress_rules_within (const egress_rules_t *rules, const egress_rules_t *ceiling, char *why,
                     size_t n)
{
    for (size_t i = 0; ceiling && rules && i < rules->n; i++) {
        size_t j = 0;
        while (j < ceiling->n && !rule_within (&rules->r[i], &ceiling->r[j]))
            j++;
        if (j == ceiling->n) {
            if (why && n)
                snprintf (why, n, "network rule '%s' is outside this deployment's ceiling",
                          rules->r[i].text);
            return -1;
        }
    }
    return 0;
}
