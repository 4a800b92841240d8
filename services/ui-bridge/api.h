/* api: the route functions router.c dispatches to, one module per area. */
#ifndef CAISSON_API_H
#define CAISSON_API_H

#include "app.h"

/* api_health.c: GET /healthz (no token), GET /metrics (no token). */
http_res_t *api_healthz (app_t *app, http_req_t *req);
http_res_t *api_metrics (app_t *app, http_req_t *req);

/* api_sandboxes.c: /api/sandboxes, what `caisson sandbox` does, per user. */
http_res_t *api_sandboxes_list (app_t *app, http_req_t *req);
http_res_t *api_sandboxes_create (app_t *app, http_req_t *req);
http_res_t *api_sandboxes_get (app_t *app, http_req_t *req);
http_res_t *api_sandboxes_delete (app_t *app, http_req_t *req);
http_res_t *api_sandboxes_exec (app_t *app, http_req_t *req);
http_res_t *api_sandboxes_files (app_t *app, http_req_t *req);
http_res_t *api_sandboxes_read (app_t *app, http_req_t *req);
http_res_t *api_sandboxes_write (app_t *app, http_req_t *req);

/* static.c: the web UI, embedded at build time. */
http_res_t *api_static (app_t *app, http_req_t *req);

#endif
