/* test_key_cli: `caisson key` against the real caisson-gateway-keys, and
 * the spend of a settled call reaching the real event-log through
 * gateway-keys' outbox (spend.read, `caisson stats`): create prints the
 * secret once (list never shows it), list/usage/budget/revoke do what they
 * say, and bad arguments exit 2; `key usage --since T --by model|key|day`
 * sums the spend records event-log holds. */
#include "gkeys_util.h"
#include "mpjson.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define OUT 65536

static char s_out[OUT];

/* Runs `caisson key ...` (NULL-terminated); its exit status, stdout in s_out. */
static int
key_cli (const char *const args[])
{
    const char *argv[24] = { "caisson", "key" };
    size_t n = 2;
    for (size_t i = 0; args[i] && n < 23; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    s_out[0] = '\0';
    return support_run (argv, s_out, sizeof s_out);
}

/* The JSON objects of s_out, one a line, as an array. */
static json_t *
lines (void)
{
    json_t *all = json_array ();
    char *save = NULL;
    for (char *l = strtok_r (s_out, "\n", &save); l; l = strtok_r (NULL, "\n", &save)) {
        json_t *v = json_loads (l, 0, NULL);
        assert_non_null (v);
        json_array_append_new (all, v);
    }
    return all;
}

static void
test_key_commands (void **state)
{
    (void) state;
    assert_int_equal (key_cli ((const char *const[]) { "create", "--user", "alice", "--name",
                                                       "app", "--models", "replay/*", "--rpm",
                                                       "5", "--budget-usd", "0.5", "--window",
                                                       "day", "--expires", "30d", "--json",
                                                       NULL }), 0);
    json_t *made = json_loads (s_out, 0, NULL);
    assert_non_null (made);
    const char *secret = json_string_value (json_object_get (made, "key"));
    assert_non_null (secret);
    assert_true (vkey_looks (secret));
    assert_int_equal (strncmp (secret, "vk_alice_", 9), 0);
    json_t *info = json_object_get (made, "info");
    char id[VKEY_ID_SIZE], sec[128];
    snprintf (id, sizeof id, "%s", json_string_value (json_object_get (info, "id")));
    snprintf (sec, sizeof sec, "%s", secret);
    assert_int_equal (json_integer_value (json_object_get (info, "rpm")), 5);
    assert_int_equal (json_integer_value (json_object_get (json_object_get (info, "budget"),
                                                           "nusd")), 500000000);
    assert_string_equal (json_string_value (json_object_get (info, "window")), "day");
    assert_true (json_integer_value (json_object_get (info, "expiresAt")) > 0);
    json_decref (made);

    /* the plain form prints the secret alone on stdout */
    assert_int_equal (key_cli ((const char *const[]) { "create", "--user", "bob", NULL }), 0);
    assert_int_equal (strncmp (s_out, "vk_bob_", 7), 0);

    /* listed, never with the secret */
    assert_int_equal (key_cli ((const char *const[]) { "list", "--user", "alice", "--json",
                                                       NULL }), 0);
    assert_null (strstr (s_out, sec));
    assert_null (strstr (s_out, "vk_"));
    json_t *keys = lines ();
    assert_int_equal (json_array_size (keys), 1);
    assert_string_equal (json_string_value (json_object_get (json_array_get (keys, 0), "id")),
                         id);
    json_decref (keys);
    assert_int_equal (key_cli ((const char *const[]) { "list", "--all", NULL }), 0);
    assert_non_null (strstr (s_out, id));
    assert_non_null (strstr (s_out, "bob"));

    /* the user's budget, then their usage shows it as the user scope's limit */
    assert_int_equal (key_cli ((const char *const[]) { "budget", "--user", "alice", "--usd", "2",
                                                       "--tokens", "1000", "--window", "week",
                                                       NULL }), 0);
    assert_int_equal (key_cli ((const char *const[]) { "usage", "--user", "alice", "--json",
                                                       NULL }), 0);
    json_t *u = json_loads (s_out, 0, NULL), *sc;
    size_t i;
    bool user_scope = false, key_scope = false;
    json_array_foreach (json_object_get (u, "scopes"), i, sc) {
        const char *name = json_string_value (json_object_get (sc, "scope"));
        if (!strcmp (name, "user.alice")) {
            user_scope = true;
            assert_int_equal (json_integer_value (json_object_get (sc, "limitNusd")),
                              2000000000);
            assert_int_equal (json_integer_value (json_object_get (sc, "limitTokens")), 1000);
        }
        key_scope |= strstr (name, id) != NULL;
    }
    assert_true (user_scope && key_scope);
    json_decref (u);
    assert_int_equal (key_cli ((const char *const[]) { "usage", id, NULL }), 0);
    assert_non_null (strstr (s_out, "SCOPE"));

    /* revoked: gone from the live list, listed with --revoked */
    assert_int_equal (key_cli ((const char *const[]) { "revoke", id, NULL }), 0);
    assert_non_null (strstr (s_out, "revoked 1 key"));
    assert_int_equal (key_cli ((const char *const[]) { "list", "--user", "alice", NULL }), 0);
    assert_null (strstr (s_out, id));
    assert_int_equal (key_cli ((const char *const[]) { "list", "--user", "alice", "--revoked",
                                                       NULL }), 0);
    assert_non_null (strstr (s_out, id));
    assert_int_equal (key_cli ((const char *const[]) { "revoke", id, NULL }), 1);

    /* bad arguments */
    assert_int_equal (key_cli ((const char *const[]) { "create", "--rpm", "many", NULL }), 2);
    assert_int_equal (key_cli ((const char *const[]) { "frobnicate", NULL }), 2);
    assert_int_equal (key_cli ((const char *const[]) { "revoke", NULL }), 2);
    assert_int_equal (key_cli ((const char *const[]) { "budget", "--usd", "1", NULL }), 2);
}

/* spend.read of every record, as an operator. */
static json_t *
spend_records (bus_client_t *c)
{
    proto_msg_t *m = msg_as (PROTO_spend_read, "ops", true);
    proto_msg_t *rep = bus_client_request (c, "event-log", m);
    proto_msg_destroy (&m);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_spend_page);
    json_t *recs = mpjson_get (&rep->body.spend_page.records, 8);
    proto_msg_destroy (&rep);
    return recs ? recs : json_array ();
}

static void
test_spend_reaches_eventlog (void **state)
{
    (void) state;
    pid_t el = support_spawn ("caisson-event-log", NULL);
    support_await_service (s_c, "event-log");
    char id[VKEY_ID_SIZE], call[32];
    const char *key = mk_key ("carol", false, NULL, id);
    proto_msg_destroy ((proto_msg_t *[]) { reserve (key, call, 10, 100, false, NULL) });
    uint64_t nusd = settle (call, 10, 42);
    assert_int_equal (nusd, 42 * NUSD_PER_TOKEN);
    json_t *recs = NULL;
    for (int i = 0; i < 100; i++) {
        json_decref (recs);
        recs = spend_records (s_c);
        if (json_array_size (recs))
            break;
        zclock_sleep (50);
    }
    assert_int_equal (json_array_size (recs), 1);
    json_t *r = json_array_get (recs, 0);
    assert_string_equal (json_string_value (json_object_get (r, "call")), call);
    assert_string_equal (json_string_value (json_object_get (r, "user")), "carol");
    assert_string_equal (json_string_value (json_object_get (r, "key")), id);
    assert_int_equal (json_integer_value (json_object_get (r, "nusd")), (json_int_t) nusd);
    json_decref (recs);
    const char *argv[] = { "caisson", "stats", NULL };
    assert_int_equal (support_run (argv, s_out, sizeof s_out), 0);
    assert_non_null (strstr (s_out, "Spend"));
    assert_non_null (strstr (s_out, "carol"));
    assert_non_null (strstr (s_out, "0.000042"));
    support_expect_clean_exit (el);
}

/* The row named name in `key usage --json --by ...`'s output in s_out
 * (borrowed from all, which the caller frees), or NULL. */
static json_t *
row_named (json_t *all, const char *name)
{
    json_t *row;
    size_t i;
    json_array_foreach (json_object_get (all, "rows"), i, row)
        if (!strcmp (json_string_value (json_object_get (row, "name")), name))
            return row;
    return NULL;
}

static void
expect_row (json_t *row, json_int_t calls, json_int_t out, json_int_t nusd)
{
    assert_non_null (row);
    assert_int_equal (json_integer_value (json_object_get (row, "calls")), calls);
    assert_int_equal (json_integer_value (json_object_get (row, "out")), out);
    assert_int_equal (json_integer_value (json_object_get (row, "nusd")), nusd);
    assert_int_equal (json_integer_value (json_object_get (row, "errors")), 0);
}

/* `key usage --since --by` over two keys of dave's, three settled calls
 * that reached the real event-log (carol's call of the test before is
 * someone else's: not summed). */
static void
test_usage_since_by (void **state)
{
    (void) state;
    pid_t el = support_spawn ("caisson-event-log", NULL);
    support_await_service (s_c, "event-log");
    char k1[VKEY_ID_SIZE], k2[VKEY_ID_SIZE], call[32], day[16];
    const char *s1 = mk_key ("dave", false, NULL, k1);
    uint64_t o[] = { 15, 17, 21 };
    for (int i = 0; i < 3; i++) {
        const char *key = i < 2 ? s1 : mk_key ("dave", false, NULL, k2);
        proto_msg_destroy ((proto_msg_t *[]) { reserve (key, call, 10, 100, false, NULL) });
        settle (call, 10, o[i]);
    }
    time_t now = time (NULL);
    struct tm tm;
    strftime (day, sizeof day, "%Y-%m-%d", gmtime_r (&now, &tm));
    json_t *all = NULL;
    for (int i = 0; i < 100; i++) {
        json_decref (all);
        assert_int_equal (key_cli ((const char *const[]) { "usage", "--user", "dave", "--since",
                                                           "7d", "--by", "key", "--json",
                                                           NULL }), 0);
        all = json_loads (s_out, 0, NULL);
        assert_non_null (all);
        json_t *r1 = row_named (all, k1), *r2 = row_named (all, k2);
        if (r1 && r2 && json_integer_value (json_object_get (r1, "calls")) == 2)
            break;
        zclock_sleep (50);
    }
    assert_int_equal (json_array_size (json_object_get (all, "rows")), 2);
    expect_row (row_named (all, k1), 2, 32, 32 * NUSD_PER_TOKEN);
    expect_row (row_named (all, k2), 1, 21, 21 * NUSD_PER_TOKEN);
    json_decref (all);

    assert_int_equal (key_cli ((const char *const[]) { "usage", "--user", "dave", "--since",
                                                       day, "--by", "model", "--json", NULL }),
                      0);
    all = json_loads (s_out, 0, NULL);
    assert_int_equal (json_array_size (json_object_get (all, "rows")), 1);
    expect_row (row_named (all, "replay/demo"), 3, 53, 53 * NUSD_PER_TOKEN);
    json_decref (all);
    /* one key's, by day */
    assert_int_equal (key_cli ((const char *const[]) { "usage", k2, "--by", "day", "--json",
                                                       NULL }), 0);
    all = json_loads (s_out, 0, NULL);
    assert_int_equal (json_array_size (json_object_get (all, "rows")), 1);
    expect_row (row_named (all, day), 1, 21, 21 * NUSD_PER_TOKEN);
    json_decref (all);
    /* a date to come: nothing; the table names its column */
    assert_int_equal (key_cli ((const char *const[]) { "usage", "--user", "dave", "--since",
                                                       "2999-01-01", "--json", NULL }), 0);
    all = json_loads (s_out, 0, NULL);
    assert_int_equal (json_array_size (json_object_get (all, "rows")), 0);
    json_decref (all);
    assert_int_equal (key_cli ((const char *const[]) { "usage", "--user", "dave", "--since",
                                                       "1d", "--by", "model", NULL }), 0);
    assert_non_null (strstr (s_out, "MODEL"));
    assert_non_null (strstr (s_out, "replay/demo"));
    assert_non_null (strstr (s_out, "0.000053"));
    /* bad T and by */
    assert_int_equal (key_cli ((const char *const[]) { "usage", "--since", "lately", NULL }), 2);
    assert_int_equal (key_cli ((const char *const[]) { "usage", "--by", "hour", NULL }), 2);
    support_expect_clean_exit (el);
}

int
main (int argc, char **argv)
{
    int child = gku_child (argc, argv);
    if (child >= 0)
        return child;
    s_name = "key-cli";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_key_commands),
        cmocka_unit_test (test_spend_reaches_eventlog),
        cmocka_unit_test (test_usage_since_by),
    };
    return support_run_group_tests (tests, gku_setup, gku_teardown);
}
