/* gateway-keys through its public interface (issue 16), the life of
 * calls beyond a settle: reservations of a restarted or vanished gateway
 * charged as orphans and corrected by a late settle, kill -9 of
 * gateway-keys in the middle of settles, and the spend outbox kept while
 * event-log is absent or refuses, then handed on exactly once. */
#include "gkeys_util.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int s_records;           /* spend records gateway-keys must hand on */

/* ---- orphans, restart, outbox ---------------------------------------------- */

static void
test_orphan_release (void **state)
{
    (void) state;
    char id[VKEY_ID_SIZE], call[CID_SIZE];
    const char *k = mk_key ("lea", true, NULL, id);
    proto_msg_t *rep = reserve (k, call, 0, 70, false, "gw-a");
    assert_true (rep->body.gkey_grant.ok);
    proto_msg_destroy (&rep);
    /* gw-a restarts: its reservations are charged in full. */
    proto_msg_t *m = msg_as (PROTO_gkey_release_instance, NULL, false);
    proto_set_str (&m->body.gkey_release_instance.gateway, "gw-a");
    rep = ask (m);
    assert_int_equal (rep->type, PROTO_gkey_ack);
    assert_int_equal (rep->body.gkey_ack.count, 1);
    proto_msg_destroy (&rep);
    const char *l = label_of ("key", id);
    assert_int_equal (count_of ("lea", l, "spentNusd"), 70 * NUSD_PER_TOKEN);
    assert_int_equal (count_of ("lea", l, "reservedNusd"), 0);
    /* Its late settle corrects the charge. */
    assert_int_equal (settle (call, 0, 15), 15 * NUSD_PER_TOKEN);
    assert_int_equal (count_of ("lea", l, "spentNusd"), 15 * NUSD_PER_TOKEN);
    assert_int_equal (count_of ("lea", l, "spentTokens"), 15);
    s_records += 2;
}

static void
test_orphan_gone (void **state)
{
    (void) state;
    char id[VKEY_ID_SIZE];
    const char *k = mk_key ("max", true, NULL, id);
    proto_msg_t *rep = reserve (k, NULL, 0, 33, false, "gw-ghost");
    assert_true (rep->body.gkey_grant.ok);
    proto_msg_destroy (&rep);
    const char *l = label_of ("key", id);
    /* No gateway instance gw-ghost is registered: after ORPHAN_S=1 the
     * sweep charges it in full. */
    uint64_t spent = 0;
    for (int i = 0; i < 100 && !spent; i++) {
        usleep (100 * 1000);
        spent = count_of ("max", l, "spentNusd");
    }
    assert_int_equal (spent, 33 * NUSD_PER_TOKEN);
    assert_int_equal (count_of ("max", l, "reservedNusd"), 0);
    s_records++;
}

static void
test_restart (void **state)
{
    (void) state;
    enum { N = 200 };
    char id[VKEY_ID_SIZE], calls[N][CID_SIZE], ids[N][CID_SIZE];
    const char *k = mk_key ("ned", true, &(kopt_t) { .rpm = 100000 }, id);
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    bus_client_set_timeout (c, 5000, 0);
    for (int i = 0; i < N; i++) {
        cid_new (calls[i]);
        support_send (c, "gateway-keys", reserve_msg (k, calls[i], 0, 5, false, NULL));
    }
    for (int i = 0; i < N; i++) {
        proto_msg_t *rep = bus_client_recv (c, 10000, NULL);
        assert_non_null (rep);
        assert_true (rep->body.gkey_grant.ok);
        proto_msg_destroy (&rep);
    }
    for (int i = 0; i < N; i++) {
        proto_msg_t *m = settle_msg (calls[i], 0, 1);
        snprintf (ids[i], CID_SIZE, "%s", m->env.id);
        support_send (c, "gateway-keys", m);
    }
    int acked = 0;
    for (; acked < N / 2; acked++) {
        proto_msg_t *rep = bus_client_recv (c, 10000, NULL);
        assert_non_null (rep);
        assert_int_equal (rep->type, PROTO_gkey_settled);
        proto_msg_destroy (&rep);
    }
    kill (s_keys, SIGKILL);
    waitpid (s_keys, NULL, 0);
    bus_client_destroy (&c);
    s_keys = start_keys ();
    const char *l = label_of ("key", id);
    uint64_t spent = count_of ("ned", l, "spentNusd");
    assert_true (spent >= (uint64_t) acked * NUSD_PER_TOKEN);
    assert_true (spent <= N * NUSD_PER_TOKEN);
    assert_int_equal (count_of ("ned", l, "calls"), N);
    /* The gateways resend what went unanswered (all of it, here). */
    for (int i = 0; i < N; i++)
        assert_int_equal (settle (calls[i], 0, 1), NUSD_PER_TOKEN);
    assert_int_equal (count_of ("ned", l, "spentNusd"), N * NUSD_PER_TOKEN);
    assert_int_equal (count_of ("ned", l, "reservedNusd"), 0);
    s_records += N;
}

static int
lines_in (const char *path, bool *dup)
{
    FILE *f = fopen (path, "r");
    if (!f)
        return 0;
    char line[128], seen[1024][128];
    int n = 0;
    *dup = false;
    while (fgets (line, sizeof line, f)) {
        for (int i = 0; i < n && i < 1024; i++)
            *dup |= !strcmp (seen[i], line);
        if (n < 1024)
            snprintf (seen[n], sizeof seen[n], "%s", line);
        n++;
    }
    fclose (f);
    return n;
}

static void
test_outbox (void **state)
{
    (void) state;
    /* The real event-log of today answers spend.append with an error:
     * the records stay in the outbox. */
    pid_t el = support_spawn ("caisson-event-log", NULL);
    sleep (2);
    support_expect_clean_exit (el);
    char path[PATH_MAX];
    snprintf (path, sizeof path, "%s/spend.txt", s_dir);
    const char *const argv[] = { s_self, "fake-eventlog", NULL };
    pid_t fake = support_spawn_self (argv);
    bool dup = false;
    int n = 0;
    for (int i = 0; i < 300 && n < s_records; i++) {
        usleep (100 * 1000);
        n = lines_in (path, &dup);
    }
    sleep (1);                  /* and nothing more comes */
    n = lines_in (path, &dup);
    support_stop (fake, SIGTERM, 2000);
    assert_int_equal (n, s_records);
    assert_false (dup);
}

int
main (int argc, char **argv)
{
    int child = gku_child (argc, argv);
    if (child >= 0)
        return child;
    s_name = "gkeys-life";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_orphan_release),
        cmocka_unit_test (test_orphan_gone),
        cmocka_unit_test (test_restart),
        cmocka_unit_test (test_outbox),
    };
    return support_run_group_tests (tests, gku_setup, gku_teardown);
}
