/* eventlog_util: what the event-log tests share: a private stack (broker
 * and event-log), requests (as a given user), appends, and reading events
 * and runs back. */
#ifndef CAISSON_TEST_EVENTLOG_UTIL_H
#define CAISSON_TEST_EVENTLOG_UTIL_H

#include "support.h"
#include "bus_client.h"
#include "evkind.h"

#include <jansson.h>

/* The sandbox directory of the current test. */
extern const char *s_dir;

/* A run id for a short test name: a fresh cid per name, made 2 ms apart so
 * runs named later sort later, as in a real stack. */
const char *rid (const char *name);

bus_client_t *client_new (int timeout_ms, int retries);
/* Sends req (consumed) to event-log; returns the reply or NULL. */
proto_msg_t *request (bus_client_t *c, proto_msg_t *req);
/* Starts the broker in a new sandbox named name; returns its pid. */
pid_t setup_stack (const char *name);
/* Starts event-log with extra "KEY=VALUE" settings and waits for it. */
pid_t start_eventlog (const char *const env[]);

/* One test's private stack: the broker and event-log in a new sandbox,
 * and a client of event-log. */
typedef struct {
    pid_t bus;
    pid_t eventlog;
    bus_client_t *client;
} elstack_t;
/* Starts s in a sandbox named name, event-log with the "KEY=VALUE"
 * settings env (NULL: none), the client's requests timing out after
 * timeout_ms and retried retries times. */
void elstack_up (elstack_t *s, const char *name, const char *const env[], int timeout_ms,
                 int retries);
/* Ends s's client, expects its event-log to exit cleanly, stops its broker. */
void elstack_down (elstack_t *s);
/* Sends m (consumed) to event-log on c as user, an operator when op;
 * the reply (asserted to come). */
proto_msg_t *request_as (bus_client_t *c, const char *user, bool op, proto_msg_t *m);
/* Asserts rep (consumed) is an error with code whose message holds text;
 * the failure names what came instead. */
void expect_error_reply (proto_msg_t *rep, const char *code, const char *text);

/* A new event.append for run with data given as JSON text (NULL: none). */
proto_msg_t *append_msg (const char *run, const char *kind, const char *json);
/* Appends and asserts an ack; returns its global seq. */
uint64_t append (bus_client_t *c, const char *run, const char *kind, const char *json);
/* A new event.append for run of kind whose data (consumed) an evkind
 * constructor built, so it is shaped as its producer emits it (asserted
 * with evk_check). APPEND_MSG (run, plan, .text = "...") makes one. */
proto_msg_t *append_msg_ev (const char *run, evk_kind_t kind, json_t *data);
#define APPEND_MSG(run, kind, ...) append_msg_ev (run, EVK_##kind, EVK (kind, __VA_ARGS__))
/* Appends one such event, expects an ack and returns its global seq:
 * APPEND (c, run, plan, .text = "..."). */
uint64_t append_ev (bus_client_t *c, const char *run, evk_kind_t kind, json_t *data);
#define APPEND(c, run, kind, ...) append_ev (c, run, EVK_##kind, EVK (kind, __VA_ARGS__))
/* A new event.append of a run_started as the orchestrator emits it
 * (user NULL: none; the envelope is left as proto_msg_new made it). */
proto_msg_t *started_msg (const char *run, const char *task, const char *user);
/* Appends started_msg at ts (0: now); returns its global seq. */
uint64_t append_started (bus_client_t *c, const char *run, const char *task, const char *user,
                         uint64_t ts);
/* Stores bytes with artifact.put and asserts the artifact.ref reply. */
proto_msg_t *put_artifact (bus_client_t *c, const void *data, size_t size, const char *kind);

json_t *any_json (const proto_bytes_t *b);
/* Every stored event of run (NULL: the global order) from from_seq on. */
json_t *read_all (bus_client_t *c, const char *run, uint64_t from);
/* The run record, or NULL when event-log has none. */
json_t *run_get (bus_client_t *c, const char *run);
json_int_t int_at (json_t *obj, const char *key);

#endif
