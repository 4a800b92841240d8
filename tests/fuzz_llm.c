/* fuzz_llm: libFuzzer target for the model stream parsers. The first byte
 * picks the protocol and where the body is cut in two; the rest is the
 * body. Any bytes must end in a complete turn or an error with a reason;
 * a complete turn's tool calls all have names. */
#include "llm.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    llm_proto_t proto = data[0] & 1 ? LLM_ANTHROPIC : LLM_OPENAI;
    const char *body = (const char *) data + 1;
    size_t len = size - 1, cut = len ? (data[0] >> 1) % (len + 1) : 0;
    llm_stream_t *s = llm_stream_new (proto, NULL, NULL);
    if (!s)
        abort ();
    int rc = llm_stream_feed (s, body, cut);
    if (rc == 0)
        rc = llm_stream_feed (s, body + cut, len - cut);
    if (rc == 0)
        rc = llm_stream_finish (s);
    llm_turn_t *t = llm_stream_turn (s);
    if (rc != 0 && !t->error[0])
        abort ();
    if (rc == 0)
        for (size_t i = 0; i < t->ncalls; i++)
            if (!t->calls[i].name)
                abort ();
    llm_stream_destroy (&s);
    return 0;
}
