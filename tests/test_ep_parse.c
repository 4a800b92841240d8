/* test_ep_parse: the egress proxy's pure parsers. The TLS ClientHellos are
 * real client bytes, made at test time by Python's ssl module (OpenSSL)
 * writing its first flight to a memory BIO; the HTTP heads are what curl,
 * pip and urllib send to a proxy; the SOCKS5 bytes are RFC 1928's. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ep_http.h"
#include "ep_sni.h"
#include "ep_socks5.h"

/* ---------------------------------------------------------------- SNI */

/* A ClientHello as OpenSSL writes it through Python for server_hostname
 * name (NULL: no SNI), max_tls12 to cap the version. Its length. */
static size_t
real_hello (const char *name, bool max_tls12, uint8_t *buf, size_t cap)
{
    char cmd[1024];
    snprintf (cmd, sizeof cmd,
              "python3 -c '\n"
              "import ssl, sys\n"
              "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)\n"
              "ctx.check_hostname = False\n"
              "ctx.verify_mode = ssl.CERT_NONE\n"
              "if %d: ctx.maximum_version = ssl.TLSVersion.TLSv1_2\n"
              "i, o = ssl.MemoryBIO(), ssl.MemoryBIO()\n"
              "s = ctx.wrap_bio(i, o, server_hostname=%s%s%s)\n"
              "try: s.do_handshake()\n"
              "except ssl.SSLWantReadError: pass\n"
              "sys.stdout.write(o.read().hex())'",
              max_tls12 ? 1 : 0, name ? "\"" : "", name ? name : "None", name ? "\"" : "");
    FILE *f = popen (cmd, "r");
    assert_non_null (f);
    size_t n = 0;
    unsigned int byte;
    while (n < cap && fscanf (f, "%2x", &byte) == 1)
        buf[n++] = (uint8_t) byte;
    assert_int_equal (pclose (f), 0);
    assert_true (n > 100);
    return n;
}

static size_t
find (const uint8_t *buf, size_t n, const char *s)
{
    size_t sn = strlen (s);
    for (size_t i = 0; i + sn <= n; i++)
        if (memcmp (buf + i, s, sn) == 0)
            return i;
    fail_msg ("'%s' not in the hello", s);
    return 0;
}

static void
test_sni_found (void **state)
{
    (void) state;
    uint8_t h[4096];
    char host[256];
    for (int tls12 = 0; tls12 <= 1; tls12++) {
        size_t n = real_hello ("Pypi.Test", tls12, h, sizeof h);
        assert_int_equal (h[0], 22);
        assert_int_equal (ep_sni_parse (h, n, host, sizeof host), EP_SNI_FOUND);
        assert_string_equal (host, "pypi.test");
        /* What follows the hello (early data, the next flight) is not its
         * business. */
        uint8_t more[4200];
        memcpy (more, h, n);
        memset (more + n, 23, 50);
        assert_int_equal (ep_sni_parse (more, n + 50, host, sizeof host), EP_SNI_FOUND);
        /* A host buffer too small for the name is not a place to cut it. */
        assert_int_equal (ep_sni_parse (h, n, host, 5), EP_SNI_BAD);
    }
}

static void
test_sni_byte_at_a_time (void **state)
{
    (void) state;
    uint8_t h[4096];
    char host[256];
    size_t n = real_hello ("tls.test", false, h, sizeof h);
    for (size_t i = 0; i < n; i++) {
        ep_sni_result_t rc = ep_sni_parse (h, i, host, sizeof host);
        if (rc != EP_SNI_MORE)
            fail_msg ("prefix of %zu bytes: %d", i, rc);
        assert_string_equal (host, "");
    }
    assert_int_equal (ep_sni_parse (h, n, host, sizeof host), EP_SNI_FOUND);
    assert_string_equal (host, "tls.test");
}

/* The hello's one record re-cut into two records after k handshake bytes. */
static size_t
split (const uint8_t *h, size_t n, size_t k, uint8_t *out)
{
    size_t body = n - 5;
    assert_true (k > 0 && k < body);
    memcpy (out, h, 3);
    out[3] = (uint8_t) (k >> 8);
    out[4] = (uint8_t) k;
    memcpy (out + 5, h + 5, k);
    memcpy (out + 5 + k, h, 3);
    out[5 + k + 3] = (uint8_t) ((body - k) >> 8);
    out[5 + k + 4] = (uint8_t) (body - k);
    memcpy (out + 10 + k, h + 5 + k, body - k);
    return n + 5;
}

static void
test_sni_two_records (void **state)
{
    (void) state;
    uint8_t h[4096], s[4200];
    char host[256];
    size_t n = real_hello ("tls.test", false, h, sizeof h);
    size_t hn = find (h, n, "tls.test") - 5;
    size_t cuts[] = { 1, 2, 3, 4, 5, 40, hn + 3, n - 6 };
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        size_t sn = split (h, n, cuts[c], s);
        for (size_t i = 0; i < sn; i++)
            assert_int_equal (ep_sni_parse (s, i, host, sizeof host), EP_SNI_MORE);
        assert_int_equal (ep_sni_parse (s, sn, host, sizeof host), EP_SNI_FOUND);
        assert_string_equal (host, "tls.test");
        /* The second piece must be a handshake record too. */
        s[5 + cuts[c]] = 23;
        assert_int_equal (ep_sni_parse (s, sn, host, sizeof host), EP_SNI_BAD);
    }
}

static void
test_sni_none_and_not_tls (void **state)
{
    (void) state;
    uint8_t h[4096];
    char host[256];
    size_t n = real_hello (NULL, false, h, sizeof h);
    assert_int_equal (ep_sni_parse (h, n, host, sizeof host), EP_SNI_NONE);
    n = real_hello (NULL, true, h, sizeof h);
    assert_int_equal (ep_sni_parse (h, n, host, sizeof host), EP_SNI_NONE);

    const char *get = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal (ep_sni_parse ((const uint8_t *) get, strlen (get), host, sizeof host),
                      EP_SNI_NOT_TLS);
    const uint8_t socks[] = { 5, 1, 0 };
    assert_int_equal (ep_sni_parse (socks, 1, host, sizeof host), EP_SNI_NOT_TLS);
    const uint8_t v2[] = { 22, 2, 0, 0, 10 };
    assert_int_equal (ep_sni_parse (v2, 2, host, sizeof host), EP_SNI_NOT_TLS);
    assert_int_equal (ep_sni_parse (v2, 0, host, sizeof host), EP_SNI_MORE);
}

static void
test_sni_bad (void **state)
{
    (void) state;
    uint8_t h[4096], m[4096];
    char host[256];
    size_t n = real_hello ("tls.test", false, h, sizeof h);
    size_t at = find (h, n, "tls.test");

    const char *names[] = { "tls_test", "tls..est", "tls.tes.", ".ls.test", "tls\0test",
                            "tls test", "tls.t\xc3\xa9t" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        memcpy (m, h, n);
        memcpy (m + at, names[i], 8);
        assert_int_equal (ep_sni_parse (m, n, host, sizeof host), EP_SNI_BAD);
    }
    /* A ServerHello (handshake type 2) where a ClientHello should be. */
    memcpy (m, h, n);
    m[5] = 2;
    assert_int_equal (ep_sni_parse (m, n, host, sizeof host), EP_SNI_BAD);
    /* A handshake length past 16 KiB, with only its header there. */
    memcpy (m, h, n);
    m[6] = 0;
    m[7] = 0x40;
    m[8] = 0x00;
    assert_int_equal (ep_sni_parse (m, 9, host, sizeof host), EP_SNI_BAD);
    m[7] = 0x3f;
    m[8] = 0xfc;                        /* exactly 16 KiB with its header: still fine */
    assert_int_equal (ep_sni_parse (m, 9, host, sizeof host), EP_SNI_MORE);
    /* A record longer than TLS allows. */
    memcpy (m, h, n);
    m[3] = 0x40;
    m[4] = 0x01;
    assert_int_equal (ep_sni_parse (m, 5, host, sizeof host), EP_SNI_BAD);
    /* A zero-length handshake record. */
    memcpy (m, h, n);
    m[3] = m[4] = 0;
    assert_int_equal (ep_sni_parse (m, 5, host, sizeof host), EP_SNI_BAD);
    /* The hello's length one short of its content. */
    memcpy (m, h, n);
    m[8]--;
    assert_int_equal (ep_sni_parse (m, n, host, sizeof host), EP_SNI_BAD);
}

/* 16 KiB of hello: 4 records of padding extension bytes, then more than
 * the limit. */
static void
test_sni_large (void **state)
{
    (void) state;
    static uint8_t big[EP_SNI_MAX_BYTES + 200];
    char host[256];
    for (size_t body = EP_SNI_MAX_BYTES - 4; body <= EP_SNI_MAX_BYTES - 3; body++) {
        memset (big, 0, sizeof big);
        size_t hs_len = 4 + body;
        uint8_t *hs = big + 100;        /* the handshake message, cut into records later */
        hs[0] = 1;
        hs[1] = (uint8_t) (body >> 16);
        hs[2] = (uint8_t) (body >> 8);
        hs[3] = (uint8_t) body;
        uint8_t *p = hs + 4 + 2 + 32;
        *p++ = 0;                       /* session id */
        *p++ = 0; *p++ = 2; *p++ = 0x13; *p++ = 0x01;
        *p++ = 1; *p++ = 0;             /* compression */
        size_t ext = body - (size_t) (p + 2 - (hs + 4));
        *p++ = (uint8_t) (ext >> 8); *p++ = (uint8_t) ext;
        *p++ = 0; *p++ = 21;            /* padding */
        *p++ = (uint8_t) ((ext - 4) >> 8); *p++ = (uint8_t) (ext - 4);
        uint8_t out[EP_SNI_MAX_BYTES + 100];
        size_t o = 0;
        for (size_t off = 0; off < hs_len; off += 5000) {
            size_t k = hs_len - off < 5000 ? hs_len - off : 5000;
            out[o++] = 22; out[o++] = 3; out[o++] = 1;
            out[o++] = (uint8_t) (k >> 8); out[o++] = (uint8_t) k;
            memcpy (out + o, hs + off, k);
            o += k;
        }
        ep_sni_result_t want = body == EP_SNI_MAX_BYTES - 4 ? EP_SNI_NONE : EP_SNI_BAD;
        assert_int_equal (ep_sni_parse (out, o, host, sizeof host), want);
    }
}

static uint64_t
rnd (uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void
check_host (const char *host, size_t hostlen)
{
    size_t n = strnlen (host, hostlen);
    assert_true (n > 0 && n < hostlen);
    for (size_t i = 0; i < n; i++)
        assert_non_null (strchr ("abcdefghijklmnopqrstuvwxyz0123456789-.", host[i]));
}

static void
test_sni_fuzz (void **state)
{
    (void) state;
    uint8_t h[4096], s[4200], m[4200];
    char host[256];
    size_t n = real_hello ("tls.test", false, h, sizeof h);
    size_t sn = split (h, n, 100, s);
    uint64_t seed = 0x5eed15;
    for (int iter = 0; iter < 20000; iter++) {
        const uint8_t *src = iter % 2 ? s : h;
        size_t len = iter % 2 ? sn : n;
        memcpy (m, src, len);
        int flips = 1 + (int) (rnd (&seed) % 4);
        for (int f = 0; f < flips; f++)
            m[rnd (&seed) % len] ^= (uint8_t) (1 + rnd (&seed) % 255);
        size_t cut = iter % 5 == 0 ? rnd (&seed) % len : len;
        size_t hl = iter % 7 == 0 ? 1 + rnd (&seed) % 20 : sizeof host;
        /* Only the bytes given: a copy on the heap, so ASan sees a read past them. */
        uint8_t *exact = malloc (cut ? cut : 1);
        memcpy (exact, m, cut);
        ep_sni_result_t rc = ep_sni_parse (exact, cut, host, hl);
        free (exact);
        assert_true (rc >= EP_SNI_BAD && rc <= EP_SNI_FOUND);
        if (rc == EP_SNI_FOUND)
            check_host (host, hl);
    }
    /* Random bytes behind a handshake record header. */
    for (int iter = 0; iter < 2000; iter++) {
        m[0] = 22;
        m[1] = 3;
        for (size_t i = 2; i < 600; i++)
            m[i] = (uint8_t) rnd (&seed);
        ep_sni_result_t rc = ep_sni_parse (m, 600, host, sizeof host);
        assert_true (rc >= EP_SNI_BAD && rc <= EP_SNI_FOUND);
    }
}

/* --------------------------------------------------------------- HTTP */

static int
parse (const char *head, ep_http_req_t *r, char *why)
{
    return ep_http_parse (head, strlen (head), r, why, 200);
}

static void
test_http_forward (void **state)
{
    (void) state;
    ep_http_req_t r;
    char why[200];
    const char *head = "GET http://pypi.test:8000/simple/requests/?x=1&y=%20 HTTP/1.1\r\n"
                       "Host: pypi.test:8000\r\n"
                       "User-Agent: pip/23.0\r\n"
                       "Accept: */*\r\n"
                       "Proxy-Authorization: Basic dTpw\r\n"
                       "Proxy-Connection: keep-alive\r\n"
                       "Connection: keep-alive, X-Trace,content-length\r\n"
                       "X-Trace: 1\r\n"
                       "Keep-Alive: timeout=5\r\n"
                       "TE: trailers\r\n"
                       "Upgrade: websocket\r\n"
                       "Proxy-Whatever: 1\r\n"
                       "Content-Length: 0\r\n"
                       "\r\n"
                       "body bytes";
    assert_int_equal (parse (head, &r, why), 1);
    assert_false (r.connect);
    assert_string_equal (r.method, "GET");
    assert_string_equal (r.host, "pypi.test");
    assert_int_equal (r.port, 8000);
    assert_string_equal (r.version, "HTTP/1.1");
    assert_int_equal (r.head_len, strstr (head, "body") - head);

    size_t n;
    char *o = ep_http_origin_head (head, &r, &n);
    assert_non_null (o);
    assert_int_equal (strlen (o), n);  /* no NUL inside */
    assert_string_equal (o, "GET /simple/requests/?x=1&y=%20 HTTP/1.1\r\n"
                            "Host: pypi.test:8000\r\n"
                            "User-Agent: pip/23.0\r\n"
                            "Accept: */*\r\n"
                            "Content-Length: 0\r\n"
                            "Connection: close\r\n\r\n");
    free (o);
}

static void
test_http_forward_host (void **state)
{
    (void) state;
    ep_http_req_t r;
    char why[200];
    size_t n;
    /* No Host (HTTP/1.0, bare LF): added from the URI; no path: "/". */
    const char *h10 = "HEAD http://Example.TEST HTTP/1.0\nAccept: x\n\n";
    assert_int_equal (parse (h10, &r, why), 1);
    assert_string_equal (r.host, "Example.TEST");
    assert_int_equal (r.port, 80);
    assert_int_equal (r.head_len, strlen (h10));
    char *o = ep_http_origin_head (h10, &r, &n);
    assert_string_equal (o, "HEAD / HTTP/1.0\r\nHost: Example.TEST\r\nAccept: x\r\n"
                            "Connection: close\r\n\r\n");
    free (o);
    /* A Host naming another server than the URI is replaced (the policy
     * checked the URI's host); a query without a path gets "/". */
    const char *other = "GET http://a.test?q=1#frag HTTP/1.1\r\nHost: evil.test\r\n"
                        "Host: evil2.test\r\n\r\n";
    assert_int_equal (parse (other, &r, why), 1);
    o = ep_http_origin_head (other, &r, &n);
    assert_string_equal (o, "GET /?q=1 HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n");
    free (o);
    /* IPv6 literal. */
    const char *v6 = "GET http://[::1]:8080/x HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n";
    assert_int_equal (parse (v6, &r, why), 1);
    assert_string_equal (r.host, "::1");
    assert_int_equal (r.port, 8080);
    o = ep_http_origin_head (v6, &r, &n);
    assert_string_equal (o, "GET /x HTTP/1.1\r\nHost: [::1]:8080\r\nConnection: close\r\n\r\n");
    free (o);
    assert_int_equal (parse ("POST HTTP://[2001:db8::5] HTTP/1.1\r\n\r\n", &r, why), 1);
    assert_string_equal (r.host, "2001:db8::5");
    assert_int_equal (r.port, 80);
}

static void
test_http_connect (void **state)
{
    (void) state;
    ep_http_req_t r;
    char why[200];
    assert_int_equal (parse ("CONNECT files.pythonhosted.org:443 HTTP/1.1\r\n"
                             "Host: files.pythonhosted.org:443\r\n\r\n\x16\x03\x01", &r, why), 1);
    assert_true (r.connect);
    assert_string_equal (r.host, "files.pythonhosted.org");
    assert_int_equal (r.port, 443);
    assert_int_equal (parse ("CONNECT [::1]:8443 HTTP/1.0\r\n\r\n", &r, why), 1);
    assert_string_equal (r.host, "::1");
    assert_int_equal (r.port, 8443);
    assert_int_equal (parse ("CONNECT a.test HTTP/1.1\r\n\r\n", &r, why), -1);
    assert_non_null (strstr (why, "host:port"));
    assert_int_equal (parse ("CONNECT [::1] HTTP/1.1\r\n\r\n", &r, why), -1);
    size_t n = 1;
    assert_int_equal (parse ("CONNECT [::1]:8443 HTTP/1.0\r\n\r\n", &r, why), 1);
    assert_null (ep_http_origin_head ("CONNECT [::1]:8443 HTTP/1.0\r\n\r\n", &r, &n));
    assert_string_equal (ep_http_established, "HTTP/1.1 200 Connection established\r\n\r\n");
}

static void
test_http_refused (void **state)
{
    (void) state;
    ep_http_req_t r;
    char why[200];
    struct { const char *head, *why; } bad[] = {
        { "GET /simple/ HTTP/1.1\r\nHost: a\r\n\r\n", "absolute URI" },
        { "GET https://a.test/ HTTP/1.1\r\n\r\n", "CONNECT" },
        { "GET ftp://a.test/ HTTP/1.1\r\n\r\n", "http://" },
        { "OPTIONS * HTTP/1.1\r\n\r\n", "http://" },
        { "GET http://u:p@a.test/ HTTP/1.1\r\n\r\n", "credentials" },
        { "GET http://a.test@b.test/ HTTP/1.1\r\n\r\n", "credentials" },
        { "CONNECT u@a.test:443 HTTP/1.1\r\n\r\n", "credentials" },
        { "GET http://a.test:0/ HTTP/1.1\r\n\r\n", "port" },
        { "GET http://a.test:99999/ HTTP/1.1\r\n\r\n", "port" },
        { "GET http://a.test:/ HTTP/1.1\r\n\r\n", "port" },
        { "GET http://a.test:8o/ HTTP/1.1\r\n\r\n", "port" },
        { "CONNECT a.test:65536 HTTP/1.1\r\n\r\n", "port" },
        { "CONNECT a.test:-1 HTTP/1.1\r\n\r\n", "port" },
        { "GET http:/// HTTP/1.1\r\n\r\n", "no host" },
        { "GET http://a%2etest/ HTTP/1.1\r\n\r\n", "host name" },
        { "GET http://[::1/ HTTP/1.1\r\n\r\n", "IPv6" },
        { "GET http://[::1]x/ HTTP/1.1\r\n\r\n", "IPv6" },
        { "GET http://a.test/ HTTP/2.0\r\n\r\n", "version" },
        { "GET http://a.test/  HTTP/1.1\r\n\r\n", "version" },
        { "GET\thttp://a.test/ HTTP/1.1\r\n\r\n", "request line" },
        { "GET http://a\t.test/ HTTP/1.1\r\n\r\n", "request target" },
        { "GET http://a.test/ HTTP/1.1\r\nX: a\rb\r\n\r\n", "carriage return" },
        { "GET http://a.test/ HTTP/1.1\r\nX: a\x01\r\n\r\n", "control" },
        { "GET http://a.test/ HTTP/1.1\r\nX : a\r\n\r\n", "header name" },
        { "GET http://a.test/ HTTP/1.1\r\nX: a\r\n folded\r\n\r\n", "folded" },
        { "GET http://a.test/ HTTP/1.1\r\nno colon\r\n\r\n", "header line" },
        { "\r\n\r\n", "empty" },
        { "GET_http://a.test/_HTTP/1.1\r\n\r\n", "request line" },
        { "VERYLONGMETHODNAME http://a.test/ HTTP/1.1\r\n\r\n", "method" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = parse (bad[i].head, &r, why);
        if (rc != -1 || !strstr (why, bad[i].why))
            fail_msg ("%s: %d, '%s'", bad[i].head, rc, why);
    }
    /* NUL, before the end of the head. */
    const char nul[] = "GET http://a.test/ HTTP/1.1\r\nX: a\0b\r\n\r\n";
    assert_int_equal (ep_http_parse (nul, sizeof nul - 1, &r, why, sizeof why), -1);
    /* 100 headers pass, 101 do not. */
    char many[8192];
    for (int count = 100; count <= 101; count++) {
        size_t o = (size_t) snprintf (many, sizeof many, "GET http://a.test/ HTTP/1.1\r\n");
        for (int i = 0; i < count; i++)
            o += (size_t) snprintf (many + o, sizeof many - o, "X-%d: v\r\n", i);
        snprintf (many + o, sizeof many - o, "\r\n");
        assert_int_equal (parse (many, &r, why), count == 100 ? 1 : -1);
    }
}

static void
test_http_partial_and_long (void **state)
{
    (void) state;
    ep_http_req_t r;
    char why[200];
    const char *head = "GET http://a.test/x HTTP/1.1\r\nHost: a.test\r\nAccept: */*\r\n\r\n";
    size_t n = strlen (head);
    for (size_t i = 0; i < n; i++) {
        char *exact = malloc (i + 1);
        memcpy (exact, head, i);
        int rc = ep_http_parse (exact, i, &r, why, sizeof why);
        free (exact);
        if (rc != 0)
            fail_msg ("prefix of %zu bytes: %d", i, rc);
    }
    assert_int_equal (ep_http_parse (head, n, &r, why, sizeof why), 1);

    /* 33 KiB of head, with or without its end. */
    size_t big_n = 33 * 1024;
    char *big = malloc (big_n + 1);
    int o = snprintf (big, big_n, "GET http://a.test/ HTTP/1.1\r\nX: ");
    memset (big + o, 'a', big_n - (size_t) o);
    assert_int_equal (ep_http_parse (big, big_n, &r, why, sizeof why), -2);
    assert_non_null (strstr (why, "longer than 32768"));
    memcpy (big + big_n - 4, "\r\n\r\n", 4);
    assert_int_equal (ep_http_parse (big, big_n, &r, why, sizeof why), -2);
    /* Just under the limit is fine. */
    memcpy (big + EP_HTTP_HEAD_MAX - 4, "\r\n\r\n", 4);
    assert_int_equal (ep_http_parse (big, big_n, &r, why, sizeof why), 1);
    assert_int_equal (r.head_len, EP_HTTP_HEAD_MAX);
    free (big);
}

static void
test_http_refusal (void **state)
{
    (void) state;
    size_t n;
    char *o = ep_http_refusal (403, "blocked by policy: a.test is not in this sandbox's allow "
                                    "list", true, &n);
    assert_int_equal (strlen (o), n);
    const char *want_body = "blocked by policy: a.test is not in this sandbox's allow list\n";
    assert_true (strncmp (o, "HTTP/1.1 403 blocked by policy: a.test is not", 45) == 0);
    assert_non_null (strstr (o, "\r\nContent-Type: text/plain\r\n"));
    assert_non_null (strstr (o, "\r\nConnection: close\r\n"));
    char cl[64];
    snprintf (cl, sizeof cl, "\r\nContent-Length: %zu\r\n", strlen (want_body));
    assert_non_null (strstr (o, cl));
    assert_string_equal (strstr (o, "\r\n\r\n") + 4, want_body);
    free (o);

    o = ep_http_refusal (502, "cannot resolve x.test", false, &n);
    assert_true (strncmp (o, "HTTP/1.1 502 Bad Gateway\r\n", 26) == 0);
    assert_non_null (strstr (o, "\r\nX-Caisson-Reason: cannot resolve x.test\r\n"));
    free (o);

    /* A host name a client made up cannot add a header or a response. */
    const char *evil = "blocked by policy: a\r\nSet-Cookie: x=1\r\n\r\nHTTP/1.1 200 OK\n\x01";
    for (int in_status = 0; in_status <= 1; in_status++) {
        o = ep_http_refusal (403, evil, in_status, &n);
        assert_int_equal (strlen (o), n);
        const char *end = strstr (o, "\r\n\r\n");
        assert_non_null (end);
        int lines = 0;
        for (const char *p = o; p < end; p++)
            if (*p == '\n') {
                assert_int_equal (p[-1], '\r');
                lines++;
            }
        assert_int_equal (lines, 4);   /* status line + 5 headers, the last ends at end */
        assert_null (strstr (o, "\r\nSet-Cookie"));
        assert_null (strstr (o, "\nHTTP/1.1 200"));
        const char *body = end + 4;
        assert_null (memchr (body, '\r', strlen (body)));
        assert_int_equal (strchr (body, '\n'), body + strlen (body) - 1);
        for (const char *p = o; *p; p++)
            assert_true ((*p >= 0x20 && *p <= 0x7e) || *p == '\r' || *p == '\n');
        free (o);
    }
    /* At most 512 bytes of reason. */
    char longr[2000];
    memset (longr, 'r', sizeof longr - 1);
    longr[sizeof longr - 1] = '\0';
    o = ep_http_refusal (429, longr, false, &n);
    assert_true (strncmp (o, "HTTP/1.1 429 Too Many Requests\r\n", 32) == 0);
    assert_int_equal (strlen (strstr (o, "\r\n\r\n") + 4), 513);
    free (o);
}

static void
test_http_fuzz (void **state)
{
    (void) state;
    const char *seeds[] = {
        "GET http://pypi.test:8000/simple/?a=b HTTP/1.1\r\nHost: pypi.test\r\n"
        "Connection: x, y\r\nx: 1\r\n\r\n",
        "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n",
    };
    uint64_t seed = 0x4774;
    char m[256];
    for (int iter = 0; iter < 20000; iter++) {
        const char *s = seeds[iter % 2];
        size_t len = strlen (s);
        memcpy (m, s, len);
        int flips = 1 + (int) (rnd (&seed) % 4);
        for (int f = 0; f < flips; f++)
            m[rnd (&seed) % len] = (char) "\r\n:/[]@ \0x%?#"[rnd (&seed) % 14];
        size_t cut = iter % 3 == 0 ? rnd (&seed) % len : len;
        char *exact = malloc (cut ? cut : 1);
        memcpy (exact, m, cut);
        ep_http_req_t r;
        char why[64];
        int rc = ep_http_parse (exact, cut, &r, why, sizeof why);
        assert_true (rc >= -2 && rc <= 1);
        if (rc == 1) {
            assert_true (r.head_len <= cut && r.port > 0);
            assert_true (strlen (r.host) > 0);
            if (!r.connect) {
                size_t n;
                char *o = ep_http_origin_head (exact, &r, &n);
                assert_non_null (o);
                assert_int_equal (memcmp (o + n - 4, "\r\n\r\n", 4), 0);
                free (o);
            }
        }
        free (exact);
    }
}

/* ------------------------------------------------------------- SOCKS5 */

static void
test_socks5_greeting (void **state)
{
    (void) state;
    uint8_t rep[2];
    size_t used = 0;
    const uint8_t noauth[] = { 5, 2, 2, 0, 0xaa };
    assert_int_equal (ep_socks5_greeting (noauth, 0, &used, rep), 0);
    assert_int_equal (ep_socks5_greeting (noauth, 3, &used, rep), 0);
    assert_int_equal (ep_socks5_greeting (noauth, sizeof noauth, &used, rep), 1);
    assert_int_equal (used, 4);
    assert_int_equal (rep[0], 5);
    assert_int_equal (rep[1], 0);
    const uint8_t userpass[] = { 5, 1, 2 };
    assert_int_equal (ep_socks5_greeting (userpass, 3, &used, rep), 1);
    assert_int_equal (rep[1], 0xff);
    const uint8_t v4[] = { 4, 1, 0, 80 };
    assert_int_equal (ep_socks5_greeting (v4, 1, &used, rep), -1);
    const uint8_t none[] = { 5, 0 };
    assert_int_equal (ep_socks5_greeting (none, 2, &used, rep), -1);
}

static void
test_socks5_request (void **state)
{
    (void) state;
    ep_socks5_req_t r;
    const uint8_t ip4[] = { 5, 1, 0, 1, 127, 0, 0, 2, 0x1f, 0x40, 0xee };
    for (size_t i = 0; i < 10; i++)
        assert_int_equal (ep_socks5_request (ip4, i, &r), 0);
    assert_int_equal (ep_socks5_request (ip4, sizeof ip4, &r), 1);
    assert_int_equal (r.cmd, 1);
    assert_false (r.is_name);
    assert_string_equal (r.host, "127.0.0.2");
    assert_int_equal (r.port, 8000);
    assert_int_equal (r.used, 10);

    const uint8_t name[] = { 5, 1, 0, 3, 9, 'p', 'y', 'p', 'i', '.', 't', 'e', 's', 't', 1, 187 };
    for (size_t i = 0; i < sizeof name; i++)
        assert_int_equal (ep_socks5_request (name, i, &r), 0);
    assert_int_equal (ep_socks5_request (name, sizeof name, &r), 1);
    assert_true (r.is_name);
    assert_string_equal (r.host, "pypi.test");
    assert_int_equal (r.port, 443);
    assert_int_equal (r.used, sizeof name);

    uint8_t ip6[22] = { 5, 1, 0, 4 };
    ip6[4] = 0x20; ip6[5] = 0x01; ip6[6] = 0x0d; ip6[7] = 0xb8; ip6[19] = 1;
    ip6[20] = 0; ip6[21] = 80;
    assert_int_equal (ep_socks5_request (ip6, 21, &r), 0);
    assert_int_equal (ep_socks5_request (ip6, 22, &r), 1);
    assert_string_equal (r.host, "2001:db8::1");
    assert_int_equal (r.port, 80);

    /* BIND and UDP ASSOCIATE parse; the caller refuses them. */
    const uint8_t bind[] = { 5, 2, 0, 1, 0, 0, 0, 0, 0, 0 };
    assert_int_equal (ep_socks5_request (bind, sizeof bind, &r), 1);
    assert_int_equal (r.cmd, 2);

    const uint8_t bad_ver[] = { 4, 1, 0, 1 };
    const uint8_t bad_rsv[] = { 5, 1, 1, 1 };
    const uint8_t bad_atyp[] = { 5, 1, 0, 2 };
    const uint8_t empty[] = { 5, 1, 0, 3, 0, 0, 80 };
    const uint8_t nul[] = { 5, 1, 0, 3, 3, 'a', 0 };
    const uint8_t ctl[] = { 5, 1, 0, 3, 3, 'a', '\n', 'b', 0, 80 };
    assert_int_equal (ep_socks5_request (bad_ver, 1, &r), -1);
    assert_int_equal (ep_socks5_request (bad_rsv, 3, &r), -1);
    assert_int_equal (ep_socks5_request (bad_atyp, 4, &r), -1);
    assert_int_equal (ep_socks5_request (empty, sizeof empty, &r), -1);
    assert_int_equal (ep_socks5_request (nul, sizeof nul, &r), -1);
    assert_int_equal (ep_socks5_request (ctl, sizeof ctl, &r), -1);
}

static void
test_socks5_reply_and_fuzz (void **state)
{
    (void) state;
    uint8_t out[10];
    ep_socks5_reply (EP_SOCKS5_RULESET, out);
    const uint8_t want[10] = { 5, 2, 0, 1, 0, 0, 0, 0, 0, 0 };
    assert_memory_equal (out, want, 10);

    uint64_t seed = 0x50c5;
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = rnd (&seed) % 300;
        uint8_t *b = malloc (n ? n : 1);
        for (size_t i = 0; i < n; i++)
            b[i] = (uint8_t) rnd (&seed);
        if (n > 0 && iter % 2)
            b[0] = 5;
        if (n > 3 && iter % 4 == 1) {
            b[2] = 0;
            b[3] = (uint8_t) (1 + rnd (&seed) % 4);
        }
        ep_socks5_req_t r;
        int rc = ep_socks5_request (b, n, &r);
        assert_true (rc >= -1 && rc <= 1);
        if (rc == 1)
            assert_true (r.used <= n && strlen (r.host) > 0);
        uint8_t rep[2];
        size_t used;
        rc = ep_socks5_greeting (b, n, &used, rep);
        if (rc == 1)
            assert_true (used <= n);
        free (b);
    }
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_sni_found),
        cmocka_unit_test (test_sni_byte_at_a_time),
        cmocka_unit_test (test_sni_two_records),
        cmocka_unit_test (test_sni_none_and_not_tls),
        cmocka_unit_test (test_sni_bad),
        cmocka_unit_test (test_sni_large),
        cmocka_unit_test (test_sni_fuzz),
        cmocka_unit_test (test_http_forward),
        cmocka_unit_test (test_http_forward_host),
        cmocka_unit_test (test_http_connect),
        cmocka_unit_test (test_http_refused),
        cmocka_unit_test (test_http_partial_and_long),
        cmocka_unit_test (test_http_refusal),
        cmocka_unit_test (test_http_fuzz),
        cmocka_unit_test (test_socks5_greeting),
        cmocka_unit_test (test_socks5_request),
        cmocka_unit_test (test_socks5_reply_and_fuzz),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
