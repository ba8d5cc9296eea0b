/* wire.h — helpers over the generated protobuf-c code that every program shares:
 * RPC method lookup ("Models/Create" → its service and message descriptors), status
 * code names, and the mapping from the project's lt_err codes to RPC status codes.
 * The generated headers (raft.pb-c.h, model.pb-c.h, rpc.pb-c.h) come with it. */
#ifndef WIRE_H
#define WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.pb-c.h"
#include "raft.pb-c.h"
#include "rpc.pb-c.h"

/* The largest RPC request a node takes (its RPC socket's NNG_OPT_RECVMAXSZ): a larger one is
 * dropped with its connection, and every call in flight on that connection fails with it.
 * The gateway's --max-body stays at half of it (JSON turned into protobuf never grows
 * past that, with its envelope). */
#define WIRE_RPC_MAX_REQUEST (16u << 20)

/* One RPC method as declared by a `service` block in rpc.proto. */
struct wire_method {
    const ProtobufCServiceDescriptor *service;
    unsigned index;   /* into service->methods */
    const char *name; /* "Models/Create" */
    const ProtobufCMessageDescriptor *input;
    const ProtobufCMessageDescriptor *output;
};

/* wire_method_find looks up "Service/Method". Returns false if no such method. */
bool wire_method_find(const char *name, struct wire_method *out);

/* wire_method_count / wire_method_at enumerate every method of every service. */
size_t wire_method_count(void);
bool wire_method_at(size_t i, struct wire_method *out);

/* wire_code_name returns "NOT_FOUND" for LITHAIR__V1__CODE__NOT_FOUND, "UNKNOWN" if none. */
const char *wire_code_name(int code);

/* wire_code_parse turns a name ("not_found" or "NOT_FOUND") into a code; -1 if none. */
int wire_code_parse(const char *name);

/* wire_code_from_err maps an lt_err code (lt_err.h) to the RPC status code. */
Lithair__V1__Code wire_code_from_err(int err);

/* wire_enum_names writes the names of enum `ed`'s values as JSON carries them (lower case:
 * "draft, active, archived"), comma-separated, into out[0..n), cut to fit; for messages. */
void wire_enum_names(const ProtobufCEnumDescriptor *ed, char *out, size_t n);

/* wire_status_cluster: the cluster id that most of `n` status replies report (NULL ones,
 * nodes that did not answer, and 0, not agreed yet, count for none); 0 if none reports one.
 * A tie goes to the first such reply, or with leader_breaks_tie to a leader's. The nodes
 * of another cluster are those that report another non-zero id. */
uint64_t wire_status_cluster(const Lithair__V1__NodeStatus *const *sts, size_t n,
                             bool leader_breaks_tie);

/* wire_status_lag: how far node `ns` is behind `leader` (two status replies; 0 when they
 * are the same node): the entries of the leader's log the node is not known to hold — the
 * leader's progress figure for it, else the difference of their last indexes — at most what
 * the node's own commit index proves it holds (committed entries are in every later
 * leader's log: a new leader knows no follower's match until it answers, and an installed
 * snapshot is acked a moment later, so the leader's figure alone showed a follower in sync
 * as a whole log behind right after every election). *ahead (if not NULL): the leader's
 * `ahead` for it, 0 if none. */
uint64_t wire_status_lag(const Lithair__V1__NodeStatus *leader, const Lithair__V1__NodeStatus *ns,
                         uint64_t *ahead);

#endif
