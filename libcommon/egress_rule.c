/* egress_rule: parsing sandbox network rules and checking one connection
 * against them. See egress_rule.h for the rule syntax and the two steps.
 *
 * Rules are parsed once into immutable lists, so a list may be read from
 * any number of threads. Ports: a rule without a port means 80 and 443
 * when it grants (a sandbox's allow list) and every port when it restricts
 * (a deny list, or a ceiling bounding what may be granted), so that
 * `deny: [x.org]` shuts x.org whatever the port and the default ceiling
 * `*` does not silently forbid `host:8000`.
 * An IPv6 rule with a port is bracketed, prefix inside: `[fd00::/8]:443`. */
#include "egress_rule.h"
#include "sandbox_id.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PORT_RANGES_MAX 16
#define PRESET_NAME_MAX 32

typedef enum { R_NAME, R_SUFFIX, R_ANY, R_ADDR } rule_kind_t;

typedef struct {
    uint16_t lo, hi;
} port_range_t;

typedef struct {
    rule_kind_t kind;
    char text[EGRESS_RULE_MAX + 1];   /* normalized, as shown and stored */
    char name[256];                   /* R_NAME: the host; R_SUFFIX: after "*." */
    int family;                       /* R_ADDR: AF_INET or AF_INET6 */
    uint8_t addr[16];
    int prefix;
    size_t nports;                    /* 0: no port written */
    port_range_t ports[PORT_RANGES_MAX];
} rule_t;

struct egress_rules_t {
    size_t n, cap;
    rule_t *r;
};

typedef struct {
    char name[PRESET_NAME_MAX + 1];
    egress_rules_t *rules;
} preset_t;

struct egress_presets_t {
    size_t n;
    preset_t p[64];
};

static const char *const builtin_presets =
    "pypi=pypi.org files.pythonhosted.org;"
    "npm=registry.npmjs.org;"
    "debian=deb.debian.org security.debian.org;"
    "github=github.com *.github.com codeload.github.com objects.githubusercontent.com "
    "raw.githubusercontent.com";

static int fail (char *why, size_t n, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

/* Writes the reason a parse failed into why (n bytes), returns -1. */
static int
fail (char *why, size_t n, const char *fmt, ...)
{
    if (why && n) {
        va_list ap;
        va_start (ap, fmt);
        vsnprintf (why, n, fmt, ap);
        va_end (ap);
    }
    return -1;
}

/* ---- names ------------------------------------------------------------ */

static bool
all_digits (const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* Checks a lowercased name without trailing dot: labels of 1..63 letters,
 * digits and '-', 253 bytes at most, and not a numeric last label unless
 * it is a dotted-quad IPv4 address (so `300.1.1.1`, `127.1` are refused
 * rather than handed to a resolver that reads them as addresses). */
static int
name_check (const char *s, char *why, size_t wn)
{
    size_t len = strlen (s);
    if (len == 0)
        return fail (why, wn, "empty host");
    if (len > 253)
        return fail (why, wn, "host name longer than 253 bytes");
    const char *label = s;
    for (const char *p = s;; p++) {
        if (*p == '.' || *p == 0) {
            size_t ll = (size_t) (p - label);
            if (ll == 0)
                return fail (why, wn, "empty label in '%s'", s);
            if (ll > 63)
                return fail (why, wn, "label longer than 63 bytes in '%s'", s);
            if (*p == 0)
                break;
            label = p + 1;
        }
        else if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return fail (why, wn, "bad character in '%s'", s);
    }
    struct in_addr a4;
    if (all_digits (label, strlen (label)) && inet_pton (AF_INET, s, &a4) != 1)
        return fail (why, wn, "'%s' is not an IPv4 address", s);
    return 0;
}

int
egress_host_normalize (const char *host, char *out, size_t n, char *why, size_t wn)
{
    if (out && n)
        out[0] = 0;
    if (!host || !*host)
        return fail (why, wn, "empty host");
    char buf[300];
    size_t len = strnlen (host, sizeof buf);
    if (len >= sizeof buf)
        return fail (why, wn, "host name longer than 253 bytes");
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = (unsigned char) host[i];
        if (c >= 0x80)
            return fail (why, wn, "host is not ASCII (write it in punycode)");
        buf[i] = (char) (c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    if (strchr (buf, ':')) {
        char *v6 = buf;
        if (buf[0] == '[' && buf[len - 1] == ']') {
            buf[len - 1] = 0;
            v6 = buf + 1;
        }
        struct in6_addr a6;
        if (inet_pton (AF_INET6, v6, &a6) != 1)
            return fail (why, wn, "'%s' is not an IPv6 address", v6);
        if (strlen (v6) >= n)
            return fail (why, wn, "host does not fit");
        strcpy (out, v6);
        return 0;
    }
    if (len > 1 && buf[len - 1] == '.')
        buf[--len] = 0;
    if (name_check (buf, why, wn) < 0)
        return -1;
    if (len >= n)
        return fail (why, wn, "host does not fit");
    memcpy (out, buf, len + 1);
    return 0;
}

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

/* ---- parsing one rule ------------------------------------------------- */

static int
ports_parse (const char *s, rule_t *r, char *why, size_t wn)
{
    const char *p = s;
    for (;;) {
        if (r->nports == PORT_RANGES_MAX)
            return fail (why, wn, "more than 16 port ranges");
        long v[2] = { 0, 0 };
        int k = 0;
        for (;;) {
            size_t d = 0;
            while (p[d] >= '0' && p[d] <= '9')
                d++;
            if (d == 0 || d > 5)
                return fail (why, wn, "bad port list '%s'", s);
            for (size_t i = 0; i < d; i++)
                v[k] = v[k] * 10 + (p[i] - '0');
            if (v[k] < 1 || v[k] > 65535)
                return fail (why, wn, "port out of range in '%s'", s);
            p += d;
            if (*p == '-' && k == 0) {
                k = 1;
                p++;
                continue;
            }
            break;
        }
        if (k == 0)
            v[1] = v[0];
        if (v[1] < v[0])
            return fail (why, wn, "empty port range in '%s'", s);
        r->ports[r->nports++] = (port_range_t) { (uint16_t) v[0], (uint16_t) v[1] };
        if (*p == 0)
            return 0;
        if (*p++ != ',')
            return fail (why, wn, "bad port list '%s'", s);
    }
}

/* Parses an address or CIDR (brackets already removed) into r. */
static int
addr_parse (char *s, rule_t *r, char *why, size_t wn)
{
    char *slash = strchr (s, '/');
    if (slash)
        *slash = 0;
    r->family = strchr (s, ':') ? AF_INET6 : AF_INET;
    int full = r->family == AF_INET ? 32 : 128;
    if (inet_pton (r->family, s, r->addr) != 1)
        return fail (why, wn, "'%s' is not an %s address", s,
                     r->family == AF_INET ? "IPv4" : "IPv6");
    r->prefix = full;
    if (slash) {
        const char *ps = slash + 1;
        size_t d = strlen (ps);
        if (!all_digits (ps, d) || d > 3 || atoi (ps) > full)
            return fail (why, wn, "bad prefix length '/%s'", ps);
        r->prefix = atoi (ps);
        uint8_t net[16];
        memcpy (net, r->addr, sizeof net);
        for (int b = r->prefix; b < full; b++)
            net[b / 8] &= (uint8_t) ~(0x80 >> (b % 8));
        if (memcmp (net, r->addr, (size_t) full / 8) != 0) {
            char text[INET6_ADDRSTRLEN];
            inet_ntop (r->family, net, text, sizeof text);
            return fail (why, wn, "host bits set (did you mean %s/%s?)", text, ps);
        }
    }
    return 0;
}

static void
ports_text (const rule_t *r, char *out, size_t n)
{
    size_t at = 0;
    out[0] = 0;
    for (size_t i = 0; i < r->nports && at < n; i++) {
        const port_range_t *p = &r->ports[i];
        at += (size_t) (p->lo == p->hi
                            ? snprintf (out + at, n - at, "%s%u", i ? "," : "", p->lo)
                            : snprintf (out + at, n - at, "%s%u-%u", i ? "," : "", p->lo, p->hi));
    }
}

/* Parses one lowercased rule (not a preset name) into r and writes its
 * normalized text. */
static int
rule_parse (const char *in, rule_t *r, char *why, size_t wn)
{
    char s[EGRESS_RULE_MAX + 1], *host = s, *ports = NULL;
    memset (r, 0, sizeof *r);
    snprintf (s, sizeof s, "%s", in);
    bool v6 = false;
    if (s[0] == '[') {
        char *close = strchr (s, ']');
        if (!close)
            return fail (why, wn, "'[' without ']'");
        *close = 0;
        host = s + 1;
        if (close[1] == ':')
            ports = close + 2;
        else if (close[1])
            return fail (why, wn, "text after ']'");
        v6 = true;
    }
    else {
        char *c1 = strchr (s, ':');
        if (c1 && strchr (c1 + 1, ':'))
            v6 = true;   /* a bare IPv6 address takes no port */
        else if (c1) {
            *c1 = 0;
            ports = c1 + 1;
        }
    }
    if (ports && ports_parse (ports, r, why, wn) < 0)
        return -1;
    char pt[256];
    ports_text (r, pt, sizeof pt);
    if (v6 || strchr (host, '/') || inet_pton (AF_INET, host, r->addr) == 1) {
        r->kind = R_ADDR;
        if (addr_parse (host, r, why, wn) < 0)
            return -1;
        if (v6 != (r->family == AF_INET6))
            return fail (why, wn, "brackets hold only IPv6 addresses");
        char a[INET6_ADDRSTRLEN], ap[INET6_ADDRSTRLEN + 16];
        inet_ntop (r->family, r->addr, a, sizeof a);
        if (r->prefix < (r->family == AF_INET ? 32 : 128))
            snprintf (ap, sizeof ap, "%s/%d", a, r->prefix);
        else
            snprintf (ap, sizeof ap, "%s", a);
        if (r->nports && r->family == AF_INET6)
            snprintf (r->text, sizeof r->text, "[%s]:%s", ap, pt);
        else
            snprintf (r->text, sizeof r->text, "%s%s%s", ap, r->nports ? ":" : "", pt);
        return 0;
    }
    if (!strcmp (host, "*"))
        r->kind = R_ANY;
    else {
        bool suffix = !strncmp (host, "*.", 2);
        r->kind = suffix ? R_SUFFIX : R_NAME;
        const char *name = suffix ? host + 2 : host;
        if (egress_host_normalize (name, r->name, sizeof r->name, why, wn) < 0)
            return -1;
        if (!suffix && !strchr (r->name, '.'))
            return fail (why, wn, "unknown preset '%s'", r->name);
    }
    snprintf (r->text, sizeof r->text, "%s%s%s%s", r->kind == R_SUFFIX ? "*." : "",
              r->kind == R_ANY ? "*" : r->name, r->nports ? ":" : "", pt);
    return 0;
}

/* ---- lists ------------------------------------------------------------ */

static egress_rules_t *
rules_new (void)
{
    return xcalloc (1, sizeof (egress_rules_t));
}

void
egress_rules_destroy (egress_rules_t **self_p)
{
    if (self_p && *self_p) {
        free ((*self_p)->r);
        free (*self_p);
        *self_p = NULL;
    }
}

static bool
rules_has (const egress_rules_t *self, const char *text)
{
    for (size_t i = 0; self && i < self->n; i++)
        if (!strcmp (self->r[i].text, text))
            return true;
    return false;
}

/* Appends r unless already there. -1 when the list is full. */
static int
rules_add (egress_rules_t *self, const rule_t *r, char *why, size_t wn)
{
    if (rules_has (self, r->text))
        return 0;
    if (self->n == EGRESS_RULES_MAX)
        return fail (why, wn, "network rules: more than %d rules", EGRESS_RULES_MAX);
    if (self->n == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 8;
        self->r = xrealloc (self->r, self->cap * sizeof (rule_t));
    }
    self->r[self->n++] = *r;
    return 0;
}

static const preset_t *
preset_find (const egress_presets_t *p, const char *name)
{
    for (size_t i = 0; p && i < p->n; i++)
        if (!strcmp (p->p[i].name, name))
            return &p->p[i];
    return NULL;
}

/* Adds one rule string to self, expanding a preset name from presets
 * (NULL inside a preset's own definition, where presets do not nest). */
static int
rules_add_text (egress_rules_t *self, const char *text, const egress_presets_t *presets,
                bool in_preset, char *why, size_t wn)
{
    char s[EGRESS_RULE_MAX + 1], e[200];
    size_t len = strnlen (text, EGRESS_RULE_MAX + 1);
    if (len > EGRESS_RULE_MAX)
        return fail (why, wn, "network rule '%.40s...': longer than %d bytes", text,
                     EGRESS_RULE_MAX);
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = (unsigned char) text[i];
        if (c >= 0x80)
            return fail (why, wn, "network rule '%s': not ASCII (use punycode)", text);
        s[i] = (char) (c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    if (len == 0)
        return fail (why, wn, "network rule '': empty");
    const preset_t *p = preset_find (presets, s);
    if (p) {
        for (size_t i = 0; i < p->rules->n; i++)
            if (rules_add (self, &p->rules->r[i], why, wn) < 0)
                return -1;
        return 0;
    }
    rule_t r;
    if (rule_parse (s, &r, e, sizeof e) < 0) {
        if (in_preset && !strncmp (e, "unknown preset", 14))
            snprintf (e, sizeof e, "a preset cannot name another preset");
        return fail (why, wn, "network rule '%s': %s", text, e);
    }
    return rules_add (self, &r, why, wn);
}

egress_rules_t *
egress_rules_from_json (const json_t *list, const egress_presets_t *presets, char *why, size_t n)
{
    egress_rules_t *self = rules_new ();
    if (!list)
        return self;
    if (!json_is_array (list) || json_array_size (list) > EGRESS_RULES_MAX) {
        if (json_is_array (list))
            fail (why, n, "network rules: more than %d rules", EGRESS_RULES_MAX);
        else
            fail (why, n, "network rules: not a list");
        egress_rules_destroy (&self);
        return NULL;
    }
    for (size_t i = 0; i < json_array_size (list); i++) {
        const char *text = json_string_value (json_array_get (list, i));
        int rc = text ? rules_add_text (self, text, presets, false, why, n)
                      : fail (why, n, "network rules: entry %zu is not a string", i + 1);
        if (rc < 0) {
            egress_rules_destroy (&self);
            return NULL;
        }
    }
    return self;
}

/* Splits csv at commas, joining a piece that is only ports ("443",
 * "8000-8100") to the rule before it, so `x.org:80,443` survives. */
egress_rules_t *
egress_rules_from_csv (const char *csv, const egress_presets_t *presets, char *why, size_t n)
{
    json_t *list = json_array ();
    const char *p = csv ? csv : "";
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t len = strcspn (p, ",");
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (!len)
            break;
        size_t last = json_array_size (list);
        const char *prev = last ? json_string_value (json_array_get (list, last - 1)) : NULL;
        if (strspn (p, "0123456789-") >= len && prev && strchr (prev, ':')) {
            size_t pl = strlen (prev) + len + 2;
            char *joined = xmalloc (pl);
            snprintf (joined, pl, "%s,%.*s", prev, (int) len, p);
            json_array_set_new (list, last - 1, json_string (joined));
            free (joined);
        }
        else
            json_array_append_new (list, json_stringn (p, len));
        p += strcspn (p, ",");
    }
    egress_rules_t *self = egress_rules_from_json (list, presets, why, n);
    json_decref (list);
    return self;
}

size_t
egress_rules_count (const egress_rules_t *self)
{
    return self ? self->n : 0;
}

json_t *
egress_rules_json (const egress_rules_t *self)
{
    json_t *list = json_array ();
    for (size_t i = 0; self && i < self->n; i++)
        json_array_append_new (list, json_string (self->r[i].text));
    return list;
}

egress_rules_t *
egress_rules_merge (const egress_rules_t *a, const egress_rules_t *b, bool remove, char *why,
                    size_t n)
{
    egress_rules_t *self = rules_new ();
    for (size_t i = 0; a && i < a->n; i++)
        if (!(remove && rules_has (b, a->r[i].text)))
            rules_add (self, &a->r[i], why, n);   /* a is within the limit */
    for (size_t i = 0; !remove && b && i < b->n; i++)
        if (rules_add (self, &b->r[i], why, n) < 0) {
            egress_rules_destroy (&self);
            return NULL;
        }
    return self;
}

/* ---- presets ---------------------------------------------------------- */

static int
presets_read (egress_presets_t *self, const char *config, char *why, size_t n)
{
    char *copy = xstrdup (config), *save = NULL, e[400];
    int rc = 0;
    egress_presets_t defined = { 0 };
    for (char *def = strtok_r (copy, ";", &save); def && rc == 0;
         def = strtok_r (NULL, ";", &save)) {
        def += strspn (def, " \t\n");
        if (!*def)
            continue;
        char *eq = strchr (def, '=');
        size_t nl = eq ? (size_t) (eq - def) : 0;
        while (nl && (def[nl - 1] == ' ' || def[nl - 1] == '\t'))
            nl--;
        bool ok = eq && nl && nl <= PRESET_NAME_MAX && def[0] >= 'a' && def[0] <= 'z'
                  && strspn (def, "abcdefghijklmnopqrstuvwxyz0123456789_-") == nl;
        if (ok)
            def[nl] = 0;
        if (!ok || preset_find (&defined, def) || self->n == 64) {
            rc = fail (why, n, "CAISSON_EGRESS_PRESETS: bad or repeated preset '%.40s'", def);
            break;
        }
        egress_rules_t *rules = rules_new ();
        char *rsave = NULL;
        for (char *t = strtok_r (eq + 1, " \t\n", &rsave); t && rc == 0;
             t = strtok_r (NULL, " \t\n", &rsave))
            if (rules_add_text (rules, t, NULL, true, e, sizeof e) < 0)
                rc = fail (why, n, "CAISSON_EGRESS_PRESETS: preset '%s': %s", def, e);
        if (rc < 0) {
            egress_rules_destroy (&rules);
            break;
        }
        snprintf (defined.p[defined.n++].name, PRESET_NAME_MAX + 1, "%s", def);
        preset_t *p = (preset_t *) preset_find (self, def);
        if (p)
            egress_rules_destroy (&p->rules);
        else
            p = &self->p[self->n++];
        snprintf (p->name, sizeof p->name, "%s", def);
        p->rules = rules;
    }
    free (copy);
    return rc;
}

egress_presets_t *
egress_presets_new (const char *config, char *why, size_t n)
{
    egress_presets_t *self = xcalloc (1, sizeof *self);
    if (presets_read (self, builtin_presets, why, n) < 0
        || (config && presets_read (self, config, why, n) < 0))
        egress_presets_destroy (&self);
    return self;
}

void
egress_presets_destroy (egress_presets_t **self_p)
{
    if (self_p && *self_p) {
        for (size_t i = 0; i < (*self_p)->n; i++)
            egress_rules_destroy (&(*self_p)->p[i].rules);
        free (*self_p);
        *self_p = NULL;
    }
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
        if (j == ceiling->n)
            return fail (why, n, "network rule '%s' is outside this deployment's ceiling",
                         rules->r[i].text);
    }
    return 0;
}

int
egress_socket_dir (const char *data, const char *sandbox_id, char *out, size_t n)
{
    if (out && n)
        out[0] = 0;
    if (!data || !*data || !out || !sandbox_id_valid (sandbox_id))
        return -1;
    int len = snprintf (out, n, "%s/sandboxes/%s/net", data, sandbox_id);
    if (len < 0 || (size_t) len >= n) {
        if (n)
            out[0] = 0;
        return -1;
    }
    return 0;
}
