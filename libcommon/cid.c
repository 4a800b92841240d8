/* cid: time-ordered 128-bit ids in Crockford base32. See cid.h. */
#include "cid.h"

#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static void
random_bytes (uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom (buf + got, len - got, 0);
        if (n > 0)
            got += (size_t) n;
    }
}

void
cid_new (char out[CID_SIZE])
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;

    uint8_t bytes[16];
    for (int i = 0; i < 6; i++)
        bytes[i] = (uint8_t) (ms >> (40 - 8 * i));
    random_bytes (bytes + 6, 10);

    /* 128 bits as 26 groups of 5, the first group holding the top 3 bits. */
    for (int i = 0; i < CID_LEN; i++) {
        int bit = 128 - 5 * (CID_LEN - i);
        unsigned v = 0;
        for (int b = bit; b < bit + 5; b++) {
            v <<= 1;
            if (b >= 0)
                v |= (bytes[b / 8] >> (7 - b % 8)) & 1;
        }
        out[i] = alphabet[v];
    }
    out[CID_LEN] = '\0';
}

void
cid_token (char *out, size_t len)
{
    if (len > CID_LEN)
        len = CID_LEN;
    uint8_t bytes[CID_LEN];
    random_bytes (bytes, len);
    for (size_t i = 0; i < len; i++)
        out[i] = (char) (alphabet[bytes[i] & 31] | 0x20);  /* lower case */
    out[len] = '\0';
}

bool
cid_valid (const char *s)
{
    if (!s || strlen (s) != CID_LEN || s[0] > '7')
        return false;
    for (int i = 0; i < CID_LEN; i++)
        if (!strchr (alphabet, s[i]))
            return false;
    return true;
}

bool
cid_name_ok (const char *s, size_t max)
{
    size_t n = s ? strlen (s) : 0;
    if (!n || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '.' || c == '_' || c == ':' || c == '-'))
            return false;
    }
    return true;
}
