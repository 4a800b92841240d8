/* gw_up: one call to a provider, driven by the thread serving its client.
 *
 * Each connection's thread pulls its answer as its client takes it
 * (back-pressure for free: nothing is read from the provider faster than
 * the client reads), through a multi handle of its own; the connections
 * themselves (and DNS and TLS sessions) live in one cache shared by every
 * call, so a warm keep-alive connection to the provider is reused. A
 * call ended early (the client left) is cancelled: its connection closed. */
#ifndef CAISSON_GW_UP_H
#define CAISSON_GW_UP_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct _gw_up_t gw_up_t;

typedef enum { GW_UP_OK, GW_UP_UNREACHABLE, GW_UP_TIMEOUT } gw_up_err_t;

/* Once per process, before any call. */
int gw_up_global_init (void);
void gw_up_global_cleanup (void);

/* Starts a POST of body (taken) to url with headers (taken), ended after
 * timeout_s. NULL when memory runs out. */
gw_up_t *gw_up_new (const char *url, struct curl_slist *headers, char *body, long timeout_s);
void gw_up_destroy (gw_up_t **self_p);

/* Waits for the answer's status and headers; returns the status, or 0
 * when the call failed (gw_up_error says how). */
int gw_up_head (gw_up_t *self);

/* The answer's header name (case-insensitive; borrowed, trimmed), or NULL. */
const char *gw_up_header (gw_up_t *self, const char *name);

/* Waits at most wait_ms for more of the body. 1: bytes are there (or
 * were already), 2: none yet, 0: the body ended, -1: the call failed. */
int gw_up_pull (gw_up_t *self, int wait_ms);

/* The body bytes received and not yet taken (borrowed). */
const char *gw_up_data (gw_up_t *self, size_t *len);
void gw_up_take (gw_up_t *self, size_t n);

gw_up_err_t gw_up_error (const gw_up_t *self);

#endif
