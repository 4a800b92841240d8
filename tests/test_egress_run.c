/* test_egress_run: issue 15 through the whole stack (`caisson up`, the
 * scripted model, the real orchestrator, tool-runner, sandbox-manager and
 * egress-proxy) against the local package index on 127.0.0.2:8000, where
 * the cassettes look for it:
 * - D1, the done-when: the seed task plus "install requests and use it"
 *   (cassette reverse_string_requests) in a sandbox whose policy allows
 *   only the index;
 * - S10: requestNetworkAccess (cassette net_request) approved, then the
 *   fetch works; declined, it stays refused.
 * Each run's stored `net` events must show the decisions. */
#define _GNU_SOURCE
#include "egress_fixture.h"
#include "evkind.h"
#include "mpjson.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define INDEX_PORT 8000

static char s_out[1 << 18];

static int
stack_up (void **state)
{
    (void) state;
    if (geteuid () != 0)
        skip ();
    eg_fixture_up ("egress-run", INDEX_PORT);
    support_stack_up (support_free_port (), support_free_port ());
    return 0;
}

static int
stack_down (void **state)
{
    (void) state;
    support_stack_down ();
    eg_fixture_down ();
    return 0;
}

/* The task a cassette of llm-replay answers (static storage). */
static const char *
cassette_task (const char *name)
{
    static char task[1024];
    char path[1200];
    snprintf (path, sizeof path, "%s/services/llm-replay/cassettes/%s.json", CAISSON_SOURCE_DIR,
              name);
    json_error_t err;
    json_t *c = json_load_file (path, 0, &err);
    if (!c)
        fail_msg ("cassette %s: %s", path, err.text);
    snprintf (task, sizeof task, "%s", json_string_value (json_object_get (c, "task")));
    json_decref (c);
    return task;
}

/* The stored events of run (a new array), each checked against its kind's
 * declaration. */
static json_t *
run_events (const char *run)
{
    bus_client_t *client = bus_client_new (getenv ("CAISSON_BUS"));
    assert_non_null (client);
    bus_client_set_timeout (client, 5000, 1);
    json_t *all = json_array ();
    uint64_t from = 1;
    for (;;) {
        proto_msg_t *req = proto_msg_new (PROTO_events_read, NULL);
        req->env.op = true;
        proto_set_str (&req->body.events_read.run, run);
        req->body.events_read.from_seq = from;
        proto_msg_t *rep = bus_client_request (client, "event-log", req);
        proto_msg_destroy (&req);
        assert_non_null (rep);
        assert_int_equal (rep->type, PROTO_events_page);
        json_t *page = mpjson_get (&rep->body.events_page.events, 64);
        assert_non_null (page);
        size_t i;
        json_t *ev;
        json_array_foreach (page, i, ev) {
            char why[512];
            const char *kind = json_string_value (json_object_get (ev, "kind"));
            if (evk_check (kind, json_object_get (ev, "data"), why, sizeof why))
                fail_msg ("run %s: a %s event not as declared: %s", run, kind, why);
            json_array_append (all, ev);
        }
        bool more = json_array_size (page) > 0 && rep->body.events_page.next > from;
        json_decref (page);
        from = rep->body.events_page.next;
        proto_msg_destroy (&rep);
        if (!more)
            break;
    }
    bus_client_destroy (&client);
    return all;
}

/* How many of events are of kind and, for tool events, of tool name (NULL:
 * any), and, when needle is not NULL, hold it in their data's JSON text. */
static int
count_events (const json_t *events, const char *kind, const char *name, const char *needle)
{
    int n = 0;
    size_t i;
    json_t *ev;
    json_array_foreach (events, i, ev) {
        const json_t *data = json_object_get (ev, "data");
        if (strcmp (json_string_value (json_object_get (ev, "kind")), kind))
            continue;
        if (name && strcmp (support_json_str (data, "name"), name))
            continue;
        char *text = json_dumps (data, JSON_COMPACT);
        bool has = !needle || (text && strstr (text, needle));
        free (text);
        n += has;
    }
    return n;
}

/* Net events of events for host with verdict. */
static int
net_events (const json_t *events, const char *host, const char *verdict)
{
    char needle[160];
    snprintf (needle, sizeof needle, "\"verdict\":\"%s\"", verdict);
    int n = 0;
    size_t i;
    json_t *ev;
    json_array_foreach (events, i, ev) {
        const json_t *data = json_object_get (ev, "data");
        if (!strcmp (json_string_value (json_object_get (ev, "kind")), "net")
            && !strcmp (support_json_str (data, "host"), host)
            && !strcmp (support_json_str (data, "verdict"), verdict))
            n++;
    }
    return n;
}

/* The run id in `caisson run --json` output text. */
static void
run_id_of (const char *text, char *run, size_t len)
{
    const char *at = strstr (text, "\"run\":\"");
    assert_non_null (at);
    snprintf (run, len, "%.26s", at + 7);
}

/* Net events are appended by egress-proxy after the fact: wait for them. */
static json_t *
await_net (const char *run, const char *host, const char *verdict, int want)
{
    json_t *events = NULL;
    for (int i = 0; i < 100; i++) {
        json_decref (events);
        events = run_events (run);
        if (net_events (events, host, verdict) >= want)
            return events;
        usleep (100000);
    }
    /* Say what the run did hold. */
    char kinds[4096] = "";
    size_t i, at = 0;
    json_t *ev;
    json_array_foreach (events, i, ev) {
        const json_t *data = json_object_get (ev, "data");
        int n = snprintf (kinds + at, sizeof kinds - at, " %s%s%s",
                          json_string_value (json_object_get (ev, "kind")),
                          *support_json_str (data, "verdict") ? ":" : "",
                          support_json_str (data, "verdict"));
        if (n < 0 || (size_t) n >= sizeof kinds - at)
            break;
        at += (size_t) n;
    }
    fail_msg ("run %s: fewer than %d `net` %s events for %s; it holds:%s", run, want, verdict,
              host, kinds);
    return NULL;
}

/* D1: the seed task, then "install requests and use it", in a sandbox
 * whose policy allows only pypi.test:8000 (and its address). */
static void
test_seed_with_requests (void **state)
{
    (void) state;
    const char *run[] = { "caisson", "run", "--json", cassette_task ("reverse_string_requests"),
                          NULL };
    int rc = support_run (run, s_out, sizeof s_out);
    if (rc != 0)
        fail_msg ("caisson run exited %d:\n%.4000s", rc, s_out);
    char id[32];
    run_id_of (s_out, id, sizeof id);
    json_t *events = await_net (id, "pypi.test", "close", 2);
    assert_int_equal (count_events (events, "complete", NULL, "\"completed\""), 1);
    assert_int_equal (count_events (events, "tool_call", "createSandbox",
                                    "\"networkAllow\":[\"pypi.test:8000\",\"127.0.0.2:8000\"]"), 1);
    assert_int_equal (count_events (events, "tool_result", "runCommand", "Ran 4 tests"), 1);
    assert_int_equal (count_events (events, "tool_result", "runCommand",
                                    "Successfully installed"), 1);
    assert_int_equal (count_events (events, "tool_result", "runCommand", "requests-2.28.1"), 1);
    assert_int_equal (count_events (events, "tool_result", "runCommand",
                                    "status 200 requests 2.28.1"), 1);
    /* Everything went through the proxy to the index, nothing was refused
     * (a run holds each allowed connection once, at its close). */
    assert_int_equal (net_events (events, "pypi.test", "allow"), 0);
    size_t i;
    json_t *ev;
    json_array_foreach (events, i, ev) {
        const json_t *data = json_object_get (ev, "data");
        if (strcmp (json_string_value (json_object_get (ev, "kind")), "net"))
            continue;
        assert_string_equal (support_json_str (data, "host"), "pypi.test");
        assert_int_equal (json_integer_value (json_object_get (data, "port")), INDEX_PORT);
        assert_string_not_equal (support_json_str (data, "verdict"), "deny");
    }
    json_decref (events);
}

/* Starts the net_request task, waits for its requestNetworkAccess to be
 * held for approval, checks the refusal before it, then approves or
 * declines; the run's events once it ended. */
static json_t *
net_request (bool approve)
{
    char path[1200], id[128], call[128];
    snprintf (path, sizeof path, "%s/net-request-%d.jsonl", getenv ("CAISSON_DATA"), approve);
    pid_t pid = support_run_in_background (cassette_task ("net_request"), path);
    support_await_approval (path, id, call, sizeof id);
    json_t *ask = support_await_event (path, "ask_approval", NULL);
    assert_string_equal (support_json_str (json_object_get (ask, "data"), "name"),
                         "requestNetworkAccess");
    json_decref (ask);
    json_t *events = await_net (id, "files.test", "deny", 1);
    assert_int_equal (count_events (events, "net", NULL,
                                    "blocked by policy: files.test is not in this sandbox's "
                                    "allow list"), 1);
    json_decref (events);
    const char *act[] = { "caisson", approve ? "approve" : "decline", id, call, NULL };
    assert_int_equal (support_run (act, s_out, sizeof s_out), 0);
    int status;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    assert_true (WIFEXITED (status));
    assert_int_equal (WEXITSTATUS (status), 0);
    return await_net (id, "files.test", approve ? "close" : "deny", approve ? 1 : 2);
}

/* S10: approved, the policy widens at run time and the fetch works;
 * declined, nothing changes and it is refused again. */
static void
test_net_request_approve_decline (void **state)
{
    (void) state;
    json_t *events = net_request (true);
    assert_int_equal (count_events (events, "tool_result", "requestNetworkAccess",
                                    "\"ok\":true"), 1);
    assert_int_equal (count_events (events, "tool_result", "runCommand",
                                    "hello from the origin"), 1);
    assert_int_equal (count_events (events, "complete", NULL, "hello from the origin"), 1);
    assert_int_equal (net_events (events, "files.test", "close"), 1);
    assert_int_equal (net_events (events, "files.test", "deny"), 1);
    json_decref (events);

    events = net_request (false);
    assert_int_equal (count_events (events, "tool_result", "requestNetworkAccess",
                                    "\"ok\":false"), 1);
    assert_int_equal (count_events (events, "tool_result", "runCommand",
                                    "hello from the origin"), 0);
    assert_int_equal (count_events (events, "tool_result", "runCommand",
                                    "is not in this sandbox's allow list"), 2);
    assert_int_equal (net_events (events, "files.test", "close"), 0);
    assert_int_equal (net_events (events, "files.test", "deny"), 2);
    json_decref (events);
}

int
main (void)
{
    zsys_init ();
    zsys_set_logstream (NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_seed_with_requests),
        cmocka_unit_test (test_net_request_approve_decline),
    };
    return support_run_group_tests (tests, stack_up, stack_down);
}
