/* vkey: virtual keys of the model gateway (docs/gateway.md).
 *
 * A virtual key reads `vk_<user>_<40 hex>` (160 random bits). User names
 * hold no '_' (letters, digits, '.', '@', '-'), so the owner is read back
 * without a lookup, for logs and errors only: the key itself is checked
 * by its sha256 against gateway-keys' store, which alone says whose it
 * is. The secret is never stored or logged; its id (the first 12 hex of
 * the hash) names it everywhere else. */
#ifndef CAISSON_VKEY_H
#define CAISSON_VKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VKEY_HEX 40
/* Room for the longest key (a 128-byte user) and its NUL. */
#define VKEY_SIZE (3 + 128 + 1 + VKEY_HEX + 1)
#define VKEY_ID_SIZE 13

/* Writes a new key for user into out (n bytes, at least VKEY_SIZE).
 * 0, or -1 when user is not a valid user name or randomness fails. */
int vkey_make (const char *user, char *out, size_t n);

/* True when s has a virtual key's shape (it may still be unknown). */
bool vkey_looks (const char *s);

/* Writes the user part of key s into user (un bytes). false when s does
 * not look like a key or user is too small. */
bool vkey_user (const char *s, char *user, size_t un);

/* sha256 of the key's bytes: what the store keeps and reserve sends. */
void vkey_hash (const char *key, uint8_t hash[32]);

/* The key's id: the first 12 hex digits of its hash. */
void vkey_id (const uint8_t hash[32], char id[VKEY_ID_SIZE]);

#endif
