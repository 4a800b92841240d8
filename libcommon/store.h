/* store: LMDB helpers shared by the services that keep data.
 *
 * One environment per service data directory, with its named databases
 * opened once at start. Writes go through store_write, one transaction per
 * batch (the caller drains what is queued into one call), which handles a
 * full map by growing it and running the batch again, so a full map never
 * half-applies a batch; past the configured maximum the batch fails whole
 * with MDB_MAP_FULL and nothing stored before is touched.
 *
 * A store may be used from several threads (e.g. a writer thread and the
 * service loop reading): growing the map waits until no transaction of the
 * process is open, as LMDB requires. */
#ifndef CAISSON_STORE_H
#define CAISSON_STORE_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_MAX_DBS 32

typedef struct _store_t store_t;

/* Writes (or reads, for store_read) inside txn; returns 0 or an LMDB error
 * code. A write function may be run more than once (after a map resize):
 * it must not keep effects outside the transaction from a failed run. */
typedef int (store_fn) (MDB_txn *txn, void *arg);

/* Opens or creates the environment in dir (created if missing) with the
 * named databases. map_bytes is the initial map size, max_bytes the most
 * it may grow to; env_flags are extra mdb_env_open flags (e.g.
 * MDB_NOMETASYNC). Returns NULL with the reason logged. */
store_t *store_new (const char *dir, const char *const names[], size_t count,
                    uint64_t map_bytes, uint64_t max_bytes, unsigned env_flags);
void store_destroy (store_t **self_p);

/* The database opened for names[index]. */
MDB_dbi store_dbi (store_t *self, size_t index);

/* Runs fn in one write transaction and commits it. Returns 0 or -1; on -1
 * store_error tells the LMDB code (MDB_MAP_FULL when the map may not grow
 * further). */
int store_write (store_t *self, store_fn *fn, void *arg);

/* Runs fn in a read-only transaction. Returns 0 or -1 as store_write. */
int store_read (store_t *self, store_fn *fn, void *arg);

/* Flushes committed transactions to disk (for environments opened with
 * MDB_NOSYNC or MDB_NOMETASYNC). Returns 0 or -1 with store_error set. */
int store_sync (store_t *self);

/* The LMDB code of the calling thread's last failure, and the current map
 * size. */
int store_error (store_t *self);
uint64_t store_map_size (store_t *self);

#endif
