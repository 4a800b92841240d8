/* tools_standin: the replies of a stand-in tool-runner (a support_serve
 * handler in a test), so the suites that fake the tools build them one
 * way: a catalogue of named tools, and a successful call's result. */
#ifndef CAISSON_TEST_TOOLS_STANDIN_H
#define CAISSON_TEST_TOOLS_STANDIN_H

#include "proto.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The tools.catalogue answering req: the n tools names, each described
 * as desc_prefix followed by its name, taking an object, and only the one
 * at mutating (-1: none) marked as mutating. */
proto_msg_t *standin_catalogue (const proto_msg_t *req, const char *const names[], size_t n,
                                const char *desc_prefix, int mutating);

/* The tools.result answering the tools.call req: ok, with result
 * (consumed), as taking duration_us. */
proto_msg_t *standin_result (const proto_msg_t *req, json_t *result, uint64_t duration_us);

#endif
