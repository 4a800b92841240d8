/* mdp: the frames of Caisson's request bus, shared by the broker, the
 * client and the worker.
 *
 * This is ZeroMQ RFC 7 (MDP/0.1) with four documented departures (see
 * docs/architecture.md): clients use DEALER, not REQ, so they may pipeline;
 * READY carries the worker's instance id and credit after the service name;
 * the broker keeps up to `credit` requests in flight per worker rather than
 * one; and the broker itself answers requests to the service `bus`.
 *
 *   client -> broker  [""][MDPC01][service][body]
 *   broker -> client  [""][MDPC01][service][body]
 *   worker -> broker  [""][MDPW01][READY][service][instance][credit]
 *                     [""][MDPW01][REPLY][client][""][body]
 *                     [""][MDPW01][HEARTBEAT] | [DISCONNECT]
 *   broker -> worker  [""][MDPW01][REQUEST][client][""][body]
 *                     [""][MDPW01][HEARTBEAT] | [DISCONNECT]
 *
 * body is one proto message (proto.h). */
#ifndef CAISSON_MDP_H
#define CAISSON_MDP_H

#define MDP_CLIENT "MDPC01"
#define MDP_WORKER "MDPW01"

#define MDP_READY      "\001"
#define MDP_REQUEST    "\002"
#define MDP_REPLY      "\003"
#define MDP_HEARTBEAT  "\004"
#define MDP_DISCONNECT "\005"

/* The service name the broker answers for itself. */
#define MDP_BROKER_SERVICE "bus"

/* Longest service name, instance-addressed form included. */
#define MDP_MAX_SERVICE 128

#endif
