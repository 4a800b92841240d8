/* test_net_tools: the tools' side of sandbox networking (issue 15):
 * createSandbox's network arguments reach sandbox-manager, and
 * requestNetworkAccess checks its rule (syntax, the deployment's ceiling)
 * before anything is sent, describes itself for the approval prompt in a
 * dry run, and once run sends sandbox.net.update with the host, the
 * reason and its call id. Against fake_sandbox.c, which logs each create's
 * network fields and each update; the ceiling is "*.test" plus loopback. */
#include "support.h"
#include "bus_client.h"
#include "catalogue.h"
#include "fake_sandbox.h"
#include "schema.h"

#include <czmq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_dir;
static char s_self[1024];
static pid_t s_bus, s_sbx, s_tools;
static bus_client_t *s_client;
static char s_run[CID_SIZE];

static int
setup (void **state)
{
    (void) state;
    s_dir = support_sandbox_env ("nettools");
    setenv ("CAISSON_EGRESS_ALLOW_MAX", "*.test,pypi.test,127.0.0.0/8:1-65535", 1);
    s_bus = support_spawn ("caisson-bus", NULL);
    s_sbx = support_spawn_self ((const char *[]) { s_self, "fake-sandbox", NULL });
    s_tools = support_spawn ("caisson-tool-runner", NULL);
    s_client = bus_client_new (getenv ("CAISSON_BUS"));
    support_await_service (s_client, "tool-runner");
    support_await_service (s_client, "sandbox-manager");
    cid_new (s_run);
    return s_client ? 0 : -1;
}

static int
teardown (void **state)
{
    (void) state;
    bus_client_destroy (&s_client);
    support_expect_clean_exit (s_tools);
    support_stop (s_sbx, SIGTERM, 2000);
    support_stop (s_bus, SIGTERM, 2000);
    return 0;
}

/* Calls tool name with args (JSON text) as alice in the run, a dry run
 * when dry; its result, after asserting its ok flag is expect_ok. call_id
 * (CID_SIZE + 30 bytes) receives the call's id when not NULL. */
static json_t *
call (const char *name, const char *args, bool dry, bool expect_ok, char *call_id)
{
    char id[CID_SIZE], cid[80];
    cid_new (id);
    snprintf (cid, sizeof cid, "%s/%s", s_run, id);
    if (call_id)
        strcpy (call_id, cid);
    proto_msg_t *req = support_tools_call_new (name, cid, dry, args, NULL);
    proto_set_str (&req->env.user, "alice");
    proto_set_str (&req->env.run, s_run);
    bus_client_set_timeout (s_client, 30000, 1);
    proto_msg_t *rep = bus_client_request (s_client, "tool-runner", req);
    proto_msg_destroy (&req);
    assert_non_null (rep);
    bool ok;
    json_t *r = support_tools_result (rep, name, &ok);
    return support_tools_expect (r, name, ok, expect_ok);
}

/* The last line of <dir>/name as JSON (new), or NULL when there is none. */
static json_t *
last_logged (const char *name)
{
    char path[1024], line[8192], last[8192] = "";
    snprintf (path, sizeof path, "%s/%s", s_dir, name);
    FILE *fp = fopen (path, "r");
    while (fp && fgets (line, sizeof line, fp))
        strcpy (last, line);
    if (fp)
        fclose (fp);
    return *last ? json_loads (last, 0, NULL) : NULL;
}

static int
count_lines (const char *name)
{
    char path[1024], line[8192];
    snprintf (path, sizeof path, "%s/%s", s_dir, name);
    FILE *fp = fopen (path, "r");
    int n = 0;
    while (fp && fgets (line, sizeof line, fp))
        n++;
    if (fp)
        fclose (fp);
    return n;
}

/* The schema offers none|policy (never host), bounds the lists, and
 * requestNetworkAccess is mutating (external) so the approval gate asks. */
static void
test_schema (void **state)
{
    (void) state;
    catalogue_t *cat = catalogue_new ();
    assert_non_null (cat);
    size_t ix;
    assert_non_null (catalogue_find (cat, "createSandbox", &ix));
    const char *bad[] = {
        "{\"network\":\"host\"}",
        "{\"network\":\"policy\",\"networkAllow\":[\"\"]}",
        "{\"networkDeny\":\"pypi.org\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *args = json_loads (bad[i], 0, NULL), *err = NULL;
        assert_int_not_equal (schema_validate (catalogue_input (cat, ix), args, &err), 0);
        json_decref (err);
        json_decref (args);
    }
    json_t *many = json_array ();
    for (int i = 0; i < 65; i++)
        json_array_append_new (many, json_sprintf ("h%d.test", i));
    json_t *args = json_pack ("{s:s, s:O}", "network", "policy", "networkAllow", many), *err = NULL;
    assert_int_not_equal (schema_validate (catalogue_input (cat, ix), args, &err), 0);
    json_decref (err);
    json_array_remove (many, 0);
    json_object_set (args, "networkAllow", many);
    err = NULL;
    assert_int_equal (schema_validate (catalogue_input (cat, ix), args, &err), 0);
    json_decref (args);
    json_decref (many);

    assert_non_null (catalogue_find (cat, "requestNetworkAccess", &ix));
    json_t *row = json_array_get (catalogue_json (cat), ix);
    assert_true (json_is_true (json_object_get (row, "mutates")));
    assert_string_equal (support_json_str (row, "effect"), "external");
    char reason[502];
    memset (reason, 'r', 501);
    reason[501] = '\0';
    json_t *too_long = json_pack ("{s:s, s:s, s:s}", "sandboxId", "s1", "host", "a.test",
                                  "reason", reason);
    json_t *no_reason = json_pack ("{s:s, s:s}", "sandboxId", "s1", "host", "a.test");
    json_t *odd_host = json_pack ("{s:s, s:s, s:s}", "sandboxId", "s1", "host", "a.test/$x",
                                  "reason", "r");
    json_t *fine = json_pack ("{s:s, s:s, s:s}", "sandboxId", "s1", "host",
                              "[fd00::1]:443", "reason", "r");
    json_t *cases[] = { too_long, no_reason, odd_host };
    for (size_t i = 0; i < 3; i++) {
        err = NULL;
        assert_int_not_equal (schema_validate (catalogue_input (cat, ix), cases[i], &err), 0);
        json_decref (err);
        json_decref (cases[i]);
    }
    err = NULL;
    assert_int_equal (schema_validate (catalogue_input (cat, ix), fine, &err), 0);
    json_decref (fine);
    catalogue_destroy (&cat);
}

/* A sandbox created by the tool with network policy; its id. The fake
 * saw the mode and both lists. */
static void
policy_sandbox (char *id, size_t n)
{
    json_t *r = call ("createSandbox", "{\"network\":\"policy\",\"networkAllow\":"
                      "[\"pypi.test:8000\",\"127.0.0.2:8000\"],\"networkDeny\":[\"bad.test\"]}",
                      false, true, NULL);
    snprintf (id, n, "%s", support_json_str (r, "sandboxId"));
    json_decref (r);
    json_t *c = last_logged ("creates");
    assert_non_null (c);
    assert_string_equal (support_json_str (c, "sandbox_id"), id);
    assert_string_equal (support_json_str (c, "network"), "policy");
    json_t *allow = json_object_get (c, "network_allow");
    assert_int_equal (json_array_size (allow), 2);
    assert_string_equal (json_string_value (json_array_get (allow, 1)), "127.0.0.2:8000");
    assert_string_equal (json_string_value (json_array_get (json_object_get (c, "network_deny"),
                                                            0)), "bad.test");
    json_decref (c);
}

static void
test_create_passes_network (void **state)
{
    (void) state;
    char id[96];
    policy_sandbox (id, sizeof id);
    json_t *r = call ("createSandbox", "{}", false, true, NULL);
    json_decref (r);
    json_t *c = last_logged ("creates");
    assert_false (json_is_array (json_object_get (c, "network_allow")));
    assert_false (json_is_string (json_object_get (c, "network")));
    json_decref (c);
}

/* The dry run (what the approval prompt shows) names host, sandbox and
 * reason, and sends no update. */
static void
test_dry_run (void **state)
{
    (void) state;
    char id[96], args[512];
    policy_sandbox (id, sizeof id);
    int before = count_lines ("net_updates");
    snprintf (args, sizeof args, "{\"sandboxId\":\"%s\",\"host\":\"files.test\","
              "\"reason\":\"the wheel is served from files.test\"}", id);
    json_t *r = call ("requestNetworkAccess", args, true, true, NULL);
    char want[256];
    snprintf (want, sizeof want, "allow files.test for sandbox %s: "
              "the wheel is served from files.test", id);
    assert_string_equal (support_json_str (r, "wouldDo"), want);
    assert_true (json_is_true (json_object_get (r, "dryRun")));
    json_decref (r);
    assert_int_equal (count_lines ("net_updates"), before);
}

/* Outside the ceiling, or not a rule: refused by the tool, dry run or
 * not, and nothing reaches the manager. */
static void
test_refusals (void **state)
{
    (void) state;
    char id[96], args[512];
    policy_sandbox (id, sizeof id);
    int before = count_lines ("net_updates");
    struct { const char *host, *code; bool dry; } cases[] = {
        { "files.example.org", "forbidden", false },
        { "files.example.org", "forbidden", true },
        { "10.0.0.0/8", "forbidden", false },
        { "a..test", "bad_policy", false },
        { "*", "bad_policy", true },
        { "pypi.test:99999", "bad_policy", false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf (args, sizeof args, "{\"sandboxId\":\"%s\",\"host\":\"%s\",\"reason\":\"r\"}",
                  id, cases[i].host);
        json_t *r = call ("requestNetworkAccess", args, cases[i].dry, false, NULL);
        if (strcmp (support_json_error_code (r), cases[i].code))
            fail_msg ("%s: want %s, got %s", cases[i].host, cases[i].code,
                      json_dumps (r, JSON_COMPACT));
        json_decref (r);
    }
    assert_int_equal (count_lines ("net_updates"), before);
}

/* Run (approved): one sandbox.net.update with the host, the reason and
 * the call's id; the result lists the rules in force. */
static void
test_update_sent (void **state)
{
    (void) state;
    char id[96], args[512], call_id[80];
    policy_sandbox (id, sizeof id);
    snprintf (args, sizeof args, "{\"sandboxId\":\"%s\",\"host\":\"files.test:8000\","
              "\"reason\":\"pip fetches the wheel there\"}", id);
    json_t *r = call ("requestNetworkAccess", args, false, true, call_id);
    assert_true (json_is_true (json_object_get (r, "success")));
    assert_string_equal (json_string_value (json_array_get (json_object_get (r, "allowed"), 0)),
                         "files.test:8000");
    assert_non_null (strstr (support_json_str (r, "note"), "files.test:8000"));
    json_decref (r);
    json_t *u = last_logged ("net_updates");
    assert_non_null (u);
    assert_string_equal (support_json_str (u, "sandbox_id"), id);
    assert_int_equal (json_array_size (json_object_get (u, "allow_add")), 1);
    assert_string_equal (json_string_value (json_array_get (json_object_get (u, "allow_add"), 0)),
                         "files.test:8000");
    assert_string_equal (support_json_str (u, "reason"), "pip fetches the wheel there");
    assert_string_equal (support_json_str (u, "tool_call_id"), call_id);
    json_decref (u);
}

int
main (int argc, char **argv)
{
    if (argc > 1 && !strcmp (argv[1], "fake-sandbox"))
        return fake_sandbox_main (getenv ("CAISSON_DATA"));
    support_self_exe (s_self, sizeof s_self);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_schema),
        cmocka_unit_test (test_create_passes_network),
        cmocka_unit_test (test_dry_run),
        cmocka_unit_test (test_refusals),
        cmocka_unit_test (test_update_sent),
    };
    return support_run_group_tests (tests, setup, teardown);
}
