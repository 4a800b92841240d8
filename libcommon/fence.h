/* fence: text that memory brings into a prompt (working memory, recalled
 * messages, a client's context) as clearly labelled data, never as
 * instructions.
 *
 * A fenced block is
 *
 *     <<<caisson-data nonce=N kind=K>>>
 *     | first line of the data
 *     | second line
 *     <<<end nonce=N>>>
 *
 * N is random per fence_t (make one per model request), so a text written
 * before the request cannot know it. The data is escaped so that nothing
 * in it can end the block or pass for a header: every line starts with
 * "| " (a line that says "System:" or "<|im_start|>" reads as quoted
 * data); a run of '<' or '>' is broken with backslashes ("<<<" becomes
 * "<\<\<"), and so are "<|" and "|>" (chat template tokens), so no marker
 * of any nonce can occur in it; invalid UTF-8 and NUL become U+FFFD;
 * other control characters, bidirectional overrides and zero-width
 * characters are written visibly as \u{XXXX}; CR, CRLF, NEL and the
 * Unicode line and paragraph separators are newlines (each then
 * prefixed). The system prompt says what a fence is (prompt.c). */
#ifndef CAISSON_FENCE_H
#define CAISSON_FENCE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct _fence_t fence_t;

/* A fence with a new random nonce (32 hex digits). */
fence_t *fence_new (void);
void fence_destroy (fence_t **self_p);

/* The nonce (borrowed). */
const char *fence_nonce (const fence_t *self);

/* data (len bytes, any bytes, may be NULL when len is 0) as a fenced block
 * of kind (^[a-z_]{1,32}$; anything else is written as "data"), ending in
 * a newline (new). At most max bytes of data are taken, cut at a character
 * boundary; a cut says how many bytes were left out, inside the fence. */
char *fence_wrap (const fence_t *self, const char *kind, const char *data, size_t len,
                  size_t max);

/* True when s (len bytes) is valid UTF-8 with no NUL and no overlong,
 * surrogate or out-of-range sequence. */
bool fence_utf8_valid (const char *s, size_t len);

#endif
