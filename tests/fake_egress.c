/* fake_egress: see fake_egress.h. The worker's loop runs in its own
 * thread; what it records is shared under a mutex. */
#define _GNU_SOURCE
#include "fake_egress.h"
#include "bus_client.h"
#include "bus_worker.h"
#include "egress_rule.h"
#include "mpjson.h"

#include <czmq.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static struct {
    pthread_t thread;
    pthread_mutex_t lock;
    json_t *seen;
    atomic_int mode;
    atomic_bool stop;
    zloop_t *loop;
    bus_worker_t *worker;
    zhashx_t *socks;            /* sandbox id -> listening fd (as a pointer-sized int) */
    zlistx_t *silent;           /* bus_pending_t *, never answered until the stop */
} s_fe = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void
record (const proto_msg_t *req)
{
    json_t *o = json_pack ("{s:s}", "type", proto_type_name (req->type));
    const char *id = NULL, *run = NULL, *corr = NULL;
    if (req->type == PROTO_egress_policy_set) {
        const proto_egress_policy_set_t *s = &req->body.egress_policy_set;
        id = s->sandbox_id, run = s->run, corr = s->corr;
        json_t *allow = mpjson_get (&s->allow, 2), *deny = mpjson_get (&s->deny, 2);
        json_object_set_new (o, "allow", allow ? allow : json_null ());
        json_object_set_new (o, "deny", deny ? deny : json_null ());
        json_object_set_new (o, "uid", json_integer ((json_int_t) s->uid));
        json_object_set_new (o, "max_conns", json_integer ((json_int_t) s->max_conns));
        json_object_set_new (o, "owner", json_string (s->owner ? s->owner : ""));
    } else if (req->type == PROTO_egress_context) {
        id = req->body.egress_context.sandbox_id;
        run = req->body.egress_context.run;
        corr = req->body.egress_context.corr;
    } else if (req->type == PROTO_egress_policy_drop)
        id = req->body.egress_policy_drop.sandbox_id;
    json_object_set_new (o, "sandbox_id", json_string (id ? id : ""));
    if (run)
        json_object_set_new (o, "run", json_string (run));
    if (corr)
        json_object_set_new (o, "corr", json_string (corr));
    pthread_mutex_lock (&s_fe.lock);
    json_array_append_new (s_fe.seen, o);
    pthread_mutex_unlock (&s_fe.lock);
}

/* One connection: read the request's head (or what comes in 2 s), answer. */
static int
on_conn (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) loop, (void) arg;
    /* cppcheck-suppress nullPointer ; gnu.cfg wrongly wants accept4's address */
    int c = accept4 (item->fd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0)
        return 0;
    struct timeval tv = { .tv_sec = 2 };
    setsockopt (c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    size_t got = 0;
    ssize_t n;
    while (got < sizeof buf - 1 && (n = recv (c, buf + got, sizeof buf - 1 - got, 0)) > 0) {
        got += (size_t) n;
        buf[got] = 0;
        if (strstr (buf, "\r\n\r\n"))
            break;
    }
    buf[got] = 0;
    buf[strcspn (buf, "\r\n")] = 0;
    char body[4200], rep[4400];
    snprintf (body, sizeof body, "fake egress proxy: %s\n", buf);
    int len = snprintf (rep, sizeof rep, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
                        "Connection: close\r\n\r\n%s", strlen (body), body);
    if (send (c, rep, (size_t) len, MSG_NOSIGNAL) < 0) {
        /* the client left */
    }
    close (c);
    return 0;
}

static void
unlisten (const char *id)
{
    void *v = zhashx_lookup (s_fe.socks, id);
    if (!v)
        return;
    zmq_pollitem_t item = { .fd = (int) (intptr_t) v };
    zloop_poller_end (s_fe.loop, &item);
    close (item.fd);
    zhashx_delete (s_fe.socks, id);
}

/* Listens on id's socket as the proxy would; the path, or "" on failure. */
static void
listen_box (const char *id, char *path, size_t n)
{
    char dir[600];
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    *path = 0;
    unlisten (id);
    if (egress_socket_dir (getenv ("CAISSON_DATA"), id, dir, sizeof dir)
        || snprintf (a.sun_path, sizeof a.sun_path, "%s/%s", dir, EGRESS_SOCKET_NAME)
               >= (int) sizeof a.sun_path)
        return;
    unlink (a.sun_path);
    int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind (fd, (struct sockaddr *) &a, sizeof a) || chmod (a.sun_path, 0666)
        || listen (fd, 16)) {
        if (fd >= 0)
            close (fd);
        return;
    }
    zhashx_insert (s_fe.socks, id, (void *) (intptr_t) fd);
    zmq_pollitem_t item = { .fd = fd, .events = ZMQ_POLLIN };
    zloop_poller (s_fe.loop, &item, on_conn, NULL);
    snprintf (path, n, "%s", a.sun_path);
}

static proto_msg_t *
handler (const proto_msg_t *req, void *arg)
{
    (void) arg;
    record (req);
    int mode = atomic_load (&s_fe.mode);
    if (mode == FAKE_EGRESS_SILENT) {
        zlistx_add_end (s_fe.silent, bus_worker_defer (s_fe.worker));
        return BUS_DEFERRED;
    }
    if (mode == FAKE_EGRESS_ERROR)
        return proto_error_new (req, PROTO_ERR_internal, "fake egress-proxy: told to fail");
    proto_msg_t *rep = proto_msg_new (PROTO_egress_ack, req);
    char path[600] = "";
    const char *id = req->body.egress_context.sandbox_id;  /* first field of every type */
    if (req->type == PROTO_egress_policy_set) {
        listen_box (id, path, sizeof path);
        json_t *a = mpjson_get (&req->body.egress_policy_set.allow, 2);
        rep->body.egress_ack.rules = json_array_size (a);
        json_decref (a);
        proto_set_str (&rep->body.egress_ack.socket, path);
    } else if (req->type == PROTO_egress_policy_drop)
        unlisten (id);
    proto_set_str (&rep->body.egress_ack.sandbox_id, id);
    return rep;
}

static int
on_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop, (void) timer_id, (void) arg;
    return atomic_load (&s_fe.stop) ? -1 : 0;
}

static void *
run (void *arg)
{
    (void) arg;
    zloop_start (s_fe.loop);
    for (bus_pending_t *p = zlistx_first (s_fe.silent); p; p = zlistx_next (s_fe.silent))
        bus_worker_answer (s_fe.worker, &p, NULL);
    zlistx_destroy (&s_fe.silent);
    zlistx_t *ids = zhashx_keys (s_fe.socks);
    for (const char *id = zlistx_first (ids); id; id = zlistx_next (ids))
        unlisten (id);
    zlistx_destroy (&ids);
    zhashx_destroy (&s_fe.socks);
    bus_worker_destroy (&s_fe.worker);
    zloop_destroy (&s_fe.loop);
    return NULL;
}

void
fake_egress_start (void)
{
    pthread_mutex_lock (&s_fe.lock);
    if (!s_fe.seen)
        s_fe.seen = json_array ();
    pthread_mutex_unlock (&s_fe.lock);
    atomic_store (&s_fe.stop, false);
    atomic_store (&s_fe.mode, FAKE_EGRESS_ACK);
    s_fe.loop = zloop_new ();
    s_fe.socks = zhashx_new ();
    s_fe.silent = zlistx_new ();
    s_fe.worker = bus_worker_new (getenv ("CAISSON_BUS"), "egress-proxy", "fake", "test", handler,
                                  NULL);
    if (!s_fe.worker || bus_worker_start (s_fe.worker, s_fe.loop))
        abort ();
    zloop_timer (s_fe.loop, 20, 0, on_tick, NULL);
    pthread_create (&s_fe.thread, NULL, run, NULL);
    bus_client_t *c = bus_client_new (getenv ("CAISSON_BUS"));
    bus_client_set_timeout (c, 200, 0);
    bool up = false;
    for (int i = 0; i < 100 && !up; i++) {
        proto_msg_t *req = proto_msg_new (PROTO_health_req, NULL);
        proto_msg_t *rep = bus_client_request (c, "egress-proxy", req);
        up = rep && rep->type == PROTO_health_rep;
        proto_msg_destroy (&req);
        proto_msg_destroy (&rep);
    }
    bus_client_destroy (&c);
    if (!up)
        abort ();
}

void
fake_egress_stop (void)
{
    atomic_store (&s_fe.stop, true);
    pthread_join (s_fe.thread, NULL);
    pthread_mutex_lock (&s_fe.lock);
    json_decref (s_fe.seen);
    s_fe.seen = NULL;
    pthread_mutex_unlock (&s_fe.lock);
}

void
fake_egress_set_mode (fake_egress_mode_t mode)
{
    atomic_store (&s_fe.mode, (int) mode);
}

json_t *
fake_egress_seen (void)
{
    pthread_mutex_lock (&s_fe.lock);
    json_t *copy = json_deep_copy (s_fe.seen);
    pthread_mutex_unlock (&s_fe.lock);
    return copy;
}

json_t *
fake_egress_find (const char *type, const char *sandbox_id)
{
    json_t *all = fake_egress_seen (), *out = json_array (), *o;
    size_t i;
    json_array_foreach (all, i, o) {
        if (!strcmp (json_string_value (json_object_get (o, "type")), type)
            && !strcmp (json_string_value (json_object_get (o, "sandbox_id")), sandbox_id))
            json_array_append (out, o);
    }
    json_decref (all);
    return out;
}

void
fake_egress_clear (void)
{
    pthread_mutex_lock (&s_fe.lock);
    json_array_clear (s_fe.seen);
    pthread_mutex_unlock (&s_fe.lock);
}
