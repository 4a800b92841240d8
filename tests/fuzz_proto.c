/* fuzz_proto: libFuzzer target for the message decoder (`make fuzz`).
 *
 * Any bytes must either decode or be refused with a code and a message;
 * a message that decodes must encode again, and that encoding must decode
 * to the same type and envelope and re-encode to the very same bytes.
 * Sanitizers (address, undefined) turn memory and arithmetic faults into
 * crashes; anything else wrong aborts.
 *
 * Built with CAISSON_FUZZ_SEED instead, the same file is a small program
 * that writes one valid frame per message type into the directory it is
 * given, the corpus the fuzzer starts from. */
#include "proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CAISSON_FUZZ_SEED

static bool
same_str (const char *a, const char *b)
{
    return a && b ? strcmp (a, b) == 0 : a == b;
}

static bool
same_envelope (const proto_env_t *a, const proto_env_t *b)
{
    return a->v == b->v && a->ts == b->ts && same_str (a->type, b->type)
           && same_str (a->id, b->id) && same_str (a->corr, b->corr)
           && same_str (a->cause, b->cause) && same_str (a->run, b->run)
           && same_str (a->user, b->user);
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    proto_err_t err;
    proto_msg_t *msg = proto_decode (data, size, &err);
    if (!msg) {
        if (err.code < PROTO_E_TOO_BIG || err.code > PROTO_E_NOMEM || !err.text[0])
            abort ();
        return 0;
    }
    uint8_t *once, *twice;
    size_t once_len, twice_len;
    if (proto_encode (msg, &once, &once_len))
        abort ();
    proto_msg_t *again = proto_decode (once, once_len, &err);
    if (!again) {
        fprintf (stderr, "fuzz_proto: re-encoding refused: %s\n", err.text);
        abort ();
    }
    if (again->type != msg->type || !same_envelope (&again->env, &msg->env))
        abort ();
    if (proto_encode (again, &twice, &twice_len))
        abort ();
    if (twice_len != once_len || memcmp (once, twice, once_len) != 0)
        abort ();
    free (once);
    free (twice);
    proto_msg_destroy (&msg);
    proto_msg_destroy (&again);
    return 0;
}

#else

/* A small value for every field, so each seed stays far under -max_len. */
static void
fill (void *base, const proto_field_t *f)
{
    static const uint8_t item[] = { 0x92, 0x01, 0xa1, 'a' };   /* [1, "a"] */
    void *slot = (char *) base + f->offset;
    switch (f->type) {
    case PROTO_T_STR: proto_set_str (slot, "x"); break;
    case PROTO_T_BIN: proto_set_bytes (slot, "\0\1", 2); break;
    case PROTO_T_U64: *(uint64_t *) slot = 7; break;
    case PROTO_T_I64: *(int64_t *) slot = -7; break;
    case PROTO_T_BOOL: *(bool *) slot = true; break;
    case PROTO_T_ANY: proto_set_bytes (slot, item, sizeof item); break;
    }
}

int
main (int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "usage: fuzz-seed DIR\n");
        return 2;
    }
    proto_msg_t *first = proto_msg_new (PROTO_health_req, NULL);
    proto_set_str (&first->env.user, "u");
    for (int t = 0; t < PROTO_TYPE_COUNT; t++) {
        proto_msg_t *msg = proto_msg_new ((proto_type_t) t, first);
        for (const proto_field_t *f = proto_def ((proto_type_t) t)->fields; f->name; f++)
            fill (&msg->body, f);
        uint8_t *data;
        size_t size;
        char path[4096];
        snprintf (path, sizeof path, "%s/seed-%s", argv[1], proto_type_name ((proto_type_t) t));
        if (proto_encode (msg, &data, &size))
            return 1;
        FILE *out = fopen (path, "wb");
        size_t written = out ? fwrite (data, 1, size, out) : 0;
        if (!out || fclose (out) || written != size) {
            fprintf (stderr, "fuzz-seed: cannot write %s\n", path);
            return 1;
        }
        free (data);
        proto_msg_destroy (&msg);
    }
    proto_msg_destroy (&first);
    return 0;
}

#endif
