/* client_tools: the caller's own tools (AG-UI's front-end tools) that a
 * run.start may offer the model besides tool-runner's catalogue. The
 * caller runs them itself; the run waits for run.tool_result.
 *
 * A list has at most 32 tools; a name matches ^[A-Za-z][A-Za-z0-9_-]{0,63}$
 * without "__" (the wire encoding of "."), appears once, and is not a
 * catalogue tool (the model could not tell them apart, and a call would
 * go to the wrong side); `parameters` is a JSON schema of type object. */
#ifndef CAISSON_CLIENT_TOOLS_H
#define CAISSON_CLIENT_TOOLS_H

#include <jansson.h>
#include <stddef.h>

/* The client tools of a run.start (list decoded from msgpack) as the
 * model sees them (new): [{name, description?, inputSchema}]. NULL, with
 * why naming the bad field, when one is malformed or repeated, or is a
 * tool of catalogue ([{name, ...}], when loaded; may be NULL). */
json_t *client_tools_check (const json_t *list, const json_t *catalogue, char *why,
                            size_t whylen);

/* -1, with why naming the first client tool that is also a catalogue
 * tool, else 0. */
int client_tools_clash (const json_t *client, const json_t *catalogue, char *why, size_t whylen);

/* run.start's tool_call (decoded) checked (new): {name, args}, name one
 * of catalogue's tools (when loaded; NULL: checked once it is), args a
 * map ({} when absent). NULL with why naming the bad field. */
json_t *client_tools_call_check (const json_t *call, const json_t *catalogue, char *why,
                                 size_t whylen);

/* The tool of tools ([{name, ...}], may be NULL) named name (borrowed),
 * or NULL. */
json_t *client_tools_find (const json_t *tools, const char *name);

#endif
