/* xalloc: the one out-of-memory policy, as in czmq's zmalloc.
 *
 * An allocation that fails aborts the process with a message naming the
 * file and line that asked. A service that cannot allocate cannot answer
 * anyone honestly; its supervisor (caisson up, or compose) restarts it,
 * and everything it had acknowledged is already durable in LMDB. So no
 * caller carries an "out of memory" branch it cannot test: what these
 * return is never NULL.
 *
 * xalloc_install routes jansson's allocations through the same policy,
 * so json_* constructors fail only on bad input, never for memory. */
#ifndef CAISSON_XALLOC_H
#define CAISSON_XALLOC_H

#include <stddef.h>

#define xmalloc(size)         xalloc_malloc ((size), __FILE__, __LINE__)
#define xcalloc(count, size)  xalloc_calloc ((count), (size), __FILE__, __LINE__)
#define xrealloc(ptr, size)   xalloc_realloc ((ptr), (size), __FILE__, __LINE__)
#define xstrdup(s)            xalloc_strdup ((s), __FILE__, __LINE__)

/* As malloc, calloc, realloc and strdup, but never NULL: a failure
 * aborts after logging where. A size of 0 allocates 1 byte. */
void *xalloc_malloc (size_t size, const char *file, int line);
void *xalloc_calloc (size_t count, size_t size, const char *file, int line);
void *xalloc_realloc (void *ptr, size_t size, const char *file, int line);
char *xalloc_strdup (const char *s, const char *file, int line);

/* Makes jansson allocate through this policy. Call once, before any
 * thread starts; svc_main and the CLI do. */
void xalloc_install (void);

#endif
