/* clog: structured logs, one JSON object per line on stderr.
 *
 * Every line carries the time, level, service, instance and, when known, the
 * correlation id of the work it is about, so one grep on a correlation id
 * follows a run across every service's log. */
#ifndef CAISSON_CLOG_H
#define CAISSON_CLOG_H

#include <stddef.h>

typedef enum { CLOG_DEBUG, CLOG_INFO, CLOG_WARN, CLOG_ERROR } clog_level_t;

/* Names this process in every later line and reads CAISSON_LOG_LEVEL.
 * Both strings are copied. */
void clog_init (const char *service, const char *instance);

/* Logs one line. corr may be NULL. The formatted message is escaped as a
 * JSON string; lines are written with one write(2) so processes sharing a
 * file do not interleave within a line. */
void clog_write (clog_level_t level, const char *corr, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

#define clog_debug(corr, ...) clog_write (CLOG_DEBUG, corr, __VA_ARGS__)
#define clog_info(corr, ...)  clog_write (CLOG_INFO, corr, __VA_ARGS__)
#define clog_warn(corr, ...)  clog_write (CLOG_WARN, corr, __VA_ARGS__)
#define clog_error(corr, ...) clog_write (CLOG_ERROR, corr, __VA_ARGS__)

/* Appends s to out as the body of a JSON string (no quotes), escaping
 * quotes, backslashes and control bytes; never writes past outlen and
 * always terminates. Returns the length written. Shared with tools that
 * print msgpack as JSON. */
size_t clog_escape (char *out, size_t outlen, const char *s, size_t len);

#endif
