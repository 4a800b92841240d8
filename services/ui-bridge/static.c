/* static: serves the embedded web UI. `/` is index.html; any other GET
 * outside /api that names no file also gets index.html, so the UI's own
 * paths (/runs/<id>) survive a reload. */
#include "api.h"
#include "static.h"

#include <string.h>

/* The page loads nothing from elsewhere, and nothing may frame it. */
#define CSP "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"

http_res_t *
api_static (app_t *app, http_req_t *req)
{
    (void) app;
    const char *path = !strcmp (req->path, "/") ? "/index.html" : req->path;
    const static_asset_t *index = NULL;
    for (const static_asset_t *a = static_assets; a->path; a++) {
        if (!strcmp (a->path, path)) {
            http_res_t *res = http_res_bytes (200, a->type, a->data, a->size, false);
            if (res) {
                http_res_header (res, "Cache-Control", "no-cache");
                http_res_header (res, "Content-Security-Policy", CSP);
            }
            return res;
        }
        if (!strcmp (a->path, "/index.html"))
            index = a;
    }
    if (strchr (path + 1, '.') || !index)
        return http_res_error (404, "not_found", "no file %s", req->path);
    http_res_t *res = http_res_bytes (200, index->type, index->data, index->size, false);
    if (res)
        http_res_header (res, "Content-Security-Policy", CSP);
    return res;
}
