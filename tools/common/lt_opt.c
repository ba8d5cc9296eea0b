/* lt_opt.c — naming the option getopt_long just refused (see lt_opt.h). */
#include "lt_opt.h"

#include <getopt.h>
#include <stdbool.h>
#include <string.h>

const char *lt_opt_refused(int argc, char **argv, char buf[3])
{
    const char *last = optind > 0 && optind <= argc ? argv[optind - 1] : NULL;
    /* an unknown long option (optopt 0), or a long one given a value it does not take
     * (optopt its value): optind has moved past it */
    bool is_long = last && strncmp(last, "--", 2) == 0 && last[2];
    /* ... unless the refused option is in the middle of the short cluster at optind */
    const char *cur = optind < argc ? argv[optind] : NULL;
    bool in_cluster = optopt > 0 && optopt < 256 && cur && cur[0] == '-' && cur[1] &&
                      cur[1] != '-' && strchr(cur + 1, optopt);
    if ((is_long && !in_cluster) || optopt <= 0 || optopt >= 256)
        return last ? last : "?";
    buf[0] = '-';
    buf[1] = (char)optopt;
    buf[2] = '\0';
    return buf;
}
