/* sandbox_id: the one place that makes and reads sandbox ids.
 *
 * A sandbox's id names the sandbox-manager instance that made it, so that
 * any service (tool-runner, ui-bridge, the CLI) can address
 * `sandbox-manager.<instance>` from the id alone, and a manager can tell
 * another's sandbox from one that does not exist. An id reads
 * `<instance>-<token>`:
 *   instance  the manager's instance id: 1..SANDBOX_ID_INSTANCE_MAX
 *             letters, digits, '-' or '_' (no '.': `sandbox-manager.a.b`
 *             would address some other service's instance);
 *   token     1..SANDBOX_ID_TOKEN_MAX lowercase letters and digits (new
 *             ids get SANDBOX_ID_TOKEN_LEN random ones); no '-', so the
 *             last '-' is the split.
 * Anything else is not a sandbox id: a reader refuses it rather than
 * guessing an address from it. */
#ifndef CAISSON_SANDBOX_ID_H
#define CAISSON_SANDBOX_ID_H

#include <stdbool.h>
#include <stddef.h>

#define SANDBOX_ID_INSTANCE_MAX 63
#define SANDBOX_ID_TOKEN_MAX 31
#define SANDBOX_ID_TOKEN_LEN 12
/* Room for the longest id and its NUL. */
#define SANDBOX_ID_SIZE (SANDBOX_ID_INSTANCE_MAX + 1 + SANDBOX_ID_TOKEN_MAX + 1)

/* Writes a new id for a sandbox of instance into out. Returns 0, or -1
 * (out empty) when instance cannot name a sandbox-manager in an id. */
int sandbox_id_new (const char *instance, char out[SANDBOX_ID_SIZE]);

/* True when id is one well-formed sandbox id. */
bool sandbox_id_valid (const char *id);

/* Writes id's instance into out (len bytes). Returns 0, or -1 (out empty,
 * when len > 0) when id is not a sandbox id or out is too small. */
int sandbox_id_instance (const char *id, char *out, size_t len);

/* True when id is a sandbox id made by instance. */
bool sandbox_id_of (const char *id, const char *instance);

#endif
