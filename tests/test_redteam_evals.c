/* test_redteam_evals: issue 18 red team. A hostile tenant (bob against
 * alice, both non-operators, and a non-operator posing as one) and a
 * careless user against event-log's eval records and versioned profiles
 * (real broker and event-log, requests on the bus as a user), and hostile
 * task folders against the set loader (libcommon/evalset) and the scripted
 * model's oracle. An attack that holds is a passing test; one that landed
 * and was fixed says so ("Fixed (was DEFECT ...)"); one that lands and is
 * not fixed starts with skip () and a `DEFECT (severity)` comment. */
#define _GNU_SOURCE
#include "eventlog_util.h"
#include "evalset.h"
#include "mpjson.h"
#include "oracle.h"

#include <fcntl.h>
#include <msgpack.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static bus_client_t *s_cl;
static pid_t s_bus, s_el;

static proto_msg_t *
as (const char *user, bool op, proto_msg_t *m)
{
    proto_set_str (&m->env.user, user);
    m->env.op = op;
    proto_msg_t *rep = request (s_cl, m);
    assert_non_null (rep);
    return rep;
}

static void
expect_error (proto_msg_t *rep, const char *code, const char *text)
{
    if (rep->type != PROTO_error)
        fail_msg ("expected %s (%s), got %s", code, text, proto_type_name (rep->type));
    if (strcmp (rep->body.error.code, code) || !strstr (rep->body.error.message, text))
        fail_msg ("expected %s naming '%s', got %s: %s", code, text, rep->body.error.code,
                  rep->body.error.message);
    proto_msg_destroy (&rep);
}

static void
stack_up (const char *name, const char *const env[])
{
    s_bus = setup_stack (name);
    s_el = start_eventlog (env);
    s_cl = client_new (20000, 0);
}

static double
now_s (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The stack with the deployment's default heartbeat (1 s, 3 missed),
 * not the tests' 100 ms: what a handler's time costs is then what it
 * costs in a deployment (past 3 s the broker drops event-log and the
 * answers in flight). */
static void
stack_up_default_heartbeat (const char *name)
{
    s_bus = setup_stack (name);
    support_stop (s_bus, SIGTERM, 5000);
    setenv ("CAISSON_HEARTBEAT_MS", "1000", 1);
    s_bus = support_spawn ("caisson-bus", NULL);
    s_el = start_eventlog (NULL);
    s_cl = client_new (60000, 0);
}

/* ---- evals: helpers ----------------------------------------------------------- */

static json_t *
record (const char *set)
{
    return json_pack ("{s:s, s:s, s:s, s:I, s:{s:i, s:i}, s:[]}", "set", set, "model",
                      "replay/oracle", "status", "done", "started",
                      (json_int_t) 1700000000000000, "summary", "tasks", 1, "passed", 1,
                      "tasks");
}

static proto_msg_t *
put_bytes (const char *user, bool op, const char *id, const void *data, size_t n)
{
    proto_msg_t *m = proto_msg_new (PROTO_eval_put, NULL);
    proto_set_str (&m->body.eval_put.id, id);
    proto_set_bytes (&m->body.eval_put.record, data, n);
    return as (user, op, m);
}

static proto_msg_t *
put (const char *user, bool op, const char *id, json_t *rec)
{
    proto_msg_t *m = proto_msg_new (PROTO_eval_put, NULL);
    proto_set_str (&m->body.eval_put.id, id);
    assert_int_equal (mpjson_set (&m->body.eval_put.record, rec, 64), 0);
    json_decref (rec);
    return as (user, op, m);
}

static void
put_ok (const char *user, const char *id, json_t *rec)
{
    proto_msg_t *rep = put (user, false, id, rec);
    if (rep->type != PROTO_eval_info)
        fail_msg ("eval.put %s: %s", id, rep->type == PROTO_error ? rep->body.error.message : "?");
    proto_msg_destroy (&rep);
}

static proto_msg_t *
get (const char *user, bool op, const char *id)
{
    proto_msg_t *m = proto_msg_new (PROTO_eval_get, NULL);
    proto_set_str (&m->body.eval_get.id, id);
    return as (user, op, m);
}

static const char *
set_of (const char *user, bool op, const char *id, char *out, size_t n)
{
    proto_msg_t *rep = get (user, op, id);
    if (rep->type != PROTO_eval_record)
        fail_msg ("eval.get %s: %s", id, rep->type == PROTO_error ? rep->body.error.message : "?");
    json_t *rec = any_json (&rep->body.eval_record.record);
    proto_msg_destroy (&rep);
    assert_non_null (rec);
    snprintf (out, n, "%s", support_json_str (rec, "set"));
    json_decref (rec);
    return out;
}

/* The listing of whose's evals as user (asserted to be a listing). */
static json_t *
list (const char *user, bool op, const char *whose)
{
    proto_msg_t *m = proto_msg_new (PROTO_eval_list, NULL);
    proto_set_str (&m->body.eval_list.user, whose);
    proto_msg_t *rep = as (user, op, m);
    if (rep->type != PROTO_eval_listing)
        fail_msg ("eval.list: %s", rep->type == PROTO_error ? rep->body.error.message : "?");
    json_t *evals = any_json (&rep->body.eval_listing.evals);
    proto_msg_destroy (&rep);
    if (!json_is_array (evals))
        fail_msg ("eval.list: the listing is not a list (%zu bytes)", (size_t) 0);
    return evals;
}

static bool
listed (json_t *l, const char *id)
{
    size_t i;
    json_t *e;
    json_array_foreach (l, i, e)
        if (!strcmp (support_json_str (e, "id"), id))
            return true;
    return false;
}

/* ---- evals: ids and owners ---------------------------------------------------- */

/* bob against alice's evals: ids by case, length, path characters, NUL
 * (the bus refuses it), unicode; reading, overwriting and listing hers;
 * a non-operator naming himself "op" or "root". All hold. */
static void
test_eval_ids_and_owners (void **state)
{
    (void) state;
    stack_up ("rt-evals-ids", NULL);
    char id64[65], id65[66], buf[64];
    memset (id64, 'a', 64);
    id64[64] = '\0';
    memset (id65, 'a', 65);
    id65[65] = '\0';
    put_ok ("alice", "e1", record ("alice-set"));
    put_ok ("alice", id64, record ("alice-long"));
    /* a case twin is a different eval of bob's, alice's stays hers */
    put_ok ("bob", "E1", record ("bob-set"));
    assert_string_equal (set_of ("alice", false, "e1", buf, sizeof buf), "alice-set");
    assert_string_equal (set_of ("bob", false, "E1", buf, sizeof buf), "bob-set");
    expect_error (get ("bob", false, "e1"), "not_found", "e1");
    expect_error (get ("bob", false, id64), "not_found", "no eval");
    expect_error (put ("bob", false, "e1", record ("bob")), "forbidden", "another user's");
    expect_error (put ("bob", false, id64, record ("bob")), "forbidden", "another user's");
    /* 65 bytes: refused, never truncated onto alice's 64 */
    proto_msg_t *rep = put ("bob", false, id65, record ("bob"));
    assert_int_equal (rep->type, PROTO_error);
    proto_msg_destroy (&rep);
    static const char *const bad[] = { "../e1", "e1/..", "alice/e1", "/e1", ".", "..", "e1 ",
                                       "\xc3\xa9" "1", "e\xe2\x80\x8b" "1", "", NULL };
    for (int i = 0; bad[i]; i++) {
        rep = put ("bob", false, bad[i], record ("bob"));
        if (rep->type != PROTO_error)
            fail_msg ("id '%s' stored", bad[i]);
        proto_msg_destroy (&rep);
        rep = get ("bob", false, bad[i]);
        assert_int_equal (rep->type, PROTO_error);
        proto_msg_destroy (&rep);
    }
    /* listing hers: forbidden, whatever bob calls himself */
    static const char *const names[] = { "bob", "op", "ops", "root", "operator", "", NULL };
    for (int i = 0; names[i]; i++) {
        proto_msg_t *m = proto_msg_new (PROTO_eval_list, NULL);
        proto_set_str (&m->body.eval_list.user, "alice");
        rep = as (names[i], false, m);
        assert_int_equal (rep->type, PROTO_error);
        assert_string_equal (rep->body.error.code, "forbidden");
        proto_msg_destroy (&rep);
        rep = get (names[i], false, "e1");
        assert_int_equal (rep->type, PROTO_error);
        proto_msg_destroy (&rep);
    }
    json_t *l = list ("bob", false, NULL);
    assert_int_equal (json_array_size (l), 1);
    assert_string_equal (support_json_str (json_array_get (l, 0), "id"), "E1");
    json_decref (l);
    /* an operator's replacement keeps the eval alice's */
    rep = put ("ops", true, "e1", record ("ops-fixed"));
    assert_int_equal (rep->type, PROTO_eval_info);
    assert_string_equal (rep->body.eval_info.user, "alice");
    proto_msg_destroy (&rep);
    l = list ("alice", false, NULL);
    assert_true (listed (l, "e1"));
    json_decref (l);
    l = list ("ops", true, NULL);
    assert_int_equal (json_array_size (l), 0);
    json_decref (l);
}

/* ---- evals: record bombs ------------------------------------------------------ */

static void
pack_str (msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str (pk, n);
    msgpack_pack_str_body (pk, s, n);
}

/* {"set": <what>} built by fill; its bytes put as alice under id. */
static proto_msg_t *
put_packed (const char *id, void (*fill) (msgpack_packer *))
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
    fill (&pk);
    proto_msg_t *m = proto_msg_new (PROTO_eval_put, NULL);
    proto_set_str (&m->body.eval_put.id, id);
    proto_set_bytes (&m->body.eval_put.record, sb.data, sb.size);
    msgpack_sbuffer_destroy (&sb);
    proto_set_str (&m->env.user, "alice");
    /* what the bus's own encoder will not frame (the same walk refuses it
     * on event-log's side) never reaches the handler */
    uint8_t *frame;
    size_t size;
    if (proto_encode (m, &frame, &size)) {
        print_message ("%s: refused by the bus's framing\n", id);
        proto_msg_destroy (&m);
        return proto_error_new (NULL, PROTO_ERR_bad_value, "not framed");
    }
    free (frame);
    return as ("alice", false, m);
}

static void
fill_ext (msgpack_packer *pk)
{
    msgpack_pack_map (pk, 1);
    pack_str (pk, "set", 3);
    msgpack_pack_ext (pk, 3, 1);
    msgpack_pack_ext_body (pk, "abc", 3);
}

static void
fill_int_key (msgpack_packer *pk)
{
    msgpack_pack_map (pk, 1);
    msgpack_pack_int (pk, 7);
    pack_str (pk, "x", 1);
}

static void
fill_bad_utf8 (msgpack_packer *pk)
{
    msgpack_pack_map (pk, 1);
    pack_str (pk, "set", 3);
    pack_str (pk, "\xff\xfe golden", 9);
}

static void
fill_bad_utf8_deep (msgpack_packer *pk)
{
    msgpack_pack_map (pk, 1);
    pack_str (pk, "tasks", 5);
    msgpack_pack_array (pk, 1);
    pack_str (pk, "ok \xc0\xaf", 5);
}

static void
fill_bad_key (msgpack_packer *pk)
{
    msgpack_pack_map (pk, 1);
    pack_str (pk, "s\xfft", 3);
    pack_str (pk, "x", 1);
}

static void
fill_big_uint (msgpack_packer *pk)
{
    msgpack_pack_map (pk, 1);
    pack_str (pk, "started", 7);
    msgpack_pack_uint64 (pk, UINT64_MAX);
}

static void
fill_lying_count (msgpack_packer *pk)
{
    /* a map announcing 2^32-1 entries and holding one */
    msgpack_pack_map (pk, UINT32_MAX);
    pack_str (pk, "set", 3);
    pack_str (pk, "x", 1);
}

/* Record bombs that must be refused naming the record, and leave
 * everyone's listing as it was (the listing of the user and an
 * operator's listing of her). Hold. */
static void
test_eval_record_bombs (void **state)
{
    (void) state;
    stack_up ("rt-evals-bombs", NULL);
    put_ok ("alice", "keep", record ("golden"));
    static struct { const char *id; void (*fill) (msgpack_packer *); } bombs[] = {
        { "ext", fill_ext }, { "intkey", fill_int_key }, { "utf8", fill_bad_utf8 },
        { "utf8deep", fill_bad_utf8_deep }, { "badkey", fill_bad_key },
        { "biguint", fill_big_uint }, { "lying", fill_lying_count },
    };
    for (size_t i = 0; i < sizeof bombs / sizeof bombs[0]; i++) {
        proto_msg_t *rep = put_packed (bombs[i].id, bombs[i].fill);
        if (rep->type != PROTO_error)
            fail_msg ("record bomb %s stored", bombs[i].id);
        assert_string_equal (rep->body.error.code, "bad_value");
        proto_msg_destroy (&rep);
    }
    /* summary of the wrong type, set too long */
    expect_error (put ("alice", false, "s1", json_pack ("{s:[i]}", "summary", 1)), "bad_value",
                  "record.summary");
    char long_set[300];
    memset (long_set, 's', 299);
    long_set[299] = '\0';
    expect_error (put ("alice", false, "s2", json_pack ("{s:s}", "set", long_set)), "bad_value",
                  "record.set");
    /* 8 MiB + 1 of record: refused by the bus's field limit; 8 MiB - a little: taken */
    size_t big = (8u << 20) + 1;
    uint8_t *data = malloc (big);
    data[0] = 0xdb;             /* str32 */
    uint32_t n = (uint32_t) big - 5;
    data[1] = (uint8_t) (n >> 24), data[2] = (uint8_t) (n >> 16), data[3] = (uint8_t) (n >> 8),
    data[4] = (uint8_t) n;
    memset (data + 5, 'x', big - 5);
    proto_msg_t *rep = put_bytes ("alice", false, "huge", data, big);
    assert_int_equal (rep->type, PROTO_error);
    proto_msg_destroy (&rep);
    free (data);
    json_t *l = list ("alice", false, NULL);
    assert_int_equal (json_array_size (l), 1);
    json_decref (l);
    l = list ("ops", true, "alice");
    assert_int_equal (json_array_size (l), 1);
    json_decref (l);
}

/* Fixed (was DEFECT, medium): a record whose indexed strings hold a NUL
 * (`set`: "golden\u0000x", valid msgpack and valid UTF-8) was stored, but
 * its index entry no longer parsed (json_loadb without JSON_ALLOW_NUL), so
 * the eval vanished from its owner's listing and an operator's, while
 * still counting against CAISSON_EVALS_MAX_PER_USER. */
static void
test_eval_nul_in_index (void **state)
{
    (void) state;
    stack_up ("rt-evals-nul", NULL);
    put_ok ("alice", "plain", record ("golden"));
    json_t *rec = record ("golden");
    json_object_set_new (rec, "set", json_stringn ("golden\0x", 8));
    json_object_set_new (json_object_get (rec, "summary"), "note", json_stringn ("a\0b", 3));
    proto_msg_t *rep = put ("alice", false, "nul", rec);
    bool stored = rep->type == PROTO_eval_info;
    proto_msg_destroy (&rep);
    json_t *l = list ("alice", false, NULL);
    if (stored)
        assert_true (listed (l, "nul"));
    assert_true (listed (l, "plain"));
    json_decref (l);
    l = list ("ops", true, "alice");
    if (stored)
        assert_true (listed (l, "nul"));
    json_decref (l);
}

/* Fixed (was DEFECT, medium): the listing was encoded at most 8 levels
 * deep while a record (and so its summary) may be 16, so one record with
 * a summary nested 7 levels made eval.list answer a listing without its
 * list, for its owner and an operator alike: every eval of hers unlisted. */
static void
test_eval_deep_summary (void **state)
{
    (void) state;
    stack_up ("rt-evals-deep", NULL);
    put_ok ("alice", "plain", record ("golden"));
    json_t *deep = json_integer (1);
    for (int i = 0; i < 13; i++)
        deep = json_pack ("{s:o}", "d", deep);
    json_t *rec = record ("golden");
    json_object_set_new (rec, "summary", deep);
    put_ok ("alice", "deep", rec);
    json_t *l = list ("alice", false, NULL);
    assert_true (listed (l, "plain"));
    assert_true (listed (l, "deep"));
    json_decref (l);
    l = list ("ops", true, "alice");
    assert_int_equal (json_array_size (l), 2);
    json_decref (l);
}

/* Fixed (was DEFECT, medium): `started` went into the index entry whole
 * when a string (up to the record's 8 MiB), so a careless record with a
 * 5 MiB `started` passed the listing's 4 MiB page on its own: eval.list
 * stopped there and showed none of the evals older than it. */
static void
test_eval_huge_started (void **state)
{
    (void) state;
    stack_up ("rt-evals-started", NULL);
    put_ok ("alice", "older", record ("golden"));
    size_t n = 5u << 20;
    char *pad = malloc (n + 1);
    memset (pad, '7', n);
    pad[n] = '\0';
    json_t *rec = record ("golden");
    json_object_set_new (rec, "started", json_string (pad));
    free (pad);
    proto_msg_t *rep = put ("alice", false, "huge", rec);
    proto_msg_destroy (&rep);
    json_t *l = list ("alice", false, NULL);
    assert_true (listed (l, "older"));
    json_decref (l);
}

/* VmHWM of pid in KiB. */
static long
peak_kib (pid_t pid)
{
    char path[64], line[256];
    snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *f = fopen (path, "r");
    long kib = -1;
    while (f && fgets (line, sizeof line, f))
        if (!strncmp (line, "VmHWM:", 6))
            kib = strtol (line + 6, NULL, 10);
    if (f)
        fclose (f);
    return kib;
}

/* Fixed (was DEFECT, medium): eval.put turned the whole record into a
 * JSON tree (mpjson_decode) to check it and index five keys, so an 8 MiB
 * record of tiny values, {"tasks": [8 million fixints]}, cost event-log
 * about 350 MiB and 0.7 s, during which event-log, one thread for every
 * run's events, answered nobody. Now the record is checked by a walk that
 * builds nothing (mpjson_check) and only the indexed keys are decoded: the
 * peak RSS grows by less than 64 MiB. */
static void
test_eval_amplification (void **state)
{
    (void) state;
    stack_up_default_heartbeat ("rt-evals-amp");
    long before = peak_kib (s_el);
    double t0 = now_s ();
    size_t count = (8u << 20) - 64;
    uint8_t *data = malloc (count + 16);
    size_t k = 0;
    static const uint8_t head[] = { 0x81, 0xa5, 't', 'a', 's', 'k', 's', 0xdd };
    memcpy (data, head, sizeof head);
    k = sizeof head;
    uint32_t items = (uint32_t) (count - k - 4);
    data[k++] = (uint8_t) (items >> 24), data[k++] = (uint8_t) (items >> 16);
    data[k++] = (uint8_t) (items >> 8), data[k++] = (uint8_t) items;
    memset (data + k, 0x01, items);
    /* what is measured is memory, not time: under ThreadSanitizer the bus's
     * own walk of 8 million values takes longer than its usual wait */
    bus_client_set_timeout (s_cl, 120000, 0);
    proto_msg_t *rep = put_bytes ("bob", false, "amp", data, count);
    print_message ("{tasks: [%u fixints]}: %.3f s, %s\n", items, now_s () - t0,
                   rep->type == PROTO_error ? rep->body.error.message
                   : proto_type_name (rep->type));
    proto_msg_destroy (&rep);
    long after = peak_kib (s_el);
    print_message ("event-log peak RSS: %ld KiB before, %ld KiB after one 8 MiB put\n",
                   before, after);
    put_ok ("alice", "still", record ("golden"));
    free (data);
#ifdef __SANITIZE_THREAD__
    /* ThreadSanitizer's shadow grows with every byte touched (the 8 MiB
     * frame is copied on its way in): a looser bound, still far below the
     * 350 MiB the tree cost */
    assert_true (after - before < 256 * 1024);
#else
    assert_true (after - before < 64 * 1024);
#endif
}

/* Fixed (was DEFECT, medium): CAISSON_EVALS_MAX_PER_USER counted records,
 * not bytes, so bob alone, within his 500 evals of 8 MiB, filled the store
 * every user shares, and alice's next eval.put (and every other write:
 * events, runs) answered store_full. Now CAISSON_EVALS_MAX_MB_PER_USER
 * caps a user's bytes: with a 2 MiB store and a 1 MiB share, bob's puts
 * are refused with `limit` before the store is full, and alice's fits. */
static void
test_eval_store_starved_by_bob (void **state)
{
    (void) state;
    static const char *const small[] = { "CAISSON_LMDB_MAP_MB=1", "CAISSON_LMDB_MAX_MB=2",
                                         "CAISSON_EVALS_MAX_PER_USER=400",
                                         "CAISSON_EVALS_MAX_MB_PER_USER=1", NULL };
    stack_up ("rt-evals-starve", small);
    /* big records until the store is full, then smaller ones into what is left */
    int made = 0;
    for (size_t size = 400000; size >= 16 && made < 400; size /= 2) {
        char *pad = malloc (size + 1);
        memset (pad, 'p', size);
        pad[size] = '\0';
        for (bool full = false; !full && made < 400; made++) {
            char id[16];
            snprintf (id, sizeof id, "bob%d", made);
            json_t *rec = record ("bob");
            json_object_set_new (rec, "tasks", json_pack ("[s]", pad));
            proto_msg_t *rep = put ("bob", false, id, rec);
            full = rep->type == PROTO_error;
            if (full)
                assert_string_equal (rep->body.error.code, "limit");
            proto_msg_destroy (&rep);
        }
        free (pad);
    }
    print_message ("bob stored %d evals\n", made);
    put_ok ("alice", "mine", record ("golden"));
}

/* kill -9 of event-log while bob replaces a 4 MiB record over and over:
 * after the restart the record is either the old or a new one, whole,
 * and still his. Holds (one LMDB write transaction per put). */
static void
test_eval_kill9_mid_put (void **state)
{
    (void) state;
    s_bus = setup_stack ("rt-evals-kill");
    pid_t el = s_el = start_eventlog (NULL);
    s_cl = client_new (20000, 0);
    size_t n = 4u << 20;
    char *pad = malloc (n + 1);
    memset (pad, 'o', n);
    pad[n] = '\0';
    json_t *rec = record ("old");
    json_object_set_new (rec, "tasks", json_pack ("[s]", pad));
    put_ok ("bob", "r", rec);
    bus_client_t *fire = client_new (50, 0);
    for (int round = 0; round < 3; round++) {
        memset (pad, 'a' + round, n);
        rec = record ("new");
        json_object_set_new (rec, "tasks", json_pack ("[s]", pad));
        for (int i = 0; i < 4; i++) {
            proto_msg_t *m = proto_msg_new (PROTO_eval_put, NULL);
            proto_set_str (&m->body.eval_put.id, "r");
            mpjson_set (&m->body.eval_put.record, rec, 64);
            proto_set_str (&m->env.user, "bob");
            support_send (fire, "event-log", m);
        }
        json_decref (rec);
        usleep (20000 * (unsigned) (round + 1));
        support_stop (el, SIGKILL, 1000);
        el = s_el = start_eventlog (NULL);
        proto_msg_t *rep = get ("bob", false, "r");
        assert_int_equal (rep->type, PROTO_eval_record);
        json_t *got = any_json (&rep->body.eval_record.record);
        proto_msg_destroy (&rep);
        assert_non_null (got);
        const char *set = support_json_str (got, "set");
        const char *text = json_string_value (json_array_get (json_object_get (got, "tasks"), 0));
        assert_non_null (text);
        assert_int_equal (strlen (text), n);
        for (size_t i = 1; i < n; i++)
            if (text[i] != text[0])
                fail_msg ("torn record: byte %zu differs", i);
        print_message ("round %d: the record after kill -9 is the %s one\n", round, set);
        json_decref (got);
    }
    bus_client_destroy (&fire);
    free (pad);
    json_t *l = list ("bob", false, NULL);
    assert_int_equal (json_array_size (l), 1);
    json_decref (l);
    expect_error (get ("alice", false, "r"), "not_found", "r");
}

/* ---- profiles ----------------------------------------------------------------- */

static proto_msg_t *
pcreate (const char *user, bool op, const char *name, json_t *body)
{
    proto_msg_t *m = proto_msg_new (PROTO_profile_create, NULL);
    proto_set_str (&m->body.profile_create.name, name);
    assert_int_equal (mpjson_set (&m->body.profile_create.body, body, 64), 0);
    json_decref (body);
    return as (user, op, m);
}

static uint64_t
pcreated (const char *name, json_t *body)
{
    proto_msg_t *rep = pcreate ("ops", true, name, body);
    if (rep->type != PROTO_profile)
        fail_msg ("create: %s", rep->type == PROTO_error ? rep->body.error.message : "?");
    uint64_t v = rep->body.profile.version;
    proto_msg_destroy (&rep);
    return v;
}

static proto_msg_t *
pactivate (const char *user, bool op, const char *name, uint64_t v, uint64_t pct)
{
    proto_msg_t *m = proto_msg_new (PROTO_profile_activate, NULL);
    proto_set_str (&m->body.profile_activate.name, name);
    m->body.profile_activate.version = v;
    m->body.profile_activate.canary_percent = pct;
    return as (user, op, m);
}

static proto_msg_t *
prollback (const char *user, bool op, const char *name)
{
    proto_msg_t *m = proto_msg_new (PROTO_profile_rollback, NULL);
    proto_set_str (&m->body.profile_rollback.name, name);
    return as (user, op, m);
}

/* The state of name in a profile.state reply (consumed): its active
 * version, *cand its candidate (0: none). */
static uint64_t
active_of (proto_msg_t *rep, const char *name, uint64_t *cand)
{
    if (rep->type != PROTO_profile_state)
        fail_msg ("expected profile.state, got %s", rep->type == PROTO_error
                  ? rep->body.error.message : proto_type_name (rep->type));
    json_t *all = any_json (&rep->body.profile_state.profiles), *p;
    proto_msg_destroy (&rep);
    uint64_t a = 0;
    size_t i;
    if (cand)
        *cand = 0;
    json_array_foreach (all, i, p)
        if (!strcmp (support_json_str (p, "name"), name)) {
            a = (uint64_t) json_integer_value (json_object_get (p, "active"));
            if (cand)
                *cand = (uint64_t) json_integer_value (json_object_get (p, "candidate"));
        }
    json_decref (all);
    return a;
}

/* The version a run of thread gets (asserted found); its systemPrompt in
 * prompt when given. */
static uint64_t
presolve (const char *name, uint64_t pinned, const char *thread, char **prompt)
{
    proto_msg_t *m = proto_msg_new (PROTO_profile_resolve, NULL);
    proto_set_str (&m->body.profile_resolve.name, name);
    m->body.profile_resolve.version = pinned;
    proto_set_str (&m->body.profile_resolve.thread_id, thread);
    proto_msg_t *rep = as ("bob", false, m);
    if (rep->type != PROTO_profile)
        fail_msg ("resolve: %s", rep->type == PROTO_error ? rep->body.error.message : "?");
    uint64_t v = rep->body.profile.version;
    if (prompt) {
        json_t *body = any_json (&rep->body.profile.body);
        const char *p = json_string_value (json_object_get (body, "systemPrompt"));
        *prompt = p ? strdup (p) : NULL;
        json_decref (body);
    }
    proto_msg_destroy (&rep);
    return v;
}

static json_t *
prompt_body (const char *text)
{
    return json_pack ("{s:s}", "systemPrompt", text);
}

/* Profile bodies at and past each limit, names at and past theirs,
 * changes by non-operators (bob, and bob calling himself "ops"). Hold. */
static void
test_profile_bodies_and_names (void **state)
{
    (void) state;
    stack_up ("rt-prof-bodies", NULL);
    char *text = malloc (65538);
    memset (text, 'p', 65537);
    text[65536] = '\0';
    assert_int_equal (pcreated ("default", prompt_body (text)), 1);
    text[65536] = 'p';
    text[65537] = '\0';
    expect_error (pcreate ("ops", true, "default", prompt_body (text)), "bad_value",
                  "body.systemPrompt");
    free (text);
    json_t *tools = json_object ();
    for (int i = 0; i < 65; i++) {
        char name[16];
        snprintf (name, sizeof name, "t%d", i);
        json_object_set_new (tools, name, json_string ("d"));
    }
    expect_error (pcreate ("ops", true, "default", json_pack ("{s:o}", "toolDescriptions", tools)),
                  "bad_value", "toolDescriptions");
    /* 64 x 64 KiB: past the bus's 256 KiB body before any check */
    tools = json_object ();
    char *d = malloc (65537);
    memset (d, 'd', 65536);
    d[65536] = '\0';
    for (int i = 0; i < 64; i++) {
        char name[16];
        snprintf (name, sizeof name, "t%d", i);
        json_object_set_new (tools, name, json_string (d));
    }
    free (d);
    proto_msg_t *rep = pcreate ("ops", true, "default", json_pack ("{s:o}", "toolDescriptions",
                                                                   tools));
    assert_int_equal (rep->type, PROTO_error);
    proto_msg_destroy (&rep);
    static const char *const bad[] = {
        "{\"budgets\": {\"steps\": -1}}", "{\"budgets\": {\"steps\": 0}}",
        "{\"budgets\": {\"steps\": 1.5}}", "{\"budgets\": {\"steps\": \"10\"}}",
        "{\"budgets\": {\"money\": 10}}", "{\"budgets\": [10]}",
        "{\"checks\": [\"Tests\"]}", "{\"checks\": [\"a b\"]}", "{\"checks\": [\"../x\"]}",
        "{\"checks\": [\"\"]}", "{\"checks\": \"tests_pass\"}", "{\"checks\": [1]}",
        "{\"model\": \"openai/gpt\\u0007\"}", "{\"model\": \"openai/gpt\\n4o\"}",
        "{\"model\": \"gpt-4o\"}", "{\"model\": \"/gpt\"}", "{\"model\": \"openai/\"}",
        "{\"model\": 4}", "{\"systemPrompt\": 4}", "{\"toolDescriptions\": {\"a b\": \"x\"}}",
        "{\"toolDescriptions\": {\"shell\": 1}}", "{\"extra\": 1}", "[1]", "\"text\"", NULL };
    for (int i = 0; bad[i]; i++) {
        json_t *b = json_loads (bad[i], JSON_DECODE_ANY, NULL);
        assert_non_null (b);
        rep = pcreate ("ops", true, "default", b);
        if (rep->type != PROTO_error)
            fail_msg ("body %s stored", bad[i]);
        assert_string_equal (rep->body.error.code, "bad_value");
        proto_msg_destroy (&rep);
    }
    /* a budget past int64 is refused by the decoder; INT64_MAX is a positive integer */
    rep = pcreate ("ops", true, "default", json_pack ("{s:{s:I}}", "budgets", "tokens",
                                                      (json_int_t) INT64_MAX));
    print_message ("budgets.tokens INT64_MAX: %s\n", rep->type == PROTO_error
                   ? rep->body.error.message : "stored");
    proto_msg_destroy (&rep);
    /* names */
    char n32[33], n33[34];
    memset (n32, 'a', 32);
    n32[32] = '\0';
    memset (n33, 'a', 33);
    n33[33] = '\0';
    assert_int_equal (pcreated (n32, prompt_body ("x")), 1);
    const char *const names[] = { "Default", "DEFAULT", "-a", "1a", "a_b", "a.b", "a/b",
                                         "../default", "d\xc3\xa9", n33, NULL };
    for (int i = 0; names[i]; i++) {
        rep = pcreate ("ops", true, names[i], prompt_body ("x"));
        if (rep->type != PROTO_error)
            fail_msg ("profile name '%s' taken", names[i]);
        proto_msg_destroy (&rep);
    }
    /* non-operators change nothing, whatever they call themselves */
    static const char *const who[] = { "bob", "ops", "root", "", NULL };
    for (int i = 0; who[i]; i++) {
        expect_error (pcreate (who[i], false, "default", prompt_body ("evil")), "forbidden",
                      "operators");
        expect_error (pactivate (who[i], false, "default", 1, 0), "forbidden", "operators");
        expect_error (prollback (who[i], false, "default"), "forbidden", "operators");
    }
    proto_msg_t *m = proto_msg_new (PROTO_profile_list, NULL);
    rep = as ("bob", false, m);
    assert_int_equal (active_of (rep, "default", NULL), 0);
}

/* Fixed (was DEFECT, high): text with a NUL (a systemPrompt "be kind\0...",
 * a check or model name "tests_pass\0 rm -rf") passed the body checks
 * (they looked at the C string up to the NUL) and was stored as JSON
 * "\u0000", which event-log's own reader (json_loadb without
 * JSON_ALLOW_NUL) could no longer parse: profile.get and profile.resolve
 * then answered version 0 with no body, so once activated every new run
 * of that profile ran on a version that was not what was created. Now
 * such a body is refused with bad_value naming the key. */
static void
test_profile_nul_text (void **state)
{
    (void) state;
    stack_up ("rt-prof-nul", NULL);
    assert_int_equal (pcreated ("default", prompt_body ("v1")), 1);
    proto_msg_t *rep = pactivate ("ops", true, "default", 1, 0);
    proto_msg_destroy (&rep);
    json_t *bodies[] = {
        json_pack ("{s:o}", "systemPrompt", json_stringn ("be kind\0ignore that", 19)),
        json_pack ("{s:[o]}", "checks", json_stringn ("tests_pass\0x y", 14)),
        json_pack ("{s:o}", "model", json_stringn ("openai/gpt-4o\0 x", 16)),
        json_pack ("{s:{s:o}}", "toolDescriptions", "shell", json_stringn ("a\0b", 3)),
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        rep = pcreate ("ops", true, "default", bodies[i]);
        if (rep->type == PROTO_profile) {
            uint64_t v = rep->body.profile.version;
            proto_msg_destroy (&rep);
            /* stored: then it must read back as stored */
            assert_int_equal (presolve ("default", v, "t1", NULL), v);
            continue;
        }
        assert_string_equal (rep->body.error.code, "bad_value");
        assert_non_null (strstr (rep->body.error.message, "body."));
        proto_msg_destroy (&rep);
    }
    char *p = NULL;
    assert_int_equal (presolve ("default", 0, "t1", &p), 1);
    assert_string_equal (p, "v1");
    free (p);
}

/* Activation sequences: rollback twice, a candidate activated at 100,
 * the active one activated again, a canary of the active one, version 0,
 * a version that is not there, percentages past 100; a thread keeps its
 * version while the canary stands. Hold. */
static void
test_profile_sequences (void **state)
{
    (void) state;
    stack_up ("rt-prof-seq", NULL);
    for (int i = 1; i <= 4; i++) {
        char t[8];
        snprintf (t, sizeof t, "v%d", i);
        assert_int_equal (pcreated ("p", prompt_body (t)), (uint64_t) i);
    }
    expect_error (prollback ("ops", true, "p"), "bad_state", "nothing to go back to");
    expect_error (pactivate ("ops", true, "p", 2, 50), "bad_state", "canary");
    uint64_t cand;
    assert_int_equal (active_of (pactivate ("ops", true, "p", 1, 0), "p", NULL), 1);
    expect_error (pactivate ("ops", true, "p", 1, 50), "bad_state", "canary");
    expect_error (pactivate ("ops", true, "p", 0, 0), "bad_value", "version");
    expect_error (pactivate ("ops", true, "p", 9, 0), "not_found", "9");
    proto_msg_t *rep = pactivate ("ops", true, "p", 2, 101);
    assert_int_equal (rep->type, PROTO_error);
    proto_msg_destroy (&rep);
    assert_int_equal (active_of (pactivate ("ops", true, "p", 2, 0), "p", NULL), 2);
    assert_int_equal (active_of (pactivate ("ops", true, "p", 3, 30), "p", &cand), 2);
    assert_int_equal (cand, 3);
    /* a thread keeps its version over many asks */
    for (int t = 0; t < 50; t++) {
        char thread[32];
        snprintf (thread, sizeof thread, "th-%d", t);
        uint64_t first = presolve ("p", 0, thread, NULL);
        assert_true (first == 2 || first == 3);
        for (int k = 0; k < 3; k++)
            assert_int_equal (presolve ("p", 0, thread, NULL), first);
    }
    /* the candidate at 100: active, the old one remembered */
    assert_int_equal (active_of (pactivate ("ops", true, "p", 3, 100), "p", &cand), 3);
    assert_int_equal (cand, 0);
    /* the active one again: nothing pushed twice */
    assert_int_equal (active_of (pactivate ("ops", true, "p", 3, 0), "p", NULL), 3);
    assert_int_equal (active_of (prollback ("ops", true, "p"), "p", NULL), 2);
    assert_int_equal (active_of (prollback ("ops", true, "p"), "p", NULL), 1);
    expect_error (prollback ("ops", true, "p"), "bad_state", "nothing to go back to");
    char *prompt = NULL;
    assert_int_equal (presolve ("p", 0, "any", &prompt), 1);
    assert_string_equal (prompt, "v1");
    free (prompt);
    /* a candidate withdrawn by rollback leaves the active one */
    assert_int_equal (active_of (pactivate ("ops", true, "p", 4, 99), "p", &cand), 1);
    assert_int_equal (active_of (prollback ("ops", true, "p"), "p", &cand), 1);
    assert_int_equal (cand, 0);
    for (int t = 0; t < 30; t++) {
        char thread[32];
        snprintf (thread, sizeof thread, "th-%d", t);
        assert_int_equal (presolve ("p", 0, thread, NULL), 1);
    }
    /* diffs and reads at the edges: the same version, one not there, a
     * profile not there, a version of another profile's number */
    static const struct { const char *name; uint64_t a, b; const char *code; } diffs[] = {
        { "p", 2, 2, NULL }, { "p", 4, 1, NULL }, { "p", 1, 99, "not_found" },
        { "p", 0, 1, "not_found" }, { "nosuch", 1, 2, "not_found" },
        { "Default", 1, 2, "bad_value" },
    };
    for (size_t i = 0; i < sizeof diffs / sizeof diffs[0]; i++) {
        proto_msg_t *m = proto_msg_new (PROTO_profile_diff, NULL);
        proto_set_str (&m->body.profile_diff.name, diffs[i].name);
        m->body.profile_diff.a = diffs[i].a;
        m->body.profile_diff.b = diffs[i].b;
        rep = as ("bob", false, m);
        if (diffs[i].code) {
            assert_int_equal (rep->type, PROTO_error);
            assert_string_equal (rep->body.error.code, diffs[i].code);
        }
        else {
            assert_int_equal (rep->type, PROTO_profile_diff_result);
            if (diffs[i].a == diffs[i].b)
                assert_string_equal (rep->body.profile_diff_result.diff, "");
        }
        proto_msg_destroy (&rep);
    }
    assert_int_equal (pcreated ("fresh", prompt_body ("x")), 1);
    proto_msg_t *m = proto_msg_new (PROTO_profile_get, NULL);
    proto_set_str (&m->body.profile_get.name, "fresh");
    expect_error (as ("bob", false, m), "not_found", "no active version");
    m = proto_msg_new (PROTO_profile_resolve, NULL);
    proto_set_str (&m->body.profile_resolve.name, "fresh");
    proto_set_str (&m->body.profile_resolve.thread_id, "t");
    expect_error (as ("bob", false, m), "not_found", "no active version");
    /* eval.list past its limit of 1000 */
    m = proto_msg_new (PROTO_eval_list, NULL);
    m->body.eval_list.limit = 1001;
    rep = as ("bob", false, m);
    assert_int_equal (rep->type, PROTO_error);
    proto_msg_destroy (&rep);
}

/* A line of n lines "prefix i\n"; a new string. */
static char *
lines (const char *prefix, int n)
{
    size_t cap = (size_t) n * (strlen (prefix) + 12) + 1, k = 0;
    char *s = malloc (cap);
    for (int i = 0; i < n; i++)
        k += (size_t) snprintf (s + k, cap - k, "%s%d\n", prefix, i);
    return s;
}


/* profile.diff, which any user may ask, over the costliest bodies an
 * operator can store within the bus's 256 KiB: 2,000-line prompts that
 * share no line, and 64 tool descriptions of 2,000 one-character lines
 * each (64 tables of 4 million cells). Timed (printed, not asserted) and
 * event-log must answer alice afterwards; the diff stays within 1 MiB. */
static void
test_profile_diff_cost (void **state)
{
    (void) state;
    stack_up_default_heartbeat ("rt-prof-diff");
    char *a = lines ("a", 2000), *b = lines ("b", 2000);
    assert_int_equal (pcreated ("big", prompt_body (a)), 1);
    assert_int_equal (pcreated ("big", prompt_body (b)), 2);
    free (a);
    free (b);
    /* one character a line plus its newline: 2,046 lines a tool in 4 KiB */
    json_t *ta = json_object (), *tb = json_object ();
    char *x = malloc (4093), *y = malloc (4093);
    for (int i = 0; i < 4092; i += 2) {
        x[i] = 'x', x[i + 1] = '\n';
        y[i] = 'y', y[i + 1] = '\n';
    }
    x[4092] = y[4092] = '\0';
    for (int i = 0; i < 60; i++) {
        char name[16];
        snprintf (name, sizeof name, "t%d", i);
        json_object_set_new (ta, name, json_string (x));
        json_object_set_new (tb, name, json_string (y));
    }
    free (x);
    free (y);
    assert_int_equal (pcreated ("big", json_pack ("{s:o}", "toolDescriptions", ta)), 3);
    assert_int_equal (pcreated ("big", json_pack ("{s:o}", "toolDescriptions", tb)), 4);
    uint64_t pairs[][2] = { { 1, 2 }, { 3, 4 } };
    for (int i = 0; i < 2; i++) {
        proto_msg_t *m = proto_msg_new (PROTO_profile_diff, NULL);
        proto_set_str (&m->body.profile_diff.name, "big");
        m->body.profile_diff.a = pairs[i][0];
        m->body.profile_diff.b = pairs[i][1];
        double t0 = now_s ();
        proto_msg_t *rep = as ("bob", false, m);
        double t1 = now_s ();
        if (rep->type != PROTO_profile_diff_result)
            fail_msg ("diff: %s", rep->type == PROTO_error ? rep->body.error.message : "?");
        size_t len = strlen (rep->body.profile_diff_result.diff);
        print_message ("profile.diff %llu..%llu: %.3f s, %zu bytes of diff\n",
                       (unsigned long long) pairs[i][0], (unsigned long long) pairs[i][1],
                       t1 - t0, len);
        assert_true (len <= 1u << 20);
        proto_msg_destroy (&rep);
    }
    put_ok ("alice", "after", record ("golden"));
}

/* ---- the set loader ----------------------------------------------------------- */

static const char *s_tmp;
static int s_case;

static void
write_file (const char *path, const char *text)
{
    support_sh ("mkdir -p \"$(dirname '%s')\"", path);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs (text, f);
    fclose (f);
}

/* A new set holding one valid task id with task text text and a solution
 * file sol.py holding solution; its path (static). */
static const char *
task_set (const char *id, const char *text, const char *solution)
{
    static char set[600];
    char p[800];
    snprintf (set, sizeof set, "%s/set%d", s_tmp, ++s_case);
    snprintf (p, sizeof p, "%s/%s/manifest.json", set, id);
    char m[300];
    snprintf (m, sizeof m, "{\"id\": \"%s\", \"language\": \"python\", \"timeLimitS\": 60, "
              "\"testCommand\": \"python3 -m unittest\"}", id);
    write_file (p, m);
    snprintf (p, sizeof p, "%s/%s/task.md", set, id);
    write_file (p, text);
    snprintf (p, sizeof p, "%s/%s/files/calc.py", set, id);
    write_file (p, "def add(a, b):\n    pass\n");
    snprintf (p, sizeof p, "%s/%s/tests/test_calc.py", set, id);
    write_file (p, "import calc\n");
    snprintf (p, sizeof p, "%s/%s/solution/sol.py", set, id);
    write_file (p, solution);
    return set;
}

static const char *
fresh (void)
{
    return task_set ("t1", "Write add(a, b) in calc.py.\n", "def add(a, b):\n    return a + b\n");
}

/* Loading set fails, naming want; it takes less than a minute either way
 * (a FIFO opened for reading would block forever). */
static void
refused (const char *set, const char *want)
{
    char why[2048] = "";
    evalset_t *s = evalset_load (set, why, sizeof why);
    if (s) {
        evalset_destroy (&s);
        fail_msg ("%s loaded; expected a refusal naming %s", set, want);
    }
    if (!strstr (why, want))
        fail_msg ("the refusal \"%s\" does not name \"%s\"", why, want);
}

static evalset_t *
loads (const char *set)
{
    char why[512] = "";
    evalset_t *s = evalset_load (set, why, sizeof why);
    if (!s)
        fail_msg ("%s did not load: %s", set, why);
    return s;
}

/* Symlinked manifest, task.md or tests; FIFOs as task.md, as a tests file,
 * as the mapping and as the set itself; /proc as a set; a symlink into
 * /proc. Each refused, none hangs. Hold. */
static void
test_loader_links_and_specials (void **state)
{
    (void) state;
    const char *set = fresh ();
    support_sh ("cd '%s/t1' && mv manifest.json m.json && ln -s m.json manifest.json", set);
    refused (set, "symlink");
    set = fresh ();
    support_sh ("cd '%s/t1' && rm task.md && ln -s /etc/hostname task.md", set);
    refused (set, "symlink");
    set = fresh ();
    support_sh ("cd '%s/t1' && rm -r tests && ln -s files tests", set);
    refused (set, "symlink");
    set = fresh ();
    support_sh ("cd '%s/t1' && rm task.md && mkfifo task.md", set);
    refused (set, "FIFO");
    set = fresh ();
    support_sh ("mkfifo '%s/t1/tests/pipe.py'", set);
    refused (set, "FIFO");
    set = fresh ();
    support_sh ("mkfifo '%s/caisson-set.json'", set);
    refused (set, "FIFO");
    set = fresh ();
    support_sh ("ln -s /proc/self/environ '%s/t1/files/env'", set);
    refused (set, "symlink");
    char fifo[600];
    snprintf (fifo, sizeof fifo, "%s/fifo-set", s_tmp);
    support_sh ("mkfifo '%s'", fifo);
    refused (fifo, "cannot open the set");
    refused ("/proc/self", "");
    refused ("/dev/null", "cannot open the set");
}

/* A hard link is a regular file: one to a file outside the set (here the
 * test's own stand-in for a secret) is read like any other file. Accepted:
 * the loader runs with its invoker's rights (the CLI as the user on the
 * host, llm-replay over the sets its operator configures), and the kernel
 * (fs.protected_hardlinks, on by default) lets nobody link a file they
 * could not read, so a link reads nothing its maker could not read
 * already. Shown so that a change in that reasoning shows here. */
static void
test_loader_hard_link (void **state)
{
    (void) state;
    char secret[600];
    snprintf (secret, sizeof secret, "%s/secret.txt", s_tmp);
    write_file (secret, "not in the set\n");
    const char *set = fresh ();
    support_sh ("ln '%s' '%s/t1/files/secret.txt'", secret, set);
    evalset_t *s = loads (set);
    const json_t *files = evalset_task (s, 0)->files;
    bool seen = false;
    size_t i;
    json_t *f;
    json_array_foreach (files, i, f)
        seen |= !strcmp (support_json_str (f, "path"), "secret.txt");
    assert_true (seen);
    evalset_destroy (&s);
    FILE *p = fopen ("/proc/sys/fs/protected_hardlinks", "r");
    int on = p ? fgetc (p) : '?';
    if (p)
        fclose (p);
    print_message ("fs.protected_hardlinks: %c\n", on);
}

/* 10,000 files in a task's files/, 10,000 plain files beside the task
 * folders, 2,000 task folders, a 255-byte file name, a path past 512
 * bytes, a 255-byte folder name (no task id). The caps refuse what is
 * too much, quickly; what is allowed loads. Hold. */
static void
test_loader_many_and_long (void **state)
{
    (void) state;
    const char *set = fresh ();
    support_sh ("cd '%s/t1/files' && seq 1 10000 | xargs touch", set);
    double t0 = now_s ();
    refused (set, "more than 1000 entries");
    print_message ("10,000 files refused in %.3f s\n", now_s () - t0);
    set = fresh ();
    support_sh ("cd '%s' && seq 1 10000 | xargs touch", set);
    evalset_t *s = loads (set);
    assert_int_equal (evalset_size (s), 1);
    evalset_destroy (&s);
    set = fresh ();
    support_sh ("cd '%s' && seq 1 2000 | sed 's/^/u/' | xargs mkdir", set);
    refused (set, "more than 1000 task folders");
    set = fresh ();
    char name[256];
    memset (name, 'n', 255);
    name[255] = '\0';
    support_sh ("echo x > '%s/t1/files/%s'", set, name);
    s = loads (set);
    evalset_destroy (&s);
    char dir[256];
    memset (dir, 'd', 255);
    dir[255] = '\0';
    support_sh ("mkdir -p '%s/t1/files/%s/%s' && echo x > '%s/t1/files/%s/%s/f'", set, dir, dir,
                set, dir, dir);
    refused (set, "not an acceptable path");
    set = fresh ();
    support_sh ("mkdir -p '%s/%s'", set, name);
    refused (set, "manifest.json");
}

/* Mapping files whose paths escape: `exercises` with `..`, an absolute
 * path or a symlink; an exercise's config naming `..`, absolute or
 * symlinked files; a symlinked mapping. Each refused. Hold. */
static void
test_loader_mapping_escapes (void **state)
{
    (void) state;
    char set[600];
    static const char *const maps[] = {
        "{\"layout\": \"exercism\", \"exercises\": \"../..\", \"language\": \"python\", "
        "\"timeLimitS\": 60, \"testCommand\": \"pytest\"}",
        "{\"layout\": \"exercism\", \"exercises\": \"/etc\", \"language\": \"python\", "
        "\"timeLimitS\": 60, \"testCommand\": \"pytest\"}",
        "{\"layout\": \"exercism\", \"exercises\": \"exercises/../..\", \"language\": "
        "\"python\", \"timeLimitS\": 60, \"testCommand\": \"pytest\"}",
        "{\"layout\": \"exercism\", \"exercises\": 7, \"language\": \"python\", "
        "\"timeLimitS\": 60, \"testCommand\": \"pytest\"}",
        "{\"layout\": \"other\", \"language\": \"python\", \"timeLimitS\": 60, "
        "\"testCommand\": \"pytest\"}",
        "{\"layout\": \"exercism\", \"include\": \"*\", \"language\": \"python\", "
        "\"timeLimitS\": 60, \"testCommand\": \"pytest\"}",
        "{\"layout\": \"exercism\", \"idPrefix\": \"../\", \"language\": \"python\", "
        "\"timeLimitS\": 60, \"testCommand\": \"pytest\"}",
        NULL };
    for (int i = 0; maps[i]; i++) {
        snprintf (set, sizeof set, "%s/map%d", s_tmp, i);
        support_sh ("cp -r '%s' '%s'", CAISSON_SOURCE_DIR "/evals/imported-example", set);
        char p[700];
        snprintf (p, sizeof p, "%s/caisson-set.json", set);
        write_file (p, maps[i]);
        refused (set, "");
    }
    static const char *const escapes[] = { "../../../../etc/passwd", "/etc/passwd",
                                           "a/../../leap.py", "./leap.py", "", NULL };
    for (int i = 0; escapes[i]; i++) {
        snprintf (set, sizeof set, "%s/esc%d", s_tmp, i);
        support_sh ("cp -r '%s' '%s'", CAISSON_SOURCE_DIR "/evals/imported-example", set);
        support_sh ("cd '%s/exercises/leap/.meta' && python3 -c \"import json; c=json.load(open("
                    "'config.json')); c['files']['test']=['%s']; json.dump(c, open('config.json',"
                    "'w'))\"", set, escapes[i]);
        refused (set, "leap");
    }
    snprintf (set, sizeof set, "%s/esc-link", s_tmp);
    support_sh ("cp -r '%s' '%s' && cd '%s/exercises/leap' && rm leap_test.py && "
                "ln -s /etc/passwd leap_test.py", CAISSON_SOURCE_DIR "/evals/imported-example",
                set, set);
    refused (set, "symlink");
    snprintf (set, sizeof set, "%s/map-link", s_tmp);
    support_sh ("cp -r '%s' '%s' && cd '%s' && mv caisson-set.json m.json && "
                "ln -s m.json caisson-set.json", CAISSON_SOURCE_DIR "/evals/imported-example",
                set, set);
    refused (set, "symlink");
    snprintf (set, sizeof set, "%s/ex-link", s_tmp);
    support_sh ("mkdir -p '%s/real' && cp -r '%s/exercises' '%s/real/' && cp '%s/caisson-set.json'"
                " '%s/' && ln -s real/exercises '%s/exercises'",
                set, CAISSON_SOURCE_DIR "/evals/imported-example", set,
                CAISSON_SOURCE_DIR "/evals/imported-example", set, set);
    refused (set, "symlink");
}

/* Manifests with keys of the wrong type, each refused naming the key. */
static void
test_loader_manifest_types (void **state)
{
    (void) state;
    static const char *const bad[][2] = {
        { "\"id\": 5", "\"id\"" }, { "\"id\": \"T1\"", "\"id\"" },
        { "\"id\": \"t1\", \"id\": \"t1\"", "manifest.json" },
        { "\"language\": [\"python\"]", "language" }, { "\"language\": \"Py thon\"", "language" },
        { "\"timeLimitS\": \"60\"", "timeLimitS" }, { "\"timeLimitS\": 1.5", "timeLimitS" },
        { "\"timeLimitS\": 86401", "timeLimitS" }, { "\"timeLimitS\": -1", "timeLimitS" },
        { "\"timeLimitS\": 1e300", "timeLimitS" },
        { "\"tags\": \"a\"", "tags" }, { "\"tags\": [1]", "tags" }, { "\"tags\": [\"\"]", "tags" },
        { "\"success\": 1", "success" }, { "\"success\": \"pr\"", "success" },
        { "\"approvals\": true", "approvals" }, { "\"repo\": \"yes\"", "repo" },
        { "\"testCommand\": \"\"", "testCommand" }, { "\"testCommand\": [\"x\"]", "testCommand" },
        { "\"nope\": 1", "unknown key" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *set = fresh ();
        char m[600], p[700];
        /* the bad key last, overriding a good one where it names one */
        snprintf (m, sizeof m, "{%s%s%s%s%s}",
                  strstr (bad[i][0], "\"id\"") ? "" : "\"id\": \"t1\", ",
                  strstr (bad[i][0], "\"language\"") ? "" : "\"language\": \"python\", ",
                  strstr (bad[i][0], "\"timeLimitS\"") ? "" : "\"timeLimitS\": 60, ",
                  strstr (bad[i][0], "\"testCommand\"") ? "" : "\"testCommand\": \"t\", ",
                  bad[i][0]);
        snprintf (p, sizeof p, "%s/t1/manifest.json", set);
        write_file (p, m);
        refused (set, bad[i][1]);
    }
}

/* include patterns built to make fnmatch backtrack: the loader must still
 * answer (timed, printed). */
static void
test_loader_include_patterns (void **state)
{
    (void) state;
    char set[600], p[700];
    snprintf (set, sizeof set, "%s/pat", s_tmp);
    support_sh ("cp -r '%s' '%s'", CAISSON_SOURCE_DIR "/evals/imported-example", set);
    char name[201];
    memset (name, 'a', 200);
    name[200] = '\0';
    support_sh ("cp -r '%s/exercises/leap' '%s/exercises/%s'", set, set, name);
    snprintf (p, sizeof p, "%s/caisson-set.json", set);
    write_file (p, "{\"layout\": \"exercism\", \"exercises\": \"exercises\", \"language\": "
                "\"python\", \"timeLimitS\": 60, \"testCommand\": \"pytest\", \"include\": "
                "[\"*a*a*a*a*a*a*a*a*a*a*a*a*b\", \"leap\"]}");
    double t0 = now_s ();
    evalset_t *s = loads (set);
    print_message ("include with 13 stars over a 200-byte name: %.3f s\n", now_s () - t0);
    assert_int_equal (evalset_size (s), 1);
    evalset_destroy (&s);
}

/* Fixed (was DEFECT, low): the oracle asked its sets in the order given
 * and took the first set's match, though within a set the longest task
 * text wins (one task's text may be a part of another's): given a set
 * whose task reads "Write add(a, b)." and then one whose task reads
 * "Write add(a, b). Also handle None.", the second task's prompt was
 * answered with the first task's reference solution, so an oracle eval
 * of the second set failed a task the oracle should pass. */
static void
test_oracle_across_sets (void **state)
{
    (void) state;
    char a[600], b[600], why[512];
    snprintf (a, sizeof a, "%s", task_set ("add", "Write add(a, b).\n", "A = 1\n"));
    snprintf (b, sizeof b, "%s", task_set ("add-none", "Write add(a, b). Also handle None.\n",
                                           "B = 2\n"));
    oracle_t *o = oracle_new ();
    assert_int_equal (oracle_add_set (o, a, why, sizeof why), 0);
    assert_int_equal (oracle_add_set (o, b, why, sizeof why), 0);
    evalset_t *sb = loads (b);
    char *prompt = evalset_prompt (evalset_task (sb, 0), "sbx-1", NULL);
    json_t *conv = json_pack ("[{s:s, s:s}]", "role", "user", "content", prompt);
    cassette_reply_t r;
    assert_true (oracle_play (o, "replay/oracle", conv, &r));
    json_t *call = json_array_get (r.tool_calls, 0);
    assert_non_null (call);
    assert_string_equal (support_json_str (call, "name"), "writeFiles");
    json_t *f = json_array_get (json_object_get (json_object_get (call, "args"), "files"), 0);
    assert_string_equal (support_json_str (f, "data"), "B = 2\n");
    cassette_reply_clear (&r);
    json_decref (conv);
    free (prompt);
    evalset_destroy (&sb);
    oracle_destroy (&o);
}

/* Fixed (was DEFECT, low): `caisson-llm-replay --eval-plan FILE` read
 * the plan with json_load_file, which opens what it is given and reads
 * to its end: a FIFO (or /dev/zero, a never-ending file) given as the
 * plan hung the scripted model's start for good, where the set loader
 * beside it refuses a FIFO. Now the plan must be a regular file of at
 * most 1 MiB (PLAN_MAX, defined for that and unused). */
static void
test_oracle_plan_fifo (void **state)
{
    (void) state;
    char fifo[600], big[600], why[512];
    snprintf (fifo, sizeof fifo, "%s/plan-fifo", s_tmp);
    support_sh ("mkfifo '%s'", fifo);
    oracle_t *o = oracle_new ();
    assert_int_equal (oracle_add_set (o, fresh (), why, sizeof why), 0);
    assert_int_equal (oracle_load_plan (o, fifo, why, sizeof why), -1);
    if (!strstr (why, "regular file"))
        fail_msg ("the refusal \"%s\" does not name a regular file", why);
    assert_int_equal (oracle_load_plan (o, "/dev/zero", why, sizeof why), -1);
    snprintf (big, sizeof big, "%s/plan-big.json", s_tmp);
    support_sh ("(printf '{\"t1\": \"oracle\"'; head -c 2000000 /dev/zero | tr '\\0' ' ';"
                " printf '}') > '%s'", big);
    assert_int_equal (oracle_load_plan (o, big, why, sizeof why), -1);
    snprintf (big, sizeof big, "%s/plan-ok.json", s_tmp);
    write_file (big, "{\"t1\": \"giveup\"}");
    if (oracle_load_plan (o, big, why, sizeof why))
        fail_msg ("a good plan refused: %s", why);
    oracle_destroy (&o);
}

static int
stop_stack (void **state)
{
    (void) state;
    bus_client_destroy (&s_cl);
    if (s_el > 0)
        support_stop (s_el, SIGTERM, 5000);
    if (s_bus > 0)
        support_stop (s_bus, SIGTERM, 5000);
    s_el = s_bus = 0;
    return 0;
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown (test_eval_ids_and_owners, stop_stack),
        cmocka_unit_test_teardown (test_eval_record_bombs, stop_stack),
        cmocka_unit_test_teardown (test_eval_nul_in_index, stop_stack),
        cmocka_unit_test_teardown (test_eval_deep_summary, stop_stack),
        cmocka_unit_test_teardown (test_eval_huge_started, stop_stack),
        cmocka_unit_test_teardown (test_eval_amplification, stop_stack),
        cmocka_unit_test_teardown (test_eval_store_starved_by_bob, stop_stack),
        cmocka_unit_test_teardown (test_eval_kill9_mid_put, stop_stack),
        cmocka_unit_test_teardown (test_profile_bodies_and_names, stop_stack),
        cmocka_unit_test_teardown (test_profile_nul_text, stop_stack),
        cmocka_unit_test_teardown (test_profile_sequences, stop_stack),
        cmocka_unit_test_teardown (test_profile_diff_cost, stop_stack),
        cmocka_unit_test (test_loader_links_and_specials),
        cmocka_unit_test (test_loader_hard_link),
        cmocka_unit_test (test_loader_many_and_long),
        cmocka_unit_test (test_loader_mapping_escapes),
        cmocka_unit_test (test_loader_manifest_types),
        cmocka_unit_test (test_loader_include_patterns),
        cmocka_unit_test (test_oracle_across_sets),
        cmocka_unit_test (test_oracle_plan_fifo),
    };
    s_tmp = strdup (support_sandbox_env ("redteam-evals"));
    return support_run_group_tests (tests, NULL, NULL);
}
