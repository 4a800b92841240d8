/* test_gateway_run: runs and the model gateway (issue 16), on a whole
 * stack (`caisson up`, CAISSON_GATEWAY_ORCHESTRATOR=1) whose provider is
 * the scripted model standing in for OpenAI, demanding the stack's "real"
 * key, which only the gateway holds.
 * test_sandbox_call_in_run: a sandbox working for alice's run (its key
 * moved to the run by an exec for it) calls a model from inside, and the
 * run's transcript shows the call as a `model_call`; bob's sandbox told to
 * work for alice's run calls too, and alice's run shows nothing of it.
 * test_budget_ends_run: a user whose gateway budget is spent gets a run
 * that ends `budget_exhausted` naming the gateway's budget, with the
 * gateway's sentence (which budget, when it resets), not `failed`.
 * test_side_calls_charged: the thread titler's completion and recall's
 * embeddings go through the gateway too, so they are in the user's spend.
 * Skips unless root (sandboxes). */
#define _GNU_SOURCE
#include "gw_stack.h"
#include "mpjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char s_program[] =
    "import json, os, urllib.request\n"
    "body = json.dumps({'model': 'openai/gpt-test', 'stream': False,\n"
    "                   'messages': [{'role': 'user', 'content': 'hello gateway'}]}).encode()\n"
    "req = urllib.request.Request(os.environ['OPENAI_BASE_URL'] + '/chat/completions',\n"
    "    data=body, headers={'Authorization': 'Bearer ' + os.environ['OPENAI_API_KEY'],\n"
    "                        'Content-Type': 'application/json'})\n"
    "try:\n"
    "    print('STATUS', urllib.request.urlopen(req, timeout=60).status)\n"
    "except urllib.error.HTTPError as e:\n"
    "    print('STATUS', e.code, e.read().decode()[:300])\n";

static const char *const s_env[] = { "CAISSON_GATEWAY_ORCHESTRATOR=1",
                                     "CAISSON_EMBED_MODEL=openai/embed-test",
                                     "CAISSON_THREAD_TITLES=1", NULL };

static int
setup (void **state)
{
    (void) state;
    gws_up ("gwrun", s_env);
    return 0;
}

static int
teardown (void **state)
{
    (void) state;
    gws_down ();
    return 0;
}

/* req (consumed) to service as user (NULL: an operator); the reply. */
static proto_msg_t *
ask (proto_msg_t *req, const char *service, const char *user)
{
    proto_set_str (&req->env.user, user);
    req->env.op = user == NULL;
    return gws_ask (req, service);
}

/* Starts task as user and waits for its end; its run id into run and its
 * record (new). */
static json_t *
run_task (const char *user, const char *task, char run[64])
{
    proto_msg_t *req = proto_msg_new (PROTO_run_start, NULL);
    proto_set_str (&req->body.run_start.task, task);
    proto_set_str (&req->body.run_start.model, "openai/gpt-test");
    proto_msg_t *r = ask (req, "orchestrator", user);
    snprintf (run, 64, "%s", r->body.run_started.run_id);
    proto_msg_destroy (&r);
    for (int i = 0; i < 600; i++) {
        req = proto_msg_new (PROTO_run_record_get, NULL);
        proto_set_str (&req->body.run_record_get.run, run);
        r = ask (req, "event-log", NULL);
        json_t *rec = mpjson_get (&r->body.run_record.run, 16);
        proto_msg_destroy (&r);
        const char *st = support_json_str (rec, "status") ?: "running";
        if (strcmp (st, "running"))
            return rec;
        json_decref (rec);
        usleep (100000);
    }
    fail_msg ("run %s of %s never ended", run, user);
    return NULL;
}

/* Every stored event of run (new array). */
static json_t *
events_of (const char *run)
{
    json_t *all = json_array ();
    for (uint64_t from = 0;;) {
        proto_msg_t *req = proto_msg_new (PROTO_events_read, NULL);
        proto_set_str (&req->body.events_read.run, run);
        req->body.events_read.from_seq = from;
        proto_msg_t *r = ask (req, "event-log", NULL);
        json_t *page = mpjson_get (&r->body.events_page.events, 64);
        from = r->body.events_page.next;
        proto_msg_destroy (&r);
        size_t n = json_array_size (page);
        json_array_extend (all, page);
        json_decref (page);
        if (!n)
            return all;
    }
}

/* How many events of kind run has. */
static size_t
count_kind (const char *run, const char *kind)
{
    json_t *evs = events_of (run), *ev;
    size_t i, n = 0;
    json_array_foreach (evs, i, ev)
        n += !strcmp (support_json_str (ev, "kind") ?: "", kind);
    json_decref (evs);
    return n;
}

/* user's spend records (new array). */
static json_t *
spend_of (const char *user)
{
    proto_msg_t *req = proto_msg_new (PROTO_spend_read, NULL);
    proto_set_str (&req->body.spend_read.user, user);
    req->body.spend_read.limit = 1000;
    proto_msg_t *r = ask (req, "event-log", NULL);
    json_t *recs = mpjson_get (&r->body.spend_page.records, 8);
    proto_msg_destroy (&r);
    return recs;
}

/* user's spend records of route (and, when keykind is not NULL, of that key
 * kind), waiting up to 30 s for at least want of them. */
static size_t
await_spend (const char *user, const char *route, const char *keykind, size_t want)
{
    size_t n = 0;
    for (int i = 0; i < 300 && n < want; i++) {
        json_t *recs = spend_of (user), *rec;
        size_t j;
        n = 0;
        json_array_foreach (recs, j, rec)
            n += !strcmp (support_json_str (rec, "route") ?: "", route)
                 && (!keykind || !strcmp (support_json_str (rec, "keyKind") ?: "", keykind));
        json_decref (recs);
        if (n < want)
            usleep (100000);
    }
    return n;
}

/* A policy sandbox of user's; its id into id. */
static void
sandbox_of (const char *user, char id[128])
{
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_create, NULL);
    proto_set_str (&req->body.sandbox_create.network, "policy");
    req->body.sandbox_create.ttl_seconds = 600;
    proto_msg_t *r = ask (req, "sandbox-manager", user);
    snprintf (id, 128, "%s", r->body.sandbox_info.sandbox_id);
    proto_msg_destroy (&r);
}

/* Runs s_program in user's sandbox id for run (the exec's envelope); its
 * output (static). */
static const char *
call_from (const char *user, const char *id, const char *run)
{
    static char out[1024];
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_run_code, NULL);
    proto_set_str (&req->env.run, run);
    proto_set_str (&req->body.sandbox_run_code.sandbox_id, id);
    proto_set_str (&req->body.sandbox_run_code.language, "python");
    proto_set_str (&req->body.sandbox_run_code.code, s_program);
    req->body.sandbox_run_code.timeout_seconds = 120;
    proto_msg_t *r = ask (req, "sandbox-manager", user);
    snprintf (out, sizeof out, "%s", r->body.sandbox_exec_result.stdout ?: "");
    proto_msg_destroy (&r);
    return out;
}

static void
test_sandbox_call_in_run (void **state)
{
    (void) state;
    if (!gws_dir ()[0])
        skip ();
    char run[64], sbx[128], bobs[128];
    json_t *rec = run_task ("alice", "say hello", run);
    json_decref (rec);
    sandbox_of ("alice", sbx);
    /* the first exec for the run moves the sandbox's key to it */
    call_from ("alice", sbx, run);
    usleep (500000);
    const char *got = call_from ("alice", sbx, run);
    if (strncmp (got, "STATUS 200", 10))
        fail_msg ("alice's sandbox got: %s", got);
    assert_true (await_spend ("alice", "chat", "sandbox", 2) >= 2);
    /* bob's sandbox told it works for alice's run */
    sandbox_of ("bob", bobs);
    call_from ("bob", bobs, run);
    usleep (500000);
    got = call_from ("bob", bobs, run);
    if (strncmp (got, "STATUS 200", 10))
        fail_msg ("bob's sandbox got: %s", got);
    assert_true (await_spend ("bob", "chat", "sandbox", 2) >= 2);
    json_t *evs = events_of (run), *ev;
    size_t i, calls = 0;
    json_array_foreach (evs, i, ev) {
        if (strcmp (support_json_str (ev, "kind") ?: "", "model_call"))
            continue;
        json_t *d = json_object_get (ev, "data");
        assert_string_equal (support_json_str (d, "keyKind"), "sandbox");
        assert_string_equal (support_json_str (d, "sandboxId"), sbx);
        assert_int_equal (json_integer_value (json_object_get (d, "status")), 200);
        calls++;
    }
    json_decref (evs);
    /* the second of alice's calls at least (the first may have come before
     * the key moved); none of bob's */
    if (calls < 1 || calls > 2)
        fail_msg ("run %s holds %zu model_call events", run, calls);
}

static void
test_budget_ends_run (void **state)
{
    (void) state;
    if (!gws_dir ()[0])
        skip ();
    proto_msg_t *req = proto_msg_new (PROTO_gkey_user_set, NULL);
    proto_set_str (&req->body.gkey_user_set.user, "carol");
    req->body.gkey_user_set.budget_tokens = 1;
    proto_msg_destroy (&(proto_msg_t *) { ask (req, "gateway-keys", NULL) });
    char run[64];
    json_t *rec = run_task ("carol", "say hello", run);
    const char *why = support_json_str (rec, "failure") ?: "";
    if (strcmp (support_json_str (rec, "status") ?: "", "budget_exhausted"))
        fail_msg ("run %s ended %s: %s", run, support_json_str (rec, "status"), why);
    assert_string_equal (support_json_str (rec, "budget"), "gateway:user.tokens.month");
    if (!strstr (why, "token budget of user carol exhausted") || !strstr (why, "resets "))
        fail_msg ("the reason lacks the gateway's words: %s", why);
    json_decref (rec);
}

static void
test_side_calls_charged (void **state)
{
    (void) state;
    if (!gws_dir ()[0])
        skip ();
    char run[64];
    json_t *rec = run_task ("dave", "say hello", run);
    assert_string_equal (support_json_str (rec, "status"), "completed");
    json_decref (rec);
    /* recall embeds the task before the run and its answer after */
    assert_true (await_spend ("dave", "embeddings", NULL, 2) >= 2);
    /* the title: one chat call more than the run's own turns */
    for (int i = 0; i < 300 && !count_kind (run, "thread_titled"); i++)
        usleep (100000);
    assert_int_equal (count_kind (run, "thread_titled"), 1);
    size_t turns = count_kind (run, "step_started");
    assert_true (await_spend ("dave", "chat", NULL, turns + 1) >= turns + 1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_sandbox_call_in_run),
        cmocka_unit_test (test_budget_ends_run),
        cmocka_unit_test (test_side_calls_charged),
    };
    return support_run_group_tests (tests, setup, teardown);
}
