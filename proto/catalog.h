/* catalog.h — the client's view of the replicated models: which protobuf message each
 * model name ("items") carries, its primary key, and which string fields hold raw JSON.
 * The gateway and lithair-admin use it to transcode JSON ⇄ protobuf; the node's full
 * model table (node/store/models.c: indexes, validation, history) must name the same
 * models — test_catalog checks they agree. */
#ifndef CATALOG_H
#define CATALOG_H

#include <stdbool.h>
#include <stddef.h>

#include "wire.h"

struct catalog_model {
    const char *name; /* "items" */
    const ProtobufCMessageDescriptor *desc;
    const char *pk;              /* proto name of the primary key field */
    const char *const *raw_json; /* full names of raw-JSON string fields, NULL-ended */
    const char *const *indexes;  /* proto names of indexed fields, NULL-ended */
};

size_t catalog_count(void);
const struct catalog_model *catalog_at(size_t i);

/* catalog_find returns the model named `name`, NULL if none. */
const struct catalog_model *catalog_find(const char *name);

/* The fields the server sets, by JSON and by proto name (the transcoder accepts both): a
 * client's create may not send them (REST answers 422, lithair-admin refuses), and an
 * update may not send `benchmark` (the first: a record marked as benchmark data is
 * deleted by the next cleanup). */
struct catalog_field_name {
    const char *json, *proto;
};
#define CATALOG_SERVER_FIELDS 4
extern const struct catalog_field_name catalog_server_fields[CATALOG_SERVER_FIELDS];

/* catalog_raw_json is a pbjson raw-JSON hook (pbjson.h) for every model in the catalog. */
bool catalog_raw_json(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f,
                      void *ud);

#endif
