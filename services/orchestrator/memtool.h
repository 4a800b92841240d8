/* memtool: updateWorkingMemory, the one tool the orchestrator runs
 * itself rather than tool-runner: the agent's way to change its working
 * memory (proto/memory.def), which event-log keeps. This module is what
 * the run needs to know of it, with no I/O: the tool as the model sees it,
 * its name, and the memory.put it makes (runhost sends it, through wmem). */
#ifndef CAISSON_MEMTOOL_H
#define CAISSON_MEMTOOL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define MEMTOOL_NAME "updateWorkingMemory"

/* The tool as the model sees it, {name, description, inputSchema}, telling
 * the size limit max (new). */
json_t *memtool_spec (uint64_t max);

/* True when name is the tool's. */
bool memtool_is (const char *name);

/* The fields of the memory.put a call with args (the model's) makes,
 * {mode, content?, old?, new?, version?, anyVersion?} (new), or NULL
 * with why filled when args are not the tool's. A replace is checked
 * against seen, the version the model was shown; a patch, which finds its
 * own text, against none. */
json_t *memtool_put (const json_t *args, uint64_t seen, char *why, size_t whylen);

#endif
