/* test_gateway_sdk_sandbox: the official, unmodified `openai` and
 * `@anthropic-ai/sdk` clients run INSIDE a sandbox against the model
 * gateway, with nothing but the sandbox's environment (OPENAI_BASE_URL,
 * OPENAI_API_KEY, ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY), in network modes
 * none and policy (issue 16, S2), and the calls show up in the spend of
 * the sandbox's owner (D1, the done-when): `caisson key usage
 * --user alice --json` has them on the sandbox's minted key with their
 * tokens and cost, and `caisson stats --json` counts them for alice.
 * The stack is a whole `caisson up` whose providers are the scripted model
 * (llm-replay, demanding a random "real" key); the two SDK packages and
 * what `require` needs of their dependencies are tarred on the host from
 * tests/agui/node_modules (no .d.ts, .map or .mjs), written into the
 * sandbox and unpacked there with tests/gateway/sdk.cjs; node is the
 * host's (/usr is the host's, read-only). Prices are the gateway
 * fixture's: output $1 per million tokens, so a call of the fixed cassette
 * (50 output tokens) costs 50000 nano-USD. Skips unless root. */
#define _GNU_SOURCE
#include "gateway_fixture.h"
#include "gw_stack.h"
#include "mpjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What sdk.cjs `all` makes that reports output usage: chat whole, chat
 * streamed with and without include_usage (the gateway reads the usage
 * either way), messages whole and streamed; each GWF_FIXED_OUT tokens. */
#define OUT_CALLS 5
#define CALLS (OUT_CALLS + 1) /* and embeddings (no output, input free) */

static char *s_tgz;
static size_t s_tgz_len;

/* The SDKs and the dependencies they load, relative to tests/agui. */
static const char s_packages[] =
    "node_modules/openai node_modules/@anthropic-ai/sdk node_modules/@opentelemetry/api "
    "node_modules/standardwebhooks node_modules/@stablelib/base64 node_modules/fast-sha256 "
    "node_modules/json-schema-to-ts node_modules/ts-algebra";

/* Tars the SDKs (as agui/node_modules/...) and sdk.cjs (as
 * gateway/sdk.cjs) into s_tgz. */
static void
make_tarball (void)
{
    char path[600];
    snprintf (path, sizeof path, "%s/sdk.tgz", gws_dir ());
    support_sh ("cd %s/tests/agui && tar czf %s --exclude='*.d.ts' --exclude='*.d.mts' "
                "--exclude='*.d.cts' --exclude='*.map' --exclude='*.mjs' --exclude=src "
                "--transform 's,^node_modules,agui/node_modules,' %s "
                "-C %s/tests gateway/sdk.cjs",
                CAISSON_SOURCE_DIR, path, s_packages, CAISSON_SOURCE_DIR);
    FILE *f = fopen (path, "rb");
    assert_non_null (f);
    fseek (f, 0, SEEK_END);
    long n = ftell (f);
    fseek (f, 0, SEEK_SET);
    /* sandbox.write_file takes up to 8 MB; this is about 0.8 */
    assert_true (n > 100000 && n < 8000000);
    s_tgz = malloc ((size_t) n);
    assert_non_null (s_tgz);
    assert_int_equal (fread (s_tgz, 1, (size_t) n, f), (size_t) n);
    s_tgz_len = (size_t) n;
    fclose (f);
}

static const char *const s_env[] = { "CAISSON_GATEWAY_PRICES=" GWF_PRICES,
                                     "CAISSON_GATEWAY_MODELS=" GWF_MODELS, NULL };

static int
setup (void **state)
{
    (void) state;
    if (gws_up ("gwsdksbx", s_env))
        make_tarball ();
    return 0;
}

static int
teardown (void **state)
{
    (void) state;
    free (s_tgz);
    gws_down ();
    return 0;
}

/* Runs `caisson ARGS --json` (NULL-ended); its JSON output (new). */
static json_t *
cli_json (const char *const args[])
{
    const char *argv[16] = { "caisson" };
    size_t n = 1;
    for (size_t i = 0; args[i] && n < 14; i++)
        argv[n++] = args[i];
    argv[n++] = "--json";
    argv[n] = NULL;
    static char out[1 << 18];
    out[0] = '\0';
    if (support_run (argv, out, sizeof out) != 0)
        fail_msg ("caisson %s failed: %s", args[0], out);
    json_t *doc = json_loads (out, 0, NULL);
    if (!doc)
        fail_msg ("caisson %s printed no JSON: %s", args[0], out);
    return doc;
}

/* The scope key.<id> of alice's usage (new), or NULL. */
static json_t *
key_scope (const char *id)
{
    json_t *u = cli_json ((const char *const[]) { "key", "usage", "--user", "alice", NULL });
    json_t *sc, *found = NULL;
    size_t i;
    char name[64];
    snprintf (name, sizeof name, "key.%s", id);
    json_array_foreach (json_object_get (u, "scopes"), i, sc)
        if (!strcmp (support_json_str (sc, "scope") ?: "", name))
            found = json_incref (sc);
    json_decref (u);
    return found;
}

/* alice's spend in `caisson stats`: field of spend.byUser.alice. */
static json_int_t
stats_alice (const char *field)
{
    json_t *s = cli_json ((const char *const[]) { "stats", NULL });
    json_t *a = json_object_get (json_object_get (json_object_get (s, "spend"), "byUser"),
                                 "alice");
    json_int_t v = json_integer_value (json_object_get (a, field));
    json_decref (s);
    return v;
}

static json_int_t
num (json_t *o, const char *field)
{
    return json_integer_value (json_object_get (o, field));
}

/* One sandbox of mode net: the SDKs copied in, sdk.cjs run with only the
 * environment, its calls on the sandbox's key and in alice's spend. */
static void
sdk_from (const char *net)
{
    json_int_t calls0 = stats_alice ("calls"), nusd0 = stats_alice ("nusd");
    proto_msg_t *req = gws_as ("alice", PROTO_sandbox_create);
    proto_set_str (&req->body.sandbox_create.network, net);
    req->body.sandbox_create.ttl_seconds = 600;
    proto_msg_t *info = gws_ask (req, "sandbox-manager");
    char id[128], key[32];
    snprintf (id, sizeof id, "%s", info->body.sandbox_info.sandbox_id);
    assert_non_null (info->body.sandbox_info.gateway_key_id);
    snprintf (key, sizeof key, "%s", info->body.sandbox_info.gateway_key_id);
    proto_msg_destroy (&info);

    req = gws_as ("alice", PROTO_sandbox_write_file);
    proto_set_str (&req->body.sandbox_write_file.sandbox_id, id);
    proto_set_str (&req->body.sandbox_write_file.path, "gwsdk/sdk.tgz");
    proto_set_bytes (&req->body.sandbox_write_file.content, s_tgz, s_tgz_len);
    proto_msg_t *r = gws_ask (req, "sandbox-manager");
    proto_msg_destroy (&r);
    /* no --base, no --key: the SDKs read the sandbox's env */
    r = gws_sh ("alice", id, "cd gwsdk && tar xzf sdk.tgz && rm sdk.tgz && "
                "node gateway/sdk.cjs all --model " GWF_MODEL " --amodel " GWF_AMODEL
                " --task '" GWF_FIXED_TASK "' --out 50");
    const proto_sandbox_exec_result_t *x = &r->body.sandbox_exec_result;
    const char *got = x->stdout ?: "";
    const char *last = got;
    for (const char *p = got; *p; p++)
        if (*p == '\n' && p[1])
            last = p + 1;
    json_t *res = json_loads (last, JSON_DISABLE_EOF_CHECK, NULL);
    if (x->exit_code != 0 || !res || !json_is_true (json_object_get (res, "ok")))
        fail_msg ("mode %s: sdk.cjs exit %d: %s / %s", net, (int) x->exit_code, got,
                  x->stderr ?: "");
    json_t *results = json_object_get (res, "results");
    const char *kinds[] = { "chatWhole", "chatStreamUsage", "messagesWhole", "messagesStream" };
    for (size_t i = 0; i < 4; i++) {
        json_t *k = json_object_get (results, kinds[i]);
        assert_true (strlen (support_json_str (k, "text") ?: "") > 0);
        assert_int_equal (num (json_object_get (k, "usage"), "out"), GWF_FIXED_OUT);
    }
    json_decref (res);
    proto_msg_destroy (&r);

    /* D1: the sandbox's key carries the calls, settled, with their tokens
     * and cost; alice's spend in `caisson stats` (event-log) too */
    json_t *sc = NULL;
    for (int i = 0; i < 100; i++) {
        json_decref (sc);
        sc = key_scope (key);
        if (sc && num (sc, "reservedNusd") == 0
            && num (sc, "spentNusd") >= OUT_CALLS * GWF_FIXED_OUT * GWF_NUSD_PER_TOKEN)
            break;
        usleep (100000);
    }
    if (!sc)
        fail_msg ("mode %s: no scope key.%s in alice's usage", net, key);
    if (num (sc, "calls") != CALLS
        || num (sc, "spentNusd") != OUT_CALLS * GWF_FIXED_OUT * GWF_NUSD_PER_TOKEN
        || num (sc, "spentTokens") < OUT_CALLS * GWF_FIXED_OUT || num (sc, "reservedNusd"))
        fail_msg ("mode %s: key.%s: %s", net, key, json_dumps (sc, JSON_COMPACT));
    json_int_t calls = num (sc, "calls");
    json_decref (sc);
    json_int_t dcalls = 0, dnusd = 0;
    for (int i = 0; i < 100; i++) {
        dcalls = stats_alice ("calls") - calls0;
        dnusd = stats_alice ("nusd") - nusd0;
        if (dcalls >= calls)
            break;
        usleep (100000);
    }
    if (dcalls != calls || dnusd != OUT_CALLS * GWF_FIXED_OUT * GWF_NUSD_PER_TOKEN)
        fail_msg ("mode %s: stats show %lld calls, %lld nUSD for alice; the key %lld calls",
                  net, (long long) dcalls, (long long) dnusd, (long long) calls);

    req = gws_as ("alice", PROTO_sandbox_destroy);
    proto_set_str (&req->body.sandbox_destroy.sandbox_id, id);
    r = gws_ask (req, "sandbox-manager");
    proto_msg_destroy (&r);
}

static void
test_sdk_mode_none (void **state)
{
    (void) state;
    if (!gws_dir ()[0])
        skip ();
    sdk_from ("none");
}

static void
test_sdk_mode_policy (void **state)
{
    (void) state;
    if (!gws_dir ()[0])
        skip ();
    sdk_from ("policy");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_sdk_mode_none),
        cmocka_unit_test (test_sdk_mode_policy),
    };
    return support_run_group_tests (tests, setup, teardown);
}
