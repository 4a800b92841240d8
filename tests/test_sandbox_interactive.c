/* test_sandbox_interactive: processes whose standard input stays open
 * (sandbox.exec with interactive) fed through sandbox.exec.input, as an MCP
 * stdio server in a sandbox is: the real broker, sandbox-manager and
 * sandboxes (root), everything through the bus. Output is read where a
 * client reads it, the `sandbox.output` events on sandbox.<id>.proc.<pid>. */
#define _GNU_SOURCE
#include "sbx_client.h"
#include "bus_tap.h"
#include "mpjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The output cap of this suite's sandboxes: small, so a test can show that
 * an interactive process's stream goes on past it. */
#define CAP 4096

/* An interactive background process and the tap on its output. */
typedef struct {
    char *id;
    uint64_t pid;
    bus_tap_t *tap;
    char out[262144];           /* stdout received so far */
    size_t len;
    bool exited;
    int64_t code;
} proc_t;

static proto_msg_t *
exec_req (const char *id, const char *cmd, bool background, bool interactive)
{
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_exec, NULL);
    proto_set_str (&req->body.sandbox_exec.sandbox_id, id);
    any_set (&req->body.sandbox_exec.command, json_string (cmd));
    req->body.sandbox_exec.background = background;
    req->body.sandbox_exec.interactive = interactive;
    return req;
}

/* Starts cmd interactive in id and subscribes to its output. */
static void
start (proc_t *p, const char *id, const char *cmd)
{
    memset (p, 0, sizeof *p);
    p->id = (char *) id;
    proto_msg_t *rep = call (exec_req (id, cmd, true, true));
    if (rep->type == PROTO_error)
        fail_msg ("interactive exec: %s", rep->body.error.message);
    assert_int_equal (rep->type, PROTO_sandbox_exec_result);
    assert_true (rep->body.sandbox_exec_result.running);
    p->pid = rep->body.sandbox_exec_result.pid;
    proto_msg_destroy (&rep);
    char topic[200];
    snprintf (topic, sizeof topic, "sandbox.%s.proc.%llu", id, (unsigned long long) p->pid);
    p->tap = bus_tap_new (getenv ("CAISSON_BUS_SUB"), topic);
    assert_non_null (p->tap);
    usleep (200000);            /* the subscription reaches the proxy */
}

static proto_msg_t *
input_as (const char *user, const char *id, uint64_t pid, const void *data, size_t len,
          bool close)
{
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_exec_input, NULL);
    if (user)
        proto_set_str (&req->env.user, user);
    proto_set_str (&req->body.sandbox_exec_input.sandbox_id, id);
    req->body.sandbox_exec_input.pid = pid;
    if (len)
        proto_set_bytes (&req->body.sandbox_exec_input.data, data, len);
    req->body.sandbox_exec_input.close = close;
    return call (req);
}

/* Writes text to p's stdin, asserting it was accepted. */
static void
feed (proc_t *p, const char *text, bool close)
{
    proto_msg_t *rep = input_as (NULL, p->id, p->pid, text, strlen (text), close);
    if (rep->type == PROTO_error)
        fail_msg ("input: %s: %s", rep->body.error.code, rep->body.error.message);
    assert_int_equal (rep->type, PROTO_sandbox_ack);
    proto_msg_destroy (&rep);
}

/* Reads p's events until its stdout holds want bytes (or, with until_exit,
 * until it exits), for up to ms. */
static void
collect (proc_t *p, size_t want, bool until_exit, int ms)
{
    uint64_t end = (uint64_t) zclock_mono () + (uint64_t) ms;
    char topic[200];
    while ((until_exit ? !p->exited : p->len < want) && (uint64_t) zclock_mono () < end) {
        proto_msg_t *ev = bus_tap_recv (p->tap, topic, sizeof topic, 200, NULL);
        if (!ev)
            continue;
        assert_int_equal (ev->type, PROTO_sandbox_output);
        const proto_sandbox_output_t *o = &ev->body.sandbox_output;
        if (o->pid != p->pid)
            ;                   /* another process's, on a prefix tap */
        else if (!strcmp (o->stream, "stdout")) {
            assert_true (p->len + o->data.size < sizeof p->out);
            memcpy (p->out + p->len, o->data.data, o->data.size);
            p->len += o->data.size;
            p->out[p->len] = 0;
        } else if (!strcmp (o->stream, "exit")) {
            p->exited = true;
            p->code = o->exit_code;
        }
        proto_msg_destroy (&ev);
    }
}

static void
stop (proc_t *p)
{
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_exec_kill, NULL);
    proto_set_str (&req->body.sandbox_exec_kill.sandbox_id, p->id);
    req->body.sandbox_exec_kill.pid = p->pid;
    proto_msg_t *rep = call (req);
    proto_msg_destroy (&rep);
    bus_tap_destroy (&p->tap);
}

/* An error reply's code, asserting it is one; the reply is destroyed. */
static void
expect_error (proto_msg_t *rep, const char *code, const char *text)
{
    if (rep->type != PROTO_error)
        fail_msg ("expected error %s, got %s", code, proto_type_name (rep->type));
    assert_string_equal (rep->body.error.code, code);
    if (text && !strstr (rep->body.error.message, text))
        fail_msg ("error '%s' does not say '%s'", rep->body.error.message, text);
    proto_msg_destroy (&rep);
}

static char *s_box;             /* the sandbox most tests share */

/* cat echoes what it is given, line by line, in order, as it comes. */
static void
test_cat_echoes (void **state)
{
    (void) state;
    proc_t p;
    start (&p, s_box, "cat");
    const char *lines[] = { "one\n", "two\n", "three\n" };
    char want[64] = "";
    for (size_t i = 0; i < 3; i++) {
        feed (&p, lines[i], false);
        strcat (want, lines[i]);
        /* each line comes back before the next is sent: nothing waits
         * for a buffer to fill */
        collect (&p, strlen (want), false, 5000);
        assert_string_equal (p.out, want);
    }
    stop (&p);

    /* the request's stdin goes first and the pipe stays open; subscribed
     * to the sandbox's process prefix before the exec, nothing is missed */
    char prefix[160];
    snprintf (prefix, sizeof prefix, "sandbox.%s.proc.", s_box);
    memset (&p, 0, sizeof p);
    p.id = s_box;
    p.tap = bus_tap_new (getenv ("CAISSON_BUS_SUB"), prefix);
    usleep (200000);
    proto_msg_t *req = exec_req (s_box, "cat", true, true);
    proto_set_bytes (&req->body.sandbox_exec.stdin, "zero\n", 5);
    proto_msg_t *rep = call (req);
    assert_int_equal (rep->type, PROTO_sandbox_exec_result);
    p.pid = rep->body.sandbox_exec_result.pid;
    proto_msg_destroy (&rep);
    feed (&p, "one\n", false);
    collect (&p, 9, false, 5000);
    assert_string_equal (p.out, "zero\none\n");
    stop (&p);
}

/* A node program reading newline-delimited JSON and answering on stdout:
 * the shape of an MCP stdio server. */
static void
test_node_json_lines (void **state)
{
    (void) state;
    proc_t p;
    start (&p, s_box, "node -e \"require('readline').createInterface({input: process.stdin})"
           ".on('line', l => { const m = JSON.parse(l); console.log(JSON.stringify("
           "{jsonrpc: '2.0', id: m.id, result: {sum: m.params.a + m.params.b}})); })\"");
    feed (&p, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"add\",\"params\":{\"a\":2,\"b\":3}}\n"
          "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"add\",\"params\":{\"a\":40,\"b\":2}}\n",
          false);
    const char *want = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"sum\":5}}\n"
                       "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"sum\":42}}\n";
    collect (&p, strlen (want), false, 10000);
    assert_string_equal (p.out, want);
    /* closing stdin ends it, and its exit is published */
    feed (&p, "", true);
    collect (&p, 0, true, 10000);
    assert_true (p.exited);
    assert_int_equal (p.code, 0);
    bus_tap_destroy (&p.tap);
}

/* The init's CPU time (utime + stime, in ticks), read from inside. */
static long
init_ticks (void)
{
    char out[1024];
    assert_int_equal (run (s_box, "cut -d' ' -f14,15 /proc/1/stat", out, sizeof out), 0);
    long u = 0, k = 0;
    assert_int_equal (sscanf (out, "%ld %ld", &u, &k), 2);
    return u + k;
}

/* An idle interactive process costs its init nothing: an open stdin with
 * nothing queued is not polled for writing (it would always be ready). */
static void
test_idle_costs_nothing (void **state)
{
    (void) state;
    proc_t p;
    start (&p, s_box, "cat");
    feed (&p, "x\n", false);
    collect (&p, 2, false, 5000);
    long before = init_ticks ();
    sleep (2);
    long used = init_ticks () - before;
    if (used > 50)
        fail_msg ("the init used %ld ticks in 2 s beside an idle interactive process", used);
    stop (&p);
}

/* Another user cannot write to (or learn of) a process; an operator can. */
static void
test_owner_only (void **state)
{
    (void) state;
    proc_t p;
    start (&p, s_box, "cat");
    expect_error (input_as ("bob", s_box, p.pid, "hi\n", 3, false), "not_found", "no sandbox");
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_exec_input, NULL);
    proto_set_str (&req->env.user, "ops");
    req->env.op = true;
    proto_set_str (&req->body.sandbox_exec_input.sandbox_id, s_box);
    req->body.sandbox_exec_input.pid = p.pid;
    proto_set_bytes (&req->body.sandbox_exec_input.data, "op\n", 3);
    proto_msg_t *rep = call (req);
    assert_int_equal (rep->type, PROTO_sandbox_ack);
    proto_msg_destroy (&rep);
    collect (&p, 3, false, 5000);
    assert_string_equal (p.out, "op\n");    /* bob's line never reached it */
    stop (&p);
}

/* A process that does not read: writes are queued up to the limit, then
 * refused at once with a clear error; the sandbox keeps answering. */
static void
test_not_reading (void **state)
{
    (void) state;
    proc_t p;
    start (&p, s_box, "sleep 60");
    size_t mib = 1048576;
    char *big = malloc (mib);
    memset (big, 'x', mib);
    proto_msg_t *rep = NULL;
    int accepted = 0;
    for (int i = 0; i < 4; i++) {
        uint64_t t0 = (uint64_t) zclock_mono ();
        rep = input_as (NULL, s_box, p.pid, big, mib, false);
        assert_true ((uint64_t) zclock_mono () - t0 < 5000);   /* answered, never stuck */
        if (rep->type == PROTO_error)
            break;
        accepted++;
        proto_msg_destroy (&rep);
    }
    free (big);
    assert_non_null (rep);
    assert_int_equal (accepted, 1);     /* the pipe's 64 KiB and the 1 MiB queue */
    expect_error (rep, "busy", "not reading its input");
    char out[64];
    assert_int_equal (run (s_box, "echo still here", out, sizeof out), 0);
    assert_string_equal (out, "still here\n");
    /* killed with its queue full: the queue goes, its exit is published,
     * and a write after it says so */
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_exec_kill, NULL);
    proto_set_str (&req->body.sandbox_exec_kill.sandbox_id, s_box);
    req->body.sandbox_exec_kill.pid = p.pid;
    rep = call (req);
    assert_int_equal (rep->type, PROTO_sandbox_ack);
    proto_msg_destroy (&rep);
    collect (&p, 0, true, 10000);
    assert_true (p.exited);
    assert_int_equal (p.code, 137);
    expect_error (input_as (NULL, s_box, p.pid, "x", 1, false), "bad_state",
                  "has exited (code 137)");
    bus_tap_destroy (&p.tap);
}

/* Many small writes arrive in the order they were sent. */
static void
test_order (void **state)
{
    (void) state;
    proc_t p;
    start (&p, s_box, "cat");
    static char want[262144];
    size_t len = 0;
    for (int i = 0; i < 400; i++) {
        char line[32];
        int n = snprintf (line, sizeof line, "line %d\n", i);
        feed (&p, line, false);
        memcpy (want + len, line, (size_t) n);
        len += (size_t) n;
    }
    want[len] = 0;
    collect (&p, len, false, 15000);
    assert_string_equal (p.out, want);
    stop (&p);
}

/* Closing stdin ends the program; its exit code is published after its
 * output, exec.wait has it, and later writes are refused clearly. */
static void
test_exit_after_close (void **state)
{
    (void) state;
    proc_t p;
    start (&p, s_box, "cat; exit 3");
    feed (&p, "bye\n", true);
    collect (&p, 0, true, 10000);
    assert_true (p.exited);
    assert_int_equal (p.code, 3);
    assert_string_equal (p.out, "bye\n");
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_exec_wait, NULL);
    proto_set_str (&req->body.sandbox_exec_wait.sandbox_id, s_box);
    req->body.sandbox_exec_wait.pid = p.pid;
    req->body.sandbox_exec_wait.timeout_seconds = 5;
    proto_msg_t *rep = call (req);
    assert_int_equal (rep->type, PROTO_sandbox_exec_result);
    assert_false (rep->body.sandbox_exec_result.running);
    assert_int_equal (rep->body.sandbox_exec_result.exit_code, 3);
    proto_msg_destroy (&rep);
    expect_error (input_as (NULL, s_box, p.pid, "more\n", 5, false), "bad_state", "has exited");
    bus_tap_destroy (&p.tap);

    /* close with nothing else, and a write after the close */
    start (&p, s_box, "sleep 2; cat >/dev/null; exit 4");
    feed (&p, "queued\n", true);
    expect_error (input_as (NULL, s_box, p.pid, "late\n", 5, false), "bad_state", "closed");
    collect (&p, 0, true, 10000);
    assert_int_equal (p.code, 4);
    bus_tap_destroy (&p.tap);
}

/* The refusals: interactive without background, input to a process that
 * is not interactive or not there, and to one that closed its own stdin
 * (the init survives the broken pipe). */
static void
test_refusals (void **state)
{
    (void) state;
    expect_error (call (exec_req (s_box, "cat", false, true)), "bad_value", "background");
    proto_msg_t *rep = call (exec_req (s_box, "sleep 30", true, false));
    assert_int_equal (rep->type, PROTO_sandbox_exec_result);
    uint64_t pid = rep->body.sandbox_exec_result.pid;
    proto_msg_destroy (&rep);
    expect_error (input_as (NULL, s_box, pid, "x\n", 2, false), "bad_state", "not interactive");
    expect_error (input_as (NULL, s_box, 999999, "x\n", 2, false), "not_found", "999999");
    proc_t p;
    start (&p, s_box, "exec 0<&-; sleep 30");
    usleep (300000);            /* it has closed its end */
    rep = input_as (NULL, s_box, p.pid, "x\n", 2, false);
    if (rep->type == PROTO_sandbox_ack) {   /* the first write may find out */
        proto_msg_destroy (&rep);
        usleep (100000);
        rep = input_as (NULL, s_box, p.pid, "x\n", 2, false);
    }
    expect_error (rep, "bad_state", "closed its standard input");
    char out[64];
    assert_int_equal (run (s_box, "echo alive", out, sizeof out), 0);
    assert_string_equal (out, "alive\n");
    stop (&p);
    p.pid = pid;
    p.tap = NULL;
    stop (&p);
}

/* An interactive process's stream goes on past the output cap (a server
 * lives long); what exec.output keeps stays capped. */
static void
test_past_the_cap (void **state)
{
    (void) state;
    proc_t p;
    start (&p, s_box, "cat");
    char chunk[1025];
    memset (chunk, 'y', 1023);
    chunk[1023] = '\n';
    chunk[1024] = 0;
    for (int i = 0; i < 3 * CAP / 1024; i++)
        feed (&p, chunk, false);
    collect (&p, 3 * CAP, false, 10000);
    assert_int_equal (p.len, 3 * CAP);
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_exec_output, NULL);
    proto_set_str (&req->body.sandbox_exec_output.sandbox_id, s_box);
    req->body.sandbox_exec_output.pid = p.pid;
    proto_msg_t *rep = call (req);
    assert_int_equal (rep->type, PROTO_sandbox_exec_result);
    assert_int_equal (strlen (rep->body.sandbox_exec_result.stdout), CAP);
    assert_true (rep->body.sandbox_exec_result.truncated);
    proto_msg_destroy (&rep);
    stop (&p);
}

/* A process writing without end is throttled (8 MiB a second for the
 * sandbox after an 8 MiB burst): 40 MiB take about 4 s instead of a
 * fraction of one, and what it wrote still arrives, in full and in order. */
static void
test_throttled (void **state)
{
    (void) state;
    proc_t p;
    start (&p, s_box, "head -c 41943040 /dev/zero; echo end");
    uint64_t t0 = (uint64_t) zclock_mono (), bytes = 0;
    char topic[200], last = 0;
    while (!p.exited && (uint64_t) zclock_mono () - t0 < 30000) {
        proto_msg_t *ev = bus_tap_recv (p.tap, topic, sizeof topic, 200, NULL);
        if (!ev)
            continue;
        const proto_sandbox_output_t *o = &ev->body.sandbox_output;
        if (!strcmp (o->stream, "stdout") && o->data.size) {
            bytes += o->data.size;
            last = ((const char *) o->data.data)[o->data.size - 1];
        } else if (!strcmp (o->stream, "exit"))
            p.exited = true;
        proto_msg_destroy (&ev);
    }
    uint64_t ms = (uint64_t) zclock_mono () - t0;
    assert_true (p.exited);
    if (ms < 3000)
        fail_msg ("40 MiB streamed in %llu ms: not throttled", (unsigned long long) ms);
    /* subscribed after the exec: the first chunks may be missed, none after */
    assert_true (bytes > 30 * 1048576);
    assert_int_equal (last, '\n');
    bus_tap_destroy (&p.tap);
}

/* A sandbox whose servers came and went keeps working: a background
 * process that has ended and been drained gives its slot to a new one
 * when all 64 are taken (a restarted MCP server, the 65th command). */
static void
test_ended_free_their_slots (void **state)
{
    (void) state;
    char *id = create ("python", 600);
    uint64_t first = 0;
    for (int i = 0; i < 70; i++) {
        proto_msg_t *rep = call (exec_req (id, "true", true, i % 2 == 0));
        if (rep->type == PROTO_error)
            fail_msg ("background exec %d: %s", i, rep->body.error.message);
        if (!i)
            first = rep->body.sandbox_exec_result.pid;
        proto_msg_destroy (&rep);
        usleep (20000);         /* it ends and is drained */
    }
    usleep (500000);            /* the last ones end and are drained */
    char out[64];
    assert_int_equal (run (id, "echo fine", out, sizeof out), 0);
    assert_string_equal (out, "fine\n");
    /* the first, ended longest ago, made room */
    proto_msg_t *req = proto_msg_new (PROTO_sandbox_exec_output, NULL);
    proto_set_str (&req->body.sandbox_exec_output.sandbox_id, id);
    req->body.sandbox_exec_output.pid = first;
    expect_error (call (req), "not_found", "no process");
    destroy (id);
}

static int
setup (void **state)
{
    char cap[32];
    snprintf (cap, sizeof cap, "%d", CAP);
    setenv ("CAISSON_SANDBOX_OUTPUT_CAP", cap, 1);
    int rc = sbx_setup (state);
    if (!rc)
        s_box = create ("python", 600);
    return rc;
}

static int
teardown (void **state)
{
    if (s_box)
        destroy (s_box);
    return sbx_teardown (state);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_cat_echoes),
        cmocka_unit_test (test_node_json_lines),
        cmocka_unit_test (test_idle_costs_nothing),
        cmocka_unit_test (test_owner_only),
        cmocka_unit_test (test_not_reading),
        cmocka_unit_test (test_order),
        cmocka_unit_test (test_exit_after_close),
        cmocka_unit_test (test_refusals),
        cmocka_unit_test (test_past_the_cap),
        cmocka_unit_test (test_throttled),
        cmocka_unit_test (test_ended_free_their_slots),
    };
    return support_run_group_tests (tests, setup, teardown);
}
