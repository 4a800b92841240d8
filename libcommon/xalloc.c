/* xalloc: allocation that aborts on failure. See xalloc.h. */
#include "xalloc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Writes the one message and aborts. Only stdio: a logger that itself
 * allocates could not report this. */
static void
s_fail (size_t size, const char *file, int line)
{
    fprintf (stderr, "FATAL: out of memory allocating %zu bytes at %s:%d\n", size, file, line);
    fflush (stderr);
    abort ();
}

void *
xalloc_malloc (size_t size, const char *file, int line)
{
    void *p = malloc (size ? size : 1);
    if (!p)
        s_fail (size, file, line);
    return p;
}

void *
xalloc_calloc (size_t count, size_t size, const char *file, int line)
{
    void *p = calloc (count ? count : 1, size ? size : 1);
    if (!p)
        s_fail (count * size, file, line);
    return p;
}

void *
xalloc_realloc (void *ptr, size_t size, const char *file, int line)
{
    void *p = realloc (ptr, size ? size : 1);
    if (!p)
        s_fail (size, file, line);
    return p;
}

char *
xalloc_strdup (const char *s, const char *file, int line)
{
    size_t len = strlen (s) + 1;
    char *p = xalloc_malloc (len, file, line);
    memcpy (p, s, len);
    return p;
}

static void *
s_json_malloc (size_t size)
{
    return xalloc_malloc (size, "jansson", 0);
}

void
xalloc_install (void)
{
    json_set_alloc_funcs (s_json_malloc, free);
}
