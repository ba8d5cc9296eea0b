/* gw_security.c — the gateway's protection layers, in the order a request meets them
 * (DESIGN.md, "The gateway"):
 *
 *   firewall   IP/CIDR allow and deny rules, stored as replicated `firewall_rules` records
 *              and cached here (reloaded twice a second and after every change made
 *              through this gateway). The most specific matching rule decides; a tie goes
 *              to deny; no match allows. A loopback client always reaches the page's
 *              files, /_playground/auth and /_playground/security, so a rule that blocks
 *              the page can be undone from the page. Without a leader the first read
 *              takes a node's own copy; until one read succeeds, a client that is not on
 *              this machine gets 503.
 *   rate limit a token bucket per client address over the REST API (/api/...), off unless
 *              --rate-limit is given (429 with Retry-After); and one of its own on
 *              POST /_playground/security/test-rate-limit (10/s, burst 10), so the page can
 *              show rejections without slowing anything else.
 *   login      5 attempts a second per address (burst 10), one password hash at a time,
 *              and at most a quarter of the HTTP workers (--threads) waiting for it: past
 *              them a login is a 503 with Retry-After, not a worker held.
 *   identity   a session cookie (lithair_session) or "Authorization: Bearer TOKEN". A
 *              session is a replicated `sessions` record keyed by the hex BLAKE2b hash of
 *              its token (the store never holds a usable token); cached here 2 s. A token
 *              not seen valid here costs its address a lookup (two cluster reads; 10/s,
 *              burst 20; 429 with Retry-After past them) unless it turns out valid. Without
 *              a session a client has --anonymous-role (default admin: the playground is
 *              open; log in as a viewer or editor to watch permissions refuse).
 *   RBAC       viewer reads; editor also writes items and runs benchmarks; admin also
 *              controls the cluster and edits firewall rules. 401 when a login would help,
 *              403 when the role is too low.
 *
 * Sessions last --session-ttl-s (12 h); the tick deletes expired ones.
 * Users are replicated `users` records with libsodium argon2id hashes; the three demo users
 * (admin/admin, editor/editor, viewer/viewer) are created when missing, as soon as the
 * cluster has a leader. */
#include "gw_security.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "gw.h"
#include "lt_clock.h"
#include "lt_err.h"
#include "lt_log.h"
#include "rpc_client.h"
#include "sse.h"
#include "wire.h"

#define SEC_MAX_RULES     256
#define SEC_BUCKETS       512 /* clients tracked per limiter; the oldest slot is reused */
#define SEC_SESSION_CACHE 128
#define SEC_CACHE_NS      (2ull * 1000000000ull) /* a session is trusted this long */
/* ...and, while the cluster cannot be read at all, this long: no logout can commit then,
 * and an admin locked out of a cluster with every node down could never restart one */
#define SEC_STALE_NS  (600ull * 1000000000ull)
#define SEC_RELOAD_NS (500ull * 1000000ull)
#define SEC_TEST_RATE 10.0 /* test-rate-limit: tokens a second and burst */
/* Lookups in the cluster of tokens this gateway has not seen valid, per client address:
 * each costs two reads (one linearizable), so made-up tokens must not be free. */
#define SEC_LOOKUP_RATE  10.0
#define SEC_LOOKUP_BURST 20.0
#define SEC_TOKEN_BYTES  32
#define SEC_PURGE_PAGES  16 /* pages of 1000 sessions a sweep looks at, at most */
#define SEC_COOKIE       "lithair_session"

struct fw_rule {
    char id[64];
    char cidr[64];
    char note[260]; /* the model allows 256 bytes */
    bool allow;
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    unsigned prefix;
};

struct bucket {
    char key[64];
    double tokens;
    uint64_t at_ns;
};

struct limiter {
    double rate, burst; /* rate 0: off */
    struct bucket b[SEC_BUCKETS];
    uint64_t accepted, rejected;
};

struct sess {
    char hash[65];
    char user[65];
    int role;
    int64_t expires_s;
    uint64_t cached_ns;
    bool ended;   /* a tombstone: logged out here; no lookup may bring it back for a while */
    bool unknown; /* (with ended) the cluster did not know the token: asked again in 2 s */
};

struct gw_security {
    struct gw *g;
    pthread_mutex_t mu;
    pthread_mutex_t add_mu; /* one firewall add at a time: count, then create */
    int anon_role;
    struct fw_rule rules[SEC_MAX_RULES];
    size_t n_rules;
    _Atomic size_t n_rules_hint; /* n_rules, readable without mu: no rules, no lock taken */
    _Atomic bool rules_loaded;   /* the rules were read once (set under mu; read without it) */
    uint64_t rules_at_ns;        /* under mu, as n_rules */
    uint64_t rules_reads;        /* reloads begun (under mu) */
    uint64_t rules_gen; /* the reload whose rules are held: a later one's only (under mu) */
    uint64_t fw_denied, auth_refused;
    struct limiter api, test, login;
    struct limiter lookup;  /* cluster lookups of tokens not seen valid here (per address) */
    uint64_t session_reads; /* cluster reads of sessions (under mu) */
    char dummy_hash[crypto_pwhash_STRBYTES]; /* verified for unknown users (under hash_mu) */
    pthread_mutex_t hash_mu;  /* one argon2id at a time: each takes 64 MiB for ~0.1 s, and
                               * 128 workers logging in at once would take 8 GiB */
    _Atomic unsigned hashing; /* logins waiting for hash_mu or holding it */
    struct sess cache[SEC_SESSION_CACHE];
    _Atomic bool seeded; /* the demo users exist (set by the tick, read by logins) */
    unsigned session_ttl_s;
    uint64_t purged_at_ns;  /* the last sweep of expired sessions (tick only) */
    char purge_cursor[512]; /* where the next sweep goes on ("": the start; tick only) */
    uint64_t purged;        /* expired sessions deleted by this gateway (under mu) */
};

static const char *const role_names[] = {"none", "viewer", "editor", "admin"};

const char *gw_user_role_name(int role)
{
    return role >= 0 && role <= 3 ? role_names[role] : "none";
}

int gw_user_role_parse(const char *s)
{
    for (int i = 0; i <= 3; i++) {
        if (strcasecmp(s, role_names[i]) == 0)
            return i;
    }
    return -1;
}

/* ------------------------------------------------------------------ CIDR */

int gw_cidr_parse(const char *s, int *family, uint8_t addr[16], unsigned *prefix)
{
    /* read into locals: the out-parameters are written only on success */
    uint8_t ip[16] = {0};
    int fam;
    unsigned pre;
    char buf[64];
    size_t n = strlen(s);
    if (n == 0 || n >= sizeof(buf))
        return LT_EINVAL;
    memcpy(buf, s, n + 1);
    char *slash = strchr(buf, '/');
    long p = -1;
    if (slash) {
        *slash = '\0';
        char *end;
        if (!slash[1] || slash[1] < '0' || slash[1] > '9' || (slash[1] == '0' && slash[2]))
            return LT_EINVAL; /* no sign, no leading zero ("/08" is not a prefix length) */
        p = strtol(slash + 1, &end, 10);
        if (*end)
            return LT_EINVAL;
    }
    if (inet_pton(AF_INET, buf, ip) == 1) {
        fam = AF_INET;
        if (p > 32)
            return LT_EINVAL;
        pre = p < 0 ? 32 : (unsigned)p;
    } else if (inet_pton(AF_INET6, buf, ip) == 1) {
        fam = AF_INET6;
        if (p > 128)
            return LT_EINVAL;
        pre = p < 0 ? 128 : (unsigned)p;
        static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (pre >= 96 && memcmp(ip, v4mapped, 12) == 0) {
            /* ::ffff:a.b.c.d is an IPv4 address (a client's is read the same way) */
            memmove(ip, ip + 12, 4);
            memset(ip + 4, 0, 12);
            fam = AF_INET;
            pre -= 96;
        }
    } else {
        return LT_EINVAL;
    }
    *family = fam;
    *prefix = pre;
    memcpy(addr, ip, 16);
    return 0;
}

bool gw_cidr_match(int family, const uint8_t net[16], unsigned prefix, int ip_family,
                   const uint8_t ip[16])
{
    if (family == AF_INET6 && ip_family == AF_INET) {
        /* ::ffff:a.b.c.d: a network shorter than /96 that holds ::ffff:0:0/96 (::/0,
         * ::fffe:0:0/95) matched no IPv4 client, while ::ffff:0:0/96 inside it matched
         * them all (QA) */
        uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        memcpy(mapped + 12, ip, 4);
        return gw_cidr_match(AF_INET6, net, prefix, AF_INET6, mapped);
    }
    if (family != ip_family)
        return false;
    unsigned full = prefix / 8, rest = prefix % 8;
    if (memcmp(net, ip, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (net[full] & mask) == (ip[full] & mask);
}

/* fw_mask clears the host bits of addr (past `prefix`); true if any was set. */
static bool fw_mask(int family, uint8_t addr[16], unsigned prefix)
{
    unsigned bits = family == AF_INET ? 32 : 128;
    bool changed = false;
    for (unsigned b = prefix; b < bits; b++) {
        uint8_t m = (uint8_t)(0x80u >> (b % 8));
        if (addr[b / 8] & m) {
            addr[b / 8] &= (uint8_t)~m;
            changed = true;
        }
    }
    return changed;
}

/* fw_span: a network's prefix length as an IPv6 one (an IPv4 /n is ::ffff:0:0/(96+n)), so
 * that rules of both families compare by how specific they are. */
static unsigned fw_span(int family, unsigned prefix)
{
    return family == AF_INET ? prefix + 96 : prefix;
}

/* fw_decide_in: the rule of rules[0..n) that decides for `ip` (most specific; deny wins a
 * tie), NULL if none. */
static const struct fw_rule *fw_decide_in(const struct fw_rule *rules, size_t n, int fam,
                                          const uint8_t ip[16])
{
    const struct fw_rule *best = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct fw_rule *r = &rules[i];
        if (!gw_cidr_match(r->family, r->addr, r->prefix, fam, ip))
            continue;
        unsigned span = fw_span(r->family, r->prefix);
        unsigned best_span = best ? fw_span(best->family, best->prefix) : 0;
        if (!best || span > best_span || (span == best_span && !r->allow))
            best = r;
    }
    return best;
}

/* fw_decide: fw_decide_in over the rules in force. Under mu. */
static const struct fw_rule *fw_decide(const struct gw_security *s, int fam, const uint8_t ip[16])
{
    return fw_decide_in(s->rules, s->n_rules, fam, ip);
}

/* ------------------------------------------------------------------ rate limit */

/* limiter_take takes a token from `key`'s bucket: true if there was one, else false and
 * *retry_s set. Under mu. */
static bool limiter_take(struct limiter *l, const char *key, uint64_t now, unsigned *retry_s)
{
    if (l->rate <= 0)
        return true;
    struct bucket *b = NULL, *oldest = &l->b[0];
    for (size_t i = 0; i < SEC_BUCKETS; i++) {
        if (strcmp(l->b[i].key, key) == 0) {
            b = &l->b[i];
            break;
        }
        if (l->b[i].at_ns < oldest->at_ns)
            oldest = &l->b[i];
    }
    if (!b) { /* a new client: a full bucket in the least recently used slot */
        b = oldest;
        snprintf(b->key, sizeof(b->key), "%s", key);
        b->tokens = l->burst;
        b->at_ns = now;
    }
    b->tokens += (double)(now - b->at_ns) / 1e9 * l->rate;
    if (b->tokens > l->burst)
        b->tokens = l->burst;
    b->at_ns = now;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        l->accepted++;
        return true;
    }
    l->rejected++;
    double wait = (1.0 - b->tokens) / l->rate;
    *retry_s = wait < 1.0 ? 1 : (unsigned)(wait + 0.999);
    return false;
}

/* limiter_refund gives back the token limiter_take took from `key`'s bucket (the work it
 * paid for turned out not to count). Under mu. */
static void limiter_refund(struct limiter *l, const char *key)
{
    for (size_t i = 0; l->rate > 0 && i < SEC_BUCKETS; i++) {
        if (strcmp(l->b[i].key, key) == 0) {
            l->b[i].tokens = l->b[i].tokens + 1.0 > l->burst ? l->burst : l->b[i].tokens + 1.0;
            return;
        }
    }
}

/* sec_reply_retry answers an error with Retry-After: the seconds before a retry may pass. */
static int sec_reply_retry(struct gw_req *r, int status, const char *code, const char *message,
                           unsigned retry_s)
{
    char hdr[64];
    snprintf(hdr, sizeof(hdr), "Retry-After: %u\r\n", retry_s);
    json_object *e = json_object_new_object();
    json_object_object_add(e, "code", json_object_new_string(code));
    json_object_object_add(e, "message", json_object_new_string(message));
    json_object_object_add(e, "details", json_object_new_array());
    return gw_reply_json(r, status, e, hdr);
}

/* sec_limit takes a token of `l` for the client; without one it answers 429 with
 * Retry-After and `why`, and returns false. */
static bool sec_limit(struct gw_req *r, struct limiter *l, const char *why)
{
    struct gw_security *s = r->gw->security;
    unsigned retry = 0;
    pthread_mutex_lock(&s->mu);
    bool ok = limiter_take(l, r->ri->remote_addr, lt_now_ns(), &retry);
    pthread_mutex_unlock(&s->mu);
    if (ok)
        return true;
    sec_reply_retry(r, 429, "RESOURCE_EXHAUSTED", why, retry);
    return false;
}

/* ------------------------------------------------------------------ RPC helpers */

/* The tick (the gateway's main thread, which also waits for SIGTERM and probes the
 * breakers) must not sit on a leaderless cluster for a request's whole deadline. */
static _Thread_local bool sec_in_tick;
#define SEC_TICK_TIMEOUT_MS 500

static int sec_call(struct gw *g, const char *method, const ProtobufCMessage *req,
                    const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out)
{
    struct rpc_status st;
    return rpc_call(g->client, method, req, desc,
                    sec_in_tick ? SEC_TICK_TIMEOUT_MS : g->cfg.rpc_timeout_ms, out, &st);
}

/* sec_get unpacks record `id` of `model` with `desc`: 0, LT_ENOTFOUND, or another error. */
static int sec_get(struct gw *g, const char *model, const char *id, bool serializable,
                   const ProtobufCMessageDescriptor *desc, ProtobufCMessage **msg)
{
    Lithair__V1__GetRequest req = LITHAIR__V1__GET_REQUEST__INIT;
    req.model = (char *)model;
    req.id = (char *)id;
    req.consistency = serializable ? LITHAIR__V1__CONSISTENCY__SERIALIZABLE
                                   : LITHAIR__V1__CONSISTENCY__LINEARIZABLE;
    Lithair__V1__RecordReply *rr = NULL;
    int rc = sec_call(g, "Models/Get", &req.base, &lithair__v1__record_reply__descriptor,
                      (ProtobufCMessage **)&rr);
    if (rc)
        return rc;
    *msg = rr->record ? protobuf_c_message_unpack(desc, NULL, rr->record->value.len,
                                                  rr->record->value.data)
                      : NULL;
    protobuf_c_message_free_unpacked(&rr->base, NULL);
    return *msg ? 0 : LT_ECORRUPT;
}

/* sec_create creates `value` in `model`. With `desc`, *got is the stored record (version
 * and timestamps set) unpacked with it; with `st`, the RPC status of a failure. */
static int sec_create(struct gw *g, const char *model, const ProtobufCMessage *value,
                      const ProtobufCMessageDescriptor *desc, ProtobufCMessage **got,
                      struct rpc_status *st)
{
    Lithair__V1__CreateRequest req = LITHAIR__V1__CREATE_REQUEST__INIT;
    req.model = (char *)model;
    req.value.len = protobuf_c_message_get_packed_size(value);
    req.value.data = malloc(req.value.len ? req.value.len : 1);
    if (!req.value.data)
        return LT_ENOMEM;
    protobuf_c_message_pack(value, req.value.data);
    Lithair__V1__RecordReply *rr = NULL;
    struct rpc_status own;
    int rc = rpc_call(g->client, "Models/Create", &req.base, &lithair__v1__record_reply__descriptor,
                      sec_in_tick ? SEC_TICK_TIMEOUT_MS : g->cfg.rpc_timeout_ms,
                      (ProtobufCMessage **)&rr, st ? st : &own);
    free(req.value.data);
    if (rc == 0 && desc) {
        *got = rr->record ? protobuf_c_message_unpack(desc, NULL, rr->record->value.len,
                                                      rr->record->value.data)
                          : NULL;
        rc = *got ? 0 : LT_ECORRUPT;
    }
    if (rr)
        protobuf_c_message_free_unpacked(&rr->base, NULL);
    return rc;
}

static int sec_delete(struct gw *g, const char *model, const char *id)
{
    Lithair__V1__DeleteRequest req = LITHAIR__V1__DELETE_REQUEST__INIT;
    req.model = (char *)model;
    req.id = (char *)id;
    return sec_call(g, "Models/Delete", &req.base, NULL, NULL);
}

/* ------------------------------------------------------------------ firewall cache */

/* fw_rule_from fills `r` from a stored rule; LT_EINVAL if its CIDR does not parse. */
static int fw_rule_from(const Lithair__V1__FirewallRule *fr, struct fw_rule *r)
{
    memset(r, 0, sizeof(*r));
    if (gw_cidr_parse(fr->cidr, &r->family, r->addr, &r->prefix) != 0)
        return LT_EINVAL;
    snprintf(r->id, sizeof(r->id), "%s", fr->id);
    snprintf(r->cidr, sizeof(r->cidr), "%s", fr->cidr);
    snprintf(r->note, sizeof(r->note), "%s", fr->note);
    r->allow = fr->action == LITHAIR__V1__FIREWALL_RULE__ACTION__ALLOW;
    return 0;
}

struct fw_set {
    const struct fw_rule *rules;
    size_t n;
};

/* fw_stream_denied (sse_addr_pred_fn): does the rule set `ud` deny the client at `addr`?
 * An event stream is no route a loopback client always reaches (gw_security_check). */
static bool fw_stream_denied(void *ud, const char *addr)
{
    const struct fw_set *set = ud;
    int fam;
    uint8_t ip[16];
    unsigned prefix;
    if (gw_cidr_parse(addr, &fam, ip, &prefix) != 0)
        return false;
    const struct fw_rule *fr = fw_decide_in(set->rules, set->n, fam, ip);
    return fr && !fr->allow;
}

/* sec_reload_rules reads every firewall rule from the cluster into the cache, by a
 * linearizable read: a change through this gateway must be in force for the next request,
 * and a serializable read from a follower that had not applied it yet missed it (or, in
 * a later reload, took it back out for up to a refresh). Without a leader the cache keeps
 * what it has: no rule can change then. Then the event streams of clients the rules deny
 * end: a stream is checked when it opens, and must not outlive a rule made to stop its
 * client. */
static int sec_reload_rules(struct gw_security *s)
{
    /* Reloads run on the tick and on request threads at once: one that began earlier
     * (and may have read the rules before a change) must not overwrite a later one's. */
    pthread_mutex_lock(&s->mu);
    uint64_t gen = ++s->rules_reads;
    pthread_mutex_unlock(&s->mu);
    Lithair__V1__ListRequest req = LITHAIR__V1__LIST_REQUEST__INIT;
    req.model = "firewall_rules";
    req.limit = SEC_MAX_RULES; /* adds stop there (409); more only from other writers */
    req.consistency = LITHAIR__V1__CONSISTENCY__LINEARIZABLE;
    Lithair__V1__ListReply *lr = NULL;
    int rc = sec_call(s->g, "Models/List", &req.base, &lithair__v1__list_reply__descriptor,
                      (ProtobufCMessage **)&lr);
    if (rc && !atomic_load(&s->rules_loaded)) {
        /* No leader, and no rules held yet (a gateway started on a cluster without a
         * quorum): the rules a node has applied, rather than none at all — with none, every
         * client the rules deny was let through, kill and restart included (QA). The next
         * reload with a leader replaces them. */
        req.consistency = LITHAIR__V1__CONSISTENCY__SERIALIZABLE;
        rc = sec_call(s->g, "Models/List", &req.base, &lithair__v1__list_reply__descriptor,
                      (ProtobufCMessage **)&lr);
    }
    if (rc)
        return rc;
    struct fw_rule *tmp = calloc(SEC_MAX_RULES, sizeof(*tmp));
    if (!tmp) {
        protobuf_c_message_free_unpacked(&lr->base, NULL);
        return LT_ENOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < lr->n_records && n < SEC_MAX_RULES; i++) {
        Lithair__V1__FirewallRule *fr = lithair__v1__firewall_rule__unpack(
            NULL, lr->records[i]->value.len, lr->records[i]->value.data);
        if (!fr)
            continue;
        if (fw_rule_from(fr, &tmp[n]) == 0)
            n++;
        lithair__v1__firewall_rule__free_unpacked(fr, NULL);
    }
    protobuf_c_message_free_unpacked(&lr->base, NULL);
    pthread_mutex_lock(&s->mu);
    bool applied = gen > s->rules_gen;
    if (applied) {
        memcpy(s->rules, tmp, n * sizeof(*tmp));
        s->n_rules = n;
        atomic_store(&s->n_rules_hint, n);
        s->rules_gen = gen;
    }
    atomic_store(&s->rules_loaded, true);
    s->rules_at_ns = lt_now_ns();
    pthread_mutex_unlock(&s->mu);
    /* every reload that set rules, not only one that changed them: a stream whose check
     * passed just before a new rule came in force may register just after (64 streams
     * against 256 rules, twice a second, is cheap) */
    if (applied && n > 0 && s->g->sse) {
        struct fw_set set = {.rules = tmp, .n = n};
        unsigned cut = sse_hub_cut_if(s->g->sse, fw_stream_denied, &set);
        if (cut)
            lt_info("security: %u event stream%s of clients the firewall now denies ended", cut,
                    cut == 1 ? "" : "s");
    }
    free(tmp);
    return 0;
}

/* ------------------------------------------------------------------ users, sessions */

static const struct {
    const char *name;
    int role;
} demo_users[] = {
    {"admin", LITHAIR__V1__ROLE__ROLE_ADMIN},
    {"editor", LITHAIR__V1__ROLE__ROLE_EDITOR},
    {"viewer", LITHAIR__V1__ROLE__ROLE_VIEWER},
};

/* sec_seed creates the demo users that are missing (the password is the user name).
 * 0 when all exist; an error (no leader yet, ...) to try again later. */
static int sec_seed(struct gw_security *s)
{
    for (size_t i = 0; i < sizeof(demo_users) / sizeof(demo_users[0]); i++) {
        ProtobufCMessage *m = NULL;
        int rc =
            sec_get(s->g, "users", demo_users[i].name, false, &lithair__v1__user__descriptor, &m);
        if (rc == 0) {
            protobuf_c_message_free_unpacked(m, NULL);
            continue;
        }
        if (rc != LT_ENOTFOUND)
            return rc;
        char hash[crypto_pwhash_STRBYTES];
        pthread_mutex_lock(&s->hash_mu);
        int hrc = crypto_pwhash_str(hash, demo_users[i].name, strlen(demo_users[i].name),
                                    crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                    crypto_pwhash_MEMLIMIT_INTERACTIVE);
        pthread_mutex_unlock(&s->hash_mu);
        if (hrc != 0)
            return LT_ENOMEM;
        Lithair__V1__User u = LITHAIR__V1__USER__INIT;
        u.id = (char *)demo_users[i].name;
        u.password_hash = hash;
        u.role = demo_users[i].role;
        rc = sec_create(s->g, "users", &u.base, NULL, NULL, NULL);
        if (rc != 0 && rc != LT_EEXIST)
            return rc;
        lt_info("security: demo user '%s' (%s) created", demo_users[i].name,
                gw_user_role_name(demo_users[i].role));
    }
    return 0;
}

static bool sec_is_demo_user(const char *name)
{
    for (size_t i = 0; i < sizeof(demo_users) / sizeof(demo_users[0]); i++)
        if (strcmp(name, demo_users[i].name) == 0)
            return true;
    return false;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* token_hash: the session id of a token (hex of its 32-byte BLAKE2b hash). */
static void token_hash(const char *token, char out[65])
{
    uint8_t h[32];
    crypto_generichash(h, sizeof(h), (const uint8_t *)token, strlen(token), NULL, 0);
    hex(h, sizeof(h), out);
}

/* cookie_find looks for SEC_COOKIE in one Cookie header; a quoted value is unquoted. */
static bool cookie_find(const char *c, char *out, size_t n)
{
    size_t kl = strlen(SEC_COOKIE);
    while (c && *c) {
        while (*c == ' ' || *c == ';' || *c == '\t')
            c++;
        if (strncmp(c, SEC_COOKIE, kl) == 0 && c[kl] == '=') {
            c += kl + 1;
            size_t vl = strcspn(c, ";");
            while (vl && (c[vl - 1] == ' ' || c[vl - 1] == '\t'))
                vl--;
            if (vl >= 2 && c[0] == '"' && c[vl - 1] == '"') {
                c++;
                vl -= 2;
            }
            if (vl == 0 || vl >= n)
                return false;
            memcpy(out, c, vl);
            out[vl] = '\0';
            return true;
        }
        c = strchr(c, ';');
    }
    return false;
}

/* req_token finds the request's token: a bearer token (*bearer true) or the cookie, in
 * any of the request's Cookie headers. */
static bool req_token(struct gw_req *r, char *out, size_t n, bool *bearer)
{
    const char *a = mg_get_header(r->conn, "Authorization");
    *bearer = false;
    if (a && strncasecmp(a, "Bearer", 6) == 0 && (a[6] == ' ' || a[6] == '\0')) {
        const char *t = a + 6;
        while (*t == ' ')
            t++;
        size_t tl = strlen(t);
        while (tl && (t[tl - 1] == ' ' || t[tl - 1] == '\t'))
            tl--;
        /* An empty or over-long bearer token is a token no session has (a 401), never
         * taken as no token at all (anonymous). */
        if (tl == 0 || tl >= n)
            tl = 0;
        memcpy(out, t, tl);
        out[tl] = '\0';
        *bearer = true;
        return true;
    }
    for (int i = 0; i < r->ri->num_headers; i++) {
        if (strcasecmp(r->ri->http_headers[i].name, "Cookie") == 0 &&
            cookie_find(r->ri->http_headers[i].value, out, n))
            return true;
    }
    return false;
}

/* SEC_UNSEEN: sec_cached's answer when this gateway saw nothing of the session (the other
 * two, 0 and LT_ENOTFOUND, are answers in their own right: a negative one included). */
#define SEC_UNSEEN 1

/* sec_cached: what this gateway saw of session `h` in the last `max_age` ns — 0 (and *out)
 * if it was valid and still is, LT_ENOTFOUND if it ended or expired — or SEC_UNSEEN. */
static int sec_cached(struct gw_security *s, const char *h, int64_t wall, uint64_t max_age,
                      struct sess *out)
{
    int rc = SEC_UNSEEN;
    pthread_mutex_lock(&s->mu);
    uint64_t at = lt_now_ns(); /* under mu: no entry is newer (at - cached_ns cannot wrap) */
    for (size_t i = 0; i < SEC_SESSION_CACHE && rc == SEC_UNSEEN; i++) {
        struct sess *c = &s->cache[i];
        if (c->hash[0] && strcmp(c->hash, h) == 0 && at - c->cached_ns < max_age) {
            rc = !c->ended && c->expires_s > wall ? 0 : LT_ENOTFOUND;
            *out = *c;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int sec_session_read(struct gw_security *s, const char *h, int64_t wall, uint64_t now,
                            struct sess *out);

/* sec_session looks a token's session up (cache, then the cluster) for the client at
 * `addr`. 0 and *out, or LT_ENOTFOUND (unknown or expired), or LT_EBUSY and *retry_s when
 * the address has used up its lookups, or another error. A token this gateway did not see
 * valid in the last SEC_STALE_NS costs the address a lookup (SEC_LOOKUP_RATE a second,
 * burst SEC_LOOKUP_BURST) unless it turns out valid: made-up tokens cannot make the
 * cluster read at will, while a session seen here, or a new one, is never refused. */
static int sec_session(struct gw_security *s, const char *token, const char *addr, struct sess *out,
                       unsigned *retry_s)
{
    char h[65];
    token_hash(token, h);
    int64_t wall = (int64_t)time(NULL);
    uint64_t now = lt_now_ns(); /* read before any entry this lookup may write */
    int cached = sec_cached(s, h, wall, SEC_CACHE_NS, out);
    if (cached != SEC_UNSEEN)
        return cached;
    struct sess seen;
    bool known = sec_cached(s, h, wall, SEC_STALE_NS, &seen) == 0;
    if (!known) {
        pthread_mutex_lock(&s->mu);
        bool ok = limiter_take(&s->lookup, addr, lt_now_ns(), retry_s);
        pthread_mutex_unlock(&s->mu);
        if (!ok)
            return LT_EBUSY;
    }
    int rc = sec_session_read(s, h, wall, now, out);
    if (!known && rc == 0) { /* a valid session (a new login): not what the limit is for */
        pthread_mutex_lock(&s->mu);
        limiter_refund(&s->lookup, addr);
        pthread_mutex_unlock(&s->mu);
    }
    return rc;
}

/* sec_count_read counts a cluster read of a session. */
static void sec_count_read(struct gw_security *s)
{
    pthread_mutex_lock(&s->mu);
    s->session_reads++;
    pthread_mutex_unlock(&s->mu);
}

/* sec_session_read: sec_session's reads in the cluster, for hash `h` not in the cache. */
static int sec_session_read(struct gw_security *s, const char *h, int64_t wall, uint64_t now,
                            struct sess *out)
{
    ProtobufCMessage *m = NULL;
    sec_count_read(s);
    int rc = sec_get(s->g, "sessions", h, true, &lithair__v1__session__descriptor, &m);
    struct sess seen;
    int stale = rc ? sec_cached(s, h, wall, SEC_STALE_NS, &seen) : SEC_UNSEEN;
    /* Not found locally: the node read may be behind (alone, say), and a session logged in
     * through another gateway a moment ago is not applied everywhere yet: the leader says. */
    if (rc == LT_ENOTFOUND) {
        sec_count_read(s);
        rc = sec_get(s->g, "sessions", h, false, &lithair__v1__session__descriptor, &m);
    }
    if (rc && rc != LT_ENOTFOUND && stale != SEC_UNSEEN) { /* no answer: what this gateway saw */
        if (stale == 0)
            *out = seen;
        return stale;
    }
    if (rc == LT_ENOTFOUND) {
        /* Remembered as ended for as long as a session is trusted, so a client that keeps
         * sending a token the cluster does not know (a page with the cookie of a session
         * that expired, or was swept) costs two reads every 2 s, not two a request. Safe:
         * a token is known to its client only after its session is committed, which the
         * linearizable read above would have seen. Only an empty slot or another such
         * entry is taken: a flood of made-up tokens does not push out live sessions. */
        pthread_mutex_lock(&s->mu);
        uint64_t at = lt_now_ns();
        struct sess *slot = NULL;
        for (size_t i = 0; i < SEC_SESSION_CACHE; i++) {
            struct sess *c = &s->cache[i];
            if (c->hash[0] && strcmp(c->hash, h) == 0) {
                /* a logout's fresh tombstone stays as it is; anything else is replaced */
                slot = c->ended && !c->unknown && at - c->cached_ns < SEC_CACHE_NS ? NULL : c;
                break;
            }
            bool spare =
                !c->hash[0] || c->unknown || (c->ended && at - c->cached_ns >= SEC_CACHE_NS);
            if (spare && (!slot || c->cached_ns < slot->cached_ns))
                slot = c;
        }
        if (slot) {
            memset(slot, 0, sizeof(*slot));
            snprintf(slot->hash, sizeof(slot->hash), "%s", h);
            slot->ended = slot->unknown = true;
            slot->cached_ns = at;
        }
        pthread_mutex_unlock(&s->mu);
    }
    if (rc)
        return rc;
    Lithair__V1__Session *se = (Lithair__V1__Session *)m;
    struct sess v;
    memset(&v, 0, sizeof(v));
    snprintf(v.hash, sizeof(v.hash), "%s", h);
    snprintf(v.user, sizeof(v.user), "%s", se->user_id);
    v.role = se->role;
    v.expires_s = se->expires_at ? se->expires_at->seconds : 0;
    v.cached_ns = now;
    protobuf_c_message_free_unpacked(m, NULL);
    pthread_mutex_lock(&s->mu);
    /* A tombstone left while the cluster was read is newer than `now`: its age is measured
     * from the time read here, under mu, after it was written. */
    uint64_t after = lt_now_ns();
    struct sess *slot = &s->cache[0];
    for (size_t i = 0; i < SEC_SESSION_CACHE; i++) {
        struct sess *c = &s->cache[i];
        if (c->ended && strcmp(c->hash, h) == 0 && after - c->cached_ns < SEC_CACHE_NS) {
            /* logged out while this lookup read the cluster: the logout wins */
            pthread_mutex_unlock(&s->mu);
            return LT_ENOTFOUND;
        }
        if (c->cached_ns < slot->cached_ns)
            slot = c;
    }
    *slot = v;
    pthread_mutex_unlock(&s->mu);
    *out = v;
    return v.expires_s > wall ? 0 : LT_ENOTFOUND;
}

static void sec_forget(struct gw_security *s, const char *hash)
{
    /* Leave a tombstone for as long as an entry is trusted: a request that read the
     * session from the cluster just before the logout cannot cache it again. */
    pthread_mutex_lock(&s->mu);
    struct sess *slot = NULL;
    for (size_t i = 0; i < SEC_SESSION_CACHE; i++) {
        struct sess *c = &s->cache[i];
        if (strcmp(c->hash, hash) == 0) {
            memset(c, 0, sizeof(*c));
            slot = slot ? slot : c;
        }
    }
    if (!slot) {
        slot = &s->cache[0];
        for (size_t i = 0; i < SEC_SESSION_CACHE; i++)
            if (s->cache[i].cached_ns < slot->cached_ns)
                slot = &s->cache[i];
    }
    memset(slot, 0, sizeof(*slot));
    snprintf(slot->hash, sizeof(slot->hash), "%s", hash);
    slot->ended = true;
    slot->cached_ns = lt_now_ns();
    pthread_mutex_unlock(&s->mu);
}

/* ------------------------------------------------------------------ the check */

/* is_rest: the public REST API, which the rate limit counts (the page's own machinery —
 * its files, /_playground/... with its event stream and status polls — is not: a limit
 * set to show the limiter at work must not break the page that shows it). */
static bool is_rest(const char *path)
{
    return strncmp(path, "/api/", 5) == 0 || strcmp(path, "/api") == 0;
}

/* is_api: the paths identity matters for (not the page's own files, not /healthz). */
static bool is_api(const char *path)
{
    return is_rest(path) || strncmp(path, "/_playground", 12) == 0 || strcmp(path, "/metrics") == 0;
}

/* needed_role: what a request needs (0: nothing beyond the firewall and the limiter). */
static int needed_role(const char *method, const char *path)
{
    bool read = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (strncmp(path, "/_playground/auth/", 18) == 0 || !is_api(path))
        return 0; /* logging in, and the page's own files */
    if (read || strcmp(path, "/_playground/security/test-rate-limit") == 0 ||
        strcmp(path, "/_playground/security/test-firewall") == 0)
        return LITHAIR__V1__ROLE__ROLE_VIEWER;
    if (strncmp(path, "/api/", 5) == 0 || strncmp(path, "/_playground/benchmark/", 23) == 0)
        return LITHAIR__V1__ROLE__ROLE_EDITOR;
    return LITHAIR__V1__ROLE__ROLE_ADMIN; /* cluster control, firewall rules */
}

/* client_addr reads the client's address as gw_cidr_parse reads a bare address (so a
 * ::ffff:a.b.c.d client is that IPv4 address, as in rules and tests). */
static bool client_addr(struct gw_req *r, int *fam, uint8_t ip[16])
{
    unsigned prefix;
    return gw_cidr_parse(r->ri->remote_addr, fam, ip, &prefix) == 0;
}

static bool is_loopback(int fam, const uint8_t ip[16])
{
    static const uint8_t v6lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return (fam == AF_INET && ip[0] == 127) || (fam == AF_INET6 && memcmp(ip, v6lo, 16) == 0);
}

bool gw_security_check(struct gw_req *r, struct gw_identity *who)
{
    struct gw *g = r->gw;
    struct gw_security *s = g->security;
    memset(who, 0, sizeof(*who));
    if (!s) {
        who->role = LITHAIR__V1__ROLE__ROLE_ADMIN;
        return true;
    }
    int fam = 0;
    uint8_t ip[16];
    /* what a loopback client always reaches: the page itself and what removes a rule */
    bool control = strncmp(r->path, "/_playground/auth/", 18) == 0 ||
                   strncmp(r->path, "/_playground/security/", 22) == 0 || !is_api(r->path);
    /* 0. Until the rules have been read once, a client that is not on this machine is
     * not served: no rule could be matched against it (no node answers: the gateway has
     * just started, or every node is down). A loopback client keeps the page. */
    if (!atomic_load(&s->rules_loaded) && !(client_addr(r, &fam, ip) && is_loopback(fam, ip)) &&
        sec_reload_rules(s) != 0 && !atomic_load(&s->rules_loaded)) {
        sec_reply_retry(r, 503, "UNAVAILABLE",
                        "the firewall rules could not be read yet (no node answers): retry "
                        "shortly",
                        1);
        return false;
    }
    /* 1. firewall (the address is parsed only when there are rules to match it against) */
    if (atomic_load(&s->n_rules_hint) > 0 && client_addr(r, &fam, ip) &&
        !(control && is_loopback(fam, ip))) {
        pthread_mutex_lock(&s->mu);
        const struct fw_rule *fr = fw_decide(s, fam, ip);
        bool deny = fr && !fr->allow;
        char cidr[64] = "";
        if (deny) {
            snprintf(cidr, sizeof(cidr), "%s", fr->cidr);
            s->fw_denied++;
        }
        pthread_mutex_unlock(&s->mu);
        if (deny) {
            gw_reply_error(r, 403, "PERMISSION_DENIED", NULL,
                           "your address %s is blocked by the firewall rule %s", r->ri->remote_addr,
                           cidr);
            return false;
        }
    }
    /* 2. rate limit (over the REST API only) */
    int need = needed_role(r->method, r->path);
    bool api = is_api(r->path);
    if (is_rest(r->path) && s->api.rate > 0 && /* the rate is fixed at start: read without mu */
        !sec_limit(r, &s->api, "rate limit: too many requests from your address"))
        return false;
    /* 3. identity */
    char token[160];
    bool bearer = false;
    who->role = s->anon_role;
    who->anonymous = true;
    bool logout = strcmp(r->path, "/_playground/auth/logout") == 0;
    const char *scheme = api ? mg_get_header(r->conn, "Authorization") : NULL;
    if (scheme && !(strncasecmp(scheme, "Bearer", 6) == 0 && (scheme[6] == ' ' || !scheme[6]))) {
        /* credentials of another scheme (Basic ...) are refused, not ignored: ignored, the
         * client went on as anonymous — the admin role, on an open playground — believing
         * it had identified itself (QA) */
        size_t k = strcspn(scheme, " \t");
        gw_reply_error(r, 401, "UNAUTHENTICATED", NULL,
                       "Authorization scheme '%.*s' is not supported: send 'Authorization: "
                       "Bearer TOKEN' with a token from POST /_playground/auth/login, or its "
                       "session cookie",
                       (int)(k < 24 ? k : 24), scheme);
        return false;
    }
    if (api && req_token(r, token, sizeof(token), &bearer)) {
        struct sess v;
        unsigned retry = 1;
        int rc = token[0] ? sec_session(s, token, r->ri->remote_addr, &v, &retry) : LT_ENOTFOUND;
        if (rc == LT_EBUSY) {
            char why[160];
            snprintf(why, sizeof(why),
                     "too many unknown session tokens from your address: retry in %u s (or "
                     "log in)",
                     retry);
            sec_reply_retry(r, 429, "RESOURCE_EXHAUSTED", why, retry);
            return false;
        }
        if (rc == 0) {
            who->role = v.role;
            who->anonymous = false;
            snprintf(who->user, sizeof(who->user), "%s", v.user);
            snprintf(who->session, sizeof(who->session), "%s", v.hash);
            who->expires_s = v.expires_s;
        } else if (rc != LT_ENOTFOUND && (need > s->anon_role ||
                                          strcmp(r->path, "/_playground/auth/me") == 0 || logout)) {
            /* the cluster could not say: logging in again would not help (and "who am I"
             * must not answer "anonymous" for a session that may well exist, nor a logout
             * "done" for a session it did not end) */
            gw_reply_error(r, 503, "UNAVAILABLE", NULL,
                           "the session could not be checked (%s): retry shortly", lt_strerror(rc));
            return false;
        } else if (rc == LT_ENOTFOUND && bearer && !logout) {
            /* (a logout of a session that has already ended is done: 204, as with a cookie) */
            gw_reply_error(r, 401, "UNAUTHENTICATED", NULL,
                           "the bearer token is unknown or expired: log in");
            return false;
        } /* a stale cookie: the client is anonymous (the page offers to log in again) */
    }
    /* 4. RBAC */
    if (need > who->role) {
        pthread_mutex_lock(&s->mu);
        s->auth_refused++;
        pthread_mutex_unlock(&s->mu);
        if (who->anonymous)
            gw_reply_error(r, 401, "UNAUTHENTICATED", NULL,
                           "log in: %s %s needs the %s role, and anonymous clients have %s",
                           r->method, r->path, gw_user_role_name(need),
                           gw_user_role_name(who->role));
        else
            gw_reply_error(r, 403, "PERMISSION_DENIED", NULL,
                           "%s (%s) may not %s %s: it needs the %s role", who->user,
                           gw_user_role_name(who->role), r->method, r->path,
                           gw_user_role_name(need));
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ routes */

static json_object *me_json(const struct gw_identity *w)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "user", w->anonymous ? NULL : json_object_new_string(w->user));
    json_object_object_add(o, "role", json_object_new_string(gw_user_role_name(w->role)));
    json_object_object_add(o, "anonymous", json_object_new_boolean(w->anonymous));
    if (!w->anonymous)
        json_object_object_add(o, "expiresAt", json_object_new_int64(w->expires_s));
    return o;
}

static int sec_login(struct gw_req *r)
{
    struct gw_security *s = r->gw->security;
    json_object *j = NULL, *u = NULL, *p = NULL;
    /* guessing passwords is slow by design: 5 tries a second, burst 10 */
    if (!sec_limit(r, &s->login, "too many login attempts from your address"))
        return r->status;
    if (gw_read_json(r, false, &j) < 0)
        return r->status;
    json_object_object_foreach(j, key, val)
    {
        (void)val;
        if (strcmp(key, "user") != 0 && strcmp(key, "password") != 0) {
            gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL, "unknown field '%.60s'", key);
            json_object_put(j);
            return r->status;
        }
    }
    if (!json_object_object_get_ex(j, "user", &u) || !json_object_is_type(u, json_type_string) ||
        !json_object_object_get_ex(j, "password", &p) ||
        !json_object_is_type(p, json_type_string)) {
        json_object_put(j);
        return gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL,
                              "expected {\"user\": \"…\", \"password\": \"…\"}");
    }
    char user[65];
    snprintf(user, sizeof(user), "%s", json_object_get_string(u));
    ProtobufCMessage *m = NULL;
    int rc = user[0] ? sec_get(r->gw, "users", user, false, &lithair__v1__user__descriptor, &m)
                     : LT_ENOTFOUND;
    bool ok = false;
    int role = 0;
    if (rc == LT_ENOTFOUND && !atomic_load(&s->seeded) && sec_is_demo_user(user)) {
        /* the cluster has just started: the tick creates the demo users as soon as it
         * takes writes (under a second) — not a wrong password */
        json_object_put(j);
        return gw_reply_error(r, 503, "UNAVAILABLE", NULL,
                              "the demo users are being set up (the cluster has just started): "
                              "retry in a moment");
    }
    /* Logins queued for the hash hold their HTTP workers: a flood of them from a few
     * addresses (each within its login limit) took every worker, and every other request
     * waited behind ~0.1 s a login (QA). A quarter of the workers may wait; the others
     * are told to retry. */
    unsigned most = r->gw->cfg.threads / 4 ? r->gw->cfg.threads / 4 : 1;
    if ((rc == 0 || rc == LT_ENOTFOUND) && atomic_fetch_add(&s->hashing, 1) >= most) {
        atomic_fetch_sub(&s->hashing, 1);
        if (m)
            protobuf_c_message_free_unpacked(m, NULL);
        json_object_put(j);
        return sec_reply_retry(r, 503, "UNAVAILABLE", "too many logins at once: retry in a moment",
                               1);
    }
    if (rc == LT_ENOTFOUND) { /* as long as a wrong password: no hint that the user is unknown */
        const char *pw = json_object_get_string(p);
        pthread_mutex_lock(&s->hash_mu);
        if (!s->dummy_hash[0] && crypto_pwhash_str(s->dummy_hash, "lithair-no-such-user", 20,
                                                   crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                                   crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
            s->dummy_hash[0] = '\0';
        if (s->dummy_hash[0] && crypto_pwhash_str_verify(s->dummy_hash, pw, strlen(pw)) == 0)
            lt_debug("security: a password matched the dummy hash"); /* it never should */
        pthread_mutex_unlock(&s->hash_mu);
    }
    if (rc == 0) {
        Lithair__V1__User *usr = (Lithair__V1__User *)m;
        const char *pw = json_object_get_string(p);
        pthread_mutex_lock(&s->hash_mu);
        ok = crypto_pwhash_str_verify(usr->password_hash, pw, strlen(pw)) == 0;
        pthread_mutex_unlock(&s->hash_mu);
        role = usr->role;
        protobuf_c_message_free_unpacked(m, NULL);
    }
    if (rc == 0 || rc == LT_ENOTFOUND)
        atomic_fetch_sub(&s->hashing, 1);
    json_object_put(j);
    if (rc != 0 && rc != LT_ENOTFOUND)
        return gw_reply_error(r, 503, "UNAVAILABLE", NULL, "the users could not be read: %s",
                              lt_strerror(rc));
    if (!ok) {
        pthread_mutex_lock(&s->mu);
        s->auth_refused++;
        pthread_mutex_unlock(&s->mu);
        return gw_reply_error(r, 401, "UNAUTHENTICATED", NULL, "wrong user name or password");
    }
    uint8_t raw[SEC_TOKEN_BYTES];
    char token[2 * SEC_TOKEN_BYTES + 1], h[65];
    randombytes_buf(raw, sizeof(raw));
    hex(raw, sizeof(raw), token);
    token_hash(token, h);
    Lithair__V1__Timestamp exp = LITHAIR__V1__TIMESTAMP__INIT;
    exp.seconds = (int64_t)time(NULL) + (int64_t)s->session_ttl_s;
    Lithair__V1__Session se = LITHAIR__V1__SESSION__INIT;
    se.id = h;
    se.user_id = user;
    se.role = role;
    se.expires_at = &exp;
    rc = sec_create(r->gw, "sessions", &se.base, NULL, NULL, NULL);
    if (rc != 0)
        return gw_reply_error(r, 503, "UNAVAILABLE", NULL, "the session could not be stored: %s",
                              lt_strerror(rc));
    char hdr[256];
    snprintf(hdr, sizeof(hdr),
             "Set-Cookie: " SEC_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%d\r\n",
             token, (int)s->session_ttl_s);
    struct gw_identity w = {.role = role, .anonymous = false, .expires_s = exp.seconds};
    snprintf(w.user, sizeof(w.user), "%s", user);
    json_object *o = me_json(&w);
    json_object_object_add(o, "token", json_object_new_string(token));
    lt_info("security: %s logged in (%s)", user, gw_user_role_name(role));
    return gw_reply_json(r, 200, o, hdr);
}

static int sec_logout(struct gw_req *r)
{
    const struct gw_identity w = r->who;
    if (!w.anonymous) {
        int rc = sec_delete(r->gw, "sessions", w.session);
        if (rc != 0 && rc != LT_ENOTFOUND)
            return gw_reply_error(r, 503, "UNAVAILABLE", NULL,
                                  "the session could not be removed: %s", lt_strerror(rc));
        sec_forget(r->gw->security, w.session);
        if (r->gw->sse) /* its event streams end too, and none opens again with it */
            sse_hub_revoke(r->gw->sse, w.session, w.expires_s);
    }
    gw_send_response(r, 204, NULL, "no-store",
                     "Set-Cookie: " SEC_COOKIE "=; Path=/; HttpOnly; SameSite=Strict; "
                     "Max-Age=0\r\n",
                     NULL, 0, false);
    return 204;
}

static int sec_me(struct gw_req *r)
{
    json_object *o = me_json(&r->who);
    /* the address the firewall sees, so that the page can warn before a rule blocks it */
    json_object_object_add(o, "address", json_object_new_string(r->ri->remote_addr));
    return gw_reply_json(r, 200, o, NULL);
}

/* limiter_json describes a limiter for the status route (lock held). */
static json_object *limiter_json(const struct limiter *l)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "perSecond", json_object_new_double(l->rate));
    json_object_object_add(o, "burst", json_object_new_double(l->burst));
    json_object_object_add(o, "accepted", gw_json_u64(l->accepted));
    json_object_object_add(o, "rejected", gw_json_u64(l->rejected));
    return o;
}

static int sec_status(struct gw_req *r)
{
    struct gw_security *s = r->gw->security;
    json_object *o = json_object_new_object();
    pthread_mutex_lock(&s->mu);
    json_object *rl = limiter_json(&s->api);
    json_object *tl = limiter_json(&s->test);
    json_object *lk = limiter_json(&s->lookup);
    json_object_object_add(lk, "clusterReads", gw_json_u64(s->session_reads));
    json_object *fw = json_object_new_object();
    json_object_object_add(fw, "rules", gw_json_u64(s->n_rules));
    json_object_object_add(fw, "denied", gw_json_u64(s->fw_denied));
    json_object_object_add(o, "anonymousRole",
                           json_object_new_string(gw_user_role_name(s->anon_role)));
    json_object_object_add(o, "refused", gw_json_u64(s->auth_refused));
    json_object_object_add(o, "sessionTtlSeconds", gw_json_u64(s->session_ttl_s));
    json_object_object_add(o, "expiredSessionsDeleted", gw_json_u64(s->purged));
    pthread_mutex_unlock(&s->mu);
    json_object_object_add(o, "rateLimit", rl);
    json_object_object_add(o, "testRateLimit", tl);
    json_object_object_add(o, "sessionLookups", lk);
    json_object_object_add(o, "firewall", fw);
    json_object *circ = json_object_new_array();
    for (size_t i = 0; i < r->gw->n_nodes; i++) {
        struct rpc_endpoint_stats es;
        if (rpc_client_stats(r->gw->client, i, &es) != 0)
            continue;
        json_object *c = json_object_new_object();
        json_object_object_add(c, "node", gw_json_u64(r->gw->nodes[i].id));
        json_object_object_add(c, "state",
                               json_object_new_string(rpc_breaker_state_name(es.state)));
        json_object_object_add(c, "opens", gw_json_u64(es.opens));
        json_object_object_add(c, "rejected", gw_json_u64(es.rejected));
        json_object_array_add(circ, c);
    }
    json_object_object_add(o, "circuits", circ);
    json_object *users = json_object_new_array();
    for (size_t i = 0; i < sizeof(demo_users) / sizeof(demo_users[0]); i++) {
        json_object *u = json_object_new_object();
        json_object_object_add(u, "user", json_object_new_string(demo_users[i].name));
        json_object_object_add(u, "role",
                               json_object_new_string(gw_user_role_name(demo_users[i].role)));
        json_object_array_add(users, u);
    }
    json_object_object_add(o, "demoUsers", users);
    return gw_reply_json(r, 200, o, NULL);
}

static int sec_test_rate_limit(struct gw_req *r)
{
    struct gw_security *s = r->gw->security;
    if (!sec_limit(r, &s->test, "rate limit: this test endpoint takes 10 requests a second"))
        return r->status;
    pthread_mutex_lock(&s->mu);
    uint64_t acc = s->test.accepted, rej = s->test.rejected;
    pthread_mutex_unlock(&s->mu);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "allowed", json_object_new_boolean(true));
    json_object_object_add(o, "accepted", gw_json_u64(acc));
    json_object_object_add(o, "rejected", gw_json_u64(rej));
    return gw_reply_json(r, 200, o, NULL);
}

static json_object *rule_json(const struct fw_rule *fr)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_string(fr->id));
    json_object_object_add(o, "cidr", json_object_new_string(fr->cidr));
    json_object_object_add(o, "action", json_object_new_string(fr->allow ? "allow" : "deny"));
    json_object_object_add(o, "note", json_object_new_string(fr->note));
    return o;
}

static int sec_fw_list(struct gw_req *r)
{
    struct gw_security *s = r->gw->security;
    int rc = sec_reload_rules(s);
    if (rc != 0 && !atomic_load(&s->rules_loaded))
        return gw_reply_error(r, 503, "UNAVAILABLE", NULL, "the rules could not be read: %s",
                              lt_strerror(rc));
    json_object *arr = json_object_new_array();
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n_rules; i++)
        json_object_array_add(arr, rule_json(&s->rules[i]));
    uint64_t denied = s->fw_denied;
    pthread_mutex_unlock(&s->mu);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "rules", arr);
    json_object_object_add(o, "denied", gw_json_u64(denied));
    return gw_reply_json(r, 200, o, NULL);
}

static json_object *field_err(const char *field, const char *what)
{
    json_object *d = json_object_new_array();
    json_object *x = json_object_new_object();
    json_object_object_add(x, "field", json_object_new_string(field));
    json_object_object_add(x, "description", json_object_new_string(what));
    json_object_array_add(d, x);
    return d;
}

static int sec_fw_add(struct gw_req *r)
{
    json_object *j = NULL;
    if (gw_read_json(r, false, &j) < 0)
        return r->status;
    const char *cidr = NULL, *action = "deny", *note = "";
    json_object_object_foreach(j, key, val)
    {
        const char **to = strcmp(key, "cidr") == 0     ? &cidr
                          : strcmp(key, "action") == 0 ? &action
                          : strcmp(key, "note") == 0   ? &note
                                                       : NULL;
        if (!to) { /* named before its type: an unknown field is unknown whatever it holds */
            gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL, "unknown field '%.60s'", key);
            json_object_put(j);
            return r->status;
        }
        if (!json_object_is_type(val, json_type_string)) {
            gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL, "field '%.40s': expected a string",
                           key);
            json_object_put(j);
            return r->status;
        }
        *to = json_object_get_string(val);
    }
    int fam;
    uint8_t a[16];
    unsigned prefix;
    if (!cidr || gw_cidr_parse(cidr, &fam, a, &prefix) != 0) {
        json_object_put(j);
        gw_reply_error(r, 422, "INVALID_ARGUMENT",
                       field_err("cidr", !cidr ? "is required"
                                               : "must be an IPv4 or IPv6 address, optionally "
                                                 "/prefix"),
                       "validation failed");
        return r->status;
    }
    bool allow = strcmp(action, "allow") == 0;
    if (!allow && strcmp(action, "deny") != 0) {
        json_object_put(j);
        gw_reply_error(r, 422, "INVALID_ARGUMENT", field_err("action", "must be deny or allow"),
                       "validation failed");
        return r->status;
    }
    bool force = false;
    char fv[16];
    int qrc = gw_query(r, "force", fv, sizeof(fv));
    if (qrc != LT_ENOTFOUND && (qrc < 0 || gw_parse_bool(fv, &force) != 0)) {
        json_object_put(j);
        return gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL,
                              "bad query parameter 'force': expected true or false");
    }
    /* 10.0.0.1/8 is the network 10.0.0.0/8: stored so, as every reader will take it */
    char norm[64];
    if (fw_mask(fam, a, prefix)) {
        char text[INET6_ADDRSTRLEN];
        inet_ntop(fam, a, text, sizeof(text));
        snprintf(norm, sizeof(norm), "%s/%u", text, prefix);
        cidr = norm;
    }
    struct fw_rule nr = {.allow = allow, .family = fam, .prefix = prefix};
    memcpy(nr.addr, a, sizeof(nr.addr));
    snprintf(nr.cidr, sizeof(nr.cidr), "%s", cidr);
    /* Count and create under add_mu: two adds for the last place both saw room and both
     * created, and the rule past SEC_MAX_RULES was stored but never loaded, so never
     * enforced. (Adds through another gateway at the same moment can still pass.) */
    pthread_mutex_lock(&r->gw->security->add_mu);
    (void)sec_reload_rules(r->gw->security);
    struct gw_security *s = r->gw->security;
    pthread_mutex_lock(&s->mu);
    bool full = s->n_rules >= SEC_MAX_RULES;
    char same[64] = "";
    for (size_t i = 0; i < s->n_rules && !same[0]; i++) {
        struct fw_rule ex = s->rules[i];
        (void)fw_mask(ex.family, ex.addr, ex.prefix); /* one stored before normalizing */
        if (ex.family == fam && ex.prefix == prefix && ex.allow == allow &&
            memcmp(ex.addr, a, 16) == 0)
            snprintf(same, sizeof(same), "%s", ex.id);
    }
    /* A remote admin's deny rule that takes their own address away: every route, the one
     * that removes rules too, would refuse them from the next request on (a loopback
     * client keeps the page and the security routes: it can undo the rule). */
    int cfam;
    uint8_t cip[16];
    bool self = false;
    if (!allow && client_addr(r, &cfam, cip) && !is_loopback(cfam, cip) &&
        gw_cidr_match(fam, a, prefix, cfam, cip)) {
        const struct fw_rule *best = fw_decide(s, cfam, cip);
        self = !best || fw_span(best->family, best->prefix) <= fw_span(fam, prefix) ||
               !best->allow; /* deny wins a tie */
    }
    pthread_mutex_unlock(&s->mu);
    if (full || same[0] || (self && !force)) {
        pthread_mutex_unlock(&s->add_mu);
        json_object_put(j);
        if (same[0])
            return gw_reply_error(r, 409, "ALREADY_EXISTS", NULL,
                                  "the same rule exists: %s %s (id %s)", allow ? "allow" : "deny",
                                  nr.cidr, same);
        if (full)
            return gw_reply_error(r, 409, "FAILED_PRECONDITION", NULL,
                                  "the firewall holds at most %d rules: remove one first",
                                  SEC_MAX_RULES);
        return gw_reply_error(r, 409, "FAILED_PRECONDITION", NULL,
                              "the rule deny %s matches your own address %s: it would lock you "
                              "out of this gateway, the firewall's own routes included (add "
                              "?force=true to add it anyway)",
                              nr.cidr, r->ri->remote_addr);
    }
    Lithair__V1__FirewallRule fr = LITHAIR__V1__FIREWALL_RULE__INIT;
    fr.cidr = (char *)cidr;
    fr.action = allow ? LITHAIR__V1__FIREWALL_RULE__ACTION__ALLOW
                      : LITHAIR__V1__FIREWALL_RULE__ACTION__DENY;
    fr.note = (char *)note;
    ProtobufCMessage *got = NULL;
    struct rpc_status st;
    memset(&st, 0, sizeof(st)); /* sec_create may fail before any call */
    int rc = sec_create(r->gw, "firewall_rules", &fr.base, &lithair__v1__firewall_rule__descriptor,
                        &got, &st);
    if (rc == 0)
        (void)sec_reload_rules(r->gw->security); /* in force for the next request */
    pthread_mutex_unlock(&r->gw->security->add_mu);
    json_object_put(j); /* cidr and note pointed into it */
    if (rc == LT_ECORRUPT)
        return gw_reply_error(r, 500, "INTERNAL", NULL, "the node returned no rule");
    if (rc != 0)
        return gw_reply_rpc_error(r, rc, &st, false);
    struct fw_rule out;
    rc = fw_rule_from((Lithair__V1__FirewallRule *)got, &out);
    protobuf_c_message_free_unpacked(got, NULL);
    if (rc != 0)
        return gw_reply_error(r, 500, "INTERNAL", NULL, "the node returned a rule it cannot hold");
    return gw_reply_json(r, 201, rule_json(&out), NULL);
}

static int sec_fw_delete(struct gw_req *r)
{
    const char *id = gw_params_get(&r->params, "id");
    int rc = sec_delete(r->gw, "firewall_rules", id);
    if (rc == LT_ENOTFOUND)
        return gw_reply_error(r, 404, "NOT_FOUND", NULL, "no firewall rule %.80s", id);
    if (rc != 0)
        return gw_reply_error(r, 503, "UNAVAILABLE", NULL, "the rule could not be removed: %s",
                              lt_strerror(rc));
    (void)sec_reload_rules(r->gw->security);
    gw_send_response(r, 204, NULL, "no-store", NULL, NULL, 0, false);
    return 204;
}

static int sec_test_firewall(struct gw_req *r)
{
    struct gw_security *s = r->gw->security;
    json_object *j = NULL, *ipj;
    if (gw_read_json(r, false, &j) < 0)
        return r->status;
    /* as POST /firewall: an unknown field or a wrong type is a 400, a bad address a 422 */
    json_object_object_foreach(j, key, val)
    {
        if (strcmp(key, "ip") != 0 || !json_object_is_type(val, json_type_string)) {
            if (strcmp(key, "ip") != 0)
                gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL, "unknown field '%.60s'", key);
            else
                gw_reply_error(r, 400, "INVALID_ARGUMENT", NULL, "field 'ip': expected a string");
            json_object_put(j);
            return r->status;
        }
    }
    int fam;
    uint8_t a[16];
    unsigned prefix;
    if (!json_object_object_get_ex(j, "ip", &ipj) ||
        gw_cidr_parse(json_object_get_string(ipj), &fam, a, &prefix) != 0 ||
        prefix != (fam == AF_INET ? 32u : 128u)) {
        json_object_put(j);
        gw_reply_error(r, 422, "INVALID_ARGUMENT",
                       field_err("ip", "must be one IPv4 or IPv6 address"), "validation failed");
        return r->status;
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "ip", json_object_new_string(json_object_get_string(ipj)));
    json_object_put(j);
    pthread_mutex_lock(&s->mu);
    const struct fw_rule *fr = fw_decide(s, fam, a);
    json_object_object_add(o, "action",
                           json_object_new_string(!fr || fr->allow ? "allow" : "deny"));
    json_object_object_add(o, "rule", fr ? rule_json(fr) : NULL);
    pthread_mutex_unlock(&s->mu);
    return gw_reply_json(r, 200, o, NULL);
}

/* ------------------------------------------------------------------ life cycle */

int gw_security_new(struct gw *g, int anon_role, double rate, double burst, unsigned session_ttl_s)
{
    if (sodium_init() < 0)
        return LT_EIO;
    struct gw_security *s = calloc(1, sizeof(*s));
    if (!s)
        return LT_ENOMEM;
    s->g = g;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->add_mu, NULL);
    s->anon_role = anon_role;
    s->session_ttl_s = session_ttl_s ? session_ttl_s : 12 * 3600;
    s->api.rate = rate;
    s->api.burst = burst > 0 ? burst : rate;
    s->test.rate = SEC_TEST_RATE;
    s->test.burst = SEC_TEST_RATE;
    s->login.rate = 5;
    s->login.burst = 10;
    s->lookup.rate = SEC_LOOKUP_RATE;
    s->lookup.burst = SEC_LOOKUP_BURST;
    pthread_mutex_init(&s->hash_mu, NULL);
    g->security = s;
    int rc = 0;
    if ((rc = gw_route_add(g, "POST", "/_playground/auth/login", sec_login, NULL, "login")) ||
        (rc = gw_route_add(g, "POST", "/_playground/auth/logout", sec_logout, NULL, "logout")) ||
        (rc = gw_route_add(g, "GET", "/_playground/auth/me", sec_me, NULL, "me")) ||
        (rc = gw_route_add(g, "GET", "/_playground/security/status", sec_status, NULL,
                           "security_status")) ||
        /* the plan's name for the same counters */
        (rc = gw_route_add(g, "GET", "/_playground/security/stats", sec_status, NULL,
                           "security_stats")) ||
        (rc = gw_route_add(g, "POST", "/_playground/security/test-rate-limit", sec_test_rate_limit,
                           NULL, "test_rate_limit")) ||
        (rc = gw_route_add(g, "GET", "/_playground/security/firewall", sec_fw_list, NULL,
                           "firewall_list")) ||
        (rc = gw_route_add(g, "POST", "/_playground/security/firewall", sec_fw_add, NULL,
                           "firewall_add")) ||
        (rc = gw_route_add(g, "DELETE", "/_playground/security/firewall/:id", sec_fw_delete, NULL,
                           "firewall_delete")) ||
        (rc = gw_route_add(g, "POST", "/_playground/security/test-firewall", sec_test_firewall,
                           NULL, "test_firewall")))
        return rc;
    return 0;
}

/* sec_purge deletes expired sessions (they no longer authenticate, but would pile up):
 * a sweep every min(60 s, the TTL) walks the sessions a page of 1000 at a time, up to
 * SEC_PURGE_PAGES pages, and the next sweep goes on where it stopped. Live sessions do not
 * hide the expired ones behind them in key order. Tick only. */
static void sec_purge(struct gw_security *s)
{
    uint64_t every = (uint64_t)(s->session_ttl_s < 60 ? s->session_ttl_s : 60) * 1000000000ull;
    if (lt_now_ns() - s->purged_at_ns < every)
        return;
    s->purged_at_ns = lt_now_ns();
    for (int page = 0; page < SEC_PURGE_PAGES; page++) {
        Lithair__V1__ListRequest req = LITHAIR__V1__LIST_REQUEST__INIT;
        req.model = "sessions";
        req.limit = 1000;
        req.cursor = s->purge_cursor;
        req.consistency = LITHAIR__V1__CONSISTENCY__SERIALIZABLE;
        Lithair__V1__ListReply *lr = NULL;
        if (sec_call(s->g, "Models/List", &req.base, &lithair__v1__list_reply__descriptor,
                     (ProtobufCMessage **)&lr) != 0) {
            s->purge_cursor[0] = '\0'; /* a cursor the cluster refuses: start over */
            return;
        }
        int64_t now = (int64_t)time(NULL);
        for (size_t i = 0; i < lr->n_records; i++) {
            Lithair__V1__Session *se = lithair__v1__session__unpack(NULL, lr->records[i]->value.len,
                                                                    lr->records[i]->value.data);
            if (!se)
                continue;
            if (!se->expires_at || se->expires_at->seconds <= now) {
                int rc = sec_delete(s->g, "sessions", se->id);
                if (rc == 0 || rc == LT_ENOTFOUND) { /* another gateway may have been first */
                    sec_forget(s, se->id);
                    pthread_mutex_lock(&s->mu);
                    s->purged += rc == 0;
                    pthread_mutex_unlock(&s->mu);
                }
            }
            lithair__v1__session__free_unpacked(se, NULL);
        }
        const char *next = lr->next_cursor ? lr->next_cursor : "";
        bool last = !*next || strlen(next) >= sizeof(s->purge_cursor);
        snprintf(s->purge_cursor, sizeof(s->purge_cursor), "%s", last ? "" : next);
        protobuf_c_message_free_unpacked(&lr->base, NULL);
        if (last)
            return; /* the whole table was seen: the next sweep starts at its beginning */
    }
}

void gw_security_tick(struct gw *g)
{
    struct gw_security *s = g->security;
    if (!s)
        return;
    sec_in_tick = true;
    if (!atomic_load(&s->seeded) && sec_seed(s) == 0)
        atomic_store(&s->seeded, true);
    pthread_mutex_lock(&s->mu); /* request threads reload the rules too */
    uint64_t rules_at = s->rules_at_ns;
    pthread_mutex_unlock(&s->mu);
    if (lt_now_ns() - rules_at >= SEC_RELOAD_NS)
        (void)sec_reload_rules(s);
    sec_purge(s);
    sec_in_tick = false;
}

void gw_security_free(struct gw *g)
{
    struct gw_security *s = g->security;
    if (!s)
        return;
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->add_mu);
    pthread_mutex_destroy(&s->hash_mu);
    free(s);
    g->security = NULL;
}
