/* http_body: a reply's body for the libcurl tests. See http_body.h. */
#include "http_body.h"
#include "support.h"

#include <stdlib.h>
#include <string.h>

size_t
http_body_collect (char *data, size_t size, size_t n, void *arg)
{
    http_body_t *b = arg;
    char *p = realloc (b->buf, b->len + size * n + 1);
    assert_non_null (p);
    memcpy (p + b->len, data, size * n);
    b->buf = p;
    b->len += size * n;
    b->buf[b->len] = '\0';
    return size * n;
}

char *
http_body_take (http_body_t *b)
{
    char *out = b->buf ? b->buf : strdup ("");
    b->buf = NULL;
    b->len = 0;
    return out;
}
