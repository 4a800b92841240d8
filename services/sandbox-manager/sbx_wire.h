/* sbx_wire: how sandbox-manager and a sandbox's init talk over their Unix
 * socket. A frame is a 4-byte big-endian length and one encoded proto
 * message, so both ends reuse the bus's codec and validation. The reader
 * side is incremental for a non-blocking socket in a poll loop. */
#ifndef CAISSON_SBX_WIRE_H
#define CAISSON_SBX_WIRE_H

#include "proto.h"

typedef struct _sbx_wire_t sbx_wire_t;

/* A reader and writer over fd (borrowed; the caller closes it). */
sbx_wire_t *sbx_wire_new (int fd);
void sbx_wire_destroy (sbx_wire_t **self_p);

/* Encodes and sends msg whole, blocking until written. Returns 0 or -1. */
int sbx_wire_send (sbx_wire_t *self, const proto_msg_t *msg);

/* Reads what the socket holds. Returns 0, or -1 on end of stream or a
 * read error (the peer is gone). */
int sbx_wire_fill (sbx_wire_t *self);

/* The next complete message read, or NULL when none is whole yet. A frame
 * that does not decode is dropped and *bad set. */
proto_msg_t *sbx_wire_next (sbx_wire_t *self, int *bad);

#endif
