/* sbx_registry: sandbox metadata in LMDB ($CAISSON_DATA/sandbox-manager),
 * one JSON record per sandbox id, so a restarted manager knows its
 * sandboxes (status, owner, limits, host uid, init pid, restarts). */
#ifndef CAISSON_SBX_REGISTRY_H
#define CAISSON_SBX_REGISTRY_H

#include <jansson.h>

typedef struct _sbx_registry_t sbx_registry_t;

sbx_registry_t *sbx_registry_new (const char *data_dir);
void sbx_registry_destroy (sbx_registry_t **self_p);

/* Stores rec under id, replacing what was there. Returns 0 or -1. */
int sbx_registry_put (sbx_registry_t *self, const char *id, const json_t *rec);
int sbx_registry_del (sbx_registry_t *self, const char *id);

/* Calls fn for every stored record (rec borrowed). Returns 0 or -1. */
int sbx_registry_each (sbx_registry_t *self, void (*fn) (const char *id, json_t *rec, void *arg),
                       void *arg);

#endif
