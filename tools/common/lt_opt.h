/* lt_opt.h — naming the option getopt_long just refused, for the one-line usage errors of
 * lithair-node, lithair-gateway and lithair-admin. */
#ifndef LT_OPT_H
#define LT_OPT_H

/* lt_opt_refused names the option getopt_long (glibc, opterr 0) just refused with '?':
 * "-x" for an unknown short option — also the first of a cluster such as -xyz, which
 * optind has not moved past yet, so that argv[optind - 1] is then the argument before it
 * or the program — else the long option as given ("--bogus", "--all=1"). `buf` holds the
 * short form (3 bytes). */
const char *lt_opt_refused(int argc, char **argv, char buf[3]);

#endif
