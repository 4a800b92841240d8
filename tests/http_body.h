/* http_body: a growing, always NUL-terminated buffer for what an HTTP
 * client receives, and the libcurl write callback that fills it, so the
 * tests that talk HTTP with libcurl keep a reply's body one way. */
#ifndef CAISSON_TEST_HTTP_BODY_H
#define CAISSON_TEST_HTTP_BODY_H

#include <stddef.h>

typedef struct {
    char *buf;      /* NULL until something came; the caller frees it */
    size_t len;
} http_body_t;

/* A CURLOPT_WRITEFUNCTION: appends size * n bytes of data to the
 * http_body_t at arg (its CURLOPT_WRITEDATA); fails the test when memory
 * runs out. Returns size * n. */
size_t http_body_collect (char *data, size_t size, size_t n, void *arg);

/* What b holds, handed over to the caller: "" (new) when nothing came. */
char *http_body_take (http_body_t *b);

#endif
