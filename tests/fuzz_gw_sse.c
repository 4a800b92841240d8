/* fuzz_gw_sse: libFuzzer target for the gateway's SSE reader (gw_sse).
 * The first byte picks the protocol, whether the usage chunk is withheld
 * and a piece size; the rest is the answer, fed in those pieces. What
 * comes out is always the input, byte for byte, but for the one withheld
 * event, which only a withholding reader drops. */
#include "gw_sse.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    llm_proto_t proto = data[0] & 1 ? LLM_ANTHROPIC : LLM_OPENAI;
    bool withhold = data[0] & 2;
    size_t piece = (size_t) (data[0] >> 2) + 1, len = size - 1;
    const char *in = (const char *) data + 1;
    gw_sse_t *s = gw_sse_new (proto, withhold);
    char *out = malloc (len + 1);
    if (!s || !out)
        abort ();
    size_t olen = 0;
    bool done = false;
    for (size_t at = 0; !done;) {
        if (at < len) {
            size_t n = len - at < piece ? len - at : piece;
            if (gw_sse_feed (s, in + at, n))
                abort ();
            at += n;
        }
        else {
            gw_sse_finish (s);
            done = true;
        }
        size_t r;
        const char *p = gw_sse_ready (s, &r);
        if (olen + r > len)
            abort ();
        memcpy (out + olen, p, r);
        olen += r;
        gw_sse_consume (s, r);
    }
    if (gw_sse_held (s))
        abort ();
    if (!gw_sse_withheld (s) && (olen != len || memcmp (out, in, len)))
        abort ();
    if (gw_sse_withheld (s)) {
        /* one cut: a common prefix and a common suffix make up the output */
        size_t pre = 0;
        while (pre < olen && out[pre] == in[pre])
            pre++;
        if (memcmp (out + pre, in + len - (olen - pre), olen - pre))
            abort ();
    }
    gw_sse_destroy (&s);
    free (out);
    return 0;
}
