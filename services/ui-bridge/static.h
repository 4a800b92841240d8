/* static: the web UI's files, embedded in the binary at build time by
 * embed.cmake from services/ui-bridge/web/. */
#ifndef CAISSON_STATIC_H
#define CAISSON_STATIC_H

#include <stddef.h>

typedef struct {
    const char *path;           /* "/index.html" */
    const char *type;           /* Content-Type */
    const unsigned char *data;
    size_t size;
} static_asset_t;

/* Ends with an entry whose path is NULL. */
extern const static_asset_t static_assets[];

#endif
