/* test_redteam_bus: a local process on the bus, as an attacker would be
 * one (issue 11, item 7). It reaches the broker's endpoints (they are
 * files and loopback ports any local user can open) and tries, with no
 * key, with a key of its own making, and with the operators' client key:
 *
 *   - to call the broker and a service (health, tools.list);
 *   - to read every tenant's events, and to publish forged ones;
 *   - to register as sandbox-manager under a live instance id, so as to
 *     receive the requests (other users' file writes) meant for it.
 *
 * And a service whose key is missing must not join the bus without it.
 *
 * Each attack must get nothing, while the stack's own keys keep working
 * (checked in the same test, so no attack "fails" merely because the
 * stack is down). The attackers use raw ZeroMQ sockets and real MDP
 * frames (libcommon/mdp.h), as a hand-written client would.
 *
 * Run as `test_redteam_bus worker`, this program is the live
 * sandbox-manager stand-in: a bus_worker for sandbox-manager, instance
 * `live`; its health answers carry its pid, which tells it from an
 * impostor. */
#include "support.h"
#include "bus_client.h"
#include "bus_pub.h"
#include "bus_tap.h"
#include "bus_worker.h"
#include "busio.h"
#include "buskey.h"
#include "mdp.h"

#include <czmq.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* How long an attacker waits for something that must never come. */
#define NOTHING_MS 1500

static char s_self[1024];

/* ---- the live sandbox-manager stand-in ---------------------------------- */

static proto_msg_t *
real_handler (const proto_msg_t *req, void *arg)
{
    (void) arg;
    return proto_error_new (req, PROTO_ERR_unknown_type, "stand-in");
}

static int
worker_main (void)
{
    return support_serve ("sandbox-manager", "live", real_handler, NULL);
}

/* ---- attackers ---------------------------------------------------------- */

typedef enum { NO_KEY, UNKNOWN_KEY, CLIENT_KEY } key_t_;

/* A raw socket of type connected to endpoint, holding no CURVE key, a key
 * pair made here (not in the key directory; the broker's public key is
 * assumed known), or the operators' client key. */
static zsock_t *
attacker (int type, const char *endpoint, key_t_ key)
{
    zsock_t *s = NULL;
    if (key == CLIENT_KEY)
        s = busio_socket_as (type, endpoint, false, BUSKEY_CLIENT);
    else {
        s = zsock_new (type);
        assert_non_null (s);
        if (key == UNKNOWN_KEY) {
            char err[PATH_MAX + 160];
            zcert_t *bus = buskey_load (BUSKEY_BUS, err, sizeof err);
            assert_non_null (bus);
            zcert_t *mine = zcert_new ();
            zcert_apply (mine, s);
            zsock_set_curve_serverkey (s, zcert_public_txt (bus));
            zcert_destroy (&mine);
            zcert_destroy (&bus);
        }
        zsock_set_linger (s, 0);
        assert_int_equal (zsock_connect (s, "%s", endpoint), 0);
    }
    assert_non_null (s);
    /* A refused handshake leaves no peer, where a send would block: the
     * attacker's sends fail instead, which is getting nothing too. */
    zsock_set_sndtimeo (s, 0);
    return s;
}

static const char *
key_name (key_t_ key)
{
    return key == NO_KEY ? "no key" : key == UNKNOWN_KEY ? "an unknown key" : "the client key";
}

/* True when anything arrives on s within ms. */
static bool
hears_anything (zsock_t *s, int ms)
{
    zmq_pollitem_t item = { zsock_resolve (s), 0, ZMQ_POLLIN, 0 };
    return zmq_poll (&item, 1, ms) > 0;
}

/* Sends an MDP client request of type to service on a raw DEALER. */
static void
raw_request (zsock_t *s, const char *service, proto_msg_t *req)
{
    uint8_t *data;
    size_t size;
    assert_int_equal (proto_encode (req, &data, &size), 0);
    const void *parts[] = { "", MDP_CLIENT, service, data };
    size_t sizes[] = { 0, strlen (MDP_CLIENT), strlen (service), size };
    busio_send (zsock_resolve (s), 4, parts, sizes);
    free (data);
}

/* ---- stack -------------------------------------------------------------- */

static bus_client_t *
legit_client (void)
{
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    assert_non_null (c);
    bus_client_set_timeout (c, 300, 20);
    return c;
}

/* Asks service for health with the legitimate client; true on an answer. */
static bool
answers_health (bus_client_t *c, const char *service)
{
    proto_msg_t *req = proto_msg_new (PROTO_health_req, NULL);
    proto_msg_t *rep = bus_client_request (c, service, req);
    bool ok = rep && rep->type == PROTO_health_rep;
    proto_msg_destroy (&req);
    proto_msg_destroy (&rep);
    return ok;
}

static void
setup (void)
{
    assert_non_null (support_sandbox_env ("redbus"));
    setenv ("CAISSON_HEARTBEAT_MS", "100", 1);
}

/* ---- tests -------------------------------------------------------------- */

/* No key, or a key the stack did not make: neither the broker nor a service
 * answers a request (health, or tool-runner's tools.list). */
static void
test_requests_without_a_stack_key_get_nothing (void **state)
{
    (void) state;
    setup ();
    pid_t bus = support_spawn ("caisson-bus", NULL);
    pid_t tr = support_spawn ("caisson-tool-runner", NULL);
    bus_client_t *c = legit_client ();
    assert_true (answers_health (c, "bus"));
    assert_true (answers_health (c, "tool-runner"));

    key_t_ keys[] = { NO_KEY, UNKNOWN_KEY };
    for (size_t k = 0; k < 2; k++) {
        zsock_t *a = attacker (ZMQ_DEALER, getenv ("CAISSON_BUS"), keys[k]);
        proto_msg_t *health = proto_msg_new (PROTO_health_req, NULL);
        proto_msg_t *list = proto_msg_new (PROTO_tools_list, NULL);
        raw_request (a, "bus", health);
        raw_request (a, "tool-runner", health);
        raw_request (a, "tool-runner", list);
        if (hears_anything (a, NOTHING_MS))
            fail_msg ("a client with %s got an answer from the bus", key_name (keys[k]));
        proto_msg_destroy (&health);
        proto_msg_destroy (&list);
        zsock_destroy (&a);
    }
    /* The stack itself still works after the attempts. */
    assert_true (answers_health (c, "tool-runner"));
    bus_client_destroy (&c);
    support_expect_clean_exit (tr);
    support_expect_clean_exit (bus);
}

/* A subscriber with no key or an unknown key hears none of the events a
 * legitimate publisher sends, while a legitimate tap hears them all. */
static void
test_events_without_a_stack_key_are_not_heard (void **state)
{
    (void) state;
    setup ();
    pid_t bus = support_spawn ("caisson-bus", NULL);
    zsock_t *spies[2] = { attacker (ZMQ_SUB, getenv ("CAISSON_BUS_SUB"), NO_KEY),
                          attacker (ZMQ_SUB, getenv ("CAISSON_BUS_SUB"), UNKNOWN_KEY) };
    for (int i = 0; i < 2; i++)
        zsock_set_subscribe (spies[i], "");
    bus_tap_t *tap = bus_tap_new (getenv ("CAISSON_BUS_SUB"), "run.");
    bus_pub_t *pub = bus_pub_new (getenv ("CAISSON_BUS_PUB"));
    assert_non_null (tap);
    assert_non_null (pub);
    proto_msg_t *m = proto_msg_new (PROTO_ping, NULL);
    proto_set_bytes (&m->body.ping.data, "tenant secret", 13);

    int heard = 0, spied[2] = { 0, 0 };
    int64_t until = zclock_mono () + NOTHING_MS;
    while (zclock_mono () < until) {
        bus_pub_send (pub, "run.01TENANT.step", m);
        char topic[64];
        proto_msg_t *got = bus_tap_recv (tap, topic, sizeof topic, 20, NULL);
        heard += got != NULL;
        proto_msg_destroy (&got);
        for (int i = 0; i < 2; i++)
            while (hears_anything (spies[i], 0)) {
                spied[i]++;
                zmsg_t *msg = zmsg_recv (spies[i]);
                zmsg_destroy (&msg);
            }
    }
    assert_true (heard > 0);
    if (spied[0] || spied[1])
        fail_msg ("subscribers without a stack key heard %d (no key) and %d (unknown key) "
                  "events", spied[0], spied[1]);
    proto_msg_destroy (&m);
    bus_pub_destroy (&pub);
    bus_tap_destroy (&tap);
    for (int i = 0; i < 2; i++)
        zsock_destroy (&spies[i]);
    support_expect_clean_exit (bus);
}

/* A publisher with no key cannot inject events (a forged approval or
 * cancel) that the stack's subscribers would believe. */
static void
test_forged_events_without_a_key_are_not_delivered (void **state)
{
    (void) state;
    setup ();
    pid_t bus = support_spawn ("caisson-bus", NULL);
    bus_tap_t *tap = bus_tap_new (getenv ("CAISSON_BUS_SUB"), "tools.cancel.");
    assert_non_null (tap);
    zsock_t *forger = attacker (ZMQ_PUB, getenv ("CAISSON_BUS_PUB"), NO_KEY);
    proto_msg_t *m = proto_msg_new (PROTO_tools_cancel, NULL);
    proto_set_str (&m->body.tools_cancel.call_id, "victim-call");
    uint8_t *data;
    size_t size;
    assert_int_equal (proto_encode (m, &data, &size), 0);
    int forged = 0;
    int64_t until = zclock_mono () + NOTHING_MS;
    while (zclock_mono () < until) {
        const void *parts[] = { "tools.cancel.victim-call", data };
        size_t sizes[] = { strlen ("tools.cancel.victim-call"), size };
        busio_send (zsock_resolve (forger), 2, parts, sizes);
        char topic[64];
        proto_msg_t *got = bus_tap_recv (tap, topic, sizeof topic, 20, NULL);
        forged += got != NULL;
        proto_msg_destroy (&got);
    }
    free (data);
    if (forged)
        fail_msg ("a publisher with no key delivered %d forged cancels", forged);
    /* The tap is alive: a legitimate publisher's cancel arrives. */
    bus_pub_t *pub = bus_pub_new (getenv ("CAISSON_BUS_PUB"));
    proto_msg_t *got = NULL;
    char topic[64];
    for (int i = 0; i < 100 && !got; i++) {
        bus_pub_send (pub, "tools.cancel.own-call", m);
        got = bus_tap_recv (tap, topic, sizeof topic, 20, NULL);
    }
    assert_non_null (got);
    proto_msg_destroy (&got);
    proto_msg_destroy (&m);
    bus_pub_destroy (&pub);
    zsock_destroy (&forger);
    bus_tap_destroy (&tap);
    support_expect_clean_exit (bus);
}

/* A worker holding the client key, or no key, sends READY as
 * sandbox-manager under the live instance id: it receives no request, and
 * requests a legitimate client sends, to the service and to the instance,
 * still reach the real sandbox-manager (its pid answers). */
static void
test_impostor_sandbox_manager_gets_no_requests (void **state)
{
    (void) state;
    setup ();
    pid_t bus = support_spawn ("caisson-bus", NULL);
    pid_t real = support_spawn_self ((const char *[]) { s_self, "worker", NULL });
    bus_client_t *c = legit_client ();
    assert_true (answers_health (c, "sandbox-manager.live"));
    bus_client_set_timeout (c, 200, 2);

    key_t_ keys[] = { CLIENT_KEY, NO_KEY };
    for (size_t k = 0; k < 2; k++) {
        zsock_t *imp = attacker (ZMQ_DEALER, getenv ("CAISSON_BUS"), keys[k]);
        const void *ready[] = { "", MDP_WORKER, MDP_READY, "sandbox-manager", "live", "64" };
        size_t sizes[] = { 0, strlen (MDP_WORKER), 1, 15, 4, 2 };
        /* Announce, and keep announcing as a live worker would. */
        int64_t until = zclock_mono () + NOTHING_MS;
        int stolen = 0, served = 0;
        while (zclock_mono () < until) {
            busio_send (zsock_resolve (imp), 6, ready, sizes);
            zclock_sleep (50);
            const char *targets[] = { "sandbox-manager.live", "sandbox-manager" };
            for (int t = 0; t < 2; t++) {
                proto_msg_t *req = proto_msg_new (PROTO_health_req, NULL);
                proto_msg_t *rep = bus_client_request (c, targets[t], req);
                if (rep && rep->type == PROTO_health_rep
                    && rep->body.health_rep.pid == (uint64_t) real)
                    served++;
                proto_msg_destroy (&rep);
                proto_msg_destroy (&req);
            }
            while (hears_anything (imp, 0)) {
                /* [""][MDPW01][command]...: count REQUEST commands. */
                zmsg_t *msg = zmsg_recv (imp);
                zframe_t *cmd = NULL;
                if (zmsg_size (msg) > 2) {
                    zmsg_first (msg);
                    zmsg_next (msg);
                    cmd = zmsg_next (msg);
                }
                stolen += cmd && zframe_size (cmd) == 1 && zframe_data (cmd)[0] == MDP_REQUEST[0];
                zmsg_destroy (&msg);
            }
        }
        if (stolen)
            fail_msg ("an impostor with %s received %d requests meant for sandbox-manager.live",
                      key_name (keys[k]), stolen);
        assert_true (served > 0);
        zsock_destroy (&imp);
    }
    bus_client_destroy (&c);
    support_expect_clean_exit (real);
    support_expect_clean_exit (bus);
}

/* A service whose key is missing refuses to start, naming the file,
 * rather than join the bus without one. */
static void
test_service_without_its_key_refuses_to_start (void **state)
{
    (void) state;
    const char *dir = support_sandbox_env ("redbus");
    assert_non_null (dir);
    char empty[1024], env[1100], log[1100], want[1100];
    snprintf (empty, sizeof empty, "%s/no-keys", dir);
    assert_int_equal (mkdir (empty, 0700), 0);
    snprintf (env, sizeof env, "CAISSON_BUS_KEYS=%s", empty);
    pid_t tr = support_spawn ("caisson-tool-runner", (const char *[]) { env, NULL });
    int status = 0;
    for (int i = 0; i < 500 && waitpid (tr, &status, WNOHANG) == 0; i++)
        zclock_sleep (10);
    if (support_alive (tr))
        fail_msg ("tool-runner started without its bus key");
    assert_true (WIFEXITED (status));
    assert_int_equal (WEXITSTATUS (status), 2);
    snprintf (log, sizeof log, "%s/caisson-tool-runner.log", dir);
    snprintf (want, sizeof want, "%s/tool-runner.key_secret", empty);
    FILE *f = fopen (log, "r");
    assert_non_null (f);
    char line[4096];
    bool named = false;
    while (fgets (line, sizeof line, f))
        named |= strstr (line, want) != NULL;
    fclose (f);
    if (!named)
        fail_msg ("tool-runner's refusal does not name %s", want);
}

/* A container of one service holds only that service's secret, the bus's
 * public key and that service's public key (compose.yaml): the service
 * joins the bus from such a directory, and a command run beside it (its
 * health check) uses that service's key, with no client secret to take. */
static void
test_a_role_key_directory_is_enough (void **state)
{
    (void) state;
    setup ();
    char full[1024], role[1100], env[1200];
    buskey_dir (full, sizeof full);
    snprintf (role, sizeof role, "%s/../keys-tool-runner", full);
    assert_int_equal (mkdir (role, 0700), 0);
    support_sh ("cp '%s/bus.key' '%s/tool-runner.key' '%s/tool-runner.key_secret' '%s/'",
                full, full, full, role);
    pid_t bus = support_spawn ("caisson-bus", NULL);
    snprintf (env, sizeof env, "CAISSON_BUS_KEYS=%s", role);
    pid_t tr = support_spawn ("caisson-tool-runner", (const char *[]) { env, NULL });
    bus_client_t *c = legit_client ();
    assert_true (answers_health (c, "tool-runner"));
    bus_client_destroy (&c);

    setenv ("CAISSON_BUS_KEYS", role, 1);
    const char *health[] = { "caisson", "health", "tool-runner", NULL };
    if (support_run (health, NULL, 0) == 0)
        fail_msg ("caisson health with CAISSON_BUS_ROLE=client (the default) answered from a "
                  "directory without the client secret");
    setenv ("CAISSON_BUS_ROLE", "tool-runner", 1);
    int as_role = support_run (health, NULL, 0);
    setenv ("CAISSON_BUS_ROLE", "../keys/client", 1);
    int escaped = support_run (health, NULL, 0);
    unsetenv ("CAISSON_BUS_ROLE");
    setenv ("CAISSON_BUS_KEYS", full, 1);
    assert_int_equal (as_role, 0);
    if (escaped == 0)
        fail_msg ("CAISSON_BUS_ROLE=../keys/client reached a key outside the key directory");
    support_expect_clean_exit (tr);
    support_expect_clean_exit (bus);
}

int
main (int argc, char **argv)
{
    if (argc == 2 && !strcmp (argv[1], "worker"))
        return worker_main ();
    support_self_exe (s_self, sizeof s_self);
    zsys_init ();
    zsys_set_logstream (NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_requests_without_a_stack_key_get_nothing),
        cmocka_unit_test (test_events_without_a_stack_key_are_not_heard),
        cmocka_unit_test (test_forged_events_without_a_key_are_not_delivered),
        cmocka_unit_test (test_impostor_sandbox_manager_gets_no_requests),
        cmocka_unit_test (test_service_without_its_key_refuses_to_start),
        cmocka_unit_test (test_a_role_key_directory_is_enough),
    };
    return support_run_group_tests (tests, NULL, NULL);
}
