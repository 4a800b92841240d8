/* fencecheck: reads fenced data blocks as a model meets them (see
 * fencecheck.h). */
#define _GNU_SOURCE /* asprintf */
#include "fencecheck.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPEN "<<<caisson-data nonce="
#define CLOSE "<<<end nonce="

typedef struct {
    int blocks;                 /* blocks of the wanted kind */
    char *inside;               /* their data, lines without "| " */
    size_t inlen;
    char *outside;              /* every line outside any block */
    size_t outlen;
    char *error;
} scan_t;

/* A new formatted message (NULL when memory runs out). */
static char *
say (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

static char *
say (const char *format, ...)
{
    char *text;
    va_list args;
    va_start (args, format);
    if (vasprintf (&text, format, args) < 0)
        text = NULL;
    va_end (args);
    return text;
}

static void
append (char **buf, size_t *len, const char *s, size_t n)
{
    *buf = realloc (*buf, *len + n + 2);
    memcpy (*buf + *len, s, n);
    *len += n;
    (*buf)[(*len)++] = '\n';
    (*buf)[*len] = '\0';
}

static void
fail (scan_t *sc, const char *what, const char *line, size_t n)
{
    if (!sc->error)
        sc->error = say ("fence: %s: %.*s", what, (int) (n < 120 ? n : 120), line);
}

/* Scans one message's text, line by line. */
static void
scan (scan_t *sc, const char *text, const char *kind)
{
    char nonce[80] = "";
    bool in = false, wanted = false;
    for (const char *line = text; *line;) {
        const char *nl = strchr (line, '\n');
        size_t n = nl ? (size_t) (nl - line) : strlen (line);
        if (!in && n > strlen (OPEN) && !strncmp (line, OPEN, strlen (OPEN))) {
            char k[64] = "";
            if (sscanf (line + strlen (OPEN), "%79[0-9a-f] kind=%63[a-z_]>>>", nonce, k) != 2
                || strlen (nonce) != 32) {
                fail (sc, "a malformed opening line", line, n);
                return;
            }
            in = true;
            wanted = !strcmp (k, kind);
            sc->blocks += wanted;
        }
        else if (in && !strncmp (line, CLOSE, strlen (CLOSE))) {
            char close[160];
            snprintf (close, sizeof close, CLOSE "%s>>>", nonce);
            if (n != strlen (close) || strncmp (line, close, n)) {
                fail (sc, "a closing line that names another nonce", line, n);
                return;
            }
            in = false;
        }
        else if (in) {
            if (n < 2 || strncmp (line, "| ", 2)) {
                if (!(n == 1 && line[0] == '|'))
                    fail (sc, "a line inside a fence that does not start with \"| \"", line, n);
            }
            else if (memmem (line, n, "<<", 2))
                fail (sc, "\"<<\" inside a fence", line, n);
            if (wanted && n >= 2)
                append (&sc->inside, &sc->inlen, line + 2, n - 2);
        }
        else {
            if (memmem (line, n, CLOSE, strlen (CLOSE)))
                fail (sc, "a closing marker outside any fence", line, n);
            append (&sc->outside, &sc->outlen, line, n);
        }
        line += n + (nl ? 1 : 0);
    }
    if (in)
        fail (sc, "a fence that is never closed", nonce, strlen (nonce));
}

char *
fencecheck (const json_t *conversation, const json_t *want)
{
    const char *kind = json_string_value (json_object_get (want, "kind")) ?: "working_memory";
    scan_t sc = { 0 };
    size_t i;
    json_t *m;
    json_array_foreach (conversation, i, m)
        if (!strcmp (json_string_value (json_object_get (m, "role")) ?: "", "user"))
            scan (&sc, json_string_value (json_object_get (m, "content")) ?: "", kind);
    bool absent = json_is_true (json_object_get (want, "absent"));
    if (!sc.error && absent && sc.blocks)
        sc.error = say ("fence: expected no %s block, found %d", kind, sc.blocks);
    else if (!sc.error && !absent && sc.blocks != 1)
        sc.error = say ("fence: expected one %s block, found %d", kind, sc.blocks);
    json_t *t;
    json_array_foreach (absent ? NULL : json_object_get (want, "contains"), i, t) {
        const char *s = json_string_value (t) ?: "";
        if (sc.error)
            break;
        if (!sc.inside || !strstr (sc.inside, s))
            sc.error = say ("fence: expected the %s block to hold \"%.80s\"", kind, s);
        else if (sc.outside && strstr (sc.outside, s))
            sc.error = say ("fence: \"%.80s\" is outside the %s block", s, kind);
    }
    free (sc.inside);
    free (sc.outside);
    return sc.error;
}
