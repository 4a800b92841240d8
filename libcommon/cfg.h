/* cfg: configuration from environment variables, with embedded defaults.
 *
 * Every setting any Caisson process reads is declared once in cfg.c's
 * table, with its default and a sentence of documentation; docs/
 * configuration.md is generated from that table and a test keeps the two in
 * step. Reading an undeclared name is a programming error and aborts. */
#ifndef CAISSON_CFG_H
#define CAISSON_CFG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *name;       /* environment variable */
    const char *fallback;   /* embedded default */
    const char *used_by;    /* which processes read it */
    const char *doc;        /* one sentence for docs/configuration.md */
} cfg_entry_t;

/* The value of a declared setting: the environment's, else the default.
 * Borrowed; valid until the environment changes. */
const char *cfg_str (const char *name);

/* The value parsed as a non-negative integer; the default when the
 * environment holds something that is not one (after logging nothing:
 * callers that care validate with cfg_check). */
uint64_t cfg_u64 (const char *name);

/* 0 when every declared integer setting in the environment parses, else -1
 * with a message naming the first bad one written into err. */
int cfg_check (char *err, size_t errlen);

/* The table, for documentation; *count receives its length. */
const cfg_entry_t *cfg_table (size_t *count);

/* The path setting name copied into out, or, when it is empty (its
 * documented default), $CAISSON_DATA/under. */
void cfg_path (const char *name, const char *under, char *out, size_t outlen);

#endif
