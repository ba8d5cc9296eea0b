/* catalog.c — model names to protobuf messages, for clients (see catalog.h). */
#include "catalog.h"

#include <string.h>

static const char *const item_raw[] = {"lithair.v1.PlaygroundItem.metadata", NULL};
static const char *const item_indexes[] = {"name", "status", NULL};
static const char *const session_indexes[] = {"user_id", NULL};
static const char *const none[] = {NULL};

static const struct catalog_model catalog_models[] = {
    {"items", &lithair__v1__playground_item__descriptor, "id", item_raw, item_indexes},
    {"users", &lithair__v1__user__descriptor, "id", none, none},
    {"sessions", &lithair__v1__session__descriptor, "id", none, session_indexes},
    {"firewall_rules", &lithair__v1__firewall_rule__descriptor, "id", none, none},
};

const struct catalog_field_name catalog_server_fields[CATALOG_SERVER_FIELDS] = {
    {"benchmark", "benchmark"},
    {"version", "version"},
    {"createdAt", "created_at"},
    {"updatedAt", "updated_at"},
};

size_t catalog_count(void)
{
    return sizeof(catalog_models) / sizeof(catalog_models[0]);
}

const struct catalog_model *catalog_at(size_t i)
{
    return i < catalog_count() ? &catalog_models[i] : NULL;
}

const struct catalog_model *catalog_find(const char *name)
{
    for (size_t i = 0; name && i < catalog_count(); i++) {
        if (strcmp(catalog_models[i].name, name) == 0)
            return &catalog_models[i];
    }
    return NULL;
}

bool catalog_raw_json(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f,
                      void *ud)
{
    (void)ud;
    /* Called for every string field of every message encoded or decoded: compares the
     * parts of "<message>.<field>" in place instead of formatting the full name. */
    size_t dl = strlen(d->name);
    for (size_t i = 0; i < catalog_count(); i++) {
        for (const char *const *r = catalog_models[i].raw_json; *r; r++) {
            if (strncmp(*r, d->name, dl) == 0 && (*r)[dl] == '.' &&
                strcmp(*r + dl + 1, f->name) == 0)
                return true;
        }
    }
    return false;
}
