/* test_gateway_sandbox: a sandbox's model access through the gateway
 * (issue 16), on a whole stack (`caisson up`) whose provider is the
 * scripted model standing in for OpenAI: OPENAI_BASE_URL points at a
 * llm-replay that demands OPENAI_API_KEY = sk-caisson-REAL-<random>, the
 * "real" key. A sandbox a user creates gets a minted virtual key (kind
 * sandbox, expiring with it, revoked on destroy); inside, OPENAI_BASE_URL
 * and ANTHROPIC_BASE_URL name 127.0.0.1:$CAISSON_GATEWAY_SANDBOX_PORT and
 * a python3 urllib program using only its environment gets an answer, in
 * network modes none and policy (the init relays the port to egress-proxy's
 * gateway.sock, which relays to the gateway, counting the bytes, and the
 * gateway swaps the key).
 * test_real_key_nowhere (S6): the real key's bytes are in nothing the
 * sandbox can read, nor in sandbox.info, the data dir, the manager's or the
 * init's environment; they are in the gateway's (positive control), and the
 * scripted model refuses calls without them (so the gateway did send them).
 * Skips unless root (sandboxes). */
#define _GNU_SOURCE
#include "gw_stack.h"
#include "mpjson.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char s_program[] =
    "import json, os, urllib.request\n"
    "base = os.environ['OPENAI_BASE_URL']\n"
    "key = os.environ['OPENAI_API_KEY']\n"
    "body = json.dumps({'model': 'openai/gpt-test', 'stream': False,\n"
    "                   'messages': [{'role': 'user', 'content': 'hello gateway'}]}).encode()\n"
    "req = urllib.request.Request(base + '/chat/completions', data=body, headers={\n"
    "    'Authorization': 'Bearer ' + key, 'Content-Type': 'application/json'})\n"
    "try:\n"
    "    r = urllib.request.urlopen(req, timeout=60)\n"
    "    print('STATUS', r.status)\n"
    "    print(r.read().decode()[:400])\n"
    "except urllib.error.HTTPError as e:\n"
    "    print('STATUS', e.code)\n"
    "    print(e.read().decode()[:400])\n";

/* the orchestrator's calls go through the gateway too (S9): it holds no
 * provider key at all */
static const char *const s_env[] = { "CAISSON_GATEWAY_ORCHESTRATOR=1", NULL };

static int
setup (void **state)
{
    (void) state;
    gws_up ("gwsbx", s_env);
    return 0;
}

static int
teardown (void **state)
{
    (void) state;
    gws_down ();
    return 0;
}

/* The sandbox key of sandbox id in alice's keys (revoked ones when
 * revoked): a new object, or NULL. */
static json_t *
key_of (const char *id, bool revoked)
{
    proto_msg_t *req = gws_as ("alice", PROTO_gkey_list);
    proto_set_str (&req->body.gkey_list.kind, "sandbox");
    req->body.gkey_list.revoked = revoked;
    proto_msg_t *rep = gws_ask (req, "gateway-keys");
    json_t *keys = mpjson_get (&rep->body.gkey_page.keys, 8), *k, *found = NULL;
    size_t i;
    json_array_foreach (keys, i, k)
        if (!strcmp (support_json_str (k, "sandboxId") ?: "", id))
            found = json_incref (k);
    json_decref (keys);
    proto_msg_destroy (&rep);
    return found;
}

/* One sandbox of mode net: a key minted, the model called from inside
 * with only the environment, the key revoked on destroy. */
static void
call_from (const char *net)
{
    proto_msg_t *info = gws_sandbox ("alice", net);
    const proto_sandbox_info_t *i = &info->body.sandbox_info;
    char id[128], want[64];
    snprintf (id, sizeof id, "%s", i->sandbox_id);
    snprintf (want, sizeof want, "http://127.0.0.1:%s",
              getenv ("CAISSON_GATEWAY_SANDBOX_PORT") ?: "4000");
    assert_non_null (i->gateway_url);
    assert_string_equal (i->gateway_url, want);
    assert_non_null (i->gateway_key_id);
    json_t *key = key_of (id, false);
    assert_non_null (key);
    assert_string_equal (support_json_str (key, "id"), i->gateway_key_id);
    assert_int_equal (json_integer_value (json_object_get (key, "expiresAt")), i->expires_at);
    json_decref (key);
    proto_msg_destroy (&info);

    proto_msg_t *r = gws_sh ("alice", id, "echo \"$OPENAI_BASE_URL $ANTHROPIC_BASE_URL\"; "
                             "case \"$OPENAI_API_KEY\" in vk_alice_*) echo VIRTUAL;; esac");
    char line[256];
    snprintf (line, sizeof line, "%s/v1 %s\nVIRTUAL\n", want, want);
    assert_string_equal (r->body.sandbox_exec_result.stdout, line);
    proto_msg_destroy (&r);

    proto_msg_t *req = gws_as ("alice", PROTO_sandbox_run_code);
    proto_set_str (&req->body.sandbox_run_code.sandbox_id, id);
    proto_set_str (&req->body.sandbox_run_code.language, "python");
    proto_set_str (&req->body.sandbox_run_code.code, s_program);
    req->body.sandbox_run_code.timeout_seconds = 120;
    r = gws_ask (req, "sandbox-manager");
    const char *got = r->body.sandbox_exec_result.stdout ?: "";
    if (r->body.sandbox_exec_result.exit_code != 0 || strncmp (got, "STATUS 200\n", 11)
        || !strstr (got, "\"choices\""))
        fail_msg ("mode %s: the program got: %s / %s", net, got,
                  r->body.sandbox_exec_result.stderr ?: "");
    proto_msg_destroy (&r);
    /* egress-proxy carried it on the sandbox's gateway path and counted
     * its bytes (asked as the manager does: no user) */
    req = proto_msg_new (PROTO_egress_stats_get, NULL);
    proto_set_str (&req->body.egress_stats_get.sandbox_id, id);
    r = gws_ask (req, "egress-proxy");
    assert_true (r->body.egress_stats.total >= 1);
    assert_true (r->body.egress_stats.bytes_up > 100);
    assert_true (r->body.egress_stats.bytes_down > 100);
    proto_msg_destroy (&r);

    gws_destroy ("alice", id);
    assert_null (key_of (id, false));
    key = key_of (id, true);
    assert_non_null (key);
    assert_true (json_is_true (json_object_get (key, "revoked")));
    json_decref (key);
}

static void
test_call_mode_none (void **state)
{
    (void) state;
    if (!gws_dir ()[0])
        skip ();
    call_from ("none");
}

static void
test_call_mode_policy (void **state)
{
    (void) state;
    if (!gws_dir ()[0])
        skip ();
    call_from ("policy");
}

/* Whether the file at path holds the real key. */
static bool
file_has (const char *path)
{
    FILE *f = fopen (path, "r");
    assert_non_null (f);
    static char buf[1 << 20];
    size_t n = fread (buf, 1, sizeof buf, f);
    fclose (f);
    return memmem (buf, n, gws_real_key (), strlen (gws_real_key ())) != NULL;
}

/* S6: the real key is nowhere a sandbox (or what serves it) can read. */
static void
test_real_key_nowhere (void **state)
{
    (void) state;
    if (!gws_dir ()[0])
        skip ();
    proto_msg_t *info = gws_sandbox ("alice", "policy");
    char id[128];
    snprintf (id, sizeof id, "%s", info->body.sandbox_info.sandbox_id);
    pid_t init = (pid_t) info->body.sandbox_info.init_pid;
    proto_msg_destroy (&info);
    /* a call first, so whatever it leaves behind is searched too */
    proto_msg_t *req = gws_as ("alice", PROTO_sandbox_run_code);
    proto_set_str (&req->body.sandbox_run_code.sandbox_id, id);
    proto_set_str (&req->body.sandbox_run_code.code, s_program);
    proto_msg_t *r = gws_ask (req, "sandbox-manager");
    assert_non_null (strstr (r->body.sandbox_exec_result.stdout ?: "", "STATUS 200"));
    proto_msg_destroy (&r);
    /* Inside, as the sandbox's uid. The key is split in the command line,
     * so the command itself does not carry it. /usr and /opt (the host's
     * installed files, read-only) are left out: 10 GB here, and no
     * Caisson process writes there. */
    /* The pattern is the key with an empty group in its middle (-E), so
     * no command line here, which the search reads too, holds the key. */
    char cmd[2048], pat[80];
    size_t h = strlen (gws_real_key ()) / 2;
    snprintf (pat, sizeof pat, "%.*s()%s", (int) h, gws_real_key (), gws_real_key () + h);
    snprintf (cmd, sizeof cmd,
              "K='%s'; V=$OPENAI_API_KEY; "
              "echo control; env | grep -cF \"$V\"; "
              "for p in /proc/[0-9]*; do cat $p/environ $p/cmdline 2>/dev/null; done "
              "| grep -caE \"$K\"; "
              "grep -rlaE -D skip -s --exclude-dir=proc --exclude-dir=sys --exclude-dir=usr "
              "--exclude-dir=opt \"$K\" / ; "
              "for f in /proc/1/*; do [ -f $f ] && cat $f 2>/dev/null; done | grep -caE \"$K\"; "
              "env | grep -cE \"$K\"; "
              "grep -rlaE \"$K\" \"$PWD\"; echo end",
              pat);
    r = gws_sh ("alice", id, cmd);
    const char *got = r->body.sandbox_exec_result.stdout ?: "";
    /* the control (the virtual key: OPENAI_ and ANTHROPIC_API_KEY) matches;
     * every count of the real key is 0, no path is listed */
    if (strcmp (got, "control\n2\n0\n0\n0\nend\n"))
        fail_msg ("inside the sandbox: %s", got);
    proto_msg_destroy (&r);
    /* Outside: what the sandbox's owner is told, what serves it. */
    req = gws_as ("alice", PROTO_sandbox_get);
    proto_set_str (&req->body.sandbox_get.sandbox_id, id);
    r = gws_ask (req, "sandbox-manager");
    uint8_t *wire = NULL;
    size_t wn = 0;
    assert_int_equal (proto_encode (r, &wire, &wn), 0);
    assert_null (memmem (wire, wn, gws_real_key (), strlen (gws_real_key ())));
    free (wire);
    proto_msg_destroy (&r);
    char path[600];
    snprintf (path, sizeof path, "/proc/%d/environ", (int) gws_pid_of ("sandbox-manager"));
    assert_false (file_has (path));
    snprintf (path, sizeof path, "/proc/%d/environ", (int) init);
    assert_false (file_has (path));
    snprintf (path, sizeof path, "/proc/%d/environ", (int) gws_pid_of ("egress-proxy"));
    assert_false (file_has (path));
    snprintf (cmd, sizeof cmd, "grep -rlaF '%s' '%s' > %s/grep.out; true",
              gws_real_key (), gws_dir (), gws_dir ());
    support_sh ("%s", cmd);
    snprintf (path, sizeof path, "%s/grep.out", gws_dir ());
    FILE *f = fopen (path, "r");
    char line[1024] = "";
    if (f && fgets (line, sizeof line, f))
        fail_msg ("the data dir holds the real key: %s", line);
    if (f)
        fclose (f);
    snprintf (path, sizeof path, "/proc/%d/environ", (int) gws_pid_of ("orchestrator"));
    assert_false (file_has (path));     /* CAISSON_GATEWAY_ORCHESTRATOR=1 */
    /* Positive controls: the gateway holds it, and uses it. */
    snprintf (path, sizeof path, "/proc/%d/environ", (int) gws_pid_of ("gateway"));
    assert_true (file_has (path));
    gws_destroy ("alice", id);
}

/* S9: with CAISSON_GATEWAY_ORCHESTRATOR=1 a run's model calls go through
 * the gateway with a key minted for the run (kind run, its user's): the
 * scripted model answers only the real key, which the orchestrator does
 * not hold, and the key's usage counts the calls. */
static void
test_run_via_gateway (void **state)
{
    (void) state;
    if (!gws_dir ()[0])
        skip ();
    proto_msg_t *req = gws_as ("alice", PROTO_run_start);
    proto_set_str (&req->body.run_start.task, "say hello");
    proto_set_str (&req->body.run_start.model, "openai/gpt-test");
    proto_msg_t *r = gws_ask (req, "orchestrator");
    char run[64];
    snprintf (run, sizeof run, "%s", r->body.run_started.run_id);
    proto_msg_destroy (&r);
    uint64_t calls = 0;
    for (int i = 0; i < 300 && !calls; i++) {
        req = gws_as ("alice", PROTO_gkey_list);
        proto_set_str (&req->body.gkey_list.kind, "run");
        req->body.gkey_list.revoked = true;
        r = gws_ask (req, "gateway-keys");
        json_t *keys = mpjson_get (&r->body.gkey_page.keys, 8), *k;
        size_t n;
        json_array_foreach (keys, n, k)
            if (!strcmp (support_json_str (k, "run") ?: "", run)) {
                json_t *u = json_object_get (k, "usage");
                calls = (uint64_t) json_integer_value (json_object_get (u, "calls"));
                assert_string_equal (support_json_str (k, "user"), "alice");
            }
        json_decref (keys);
        proto_msg_destroy (&r);
        if (!calls)
            usleep (100000);
    }
    if (!calls)
        fail_msg ("run %s: no call on a key of its own within 30 s", run);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_call_mode_none),
        cmocka_unit_test (test_call_mode_policy),
        cmocka_unit_test (test_real_key_nowhere),
        cmocka_unit_test (test_run_via_gateway),
    };
    return support_run_group_tests (tests, setup, teardown);
}
