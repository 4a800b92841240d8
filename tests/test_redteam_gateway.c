/* An attack on caisson-gateway as a hostile tenant (issue 16), over real
 * HTTP with gw_client's stack: a call must reserve the most output the
 * provider may produce for it, whichever of the fields naming a maximum
 * the provider reads; a maximum or choice count the gateway cannot read
 * as a positive integer is refused before anything is reserved; a client
 * hanging up on a stream is charged the input the provider may bill; the
 * real key is masked in an error body cut at its limit, in a 200 answer,
 * whole or streamed (split across pieces), and written JSON-escaped or
 * percent-encoded; a body without a key is not read. */
#include "gw_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The reserve of the call r answered (new). */
static json_int_t
reserved_out (const rsp_t *r)
{
    json_t *res = gw_fake_log_find (gwc_log, "reserve", gwc_hval (r, "x-caisson-call"), 0);
    assert_non_null (res);
    json_int_t out = json_integer_value (json_object_get (res, "output_max"));
    json_decref (res);
    return out;
}

/* Both max_tokens and max_completion_tokens: the provider may honour the
 * larger (Anthropic reads max_tokens), so the larger is reserved. */
static void
test_two_maxima_reserve_the_larger (void **state)
{
    (void) state;
    rsp_t r = gwc_http (gwc_url, "/v1/messages", "{\"model\":\"anthropic/plain\","
                        "\"max_completion_tokens\":1,\"max_tokens\":100000,\"messages\":"
                        "[{\"role\":\"user\",\"content\":\"hi\"}]}", gwc_ok, 0);
    assert_int_equal (r.status, 200);
    assert_true (reserved_out (&r) >= 100000);
    gwc_free (&r);
    r = gwc_http (gwc_url, "/v1/chat/completions", "{\"model\":\"openai/plain\","
                  "\"max_tokens\":100000,\"max_completion_tokens\":1,\"messages\":"
                  "[{\"role\":\"user\",\"content\":\"hi\"}]}", gwc_ok, 0);
    assert_int_equal (r.status, 200);
    assert_true (reserved_out (&r) >= 100000);
    gwc_free (&r);
}

/* A maximum or n that is a float, a string, 0 or negative, a stream flag
 * that is no boolean: 400, nothing reserved (a provider may read 100000.0
 * as 100000 while the gateway reserved its default, n "4" as four
 * choices, or stream "true" as a stream the gateway reads as one answer,
 * its usage lost). */
static void
test_unreadable_maxima_refused (void **state)
{
    (void) state;
    const char *bad[] = { "\"max_tokens\":100000.0", "\"max_completion_tokens\":\"100000\"",
                          "\"max_tokens\":-1", "\"max_tokens\":0", "\"n\":4.0", "\"n\":\"4\"",
                          "\"max_tokens\":5,\"max_completion_tokens\":1e9",
                          "\"max_tokens\":5,\"stream\":\"true\"", "\"max_tokens\":5,\"stream\":1",
                          NULL };
    for (size_t i = 0; bad[i]; i++) {
        char body[300];
        snprintf (body, sizeof body, "{\"model\":\"openai/plain\",%s,\"messages\":"
                  "[{\"role\":\"user\",\"content\":\"hi\"}]}", bad[i]);
        int before = gw_fake_log_count (gwc_log, "reserve");
        rsp_t r = gwc_http (gwc_url, "/v1/chat/completions", body, gwc_ok, 0);
        if (r.status != 400)
            fprintf (stderr, "%s: %ld\n", bad[i], r.status);
        assert_int_equal (r.status, 400);
        assert_int_equal (gw_fake_log_count (gwc_log, "reserve"), before);
        gwc_free (&r);
    }
    /* null is absent, as the SDKs send it */
    rsp_t r = gwc_http (gwc_url, "/v1/chat/completions", "{\"model\":\"openai/plain\","
                        "\"max_tokens\":null,\"messages\":[{\"role\":\"user\",\"content\":"
                        "\"hi\"}]}", gwc_ok, 0);
    assert_int_equal (r.status, 200);
    gwc_free (&r);
}

/* A client that hangs up on a stream before the usage came: the provider
 * has read (and bills) the whole prompt, which may be a token per byte
 * (digits, CJK), so the call is charged the input the gateway reserved,
 * not a quarter of the body's bytes. */
static void
test_hang_up_charges_the_input_bound (void **state)
{
    (void) state;
    size_t n = 8000;
    char *body = malloc (n + 200), *p = body;
    p += sprintf (p, "{\"model\":\"openai/slow\",\"max_tokens\":50,\"stream\":true,"
                  "\"messages\":[{\"role\":\"user\",\"content\":\"");
    for (size_t i = 0; i < n; i++)
        *p++ = (char) ('0' + i % 10);
    strcpy (p, "\"}]}");
    rsp_t r = gwc_http (gwc_url, "/v1/chat/completions", body, gwc_ok, 10);
    free (body);
    assert_int_equal (r.status, 200);
    json_t *res = gw_fake_log_find (gwc_log, "reserve", gwc_hval (&r, "x-caisson-call"), 0);
    json_int_t bound = json_integer_value (json_object_get (res, "input_bound"));
    json_decref (res);
    assert_true (bound >= (json_int_t) n);
    json_t *s = gwc_settle_of (&r);
    gwc_expect_settle (s, "client_gone", -1, -1, true);
    json_int_t in = json_integer_value (json_object_get (s, "input"));
    if (in < bound)
        fprintf (stderr, "charged input %lld < bound %lld\n", (long long) in, (long long) bound);
    assert_true (in >= bound);
    json_decref (s);
    gwc_free (&r);
}

/* A provider's error body is passed on up to 64 KiB: a key echoed across
 * that cut (the client pads what the provider echoes before it) must not
 * pass its first bytes unmasked. */
static void
test_key_across_the_error_cut (void **state)
{
    (void) state;
    /* {"error":{"message":" is 21 bytes, then the pad, a space, "Bearer " */
    size_t into[] = { 30, 20, 10, 4 };
    for (size_t i = 0; i < 4; i++) {
        size_t pad = 65536 - 21 - 8 - into[i];
        char *body = malloc (pad + 200), *p = body;
        p += sprintf (p, "{\"model\":\"openai/echo-key-pad\",\"max_tokens\":5,"
                      "\"messages\":[],\"user\":\"");
        memset (p, 'x', pad);
        strcpy (p + pad, "\"}");
        rsp_t r = gwc_http (gwc_url, "/v1/chat/completions", body, gwc_ok, 0);
        free (body);
        assert_int_equal (r.status, 400);
        if (strstr (r.body, "sk-c"))
            fprintf (stderr, "%zu bytes into the key: ...%s\n", into[i],
                     r.body + (r.blen > 40 ? r.blen - 40 : 0));
        assert_null (strstr (r.body, "sk-c"));
        gwc_free (&r);
    }
}

/* The input_bound the call with body reserved, on route path. */
static json_int_t
input_bound_of (const char *path, const char *body)
{
    rsp_t r = gwc_http (gwc_url, path, body, gwc_ok, 0);
    if (r.status != 200)
        fprintf (stderr, "%s: %ld %s\n", body, r.status, r.body);
    assert_int_equal (r.status, 200);
    json_t *res = gw_fake_log_find (gwc_log, "reserve", gwc_hval (&r, "x-caisson-call"), 0);
    assert_non_null (res);
    json_int_t in = json_integer_value (json_object_get (res, "input_bound"));
    json_decref (res);
    gwc_free (&r);
    return in;
}

/* A document or file block (a PDF: billed by page, far beyond what its
 * bytes bound) reserves the model's whole context window (anthropic/:
 * 200000, openai/: 128000 in the provider table); an image the most a
 * high-detail image is billed; no bound exceeds the window. */
static void
test_documents_and_images_bound (void **state)
{
    (void) state;
    assert_true (input_bound_of ("/v1/messages", "{\"model\":\"anthropic/plain\",\"max_tokens\":5,"
                 "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"document\",\"source\":"
                 "{\"type\":\"base64\",\"media_type\":\"application/pdf\","
                 "\"data\":\"JVBERi0x\"}}]}]}")
                 >= 200000);
    const char *oai[] = { "{\"type\":\"file\",\"file\":{\"file_data\":\"data:application/pdf;"
                          "base64,JVBERi0x\"}}", "{\"type\":\"input_file\",\"file_id\":\"f1\"}",
                          NULL };
    for (size_t i = 0; oai[i]; i++) {
        char body[400];
        snprintf (body, sizeof body, "{\"model\":\"openai/plain\",\"max_tokens\":5,"
                  "\"messages\":[{\"role\":\"user\",\"content\":[%s]}]}", oai[i]);
        /* openai/plain has only the provider's default window (a guess):
         * CAISSON_GATEWAY_DOCUMENT_TOKENS */
        assert_true (input_bound_of ("/v1/chat/completions", body) >= 200000);
    }
    /* an image: the most its model bills a high-detail one (the default
     * CAISSON_GATEWAY_IMAGE_TOKENS), so gpt-4o-mini's 48169 is not every
     * model's reservation */
#define IMG(model) "{\"model\":\"" model "\",\"max_tokens\":5,\"messages\":[{\"role\":" \
    "\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":" \
    "\"data:image/png;base64,iVBO\",\"detail\":\"high\"}}]}]}"
    assert_true (input_bound_of ("/v1/chat/completions", IMG ("openai/gpt-4o-mini-2024")) >= 48169);
    json_int_t plain = input_bound_of ("/v1/chat/completions", IMG ("openai/plain"));
#undef IMG
    assert_true (plain >= 2700 && plain < 3000);
    char *big = malloc (300200), *p = big;
    p += sprintf (p, "{\"model\":\"openai/gpt-3.5\",\"max_tokens\":5,\"messages\":[{\"role\":"
                  "\"user\",\"content\":\"");
    memset (p, 'w', 300000);
    strcpy (p + 300000, "\"}]}");
    /* a model family's window is a maximum: the bound stops there */
    assert_int_equal (input_bound_of ("/v1/chat/completions", big), 16385);
    free (big);
}

/* The real key's bytes, or its JSON-escaped start, in s. */
static bool
has_key (const char *s)
{
    return strstr (s, GWC_REAL_KEY) || strstr (s, "sk-c") || strstr (s, "\\u0073\\u006b")
        || strstr (s, "\\u0073\\u006B") || strstr (s, "%73%6b") || strstr (s, "REAL-0123");
}

/* A provider echoing the key in a 200 (a header echo): masked in a whole
 * answer and in a stream whose pieces split it, literal or escaped; what
 * the provider got was the real key. */
static void
test_key_masked_in_2xx (void **state)
{
    (void) state;
    rsp_t r = gwc_http (gwc_url, "/v1/chat/completions", "{\"model\":\"openai/echo-body\","
                        "\"max_tokens\":5,\"messages\":[]}", gwc_ok, 0);
    assert_int_equal (r.status, 200);
    char auth[600];
    assert_string_equal (gw_fake_upstream_auth (auth, sizeof auth), "Bearer " GWC_REAL_KEY);
    if (has_key (r.body))
        fprintf (stderr, "200 echo: %s\n", r.body);
    assert_false (has_key (r.body));
    assert_non_null (strstr (r.body, "\"Bearer ***\""));
    gwc_free (&r);
    r = gwc_http (gwc_url, "/v1/chat/completions", "{\"model\":\"openai/echo-key-stream\","
                  "\"max_tokens\":5,\"stream\":true,\"messages\":[]}", gwc_ok, 0);
    assert_int_equal (r.status, 200);
    if (has_key (r.body))
        fprintf (stderr, "stream echo: %s\n", r.body);
    assert_false (has_key (r.body));
    assert_non_null (strstr (r.body, "you sent Bearer ***, and ***\""));
    assert_non_null (strstr (r.body, "data: [DONE]"));
    gwc_free (&r);
}

/* A provider that answers 200 with no usage: the call is charged the
 * most it can have used (CAISSON_GATEWAY_NO_USAGE=bound), not bytes / 4,
 * which a prompt of digits (a token a digit or two) would beat 4 times. */
static void
test_no_usage_charged_bound (void **state)
{
    (void) state;
    char *body = malloc (9000), *p = body;
    p += sprintf (p, "{\"model\":\"openai/nousage\",\"max_tokens\":40,\"messages\":[{\"role\":"
                  "\"user\",\"content\":\"");
    for (int i = 0; i < 4000; i++)
        *p++ = (char) ('0' + i % 10);
    strcpy (p, "\"}]}");
    rsp_t r = gwc_http (gwc_url, "/v1/chat/completions", body, gwc_ok, 0);
    free (body);
    assert_int_equal (r.status, 200);
    json_t *s = gwc_settle_of (&r);
    gwc_expect_settle (s, "no_usage", -1, -1, true);
    json_int_t in = json_integer_value (json_object_get (s, "input"));
    json_int_t out = json_integer_value (json_object_get (s, "output"));
    if (in < 4000 || out != 40)
        fail_msg ("a no-usage answer charged input %lld, output %lld: under its bound",
                  (long long) in, (long long) out);
    json_decref (s);
    gwc_free (&r);
}

/* A provider's error quoting the key JSON-escaped (either case, or only
 * in part) or percent-encoded: every form masked. */
static void
test_key_encoded_in_error (void **state)
{
    (void) state;
    rsp_t r = gwc_http (gwc_url, "/v1/chat/completions", "{\"model\":\"openai/echo-key-encoded\","
                        "\"max_tokens\":5,\"messages\":[]}", gwc_ok, 0);
    assert_int_equal (r.status, 400);
    if (has_key (r.body))
        fprintf (stderr, "encoded echo: %s\n", r.body);
    assert_false (has_key (r.body));
    json_t *e = gwc_error_of (&r, false);
    assert_string_equal (support_json_str (e, "message"), "bad key ***, ***, ***, url key=***");
    json_decref (e);
    gwc_free (&r);
}

/* The head of the answer to a POST that declares a body of decl bytes
 * and sends none, with hdr (a header line or ""), within 3 s ("" if none). */
static void
early_answer (const char *path, const char *hdr, long decl, char *out, size_t n)
{
    int port = atoi (strrchr (gwc_url, ':') + 1);
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    assert_int_equal (connect (fd, (struct sockaddr *) &a, sizeof a), 0);
    char req[400];
    int len = snprintf (req, sizeof req, "POST %s HTTP/1.1\r\nHost: x\r\n%sContent-Type: "
                        "application/json\r\nContent-Length: %ld\r\n\r\n", path, hdr, decl);
    assert_int_equal (write (fd, req, (size_t) len), len);
    struct pollfd p = { .fd = fd, .events = POLLIN };
    ssize_t got = poll (&p, 1, 3000) == 1 ? read (fd, out, n - 1) : 0;
    out[got > 0 ? got : 0] = '\0';
    close (fd);
}

/* A client without a virtual key's shape, or on no endpoint, is refused
 * from its head: the gateway does not take (and hold in memory, up to the
 * body limit on each of its connections) a body it will refuse. */
static void
test_no_key_no_body_read (void **state)
{
    (void) state;
    char head[2048];
    early_answer ("/v1/chat/completions", "", 1 << 20, head, sizeof head);
    assert_non_null (strstr (head, " 401 "));
    early_answer ("/v1/nowhere", "Authorization: Bearer " GW_KEY_OK "\r\n", 1 << 20, head,
                  sizeof head);
    assert_non_null (strstr (head, " 404 "));
}

static void
test_clean_exit (void **state)
{
    (void) state;
    gwc_clean_exit ();
}

int
main (int argc, char **argv)
{
    int rc = gwc_child (argc, argv);
    if (rc >= 0)
        return rc;
    gw_fake_upstream_key (GWC_REAL_KEY);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_two_maxima_reserve_the_larger),
        cmocka_unit_test (test_unreadable_maxima_refused),
        cmocka_unit_test (test_hang_up_charges_the_input_bound),
        cmocka_unit_test (test_key_across_the_error_cut),
        cmocka_unit_test (test_no_key_no_body_read),
        cmocka_unit_test (test_key_masked_in_2xx),
        cmocka_unit_test (test_documents_and_images_bound),
        cmocka_unit_test (test_key_encoded_in_error),
        cmocka_unit_test (test_no_usage_charged_bound),
        cmocka_unit_test (test_clean_exit),
    };
    return support_run_group_tests (tests, gwc_setup, gwc_teardown);
}
