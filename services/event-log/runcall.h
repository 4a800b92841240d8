/* runcall: a gateway call that names a run shows in that run (issue 16).
 * When event-log stores the spend record of a call made with a sandbox's
 * or a user's virtual key naming a run, it appends a `model_call` event to
 * that run, in the same write transaction as the record, so a record
 * stored once appends once. Only a run that exists and is the record's
 * user's gets one; the run record counts every such call (`modelCalls`)
 * and only the first CAISSON_GATEWAY_RUN_EVENTS_MAX become events, so a
 * flood of calls cannot grow a transcript without bound. The run's own
 * calls (its `run` key) are `usage` events and get none. */
#ifndef CAISSON_RUNCALL_H
#define CAISSON_RUNCALL_H

#include "elog.h"

typedef struct {
    bool appended;              /* an event was stored: publish it */
    char run[ELOG_RUN_KEY + 1];
    char user[129];             /* the run's */
    uint64_t seq, run_seq;
    proto_bytes_t data;         /* the event's data (msgpack), owned */
} runcall_t;

/* Inside the write transaction storing spend record rec (not a duplicate):
 * appends rec's model_call to the run it names when it should (above), at
 * most max per run. Fills *out (appended false when none; zeroed by the
 * caller before the first try). Returns 0 or an LMDB code (the
 * transaction then fails; free out->data.data). */
int runcall_add (MDB_txn *txn, elog_t *el, const json_t *rec, uint64_t max, runcall_t *out);

/* After the commit: publishes out's event (when appended) on
 * `run.<run>.model_call` as the run's user, then releases out's data. */
void runcall_publish (elog_t *el, const proto_msg_t *cause, runcall_t *out);

#endif
