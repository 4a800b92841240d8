/* evalset_fs: how evalset reads an untrusted task folder. Every file is
 * opened relative to a directory descriptor with O_NOFOLLOW|O_NONBLOCK and
 * checked regular with fstat after it is open (a symlink, FIFO, socket or
 * device is refused by name and never read, so a FIFO cannot hang the
 * reader); every path is walked one component at a time the same way;
 * sizes, counts and depths are capped per task; only UTF-8 text without
 * NUL bytes is taken. Internal to evalset.c. */
#ifndef CAISSON_EVALSET_FS_H
#define CAISSON_EVALSET_FS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define EFS_FILE_MAX (1u << 20)       /* bytes per file */
#define EFS_TASK_BYTES (8u << 20)     /* bytes per task, every file counted */
#define EFS_TASK_FILES 500            /* files per task */
#define EFS_DEPTH 16                  /* directory levels under a task's folder */
#define EFS_PATH_MAX 512              /* bytes of a relative path */

/* A task's running totals against the caps, and where errors go: why
 * (n bytes) gets "<label>: <path>: <problem>". */
typedef struct {
    const char *label;          /* e.g. "golden/py-leap" */
    size_t files, bytes;
    char *why;
    size_t n;
} efs_t;

/* Whether s (len bytes) is valid UTF-8 without NUL bytes. */
bool efs_utf8 (const char *s, size_t len);

/* Whether rel is a relative path evalset accepts: components of 1..255
 * bytes, none `.` or `..`, no empty one (so no leading `/`), UTF-8
 * without control characters, at most EFS_PATH_MAX bytes and EFS_DEPTH
 * components. */
bool efs_path_ok (const char *rel);

/* Opens the directory rel (a path efs_path_ok accepts, or "." for base
 * itself) under base, every component without following symlinks; shown
 * names it in errors. A descriptor, or -1 with the error filled in;
 * missing: true when it does not exist and ENOENT is not an error (then
 * -1 with nothing filled in). */
int efs_open_dir (efs_t *e, int base, const char *rel, const char *shown, bool missing);

/* The text of the regular file rel under base, counted against the caps
 * (NUL-terminated, *len its length). NULL with the error filled in, or,
 * when missing and the file does not exist, NULL with nothing filled in
 * and *len set to (size_t) -1. */
char *efs_read (efs_t *e, int base, const char *rel, const char *shown, bool missing,
                size_t *len);

/* Appends {path, data} for every file under the directory dir (taken:
 * closed here) to out, paths relative to dir in byte order; shown
 * prefixes paths in errors (e.g. "files/"). 0, or -1 with the error
 * filled in. */
int efs_walk (efs_t *e, int dir, const char *shown, json_t *out);

/* Fills the error: "<label>: " then the formatted text. Returns -1. */
int efs_fail (efs_t *e, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

#endif
