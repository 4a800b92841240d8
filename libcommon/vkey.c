/* vkey: virtual keys of the model gateway. See vkey.h. */
#include "vkey.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#define USER_MAX 128

/* A user name as the stack spells them: [A-Za-z0-9._@-], 1 to 128 bytes
 * (no '_', which ends the user part of a key). */
static size_t
user_len (const char *s)
{
    size_t n = 0;
    while (n <= USER_MAX && s[n]
           && ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z')
               || (s[n] >= '0' && s[n] <= '9') || strchr (".@-", s[n])))
        n++;
    return n <= USER_MAX ? n : 0;
}

int
vkey_make (const char *user, char *out, size_t n)
{
    uint8_t rnd[VKEY_HEX / 2];
    if (!user || n < VKEY_SIZE)
        return -1;
    size_t un = user_len (user);
    if (!un || user[un])
        return -1;
    size_t got = 0;
    while (got < sizeof rnd) {
        ssize_t r = getrandom (rnd + got, sizeof rnd - got, 0);
        if (r <= 0)
            return -1;
        got += (size_t) r;
    }
    int off = snprintf (out, n, "vk_%s_", user);
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf (out + off + 2 * i, 3, "%02x", rnd[i]);
    return 0;
}

bool
vkey_looks (const char *s)
{
    if (!s || strncmp (s, "vk_", 3))
        return false;
    size_t un = user_len (s + 3);
    if (!un || s[3 + un] != '_')
        return false;
    const char *hex = s + 3 + un + 1;
    for (size_t i = 0; i < VKEY_HEX; i++)
        if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
            return false;
    return hex[VKEY_HEX] == '\0';
}

bool
vkey_user (const char *s, char *user, size_t un)
{
    if (!vkey_looks (s))
        return false;
    size_t n = user_len (s + 3);
    if (n >= un)
        return false;
    memcpy (user, s + 3, n);
    user[n] = '\0';
    return true;
}

void
vkey_hash (const char *key, uint8_t hash[32])
{
    SHA256 ((const unsigned char *) key, strlen (key), hash);
}

void
vkey_id (const uint8_t hash[32], char id[VKEY_ID_SIZE])
{
    for (int i = 0; i < 6; i++)
        snprintf (id + 2 * i, 3, "%02x", hash[i]);
}
