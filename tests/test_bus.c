/* test_bus: the broker, workers, clients and the event proxy, as separate
 * processes talking over ipc endpoints in a private directory.
 *
 * Besides the real service binaries, this program is its own test worker:
 * run as `test_bus worker NAME MODE`, it serves service `echo` as instance
 * NAME, answering any request with a pong that holds its instance name.
 * In MODE `slow-first`, the first request any worker of the test sees
 * (whoever creates <dir>/first) is held for 30 s, so the test can kill the
 * worker holding it mid-request. In MODE `deferred`, the worker defers
 * each reply and gives it 400 ms later from a timer, as a service with a
 * long-running job does. In MODE `routed`, it serves a route table whose
 * handlers answer wrongly on purpose, to test the worker's checks; in
 * MODE `older-peer`, a hand-made worker answers every request with a
 * pong, to test the client's. */
#include "support.h"
#include "bus_client.h"
#include "bus_pub.h"
#include "bus_tap.h"
#include "bus_worker.h"
#include "busio.h"
#include "mdp.h"
#include "runroute.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *s_dir;
static char s_self[1024];

/* ---- the test worker ---------------------------------------------------- */

typedef struct {
    const char *instance;
    bool slow_first;
    bool deferred;
    bus_worker_t *worker;
    zloop_t *loop;
} echo_t;

typedef struct {
    echo_t *echo;
    bus_pending_t *pending;
} later_t;

static int
answer_later (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop, (void) timer_id;
    later_t *later = arg;
    const char *who = later->echo->instance;
    proto_msg_t *rep = proto_msg_new (PROTO_pong, bus_pending_request (later->pending));
    proto_set_bytes (&rep->body.pong.data, who, strlen (who));
    bus_worker_answer (later->echo->worker, &later->pending, rep);
    free (later);
    return 0;
}

static proto_msg_t *
echo_handler (const proto_msg_t *req, void *arg)
{
    echo_t *echo = arg;
    char path[1024];
    snprintf (path, sizeof path, "%s/first", s_dir);
    if (echo->slow_first) {
        int fd = open (path, O_WRONLY | O_CREAT | O_EXCL, 0600);
        if (fd >= 0) {
            dprintf (fd, "%d\n", (int) getpid ());
            close (fd);
            sleep (30);
        }
    }
    /* Record every request handled, to count executions per request id. */
    snprintf (path, sizeof path, "%s/handled", s_dir);
    FILE *f = fopen (path, "a");
    if (f) {
        fprintf (f, "%s %s\n", req->env.id, echo->instance);
        fclose (f);
    }
    if (echo->deferred) {
        later_t *later = calloc (1, sizeof *later);
        later->echo = echo;
        later->pending = bus_worker_defer (echo->worker);
        if (!later->pending) {
            free (later);
            return NULL;
        }
        zloop_timer (echo->loop, 400, 1, answer_later, later);
        return BUS_DEFERRED;
    }
    proto_msg_t *rep = proto_msg_new (PROTO_pong, req);
    proto_set_bytes (&rep->body.pong.data, echo->instance, strlen (echo->instance));
    return rep;
}

/* Mode `routed`: a route table, as a service declares one. tools.list is
 * answered with the wrong type at once, tools.call with the wrong type
 * later (deferred), runs.list rightly; every other type has no row. */
static proto_msg_t *
wrong_now (const proto_msg_t *req, void *arg)
{
    (void) arg;
    return proto_msg_new (PROTO_pong, req);
}

static int
wrong_later_fire (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop, (void) timer_id;
    later_t *later = arg;
    bus_worker_answer (later->echo->worker, &later->pending,
                       proto_msg_new (PROTO_pong, bus_pending_request (later->pending)));
    free (later);
    return 0;
}

static proto_msg_t *
wrong_later (const proto_msg_t *req, void *arg)
{
    (void) req;
    echo_t *echo = arg;
    later_t *later = calloc (1, sizeof *later);
    later->echo = echo;
    later->pending = bus_worker_defer (echo->worker);
    zloop_timer (echo->loop, 50, 1, wrong_later_fire, later);
    return BUS_DEFERRED;
}

static proto_msg_t *
right (const proto_msg_t *req, void *arg)
{
    (void) arg;
    proto_msg_t *rep = proto_msg_new (PROTO_runs_page, req);
    proto_set_bytes (&rep->body.runs_page.runs, "\x90", 1);   /* [] */
    return rep;
}

static const bus_route_t s_routes[] = {
    { PROTO_tools_list, wrong_now },
    { PROTO_tools_call, wrong_later },
    { PROTO_runs_list, right },
    BUS_ROUTES_END
};

/* Mode `older-peer`: a worker of another build, spoken by hand over MDP,
 * that answers every request with a pong, whatever proto/ declares: what
 * a client must not pass on as the reply it asked for. */
static int
older_peer_main (const char *instance)
{
    zsock_t *sock = busio_socket (ZMQ_DEALER, getenv ("CAISSON_BUS"), false);
    if (!sock)
        return 1;
    void *raw = zsock_resolve (sock);
    const void *ready[] = { "", MDP_WORKER, MDP_READY, "echo", instance, "64" };
    size_t sizes[] = { 0, strlen (MDP_WORKER), 1, 4, strlen (instance), 2 };
    const void *beat[] = { "", MDP_WORKER, MDP_HEARTBEAT };
    size_t beat_sizes[] = { 0, strlen (MDP_WORKER), 1 };
    busio_send (raw, 6, ready, sizes);
    zmq_pollitem_t item = { raw, 0, ZMQ_POLLIN, 0 };
    while (zmq_poll (&item, 1, 50) >= 0) {
        busio_send (raw, 3, beat, beat_sizes);
        busio_msg_t m;
        while (busio_recv (raw, &m, ZMQ_DONTWAIT) == 0) {
            proto_err_t err;
            proto_msg_t *req = m.n == 6 && busio_is (&m.f[2], MDP_REQUEST)
                ? proto_decode (zmq_msg_data (&m.f[5]), zmq_msg_size (&m.f[5]), &err) : NULL;
            proto_msg_t *rep = req ? proto_msg_new (PROTO_pong, req) : NULL;
            uint8_t *data;
            size_t size;
            if (rep && proto_encode (rep, &data, &size) == 0) {
                busio_send_copy (raw, "", 0, true);
                busio_send_copy (raw, MDP_WORKER, strlen (MDP_WORKER), true);
                busio_send_copy (raw, MDP_REPLY, 1, true);
                busio_send_move (raw, &m.f[3], true);
                busio_send_copy (raw, "", 0, true);
                busio_send_copy (raw, data, size, false);
                free (data);
            }
            proto_msg_destroy (&req);
            proto_msg_destroy (&rep);
            busio_close (&m);
        }
    }
    zsock_destroy (&sock);
    return 0;
}

static int
worker_main (const char *instance, const char *mode)
{
    s_dir = getenv ("CAISSON_DATA");
    zsys_init ();
    zsys_set_logstream (NULL);
    if (!strcmp (mode, "older-peer"))
        return older_peer_main (instance);
    echo_t echo = { instance, strcmp (mode, "slow-first") == 0, strcmp (mode, "deferred") == 0,
                    NULL, NULL };
    zloop_t *loop = zloop_new ();
    bus_worker_t *w = bus_worker_new (getenv ("CAISSON_BUS"), "echo", instance, "test",
                                      echo_handler, &echo);
    echo.worker = w;
    echo.loop = loop;
    if (w && !strcmp (mode, "routed") && bus_worker_set_routes (w, s_routes))
        return 1;
    if (!w || bus_worker_start (w, loop))
        return 1;
    zloop_start (loop);
    bus_worker_destroy (&w);
    zloop_destroy (&loop);
    return 0;
}

static pid_t
spawn_echo (const char *instance, const char *mode)
{
    return support_spawn_self ((const char *[]) { s_self, "worker", instance, mode, NULL });
}

/* ---- helpers ------------------------------------------------------------ */

static bus_client_t *
client_new (int timeout_ms, int retries)
{
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    assert_non_null (c);
    bus_client_set_timeout (c, timeout_ms, retries);
    return c;
}

/* Sends a request of type to service and returns the reply's type, with
 * the pong's data or the health reply's instance copied into who. */
static proto_type_t
ask (bus_client_t *c, const char *service, proto_type_t type, char *who, size_t wholen)
{
    proto_msg_t *req = proto_msg_new (type, NULL);
    proto_msg_t *rep = bus_client_request (c, service, req);
    proto_type_t t = rep ? rep->type : PROTO_TYPE_COUNT;
    if (who && rep && rep->type == PROTO_pong)
        snprintf (who, wholen, "%.*s", (int) rep->body.pong.data.size,
                  (char *) rep->body.pong.data.data);
    else if (who && rep && rep->type == PROTO_health_rep)
        snprintf (who, wholen, "%s", rep->body.health_rep.instance);
    proto_msg_destroy (&req);
    proto_msg_destroy (&rep);
    return t;
}

/* Waits until service answers health (a worker has registered). */
static void
await_service (bus_client_t *c, const char *service)
{
    for (int i = 0; i < 100; i++)
        if (ask (c, service, PROTO_health_req, NULL, 0) == PROTO_health_rep)
            return;
    fail_msg ("%s never answered", service);
}

/* How many times any echo worker ran the request with this id. */
static int
runs_of (const char *request_id)
{
    char path[1024], id[64], who[16];
    snprintf (path, sizeof path, "%s/handled", s_dir);
    FILE *f = fopen (path, "r");
    assert_non_null (f);
    int runs = 0;
    while (fscanf (f, "%63s %15s", id, who) == 2)
        runs += strcmp (id, request_id) == 0;
    fclose (f);
    return runs;
}

static int
setup (void **state)
{
    (void) state;
    assert_non_null (s_dir = support_sandbox_env ("bus"));
    setenv ("CAISSON_HEARTBEAT_MS", "100", 1);
    return 0;
}

/* ---- tests -------------------------------------------------------------- */

static void
test_load_is_shared (void **state)
{
    setup (state);
    pid_t bus = support_spawn ("caisson-bus", NULL);
    pid_t a = spawn_echo ("a", "plain"), b = spawn_echo ("b", "plain");
    bus_client_t *c = client_new (300, 10);
    await_service (c, "echo.a");
    await_service (c, "echo.b");
    int by_a = 0, by_b = 0;
    for (int i = 0; i < 100; i++) {
        char who[16] = "";
        assert_int_equal (ask (c, "echo", PROTO_pong, who, sizeof who), PROTO_pong);
        by_a += strcmp (who, "a") == 0;
        by_b += strcmp (who, "b") == 0;
    }
    assert_int_equal (by_a + by_b, 100);
    assert_in_range (by_a, 30, 70);     /* round robin: about half each */

    /* Instance addressing reaches that one process only. */
    for (int i = 0; i < 20; i++) {
        char who[16] = "";
        assert_int_equal (ask (c, "echo.b", PROTO_pong, who, sizeof who), PROTO_pong);
        assert_string_equal (who, "b");
    }

    /* The broker names the instances, for a question to each of them. */
    json_t *addrs = runroute_instances (c, "echo");
    assert_int_equal (json_array_size (addrs), 2);
    const char *first = json_string_value (json_array_get (addrs, 0));
    const char *second = json_string_value (json_array_get (addrs, 1));
    assert_non_null (first);
    assert_non_null (second);
    assert_true ((!strcmp (first, "echo.a") && !strcmp (second, "echo.b"))
                 || (!strcmp (first, "echo.b") && !strcmp (second, "echo.a")));
    json_decref (addrs);
    /* None registered: the plain name, so a caller still asks once. */
    addrs = runroute_instances (c, "nobody");
    assert_int_equal (json_array_size (addrs), 1);
    assert_string_equal (json_string_value (json_array_get (addrs, 0)), "nobody");
    json_decref (addrs);
    /* A sandbox id names its manager before its last '-'. */
    char svc[96];
    assert_int_equal (runroute_sandbox ("h-1-tok3n", svc, sizeof svc), 0);
    assert_string_equal (svc, "sandbox-manager.h-1");
    assert_int_equal (runroute_sandbox ("-tok3n", svc, sizeof svc), -1);
    assert_string_equal (svc, "sandbox-manager");
    bus_client_destroy (&c);
    support_expect_clean_exit (a);
    support_expect_clean_exit (b);
    support_expect_clean_exit (bus);
}

static void
test_killed_worker_request_is_retried_once (void **state)
{
    setup (state);
    pid_t bus = support_spawn ("caisson-bus", NULL);
    pid_t a = spawn_echo ("a", "slow-first"), b = spawn_echo ("b", "slow-first");
    bus_client_t *c = client_new (300, 10);
    await_service (c, "echo.a");
    await_service (c, "echo.b");

    proto_msg_t *req = proto_msg_new (PROTO_pong, NULL);
    uint8_t *data;
    size_t size;
    assert_int_equal (proto_encode (req, &data, &size), 0);

    /* Send the request, wait for the worker that took it to say so, kill
     * it, then let the client's retry (same bytes, same ids) find the
     * other worker. */
    assert_int_equal (bus_client_send (c, "echo", data, size), 0);
    char path[1024];
    snprintf (path, sizeof path, "%s/first", s_dir);
    int victim = 0;
    for (int i = 0; i < 200 && !victim; i++) {
        FILE *f = fopen (path, "r");
        if (f) {
            if (fscanf (f, "%d", &victim) != 1)
                victim = 0;
            fclose (f);
        }
        if (!victim)
            usleep (10000);
    }
    assert_true (victim == a || victim == b);
    support_stop (victim, SIGKILL, 1000);
    pid_t survivor = victim == a ? b : a;

    proto_msg_t *rep = bus_client_request (c, "echo", req);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_pong);
    assert_string_equal (rep->env.cause, req->env.id);
    assert_string_equal (rep->env.corr, req->env.corr);
    proto_msg_destroy (&rep);
    /* Answered once: nothing else arrives for it. */
    assert_null (bus_client_recv (c, 500, NULL));

    /* And the surviving worker ran it once. */
    assert_int_equal (runs_of (req->env.id), 1);

    free (data);
    proto_msg_destroy (&req);
    bus_client_destroy (&c);
    support_expect_clean_exit (survivor);
    support_expect_clean_exit (bus);
}

static void
test_retry_is_answered_from_cache (void **state)
{
    setup (state);
    pid_t bus = support_spawn ("caisson-bus", NULL);
    pid_t a = spawn_echo ("a", "plain");
    bus_client_t *c = client_new (300, 10);
    await_service (c, "echo.a");
    proto_msg_t *req = proto_msg_new (PROTO_pong, NULL);
    for (int i = 0; i < 3; i++) {       /* the same message three times */
        proto_msg_t *rep = bus_client_request (c, "echo", req);
        assert_non_null (rep);
        assert_int_equal (rep->type, PROTO_pong);
        proto_msg_destroy (&rep);
    }
    assert_int_equal (runs_of (req->env.id), 1);
    proto_msg_destroy (&req);
    bus_client_destroy (&c);
    support_expect_clean_exit (a);
    support_expect_clean_exit (bus);
}

static void
test_deferred_reply_is_given_once (void **state)
{
    setup (state);
    pid_t bus = support_spawn ("caisson-bus", NULL);
    pid_t a = spawn_echo ("a", "deferred");
    bus_client_t *c = client_new (150, 10);
    await_service (c, "echo.a");
    proto_msg_t *req = proto_msg_new (PROTO_pong, NULL);   /* ping is built in */
    /* The client resends twice or so while the answer is pending; the
     * worker drops those, runs the handler once, and answers once. */
    proto_msg_t *rep = bus_client_request (c, "echo", req);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_pong);
    assert_string_equal (rep->env.cause, req->env.id);
    assert_string_equal (rep->env.corr, req->env.corr);
    assert_int_equal (runs_of (req->env.id), 1);
    proto_msg_destroy (&rep);
    /* The answer is kept: a late retry gets it again, at once. */
    bus_client_set_timeout (c, 100, 0);
    rep = bus_client_request (c, "echo", req);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_pong);
    assert_int_equal (runs_of (req->env.id), 1);
    proto_msg_destroy (&rep);

    /* A second client resending the same id while it is pending (one
     * taking over from a caller that died) gets the answer as well. */
    proto_msg_t *again = proto_msg_new (PROTO_pong, NULL);
    uint8_t *data;
    size_t size;
    assert_int_equal (proto_encode (again, &data, &size), 0);
    assert_int_equal (bus_client_send (c, "echo", data, size), 0);
    bus_client_t *other = client_new (2000, 0);
    usleep (100000);
    proto_msg_t *got = bus_client_request (other, "echo", again);
    assert_non_null (got);
    assert_string_equal (got->env.cause, again->env.id);
    proto_msg_destroy (&got);
    assert_int_equal (runs_of (again->env.id), 1);
    free (data);
    proto_msg_destroy (&again);
    bus_client_destroy (&other);

    proto_msg_destroy (&req);
    bus_client_destroy (&c);
    support_expect_clean_exit (a);
    support_expect_clean_exit (bus);
}

/* What the worker itself sends back for a request of type: read raw off
 * the socket, so that nothing on the client's side reshapes it. */
static proto_msg_t *
raw_ask (bus_client_t *c, proto_type_t type)
{
    proto_msg_t *req = proto_msg_new (type, NULL);
    if (type == PROTO_tools_call) {
        proto_set_str (&req->body.tools_call.name, "listFiles");
        proto_set_str (&req->body.tools_call.call_id, "c1");
    }
    uint8_t *data;
    size_t size;
    assert_int_equal (proto_encode (req, &data, &size), 0);
    assert_int_equal (bus_client_send (c, "echo", data, size), 0);
    free (data);
    proto_msg_t *rep = bus_client_recv (c, 5000, NULL);
    assert_non_null (rep);
    assert_string_equal (rep->env.cause, req->env.id);
    proto_msg_destroy (&req);
    return rep;
}

/* Asserts that rep (consumed) is an error of code whose message says says. */
static void
expect_error (proto_msg_t *rep, const char *code, const char *says)
{
    assert_int_equal (rep->type, PROTO_error);
    assert_string_equal (rep->body.error.code, code);
    if (!strstr (rep->body.error.message, says))
        fail_msg ("'%s' does not say '%s'", rep->body.error.message, says);
    proto_msg_destroy (&rep);
}

static void
test_routes_check_replies (void **state)
{
    setup (state);
    pid_t bus = support_spawn ("caisson-bus", NULL);
    pid_t a = spawn_echo ("a", "routed");
    bus_client_t *c = client_new (300, 10);
    await_service (c, "echo.a");
    /* A reply of a type other than the declared one, direct or deferred,
     * becomes an `internal` error that names both. */
    expect_error (raw_ask (c, PROTO_tools_list), "internal",
                  "echo answered tools.list with pong, not the declared tools.catalogue");
    expect_error (raw_ask (c, PROTO_tools_call), "internal",
                  "echo answered tools.call with pong, not the declared tools.result");
    /* A type with no row gets the one code, whatever the type. */
    expect_error (raw_ask (c, PROTO_stats_get), "unknown_type", "echo does not serve stats.get");
    expect_error (raw_ask (c, PROTO_pong), "unknown_type", "echo does not serve pong");
    /* The declared reply goes through. */
    proto_msg_t *rep = raw_ask (c, PROTO_runs_list);
    assert_int_equal (rep->type, PROTO_runs_page);
    proto_msg_destroy (&rep);
    bus_client_destroy (&c);
    support_expect_clean_exit (a);
    support_expect_clean_exit (bus);

    /* A table that routes a non-request, a built-in or a type twice is refused. */
    bus_worker_t *w = bus_worker_new ("ipc://@none", "echo", "x", "test", NULL, NULL);
    assert_non_null (w);
    const bus_route_t pong[] = { { PROTO_pong, right }, BUS_ROUTES_END };
    const bus_route_t ping[] = { { PROTO_ping, right }, BUS_ROUTES_END };
    const bus_route_t twice[] = { { PROTO_runs_list, right }, { PROTO_runs_list, right },
                                  BUS_ROUTES_END };
    assert_int_equal (bus_worker_set_routes (w, pong), -1);
    assert_int_equal (bus_worker_set_routes (w, ping), -1);
    assert_int_equal (bus_worker_set_routes (w, twice), -1);
    assert_int_equal (bus_worker_set_routes (w, s_routes), 0);
    bus_worker_destroy (&w);
}

static void
test_client_gets_the_declared_reply_or_an_error (void **state)
{
    setup (state);
    pid_t bus = support_spawn ("caisson-bus", NULL);
    pid_t old = spawn_echo ("old", "older-peer");
    bus_client_t *c = client_new (300, 10);
    /* It answers health with a pong too: ask until it is registered. */
    proto_msg_t *req = proto_msg_new (PROTO_tools_list, NULL), *rep = NULL;
    for (int i = 0; i < 100 && !rep; i++)
        rep = bus_client_request (c, "echo.old", req);
    /* It said pong to tools.list: the caller gets an error, not a reply
     * it would read as tools.catalogue. */
    assert_non_null (rep);
    assert_string_equal (rep->env.cause, req->env.id);
    expect_error (rep, "internal",
                  "echo.old answered tools.list with pong, not the declared tools.catalogue");
    proto_msg_destroy (&req);
    /* A message with no declared reply is passed on as it came. */
    req = proto_msg_new (PROTO_pong, NULL);
    rep = bus_client_request (c, "echo.old", req);
    assert_non_null (rep);
    assert_int_equal (rep->type, PROTO_pong);
    proto_msg_destroy (&rep);
    proto_msg_destroy (&req);
    bus_client_destroy (&c);
    support_expect_clean_exit (old);
    support_expect_clean_exit (bus);
}

static void
test_workers_reregister_after_broker_restart (void **state)
{
    setup (state);
    pid_t bus = support_spawn ("caisson-bus", NULL);
    pid_t tr = support_spawn ("caisson-tool-runner", NULL);
    bus_client_t *c = client_new (300, 10);
    await_service (c, "tool-runner");

    support_stop (bus, SIGKILL, 1000);
    bus = support_spawn ("caisson-bus", NULL);
    /* Within a few heartbeats the worker notices and registers again. */
    char who[64] = "";
    assert_int_equal (ask (c, "tool-runner", PROTO_health_req, who, sizeof who),
                      PROTO_health_rep);
    assert_true (strlen (who) > 0);
    bus_client_destroy (&c);
    support_expect_clean_exit (tr);
    support_expect_clean_exit (bus);
}

/* A service keeps its instance id across restarts on one data dir (the
 * file made once, 0600); a second process of the service on that dir, at
 * the same time, gets the next slot's id (issue 13, item 1). */
static void
test_instance_id_kept_across_restarts (void **state)
{
    setup (state);
    unsetenv ("CAISSON_INSTANCE");
    pid_t bus = support_spawn ("caisson-bus", NULL);
    pid_t tr = support_spawn ("caisson-tool-runner", NULL);
    bus_client_t *c = client_new (300, 10);
    await_service (c, "tool-runner");
    char first[64] = "", again[64] = "", second[64] = "";
    assert_int_equal (ask (c, "tool-runner", PROTO_health_req, first, sizeof first),
                      PROTO_health_rep);
    char path[1024];
    snprintf (path, sizeof path, "%s/tool-runner/instance", s_dir);
    struct stat st;
    assert_int_equal (stat (path, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0600);

    /* A second one at the same time: another id, kept in the next slot. */
    pid_t tr2 = support_spawn ("caisson-tool-runner", NULL);
    snprintf (path, sizeof path, "%s/tool-runner/instance-2", s_dir);
    for (int i = 0; i < 100 && stat (path, &st); i++)
        usleep (50000);
    FILE *f = fopen (path, "r");
    assert_non_null (f);
    assert_int_equal (fscanf (f, "%63s", second), 1);
    fclose (f);
    assert_string_not_equal (first, second);
    char addr[128];
    snprintf (addr, sizeof addr, "tool-runner.%s", second);
    await_service (c, addr);
    support_expect_clean_exit (tr2);

    support_expect_clean_exit (tr);
    tr = support_spawn ("caisson-tool-runner", NULL);
    snprintf (addr, sizeof addr, "tool-runner.%s", first);
    await_service (c, addr);
    assert_int_equal (ask (c, addr, PROTO_health_req, again, sizeof again), PROTO_health_rep);
    assert_string_equal (first, again);
    bus_client_destroy (&c);
    support_expect_clean_exit (tr);
    support_expect_clean_exit (bus);
}

/* An instance name the broker never saw is answered not_found at once; a
 * request to an instance sent while the broker has just restarted waits
 * for the worker to register again rather than being refused. */
static void
test_unknown_instance_is_not_found (void **state)
{
    setup (state);
    pid_t bus = support_spawn ("caisson-bus", NULL);
    pid_t w = spawn_echo ("e1", "normal");
    bus_client_t *c = client_new (2000, 0);
    await_service (c, "echo.e1");
    zclock_sleep (400);         /* past the start-up grace (3 heartbeats) */
    int64_t t0 = zclock_mono ();
    assert_int_equal (ask (c, "echo.nosuch", PROTO_ping, NULL, 0), PROTO_error);
    assert_true (zclock_mono () - t0 < 500);

    support_stop (bus, SIGKILL, 1000);
    bus = support_spawn ("caisson-bus", NULL);
    assert_int_equal (ask (c, "echo.e1", PROTO_ping, NULL, 0), PROTO_pong);
    bus_client_destroy (&c);
    support_expect_clean_exit (w);
    support_expect_clean_exit (bus);
}

/* A request to an unknown instance sent the moment a broker starts (what a
 * user does right after `caisson down`/`up`) waits out the start-up grace
 * and is then answered not_found, even when it outlived the broker's
 * request TTL meanwhile and its client never resends: before, the broker
 * dropped it as expired and the client hung until its own timeout. */
static void
test_unknown_instance_at_start (void **state)
{
    setup (state);
    setenv ("CAISSON_REQUEST_TIMEOUT_MS", "150", 1);   /* shorter than the grace */
    pid_t bus = support_spawn ("caisson-bus", NULL);
    bus_client_t *c = client_new (10000, 0);           /* one attempt, 10 s */
    int64_t t0 = zclock_mono ();
    assert_int_equal (ask (c, "echo.nosuch", PROTO_ping, NULL, 0), PROTO_error);
    int64_t took = zclock_mono () - t0;
    if (took > 1500)
        fail_msg ("an unknown instance asked at the broker's start took %lld ms", (long long) took);
    bus_client_destroy (&c);
    unsetenv ("CAISSON_REQUEST_TIMEOUT_MS");
    support_expect_clean_exit (bus);
}

static void
test_errors_name_the_fault (void **state)
{
    setup (state);
    pid_t bus = support_spawn ("caisson-bus", NULL);
    pid_t tr = support_spawn ("caisson-tool-runner", NULL);
    bus_client_t *c = client_new (300, 10);
    await_service (c, "tool-runner");

    /* The broker answers for itself. */
    char who[64];
    assert_int_equal (ask (c, "bus", PROTO_health_req, who, sizeof who), PROTO_health_rep);
    assert_int_equal (ask (c, "bus", PROTO_ping, NULL, 0), PROTO_pong);

    /* A request the service does not serve. */
    proto_msg_t *req = proto_msg_new (PROTO_pong, NULL);
    proto_msg_t *rep = bus_client_request (c, "tool-runner", req);
    assert_non_null (rep);
    expect_error (rep, "unknown_type", "pong");
    proto_msg_destroy (&req);

    /* A request whose envelope is sound but whose body is not: the error
     * answers it (cause = its id), so the synchronous client returns it. */
    req = proto_msg_new (PROTO_error, NULL);    /* code and message missing */
    rep = bus_client_request (c, "tool-runner", req);
    assert_non_null (rep);
    assert_string_equal (rep->env.cause, req->env.id);
    assert_string_equal (rep->env.corr, req->env.corr);
    expect_error (rep, "missing", "body.code");
    proto_msg_destroy (&req);

    /* Frames that do not decode: each gets an error naming the fault. */
    static const struct { const char *bytes; size_t len; const char *code; } bad[] = {
        { "\xdd\xff\xff\xff\xff", 5, "alloc_bomb" },
        { "\x81\xa4type", 6, "truncated" },
        { "\xc1", 1, "invalid" },
        { "\x90", 1, "bad_type" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal (bus_client_send (c, "tool-runner", (const uint8_t *) bad[i].bytes,
                                           bad[i].len), 0);
        rep = bus_client_recv (c, 2000, NULL);
        assert_non_null (rep);
        assert_int_equal (rep->type, PROTO_error);
        assert_string_equal (rep->body.error.code, bad[i].code);
        proto_msg_destroy (&rep);
    }
    bus_client_destroy (&c);
    support_expect_clean_exit (tr);
    support_expect_clean_exit (bus);
}

static void
test_tap_receives_exactly_its_prefix (void **state)
{
    setup (state);
    pid_t bus = support_spawn ("caisson-bus", NULL);
    bus_pub_t *pub = bus_pub_new (getenv ("CAISSON_BUS_PUB"));
    bus_tap_t *tap = bus_tap_new (getenv ("CAISSON_BUS_SUB"), "run.A.");
    assert_non_null (pub);
    assert_non_null (tap);
    proto_msg_t *m = proto_msg_new (PROTO_ping, NULL);

    /* Subscriptions travel to the proxy asynchronously: publish a marker
     * until the tap sees one. */
    char topic[64];
    proto_msg_t *got = NULL;
    for (int i = 0; i < 200 && !got; i++) {
        bus_pub_send (pub, "run.A.sync", m);
        got = bus_tap_recv (tap, topic, sizeof topic, 20, NULL);
    }
    assert_non_null (got);
    proto_msg_destroy (&got);

    const char *topics[] = { "run.A.step", "run.B.step", "run.AB.step", "svc.x.started",
                             "run.A.tool", "run", "run.A.", "run.a.step" };
    int expected = 0;
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++) {
        bus_pub_send (pub, topics[i], m);
        expected += strncmp (topics[i], "run.A.", 6) == 0;
    }
    bus_pub_send (pub, "run.A.end", m);
    int matched = 0;
    while ((got = bus_tap_recv (tap, topic, sizeof topic, 2000, NULL))) {
        proto_msg_destroy (&got);
        assert_int_equal (strncmp (topic, "run.A.", 6), 0);
        if (!strcmp (topic, "run.A.end"))
            break;
        if (strcmp (topic, "run.A.sync"))
            matched++;
    }
    assert_string_equal (topic, "run.A.end");
    assert_int_equal (matched, expected);
    proto_msg_destroy (&m);
    bus_pub_destroy (&pub);
    bus_tap_destroy (&tap);
    support_expect_clean_exit (bus);
}

/* A process's first event, sent just after it connects, reaches a tap
 * that was already listening (the publisher waits for the broker's
 * subscription rather than dropping it). */
static void
test_first_event_is_not_lost (void **state)
{
    setup (state);
    pid_t bus = support_spawn ("caisson-bus", NULL);
    bus_tap_t *tap = bus_tap_new (getenv ("CAISSON_BUS_SUB"), "svc.tool-runner.");
    assert_non_null (tap);
    zclock_sleep (200);     /* the tap's subscription reaches the broker */
    pid_t svc = support_spawn ("caisson-tool-runner", NULL);
    char topic[64];
    proto_msg_t *got = bus_tap_recv (tap, topic, sizeof topic, 5000, NULL);
    assert_non_null (got);
    assert_string_equal (topic, "svc.tool-runner.started");
    assert_int_equal (got->type, PROTO_service_state);
    proto_msg_destroy (&got);
    bus_tap_destroy (&tap);
    support_expect_clean_exit (svc);
    support_expect_clean_exit (bus);
}

int
main (int argc, char **argv)
{
    if (argc == 4 && !strcmp (argv[1], "worker"))
        return worker_main (argv[2], argv[3]);
    support_self_exe (s_self, sizeof s_self);
    zsys_init ();
    zsys_set_logstream (NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_load_is_shared),
        cmocka_unit_test (test_killed_worker_request_is_retried_once),
        cmocka_unit_test (test_retry_is_answered_from_cache),
        cmocka_unit_test (test_deferred_reply_is_given_once),
        cmocka_unit_test (test_routes_check_replies),
        cmocka_unit_test (test_client_gets_the_declared_reply_or_an_error),
        cmocka_unit_test (test_workers_reregister_after_broker_restart),
        cmocka_unit_test (test_instance_id_kept_across_restarts),
        cmocka_unit_test (test_unknown_instance_is_not_found),
        cmocka_unit_test (test_unknown_instance_at_start),
        cmocka_unit_test (test_errors_name_the_fault),
        cmocka_unit_test (test_tap_receives_exactly_its_prefix),
        cmocka_unit_test (test_first_event_is_not_lost),
    };
    return support_run_group_tests (tests, NULL, NULL);
}
