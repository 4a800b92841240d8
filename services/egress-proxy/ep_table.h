/* ep_table: the egress proxy's sandboxes (boxes), by sandbox id, and
 * their persistence.
 *
 * A box is immutable once made (a policy or context change makes a new
 * one), refcounted, so the data thread keeps using the box it holds while
 * the control thread swaps in a new one. Only its counters change: they
 * are atomic and shared by every box of the same sandbox, so a policy
 * replace keeps them. The table itself is the control thread's alone; it
 * keeps each box's spec (the JSON of its egress.policy.set) in LMDB so a
 * restarted proxy listens again for every box. */
#ifndef CAISSON_EP_TABLE_H
#define CAISSON_EP_TABLE_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>
#include "egress_rule.h"

typedef struct {
    atomic_int refs;
    atomic_uint_fast64_t open, total, refused, bytes_up, bytes_down;
} ep_counters_t;

typedef struct {
    atomic_int refs;
    char id[97];
    uint64_t uid;
    egress_rules_t *allow, *deny;
    uint64_t max_conns, bytes_per_min;
    char run[27], corr[65], owner[129];
    ep_counters_t *ctr;
    json_t *spec;               /* what it was made from (kept in LMDB) */
} ep_box_t;

/* A new box from spec ({sandbox_id, uid, allow, deny, max_conns,
 * bytes_per_min, run, corr, owner}, borrowed); limits of 0 take the
 * configured defaults; ctr (may be NULL: new counters) is shared. NULL
 * with why set when a rule does not parse. */
ep_box_t *ep_box_new (const json_t *spec, const egress_presets_t *presets, ep_counters_t *ctr,
                      char *why, size_t n);
ep_box_t *ep_box_ref (ep_box_t *self);
void ep_box_unref (ep_box_t **self_p);
/* How many allow and deny rules the box holds. */
uint64_t ep_box_rules (const ep_box_t *self);

typedef struct _ep_table_t ep_table_t;

/* Opens the table's LMDB store in dir. NULL (logged) on failure. */
ep_table_t *ep_table_new (const char *dir);
void ep_table_destroy (ep_table_t **self_p);
/* The box of id (borrowed), or NULL. */
ep_box_t *ep_table_get (ep_table_t *self, const char *id);
/* Stores box (the table takes it) under its id, replacing any, and
 * persists its spec. 0, or -1 when the store write failed (table
 * unchanged, box released). */
int ep_table_put (ep_table_t *self, ep_box_t *box);
/* Forgets id in memory and in the store. */
void ep_table_drop (ep_table_t *self, const char *id);
/* Each stored spec, in id order: a new JSON array (caller's). */
json_t *ep_table_stored (ep_table_t *self);

#endif
