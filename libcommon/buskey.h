/* buskey: the bus's CURVE keys, one keypair per role.
 *
 * Every bus socket is encrypted and authenticated with ZeroMQ CURVE
 * (docs/architecture.md, "Bus authentication"). The broker's sockets are
 * CURVE servers holding the `bus` secret key; every other socket is a CURVE
 * client holding the secret key of its process's role (a service's name,
 * or `client` for the CLI, tests and benches) and the broker's public key.
 * The broker admits a connection only when its public key is one of the
 * files in the key directory, and names it by that file.
 *
 * The keys live in one directory (CAISSON_BUS_KEYS, else DATA/keys), 0700,
 * in czmq's zcert format: `<role>.key` (public) and `<role>.key_secret`
 * (0600). `caisson up` and the tests create missing ones (buskey_create);
 * a process whose key is missing refuses to start, naming the file, unless
 * CAISSON_BUS_CURVE=0 asks for plain ZeroMQ (with a warning). */
#ifndef CAISSON_BUSKEY_H
#define CAISSON_BUSKEY_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>

/* The role of operator clients: the CLI, tests and benches. */
#define BUSKEY_CLIENT "client"
/* The broker's role: its public key is every client's server key. */
#define BUSKEY_BUS "bus"

/* True unless CAISSON_BUS_CURVE is 0. */
bool buskey_curve (void);

/* The key directory: CAISSON_BUS_KEYS, else $CAISSON_DATA/keys. */
void buskey_dir (char *out, size_t outlen);

/* True when name is a service of the stack, whose requests only the
 * holder of that service's key may serve. */
bool buskey_is_service (const char *name);

/* The role this process's bus sockets use unless told otherwise. Until
 * set, CAISSON_BUS_ROLE (default `client`): a command run inside a
 * service's container, whose key directory holds that service's secret
 * only, uses that service's key. svc_main sets the service's name, the
 * broker `bus`. */
void buskey_set_role (const char *role);

/* Makes dir (0700) and every role's keypair that is missing in it (secret
 * files 0600). Existing keys are kept: rotation is deleting them, then
 * `caisson up` (or this) and a restart. Returns 0, or -1 with the reason
 * written into err. */
int buskey_create (const char *dir, char *err, size_t errlen);

/* Loads role's keypair from the key directory. NULL when it cannot, with
 * the reason, naming the file, written into err. */
zcert_t *buskey_load (const char *role, char *err, size_t errlen);

/* Makes sock a CURVE server (bind) or client (connect) of the bus, with
 * role's key (NULL: the process's role). Does nothing when
 * buskey_curve() is false. Returns 0, or -1 with the reason written into
 * err. Call before the socket binds or connects. */
int buskey_apply (zsock_t *sock, bool bind, const char *role, char *err, size_t errlen);

/* The ZAP domain the broker's sockets use. */
#define BUSKEY_ZAP_DOMAIN "caisson"

#endif
