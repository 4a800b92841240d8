/* sbx_host: starting, connecting, healing and destroying sandboxes. A
 * sandbox starts by running caisson-sandbox-init (posix_spawn, empty
 * environment), which reports its init's host pid on a pipe within a few
 * milliseconds; the manager then connects to DIR/ctl.sock and reads the
 * init's messages from its zloop: replies to forwarded requests (matched by
 * cause) are answered on the bus, output and watch events are published.
 * End of stream means the init died: the sandbox heals (a new init on the
 * same workspace), at most CAISSON_SANDBOX_HEAL_MAX times, then is broken. */
#define _GNU_SOURCE
#include "sbx_mgr.h"
#include "sbx_adopt.h"
#include "sbx_cgroup.h"
#include "sbx_disk.h"
#include "sbx_egress.h"
#include "sbx_gkey.h"
#include "egress_rule.h"
#include "cfg.h"
#include "clog.h"
#include "mpjson.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

typedef struct {
    bus_pending_t *pending;
    bus_worker_t *worker;       /* the worker the request came through */
    box_t *box;
} pend_t;

static const char *
rec_str (box_t *box, const char *key)
{
    return json_string_value (json_object_get (box->rec, key));
}

static uint64_t
rec_u64 (box_t *box, const char *key)
{
    return (uint64_t) json_integer_value (json_object_get (box->rec, key));
}

static void
set_status (box_t *box, const char *status, const char *reason)
{
    json_object_set_new (box->rec, "status", json_string (status));
    if (reason)
        json_object_set_new (box->rec, "reason", json_string (reason));
}

static void
publish (box_t *box)
{
    char topic[160];
    snprintf (topic, sizeof topic, "sandbox.%s.status", box->id);
    proto_msg_t *ev = sbx_host_info (box, NULL);
    if (ev)
        bus_pub_send (svc_pub (box->mgr->svc), topic, ev);
    proto_msg_destroy (&ev);
}

void
sbx_host_save (box_t *box)
{
    sbx_registry_put (box->home->reg, box->id, box->rec);
    publish (box);
}

static void
fail_pending (box_t *box, proto_ecode_t code, const char *why)
{
    sbx_mgr_t *m = box->mgr;
    zlistx_t *keys = zhashx_keys (m->pending);
    for (const char *k = zlistx_first (keys); k; k = zlistx_next (keys)) {
        pend_t *p = zhashx_lookup (m->pending, k);
        if (p->box != box)
            continue;
        const proto_msg_t *req = bus_pending_request (p->pending);
        bus_worker_answer (p->worker, &p->pending,
                           proto_error_new (req, code, "sandboxId: %s: %s", box->id, why));
        zhashx_delete (m->pending, k);
    }
    zlistx_destroy (&keys);
}

static void
disconnect (box_t *box)
{
    if (box->fd >= 0) {
        zmq_pollitem_t item = { .fd = box->fd };
        zloop_poller_end (svc_loop (box->mgr->svc), &item);
        close (box->fd);
    }
    box->fd = -1;
    sbx_wire_destroy (&box->wire);
}

static void
heal (box_t *box)
{
    disconnect (box);
    fail_pending (box, PROTO_ERR_sandbox_died, "its init died; the sandbox is healing");
    uint64_t restarts = rec_u64 (box, "restarts") + 1;
    json_object_set_new (box->rec, "restarts", json_integer ((json_int_t) restarts));
    sbx_cgroup_destroy (box->id);
    if (restarts > cfg_u64 ("CAISSON_SANDBOX_HEAL_MAX")) {
        char why[128];
        snprintf (why, sizeof why, "its init died %llu times", (unsigned long long) restarts);
        clog_warn (NULL, "sandbox %s broken: %s", box->id, why);
        set_status (box, "broken", why);
        sbx_host_save (box);
        return;
    }
    clog_warn (NULL, "sandbox %s: init died; healing (restart %llu)", box->id,
               (unsigned long long) restarts);
    set_status (box, "healing", NULL);
    sbx_host_save (box);
    if (sbx_host_spawn (box) == 0) {
        set_status (box, "ready", NULL);
        sbx_host_save (box);
    }
}

/* A process that failed with its workspace at the limit: say so, and
 * which limit, so the caller (the model) knows what to do about it. */
static void
note_full (box_t *box, proto_sandbox_exec_result_t *r)
{
    const char *disk = rec_str (box, "disk");
    if (r->running || r->exit_code == 0 || !disk || !strcmp (disk, "none"))
        return;
    char ws[700], text[200];
    snprintf (ws, sizeof ws, "%s/sandboxes/%s/workspace", box->mgr->data, box->id);
    if (sbx_disk_full (ws, rec_u64 (box, "diskMb"), rec_u64 (box, "inodes"), false, text,
                       sizeof text))
        proto_set_str (&r->workspace_full, text);
}

static int
on_init (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) loop, (void) item;
    box_t *box = arg;
    sbx_mgr_t *m = box->mgr;
    int gone = sbx_wire_fill (box->wire), bad;
    proto_msg_t *msg;
    while ((msg = sbx_wire_next (box->wire, &bad))) {
        char topic[200];
        if (msg->type == PROTO_sandbox_output || msg->type == PROTO_sandbox_fs_event) {
            if (msg->type == PROTO_sandbox_output)
                snprintf (topic, sizeof topic, "sandbox.%s.proc.%llu", box->id,
                          (unsigned long long) msg->body.sandbox_output.pid);
            else
                snprintf (topic, sizeof topic, "sandbox.%s.watch.%llu", box->id,
                          (unsigned long long) msg->body.sandbox_fs_event.watch_id);
            bus_pub_send (svc_pub (m->svc), topic, msg);
            proto_msg_destroy (&msg);
            continue;
        }
        if (msg->type == PROTO_sandbox_exec_result)
            note_full (box, &msg->body.sandbox_exec_result);
        pend_t *p = msg->env.cause ? zhashx_lookup (m->pending, msg->env.cause) : NULL;
        if (p) {
            char key[CID_SIZE];
            snprintf (key, sizeof key, "%s", msg->env.cause);
            bus_worker_answer (p->worker, &p->pending, msg);
            zhashx_delete (m->pending, key);
        } else
            proto_msg_destroy (&msg);
    }
    if (gone)
        heal (box);
    return 0;
}

static int
connect_init (box_t *box)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    if (snprintf (a.sun_path, sizeof a.sun_path, "%s/sandboxes/%s/ctl.sock", box->mgr->data, box->id)
        >= (int) sizeof a.sun_path)
        return -1;
    int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect (fd, (struct sockaddr *) &a, sizeof a)) {
        if (fd >= 0)
            close (fd);
        return -1;
    }
    fcntl (fd, F_SETFL, O_NONBLOCK);
    box->fd = fd;
    box->wire = sbx_wire_new (fd);
    zmq_pollitem_t item = { .fd = fd, .events = ZMQ_POLLIN };
    zloop_poller (svc_loop (box->mgr->svc), &item, on_init, box);
    return sbx_host_configure (box);
}

int
sbx_host_configure (box_t *box)
{
    proto_msg_t *cfgmsg = proto_msg_new (PROTO_sandbox_create, NULL);
    proto_set_str (&cfgmsg->body.sandbox_create.language, rec_str (box, "language"));
    proto_set_str (&cfgmsg->body.sandbox_create.network, rec_str (box, "network"));
    json_t *env = sbx_egress_env (box);
    mpjson_set (&cfgmsg->body.sandbox_create.env_vars, env, 2);
    json_decref (env);
    int rc = sbx_wire_send (box->wire, cfgmsg);
    proto_msg_destroy (&cfgmsg);
    return rc;
}

int
sbx_host_connect (box_t *box)
{
    return connect_init (box);
}

static void
mkdirs_for (box_t *box, char *dir, size_t len)
{
    char p[1024];
    /* Nothing here is any other local user's to read: the sandboxes' dir
     * is 0700; each sandbox's keeps the search bit its own uid needs to
     * reach workspace/ (0711); a workspace is 0700, its uid's. */
    snprintf (p, sizeof p, "%s/sandboxes", box->mgr->data);
    mkdir (p, 0700);
    chmod (p, 0700);
    snprintf (dir, len, "%s/sandboxes/%s", box->mgr->data, box->id);
    mkdir (dir, 0711);
    chmod (dir, 0711);
    snprintf (p, sizeof p, "%s/sandboxes/%s/root", box->mgr->data, box->id);
    mkdir (p, 0700);
    snprintf (p, sizeof p, "%s/sandboxes/%s/workspace", box->mgr->data, box->id);
    mkdir (p, 0700);
    chmod (p, 0700);
    if (chown (p, (uid_t) rec_u64 (box, "uid"), (gid_t) rec_u64 (box, "uid")))
        clog_warn (NULL, "chown %s: %s", p, strerror (errno));
    /* Where egress-proxy puts a policy sandbox's socket, reached only by
     * its init (through a descriptor kept from before its pivot_root),
     * which runs as the sandbox's uid and needs to search it: root's,
     * 0711, so nothing else of the sandbox's can be put there. */
    if (egress_socket_dir (box->mgr->data, box->id, p, sizeof p) == 0) {
        mkdir (p, 0711);
        chmod (p, 0711);
    }
}

static int finish (box_t *box, int fd, pid_t helper);

/* Starts the helper; its word is read by finish. Returns 0, or -1 with the
 * sandbox broken. */
static int
spawn_start (box_t *box)
{
    char dir[4200], procs[2200], why[600] = "", uid[24], tmp[24], nofile[24], fsize[24], cap[24],
         rcap[24], disk[24], inodes[24], port[24];
    mkdirs_for (box, dir, sizeof dir);
    /* A record from before workspaces had limits gets today's. */
    if (!rec_u64 (box, "diskMb") || !rec_u64 (box, "inodes")) {
        json_object_set_new (box->rec, "diskMb", json_integer ((json_int_t) cfg_u64 ("CAISSON_SANDBOX_DISK_MB")));
        json_object_set_new (box->rec, "inodes", json_integer ((json_int_t) cfg_u64 ("CAISSON_SANDBOX_INODES")));
    }
    sbx_cgroup_destroy (box->id);
    if (sbx_cgroup_create (box->id, rec_u64 (box, "memoryMb"), rec_u64 (box, "cpus"),
                           cfg_u64 ("CAISSON_SANDBOX_PIDS"), procs, sizeof procs, why, sizeof why)) {
        clog_warn (NULL, "sandbox %s runs without cgroup limits: %s", box->id, why);
        json_object_set_new (box->rec, "reason", json_string (why));
    }
    snprintf (uid, sizeof uid, "%llu", (unsigned long long) rec_u64 (box, "uid"));
    snprintf (tmp, sizeof tmp, "%llu", (unsigned long long) cfg_u64 ("CAISSON_SANDBOX_TMP_MB"));
    snprintf (nofile, sizeof nofile, "%llu", (unsigned long long) cfg_u64 ("CAISSON_SANDBOX_NOFILE"));
    snprintf (fsize, sizeof fsize, "%llu", (unsigned long long) cfg_u64 ("CAISSON_SANDBOX_FSIZE_MB"));
    snprintf (cap, sizeof cap, "%llu", (unsigned long long) cfg_u64 ("CAISSON_SANDBOX_OUTPUT_CAP"));
    snprintf (rcap, sizeof rcap, "%llu", (unsigned long long) cfg_u64 ("CAISSON_SANDBOX_READ_CAP"));
    snprintf (disk, sizeof disk, "%llu", (unsigned long long) rec_u64 (box, "diskMb"));
    snprintf (inodes, sizeof inodes, "%llu", (unsigned long long) rec_u64 (box, "inodes"));
    snprintf (port, sizeof port, "%llu", (unsigned long long) cfg_u64 ("CAISSON_EGRESS_PORT"));
    const char *net = rec_str (box, "network");
    char *argv[] = { box->mgr->initbin, box->id, dir, uid, (char *) (net ? net : "none"), tmp,
                     nofile, fsize, cap, rcap, procs, (char *) cfg_str ("CAISSON_SANDBOX_ROOT"),
                     disk, inodes, (char *) cfg_str ("CAISSON_SANDBOX_DISK_BACKEND"), port,
                     NULL };
    char *envp[] = { NULL };
    int pfd[2];
    if (pipe2 (pfd, O_CLOEXEC))
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init (&fa);
    posix_spawn_file_actions_adddup2 (&fa, pfd[1], 3);
    /* Nothing of the manager's beyond its word pipe reaches the helper
     * (and so the sandbox), whatever was opened without close-on-exec. */
    posix_spawn_file_actions_addclosefrom_np (&fa, 4);
    /* The init outlives its manager (claimed sandboxes survive a restart), so
     * it must not hold the manager's terminal or output pipes open. */
    posix_spawn_file_actions_addopen (&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen (&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen (&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t helper;
    int rc = posix_spawn (&helper, box->mgr->initbin, &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy (&fa);
    close (pfd[1]);
    if (rc) {
        close (pfd[0]);
        errno = rc;
        return finish (box, -1, 0);
    }
    box->spawn_fd = pfd[0];
    box->spawn_pid = helper;
    return 0;
}

/* Reads the helper's word (`PID BACKEND [NOTE]`: its init's pid, what holds
 * the workspace and why it is not the configured kind; or `E reason`),
 * reaps it and connects to the init. Returns 0, or -1 with the sandbox
 * broken. */
static int
finish (box_t *box, int fd, pid_t helper)
{
    char out[700] = "";
    size_t got = 0;
    ssize_t n;
    int err = errno;
    while (fd >= 0 && got < sizeof out - 1 && (n = read (fd, out + got, sizeof out - 1 - got)) > 0)
        got += (size_t) n;
    out[got] = 0;
    if (fd >= 0) {
        close (fd);
        waitpid (helper, NULL, 0);
    }
    box->spawn_fd = -1;
    long pid = fd >= 0 ? atol (out) : 0;
    if (pid <= 0 || connect_init (box)) {
        char reason[800];
        snprintf (reason, sizeof reason, "cannot start: %s", fd < 0 ? strerror (err)
                  : *out ? out + (out[0] == 'E' ? 2 : 0) : "no word from the helper");
        reason[strcspn (reason, "\n")] = 0;
        clog_error (NULL, "sandbox %s %s", box->id, reason);
        if (pid > 0)
            kill ((pid_t) pid, SIGKILL);
        disconnect (box);
        set_status (box, "broken", reason);
        sbx_host_save (box);
        return -1;
    }
    json_object_set_new (box->rec, "initPid", json_integer (pid));
    char backend[8] = "", *note = strchr (out, ' ');
    if (note && sscanf (note + 1, "%7[a-z]", backend) == 1)
        json_object_set_new (box->rec, "disk", json_string (backend));
    note = note ? strchr (note + 1, ' ') : NULL;
    if (note) {
        note[strcspn (note, "\n")] = 0;
        clog_warn (NULL, "sandbox %s: %s", box->id, note + 1);
        const char *was = rec_str (box, "reason");
        char reason[1024];
        snprintf (reason, sizeof reason, "%s%s%s", was && *was ? was : "", was && *was ? "; " : "",
                  note + 1);
        if (!was || !strstr (was, note + 1))    /* a heal says it again */
            json_object_set_new (box->rec, "reason", json_string (reason));
    }
    return 0;
}

int
sbx_host_spawn (box_t *box)
{
    if (spawn_start (box))
        return -1;
    return sbx_host_spawn_finish (box);
}

int
sbx_host_spawn_finish (box_t *box)
{
    if (box->spawn_fd < 0)
        return box->wire ? 0 : -1;
    zmq_pollitem_t item = { .fd = box->spawn_fd };
    zloop_poller_end (svc_loop (box->mgr->svc), &item);
    return finish (box, box->spawn_fd, box->spawn_pid);
}

static int
on_spawned (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) loop, (void) item;
    box_t *box = arg;
    if (sbx_host_spawn_finish (box) == 0) {
        json_object_set_new (box->rec, "status", json_string ("ready"));
        sbx_registry_put (box->home->reg, box->id, box->rec);
    }
    return 0;
}

int
sbx_host_spawn_async (box_t *box)
{
    if (spawn_start (box))
        return -1;
    zmq_pollitem_t item = { .fd = box->spawn_fd, .events = ZMQ_POLLIN };
    return zloop_poller (svc_loop (box->mgr->svc), &item, on_spawned, box);
}

static int
rm_one (const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st, (void) ftw;
    return flag == FTW_DP ? rmdir (p) : unlink (p);
}

void
sbx_host_destroy (box_t *box)
{
    sbx_mgr_t *m = box->mgr;
    if (box->spawn_fd >= 0)
        sbx_host_spawn_finish (box);
    disconnect (box);
    fail_pending (box, PROTO_ERR_sandbox_destroyed, "destroyed");
    pid_t pid = (pid_t) rec_u64 (box, "initPid");
    /* The init's death ends its pid namespace: the kernel kills the rest. */
    if (pid > 0)
        kill (pid, SIGKILL);
    sbx_cgroup_kill (box->id);
    /* Detached now, while the dying sandbox still holds its own copy of the
     * mount: the filesystem's teardown then falls to its last process, not
     * to this loop. */
    char dir[1024];
    snprintf (dir, sizeof dir, "%s/sandboxes/%s", m->data, box->id);
    sbx_disk_release (dir);
    if (m->egress && sbx_egress_proxied (box))
        sbx_egress_drop (m->egress, box->id);
    sbx_gkey_revoke (m->gkey, box);
    set_status (box, "destroyed", NULL);
    publish (box);
    sbx_registry_del (box->home->reg, box->id);
    zlistx_add_end (m->graves, box->id);
    zhashx_delete (m->boxes, box->id);
}

void
sbx_host_bury (sbx_mgr_t *m)
{
    for (char *id = zlistx_first (m->graves); id; id = zlistx_next (m->graves)) {
        if (sbx_cgroup_kill (id))
            continue;
        sbx_cgroup_destroy (id);
        char dir[1024];
        snprintf (dir, sizeof dir, "%s/sandboxes/%s", m->data, id);
        sbx_disk_release (dir);
        nftw (dir, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
        zlistx_delete (m->graves, zlistx_cursor (m->graves));
    }
}

void
sbx_host_release (box_t *box)
{
    disconnect (box);
    fail_pending (box, PROTO_ERR_unavailable, "sandbox-manager is stopping");
    if (!json_is_true (json_object_get (box->rec, "pool")))
        return;
    sbx_host_spawn_finish (box);
    disconnect (box);
    /* An unclaimed pooled sandbox has nothing to keep: it goes with its manager. */
    pid_t pid = (pid_t) rec_u64 (box, "initPid");
    if (pid > 0)
        kill (pid, SIGKILL);
    sbx_cgroup_destroy (box->id);
    sbx_registry_del (box->home->reg, box->id);
    char dir[1024];
    snprintf (dir, sizeof dir, "%s/sandboxes/%s", box->mgr->data, box->id);
    sbx_disk_release (dir);
    nftw (dir, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

proto_msg_t *
sbx_host_forward (box_t *box, const proto_msg_t *req)
{
    const char *status = rec_str (box, "status");
    if (strcmp (status, "ready") || !box->wire)
        return proto_error_new (req, PROTO_ERR_not_ready, "sandboxId: %s is %s", box->id, status);
    if (sbx_wire_send (box->wire, req))
        return proto_error_new (req, PROTO_ERR_sandbox_died, "sandboxId: %s: its init is gone", box->id);
    pend_t *p = calloc (1, sizeof *p);
    p->box = box;
    p->pending = sbx_adopt_defer (box->mgr, &p->worker);
    zhashx_insert (box->mgr->pending, req->env.id, p);
    return BUS_DEFERRED;
}

bool
sbx_host_awaits (sbx_mgr_t *m, const bus_worker_t *worker)
{
    if (m->net_waiting)
        return true;            /* some worker answers once the proxy has */
    for (pend_t *p = zhashx_first (m->pending); p; p = zhashx_next (m->pending))
        if (p->worker == worker)
            return true;
    return false;
}

bool
sbx_host_pending (box_t *box, const char *request)
{
    pend_t *p = zhashx_lookup (box->mgr->pending, request);
    return p && p->box == box;
}

proto_msg_t *
sbx_host_info (box_t *box, const proto_msg_t *req)
{
    proto_msg_t *rep = proto_msg_new (PROTO_sandbox_info, req);
    if (!rep)
        return NULL;
    proto_sandbox_info_t *i = &rep->body.sandbox_info;
    proto_set_str (&i->sandbox_id, box->id);
    proto_set_str (&i->name, rec_str (box, "name"));
    proto_set_str (&i->language, rec_str (box, "language"));
    proto_set_str (&i->status, rec_str (box, "status"));
    proto_set_str (&i->reason, rec_str (box, "reason") ?: rec_str (box, "gatewayReason"));
    char gw[300];
    sbx_gkey_url (box, gw, sizeof gw);
    if (*gw) {
        proto_set_str (&i->gateway_url, gw);
        proto_set_str (&i->gateway_key_id, rec_str (box, "gatewayKeyId"));
    }
    proto_set_str (&i->user, rec_str (box, "user"));
    proto_set_str (&i->workspace, PROTO_SANDBOX_WORKSPACE);
    proto_set_str (&i->network, rec_str (box, "network"));
    json_t *allow = json_object_get (box->rec, "networkAllow");
    if (allow) {
        char url[64];
        mpjson_set (&i->network_allow, allow, 2);
        mpjson_set (&i->network_deny, json_object_get (box->rec, "networkDeny"), 2);
        snprintf (url, sizeof url, "http://127.0.0.1:%llu",
                  (unsigned long long) cfg_u64 ("CAISSON_EGRESS_PORT"));
        proto_set_str (&i->proxy, url);
    }
    json_t *labels = json_object_get (box->rec, "labels");
    if (labels)
        mpjson_set (&i->labels, labels, 2);
    i->created_at = rec_u64 (box, "createdAt");
    i->expires_at = rec_u64 (box, "expiresAt");
    i->cpus = rec_u64 (box, "cpus");
    i->memory_mb = rec_u64 (box, "memoryMb");
    i->restarts = rec_u64 (box, "restarts");
    i->init_pid = rec_u64 (box, "initPid");
    return rep;
}
