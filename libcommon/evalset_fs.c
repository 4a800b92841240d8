/* evalset_fs: reading untrusted task folders for evalset (see
 * evalset_fs.h). Nothing here follows a symlink or opens what is not a
 * regular file or a directory, so a hostile folder can at worst be
 * refused. */
#define _GNU_SOURCE
#include "evalset_fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
efs_fail (efs_t *e, const char *fmt, ...)
{
    int k = snprintf (e->why, e->n, "%s: ", e->label);
    if (k >= 0 && (size_t) k < e->n) {
        va_list ap;
        va_start (ap, fmt);
        vsnprintf (e->why + k, e->n - (size_t) k, fmt, ap);
        va_end (ap);
    }
    return -1;
}

bool
efs_utf8 (const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *) s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        size_t k;
        unsigned cp;
        if (c == 0)
            return false;
        if (c < 0x80) {
            p++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            k = 1, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF)
            k = 2, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4)
            k = 3, cp = c & 0x07;
        else
            return false;
        if ((size_t) (end - p) <= k)
            return false;
        for (size_t i = 1; i <= k; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        /* overlong forms, UTF-16 surrogates and past U+10FFFF */
        if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10FFFF
            || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        p += k + 1;
    }
    return true;
}

bool
efs_path_ok (const char *rel)
{
    size_t len = strlen (rel), depth = 0;
    if (!len || len > EFS_PATH_MAX || !efs_utf8 (rel, len))
        return false;
    for (const char *c = rel; *c;) {
        size_t n = strcspn (c, "/");
        if (n == 0 || n > 255 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.')
            || ++depth > EFS_DEPTH)
            return false;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char) c[i] < 0x20 || c[i] == 0x7F)
                return false;
        c += n;
        if (*c == '/' && !*++c)
            return false;       /* a trailing slash */
    }
    return true;
}

static const char *
kind_of (mode_t m)
{
    return S_ISLNK (m) ? "a symlink" : S_ISFIFO (m) ? "a FIFO" : S_ISSOCK (m) ? "a socket"
         : S_ISCHR (m) || S_ISBLK (m) ? "a device" : S_ISDIR (m) ? "a directory"
         : "not a regular file";
}

/* Opens name (one component) in dir with flags plus O_NOFOLLOW|O_NONBLOCK,
 * insisting on a regular file (want_dir false) or a directory. -1 with
 * the error filled in; ENOENT left unfilled when missing is allowed. */
static int
open_one (efs_t *e, int dir, const char *name, const char *shown, bool want_dir, bool missing)
{
    struct stat st;
    /* refused before any open: a device's open may itself act */
    if (fstatat (dir, name, &st, AT_SYMLINK_NOFOLLOW)) {
        if (errno == ENOENT && missing)
            return -1;
        return efs_fail (e, "%s: %s", shown, strerror (errno));
    }
    if (want_dir ? !S_ISDIR (st.st_mode) : !S_ISREG (st.st_mode))
        return efs_fail (e, "%s: %s, not a %s", shown, kind_of (st.st_mode),
                         want_dir ? "directory" : "regular file");
    int fd = openat (dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC
                                | (want_dir ? O_DIRECTORY : 0));
    if (fd < 0)
        return efs_fail (e, "%s: %s", shown, errno == ELOOP ? "a symlink" : strerror (errno));
    /* it may have been swapped between the two looks */
    if (fstat (fd, &st) || (want_dir ? !S_ISDIR (st.st_mode) : !S_ISREG (st.st_mode))) {
        close (fd);
        return efs_fail (e, "%s: %s, not a %s", shown, kind_of (st.st_mode),
                         want_dir ? "directory" : "regular file");
    }
    return fd;
}

/* Walks rel's directories under base; *last gets its final component.
 * A descriptor of the directory holding it, or -1. */
static int
open_parent (efs_t *e, int base, const char *rel, const char *shown, bool missing,
             char last[256])
{
    if (!efs_path_ok (rel))
        return efs_fail (e, "%s: not a relative path inside its folder (no `..`, no absolute "
                         "path, at most %d levels)", shown, EFS_DEPTH);
    int dir = dup (base);
    const char *c = rel;
    for (;;) {
        size_t n = strcspn (c, "/");
        snprintf (last, 256, "%.*s", (int) n, c);
        if (!c[n] || dir < 0)
            return dir;
        int next = open_one (e, dir, last, shown, true, missing);
        close (dir);
        dir = next;
        c += n + 1;
    }
}

int
efs_open_dir (efs_t *e, int base, const char *rel, const char *shown, bool missing)
{
    if (strcmp (rel, ".") == 0)
        return dup (base);
    char last[256];
    int dir = open_parent (e, base, rel, shown, missing, last);
    if (dir < 0)
        return -1;
    int fd = open_one (e, dir, last, shown, true, missing);
    close (dir);
    return fd;
}

/* Reads fd (a regular file, closed here) whole, within the caps. */
static char *
slurp (efs_t *e, int fd, const char *shown, size_t *len)
{
    struct stat st;
    if (fstat (fd, &st) || (uint64_t) st.st_size > EFS_FILE_MAX) {
        close (fd);
        efs_fail (e, "%s: larger than %u bytes", shown, EFS_FILE_MAX);
        return NULL;
    }
    if (++e->files > EFS_TASK_FILES) {
        close (fd);
        efs_fail (e, "%s: more than %d files in the task", shown, EFS_TASK_FILES);
        return NULL;
    }
    char *buf = malloc (EFS_FILE_MAX + 2);
    size_t n = 0;
    ssize_t k = 0;
    /* the size may change under us: read to the cap plus one, not to st_size */
    while (buf && n <= EFS_FILE_MAX && (k = read (fd, buf + n, EFS_FILE_MAX + 1 - n)) > 0)
        n += (size_t) k;
    close (fd);
    const char *bad = !buf ? "out of memory" : k < 0 ? strerror (errno)
                    : n > EFS_FILE_MAX ? "larger than the per-file cap"
                    : (e->bytes += n) > EFS_TASK_BYTES ? "past the task's total byte cap"
                    : !efs_utf8 (buf, n) ? "not UTF-8 text (binary files are not taken)" : NULL;
    if (bad) {
        free (buf);
        efs_fail (e, "%s: %s", shown, bad);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

char *
efs_read (efs_t *e, int base, const char *rel, const char *shown, bool missing, size_t *len)
{
    char last[256];
    *len = 0;
    int dir = open_parent (e, base, rel, shown, missing, last);
    int fd = dir < 0 ? -1 : open_one (e, dir, last, shown, false, missing);
    if (dir >= 0)
        close (dir);
    if (fd < 0) {
        if (missing && !e->why[0])
            *len = (size_t) -1;
        return NULL;
    }
    return slurp (e, fd, shown, len);
}

static int
by_name (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

/* The entries of dir (borrowed) but . and .., sorted; NULL on error. */
static char **
list (efs_t *e, int dir, const char *shown, size_t *count)
{
    int fd = dup (dir);
    DIR *d = fd >= 0 ? fdopendir (fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close (fd);
        efs_fail (e, "%s: cannot list: %s", shown, strerror (errno));
        return NULL;
    }
    rewinddir (d);
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir (d))) {
        if (!strcmp (de->d_name, ".") || !strcmp (de->d_name, ".."))
            continue;
        /* a directory of a million names is refused before it is held */
        if (n >= EFS_TASK_FILES * 2) {
            efs_fail (e, "%s: more than %d entries", shown, EFS_TASK_FILES * 2);
            break;
        }
        char **more = realloc (names, (n + 1) * sizeof *names);
        if (!more)
            break;
        names = more;
        names[n++] = strdup (de->d_name);
    }
    closedir (d);
    if (e->why[0]) {
        while (n)
            free (names[--n]);
        free (names);
        return NULL;
    }
    if (n)
        qsort (names, n, sizeof *names, by_name);
    *count = n;
    return names ? names : calloc (1, sizeof *names);
}

static int
walk (efs_t *e, int dir, const char *prefix, const char *shown, int depth, json_t *out)
{
    size_t n = 0;
    char **names = list (e, dir, shown, &n);
    int rc = names ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char rel[EFS_PATH_MAX * 2], show[EFS_PATH_MAX * 3];
        snprintf (rel, sizeof rel, "%s%s%s", prefix, *prefix ? "/" : "", names[i]);
        snprintf (show, sizeof show, "%s/%s", shown, names[i]);
        if (!efs_path_ok (rel)) {
            rc = efs_fail (e, "%s: not an acceptable path (UTF-8 without control characters, "
                           "at most %d bytes and %d levels)", show, EFS_PATH_MAX, EFS_DEPTH);
            break;
        }
        struct stat st;
        if (fstatat (dir, names[i], &st, AT_SYMLINK_NOFOLLOW)) {
            rc = efs_fail (e, "%s: %s", show, strerror (errno));
            break;
        }
        if (S_ISDIR (st.st_mode)) {
            int sub = depth + 1 >= EFS_DEPTH ? -1 : open_one (e, dir, names[i], show, true, false);
            if (sub < 0) {
                rc = e->why[0] ? -1 : efs_fail (e, "%s: nested deeper than %d levels", show,
                                                EFS_DEPTH);
                break;
            }
            rc = walk (e, sub, rel, show, depth + 1, out);
            close (sub);
            continue;
        }
        int fd = open_one (e, dir, names[i], show, false, false);
        size_t len;
        char *text = fd < 0 ? NULL : slurp (e, fd, show, &len);
        if (!text) {
            rc = -1;
            break;
        }
        json_array_append_new (out, json_pack ("{s:s, s:s%}", "path", rel, "data", text, len));
        free (text);
    }
    for (size_t i = 0; i < n; i++)
        free (names[i]);
    free (names);
    return rc;
}

int
efs_walk (efs_t *e, int dir, const char *shown, json_t *out)
{
    int rc = walk (e, dir, "", shown, 0, out);
    close (dir);
    return rc;
}
