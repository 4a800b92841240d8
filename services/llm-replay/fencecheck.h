/* fencecheck: the scripted model's own reading of the fenced data blocks
 * a request carries (libcommon/fence.h gives the format), for a cassette
 * turn's `expect.fenced`. It is written apart from the code that makes
 * fences, so a test of the orchestrator's fencing checks it against an
 * independent reader, as a model would meet it. */
#ifndef CAISSON_FENCECHECK_H
#define CAISSON_FENCECHECK_H

#include <jansson.h>

/* Checks the user messages of conversation ([{role, content}]) against
 * want ({kind, contains?: [text], absent?: true}): with absent, no block
 * of kind; otherwise exactly one, well formed (every line inside starts
 * with "| ", the closing line names the opening's nonce, no "<<" inside),
 * every contains text inside it (lines taken without their "| ") and none
 * of them anywhere outside a block; and no closing marker anywhere that
 * closes no open block. NULL when all hold, else a new message saying
 * what did not. */
char *fencecheck (const json_t *conversation, const json_t *want);

#endif
