/* metrics: a small Prometheus registry. See metrics.h. */
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double s_bounds[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
                                   30, 60 };
#define NBOUNDS (sizeof s_bounds / sizeof s_bounds[0])

typedef struct series_s {
    struct series_s *next;
    char *labels;
    double value;               /* counter/gauge value; histogram sum */
    unsigned long long count;
    unsigned long long buckets[NBOUNDS];
} series_t;

typedef struct metric_s {
    struct metric_s *next;
    char *name;
    char *help;
    metrics_type_t type;
    bool tenant;                /* its labels name tenants: shown to trusted scrapes */
    series_t *series;
} metric_t;

struct _metrics_t {
    pthread_mutex_t lock;
    metric_t *first;
    metric_t *last;
};

metrics_t *
metrics_new (void)
{
    metrics_t *self = calloc (1, sizeof *self);
    if (self)
        pthread_mutex_init (&self->lock, NULL);
    return self;
}

static void
free_series (series_t *s)
{
    while (s) {
        series_t *next = s->next;
        free (s->labels);
        free (s);
        s = next;
    }
}

void
metrics_destroy (metrics_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    metrics_t *self = *self_p;
    for (metric_t *m = self->first; m;) {
        metric_t *next = m->next;
        free_series (m->series);
        free (m->name);
        free (m->help);
        free (m);
        m = next;
    }
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

int
metrics_declare (metrics_t *self, const char *name, metrics_type_t type, const char *help)
{
    metric_t *m = calloc (1, sizeof *m);
    if (!m)
        return -1;
    m->name = strdup (name);
    m->help = strdup (help);
    m->type = type;
    pthread_mutex_lock (&self->lock);
    if (self->last)
        self->last->next = m;
    else
        self->first = m;
    self->last = m;
    pthread_mutex_unlock (&self->lock);
    return 0;
}

/* The series of name with labels, made when new. Called with the lock. */
static series_t *
s_series (metrics_t *self, const char *name, const char *labels)
{
    metric_t *m = self->first;
    while (m && strcmp (m->name, name))
        m = m->next;
    if (!m)
        return NULL;
    series_t **tail = &m->series;
    for (series_t *s = m->series; s; s = s->next) {
        if (!strcmp (s->labels, labels))
            return s;
        tail = &s->next;
    }
    series_t *s = calloc (1, sizeof *s);
    if (!s || !(s->labels = strdup (labels))) {
        free (s);
        return NULL;
    }
    *tail = s;
    return s;
}

void
metrics_add (metrics_t *self, const char *name, const char *labels, double delta)
{
    pthread_mutex_lock (&self->lock);
    series_t *s = s_series (self, name, labels);
    if (s)
        s->value += delta;
    pthread_mutex_unlock (&self->lock);
}

void
metrics_observe (metrics_t *self, const char *name, const char *labels, double value)
{
    pthread_mutex_lock (&self->lock);
    series_t *s = s_series (self, name, labels);
    if (s) {
        s->value += value;
        s->count++;
        for (size_t i = 0; i < NBOUNDS; i++)
            if (value <= s_bounds[i])
                s->buckets[i]++;
    }
    pthread_mutex_unlock (&self->lock);
}

void
metrics_clear (metrics_t *self, const char *name)
{
    pthread_mutex_lock (&self->lock);
    for (metric_t *m = self->first; m; m = m->next)
        if (!strcmp (m->name, name)) {
            free_series (m->series);
            m->series = NULL;
        }
    pthread_mutex_unlock (&self->lock);
}

void
metrics_label (char *out, size_t outlen, const char *key, const char *value)
{
    size_t n = strlen (out);
    if (n + 1 >= outlen)
        return;
    n += (size_t) snprintf (out + n, outlen - n, "%s%s=\"", n ? "," : "", key);
    for (const char *p = value; *p && n + 4 < outlen; p++) {
        if (*p == '\\' || *p == '"')
            out[n++] = '\\';
        if (*p == '\n') {
            out[n++] = '\\';
            out[n++] = 'n';
            continue;
        }
        out[n++] = *p;
    }
    if (n + 1 < outlen)
        out[n++] = '"';
    out[n < outlen ? n : outlen - 1] = '\0';
}

typedef struct {
    char *data;
    size_t len, cap;
} buf_t;

static void
put (buf_t *b, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
put (buf_t *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start (ap, fmt);
        int n = vsnprintf (b->data ? b->data + b->len : NULL, b->data ? b->cap - b->len : 0,
                           fmt, ap);
        va_end (ap);
        if (n < 0)
            return;
        if (b->data && b->len + (size_t) n < b->cap) {
            b->len += (size_t) n;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 4096) + (size_t) n;
        char *grown = realloc (b->data, cap);
        if (!grown)
            return;
        b->data = grown;
        b->cap = cap;
    }
}

static void
put_value (buf_t *b, double v)
{
    if (v == floor (v) && fabs (v) < 1e15)
        put (b, "%.0f\n", v);
    else
        put (b, "%.6g\n", v);
}

void
metrics_tenant (metrics_t *self, const char *name)
{
    pthread_mutex_lock (&self->lock);
    for (metric_t *m = self->first; m; m = m->next)
        if (!strcmp (m->name, name))
            m->tenant = true;
    pthread_mutex_unlock (&self->lock);
}

char *
metrics_render (metrics_t *self, bool tenants)
{
    static const char *types[] = { "counter", "gauge", "histogram" };
    buf_t b = { 0 };
    put (&b, "%s", "");         /* allocates: no metrics renders as "" */
    pthread_mutex_lock (&self->lock);
    for (metric_t *m = self->first; m; m = m->next) {
        if (m->tenant && !tenants)
            continue;
        put (&b, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name, types[m->type]);
        for (series_t *s = m->series; s; s = s->next) {
            const char *sep = *s->labels ? "," : "";
            if (m->type != METRICS_HISTOGRAM) {
                if (*s->labels)
                    put (&b, "%s{%s} ", m->name, s->labels);
                else
                    put (&b, "%s ", m->name);
                put_value (&b, s->value);
                continue;
            }
            for (size_t i = 0; i < NBOUNDS; i++)
                put (&b, "%s_bucket{%s%sle=\"%g\"} %llu\n", m->name, s->labels, sep,
                     s_bounds[i], s->buckets[i]);
            put (&b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", m->name, s->labels, sep, s->count);
            if (*s->labels)
                put (&b, "%s_sum{%s} ", m->name, s->labels);
            else
                put (&b, "%s_sum ", m->name);
            put_value (&b, s->value);
            if (*s->labels)
                put (&b, "%s_count{%s} %llu\n", m->name, s->labels, s->count);
            else
                put (&b, "%s_count %llu\n", m->name, s->count);
        }
    }
    pthread_mutex_unlock (&self->lock);
    return b.data;
}
