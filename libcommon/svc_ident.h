/* svc_ident: a process's identity that outlives the process.
 *
 * An instance id names a process on the bus (`service.instance`), and
 * through it what it owns: the runs it started, the sandboxes it made
 * (their ids carry it). So a process restarted on the same data dir must
 * come back under the same id. The data dir keeps the ids, one file per
 * slot: DATA/<service>/instance, then instance-2, instance-3, ... Each
 * holds a random id written once (mode 0600); a process takes the first
 * slot no live process holds (a flock for as long as it runs), so two
 * processes of one service on one data dir (replicas sharing a volume)
 * get two ids, each the same after a restart.
 *
 * And a store some services must not share: svc_ident_lock_dir takes a
 * directory for one process alone (a lock file in it, with its pid). */
#ifndef CAISSON_SVC_IDENT_H
#define CAISSON_SVC_IDENT_H

#include <stddef.h>

#define SVC_IDENT_SLOTS 64
#define SVC_IDENT_LEN 8

/* Fills id (64 bytes) with the instance id kept in data for service, from
 * the first slot no other process holds, making that slot's file when it
 * is missing. *fd receives the slot's file, locked, close-on-exec: the
 * caller keeps it open as long as it uses the id. Returns the slot (1 for
 * `instance`), or -1 writing why into err. */
int svc_ident_keep (const char *data, const char *service, char id[64], int *fd, char *err,
                    size_t errlen);

/* Locks the slot of service in data whose file holds id, for a process
 * that takes over what that id owned (sandbox-manager's adoption): while
 * it holds the slot, a process of the service started on data takes
 * another slot, so another id. Returns the locked file's descriptor
 * (close-on-exec), -2 when no slot holds id, or -1 when a live process
 * holds it (or it cannot be opened). */
int svc_ident_hold (const char *data, const char *service, const char *id);

/* Fills id (64 bytes) with the host name's letters and digits,
 * lower-cased (CAISSON_INSTANCE=@hostname): a container's host name
 * survives its restarts, though not its re-creation. */
void svc_ident_hostname (char id[64]);

/* Makes dir (and its parents, mode 0700) and locks dir/lock for this
 * process, writing its pid there. Returns the locked file's descriptor
 * (close-on-exec; closing it releases the lock), or -1 writing why into
 * err: when another process holds it, err names that pid. */
int svc_ident_lock_dir (const char *dir, char *err, size_t errlen);

#endif
