/* sbx_registry: sandbox metadata in LMDB (the manager's store directory,
 * DATA/sandbox-manager, or DATA/sandbox-manager/<instance>),
 * one JSON record per sandbox id, so a restarted manager knows its
 * sandboxes (status, owner, limits, host uid, init pid, restarts).
 *
 * Each record is sealed: stored as `<hmac> <json>`, the HMAC-SHA256 of the
 * id and the JSON under a key of this data dir (seal.key, 0600, beside
 * the store). A record changed by anything but this code (a process that
 * got hold of the store, an edit on disk) no longer matches its seal, and
 * is reported as forged rather than trusted. */
#ifndef CAISSON_SBX_REGISTRY_H
#define CAISSON_SBX_REGISTRY_H

#include <jansson.h>

typedef struct _sbx_registry_t sbx_registry_t;

/* Opens (or makes) the registry in dir, the manager's store directory. */
sbx_registry_t *sbx_registry_new (const char *dir);
void sbx_registry_destroy (sbx_registry_t **self_p);

/* Stores rec under id, replacing what was there. Returns 0 or -1. */
int sbx_registry_put (sbx_registry_t *self, const char *id, const json_t *rec);
int sbx_registry_del (sbx_registry_t *self, const char *id);

/* Calls fn for every stored record (rec borrowed): forged is NULL for a
 * record whose seal holds, else why it does not (rec is then what the
 * value holds, possibly NULL, and must not be trusted). Returns 0 or -1. */
int sbx_registry_each (sbx_registry_t *self,
                       void (*fn) (const char *id, json_t *rec, const char *forged, void *arg),
                       void *arg);

#endif
