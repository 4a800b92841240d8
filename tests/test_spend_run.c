/* test_spend_run: a gateway call made with a sandbox's or a user's key
 * that names a run shows in that run as a `model_call` event (issue 16),
 * through the real broker and event-log, with spend records shaped as
 * gateway-keys' outbox sends them: one event per call (a repeated record
 * adds none), published on `run.<run>.model_call`; nothing for a run of
 * another user, a run that does not exist, or the run's own key (its
 * calls are `usage` events); past CAISSON_GATEWAY_RUN_EVENTS_MAX events
 * the run record only counts the calls (`modelCalls`). */
#include "eventlog_util.h"
#include "bus_tap.h"
#include "mpjson.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static bus_client_t *s_cl;

/* A spend record as gk_settle.c builds it, of a call by user with a key
 * of kind naming run. */
static json_t *
record (const char *call, const char *user, const char *kind, const char *run)
{
    return json_pack ("{s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:I, "
                      "s:I, s:I, s:s, s:b, s:I, s:I, s:I, s:s}", "call", call, "ts",
                      (json_int_t) zclock_time (), "user", user, "key", "k0123456789abcde",
                      "keyKind", kind, "run", run, "sandbox", "sbx-7", "model", "replay/demo",
                      "route", "chat", "stream", 1, "in", (json_int_t) 12, "out",
                      (json_int_t) 34, "cached", (json_int_t) 2, "cacheWrite", (json_int_t) 0,
                      "nusd", (json_int_t) 5600, "status", (json_int_t) 200, "outcome", "ok",
                      "estimated", 0, "ttfbUs", (json_int_t) 900, "totalUs", (json_int_t) 5000,
                      "overheadUs", (json_int_t) 300, "gateway", "gw-1");
}

/* Stores rec (consumed) as gateway-keys does, expecting an ack. */
static void
put (json_t *rec)
{
    proto_msg_t *m = proto_msg_new (PROTO_spend_append, NULL);
    proto_set_str (&m->env.user, NULL);
    m->env.op = true;
    assert_int_equal (mpjson_set (&m->body.spend_append.record, rec, 8), 0);
    json_decref (rec);
    proto_msg_t *rep = request (s_cl, m);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_spend_ack);
    proto_msg_destroy (&rep);
}

/* The model_call events of run, in order (new array of their data). */
static json_t *
model_calls (const char *run)
{
    json_t *all = read_all (s_cl, run, 0), *out = json_array (), *ev;
    size_t i;
    json_array_foreach (all, i, ev)
        if (!strcmp (json_string_value (json_object_get (ev, "kind")) ?: "", "model_call"))
            json_array_append (out, json_object_get (ev, "data"));
    json_decref (all);
    return out;
}

static void
test_calls_show_in_their_run (void **state)
{
    (void) state;
    pid_t bus = setup_stack ("spend-run");
    pid_t el = start_eventlog (NULL);
    s_cl = client_new (3000, 1);
    const char *run = rid ("alice-run"), *other = rid ("no-such-run");
    append_started (s_cl, run, "build an app", "alice", 0);
    bus_tap_t *tap = bus_tap_new (getenv ("CAISSON_BUS_SUB"), "run.");
    assert_non_null (tap);
    zclock_sleep (200);

    put (record ("m1", "alice", "sandbox", run));
    char topic[128];
    proto_msg_t *ev = bus_tap_recv (tap, topic, sizeof topic, 3000, NULL);
    assert_non_null (ev);
    char want[128];
    snprintf (want, sizeof want, "run.%s.model_call", run);
    assert_string_equal (topic, want);
    assert_string_equal (ev->env.user, "alice");
    assert_false (ev->env.op);
    proto_msg_destroy (&ev);
    json_t *calls = model_calls (run);
    assert_int_equal (json_array_size (calls), 1);
    json_t *d = json_array_get (calls, 0);
    assert_int_equal (evk_check ("model_call", d, NULL, 0), 0);
    assert_string_equal (json_string_value (json_object_get (d, "call")), "m1");
    assert_string_equal (json_string_value (json_object_get (d, "keyKind")), "sandbox");
    assert_string_equal (json_string_value (json_object_get (d, "sandboxId")), "sbx-7");
    assert_string_equal (json_string_value (json_object_get (d, "model")), "replay/demo");
    assert_int_equal (int_at (d, "status"), 200);
    assert_int_equal (int_at (d, "out"), 34);
    assert_int_equal (int_at (d, "nusd"), 5600);
    json_decref (calls);

    put (record ("m1", "alice", "sandbox", run));       /* the outbox sent it again */
    put (record ("b1", "bob", "user", run));            /* bob's key naming alice's run */
    put (record ("r1", "alice", "run", run));           /* the run's own call: a usage event */
    put (record ("x1", "alice", "user", other));        /* no such run */
    put (record ("m2", "alice", "user", run));
    calls = model_calls (run);
    assert_int_equal (json_array_size (calls), 2);
    assert_string_equal (json_string_value (json_object_get (json_array_get (calls, 1), "call")),
                         "m2");
    json_decref (calls);
    assert_null (run_get (s_cl, other));
    json_t *rec = run_get (s_cl, run);
    assert_int_equal (int_at (rec, "modelCalls"), 2);
    assert_string_equal (json_string_value (json_object_get (rec, "user")), "alice");
    json_decref (rec);

    bus_tap_destroy (&tap);
    bus_client_destroy (&s_cl);
    support_expect_clean_exit (el);
    support_stop (bus, SIGTERM, 5000);
}

static void
test_flood_is_capped (void **state)
{
    (void) state;
    pid_t bus = setup_stack ("spend-run-cap");
    pid_t el = start_eventlog ((const char *const[]) { "CAISSON_GATEWAY_RUN_EVENTS_MAX=3",
                                                       NULL });
    s_cl = client_new (3000, 1);
    const char *run = rid ("flooded");
    append_started (s_cl, run, "loop", "alice", 0);
    for (int i = 0; i < 7; i++) {
        char call[16];
        snprintf (call, sizeof call, "f%d", i);
        put (record (call, "alice", "sandbox", run));
    }
    json_t *calls = model_calls (run);
    assert_int_equal (json_array_size (calls), 3);
    json_decref (calls);
    json_t *rec = run_get (s_cl, run);
    assert_int_equal (int_at (rec, "modelCalls"), 7);   /* every call counted */
    json_decref (rec);
    bus_client_destroy (&s_cl);
    support_expect_clean_exit (el);
    support_stop (bus, SIGTERM, 5000);
}

int
main (void)
{
    proto_set_identity ("ops", true);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_calls_show_in_their_run),
        cmocka_unit_test (test_flood_is_capped),
    };
    return support_run_group_tests (tests, NULL, NULL);
}
