/* wire.c — method lookup and status-code tables over the generated descriptors
 * (see wire.h). Methods are named in one place, the `service` blocks of rpc.proto. */
#include "wire.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lt_err.h"

static const ProtobufCServiceDescriptor *const wire_services[] = {
    &lithair__v1__rpc__descriptor,
    &lithair__v1__models__descriptor,
    &lithair__v1__cluster__descriptor,
};
#define WIRE_N_SERVICES (sizeof(wire_services) / sizeof(wire_services[0]))

size_t wire_method_count(void)
{
    size_t n = 0;
    for (size_t s = 0; s < WIRE_N_SERVICES; s++)
        n += wire_services[s]->n_methods;
    return n;
}

/* Full names live in a static table filled once, by whichever thread asks first:
 * "Models/Create". */
static char wire_names[64][48];
static pthread_once_t wire_names_once = PTHREAD_ONCE_INIT;

static void wire_names_init(void)
{
    size_t slot = 0;
    for (size_t s = 0; s < WIRE_N_SERVICES; s++) {
        const ProtobufCServiceDescriptor *svc = wire_services[s];
        for (unsigned m = 0; m < svc->n_methods && slot < 64; m++, slot++)
            snprintf(wire_names[slot], sizeof(wire_names[slot]), "%s/%s", svc->short_name,
                     svc->methods[m].name);
    }
}

static void wire_fill(const ProtobufCServiceDescriptor *svc, unsigned m, size_t slot,
                      struct wire_method *out)
{
    pthread_once(&wire_names_once, wire_names_init);
    out->service = svc;
    out->index = m;
    out->name = wire_names[slot];
    out->input = svc->methods[m].input;
    out->output = svc->methods[m].output;
}

bool wire_method_at(size_t i, struct wire_method *out)
{
    size_t slot = 0;
    for (size_t s = 0; s < WIRE_N_SERVICES; s++) {
        const ProtobufCServiceDescriptor *svc = wire_services[s];
        for (unsigned m = 0; m < svc->n_methods; m++, slot++) {
            if (slot == i && slot < sizeof(wire_names) / sizeof(wire_names[0])) {
                wire_fill(svc, m, slot, out);
                return true;
            }
        }
    }
    return false;
}

bool wire_method_find(const char *name, struct wire_method *out)
{
    if (!name)
        return false;
    const char *slash = strchr(name, '/');
    if (!slash)
        return false;
    size_t slen = (size_t)(slash - name);
    size_t slot = 0;
    for (size_t s = 0; s < WIRE_N_SERVICES; s++) {
        const ProtobufCServiceDescriptor *svc = wire_services[s];
        bool same_service =
            strlen(svc->short_name) == slen && strncmp(svc->short_name, name, slen) == 0;
        for (unsigned m = 0; m < svc->n_methods; m++, slot++) {
            if (same_service && strcmp(svc->methods[m].name, slash + 1) == 0) {
                wire_fill(svc, m, slot, out);
                return true;
            }
        }
    }
    return false;
}

const char *wire_code_name(int code)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&lithair__v1__code__descriptor, code);
    return v ? v->name : "UNKNOWN";
}

int wire_code_parse(const char *name)
{
    const ProtobufCEnumDescriptor *d = &lithair__v1__code__descriptor;
    for (unsigned i = 0; name && i < d->n_values; i++) {
        if (strcasecmp(d->values[i].name, name) == 0)
            return d->values[i].value;
    }
    return -1;
}

Lithair__V1__Code wire_code_from_err(int err)
{
    switch (err) {
    case LT_OK:
        return LITHAIR__V1__CODE__OK;
    case LT_EINVAL:
        return LITHAIR__V1__CODE__INVALID_ARGUMENT;
    case LT_ENOTFOUND:
        return LITHAIR__V1__CODE__NOT_FOUND;
    case LT_EEXIST:
        return LITHAIR__V1__CODE__ALREADY_EXISTS;
    case LT_ECONFLICT:
        return LITHAIR__V1__CODE__ABORTED;
    case LT_ENOTLEADER:
    case LT_EUNAVAIL:
    case LT_ESHUTDOWN:
    case LT_ETRANSFER:
    case LT_ESTALE:
        return LITHAIR__V1__CODE__UNAVAILABLE;
    case LT_EBUSY:
    case LT_ENOSPACE:
    case LT_ETOOBIG:
        return LITHAIR__V1__CODE__RESOURCE_EXHAUSTED;
    case LT_ETIMEDOUT:
        return LITHAIR__V1__CODE__DEADLINE_EXCEEDED;
    case LT_ECORRUPT:
        return LITHAIR__V1__CODE__DATA_LOSS;
    case LT_ECOMPACTED:
        return LITHAIR__V1__CODE__OUT_OF_RANGE;
    case LT_EPERM:
        return LITHAIR__V1__CODE__PERMISSION_DENIED;
    case LT_EUNAUTH:
        return LITHAIR__V1__CODE__UNAUTHENTICATED;
    case LT_EUNSUPPORTED:
        return LITHAIR__V1__CODE__UNIMPLEMENTED;
    default:
        return LITHAIR__V1__CODE__INTERNAL;
    }
}

void wire_enum_names(const ProtobufCEnumDescriptor *ed, char *out, size_t n)
{
    size_t used = 0;
    if (n == 0)
        return;
    for (unsigned i = 0; i < ed->n_values; i++) {
        for (const char *q = i > 0 ? ", " : ""; *q && used + 1 < n; q++)
            out[used++] = *q;
        for (const char *q = ed->values[i].name; *q && used + 1 < n; q++)
            out[used++] = (char)tolower((unsigned char)*q);
    }
    out[used] = '\0';
}

uint64_t wire_status_cluster(const Lithair__V1__NodeStatus *const *sts, size_t n,
                             bool leader_breaks_tie)
{
    uint64_t cluster = 0;
    size_t best = 0;
    for (size_t i = 0; i < n; i++) {
        if (!sts[i] || !sts[i]->cluster_id)
            continue;
        size_t same = 0;
        for (size_t k = 0; k < n; k++)
            same += sts[k] && sts[k]->cluster_id == sts[i]->cluster_id;
        if (same > best ||
            (same == best && leader_breaks_tie && sts[i]->role == LITHAIR__V1__NODE_ROLE__LEADER)) {
            best = same;
            cluster = sts[i]->cluster_id;
        }
    }
    return cluster;
}

uint64_t wire_status_lag(const Lithair__V1__NodeStatus *leader, const Lithair__V1__NodeStatus *ns,
                         uint64_t *ahead)
{
    uint64_t lag = 0;
    bool found = false;
    if (ahead)
        *ahead = 0;
    if (leader == ns || leader->id == ns->id)
        return 0;
    for (size_t k = 0; k < leader->n_followers; k++) {
        if (leader->followers[k]->id == ns->id) {
            lag = leader->followers[k]->lag;
            if (ahead)
                *ahead = leader->followers[k]->ahead;
            found = true;
        }
    }
    if (!found)
        lag = leader->last_index > ns->last_index ? leader->last_index - ns->last_index : 0;
    uint64_t proven = leader->last_index > ns->commit ? leader->last_index - ns->commit : 0;
    return lag < proven ? lag : proven;
}
