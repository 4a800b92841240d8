/* test_spend: event-log's spend log (spend.append, spend.read, stats.get's
 * `spend`), through the real broker and event-log, with records shaped as
 * gateway-keys' outbox sends them (op, no user): one record per call
 * (a repeat is a duplicate), a `late` correction replaces the orphan
 * charge it corrects (totals too), daily totals per user, key and model,
 * users read only their own records, retention drops old records but
 * keeps the totals, and each stored record is published on
 * `spend.<user>`. */
#include "eventlog_util.h"
#include "bus_tap.h"
#include "mpjson.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#define DAY_MS 86400000ll

static bus_client_t *s_cl;

/* A spend record as gk_settle.c builds it. */
static json_t *
record (const char *call, const char *user, const char *key, const char *model,
        json_int_t out, const char *outcome, json_int_t ts)
{
    return json_pack ("{s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, "
                      "s:s, s:b, s:I, s:I, s:I, s:s}", "call", call, "ts", ts, "user", user,
                      "key", key, "keyKind", "user", "model", model, "route", "chat", "stream",
                      1, "in", (json_int_t) 10, "out", out, "cached", (json_int_t) 2,
                      "cacheWrite", (json_int_t) 0, "nusd", out * 1000, "status",
                      (json_int_t) 200, "outcome", outcome, "estimated", 0, "ttfbUs",
                      (json_int_t) 900, "totalUs", (json_int_t) 5000, "overheadUs",
                      (json_int_t) 300, "gateway", "gw-1");
}

/* Sends rec (consumed) as gateway-keys does; the reply. */
static proto_msg_t *
append_rec (json_t *rec, bool op)
{
    proto_msg_t *m = proto_msg_new (PROTO_spend_append, NULL);
    proto_set_str (&m->env.user, NULL);
    m->env.op = op;
    assert_int_equal (mpjson_set (&m->body.spend_append.record, rec, 8), 0);
    json_decref (rec);
    return request (s_cl, m);
}

/* Appends and expects an ack; its seq, and whether a duplicate. */
static uint64_t
put (json_t *rec, bool *dup)
{
    proto_msg_t *rep = append_rec (rec, true);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_spend_ack);
    uint64_t seq = rep->body.spend_ack.seq;
    if (dup)
        *dup = rep->body.spend_ack.duplicate;
    proto_msg_destroy (&rep);
    return seq;
}

/* spend.read as user (op: an operator) naming who; the records. */
static json_t *
read_as (const char *user, bool op, const char *who, const char *key)
{
    proto_msg_t *m = proto_msg_new (PROTO_spend_read, NULL);
    proto_set_str (&m->env.user, user);
    m->env.op = op;
    proto_set_str (&m->body.spend_read.user, who);
    proto_set_str (&m->body.spend_read.key_id, key);
    proto_msg_t *rep = request (s_cl, m);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_spend_page);
    json_t *recs = any_json (&rep->body.spend_page.records);
    proto_msg_destroy (&rep);
    assert_true (json_is_array (recs));
    return recs;
}

/* stats.get's `spend` as user (op: everyone's). */
static json_t *
spend_stats (const char *user, bool op)
{
    proto_msg_t *m = proto_msg_new (PROTO_stats_get, NULL);
    proto_set_str (&m->env.user, user);
    m->env.op = op;
    proto_msg_t *rep = request (s_cl, m);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_stats);
    json_t *st = any_json (&rep->body.stats.stats);
    proto_msg_destroy (&rep);
    json_t *sp = json_incref (json_object_get (st, "spend"));
    json_decref (st);
    assert_non_null (sp);
    return sp;
}

static json_int_t
fig (json_t *sp, const char *by, const char *name, const char *what)
{
    return json_integer_value (json_object_get (json_object_get (json_object_get (sp, by), name),
                                                what));
}

static void
test_dedup_late_and_totals (void **state)
{
    (void) state;
    pid_t bus = setup_stack ("spend");
    pid_t el = start_eventlog (NULL);
    s_cl = client_new (3000, 1);
    bus_tap_t *tap = bus_tap_new (getenv ("CAISSON_BUS_SUB"), "spend.");
    assert_non_null (tap);
    zclock_sleep (200);
    json_int_t now = zclock_time ();
    bool dup;
    uint64_t s1 = put (record ("c1", "alice", "k1", "replay/demo", 50, "ok", now), &dup);
    assert_false (dup);
    char topic[128];
    proto_msg_t *ev = bus_tap_recv (tap, topic, sizeof topic, 3000, NULL);
    assert_non_null (ev);
    assert_string_equal (topic, "spend.alice");
    assert_int_equal (ev->type, PROTO_spend);
    json_t *pub = any_json (&ev->body.spend.record);
    assert_string_equal (json_string_value (json_object_get (pub, "call")), "c1");
    json_decref (pub);
    proto_msg_destroy (&ev);
    /* the same call again (an ack that came too late): stored once */
    assert_int_equal (put (record ("c1", "alice", "k1", "replay/demo", 50, "ok", now), &dup),
                      s1);
    assert_true (dup);
    /* an orphan charged in full, then its late settle: the late one replaces it */
    put (record ("c2", "alice", "k1", "replay/demo", 4096, "orphaned", now), &dup);
    json_t *late = record ("c2", "alice", "k1", "replay/demo", 20, "ok", now);
    json_object_set_new (late, "late", json_true ());
    uint64_t s2 = put (late, &dup);
    assert_false (dup);
    late = record ("c2", "alice", "k1", "replay/demo", 20, "ok", now);
    json_object_set_new (late, "late", json_true ());
    assert_int_equal (put (late, &dup), s2);      /* a repeated correction is a duplicate */
    assert_true (dup);
    put (record ("c3", "bob", "k2", "replay/other", 7, "provider_error", now), NULL);

    json_t *recs = read_as ("ops", true, "alice", NULL);
    assert_int_equal (json_array_size (recs), 2);
    json_t *r2 = json_array_get (recs, 1);
    assert_string_equal (json_string_value (json_object_get (r2, "call")), "c2");
    assert_int_equal (int_at (r2, "out"), 20);
    assert_int_equal (int_at (r2, "seq"), (json_int_t) s2);
    json_decref (recs);

    json_t *sp = spend_stats ("ops", true);
    assert_int_equal (fig (sp, "byUser", "alice", "calls"), 2);
    assert_int_equal (fig (sp, "byUser", "alice", "out"), 70);
    assert_int_equal (fig (sp, "byUser", "alice", "nusd"), 70000);
    assert_int_equal (fig (sp, "byUser", "alice", "cached"), 4);
    assert_int_equal (fig (sp, "byKey", "k2", "errors"), 1);
    assert_int_equal (fig (sp, "byModel", "replay/demo", "calls"), 2);
    assert_int_equal (fig (sp, "byModel", "replay/other", "in"), 10);
    json_decref (sp);
    /* a user's stats hold their own spend only */
    sp = spend_stats ("bob", false);
    assert_null (json_object_get (json_object_get (sp, "byUser"), "alice"));
    assert_int_equal (fig (sp, "byUser", "bob", "calls"), 1);
    json_decref (sp);

    bus_tap_destroy (&tap);
    bus_client_destroy (&s_cl);
    support_expect_clean_exit (el);
    support_stop (bus, SIGTERM, 5000);
}

static void
test_users_read_their_own (void **state)
{
    (void) state;
    pid_t bus = setup_stack ("spend-own");
    pid_t el = start_eventlog (NULL);
    s_cl = client_new (3000, 1);
    json_int_t now = zclock_time ();
    put (record ("a1", "alice", "ka", "replay/demo", 5, "ok", now), NULL);
    put (record ("b1", "bob", "kb", "replay/demo", 6, "ok", now), NULL);
    /* bob naming alice gets his own records, never hers */
    json_t *recs = read_as ("bob", false, "alice", NULL);
    assert_int_equal (json_array_size (recs), 1);
    assert_string_equal (json_string_value (json_object_get (json_array_get (recs, 0), "user")),
                         "bob");
    json_decref (recs);
    recs = read_as ("bob", false, NULL, "ka");
    assert_int_equal (json_array_size (recs), 0);
    json_decref (recs);
    recs = read_as ("ops", true, NULL, NULL);
    assert_int_equal (json_array_size (recs), 2);
    json_decref (recs);
    /* only a service (op) stores spend */
    proto_msg_t *rep = append_rec (record ("x1", "bob", "kb", "replay/demo", 1, "ok", now),
                                   false);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_error);
    proto_msg_destroy (&rep);
    rep = append_rec (json_pack ("{s:s}", "user", "bob"), true);
    assert_int_equal (rep->type, PROTO_error);
    proto_msg_destroy (&rep);
    bus_client_destroy (&s_cl);
    support_expect_clean_exit (el);
    support_stop (bus, SIGTERM, 5000);
}

static void
test_retention_keeps_totals (void **state)
{
    (void) state;
    pid_t bus = setup_stack ("spend-retain");
    pid_t el = start_eventlog (NULL);
    s_cl = client_new (3000, 1);
    json_int_t now = zclock_time ();
    put (record ("old", "alice", "ka", "replay/demo", 5, "ok", now - 3 * DAY_MS), NULL);
    put (record ("new", "alice", "ka", "replay/demo", 6, "ok", now), NULL);
    support_expect_clean_exit (el);
    /* retention runs at start */
    el = start_eventlog ((const char *const[]) { "CAISSON_SPEND_RETENTION_DAYS=2", NULL });
    json_t *recs = read_as ("ops", true, NULL, NULL);
    assert_int_equal (json_array_size (recs), 1);
    assert_string_equal (json_string_value (json_object_get (json_array_get (recs, 0), "call")),
                         "new");
    json_decref (recs);
    json_t *sp = spend_stats ("ops", true);
    assert_int_equal (fig (sp, "byUser", "alice", "calls"), 2);
    assert_int_equal (fig (sp, "byUser", "alice", "out"), 11);
    json_decref (sp);
    bus_client_destroy (&s_cl);
    support_expect_clean_exit (el);
    support_stop (bus, SIGTERM, 5000);
}

int
main (void)
{
    proto_set_identity ("ops", true);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_dedup_late_and_totals),
        cmocka_unit_test (test_users_read_their_own),
        cmocka_unit_test (test_retention_keeps_totals),
    };
    return support_run_group_tests (tests, NULL, NULL);
}
