/* lt_err.h — the project's error codes, one X-macro table for the enum and its strings.
 *
 * Every function that can fail returns an int: 0 (LT_OK) on success, a negative
 * LT_E* code otherwise. lt_strerror() names a code in words a person understands.
 * proto/wire.h maps these codes to the RPC status codes of rpc.proto. */
#ifndef LT_ERR_H
#define LT_ERR_H

#define LT_ERRORS(X)                                                                               \
    X(LT_OK, 0, "success")                                                                         \
    X(LT_ENOMEM, -1, "out of memory")                                                              \
    X(LT_EIO, -2, "input/output error")                                                            \
    X(LT_ECORRUPT, -3, "data is corrupt")                                                          \
    X(LT_EINVAL, -4, "invalid argument")                                                           \
    X(LT_ENOTFOUND, -5, "not found")                                                               \
    X(LT_EEXIST, -6, "already exists")                                                             \
    X(LT_ECONFLICT, -7, "version conflict")                                                        \
    X(LT_ENOTLEADER, -8, "not the leader")                                                         \
    X(LT_EBUSY, -9, "too busy, try again")                                                         \
    X(LT_ETIMEDOUT, -10, "timed out")                                                              \
    X(LT_ESHUTDOWN, -11, "shutting down")                                                          \
    X(LT_ECOMPACTED, -12, "log entries were compacted")                                            \
    X(LT_EUNAVAIL, -13, "unavailable")                                                             \
    X(LT_ETRANSFER, -14, "leadership transfer in progress")                                        \
    X(LT_ETOOBIG, -15, "too large")                                                                \
    X(LT_ENOSPACE, -16, "no space left")                                                           \
    X(LT_ESTALE, -17, "stale: superseded by a newer term")                                         \
    X(LT_EPERM, -18, "permission denied")                                                          \
    X(LT_EUNAUTH, -19, "not authenticated")                                                        \
    X(LT_EUNSUPPORTED, -20, "not supported")

enum lt_err {
#define LT_ERR_ENUM(name, value, text) name = value,
    LT_ERRORS(LT_ERR_ENUM)
#undef LT_ERR_ENUM
};

/* lt_strerror returns a static description of `err`, "unknown error" if none. */
const char *lt_strerror(int err);

/* lt_errname returns the code's identifier ("LT_ENOTFOUND"), "LT_E?" if none. */
const char *lt_errname(int err);

#endif
