/* gw_security.h — the gateway's protection layers: firewall, rate limit, sessions and
 * roles (gw_security.c has the whole story), and the routes that show them. */
#ifndef GW_SECURITY_H
#define GW_SECURITY_H

#include <stdbool.h>
#include <stdint.h>

struct gw;
struct gw_req;

/* Who a request acts as, once gw_security_check let it through. Roles are Role in
 * model.proto: 0 none, 1 viewer, 2 editor, 3 admin. */
struct gw_identity {
    int role;
    bool anonymous;
    char user[65];
    char session[65]; /* the session id (hash of its token); "" when anonymous */
    int64_t expires_s;
};

/* gw_security_new makes the layers and registers their routes: anonymous clients get
 * `anon_role`; `rate` requests a second (burst `burst`) per client address over the API,
 * 0 = no limit; sessions last `session_ttl_s` (0: 12 h). 0 or an LT_E* code. */
int gw_security_new(struct gw *g, int anon_role, double rate, double burst, unsigned session_ttl_s);
void gw_security_free(struct gw *g);

/* gw_security_tick (twice a second, off the request path): creates the demo users once
 * the cluster can take writes, and reloads the firewall rules. */
void gw_security_tick(struct gw *g);

/* gw_security_check runs firewall, rate limit, identity and role check for `r`; false
 * when it answered (403, 429, 401). Without gw_security_new every request is admin. */
bool gw_security_check(struct gw_req *r, struct gw_identity *who);

const char *gw_user_role_name(int role);
int gw_user_role_parse(const char *s); /* "viewer" → 1; -1 if unknown */

/* gw_cidr_parse reads "a.b.c.d[/n]" or an IPv6 address[/n]; a bare address is /32 or
 * /128; ::ffff:a.b.c.d/n with n >= 96 is the IPv4 a.b.c.d/(n-96). 0, or LT_EINVAL with
 * the out-parameters untouched. gw_cidr_match: is `ip` inside the network? An IPv4
 * address is inside an IPv6 network that holds its ::ffff:a.b.c.d form (::/0 holds every
 * address). */
int gw_cidr_parse(const char *s, int *family, uint8_t addr[16], unsigned *prefix);
bool gw_cidr_match(int family, const uint8_t net[16], unsigned prefix, int ip_family,
                   const uint8_t ip[16]);

#endif
