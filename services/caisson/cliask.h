/* cliask: how a CLI command asks a service over the bus and says, on
 * stderr, why an answer is not one: the one wording every command uses
 * ("<service> did not answer at <bus>", "<code>: <message>"). */
#ifndef CAISSON_CLIASK_H
#define CAISSON_CLIASK_H

#include "bus_client.h"

/* Prints why rep is not service's answer: NULL, service did not answer
 * at CAISSON_BUS; an error, its code and message. Returns 0 when rep is
 * an answer (nothing printed), else 1. service names it in the message
 * ("event-log", "the orchestrator"). */
int cliask_report (const char *service, const proto_msg_t *rep);

/* Sends req (taken; NULL sends nothing) to service through c: its reply
 * when it is not an error, else NULL with the reason printed
 * (cliask_report). */
proto_msg_t *cliask (bus_client_t *c, const char *service, proto_msg_t *req);

#endif
