/* supervisor: the process tree of one stack. See supervisor.h. */
#include "supervisor.h"
#include "demo.h"
#include "cfg.h"
#include "cid.h"
#include "clog.h"
#include "llm_provider.h"
#include "probe.h"
#include "stack.h"
#include "svc.h"
#include "svc_ident.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define BACKOFF_MIN_MS 100
#define STABLE_MS 10000
#define GRACE_MS 5000

/* Start order: the broker first, since every other process connects to
 * it; egress-proxy before sandbox-manager, whose resync after a restart
 * re-sends every policy sandbox's rules to it; the model gateway's key
 * store and the gateway before sandbox-manager and orchestrator, which
 * mint keys at it; stop order is the reverse. */
static const char *const names[] = {
    "bus", "event-log", "egress-proxy", "gateway-keys", "gateway", "sandbox-manager",
    "tool-runner", "orchestrator", "ui-bridge",
};
#define NPROCS (sizeof names / sizeof names[0])
/* One more slot, off the bus and not in run/procs: the scripted model,
 * started only when no model provider is configured. */
#define REPLAY NPROCS
#define NSLOTS (NPROCS + 1)
_Static_assert (NPROCS == SUPERVISOR_PROCS, "supervisor.h counts the processes");

typedef struct {
    stack_proc_t info;
    int64_t started_mono;
    int64_t backoff_ms;
    int64_t restart_at;         /* 0 while running */
    int ident_fd;               /* the kept instance id's slot, locked */
} slot_t;

struct _supervisor_t {
    char data[PATH_MAX];
    char bindir[PATH_MAX];
    slot_t slots[NSLOTS];
    bus_client_t *client;
};

static uint64_t
wall_ms (void)
{
    return (uint64_t) zclock_time ();
}

supervisor_t *
supervisor_new (const char *data, const char *bindir)
{
    supervisor_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    snprintf (self->data, sizeof self->data, "%s", data);
    snprintf (self->bindir, sizeof self->bindir, "%s", bindir);
    /* Each service keeps its instance id across `down` and `up` (the data
     * dir holds it, svc_ident.h), so what names it (a run's owner, a
     * sandbox id) still reaches it; CAISSON_INSTANCE names one for all. */
    for (size_t i = 0; i < NPROCS; i++) {
        slot_t *s = &self->slots[i];
        char err[PATH_MAX + 160];
        snprintf (s->info.name, sizeof s->info.name, "%s", names[i]);
        s->ident_fd = -1;
        s->backoff_ms = BACKOFF_MIN_MS;
        snprintf (s->info.instance, sizeof s->info.instance, "%s", cfg_str ("CAISSON_INSTANCE"));
        if (!strcmp (s->info.instance, "@hostname"))
            svc_ident_hostname (s->info.instance);
        else if (!s->info.instance[0] && !strcmp (names[i], "bus"))
            cid_token (s->info.instance, SVC_IDENT_LEN);   /* nothing names the broker's */
        else if (!s->info.instance[0]
            && svc_ident_keep (data, names[i], s->info.instance, &s->ident_fd, err,
                               sizeof err) < 0) {
            clog_error (NULL, "%s", err);
            fprintf (stderr, "caisson: %s\n", err);
            supervisor_destroy (&self);
            return NULL;
        }
    }
    snprintf (self->slots[REPLAY].info.name, sizeof self->slots[REPLAY].info.name, "llm-replay");
    self->slots[REPLAY].backoff_ms = BACKOFF_MIN_MS;
    self->client = bus_client_new (cfg_str ("CAISSON_BUS"));
    if (!self->client)
        supervisor_destroy (&self);
    return self;
}

void
supervisor_destroy (supervisor_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    bus_client_destroy (&(*self_p)->client);
    for (size_t i = 0; i < NPROCS; i++)
        if ((*self_p)->slots[i].ident_fd > 0)
            close ((*self_p)->slots[i].ident_fd);
    free (*self_p);
    *self_p = NULL;
}

static void
publish (supervisor_t *self)
{
    stack_proc_t procs[NPROCS];
    for (size_t i = 0; i < NPROCS; i++)
        procs[i] = self->slots[i].info;
    stack_write_procs (self->data, procs, NPROCS);
}

/* Whether the process named name may hold the real provider keys: the
 * gateway always, the orchestrator while its calls do not go through the
 * gateway (CAISSON_GATEWAY_ORCHESTRATOR=0); no other process needs one. */
static bool
holds_provider_keys (const char *name)
{
    return !strcmp (name, "gateway")
        || (!strcmp (name, "orchestrator") && cfg_u64 ("CAISSON_GATEWAY_ORCHESTRATOR") == 0);
}

/* In a child about to exec: drops every provider key variable the
 * provider table names (llm_provider.h) unless that child holds them. */
static void
strip_provider_keys (const char *name)
{
    if (holds_provider_keys (name))
        return;
    /* The orchestrator's runs still need the model the keys select (its
     * calls go through the gateway): that choice is made here, with them. */
    if (!strcmp (name, "orchestrator") && !*cfg_str ("MODEL"))
        setenv ("MODEL", llm_provider_default_model (), 1);
    const llm_provider_t *p;
    for (size_t i = 0; (p = llm_provider_at (i)); i++) {
        if (p->key_env)
            unsetenv (p->key_env);
        if (p->key_env_alt)
            unsetenv (p->key_env_alt);
    }
}

static int
spawn (supervisor_t *self, slot_t *s)
{
    char path[PATH_MAX + 64], log[PATH_MAX + 64], inst[96];
    snprintf (path, sizeof path, "%s/caisson-%s", self->bindir, s->info.name);
    snprintf (log, sizeof log, "%s/log/%s.log", self->data, s->info.name);
    snprintf (inst, sizeof inst, "CAISSON_INSTANCE=%s", s->info.instance);
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGTERM);
        if (getppid () != parent)
            _exit (1);          /* the supervisor died before prctl */
        /* Close-on-exec: the service gets them as 0-2 only (dup2 clears
         * the flag), not as extra descriptors its children inherit. */
        int fd = open (log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        int null = open ("/dev/null", O_RDWR | O_CLOEXEC);
        if (fd >= 0 && null >= 0) {
            dup2 (null, STDIN_FILENO);
            dup2 (fd, STDOUT_FILENO);
            dup2 (fd, STDERR_FILENO);
        }
        /* Nothing else this process holds (or inherited from whoever
         * started `caisson up`) reaches a service. */
        svc_close_from (3);
        setpgid (0, 0);         /* Ctrl-C reaches the supervisor only */
        putenv (inst);
        strip_provider_keys (s->info.name);
        /* A stack runs one gateway-keys, whose store holds every budget:
         * a store per instance (which it refuses) would split them. */
        if (!strcmp (s->info.name, "gateway-keys"))
            unsetenv ("CAISSON_STORE_PER_INSTANCE");
        execl (path, path, (char *) NULL);
        _exit (127);
    }
    s->info.pid = pid;
    s->info.started_ms = wall_ms ();
    s->started_mono = zclock_mono ();
    s->restart_at = 0;
    return 0;
}

/* Adds the offline demo's repository under data to the repositories
 * tool-runner may clone and push to (CAISSON_TOOLS_REPO_ALLOW, which the
 * children inherit): the one host repository a stack allows by itself. */
static void
allow_demo_repo (const char *data)
{
    char path[PATH_MAX + 16], real[PATH_MAX];
    snprintf (path, sizeof path, "%s/demo/repo.git", data);
    if (!realpath (path, real))
        return;
    const char *cur = getenv ("CAISSON_TOOLS_REPO_ALLOW");
    size_t n = (cur ? strlen (cur) : 0) + strlen (real) + 2;
    char *list = malloc (n);
    if (!list)
        return;
    snprintf (list, n, "%s%s%s", cur && *cur ? cur : "", cur && *cur ? "," : "", real);
    setenv ("CAISSON_TOOLS_REPO_ALLOW", list, 1);
    free (list);
}

/* CAISSON_GATEWAY_HTTP at port 0 (stacks side by side, tests): one free
 * port is taken now, so every gateway replica, and everyone who dials it
 * (CAISSON_GATEWAY_URL, inherited), agree on it across restarts. */
static int
pin_gateway_port (void)
{
    const char *addr = cfg_str ("CAISSON_GATEWAY_HTTP");
    const char *colon = strrchr (addr, ':');
    if (!colon || strcmp (colon, ":0"))
        return 0;
    char host[128];
    snprintf (host, sizeof host, "%.*s", (int) (colon - addr), addr);
    struct sockaddr_in sa = { .sin_family = AF_INET };
    if (inet_pton (AF_INET, host, &sa.sin_addr) != 1)
        return -1;
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    socklen_t len = sizeof sa;
    int rc = fd < 0 || bind (fd, (struct sockaddr *) &sa, sizeof sa)
          || getsockname (fd, (struct sockaddr *) &sa, &len) ? -1 : 0;
    if (fd >= 0)
        close (fd);
    if (rc)
        return -1;
    char http[160], url[192];
    snprintf (http, sizeof http, "%s:%u", host, (unsigned) ntohs (sa.sin_port));
    snprintf (url, sizeof url, "http://%s", http);
    setenv ("CAISSON_GATEWAY_HTTP", http, 1);
    setenv ("CAISSON_GATEWAY_URL", url, 1);
    return 0;
}

int
supervisor_start (supervisor_t *self)
{
    if (pin_gateway_port ()) {
        clog_error (NULL, "CAISSON_GATEWAY_HTTP %s: cannot pick a free port",
                    cfg_str ("CAISSON_GATEWAY_HTTP"));
        return -1;
    }
    bool offline = supervisor_offline_notice () != NULL;
    if (offline && demo_repo_prepare (self->data) == 0)
        allow_demo_repo (self->data);
    for (size_t i = 0; i < NPROCS; i++)
        if (spawn (self, &self->slots[i])) {
            clog_error (NULL, "cannot start %s: %s", names[i], strerror (errno));
            return -1;
        }
    if (offline) {
        if (spawn (self, &self->slots[REPLAY]))
            return -1;
        clog_warn (NULL, "default model %s: started the scripted model (llm-replay)",
                   llm_provider_default_model ());
    }
    publish (self);
    return 0;
}

const char *
supervisor_offline_notice (void)
{
    /* the scripted model is started whenever runs would use it: the
     * default model is replay/... or replay-anthropic/..., whether MODEL
     * says so or no provider has a key */
    if (strncmp (llm_provider_default_model (), "replay", 6) != 0)
        return NULL;
    if (*cfg_str ("MODEL"))
        return "caisson: runs use the scripted model (caisson-llm-replay), as MODEL says.\n";
    return "caisson: *** NO MODEL PROVIDER KEY IS SET: runs use the scripted model "
           "(caisson-llm-replay), which only knows its demo tasks. Set a provider key "
           "(OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY, GROQ_API_KEY, ...) or MODEL "
           "for a real model. ***\n";
}

int
supervisor_wait_healthy (supervisor_t *self, int timeout_ms, int64_t *elapsed_ms,
                         char *what, size_t whatlen)
{
    int64_t start = zclock_mono (), deadline = start + timeout_ms;
    size_t next = 0;
    while (next < NPROCS && zclock_mono () < deadline && !zsys_interrupted) {
        slot_t *s = &self->slots[next];
        proto_msg_t *rep = probe_health (self->client, s->info.name, s->info.instance, 100);
        if (rep && rep->body.health_rep.pid == (uint64_t) s->info.pid)
            next++;
        proto_msg_destroy (&rep);
    }
    *elapsed_ms = zclock_mono () - start;
    if (next < NPROCS) {
        snprintf (what, whatlen, "%s", names[next]);
        return -1;
    }
    return 0;
}

static void
describe_exit (int status, char *out, size_t outlen)
{
    if (WIFSIGNALED (status))
        snprintf (out, outlen, "killed by signal %d", WTERMSIG (status));
    else
        snprintf (out, outlen, "exited with status %d", WEXITSTATUS (status));
}

/* Notes every child that has exited and schedules its restart. Returns
 * whether any had. */
static bool
reap (supervisor_t *self)
{
    bool any = false;
    int status;
    pid_t pid;
    while ((pid = waitpid (-1, &status, WNOHANG)) > 0)
        for (size_t i = 0; i < NSLOTS; i++) {
            slot_t *s = &self->slots[i];
            if (s->info.pid != pid)
                continue;
            int64_t now = zclock_mono ();
            if (now - s->started_mono >= STABLE_MS)
                s->backoff_ms = BACKOFF_MIN_MS;
            char why[64];
            describe_exit (status, why, sizeof why);
            clog_warn (NULL, "%s (pid %d) %s; restarting in %lld ms", s->info.name,
                       (int) pid, why, (long long) s->backoff_ms);
            s->info.pid = 0;
            s->restart_at = now + s->backoff_ms;
            int64_t max = (int64_t) cfg_u64 ("CAISSON_RESTART_MAX_MS");
            s->backoff_ms = s->backoff_ms * 2 > max ? max : s->backoff_ms * 2;
            any = true;
        }
    return any;
}

void
supervisor_run (supervisor_t *self)
{
    while (!zsys_interrupted) {
        bool changed = reap (self);
        int64_t now = zclock_mono ();
        for (size_t i = 0; i < NSLOTS; i++) {
            slot_t *s = &self->slots[i];
            if (s->restart_at && now >= s->restart_at) {
                if (spawn (self, s) == 0) {
                    s->info.restarts++;
                    clog_info (NULL, "%s restarted as pid %d (restart %u)", s->info.name,
                               (int) s->info.pid, s->info.restarts);
                }
                else
                    s->restart_at = now + s->backoff_ms;
                changed = true;
            }
        }
        if (changed)
            publish (self);
        usleep (20000);
    }
}

void
supervisor_stop_all (supervisor_t *self)
{
    for (size_t i = NSLOTS; i-- > 0;)
        if (self->slots[i].info.pid > 0)
            kill (self->slots[i].info.pid, SIGTERM);
    int64_t deadline = zclock_mono () + GRACE_MS;
    size_t running = NSLOTS;
    while (running && zclock_mono () < deadline) {
        running = 0;
        for (size_t i = 0; i < NSLOTS; i++) {
            slot_t *s = &self->slots[i];
            if (s->info.pid > 0 && waitpid (s->info.pid, NULL, WNOHANG) == s->info.pid)
                s->info.pid = 0;
            running += s->info.pid > 0;
        }
        if (running)
            usleep (10000);
    }
    for (size_t i = 0; i < NSLOTS; i++) {
        slot_t *s = &self->slots[i];
        if (s->info.pid > 0) {
            clog_warn (NULL, "%s (pid %d) ignored SIGTERM; killing it", s->info.name,
                       (int) s->info.pid);
            kill (s->info.pid, SIGKILL);
            waitpid (s->info.pid, NULL, 0);
            s->info.pid = 0;
        }
    }
    int n = stack_kill_sandboxes (self->data);
    if (n)
        clog_info (NULL, "stopped %d sandboxes (their workspaces are kept)", n);
}
