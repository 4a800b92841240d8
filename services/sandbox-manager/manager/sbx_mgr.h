/* sbx_mgr: the manager's sandboxes. Each sandbox is a JSON record (kept in
 * sbx_registry) and, while it runs, a connection to its init. sbx_host.c
 * starts, connects, heals and destroys sandboxes; handler.c answers the
 * bus requests with them. */
#ifndef CAISSON_SBX_MGR_H
#define CAISSON_SBX_MGR_H

#include <czmq.h>
#include <jansson.h>
#include <limits.h>

#include "sandbox_id.h"
#include "sbx_registry.h"
#include "sbx_wire.h"
#include "svc.h"

typedef struct _sbx_egress_t sbx_egress_t;
typedef struct _sbx_gkey_t sbx_gkey_t;

/* A registry this manager serves: its own, or one it adopted (sbx_adopt.h). */
typedef struct {
    char instance[64];          /* the instance its sandbox ids name */
    char dir[PATH_MAX];
    sbx_registry_t *reg;
    uint64_t uid_first, uid_count;  /* its host uid range */
    uint64_t next_uid;          /* where the search for a free uid starts */
    int lock_fd, slot_fd;       /* adopted: its lock; its instance's slot, or -1 */
    bus_worker_t *worker;       /* adopted: serves sandbox-manager.<instance> */
} sbx_home_t;

typedef struct {
    svc_t *svc;
    sbx_home_t own;             /* this instance's registry */
    zlistx_t *adopted;          /* sbx_home_t *, adopted registries */
    zlistx_t *retired;          /* bus_worker_t *, of registries let go */
    /* When it may first adopt (ms since the epoch): a lease after it
     * started, so that after a whole deployment was down the other
     * managers, starting too, take back their own registries first. */
    uint64_t adopt_from;
    zhashx_t *boxes;            /* id -> box_t, of every registry served */
    zhashx_t *pending;          /* request id -> pend_t */
    char data[512];             /* $CAISSON_DATA */
    char initbin[4096];         /* caisson-sandbox-init beside this binary */
    size_t foreign;             /* records of other instances, left alone */
    zlistx_t *graves;           /* ids of destroyed sandboxes still to clean up */
    /* request ids cancelled before they arrived (exec.cancel can overtake
     * its exec: the two come from different connections); a ring */
    char cancelled[64][SANDBOX_ID_SIZE + 1 + 64 + 1];  /* "<sandboxId> <request>" */
    unsigned cancelled_next;
    sbx_egress_t *egress;       /* egress-proxy, for network mode policy (sbx_egress.h) */
    sbx_gkey_t *gkey;           /* gateway-keys, for sandboxes' model keys (sbx_gkey.h) */
    size_t net_waiting;         /* requests answered once egress-proxy or gateway-keys has */
} sbx_mgr_t;

typedef struct {
    char id[SANDBOX_ID_SIZE];
    json_t *rec;                /* the record, as stored */
    sbx_mgr_t *mgr;
    sbx_home_t *home;           /* the registry that keeps its record */
    sbx_wire_t *wire;
    int fd;                     /* connection to init, or -1 */
    int spawn_fd;               /* the helper's pipe while it starts, or -1 */
    pid_t spawn_pid;            /* the helper, while spawn_fd is open */
    char net_run[32];           /* policy: the run last told to egress-proxy */
    char net_corr[32];          /* and its correlation id */
} box_t;

/* Starts box's init (fresh, or again after a death) and connects to it.
 * Returns 0, or -1 with the record's status set to broken and reason. */
int sbx_host_spawn (box_t *box);
/* The same without waiting: the helper's word is read from the loop, and
 * the sandbox becomes ready then (the warm pool's refill). Returns 0 or -1. */
int sbx_host_spawn_async (box_t *box);
/* Completes a started spawn now (waiting for the helper). Returns 0 or -1. */
int sbx_host_spawn_finish (box_t *box);
/* Sends box's init its defaults: language, network mode and the
 * environment of its processes (sbx_egress_env). Returns 0 or -1. */
int sbx_host_configure (box_t *box);
/* Reconnects to a running init after a manager restart. Returns 0 or -1. */
int sbx_host_connect (box_t *box);
/* Kills every process, deletes the workspace and the record, and frees
 * box (removing it from the table). */
void sbx_host_destroy (box_t *box);
/* Removes the cgroups and directories of destroyed sandboxes whose
 * processes are all gone (run from a timer, so destroy answers at once). */
void sbx_host_bury (sbx_mgr_t *m);
/* Closes the connection without touching the sandbox (manager shutdown),
 * except an unclaimed pooled one, which is destroyed. */
void sbx_host_release (box_t *box);
/* Stores box's record and publishes it on `sandbox.<id>.status`. */
void sbx_host_save (box_t *box);
/* Sends req to box's init and takes its reply slot. Returns BUS_DEFERRED,
 * or an error reply. */
proto_msg_t *sbx_host_forward (box_t *box, const proto_msg_t *req);
/* True when request (an envelope id) was forwarded to box's init and is
 * not answered yet. */
bool sbx_host_pending (box_t *box, const char *request);
/* True when a forwarded request waits for its answer through worker (or
 * any request waits for egress-proxy: its worker is not known here). */
bool sbx_host_awaits (sbx_mgr_t *m, const bus_worker_t *worker);
/* A `sandbox.info` for box, as the reply to req (NULL: an event). */
proto_msg_t *sbx_host_info (box_t *box, const proto_msg_t *req);

/* Takes back home's stored sandboxes (main.c): the records of its
 * instance, as a restart does; others are left alone (counted in foreign). */
void sbx_mgr_load (sbx_mgr_t *m, sbx_home_t *home);

/* Bus requests (handler.c): one row per request type, for svc_def_t. */
extern const bus_route_t sbx_routes[];
/* sandbox.create (sbx_create.c): its reply, or BUS_DEFERRED. */
proto_msg_t *sbx_create (sbx_mgr_t *m, const proto_msg_t *req);
/* Starts one warm-pool sandbox (default limits, unclaimed) unless the pool
 * is full or a start is under way. Returns 1 started, 0 nothing to do, -1
 * the start failed. */
int sbx_pool_fill (sbx_mgr_t *m);

#endif
