/* fake_egress: a stand-in for egress-proxy in sandbox-manager's tests, so
 * they need no proxy: a bus worker named `egress-proxy` (its own CURVE
 * key, as the real one) in a thread of the test, which records every
 * request it gets (egress.policy.set, .drop, .context) and, as told,
 * answers `egress.ack`, an error, or nothing. On a set it answers, it
 * listens where the real proxy would (`<data>/sandboxes/<id>/net/
 * egress.sock`, mode 0666) and answers any connection one HTTP response
 * whose body is "fake egress proxy: " and the request's first line. */
#ifndef CAISSON_TEST_FAKE_EGRESS_H
#define CAISSON_TEST_FAKE_EGRESS_H

#include <jansson.h>

typedef enum { FAKE_EGRESS_ACK, FAKE_EGRESS_ERROR, FAKE_EGRESS_SILENT } fake_egress_mode_t;

/* Starts the worker (CAISSON_BUS, CAISSON_DATA from the environment) and
 * returns once the broker routes to it. */
void fake_egress_start (void);
void fake_egress_stop (void);
void fake_egress_set_mode (fake_egress_mode_t mode);
/* What it got, oldest first: a new array of objects with `type` and the
 * body's fields (allow and deny as arrays). */
json_t *fake_egress_seen (void);
/* The seen requests of type about sandbox_id: a new array. */
json_t *fake_egress_find (const char *type, const char *sandbox_id);
void fake_egress_clear (void);

#endif
