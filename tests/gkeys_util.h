/* gkeys_util: what the gateway-keys suites (test_gkeys, test_gkeys_life)
 * share: the stack (the broker, caisson-gateway-keys and a stand-in
 * `gateway` instance `gw-test`, so reservations naming it are not
 * orphans), and requests as users, operators and the gateway send them.
 * Prices make cost easy to count: every replay model's input is free and
 * its output costs $1 per million tokens, 1000 nano-USD a token. */
#ifndef GKEYS_UTIL_H
#define GKEYS_UTIL_H

#include "support.h"
#include "vkey.h"

#include <limits.h>

#define NUSD_PER_TOKEN 1000

extern const char *s_dir, *s_name;      /* s_name: the test directory's, set before setup */
extern char s_self[PATH_MAX];
extern pid_t s_bus, s_keys, s_gateway;
extern bus_client_t *s_c;               /* requests time out after 5 s, retried once */
extern const char *const s_env[];       /* gateway-keys' settings */

/* A new message of type as user (op: an operator's, or a service's). */
proto_msg_t *msg_as (proto_type_t type, const char *user, bool op);
/* Sends req (consumed) to gateway-keys; the reply (asserted). */
proto_msg_t *ask (proto_msg_t *req);
/* Asserts rep (consumed) is an error with code. */
void expect_error (proto_msg_t *rep, const char *code);
/* Starts caisson-gateway-keys and waits until it answers; its pid. */
pid_t start_keys (void);

/* What a gkey.create asks for (0 or NULL: not given). */
typedef struct {
    const char *kind, *window, *sandbox, *models;   /* models: JSON text */
    uint64_t rpm, tpm, btok, bnusd, expires;
} kopt_t;

/* gkey.create for user, sent as `as` (op: as an operator); the reply. */
proto_msg_t *create (const char *as, bool op, const char *user, const kopt_t *o);
/* A new key of user's (made by user, or by an operator when op): its
 * secret (one of 8 static slots) and its id, checked against the hash. */
const char *mk_key (const char *user, bool op, const kopt_t *o, char id[VKEY_ID_SIZE]);
/* A gkey.reserve of call with key for replay/demo, from gateway gw (NULL:
 * gw-test). */
proto_msg_t *reserve_msg (const char *key, const char *call, uint64_t in, uint64_t out,
                          bool capped, const char *gw);
/* Reserves for a new call (its id written into call when not NULL); the
 * gkey.grant (asserted). */
proto_msg_t *reserve (const char *key, char *call, uint64_t in, uint64_t out, bool capped,
                      const char *gw);
/* A gkey.settle of call, outcome ok, and the nano-USD charged for it. */
proto_msg_t *settle_msg (const char *call, uint64_t in, uint64_t out);
uint64_t settle (const char *call, uint64_t in, uint64_t out);
/* Scope label's counters in user's usage (new reference), and one of them. */
json_t *scope (const char *user, const char *label);
/* The same from the usage of key_id's chain (NULL: the user's). */
json_t *scope_in (const char *user, const char *key_id, const char *label);
uint64_t count_of (const char *user, const char *label, const char *field);
/* `what.name` (one of 4 static slots). */
char *label_of (const char *what, const char *name);

/* A stand-in event-log: appends `call late` per spend.append to
 * DATA/spend.txt and acknowledges it; anything else is unknown. */
proto_msg_t *gku_fake_eventlog (const proto_msg_t *req, void *arg);
/* The group setup and teardown: the stack up, and down cleanly. */
int gku_setup (void **state);
int gku_teardown (void **state);
/* In main, first: plays the part argv[1] names (fake-eventlog,
 * fake-gateway) and returns its exit status, else -1. */
int gku_child (int argc, char **argv);

#endif
