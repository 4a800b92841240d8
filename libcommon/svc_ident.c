/* svc_ident: instance ids kept in the data dir, and one process per
 * store. See svc_ident.h. */
#include "svc_ident.h"
#include "cid.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* mkdir -p with mode 0700 for what it makes. Returns 0 or -1 (errno). */
static int
make_dirs (const char *dir)
{
    char path[PATH_MAX];
    if (snprintf (path, sizeof path, "%s", dir) >= (int) sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = path + 1; ; p++)
        if (*p == '/' || !*p) {
            char c = *p;
            *p = '\0';
            if (mkdir (path, 0700) && errno != EEXIST)
                return -1;
            if (!(*p = c))
                return 0;
        }
}

/* True when s (len bytes) can be an instance id: letters, digits, '-' or
 * '_', as a sandbox id's prefix must be (sandbox_id.h). */
static bool
id_shaped (const char *s, size_t len)
{
    if (len == 0 || len > 32)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum ((unsigned char) s[i]) && s[i] != '-' && s[i] != '_')
            return false;
    return true;
}

/* Reads (or, empty, writes) the id of the slot file fd, locked by us. */
static int
slot_id (int fd, const char *path, char id[64], char *err, size_t errlen)
{
    char buf[64];
    ssize_t n = pread (fd, buf, sizeof buf - 1, 0);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        n--;
    if (n > 0) {
        if (!id_shaped (buf, (size_t) n)) {
            snprintf (err, errlen, "%s does not hold an instance id (1 to 32 letters, digits, "
                      "'-' or '_'); fix it or remove it for a new one", path);
            return -1;
        }
        memcpy (id, buf, (size_t) n);
        id[n] = '\0';
        return 0;
    }
    cid_token (id, SVC_IDENT_LEN);
    char line[80];
    int len = snprintf (line, sizeof line, "%s\n", id);
    if (pwrite (fd, line, (size_t) len, 0) != len || fsync (fd)) {
        snprintf (err, errlen, "cannot write %s: %s", path, strerror (errno));
        return -1;
    }
    return 0;
}

int
svc_ident_keep (const char *data, const char *service, char id[64], int *fd, char *err,
                size_t errlen)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    *fd = -1;
    snprintf (dir, sizeof dir, "%s/%s", data, service);
    if (make_dirs (dir)) {
        snprintf (err, errlen, "cannot make %s: %s", dir, strerror (errno));
        return -1;
    }
    for (int slot = 1; slot <= SVC_IDENT_SLOTS; slot++) {
        if (slot == 1)
            snprintf (path, sizeof path, "%s/instance", dir);
        else
            snprintf (path, sizeof path, "%s/instance-%d", dir, slot);
        int f = open (path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (f < 0) {
            snprintf (err, errlen, "cannot open %s: %s", path, strerror (errno));
            return -1;
        }
        if (flock (f, LOCK_EX | LOCK_NB)) {
            close (f);
            if (errno == EWOULDBLOCK)
                continue;       /* a live process holds this one */
            snprintf (err, errlen, "cannot lock %s: %s", path, strerror (errno));
            return -1;
        }
        if (slot_id (f, path, id, err, errlen)) {
            close (f);
            return -1;
        }
        *fd = f;
        return slot;
    }
    snprintf (err, errlen, "all %d instance slots in %s are held by live processes",
              SVC_IDENT_SLOTS, dir);
    return -1;
}

int
svc_ident_hold (const char *data, const char *service, const char *id)
{
    char path[PATH_MAX];
    for (int slot = 1; slot <= SVC_IDENT_SLOTS; slot++) {
        if (slot == 1)
            snprintf (path, sizeof path, "%s/%s/instance", data, service);
        else
            snprintf (path, sizeof path, "%s/%s/instance-%d", data, service, slot);
        int f = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (f < 0)
            continue;
        char buf[64];
        ssize_t n = pread (f, buf, sizeof buf - 1, 0);
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
            n--;
        buf[n > 0 ? n : 0] = '\0';
        if (strcmp (buf, id)) {
            close (f);
            continue;
        }
        if (flock (f, LOCK_EX | LOCK_NB)) {
            close (f);
            return -1;
        }
        return f;
    }
    return -2;
}

void
svc_ident_hostname (char id[64])
{
    char host[256] = "";
    gethostname (host, sizeof host - 1);
    size_t n = 0;
    for (const char *p = host; *p && n < 32; p++)
        if (isalnum ((unsigned char) *p))
            id[n++] = (char) tolower ((unsigned char) *p);
    id[n] = '\0';
}

int
svc_ident_lock_dir (const char *dir, char *err, size_t errlen)
{
    char path[PATH_MAX + 8];
    if (make_dirs (dir)) {
        snprintf (err, errlen, "cannot make %s: %s", dir, strerror (errno));
        return -1;
    }
    snprintf (path, sizeof path, "%s/lock", dir);
    int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf (err, errlen, "cannot open %s: %s", path, strerror (errno));
        return -1;
    }
    if (flock (fd, LOCK_EX | LOCK_NB)) {
        int e = errno;
        char buf[24] = "";
        ssize_t n = pread (fd, buf, sizeof buf - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
        close (fd);
        if (e == EWOULDBLOCK)
            snprintf (err, errlen, "process %ld holds %s", strtol (buf, NULL, 10), path);
        else
            snprintf (err, errlen, "cannot lock %s: %s", path, strerror (e));
        return -1;
    }
    char pid[24];
    int len = snprintf (pid, sizeof pid, "%ld\n", (long) getpid ());
    if (ftruncate (fd, 0) || pwrite (fd, pid, (size_t) len, 0) != len) {
        snprintf (err, errlen, "cannot write %s: %s", path, strerror (errno));
        close (fd);
        return -1;
    }
    return fd;
}
