/* metrics: counters, gauges and histograms, rendered in the Prometheus
 * text format (version 0.0.4) for GET /metrics.
 *
 * A series is a metric name plus a label set written as Prometheus writes
 * it (`route="runs",status="200"`); callers build label sets with
 * metrics_label so values are escaped. Every metric is declared once with
 * its type and help. Thread-safe: HTTP threads and the event watcher
 * update it while a scrape renders it. */
#ifndef CAISSON_METRICS_H
#define CAISSON_METRICS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct _metrics_t metrics_t;

typedef enum { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM } metrics_type_t;

metrics_t *metrics_new (void);
void metrics_destroy (metrics_t **self_p);

/* Declares a metric. Histograms use the same buckets for every series
 * (seconds, 5 ms to 60 s). Returns 0 or -1. */
int metrics_declare (metrics_t *self, const char *name, metrics_type_t type, const char *help);

/* Adds delta to a counter or gauge series; observes a value into a
 * histogram series. labels may be "" for none. */
void metrics_add (metrics_t *self, const char *name, const char *labels, double delta);
void metrics_observe (metrics_t *self, const char *name, const char *labels, double value);

/* Drops every series of a gauge (before setting a fresh snapshot). */
void metrics_clear (metrics_t *self, const char *name);

/* Appends `key="value"` (value escaped) to out, comma-separated from what
 * is there already. */
void metrics_label (char *out, size_t outlen, const char *key, const char *value);

/* Marks a declared metric as naming tenants (users, their keys): it is
 * left out of renders for anonymous scrapes. */
void metrics_tenant (metrics_t *self, const char *name);

/* The whole exposition, a new string the caller frees; tenants: include
 * the metrics marked with metrics_tenant. */
char *metrics_render (metrics_t *self, bool tenants);

#endif
