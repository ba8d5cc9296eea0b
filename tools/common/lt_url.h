/* lt_url.h — checking an NNG URL given on a command line (lt_url.c). */
#ifndef LT_URL_H
#define LT_URL_H

#define LT_URL_MAX 256 /* a URL's bytes, its NUL included */

/* lt_url_problem says what is wrong with `url` (NULL: nothing): NNG's SCHEME://..., a
 * transport NNG has, no blank or control character (nor a comma: lists and --peer separate
 * their fields with them), at most LT_URL_MAX - 1 bytes, and for the TCP-based transports
 * a host and a port in 1..65535 (NNG takes a bad port and fails later, in the
 * background). */
const char *lt_url_problem(const char *url);

#endif
