/* Red team, the architecture round (issue 12): hostile input to what
 * changed at the edges. ui-bridge's camelCase <-> snake_case conversion
 * (pjson), jsoncap cutting hostile tool results, and the instance id
 * files svc_ident keeps in the data dir. Each test is an attack; a
 * passing test means the system held. */
#include "support.h"
#include "pjson.h"
#include "jsoncap.h"
#include "svc_ident.h"
#include "evkind.h"
#include "proto.h"
#include "bus_client.h"

#include <czmq.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const skip_sandbox[] = { "sandboxId", NULL };

/* Fills a sandbox.exec.wait body from text as ui-bridge does (the path's
 * sandboxId skipped); returns pjson_to_body's answer, why filled. */
static int
wait_body (const char *text, uint64_t *pid, char *why, size_t whylen)
{
    json_error_t jerr;
    json_t *obj = json_loads (text, 0, &jerr);
    assert_non_null (obj);
    proto_msg_t *msg = proto_msg_new (PROTO_sandbox_exec_wait, NULL);
    int rc = pjson_to_body (msg, obj, skip_sandbox, why, whylen);
    if (pid)
        *pid = msg->body.sandbox_exec_wait.pid;
    proto_msg_destroy (&msg);
    json_decref (obj);
    return rc;
}

/* Wire names with odd underscores convert without overrunning out, even
 * when out is tiny. Held. */
static void
test_http_name_odd_and_short (void **state)
{
    (void) state;
    char out[16];
    assert_string_equal (pjson_http_name ("a__b", out, sizeof out), "a_B");
    assert_string_equal (pjson_http_name ("_x", out, sizeof out), "_x");
    assert_string_equal (pjson_http_name ("x_", out, sizeof out), "x_");
    assert_string_equal (pjson_http_name ("x_1", out, sizeof out), "x_1");
    char small[6] = "#####";
    memset (small, '#', sizeof small);
    pjson_http_name ("sandbox_id", small, 4);
    assert_string_equal (small, "san");
    assert_int_equal (small[4], '#');
    pjson_http_name ("sandbox_id", small, 0);
    assert_int_equal (small[0], 's');
}

/* No two fields of any message convert to the same HTTP key, and no
 * field's HTTP name is another field's wire name: one JSON key can never
 * fill two fields, nor two keys one. Held. */
static void
test_http_names_unique_in_catalogue (void **state)
{
    (void) state;
    for (int t = 0; t < PROTO_TYPE_COUNT; t++) {
        const proto_msgdef_t *def = proto_def ((proto_type_t) t);
        for (size_t i = 0; i < def->nfields; i++) {
            char a[96], b[96];
            pjson_http_name (def->fields[i].name, a, sizeof a);
            assert_true (strlen (def->fields[i].name) < sizeof a - 1);
            for (size_t j = 0; j < def->nfields; j++) {
                if (i == j)
                    continue;
                pjson_http_name (def->fields[j].name, b, sizeof b);
                if (!strcmp (a, b) || !strcmp (a, def->fields[j].name))
                    fail_msg ("%s: fields %s and %s share the key %s", def->wire,
                              def->fields[i].name, def->fields[j].name, a);
            }
        }
    }
}

/* sandboxId (set from the path) and its wire spelling sandbox_id in the
 * body, to point a request at another sandbox: both refused. Held. */
static void
test_body_names_other_sandbox (void **state)
{
    (void) state;
    char why[256];
    assert_int_equal (wait_body ("{\"pid\": 1, \"sandboxId\": \"bob-1\"}", NULL, why,
                                 sizeof why), -1);
    assert_string_equal (why, "unknown field 'sandboxId'");
    assert_int_equal (wait_body ("{\"pid\": 1, \"sandbox_id\": \"bob-1\"}", NULL, why,
                                 sizeof why), -1);
    assert_string_equal (why, "unknown field 'sandbox_id'");
    assert_int_equal (wait_body ("{\"pid\": 1, \"timeout_seconds\": 5}", NULL, why,
                                 sizeof why), -1);
    assert_int_equal (wait_body ("{\"Pid\": 1}", NULL, why, sizeof why), -1);
    assert_int_equal (wait_body ("{\"pid\": -1}", NULL, why, sizeof why), -1);
    /* INT64_MIN: what ui-bridge's cast makes of a path pid of 2^63 */
    assert_int_equal (wait_body ("{\"pid\": -9223372036854775808}", NULL, why, sizeof why), -1);
    assert_int_equal (wait_body ("{\"pid\": 1, \"signal\": 65}", NULL, why, sizeof why), -1);
    /* a key twice: the parser keeps the last, one field filled once */
    uint64_t pid = 0;
    assert_int_equal (wait_body ("{\"pid\": 1, \"pid\": 2}", &pid, why, sizeof why), 0);
    assert_int_equal (pid, 2);
}

/* A 1 MiB key: refused, the message cut to its buffer. Held. */
static void
test_body_huge_key (void **state)
{
    (void) state;
    size_t n = 1 << 20;
    char *key = malloc (n + 1);
    memset (key, 'k', n);
    key[n] = '\0';
    json_t *obj = json_pack ("{s:i}", "pid", 1);
    json_object_set_new (obj, key, json_true ());
    proto_msg_t *msg = proto_msg_new (PROTO_sandbox_exec_wait, NULL);
    char why[64];
    assert_int_equal (pjson_to_body (msg, obj, skip_sandbox, why, sizeof why), -1);
    assert_true (strlen (why) < sizeof why);
    assert_memory_equal (why, "unknown field 'kkk", 18);
    proto_msg_destroy (&msg);
    json_decref (obj);
    free (key);
}

/* The cut value is valid JSON (it encodes) within max. */
static void
assert_fits (json_t *out, size_t max)
{
    assert_non_null (out);
    char *text = json_dumps (out, JSON_COMPACT | JSON_ENCODE_ANY);
    assert_non_null (text);
    assert_true (strlen (text) <= max);
    json_t *back = json_loads (text, JSON_DECODE_ANY, NULL);
    assert_non_null (back);
    json_decref (back);
    free (text);
}

/* Nesting as deep as the parser takes, around a large string. Held. */
static void
test_jsoncap_deep (void **state)
{
    (void) state;
    size_t depth = 2000, big = 100000;
    char *text = malloc (depth * 2 + big + 3);
    size_t o = 0;
    for (size_t i = 0; i < depth; i++)
        text[o++] = '[';
    text[o++] = '"';
    memset (text + o, 'x', big);
    o += big;
    text[o++] = '"';
    for (size_t i = 0; i < depth; i++)
        text[o++] = ']';
    text[o] = '\0';
    json_t *v = json_loads (text, 0, NULL);
    free (text);
    assert_non_null (v);
    json_t *out = jsoncap_fit (v, 8192);
    assert_fits (out, 8192);
    json_decref (out);
    json_decref (v);
}

/* 8 MiB of four-byte characters and of escaped control characters: cut
 * at a character boundary, still valid. Held. */
static void
test_jsoncap_huge_strings (void **state)
{
    (void) state;
    size_t n = 8 << 20;
    char *s = malloc (n + 1);
    for (size_t i = 0; i < n; i += 4)
        memcpy (s + i, "\xF0\x9F\x98\x80", 4);
    s[n] = '\0';
    char *c = malloc (n + 1);
    memset (c, 1, n);
    c[n] = '\0';
    json_t *v = json_pack ("{s:s, s:s}", "emoji", s, "ctl", c);
    assert_non_null (v);
    json_t *out = jsoncap_fit (v, 4096);
    assert_fits (out, 4096);
    assert_true (json_is_true (json_object_get (out, "truncated")));
    json_decref (out);
    json_decref (v);
    free (s);
    free (c);
}

/* Invalid UTF-8 never gets into a jansson value (the parser refuses it),
 * and huge keys, which jsoncap cannot cut, end as the short message. */
static void
test_jsoncap_bad_utf8_and_keys (void **state)
{
    (void) state;
    assert_null (json_loads ("{\"a\": \"\xC3\x28\xFF\"}", 0, NULL));
    json_t *v = json_object ();
    char key[1100];
    for (int i = 0; i < 200; i++) {
        memset (key, 'a' + i % 26, sizeof key - 1);
        snprintf (key, 8, "%06d", i);
        key[7] = 'k';
        key[sizeof key - 1] = '\0';
        json_object_set_new (v, key, json_integer (i));
    }
    json_t *out = jsoncap_fit (v, 1024);
    assert_fits (out, 1024);
    json_decref (out);
    json_decref (v);
}

/* Seconds jsoncap_fit takes to cut v to 64 KiB (checked valid). */
/* jsoncap's work on v (bytes it encoded), which must stay bounded: work
 * is counted, not timed, so a loaded machine or a sanitizer cannot make
 * the check pass or fail. */
static size_t
cap_work (json_t *v)
{
    size_t work = 0, size = json_dumpb (v, NULL, 0, JSON_COMPACT);
    json_t *out = jsoncap_fit_counted (v, 64 * 1024, &work);
    print_message ("jsoncap of %zu bytes: %zu bytes encoded\n", size, work);
    assert_fits (out, 64 * 1024);
    json_decref (out);
    json_decref (v);
    return work;
}

/* Many arrays, or strings, of one length: each round cut only one, so a
 * 6 MB result (a listing of many equal directories) took 27 s of a
 * tool-runner's CPU in 200 rounds (red before jsoncap's work budget). */
static void
test_jsoncap_many_equal_parts (void **state)
{
    (void) state;
    json_t *v = json_object (), *w = json_object ();
    char key[16], text[201];
    memset (text, 's', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    for (int i = 0; i < 20000; i++) {
        json_t *a = json_array ();
        for (int j = 0; j < 100; j++)
            json_array_append_new (a, json_integer (j));
        snprintf (key, sizeof key, "k%d", i);
        json_object_set_new (v, key, a);
        json_object_set_new (w, key, json_string (text));
    }
    /* the bound plus the last round's encoding and the first measure */
    assert_true (cap_work (v) <= JSONCAP_WORK_MAX + 2 * 6100000);
    assert_true (cap_work (w) <= JSONCAP_WORK_MAX + 2 * 6100000);
}

/* What svc_ident_keep makes of a planted DATA/<service>/instance. */
static int
keep_with (const char *dir, char id[64], char *err, size_t errlen)
{
    int fd = -1;
    int slot = svc_ident_keep (dir, "svc", id, &fd, err, errlen);
    if (fd >= 0)
        close (fd);
    return slot;
}

static char *
planted (const char *root, const char *name)
{
    static char dir[512], path[600];
    snprintf (dir, sizeof dir, "%s/%s", root, name);
    snprintf (path, sizeof path, "%s/svc", dir);
    assert_int_equal (mkdir (dir, 0700), 0);
    assert_int_equal (mkdir (path, 0700), 0);
    snprintf (path, sizeof path, "%s/svc/instance", dir);
    return path;
}

/* A symlink (to a file the service must not write), a FIFO (a read would
 * block), a directory, a huge sparse file, garbage: each refused at
 * once, the symlink's target untouched. Only spaces and newlines: a new
 * id, the same on the next start. Held. */
static void
test_ident_planted_files (void **state)
{
    (void) state;
    const char *root = support_sandbox_env ("redteam_arch_ident");
    char id[64], id2[64], err[512], victim[512], dir[512];
    alarm (20);                 /* a FIFO that blocks fails the test, not hangs it */

    snprintf (victim, sizeof victim, "%s/victim", root);
    FILE *f = fopen (victim, "w");
    fputs ("secret\n", f);
    fclose (f);
    char *p = planted (root, "link");
    assert_int_equal (symlink (victim, p), 0);
    snprintf (dir, sizeof dir, "%s/link", root);
    assert_int_equal (keep_with (dir, id, err, sizeof err), -1);
    f = fopen (victim, "r");
    char line[32] = "";
    assert_non_null (fgets (line, sizeof line, f));
    fclose (f);
    assert_string_equal (line, "secret\n");

    p = planted (root, "fifo");
    assert_int_equal (mkfifo (p, 0600), 0);
    snprintf (dir, sizeof dir, "%s/fifo", root);
    assert_int_equal (keep_with (dir, id, err, sizeof err), -1);

    p = planted (root, "dir");
    assert_int_equal (mkdir (p, 0700), 0);
    snprintf (dir, sizeof dir, "%s/dir", root);
    assert_int_equal (keep_with (dir, id, err, sizeof err), -1);

    p = planted (root, "huge");
    int fd = open (p, O_WRONLY | O_CREAT, 0600);
    assert_true (fd >= 0);
    assert_int_equal (write (fd, "abcdef", 6), 6);
    assert_int_equal (ftruncate (fd, (off_t) 1 << 32), 0);
    close (fd);
    snprintf (dir, sizeof dir, "%s/huge", root);
    assert_int_equal (keep_with (dir, id, err, sizeof err), -1);

    p = planted (root, "junk");
    f = fopen (p, "w");
    fputs ("../../etc\n", f);
    fclose (f);
    snprintf (dir, sizeof dir, "%s/junk", root);
    assert_int_equal (keep_with (dir, id, err, sizeof err), -1);
    assert_non_null (strstr (err, "does not hold an instance id"));

    p = planted (root, "blank");
    f = fopen (p, "w");
    for (int i = 0; i < 100; i++)
        fputs (" \n", f);
    fclose (f);
    snprintf (dir, sizeof dir, "%s/blank", root);
    assert_int_equal (keep_with (dir, id, err, sizeof err), 1);
    assert_int_equal (strlen (id), SVC_IDENT_LEN);
    assert_int_equal (keep_with (dir, id2, err, sizeof err), 1);
    assert_string_equal (id, id2);
    alarm (0);
}

/* The broker's resident memory in KiB (VmRSS), or -1. */
static long
rss_kib (pid_t pid)
{
    char path[64], line[256];
    snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *f = fopen (path, "r");
    long kib = -1;
    while (f && fgets (line, sizeof line, f))
        if (!strncmp (line, "VmRSS:", 6))
            kib = strtol (line + 6, NULL, 10);
    if (f)
        fclose (f);
    return kib;
}

/* The reply type to a ping sent to name (PROTO_TYPE_COUNT: none). */
static proto_type_t
ping (bus_client_t *c, const char *name)
{
    proto_msg_t *req = proto_msg_new (PROTO_ping, NULL);
    proto_msg_t *rep = bus_client_request (c, name, req);
    proto_type_t t = rep ? rep->type : PROTO_TYPE_COUNT;
    proto_msg_destroy (&req);
    proto_msg_destroy (&rep);
    return t;
}

/* A tenant names instances that do not exist: odd ones (empty parts,
 * many dots, the broker's own name, the longest name) and 20000 distinct
 * made-up ones. Each is answered at once (not_found or bad_service), and
 * the broker's memory does not grow with the names. Held. */
static void
test_broker_unknown_instances (void **state)
{
    (void) state;
    support_sandbox_env ("redteam_arch_bus");
    setenv ("CAISSON_HEARTBEAT_MS", "100", 1);
    pid_t bus = support_spawn ("caisson-bus", NULL);
    assert_true (bus > 0);
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    assert_non_null (c);
    bus_client_set_timeout (c, 2000, 0);
    for (int i = 0; i < 100 && ping (c, "bus") != PROTO_pong; i++)
        usleep (50000);
    zclock_sleep (1000);        /* past the start-up grace */
    char longest[300];
    memset (longest, 'a', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    longest[3] = '.';
    const char *odd[] = { "x.", ".x", "a..b", "a.b.c.d", "bus.x", "sandbox-manager.",
                          ".", "..", "tool-runner.\xff\xfe", longest, NULL };
    for (int i = 0; odd[i]; i++) {
        int64_t t0 = zclock_mono ();
        proto_type_t t = ping (c, odd[i]);
        int64_t ms = zclock_mono () - t0;
        if (t != PROTO_error || ms >= 1000)
            fail_msg ("'%.20s': reply %d after %lld ms", odd[i], (int) t, (long long) ms);
    }
    long before = rss_kib (bus);
    char name[96];
    for (int i = 0; i < 20000; i++) {
        snprintf (name, sizeof name, "sandbox-manager.t%06d%040d", i, i);
        assert_int_equal (ping (c, name), PROTO_error);
    }
    long after = rss_kib (bus);
    print_message ("broker RSS %ld KiB -> %ld KiB after 20000 unknown names\n", before, after);
    assert_true (before > 0);
#ifndef __SANITIZE_ADDRESS__
    /* ASan's quarantine keeps freed memory resident (up to 256 MiB) */
    assert_true (after - before < 8 * 1024);
#endif
    assert_int_equal (ping (c, "bus"), PROTO_pong);
    bus_client_destroy (&c);
    support_expect_clean_exit (bus);
}

/* event.append's kind check against hostile kinds and payloads: a 64 KiB
 * kind, a kind with a dot (a subject's separator), a declared kind with
 * a payload nested 2000 deep, and a one-byte reason buffer. Each refused,
 * nothing overrun. Held. */
static void
test_event_kinds_hostile (void **state)
{
    (void) state;
    char why[256], tiny[1] = { 'z' };
    size_t n = 64 * 1024;
    char *kind = malloc (n + 1);
    memset (kind, 'p', n);
    kind[n] = '\0';
    json_t *d = json_pack ("{s:s}", "text", "x");
    assert_int_equal (evk_check (kind, d, why, sizeof why), -1);
    assert_true (strlen (why) < sizeof why);
    assert_int_equal (evk_check ("plan.x", d, why, sizeof why), -1);
    assert_int_equal (evk_check ("plan", d, why, sizeof why), 0);
    assert_int_equal (evk_check (kind, d, tiny, 0), -1);
    assert_int_equal (tiny[0], 'z');
    assert_int_equal (evk_check (kind, d, tiny, 1), -1);
    assert_int_equal (tiny[0], '\0');
    json_decref (d);
    free (kind);
    char *text = malloc (2000 * 2 + 32);
    size_t o = (size_t) sprintf (text, "{\"text\":");
    for (int i = 0; i < 1990; i++)
        text[o++] = '[';
    for (int i = 0; i < 1990; i++)
        text[o++] = ']';
    text[o++] = '}';
    text[o] = '\0';
    d = json_loads (text, 0, NULL);
    free (text);
    assert_non_null (d);
    assert_int_equal (evk_check ("plan", d, why, sizeof why), -1);
    json_decref (d);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_http_name_odd_and_short),
        cmocka_unit_test (test_http_names_unique_in_catalogue),
        cmocka_unit_test (test_body_names_other_sandbox),
        cmocka_unit_test (test_body_huge_key),
        cmocka_unit_test (test_jsoncap_deep),
        cmocka_unit_test (test_jsoncap_huge_strings),
        cmocka_unit_test (test_jsoncap_bad_utf8_and_keys),
        cmocka_unit_test (test_jsoncap_many_equal_parts),
        cmocka_unit_test (test_ident_planted_files),
        cmocka_unit_test (test_broker_unknown_instances),
        cmocka_unit_test (test_event_kinds_hostile),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
