/* test_catalog.c — the clients' model catalog (proto/catalog.c) and the node's model table
 * (node/store/models.c) name the same models with the same messages, keys and indexes,
 * and the raw-JSON hook marks exactly the model table's JSON fields. */
#include <string.h>

#include "catalog.h"
#include "cunit_main.h"
#include "models.h"
#include "pbjson.h"

static void test_same_models(void)
{
    CU_ASSERT_EQUAL(catalog_count(), models_count());
    for (size_t i = 0; i < catalog_count(); i++) {
        const struct catalog_model *c = catalog_at(i);
        const struct model *m = models_find(c->name);
        CU_ASSERT_PTR_NOT_NULL_FATAL(m);
        CU_ASSERT_PTR_EQUAL(c->desc, m->desc);
        CU_ASSERT_STRING_EQUAL(c->pk, m->pk);
        size_t k = 0;
        for (; c->indexes[k]; k++) {
            CU_ASSERT_PTR_NOT_NULL_FATAL(m->indexes[k]);
            CU_ASSERT_STRING_EQUAL(c->indexes[k], m->indexes[k]);
        }
        CU_ASSERT_PTR_NULL(m->indexes[k]);
    }
    for (size_t i = 0; i < models_count(); i++)
        CU_ASSERT_PTR_NOT_NULL(catalog_find(models_at(i)->name));
    CU_ASSERT_PTR_NULL(catalog_find("nope"));
    CU_ASSERT_PTR_NULL(catalog_find(NULL));
}

static void test_raw_json_fields(void)
{
    for (size_t i = 0; i < models_count(); i++) {
        const struct model *m = models_at(i);
        for (unsigned f = 0; f < m->desc->n_fields; f++) {
            const ProtobufCFieldDescriptor *fd = &m->desc->fields[f];
            bool is_json = false;
            for (size_t j = 0; j < 4 && m->json_fields[j]; j++)
                is_json |= strcmp(m->json_fields[j], fd->name) == 0;
            CU_ASSERT_EQUAL(catalog_raw_json(m->desc, fd, NULL), is_json);
        }
    }
    /* the server-set fields' table names real fields of items, in both spellings */
    for (size_t i = 0; i < CATALOG_SERVER_FIELDS; i++) {
        const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field_by_name(
            &lithair__v1__playground_item__descriptor, catalog_server_fields[i].proto);
        CU_ASSERT_PTR_NOT_NULL_FATAL(fd);
        char json[64];
        CU_ASSERT_STRING_EQUAL(pbjson_json_name(fd, json, sizeof(json)),
                               catalog_server_fields[i].json);
    }
    /* the message's full name must match whole, not as a prefix either way */
    const ProtobufCMessageDescriptor *item = &lithair__v1__playground_item__descriptor;
    const ProtobufCFieldDescriptor *meta =
        protobuf_c_message_descriptor_get_field_by_name(item, "metadata");
    CU_ASSERT_PTR_NOT_NULL_FATAL(meta);
    CU_ASSERT_TRUE(catalog_raw_json(item, meta, NULL));
    const char *near[] = {"lithair.v1.Playground", "lithair.v1.PlaygroundItemX",
                          "lithair.v1.PlaygroundIteM", "PlaygroundItem", ""};
    for (size_t i = 0; i < sizeof(near) / sizeof(near[0]); i++) {
        ProtobufCMessageDescriptor d = *item;
        d.name = near[i];
        CU_ASSERT_FALSE(catalog_raw_json(&d, meta, NULL));
    }
    ProtobufCFieldDescriptor f = *meta;
    f.name = "metadat";
    CU_ASSERT_FALSE(catalog_raw_json(item, &f, NULL));
    f.name = "metadatas";
    CU_ASSERT_FALSE(catalog_raw_json(item, &f, NULL));
}

static const struct lt_test catalog_tests[] = {
    {"catalog and model table name the same models", test_same_models},
    {"raw-JSON fields agree", test_raw_json_fields},
    {NULL, NULL},
};

static const struct lt_suite suites[] = {
    {"catalog", NULL, NULL, catalog_tests},
    {NULL, NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return lt_test_main(argc, argv, suites);
}
