/* svc: the shared life of a service process. See svc.h. */
#define _GNU_SOURCE     /* close_range */
#include "xalloc.h"
#include "svc.h"
#include "buskey.h"
#include "cfg.h"
#include "clog.h"
#include "svc_ident.h"

#include <limits.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef CAISSON_VERSION
#define CAISSON_VERSION "0.0.0"
#endif

struct _svc_t {
    const svc_def_t *def;
    zloop_t *loop;
    bus_worker_t *worker;
    bus_pub_t *pub;
    void *state;
    char instance[64];
    int ident_fd;               /* the kept id's slot, locked while we run */
    int store_fd;               /* the store's lock, for exclusive_store */
};

zloop_t *svc_loop (svc_t *self) { return self->loop; }
bus_pub_t *svc_pub (svc_t *self) { return self->pub; }
bus_worker_t *svc_worker (svc_t *self) { return self->worker; }
const char *svc_instance (svc_t *self) { return self->instance; }
void svc_set_state (svc_t *self, void *state) { self->state = state; }
void *svc_state (svc_t *self) { return self->state; }

int
svc_store_dir (svc_t *self, char *dir, size_t len)
{
    const char *inst = self->instance;
    int n;
    if (cfg_u64 ("CAISSON_STORE_PER_INSTANCE")) {
        if (!*inst || strchr (inst, '/') || inst[0] == '.')
            return -1;
        n = snprintf (dir, len, "%s/%s/%s", cfg_str ("CAISSON_DATA"), self->def->name, inst);
    }
    else
        n = snprintf (dir, len, "%s/%s", cfg_str ("CAISSON_DATA"), self->def->name);
    return n > 0 && (size_t) n < len ? 0 : -1;
}

/* Settles self->instance: CAISSON_INSTANCE when set (`@hostname` read
 * here or by bus_worker), else the id the data dir keeps for this
 * service. Then, for an exclusive store, its lock. Returns 0, or -1
 * writing why. */
static int
identify (svc_t *self, char *err, size_t errlen)
{
    const char *name = self->def->name;
    snprintf (self->instance, sizeof self->instance, "%s", cfg_str ("CAISSON_INSTANCE"));
    if (!self->instance[0]
        && svc_ident_keep (cfg_str ("CAISSON_DATA"), name, self->instance, &self->ident_fd,
                           err, errlen) < 0)
        return -1;
    if (!self->def->exclusive_store)
        return 0;
    char dir[PATH_MAX], why[PATH_MAX + 64];
    if (!strcmp (self->instance, "@hostname"))
        svc_ident_hostname (self->instance);
    if (svc_store_dir (self, dir, sizeof dir)) {
        snprintf (err, errlen, "no store directory for instance '%s'", self->instance);
        return -1;
    }
    if ((self->store_fd = svc_ident_lock_dir (dir, why, sizeof why)) < 0) {
        snprintf (err, errlen, "another %s already serves its store (%s): one %s per "
                  "store; give this one its own CAISSON_DATA, or set "
                  "CAISSON_STORE_PER_INSTANCE=1", name, why, name);
        return -1;
    }
    return 0;
}

void
svc_close_from (int lowfd)
{
    if (close_range ((unsigned) lowfd, ~0U, 0) == 0)
        return;
    for (int more = 1; more;) {
        int fds[256], n = 0;
        DIR *d = opendir ("/proc/self/fd");
        if (!d) {
            for (int fd = lowfd; fd < 65536; fd++)
                close (fd);
            return;
        }
        struct dirent *e;
        while ((e = readdir (d)) && n < 256) {
            int fd = atoi (e->d_name);
            if (fd >= lowfd && fd != dirfd (d))
                fds[n++] = fd;
        }
        more = n == 256;
        closedir (d);
        for (int i = 0; i < n; i++)
            close (fds[i]);
    }
}

void
svc_usage (const char *program, const char *summary, const char *usage)
{
    printf ("%s %s: %s\n\nUsage: %s\n\nSettings (environment):\n", program,
            CAISSON_VERSION, summary, usage);
    size_t n;
    const cfg_entry_t *t = cfg_table (&n);
    for (size_t i = 0; i < n; i++)
        printf ("  %-28s default '%s'\n", t[i].name, t[i].fallback);
    printf ("\nSee docs/configuration.md for what each one does.\n");
}

static void
announce (svc_t *self, const char *state)
{
    proto_msg_t *m = proto_msg_new (PROTO_service_state, NULL);
    proto_service_state_t *b = &m->body.service_state;
    proto_set_str (&b->service, self->def->name);
    proto_set_str (&b->instance, svc_instance (self));
    proto_set_str (&b->version, CAISSON_VERSION);
    proto_set_str (&b->state, state);
    char topic[160];
    snprintf (topic, sizeof topic, "svc.%s.%s", self->def->name, state);
    bus_pub_send (self->pub, topic, m);
    proto_msg_destroy (&m);
}

int
svc_main (int argc, char **argv, const svc_def_t *def)
{
    xalloc_install ();
    char program[96];
    snprintf (program, sizeof program, "caisson-%s", def->name);
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv[i], "--help") || !strcmp (argv[i], "-h")) {
            svc_usage (program, def->summary, "caisson-<service> [--help] [--version]");
            return 0;
        }
        if (!strcmp (argv[i], "--version")) {
            printf ("%s %s\n", program, CAISSON_VERSION);
            return 0;
        }
        fprintf (stderr, "%s: unknown argument '%s' (try --help)\n", program, argv[i]);
        return 2;
    }
    /* Stores, logs and every file a service makes are its user's alone. */
    umask (077);
    char err[2 * PATH_MAX + 400];
    if (cfg_check (err, sizeof err)) {
        fprintf (stderr, "%s: %s\n", program, err);
        return 2;
    }
    proto_limits_load ();
    zsys_init ();
    zsys_set_logstream (NULL);

    buskey_set_role (def->name);
    if (!buskey_curve ())
        fprintf (stderr, "%s: warning: CAISSON_BUS_CURVE=0: the bus is plain ZeroMQ, "
                 "open to any local process\n", program);
    else {
        zcert_t *key = buskey_load (def->name, err, sizeof err);
        if (!key) {
            fprintf (stderr, "%s: %s\n", program, err);
            return 2;
        }
        zcert_destroy (&key);
    }
    svc_t self = { .def = def, .ident_fd = -1, .store_fd = -1 };
    if (identify (&self, err, sizeof err)) {
        fprintf (stderr, "%s: %s\n", program, err);
        if (self.ident_fd >= 0)
            close (self.ident_fd);
        return 2;
    }
    int status = 1;
    self.loop = zloop_new ();
    self.pub = bus_pub_new (cfg_str ("CAISSON_BUS_PUB"));
    self.worker = bus_worker_new (cfg_str ("CAISSON_BUS"), def->name, self.instance,
                                  CAISSON_VERSION, NULL, &self);
    if (!self.loop || !self.pub || !self.worker) {
        fprintf (stderr, "%s: cannot set up the bus (check CAISSON_BUS*)\n", program);
        goto done;
    }
    /* `@hostname` and the like become the id the worker settled on. */
    snprintf (self.instance, sizeof self.instance, "%s", bus_worker_instance (self.worker));
    clog_init (def->name, svc_instance (&self));
    if (def->routes && bus_worker_set_routes (self.worker, def->routes)) {
        fprintf (stderr, "%s: its route table is wrong (see the log)\n", program);
        goto done;
    }
    if (bus_worker_start (self.worker, self.loop) || (def->setup && def->setup (&self)))
        goto done;
    clog_info (NULL, "started: version %s, bus %s", CAISSON_VERSION, cfg_str ("CAISSON_BUS"));
    announce (&self, "started");
    zloop_start (self.loop);
    clog_info (NULL, "stopping");
    announce (&self, "stopping");
    bus_worker_stop (self.worker);
    status = 0;
done:
    if (def->teardown)
        def->teardown (&self);
    bus_worker_destroy (&self.worker);
    bus_pub_destroy (&self.pub);
    zloop_destroy (&self.loop);
    if (self.store_fd >= 0)
        close (self.store_fd);
    if (self.ident_fd >= 0)
        close (self.ident_fd);
    return status;
}
