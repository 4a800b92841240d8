/* caisson-gateway's limits on what clients may make it hold (issue 16,
 * attack leftovers A and B), over real HTTP and raw sockets against
 * gw_client's stack with a 200000-byte buffer cap and a 1 s request
 * deadline: a declared body over the body limit is refused from its head;
 * past the cap on bytes buffered across connections a new body gets 503
 * with Retry-After, and the bytes come back when a request ends however
 * it ends; a client trickling its head or its body is cut at the
 * deadline, while a forwarded call may take longer. */
#include "gw_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFFER_MAX 200000

static int
dial (void)
{
    int port = atoi (strrchr (gwc_url, ':') + 1);
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    assert_int_equal (connect (fd, (struct sockaddr *) &a, sizeof a), 0);
    return fd;
}

/* Opens a POST to /v1/chat/completions with a key, declaring decl body
 * bytes and sending none. */
static int
open_post (long decl)
{
    int fd = dial ();
    char req[400];
    int len = snprintf (req, sizeof req, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                        "Authorization: Bearer " GW_KEY_OK "\r\nContent-Type: "
                        "application/json\r\nContent-Length: %ld\r\n\r\n", decl);
    assert_int_equal (write (fd, req, (size_t) len), len);
    return fd;
}

/* What fd answers within wait_ms, up to n-1 bytes ("" if nothing). */
static void
answer_of (int fd, int wait_ms, char *out, size_t n)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    ssize_t got = poll (&p, 1, wait_ms) == 1 ? read (fd, out, n - 1) : 0;
    out[got > 0 ? got : 0] = '\0';
}

/* A chat body of about n bytes. */
static char *
body_of (size_t n)
{
    char *b = malloc (n + 200);
    int at = sprintf (b, "{\"model\":\"openai/plain\",\"max_tokens\":5,\"messages\":[{\"role\":"
                      "\"user\",\"content\":\"");
    memset (b + at, 'x', n);
    strcpy (b + at + n, "\"}]}");
    return b;
}

/* Content-Length over CAISSON_GATEWAY_MAX_BODY: 413 from the head, the
 * body never read. */
static void
test_declared_too_big_refused_at_head (void **state)
{
    (void) state;
    int fd = open_post (2 << 20);
    char head[2048];
    answer_of (fd, 3000, head, sizeof head);
    close (fd);
    assert_non_null (strstr (head, " 413 "));
}

/* Bodies held on other connections fill the cap: a new one gets 503 with
 * Retry-After in the provider's shape naming the limit; the bytes of a
 * request whose client left, and of served ones, come back. */
static void
test_buffer_cap (void **state)
{
    (void) state;
    int fd = open_post (150000);
    char part[1000];
    memset (part, ' ', sizeof part);
    assert_int_equal (write (fd, part, sizeof part), (ssize_t) sizeof part);
    usleep (200000);
    char *b = body_of (60000);
    rsp_t r = gwc_http (gwc_url, "/v1/chat/completions", b, gwc_ok, 0);
    if (r.status != 503)
        fprintf (stderr, "past the cap: %ld %s\n", r.status, r.body);
    assert_int_equal (r.status, 503);
    assert_true (atoi (gwc_hval (&r, "Retry-After")) >= 1);
    json_t *e = gwc_error_of (&r, false);
    assert_non_null (strstr (support_json_str (e, "message"), "CAISSON_GATEWAY_BUFFER_MAX"));
    json_decref (e);
    gwc_free (&r);
    close (fd);
    bool ok = false;
    for (int i = 0; i < 50 && !ok; i++) {
        usleep (50000);
        r = gwc_http (gwc_url, "/v1/chat/completions", b, gwc_ok, 0);
        ok = r.status == 200;
        gwc_free (&r);
    }
    assert_true (ok);
    for (int i = 0; i < 6; i++) {       /* 6 x 60000 > the cap: served ones give back */
        r = gwc_http (gwc_url, "/v1/chat/completions", b, gwc_ok, 0);
        assert_int_equal (r.status, 200);
        gwc_free (&r);
    }
    free (b);
}

/* Trickles a byte of what every 200 ms on fd until the gateway closes
 * it (or 10 s pass); true when it closed; its answer (if any) into out. */
static bool
trickle_until_closed (int fd, char what, char *out, size_t n)
{
    size_t got = 0;
    out[0] = '\0';
    for (int i = 0; i < 50; i++) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll (&p, 1, 200) == 1) {
            ssize_t k = read (fd, out + got, n - 1 - got);
            if (k <= 0)
                return true;
            got += (size_t) k;
            out[got] = '\0';
            continue;
        }
        if (send (fd, &what, 1, MSG_NOSIGNAL) < 0)
            return errno == EPIPE || errno == ECONNRESET;
    }
    return false;
}

/* A head trickled a byte at a time (each byte well within any idle
 * timeout): closed at the deadline, not served forever. */
static void
test_slow_head_cut (void **state)
{
    (void) state;
    int fd = dial ();
    const char *start = "POST /v1/chat/completions HTTP/1.1\r\nX-Pad: ";
    assert_int_equal (write (fd, start, strlen (start)), (ssize_t) strlen (start));
    char out[2048];
    bool closed = trickle_until_closed (fd, 'a', out, sizeof out);
    close (fd);
    assert_true (closed);
}

/* A body trickled a byte at a time: cut at the deadline (408 if it was
 * answered at all), and its buffered bytes given back. */
static void
test_slow_body_cut (void **state)
{
    (void) state;
    int fd = open_post (1000);
    char out[2048];
    bool closed = trickle_until_closed (fd, ' ', out, sizeof out);
    close (fd);
    assert_true (closed);
    if (*out)
        assert_non_null (strstr (out, " 408 "));
}

/* A call forwarded to a provider that answers after the request deadline
 * (the gateway's upstream timeout, 2 s, ends it) is not cut: the client
 * gets the 504. */
static void
test_forwarded_outlives_deadline (void **state)
{
    (void) state;
    rsp_t r = gwc_http (gwc_url, "/v1/chat/completions", "{\"model\":\"openai/stall\","
                        "\"max_tokens\":5,\"messages\":[]}", gwc_ok, 0);
    assert_int_equal (r.status, 504);
    gwc_free (&r);
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
    /* the gateway inherits these */
    setenv ("CAISSON_GATEWAY_BUFFER_MAX", "200000", 1);
    setenv ("CAISSON_GATEWAY_REQUEST_TIMEOUT_S", "1", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_declared_too_big_refused_at_head),
        cmocka_unit_test (test_buffer_cap),
        cmocka_unit_test (test_slow_head_cut),
        cmocka_unit_test (test_slow_body_cut),
        cmocka_unit_test (test_forwarded_outlives_deadline),
        cmocka_unit_test (test_clean_exit),
    };
    return support_run_group_tests (tests, gwc_setup, gwc_teardown);
}
