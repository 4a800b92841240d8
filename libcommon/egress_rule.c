/* egress_rule: parsing and normalizing sandbox network rules, lists and
 * presets. See egress_rule.h for the syntax; egress_check.c applies them.
 *
 * Rules are parsed once into immutable lists, so a list may be read from
 * any number of threads. An IPv6 rule with a port is bracketed, prefix
 * inside: `[fd00::/8]:443`. A CIDR with host bits set is refused rather
 * than widened, so `10.1.2.3/8` does not quietly open all of 10/8. */
#include "egress_rule_int.h"
#include "sandbox_id.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRESET_NAME_MAX 32

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
