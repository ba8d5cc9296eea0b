/* admin.h — what lithair-admin's command files share: the parsed global options, the
 * client pool, and one-line error reporting. */
#ifndef ADMIN_H
#define ADMIN_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "pbjson.h"
#include "rpc_client.h"

struct admin {
    struct rpc_client *client;
    const char *endpoints;
    bool json;
    unsigned timeout_ms;
    bool timeout_set; /* --timeout given: long commands (items purge) then keep to it */
    bool digest;      /* status --digest */
};

/* admin_client returns the RPC client pool, connecting on first use. */
struct rpc_client *admin_client(struct admin *a);

/* admin_fail prints "lithair-admin: <message>" on stderr and returns 1. */
int admin_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* admin_usage_error prints the message with a pointer to --help and returns 2. */
int admin_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* admin_rpc_fail reports a failed RPC (code, message, field errors) and returns 1. */
int admin_rpc_fail(const char *what, int rc, const struct rpc_status *st);

void admin_print_json(json_object *j);

/* admin_json_u64 returns a 64-bit integer as -w json writes it: a decimal string, as
 * proto3's JSON mapping writes uint64 ("id": "2"). NULL if out of memory. */
json_object *admin_json_u64(uint64_t v);

const struct pbjson_opts *admin_json_opts(void);

/* admin_bench runs `bench` or `ping-bench` (bench_cmd.c). */
int admin_bench(struct admin *a, const char *cmd, int argc, char **argv);

#endif
