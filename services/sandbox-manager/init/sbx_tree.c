/* sbx_tree: ends a process tree inside a sandbox (see sbx_initd.h). It
 * reads /proc (the sandbox's own) for parent links, sessions and groups. */
#define _GNU_SOURCE
#include "sbx_initd.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Signals the process's whole tree: its descendants by parent link (so a
 * child that started its own session is caught while its parent lives),
 * and whatever is left in its session or group. Stopped first, then
 * signalled, a few rounds, so a fork bomb cannot outrun it. */
void
sbx_kill_tree (pid_t root, int sig)
{
    enum { MAX = 4096 };
    static int pid[MAX], ppid[MAX], sid[MAX], pgid[MAX];
    static bool in[MAX];
    for (int round = 0; round < 3; round++) {
        int n = 0;
        DIR *d = opendir ("/proc");
        struct dirent *e;
        while (d && (e = readdir (d)) && n < MAX) {
            int q = atoi (e->d_name);
            if (q <= 1)
                continue;
            char path[64], buf[512];
            snprintf (path, sizeof path, "/proc/%d/stat", q);
            FILE *f = fopen (path, "re");
            if (!f)
                continue;
            size_t len = fread (buf, 1, sizeof buf - 1, f);
            fclose (f);
            buf[len] = 0;
            char *rp = strrchr (buf, ')');
            if (rp && sscanf (rp + 2, "%*c %d %d %d", &ppid[n], &pgid[n], &sid[n]) == 3) {
                pid[n] = q;
                in[n] = q == root || sid[n] == root || pgid[n] == root;
                n++;
            }
        }
        if (d)
            closedir (d);
        for (bool grew = true; grew;) {
            grew = false;
            for (int a = 0; a < n; a++)
                for (int b = 0; b < n && !in[a]; b++)
                    if (in[b] && ppid[a] == pid[b])
                        in[a] = grew = true;
        }
        int hit = 0;
        for (int a = 0; a < n; a++)
            if (in[a] && (sig == SIGKILL ? kill (pid[a], SIGSTOP) == 0 : true))
                hit++;
        for (int a = 0; a < n; a++)
            if (in[a])
                kill (pid[a], sig);
        if (!hit || sig != SIGKILL)
            break;
    }
}

