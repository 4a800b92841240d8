/* test_egress_rule: sandbox network rules through egress_rule's API alone
 * (no root, no network): parsing and normalizing rules, hostile input,
 * presets, the name and address steps (deny wins, suffixes never match
 * the apex, ports, CIDRs, inward addresses refused unless listed, the
 * ceiling at both steps), address classes with IPv4-mapped and NAT64
 * unwrapping, the ceiling subset test, merging and the socket path. */
#include "support.h"
#include "egress_rule.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static egress_rules_t *
csv (const char *text)
{
    char why[256] = "";
    egress_rules_t *r = egress_rules_from_csv (text, NULL, why, sizeof why);
    if (!r)
        fail_msg ("'%s' did not parse: %s", text, why);
    return r;
}

/* The list's normalized JSON, compact. */
static char *
dump (const egress_rules_t *r)
{
    json_t *j = egress_rules_json (r);
    char *s = json_dumps (j, JSON_COMPACT);
    json_decref (j);
    return s;
}

static void
expect_norm (const char *json_in, const char *want)
{
    char why[256] = "";
    json_t *in = json_loads (json_in, 0, NULL);
    assert_non_null (in);
    egress_rules_t *r = egress_rules_from_json (in, NULL, why, sizeof why);
    if (!r)
        fail_msg ("%s refused: %s", json_in, why);
    char *got = dump (r);
    if (strcmp (got, want))
        fail_msg ("%s normalized to %s, want %s", json_in, got, want);
    free (got);
    egress_rules_destroy (&r);
    json_decref (in);
}

static void
expect_bad (const char *rule, const char *why_has)
{
    char why[1024] = "";
    json_t *in = json_pack ("[s]", rule);
    egress_rules_t *r = egress_rules_from_json (in, NULL, why, sizeof why);
    if (r)
        fail_msg ("'%s' parsed, want refused", rule);
    if (!strstr (why, why_has) || !strstr (why, "network rule '"))
        fail_msg ("'%s' refused with '%s', want '%s'", rule, why, why_has);
    json_decref (in);
}

static void
test_parse (void **state)
{
    (void) state;
    expect_norm ("[\"PyPI.ORG.\", \"*.Example.com\", \"*\", \"x.org:8000\", \"y.org:80,443\","
                 " \"z.org:1000-2000\", \"10.1.0.0/16\", \"1.2.3.4:22\", \"FD00::/8\","
                 " \"[2001:DB8::1]:443\", \"[fd00::/8]:1-5\", \"127.0.0.2/32\", \"pypi.org\"]",
                 "[\"pypi.org\",\"*.example.com\",\"*\",\"x.org:8000\",\"y.org:80,443\","
                 "\"z.org:1000-2000\",\"10.1.0.0/16\",\"1.2.3.4:22\",\"fd00::/8\","
                 "\"[2001:db8::1]:443\",\"[fd00::/8]:1-5\",\"127.0.0.2\"]");
    expect_bad ("*.", "empty host");
    expect_bad ("*.*.x.org", "bad character");
    expect_bad ("a..b.org", "empty label");
    expect_bad (".a.org", "empty label");
    expect_bad ("x.org:0", "port out of range");
    expect_bad ("x.org:70000", "port out of range");
    expect_bad ("x.org:5-1", "empty port range");
    expect_bad ("x.org:", "bad port list");
    expect_bad ("x.org:80,", "bad port list");
    expect_bad ("x.org:8a", "bad port list");
    expect_bad ("10.0.0.0/33", "bad prefix length");
    expect_bad ("fd00::/129", "bad prefix length");
    expect_bad ("fd00::/8:443", "bad prefix length");   /* a port needs brackets */
    expect_bad ("10.1.2.3/8", "host bits set (did you mean 10.0.0.0/8?)");
    expect_bad ("300.1.1.1", "is not an IPv4 address");
    expect_bad ("127.1", "is not an IPv4 address");
    expect_bad ("b\xc3\xbc" "cher.de", "not ASCII");
    expect_bad ("x_y.org", "bad character");
    expect_bad ("x.org/8", "is not an IPv4 address");
    expect_bad ("[10.0.0.1]:80", "brackets hold only IPv6");
    expect_bad ("[fd00::1", "without ']'");
    expect_bad ("nosuchpreset", "unknown preset 'nosuchpreset'");
    expect_bad ("", "empty");
    char label[80], longname[300], rule[400];
    memset (label, 'a', 64);
    snprintf (label + 64, sizeof label - 64, ".org");
    expect_bad (label, "label longer than 63");
    longname[0] = 0;
    for (int i = 0; i < 5; i++)
        strcat (longname, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.");   /* 50 each */
    strcat (longname, "abcd");   /* 254 bytes */
    expect_bad (longname, "longer than 253");
    memset (rule, 'a', 350);
    rule[350] = 0;
    expect_bad (rule, "longer than 300 bytes");

    char many[400] = "x.org:", json_in[500], want[500];   /* 16 ranges, the most */
    for (int i = 0; i < 16; i++)
        snprintf (many + strlen (many), sizeof many - strlen (many), "%s%d-%d", i ? "," : "",
                  10000 + 2 * i, 10001 + 2 * i);
    snprintf (json_in, sizeof json_in, "[\"%s\"]", many);
    snprintf (want, sizeof want, "[\"%s\"]", many);
    expect_norm (json_in, want);
    strcat (many, ",9");
    expect_bad (many, "more than 16 port ranges");

    char why[256];
    json_t *notlist = json_string ("x.org");
    assert_null (egress_rules_from_json (notlist, NULL, why, sizeof why));
    assert_non_null (strstr (why, "not a list"));
    json_decref (notlist);
    json_t *mixed = json_pack ("[s,i]", "x.org", 5);
    assert_null (egress_rules_from_json (mixed, NULL, why, sizeof why));
    assert_non_null (strstr (why, "entry 2 is not a string"));
    json_decref (mixed);
    json_t *big = json_array ();
    for (int i = 0; i < 10000; i++) {
        char h[32];
        snprintf (h, sizeof h, "h%d.org", i);
        json_array_append_new (big, json_string (h));
    }
    assert_null (egress_rules_from_json (big, NULL, why, sizeof why));
    assert_non_null (strstr (why, "more than 512 rules"));
    egress_rules_t *r = egress_rules_from_json (NULL, NULL, why, sizeof why);
    assert_int_equal (egress_rules_count (r), 0);
    egress_rules_destroy (&r);
    assert_null (r);
    json_decref (big);

    r = csv (" a.org:80,443 , b.org,10.0.0.0/8:1-65535,,*");
    char *got = dump (r);
    assert_string_equal (got, "[\"a.org:80,443\",\"b.org\",\"10.0.0.0/8:1-65535\",\"*\"]");
    free (got);
    egress_rules_destroy (&r);
    r = csv ("");
    assert_int_equal (egress_rules_count (r), 0);
    egress_rules_destroy (&r);
}

static void
test_presets (void **state)
{
    (void) state;
    char why[256] = "";
    egress_presets_t *p = egress_presets_new (NULL, why, sizeof why);
    assert_non_null (p);
    egress_rules_t *r = egress_rules_from_csv ("pypi,npm,debian,GitHub,x.org", p, why, sizeof why);
    assert_non_null (r);
    char *got = dump (r);
    assert_string_equal (got, "[\"pypi.org\",\"files.pythonhosted.org\",\"registry.npmjs.org\","
                              "\"deb.debian.org\",\"security.debian.org\",\"github.com\","
                              "\"*.github.com\",\"codeload.github.com\","
                              "\"objects.githubusercontent.com\",\"raw.githubusercontent.com\","
                              "\"x.org\"]");
    free (got);
    egress_rules_destroy (&r);
    egress_presets_destroy (&p);
    assert_null (p);

    /* A configured preset replaces a built-in one of that name and adds new ones. */
    p = egress_presets_new (" pypi = pypi.test:8000 127.0.0.2:8000 ; corp=*.corp.example;", why,
                            sizeof why);
    assert_non_null (p);
    r = egress_rules_from_csv ("pypi,corp,npm", p, why, sizeof why);
    got = dump (r);
    assert_string_equal (got, "[\"pypi.test:8000\",\"127.0.0.2:8000\",\"*.corp.example\","
                              "\"registry.npmjs.org\"]");
    free (got);
    egress_rules_destroy (&r);
    egress_presets_destroy (&p);

    const char *bad[][2] = {
        { "mine=pypi", "a preset cannot name another preset" },
        { "self=self", "a preset cannot name another preset" },
        { "a=x.org;a=y.org", "bad or repeated preset 'a'" },
        { "=x.org", "bad or repeated preset" },
        { "x.org", "bad or repeated preset" },
        { "Bad Name=x.org", "bad or repeated preset" },
        { "9x=x.org", "bad or repeated preset" },
        { "m=a..b", "preset 'm': network rule 'a..b': empty label" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = 0;
        p = egress_presets_new (bad[i][0], why, sizeof why);
        if (p || !strstr (why, bad[i][1]) || !strstr (why, "CAISSON_EGRESS_PRESETS"))
            fail_msg ("presets '%s': %s, want '%s'", bad[i][0], why, bad[i][1]);
    }
}

static struct sockaddr_storage
sa (const char *text)
{
    struct sockaddr_storage ss;
    memset (&ss, 0, sizeof ss);
    if (strchr (text, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *) &ss;
        s6->sin6_family = AF_INET6;
        assert_int_equal (inet_pton (AF_INET6, text, &s6->sin6_addr), 1);
    }
    else {
        struct sockaddr_in *s4 = (struct sockaddr_in *) &ss;
        s4->sin_family = AF_INET;
        assert_int_equal (inet_pton (AF_INET, text, &s4->sin_addr), 1);
    }
    return ss;
}

static const char *
klass (const char *text)
{
    struct sockaddr_storage ss = sa (text);
    return egress_addr_class_name (egress_addr_class ((struct sockaddr *) &ss));
}

static void
test_classes (void **state)
{
    (void) state;
    const char *cases[][2] = {
        { "8.8.8.8", "public" },           { "127.0.0.1", "loopback" },
        { "127.255.0.9", "loopback" },     { "10.0.0.1", "private" },
        { "172.16.0.1", "private" },       { "172.31.255.255", "private" },
        { "172.32.0.1", "public" },        { "192.168.1.1", "private" },
        { "169.254.1.1", "link-local" },   { "169.254.169.254", "metadata" },
        { "100.64.0.1", "CGNAT" },         { "100.127.255.255", "CGNAT" },
        { "100.128.0.1", "public" },       { "224.0.0.1", "multicast" },
        { "240.0.0.1", "multicast" },      { "255.255.255.255", "multicast" },
        { "0.0.0.0", "unspecified" },      { "0.1.2.3", "unspecified" },
        { "192.0.2.7", "unspecified" },    { "::", "unspecified" },
        { "::1", "loopback" },             { "fc00::1", "private" },
        { "fd12::1", "private" },          { "fd00:ec2::254", "metadata" },
        { "fe80::1", "link-local" },       { "ff02::1", "multicast" },
        { "2001:db8::1", "unspecified" },  { "2606:4700::1111", "public" },
        { "::ffff:10.0.0.1", "private" },  { "::ffff:8.8.8.8", "public" },
        { "::ffff:127.0.0.1", "loopback" }, { "64:ff9b::a9fe:a9fe", "metadata" },
        { "64:ff9b::808:808", "public" },  { "100::1", "unspecified" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (strcmp (klass (cases[i][0]), cases[i][1]))
            fail_msg ("%s classed %s, want %s", cases[i][0], klass (cases[i][0]), cases[i][1]);
    struct sockaddr other = { .sa_family = AF_UNIX };
    assert_int_equal (egress_addr_class (&other), EGRESS_ADDR_UNSPEC);
    assert_int_equal (egress_addr_class (NULL), EGRESS_ADDR_UNSPEC);
}

static egress_policy_t
pol (egress_rules_t *allow, egress_rules_t *deny, egress_rules_t *ceiling, egress_rules_t *deny_all)
{
    return (egress_policy_t) { allow, deny, ceiling, deny_all };
}

static void
expect_name (const egress_policy_t *p, const char *host, uint16_t port, bool allow,
             const char *rule, const char *reason)
{
    egress_verdict_t v = egress_check_name (p, host, port);
    if (v.allow != allow || strcmp (v.rule, rule) || strcmp (v.reason, reason))
        fail_msg ("name %s:%u -> %d '%s' '%s', want %d '%s' '%s'", host, port, v.allow, v.rule,
                  v.reason, allow, rule, reason);
}

static void
expect_addr (const egress_policy_t *p, const char *host, const char *addr, uint16_t port,
             bool allow, const char *rule, const char *reason)
{
    struct sockaddr_storage ss = sa (addr);
    egress_verdict_t v = egress_check_addr (p, host, (struct sockaddr *) &ss, port);
    if (v.allow != allow || strcmp (v.rule, rule) || strcmp (v.reason, reason))
        fail_msg ("addr %s(%s):%u -> %d '%s' '%s', want %d '%s' '%s'", host, addr, port, v.allow,
                  v.rule, v.reason, allow, rule, reason);
}

#define NOT_LISTED(h) "blocked by policy: " h " is not in this sandbox's allow list"

static void
test_name_step (void **state)
{
    (void) state;
    egress_rules_t *allow = csv ("pypi.org,*.example.com,git.example.org:9418,x.org:80,443,"
                                 "r.org:8000-8010,10.0.0.0/8:1-65535");
    egress_rules_t *deny = csv ("bad.example.com");
    egress_rules_t *deny_all = csv ("*.evil.example.com");
    egress_policy_t p = pol (allow, deny, NULL, deny_all);
    expect_name (&p, "pypi.org", 443, true, "pypi.org", "");
    expect_name (&p, "PyPI.Org.", 80, true, "pypi.org", "");
    expect_name (&p, "pypi.org", 8080, false, "", NOT_LISTED ("pypi.org"));
    expect_name (&p, "files.pypi.org", 443, false, "", NOT_LISTED ("files.pypi.org"));
    expect_name (&p, "a.example.com", 443, true, "*.example.com", "");
    expect_name (&p, "a.b.example.com", 80, true, "*.example.com", "");
    expect_name (&p, "example.com", 443, false, "", NOT_LISTED ("example.com"));
    expect_name (&p, "badexample.com", 443, false, "", NOT_LISTED ("badexample.com"));
    expect_name (&p, "bad.example.com", 443, false, "bad.example.com",
                 "blocked by policy: bad.example.com matches deny rule 'bad.example.com'");
    /* A deny rule without a port denies every port. */
    expect_name (&p, "bad.example.com", 8443, false, "bad.example.com",
                 "blocked by policy: bad.example.com matches deny rule 'bad.example.com'");
    expect_name (&p, "x.evil.example.com", 443, false, "*.evil.example.com",
                 "blocked by policy: x.evil.example.com matches deny rule '*.evil.example.com'");
    expect_name (&p, "git.example.org", 9418, true, "git.example.org:9418", "");
    egress_verdict_t v = egress_check_name (&p, "git.example.org", 9418);
    assert_true (v.port_named);
    v = egress_check_name (&p, "pypi.org", 443);
    assert_false (v.port_named);
    egress_rules_t *both = csv ("y.org,y.org:443");   /* the rule naming the port decides */
    egress_policy_t pb = pol (both, NULL, NULL, NULL);
    expect_name (&pb, "y.org", 443, true, "y.org:443", "");
    expect_name (&pb, "y.org", 80, true, "y.org", "");
    egress_rules_destroy (&both);
    expect_name (&p, "x.org", 443, true, "x.org:80,443", "");
    expect_name (&p, "r.org", 8005, true, "r.org:8000-8010", "");
    expect_name (&p, "r.org", 8011, false, "", NOT_LISTED ("r.org"));
    /* Literals pass to the address step; names never match address rules. */
    expect_name (&p, "10.1.2.3", 22, true, "", "");
    expect_name (&p, "[fd00::1]", 22, true, "", "");
    expect_name (&p, "a..b", 443, false, "",
                 "blocked by policy: 'a..b' is not a host name (empty label in 'a..b')");
    expect_name (&p, "1.2.3", 443, false, "",
                 "blocked by policy: '1.2.3' is not a host name ('1.2.3' is not an IPv4 address)");
    expect_name (&p, "", 443, false, "", "blocked by policy: '' is not a host name (empty host)");

    /* The ceiling bounds what the sandbox's rules give. */
    egress_rules_t *ceiling = csv ("*.example.com,pypi.org:443");
    p = pol (allow, deny, ceiling, NULL);
    expect_name (&p, "a.example.com", 443, true, "*.example.com", "");
    expect_name (&p, "pypi.org", 443, true, "pypi.org", "");
    expect_name (&p, "pypi.org", 80, false, "",
                 "blocked by policy: pypi.org is allowed by rule 'pypi.org', but this "
                 "deployment does not allow it");
    expect_name (&p, "git.example.org", 9418, false, "",
                 "blocked by policy: git.example.org is allowed by rule "
                 "'git.example.org:9418', but this deployment does not allow it");
    egress_rules_destroy (&ceiling);
    /* `*` in a ceiling with no port covers every port for names. */
    ceiling = csv ("*");
    p = pol (allow, NULL, ceiling, NULL);
    expect_name (&p, "git.example.org", 9418, true, "git.example.org:9418", "");
    egress_rules_destroy (&ceiling);
    egress_rules_destroy (&allow);
    egress_rules_destroy (&deny);
    egress_rules_destroy (&deny_all);

    /* An empty allow list refuses everything; a `*` deny refuses even what is allowed. */
    allow = csv ("");
    p = pol (allow, NULL, NULL, NULL);
    expect_name (&p, "pypi.org", 443, false, "", NOT_LISTED ("pypi.org"));
    egress_rules_destroy (&allow);
    allow = csv ("*");
    deny = csv ("*");
    p = pol (allow, deny, NULL, NULL);
    expect_name (&p, "pypi.org", 443, false, "*",
                 "blocked by policy: pypi.org matches deny rule '*'");
    egress_rules_destroy (&allow);
    egress_rules_destroy (&deny);
}

#define INWARD(h, a, c)                                                                        \
    "blocked by policy: " h " resolves to " a ", a " c " address (list the address to allow it)"

static void
test_addr_step (void **state)
{
    (void) state;
    egress_rules_t *allow = csv ("pypi.test:8000,127.0.0.2:8000,*,10.1.0.0/16:1-65535,"
                                 "[fd00::/8]:443,[fd00::/8]:22,1.2.3.4:25");
    egress_rules_t *deny = csv ("10.1.2.0/24,8.8.4.4");
    egress_policy_t p = pol (allow, deny, NULL, NULL);
    /* A name resolving inward needs an address rule; the name rule is not enough. */
    expect_addr (&p, "pypi.test", "127.0.0.2", 8000, true, "127.0.0.2:8000", "");
    expect_addr (&p, "pypi.test", "127.0.0.3", 8000, false, "",
                 INWARD ("pypi.test", "127.0.0.3", "loopback"));
    expect_addr (&p, "pypi.test", "127.0.0.2", 9000, false, "", NOT_LISTED ("pypi.test"));
    expect_addr (&p, "github.com", "140.82.112.3", 443, true, "*", "");
    expect_addr (&p, "github.com", "169.254.169.254", 80, false, "",
                 INWARD ("github.com", "169.254.169.254", "metadata"));
    expect_addr (&p, "github.com", "::ffff:10.0.0.1", 443, false, "",
                 INWARD ("github.com", "::ffff:10.0.0.1", "private"));
    expect_addr (&p, "github.com", "64:ff9b::a9fe:a9fe", 443, false, "",
                 INWARD ("github.com", "64:ff9b::a9fe:a9fe", "metadata"));
    expect_addr (&p, "github.com", "100.64.1.1", 443, false, "",
                 INWARD ("github.com", "100.64.1.1", "CGNAT"));
    expect_addr (&p, "github.com", "0.0.0.0", 443, false, "",
                 INWARD ("github.com", "0.0.0.0", "unspecified"));
    expect_addr (&p, "github.com", "::", 443, false, "",
                 INWARD ("github.com", "::", "unspecified"));
    expect_addr (&p, "github.com", "fe80::1", 443, false, "",
                 INWARD ("github.com", "fe80::1", "link-local"));
    expect_addr (&p, "github.com", "224.0.0.1", 443, false, "",
                 INWARD ("github.com", "224.0.0.1", "multicast"));
    /* An address rule covers a private address, also inside a mapped IPv6 one. */
    expect_addr (&p, "db.internal.test", "10.1.9.9", 443, true, "10.1.0.0/16:1-65535", "");
    expect_addr (&p, "db.internal.test", "::ffff:10.1.9.9", 443, true, "10.1.0.0/16:1-65535", "");
    expect_addr (&p, "fd.test", "fd00::5", 443, true, "[fd00::/8]:443", "");
    expect_addr (&p, "fd00::5", "fd00::5", 22, true, "[fd00::/8]:22", "");
    /* An address rule does not stand in for the name step's name rule. */
    expect_addr (&p, "fd.test", "fd00::5", 22, false, "", NOT_LISTED ("fd.test"));
    /* Deny wins over every allow, by address too, and over mapped forms. */
    expect_addr (&p, "db.internal.test", "10.1.2.3", 443, false, "10.1.2.0/24",
                 "blocked by policy: db.internal.test matches deny rule '10.1.2.0/24'");
    expect_addr (&p, "dns.test", "::ffff:8.8.4.4", 443, false, "8.8.4.4",
                 "blocked by policy: dns.test matches deny rule '8.8.4.4'");
    /* Literals: `*` covers public ones, only address rules cover the rest. */
    expect_addr (&p, "1.2.3.4", "1.2.3.4", 25, true, "1.2.3.4:25", "");
    expect_addr (&p, "9.9.9.9", "9.9.9.9", 443, true, "*", "");
    expect_addr (&p, "9.9.9.9", "9.9.9.9", 25, false, "", NOT_LISTED ("9.9.9.9"));
    expect_addr (&p, "10.2.0.1", "10.2.0.1", 443, false, "",
                 "blocked by policy: 10.2.0.1 is a private address (list the address to "
                 "allow it)");
    egress_verdict_t v;
    struct sockaddr other = { .sa_family = AF_UNIX };
    v = egress_check_addr (&p, "x.test", &other, 443);
    assert_false (v.allow);

    /* The ceiling applies at the address step: `*` never covers an inward address. */
    egress_rules_t *ceiling = csv ("*");
    p = pol (allow, deny, ceiling, NULL);
    expect_addr (&p, "github.com", "140.82.112.3", 443, true, "*", "");
    expect_addr (&p, "pypi.test", "127.0.0.2", 8000, false, "",
                 "blocked by policy: pypi.test (127.0.0.2) is allowed by rule '127.0.0.2:8000', "
                 "but this deployment does not allow it");
    egress_rules_destroy (&ceiling);
    ceiling = csv ("*,127.0.0.0/8:1-65535");
    egress_rules_t *deny_all = csv ("127.0.0.2:9999");
    p = pol (allow, deny, ceiling, deny_all);
    expect_addr (&p, "pypi.test", "127.0.0.2", 8000, true, "127.0.0.2:8000", "");
    expect_addr (&p, "db.internal.test", "10.1.9.9", 443, false, "",
                 "blocked by policy: db.internal.test (10.1.9.9) is allowed by rule "
                 "'10.1.0.0/16:1-65535', but this deployment does not allow it");
    egress_rules_destroy (&deny_all);
    egress_rules_destroy (&ceiling);
    egress_rules_destroy (&allow);
    egress_rules_destroy (&deny);
}

static void
expect_within (const char *rules, const char *ceiling, const char *outside)
{
    egress_rules_t *r = csv (rules), *c = csv (ceiling);
    char why[256] = "";
    int rc = egress_rules_within (r, c, why, sizeof why);
    if (!outside && rc != 0)
        fail_msg ("'%s' within '%s': %s", rules, ceiling, why);
    if (outside) {
        char want[300];
        snprintf (want, sizeof want, "network rule '%s' is outside this deployment's ceiling",
                  outside);
        if (rc != -1 || strcmp (why, want))
            fail_msg ("'%s' within '%s': %d '%s', want '%s'", rules, ceiling, rc, why, want);
    }
    egress_rules_destroy (&r);
    egress_rules_destroy (&c);
}

static void
test_within (void **state)
{
    (void) state;
    expect_within ("pypi.org,*.x.org,a.b.x.org:22,*", "*", NULL);
    expect_within ("8.8.8.8,1.0.0.0/8:1-65535,2606:4700::/32", "*", NULL);
    expect_within ("10.0.0.0/8", "*", "10.0.0.0/8");
    expect_within ("0.0.0.0/0", "*", "0.0.0.0/0");
    expect_within ("127.0.0.2:8000", "*", "127.0.0.2:8000");
    expect_within ("fd00::1", "*", "fd00::1");
    expect_within ("::ffff:8.8.8.8", "*", "::ffff:8.8.8.8");
    expect_within ("127.0.0.2:8000,pypi.test:8000", "*,127.0.0.0/8:1-65535", NULL);
    expect_within ("10.1.0.0/16,10.2.3.4", "10.0.0.0/8", NULL);
    expect_within ("10.0.0.0/7", "10.0.0.0/8", "10.0.0.0/7");
    expect_within ("fd00::/16", "fd00::/8", NULL);
    expect_within ("a.x.org,*.a.x.org,*.x.org", "*.x.org", NULL);
    expect_within ("x.org", "*.x.org", "x.org");
    expect_within ("*.org", "*.x.org", "*.org");
    expect_within ("*", "*.x.org", "*");
    expect_within ("*.x.org", "x.org", "*.x.org");
    expect_within ("x.org", "x.org:80,443", NULL);
    expect_within ("x.org:8000", "x.org:80,443", "x.org:8000");
    expect_within ("x.org:100-300", "x.org:100-200,201-300", NULL);
    expect_within ("x.org:100-301", "x.org:100-200,201-300", "x.org:100-301");
    expect_within ("x.org:1-65535", "*:1-65535", NULL);
    expect_within ("x.org", "y.org", "x.org");
    expect_within ("x.org", "10.0.0.0/8", "x.org");
    egress_rules_t *r = csv ("x.org");
    char why[64];
    assert_int_equal (egress_rules_within (r, NULL, why, sizeof why), 0);
    egress_rules_destroy (&r);
}

static void
test_merge (void **state)
{
    (void) state;
    egress_rules_t *a = csv ("a.org,b.org"), *b = csv ("B.org.,c.org");
    char why[128];
    egress_rules_t *m = egress_rules_merge (a, b, false, why, sizeof why);
    char *got = dump (m);
    assert_string_equal (got, "[\"a.org\",\"b.org\",\"c.org\"]");
    free (got);
    egress_rules_destroy (&m);
    m = egress_rules_merge (a, b, true, why, sizeof why);
    got = dump (m);
    assert_string_equal (got, "[\"a.org\"]");
    free (got);
    egress_rules_destroy (&m);
    /* Two lists of 300 make more than EGRESS_RULES_MAX. */
    json_t *l1 = json_array (), *l2 = json_array ();
    for (int i = 0; i < 300; i++) {
        char h[32];
        snprintf (h, sizeof h, "a%d.org", i);
        json_array_append_new (l1, json_string (h));
        snprintf (h, sizeof h, "b%d.org", i);
        json_array_append_new (l2, json_string (h));
    }
    egress_rules_t *r1 = egress_rules_from_json (l1, NULL, why, sizeof why);
    egress_rules_t *r2 = egress_rules_from_json (l2, NULL, why, sizeof why);
    assert_int_equal (egress_rules_count (r1), 300);
    assert_null (egress_rules_merge (r1, r2, false, why, sizeof why));
    assert_non_null (strstr (why, "more than 512 rules"));
    m = egress_rules_merge (r1, r1, false, why, sizeof why);
    assert_int_equal (egress_rules_count (m), 300);
    egress_rules_destroy (&m);
    json_decref (l1);
    json_decref (l2);
    egress_rules_destroy (&r1);
    egress_rules_destroy (&r2);
    egress_rules_destroy (&a);
    egress_rules_destroy (&b);
}

static void
test_normalize_and_dir (void **state)
{
    (void) state;
    char out[256], why[128];
    assert_int_equal (egress_host_normalize ("WWW.Example.COM.", out, sizeof out, why, sizeof why),
                      0);
    assert_string_equal (out, "www.example.com");
    assert_int_equal (egress_host_normalize ("[FD00::1]", out, sizeof out, why, sizeof why), 0);
    assert_string_equal (out, "fd00::1");
    assert_int_equal (egress_host_normalize ("a b.org", out, sizeof out, why, sizeof why), -1);
    assert_int_equal (egress_host_normalize ("a.org..", out, sizeof out, why, sizeof why), -1);
    assert_int_equal (egress_host_normalize ("fd00:::1:::", out, sizeof out, why, sizeof why), -1);
    assert_int_equal (egress_host_normalize ("pypi.org", out, 4, why, sizeof why), -1);
    assert_int_equal (egress_host_normalize (NULL, out, sizeof out, why, sizeof why), -1);

    char dir[128];
    assert_int_equal (egress_socket_dir ("/data", "sm-abc123", dir, sizeof dir), 0);
    assert_string_equal (dir, "/data/sandboxes/sm-abc123/net");
    assert_int_equal (egress_socket_dir ("/data", "../etc", dir, sizeof dir), -1);
    assert_string_equal (dir, "");
    assert_int_equal (egress_socket_dir ("/data", "sm-abc123", dir, 10), -1);
    assert_int_equal (egress_socket_dir ("", "sm-abc123", dir, sizeof dir), -1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_parse),          cmocka_unit_test (test_presets),
        cmocka_unit_test (test_classes),        cmocka_unit_test (test_name_step),
        cmocka_unit_test (test_addr_step),      cmocka_unit_test (test_within),
        cmocka_unit_test (test_merge),          cmocka_unit_test (test_normalize_and_dir),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
