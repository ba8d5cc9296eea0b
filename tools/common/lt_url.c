/* lt_url.c — the one check of an NNG URL given on a command line (lithair-node's own URLs
 * and --peer, lithair-gateway's --node, lithair-admin's --endpoints and --events), so that
 * a URL NNG would refuse, or take and fail with later in the background, is refused at
 * once with what is wrong with it. */
#include "lt_url.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

const char *lt_url_problem(const char *url)
{
    static const char *const tcp_like[] = {"tcp", "tcp4", "tcp6", "tls+tcp", "tls+tcp4", "tls+tcp6",
                                           "ws",  "ws4",  "ws6",  "wss",     "wss4",     "wss6"};
    static const char *const path_like[] = {"ipc", "inproc", "abstract"};
    size_t len = strlen(url);
    if (len == 0)
        return "empty";
    if (len >= LT_URL_MAX)
        return "too long (at most 255 bytes)";
    for (const char *p = url; *p; p++) {
        if (*p == ' ' || *p == ',' || (unsigned char)*p < 0x20 || *p == 0x7f)
            return *p == ',' ? "contains a comma" : "contains a space or control character";
    }
    const char *sep = strstr(url, "://");
    if (!sep || sep == url)
        return "expected SCHEME://ADDRESS (tcp://HOST:PORT, ipc://PATH, ...)";
    size_t slen = (size_t)(sep - url);
    const char *rest = sep + 3;
    for (size_t i = 0; i < sizeof(path_like) / sizeof(path_like[0]); i++) {
        if (strlen(path_like[i]) == slen && memcmp(url, path_like[i], slen) == 0)
            return *rest ? NULL : "no path after ://";
    }
    bool web = false, known = false;
    for (size_t i = 0; i < sizeof(tcp_like) / sizeof(tcp_like[0]) && !known; i++) {
        known = strlen(tcp_like[i]) == slen && memcmp(url, tcp_like[i], slen) == 0;
        web = known && tcp_like[i][0] == 'w';
    }
    if (!known)
        return "unknown scheme (expected tcp://HOST:PORT, ipc://PATH, ...)";
    /* HOST:PORT, HOST an [IPv6] in brackets; websockets may add a /PATH */
    size_t alen = strcspn(rest, "/");
    if (rest[alen] && !web)
        return "a path after HOST:PORT";
    const char *port = NULL;
    if (rest[0] == '[') {
        const char *close = memchr(rest, ']', alen);
        if (!close || close == rest + 1)
            return "expected HOST:PORT, HOST an IPv6 address in brackets";
        port = close[1] == ':' ? close + 2 : NULL;
    } else {
        for (const char *p = rest; p < rest + alen; p++)
            port = *p == ':' ? p + 1 : port;
        if (port == rest + 1)
            return "no host (expected HOST:PORT)";
    }
    if (!port)
        return "no port (expected HOST:PORT)";
    unsigned long v = 0;
    const char *end = rest + alen;
    if (port == end)
        return "no port (expected HOST:PORT)";
    for (const char *p = port; p < end; p++) {
        if (*p < '0' || *p > '9')
            return "port must be a number in 1..65535";
        v = v * 10 + (unsigned long)(*p - '0');
        if (v > 65535)
            return "port must be 1..65535";
    }
    return v == 0 ? "port must be 1..65535" : NULL;
}
