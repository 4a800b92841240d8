/* stack: the run-time files of one stack. See stack.h. */
#define _GNU_SOURCE     /* nftw's FTW_ACTIONRETVAL */
#include "stack.h"
#include "sbx_disk.h"
#include "cfg.h"
#include "clog.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const endpoint_keys[] = {
    "CAISSON_BUS", "CAISSON_BUS_PUB", "CAISSON_BUS_SUB", "CAISSON_HTTP",
    "CAISSON_BUS_KEYS", "CAISSON_BUS_CURVE",
};
#define ENDPOINT_KEYS (sizeof endpoint_keys / sizeof endpoint_keys[0])

void
stack_path (const char *data, const char *rel, char *out, size_t outlen)
{
    snprintf (out, outlen, "%s/%s", data, rel);
}

int
stack_prepare (const char *data, char *out, size_t outlen)
{
    if (mkdir (data, 0700) && errno != EEXIST) {
        fprintf (stderr, "caisson: cannot create %s: %s\n", data, strerror (errno));
        return -1;
    }
    char abs[PATH_MAX];
    if (!realpath (data, abs) || strlen (abs) + 32 > outlen) {
        fprintf (stderr, "caisson: bad data directory %s\n", data);
        return -1;
    }
    snprintf (out, outlen, "%s", abs);
    char dir[PATH_MAX + 8];
    const char *subs[] = { "run", "log" };
    for (int i = 0; i < 2; i++) {
        stack_path (out, subs[i], dir, sizeof dir);
        if (mkdir (dir, 0700) && errno != EEXIST) {
            fprintf (stderr, "caisson: cannot create %s: %s\n", dir, strerror (errno));
            return -1;
        }
    }
    return 0;
}

int
stack_check_owner (const char *data)
{
    /* run/ holds the pid `down` signals, log/ the files the services
     * append to, keys/ (checked by buskey_create) the bus's secrets: a
     * dir another uid made, in /tmp say, would hand all of them to it. */
    const char *subs[] = { "", "/run", "/log" };
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        char path[PATH_MAX + 8];
        snprintf (path, sizeof path, "%s%s", data, subs[i]);
        struct stat st;
        if (stat (path, &st) || !S_ISDIR (st.st_mode)) {
            fprintf (stderr, "caisson: %s: not a directory\n", path);
            return -1;
        }
        if (st.st_uid != geteuid ()) {
            fprintf (stderr, "caisson: %s belongs to uid %u, not to this user (uid %u): another "
                     "user could hold its keys and logs; use a data directory of your own\n",
                     path, (unsigned) st.st_uid, (unsigned) geteuid ());
            return -1;
        }
    }
    return 0;
}

static size_t s_root_len;

/* One entry of the data dir: group and other bits off; a sandbox's own
 * directory keeps the search bit its uid needs (0711); a workspace is
 * the sandbox's (0700, its files left as the sandbox made them). */
static int
tighten_one (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) flag;
    const char *rel = path + s_root_len;
    bool boxdir = ftw->level == 2 && !strncmp (rel, "/sandboxes/", 11);
    mode_t keep = S_ISLNK (st->st_mode) ? 077 : boxdir ? 011 : 0;
    if ((st->st_mode & 077 & ~keep) && chmod (path, st->st_mode & 07777 & ~(077 & ~keep)))
        fprintf (stderr, "caisson: cannot tighten %s: %s\n", path, strerror (errno));
    if (ftw->level == 3 && !strncmp (rel, "/sandboxes/", 11) && !strcmp (path + ftw->base, "workspace"))
        return FTW_SKIP_SUBTREE;
    return FTW_CONTINUE;
}

int
stack_tighten (const char *data)
{
    s_root_len = strlen (data);
    return nftw (data, tighten_one, 32, FTW_PHYS | FTW_ACTIONRETVAL | FTW_MOUNT) ? -1 : 0;
}

/* Writes text to path through a temporary file and rename, so readers
 * never see half a file. */
static int
write_atomic (const char *path, const char *text)
{
    char tmp[PATH_MAX + 8];
    snprintf (tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen (tmp, "we");
    if (!f)
        return -1;
    int rc = fputs (text, f) < 0;
    rc |= fclose (f) != 0;
    if (rc || rename (tmp, path)) {
        unlink (tmp);
        return -1;
    }
    return 0;
}

int
stack_write_endpoints (const char *data)
{
    char text[4096] = "", path[PATH_MAX];
    size_t used = 0;
    for (size_t i = 0; i < ENDPOINT_KEYS; i++)
        used += (size_t) snprintf (text + used, sizeof text - used, "%s=%s\n",
                                   endpoint_keys[i], cfg_str (endpoint_keys[i]));
    stack_path (data, "run/endpoints.env", path, sizeof path);
    return write_atomic (path, text);
}

int
stack_load_endpoints (const char *data)
{
    char path[PATH_MAX], line[1024];
    stack_path (data, "run/endpoints.env", path, sizeof path);
    FILE *f = fopen (path, "re");
    if (!f)
        return -1;
    while (fgets (line, sizeof line, f)) {
        line[strcspn (line, "\n")] = '\0';
        char *eq = strchr (line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        for (size_t i = 0; i < ENDPOINT_KEYS; i++)
            if (strcmp (line, endpoint_keys[i]) == 0)
                setenv (line, eq + 1, 1);
    }
    fclose (f);
    return 0;
}

bool
stack_is_ours (pid_t pid)
{
    if (pid <= 0 || kill (pid, 0))
        return false;
    char path[64], exe[PATH_MAX];
    snprintf (path, sizeof path, "/proc/%d/exe", (int) pid);
    ssize_t n = readlink (path, exe, sizeof exe - 1);
    if (n < 0)
        return errno == EACCES;     /* alive, and not ours to inspect */
    exe[n] = '\0';
    const char *base = strrchr (exe, '/');
    return base && strncmp (base + 1, "caisson", 7) == 0;
}

pid_t
stack_supervisor (const char *data)
{
    char path[PATH_MAX];
    stack_path (data, "run/caisson.pid", path, sizeof path);
    FILE *f = fopen (path, "re");
    if (!f)
        return 0;
    int pid = 0;
    if (fscanf (f, "%d", &pid) != 1)
        pid = 0;
    fclose (f);
    return stack_is_ours (pid) ? pid : 0;
}

int
stack_write_pid (const char *data, pid_t pid)
{
    char path[PATH_MAX], text[32];
    stack_path (data, "run/caisson.pid", path, sizeof path);
    snprintf (text, sizeof text, "%d\n", (int) pid);
    return write_atomic (path, text);
}

int
stack_write_procs (const char *data, const stack_proc_t *procs, size_t count)
{
    char text[STACK_MAX_PROCS * 160] = "", path[PATH_MAX];
    size_t used = 0;
    for (size_t i = 0; i < count && used < sizeof text; i++)
        used += (size_t) snprintf (text + used, sizeof text - used, "%s %d %s %llu %u\n",
                                   procs[i].name, (int) procs[i].pid, procs[i].instance,
                                   (unsigned long long) procs[i].started_ms,
                                   procs[i].restarts);
    stack_path (data, "run/procs", path, sizeof path);
    return write_atomic (path, text);
}

int
stack_read_procs (const char *data, stack_proc_t *procs, size_t max)
{
    char path[PATH_MAX];
    stack_path (data, "run/procs", path, sizeof path);
    FILE *f = fopen (path, "re");
    if (!f)
        return -1;
    int count = 0;
    stack_proc_t p;
    unsigned long long started;
    int pid;
    while ((size_t) count < max
           && fscanf (f, "%31s %d %63s %llu %u", p.name, &pid, p.instance, &started,
                      &p.restarts) == 5) {
        p.pid = pid;
        p.started_ms = started;
        procs[count++] = p;
    }
    fclose (f);
    return count;
}

void
stack_clear (const char *data)
{
    const char *files[] = { "run/caisson.pid", "run/procs", "run/endpoints.env" };
    char path[PATH_MAX];
    for (int i = 0; i < 3; i++) {
        stack_path (data, files[i], path, sizeof path);
        unlink (path);
    }
}

/* Detaches every mount at data/sandboxes/<id>/workspace (the sandboxes'
 * own filesystems, see docs/sandbox.md), so a stopped stack leaves no
 * mount and no loop device behind. */
static void
unmount_workspaces (const char *data)
{
    char real[PATH_MAX], prefix[PATH_MAX + 16], line[8192], point[4096];
    if (!realpath (data, real))
        return;
    int plen = snprintf (prefix, sizeof prefix, "%s/sandboxes/", real);
    FILE *f = fopen ("/proc/self/mountinfo", "re");
    while (f && plen > 0 && (size_t) plen < sizeof prefix && fgets (line, sizeof line, f)) {
        /* id parent major:minor root MOUNT-POINT ...; spaces come as \040 */
        if (sscanf (line, "%*s %*s %*s %*s %4095s", point) != 1 || strchr (point, '\\')
            || strncmp (point, prefix, (size_t) plen))
            continue;
        const char *slash = strchr (point + plen, '/');
        if (slash && !strcmp (slash, "/workspace"))
            umount2 (point, MNT_DETACH | UMOUNT_NOFOLLOW);
    }
    if (f)
        fclose (f);
}

/* Waits (at most 30 s) until no loop device holds a workspace image under
 * data: the killed inits' filesystems write back their last data as they
 * go, and a stack started again at once would mount the images meanwhile
 * and read them without it. */
static void
await_images (const char *data)
{
    char dir[PATH_MAX + 16];
    snprintf (dir, sizeof dir, "%s/sandboxes", data);
    for (int waited = 0; waited < 30000; waited += 50) {
        DIR *d = opendir (dir);
        bool bound = false;
        for (struct dirent *e; d && !bound && (e = readdir (d));) {
            char box[PATH_MAX + 300];
            snprintf (box, sizeof box, "%s/%s", dir, e->d_name);
            bound = e->d_name[0] != '.' && sbx_disk_image_bound (box);
        }
        if (d)
            closedir (d);
        if (!bound)
            return;
        usleep (50000);
    }
    clog_warn (NULL, "a sandbox's workspace image is still held after 30 s");
}

int
stack_kill_sandboxes (const char *data)
{
    char prefix[PATH_MAX + 16];
    int plen = snprintf (prefix, sizeof prefix, "%s/sandboxes/", data);
    DIR *proc = opendir ("/proc");
    if (!proc || plen <= 0 || (size_t) plen >= sizeof prefix) {
        if (proc)
            closedir (proc);
        return 0;
    }
    int killed = 0;
    struct dirent *e;
    while ((e = readdir (proc))) {
        pid_t pid = (pid_t) atoi (e->d_name);
        char path[64], argv[4096];
        if (pid <= 0)
            continue;
        snprintf (path, sizeof path, "/proc/%d/cmdline", (int) pid);
        FILE *f = fopen (path, "re");
        size_t n = f ? fread (argv, 1, sizeof argv - 1, f) : 0;
        if (f)
            fclose (f);
        argv[n] = '\0';
        /* argv: the init's path, the sandbox id, the sandbox directory. */
        const char *a0 = argv, *a1 = a0 + strlen (a0) + 1, *a2 = a1 + strlen (a1) + 1;
        const char *base = strrchr (a0, '/');
        if (a2 >= argv + n || strcmp (base ? base + 1 : a0, "caisson-sandbox-init")
            || strncmp (a2, prefix, (size_t) plen))
            continue;
        if (kill (pid, SIGKILL) == 0)
            killed++;
    }
    closedir (proc);
    unmount_workspaces (data);
    await_images (data);
    return killed;
}

int
stack_allow_eval_repos (const char *data)
{
    char dir[PATH_MAX], real[PATH_MAX];
    stack_path (data, "eval-repos", dir, sizeof dir);
    if ((mkdir (dir, 0700) && errno != EEXIST) || !realpath (dir, real))
        return -1;
    const char *cur = getenv ("CAISSON_TOOLS_REPO_ALLOW");
    size_t n = (cur ? strlen (cur) : 0) + strlen (real) + 12;
    char *list = malloc (n);
    if (!list)
        return -1;
    snprintf (list, n, "%s%s%s/{user}/*", cur && *cur ? cur : "", cur && *cur ? "," : "", real);
    setenv ("CAISSON_TOOLS_REPO_ALLOW", list, 1);
    free (list);
    return 0;
}
