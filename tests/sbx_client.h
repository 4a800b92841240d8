/* sbx_client: helpers the sandbox tests share (see sbx_client.c). */
#ifndef CAISSON_TEST_SBX_CLIENT_H
#define CAISSON_TEST_SBX_CLIENT_H

#include "support.h"
#include "bus_client.h"
#include "proto.h"
#include <jansson.h>

extern const char *s_dir;
extern pid_t s_bus, s_mgr;
extern bus_client_t *s_c;

/* cmocka group setup/teardown: the stack up (skips unless root), and down cleanly. */
int sbx_setup (void **state);
int sbx_teardown (void **state);
void start_stack (void);
/* (Re)starts sandbox-manager alone and waits until it answers. */
void start_stack_manager (void);
/* Sets an ANY field from j (consumed). */
void any_set (proto_bytes_t *b, json_t *j);
/* Sends req (consumed) to sandbox-manager; asserts a reply came. */
proto_msg_t *call (proto_msg_t *req);
/* A ready sandbox's id (the caller frees it); destroy frees it. */
char *create (const char *language, uint64_t ttl);
void destroy (char *id);
/* exec of a shell string; the reply. */
proto_msg_t *sh (const char *id, const char *cmd, uint64_t timeout, const char *in);
/* The same as user (NULL: the default user, `tester`), the sandbox's owner. */
proto_msg_t *sh_as (const char *user, const char *id, const char *cmd, uint64_t timeout,
                    const char *in);
/* Its exit code, with stdout and stderr copied into out. */
int run (const char *id, const char *cmd, char *out, size_t outlen);
int run_as (const char *user, const char *id, const char *cmd, char *out, size_t outlen);
/* A file request of type t on path (not sent). */
proto_msg_t *file_req (proto_type_t t, const char *id, const char *path);
proto_msg_t *write_file (const char *id, const char *path, const char *data);
/* Stops sandbox-manager (asserting a clean exit), then kills init, a
 * sandbox's init, and waits up to a second for it to go: a sandbox whose
 * init died while its manager was down. */
void stop_manager_kill_init (pid_t init);

#endif
