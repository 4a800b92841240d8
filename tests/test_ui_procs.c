/* test_ui_procs: a sandbox's background processes over HTTP, through the
 * real broker, sandbox-manager and ui-bridge (root, as the sandbox tests):
 * alice starts two with `background: true`, lists them, waits for one,
 * reads its output and kills the other; bob gets 404 on each route, as
 * for a sandbox that does not exist. */
#include "sbx_client.h"
#include "ui_support.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pid_t s_bridge;
static const char *s_alice, *s_bob;

static int
setup (void **state)
{
    if (geteuid () != 0)
        skip ();
    int rc = sbx_setup (state);
    ui_pick_port ();
    s_bridge = support_spawn ("caisson-ui-bridge", NULL);
    assert_int_equal (ui_wait_ready (), 0);
    s_alice = ui_token (0, "alice", 0);
    s_bob = ui_token (1, "bob", 0);
    return rc;
}

static int
teardown (void **state)
{
    support_expect_clean_exit (s_bridge);
    return sbx_teardown (state);
}

static const char *
error_code (json_t *doc)
{
    return json_string_value (json_object_get (json_object_get (doc, "error"), "code"));
}

/* POSTs an exec with background:true; returns the pid. */
static long long
start_bg (const char *id, const char *cmd)
{
    char path[160], body[512];
    long status;
    snprintf (path, sizeof path, "/api/sandboxes/%s/exec", id);
    snprintf (body, sizeof body, "{\"command\":\"%s\",\"background\":true}", cmd);
    json_t *doc = ui_json ("POST", path, s_alice, body, &status);
    assert_int_equal (status, 200);
    long long pid = json_integer_value (json_object_get (doc, "pid"));
    assert_true (pid > 0);
    json_decref (doc);
    return pid;
}

/* The entry for pid in a processes listing, or NULL. */
static json_t *
find_proc (json_t *doc, long long pid)
{
    json_t *p;
    size_t i;
    json_array_foreach (json_object_get (doc, "processes"), i, p)
        if (json_integer_value (json_object_get (p, "pid")) == pid)
            return p;
    return NULL;
}

static void
test_processes (void **state)
{
    (void) state;
    long status;
    json_t *doc = ui_json ("POST", "/api/sandboxes", s_alice, "{\"language\":\"python\"}",
                           &status);
    assert_int_equal (status, 201);
    char id[96], base[160], path[256];
    snprintf (id, sizeof id, "%s", json_string_value (json_object_get (doc, "sandboxId")));
    json_decref (doc);
    snprintf (base, sizeof base, "/api/sandboxes/%s/processes", id);

    long long quick = start_bg (id, "sleep 0.5; echo done-quick; exit 3");
    long long slow = start_bg (id, "sleep 300");

    doc = ui_json ("GET", base, s_alice, NULL, &status);
    assert_int_equal (status, 200);
    assert_non_null (find_proc (doc, quick));
    json_t *p = find_proc (doc, slow);
    assert_non_null (p);
    assert_true (json_is_true (json_object_get (p, "running")));
    json_decref (doc);

    snprintf (path, sizeof path, "%s/%lld/wait", base, quick);
    doc = ui_json ("POST", path, s_alice, "{\"timeoutSeconds\":20}", &status);
    assert_int_equal (status, 200);
    assert_false (json_is_true (json_object_get (doc, "running")));
    assert_int_equal (json_integer_value (json_object_get (doc, "exitCode")), 3);
    json_decref (doc);

    snprintf (path, sizeof path, "%s/%lld/output", base, quick);
    doc = ui_json ("GET", path, s_alice, NULL, &status);
    assert_int_equal (status, 200);
    assert_non_null (strstr (json_string_value (json_object_get (doc, "stdout")), "done-quick"));
    json_decref (doc);

    /* A wait that times out answers running=true. */
    snprintf (path, sizeof path, "%s/%lld/wait", base, slow);
    doc = ui_json ("POST", path, s_alice, "{\"timeoutSeconds\":1}", &status);
    assert_int_equal (status, 200);
    assert_true (json_is_true (json_object_get (doc, "running")));
    json_decref (doc);

    snprintf (path, sizeof path, "%s/%lld/kill", base, slow);
    doc = ui_json ("POST", path, s_alice, NULL, &status);
    assert_int_equal (status, 200);
    json_decref (doc);
    snprintf (path, sizeof path, "%s/%lld/wait", base, slow);
    doc = ui_json ("POST", path, s_alice, "{\"timeoutSeconds\":10}", &status);
    assert_int_equal (status, 200);
    assert_false (json_is_true (json_object_get (doc, "running")));
    assert_int_equal (json_integer_value (json_object_get (doc, "exitCode")), 128 + SIGKILL);
    json_decref (doc);

    /* bob: 404 on every route, as for a sandbox that does not exist. */
    const char *routes[][2] = {
        { "GET", "" }, { "GET", "/output" }, { "POST", "/wait" }, { "POST", "/kill" },
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (*routes[i][1])
            snprintf (path, sizeof path, "%s/%lld%s", base, quick, routes[i][1]);
        else
            snprintf (path, sizeof path, "%s", base);
        doc = ui_json (routes[i][0], path, s_bob, NULL, &status);
        if (status != 404)
            fail_msg ("bob %s %s: %ld", routes[i][0], path, status);
        assert_string_equal (error_code (doc), "not_found");
        json_decref (doc);
    }
    /* A pid that is not a number, and one that does not exist. */
    snprintf (path, sizeof path, "%s/abc/output", base);
    doc = ui_json ("GET", path, s_alice, NULL, &status);
    assert_int_equal (status, 400);
    json_decref (doc);
    snprintf (path, sizeof path, "%s/999999/output", base);
    doc = ui_json ("GET", path, s_alice, NULL, &status);
    assert_int_equal (status, 404);
    json_decref (doc);

    /* Following: since/stderrSince give only newer output, wait waits
     * for some; the last answer has the exit code. Bad values are 400. */
    long long ticks = start_bg (id, "for i in 1 2 3; do echo tick $i; echo w $i >&2; "
                                    "sleep 0.4; done; exit 6");
    char all[256] = "", errs[256] = "";
    long long since = 0, esince = 0;
    bool running = true;
    for (int k = 0; running && k < 40; k++) {
        snprintf (path, sizeof path, "%s/%lld/output?since=%lld&stderrSince=%lld&wait=5", base,
                  ticks, since, esince);
        doc = ui_json ("GET", path, s_alice, NULL, &status);
        assert_int_equal (status, 200);
        running = json_is_true (json_object_get (doc, "running"));
        const char *out = json_string_value (json_object_get (doc, "stdout")) ?: "";
        const char *err = json_string_value (json_object_get (doc, "stderr")) ?: "";
        assert_true (!running || *out || *err);
        strncat (all, out, sizeof all - strlen (all) - 1);
        strncat (errs, err, sizeof errs - strlen (errs) - 1);
        since = json_integer_value (json_object_get (doc, "offset"));
        esince = json_integer_value (json_object_get (doc, "stderrOffset"));
        if (!running)
            assert_int_equal (json_integer_value (json_object_get (doc, "exitCode")), 6);
        json_decref (doc);
    }
    assert_false (running);
    assert_string_equal (all, "tick 1\ntick 2\ntick 3\n");
    assert_string_equal (errs, "w 1\nw 2\nw 3\n");
    const char *bad[] = { "since=-1", "since=x", "wait=26", "stderrSince=1e3",
                          "since=99999999999999999999" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf (path, sizeof path, "%s/%lld/output?%s", base, ticks, bad[i]);
        doc = ui_json ("GET", path, s_alice, NULL, &status);
        assert_int_equal (status, 400);
        json_decref (doc);
    }
    /* bob's follow of alice's process: 404, at once */
    snprintf (path, sizeof path, "%s/%lld/output?since=0&wait=20", base, ticks);
    doc = ui_json ("GET", path, s_bob, NULL, &status);
    assert_int_equal (status, 404);
    json_decref (doc);
    snprintf (path, sizeof path, "%s/999999/output?since=0&wait=20", base);
    doc = ui_json ("GET", path, s_alice, NULL, &status);
    assert_int_equal (status, 404);
    json_decref (doc);

    snprintf (path, sizeof path, "/api/sandboxes/%s", id);
    doc = ui_json ("DELETE", path, s_alice, NULL, &status);
    assert_int_equal (status, 200);
    json_decref (doc);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_processes),
    };
    return cmocka_run_group_tests (tests, setup, teardown);
}
