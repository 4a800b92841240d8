/* sbx_tree: ends a process tree inside a sandbox (see sbx_initd.h). It
 * reads /proc (the sandbox's own) for parent links, sessions, groups and
 * states. */
#define _GNU_SOURCE
#include "sbx_initd.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

enum { MAX = 4096, ROUNDS = 200 };

typedef struct {
    int n;
    int pid[MAX], ppid[MAX], sid[MAX], pgid[MAX];
    bool in[MAX], zombie[MAX];
} tree_t;

/* Reads /proc and marks root's tree: root, its session and group, and
 * their descendants by parent link (so a child that started its own
 * session is caught while its parent lives). */
static void
scan (tree_t *t, pid_t root)
{
    t->n = 0;
    DIR *d = opendir ("/proc");
    struct dirent *e;
    while (d && (e = readdir (d)) && t->n < MAX) {
        int q = atoi (e->d_name);
        if (q <= 1)
            continue;
        char path[64], buf[512], state;
        snprintf (path, sizeof path, "/proc/%d/stat", q);
        FILE *f = fopen (path, "re");
        if (!f)
            continue;
        size_t len = fread (buf, 1, sizeof buf - 1, f);
        fclose (f);
        buf[len] = 0;
        const char *rp = strrchr (buf, ')');
        int n = t->n;
        if (rp && sscanf (rp + 2, "%c %d %d %d", &state, &t->ppid[n], &t->pgid[n], &t->sid[n]) == 4) {
            t->pid[n] = q;
            t->zombie[n] = state == 'Z' || state == 'X';
            t->in[n] = q == root || t->sid[n] == root || t->pgid[n] == root;
            t->n++;
        }
    }
    if (d)
        closedir (d);
    for (bool grew = true; grew;) {
        grew = false;
        for (int a = 0; a < t->n; a++)
            for (int b = 0; b < t->n && !t->in[a]; b++)
                if (t->in[b] && t->ppid[a] == t->pid[b])
                    t->in[a] = grew = true;
    }
}

/* True when the live process q has an open descriptor on a pipe whose
 * inode is one of ino[0..nino). */
static bool
holds (int q, const ino_t *ino, int nino)
{
    char path[64];
    snprintf (path, sizeof path, "/proc/%d/fd", q);
    DIR *d = opendir (path);
    struct dirent *e;
    bool found = false;
    while (d && !found && (e = readdir (d))) {
        struct stat st;
        if (e->d_name[0] != '.' && !fstatat (dirfd (d), e->d_name, &st, 0) && S_ISFIFO (st.st_mode))
            for (int i = 0; i < nino; i++)
                found |= st.st_ino == ino[i];
    }
    if (d)
        closedir (d);
    return found;
}

/* Signals the tree (only those of it holding one of the pipes ino, when
 * nino > 0). With SIGKILL, rounds go on until no live process of it is
 * left (each round stops every one it finds before killing, so none forks
 * between the scan and the kill, and a child forked before the stop is
 * found by the next round), at most ROUNDS of them. Returns how many are
 * left, zombies included: the init reaps those, and until then they count
 * against the sandbox's pids limit. */
static int
kill_rounds (pid_t root, int sig, const ino_t *ino, int nino, int *found)
{
    static tree_t t;
    for (int round = 0; round < ROUNDS; round++) {
        scan (&t, root);
        if (nino)           /* a zombie holds nothing: counted until the init reaps it */
            for (int a = 0; a < t.n; a++)
                t.in[a] = t.in[a] && (t.zombie[a] ? t.ppid[a] == 1 : holds (t.pid[a], ino, nino));
        int live = 0, left = 0;
        for (int a = 0; a < t.n; a++)
            if (t.in[a]) {
                left++;
                if (!t.zombie[a] && (sig != SIGKILL || kill (t.pid[a], SIGSTOP) == 0))
                    live++;
            }
        if (round == 0 && found)
            *found = left;
        for (int a = 0; a < t.n; a++)
            if (t.in[a] && !t.zombie[a])
                kill (t.pid[a], sig);
        if (!live || sig != SIGKILL)
            return left;
        if (round >= 2)         /* killed ones still dying: let them go */
            nanosleep (&(struct timespec) { .tv_nsec = 1000000 }, NULL);
    }
    return MAX;
}

int
sbx_kill_tree (pid_t root, int sig)
{
    return kill_rounds (root, sig, NULL, 0, NULL);
}

int
sbx_kill_holders (pid_t root, const ino_t *ino, int nino, int *found)
{
    return kill_rounds (root, SIGKILL, ino, nino, found);
}
