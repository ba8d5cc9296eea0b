/* ident.c — a data dir's identity file (see ident.h). */
#include "ident.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lt_err.h"
#include "sio.h"

#define IDENT_MAX_BYTES 1024 /* a valid file is far smaller */

static int ident_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void ident_set_members(struct ident *id, const uint64_t *members, size_t n)
{
    if (n > RAFT_MAX_NODES)
        n = RAFT_MAX_NODES;
    memcpy(id->members, members, n * sizeof(*members));
    qsort(id->members, n, sizeof(*members), ident_cmp_u64);
    id->n_members = n;
}

void ident_format_members(const struct ident *id, char *buf, size_t len)
{
    size_t at = 0;
    if (len)
        buf[0] = '\0';
    for (size_t i = 0; i < id->n_members && at < len; i++) {
        int k = snprintf(buf + at, len - at, "%s%" PRIu64, i ? "," : "", id->members[i]);
        if (k < 0)
            break;
        at += (size_t)k;
    }
}

/* ident_u64 parses a whole decimal (base 10) or hex (base 16) number. */
static int ident_u64(const char *s, int base, uint64_t *out)
{
    if (*s == '\0' || *s == '-' || *s == '+' || *s == ' ')
        return LT_ECORRUPT;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, base);
    if (errno || *end != '\0')
        return LT_ECORRUPT;
    *out = v;
    return 0;
}

static int ident_parse(char *text, struct ident *out, char *errbuf, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    bool have_id = false, have_members = false, have_cluster = false;
    char *save = NULL, *line;
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#')
            continue;
        char *arg = strchr(line, ' ');
        if (!arg)
            goto bad;
        *arg++ = '\0';
        if (strcmp(line, "id") == 0 && !have_id) {
            if (ident_u64(arg, 10, &out->id) != 0 || out->id == 0)
                goto bad_arg;
            have_id = true;
        } else if (strcmp(line, "members") == 0 && !have_members) {
            uint64_t m[RAFT_MAX_NODES];
            size_t n = 0;
            for (char *tok = arg;;) { /* every field, empty ones too */
                char *comma = strchr(tok, ',');
                if (comma)
                    *comma = '\0';
                if (n == RAFT_MAX_NODES || ident_u64(tok, 10, &m[n]) != 0 || m[n] == 0)
                    goto bad_arg;
                n++;
                if (!comma)
                    break;
                *comma = ',';
                tok = comma + 1;
            }
            ident_set_members(out, m, n);
            for (size_t i = 1; i < out->n_members; i++)
                if (out->members[i] == out->members[i - 1])
                    goto bad_arg;
            have_members = true;
        } else if (strcmp(line, "cluster") == 0 && !have_cluster) {
            if (strlen(arg) != 16 || strspn(arg, "0123456789abcdefABCDEF") != 16 ||
                ident_u64(arg, 16, &out->cluster) != 0)
                goto bad_arg; /* 16 hex digits: no 0x, no sign (strtoull takes both) */
            have_cluster = true;
        } else {
            goto bad;
        }
    }
    if (have_id && have_members && have_cluster)
        return 0;
    snprintf(errbuf, errlen, "a line is missing (it needs id, members and cluster)");
    return LT_ECORRUPT;
bad_arg:
    snprintf(errbuf, errlen, "bad value in line '%.40s'", line);
    return LT_ECORRUPT;
bad:
    snprintf(errbuf, errlen, "unexpected line '%.40s'", line);
    return LT_ECORRUPT;
}

int ident_read(const char *dir, struct ident *out, char *errbuf, size_t errlen)
{
    char path[4200];
    if (snprintf(path, sizeof(path), "%s/" IDENT_FILE, dir) >= (int)sizeof(path))
        return LT_EINVAL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return LT_ENOTFOUND;
        snprintf(errbuf, errlen, "cannot open %s: %s", path, strerror(errno));
        return LT_EIO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        snprintf(errbuf, errlen, "%s is not a regular file", path);
        return LT_ECORRUPT;
    }
    char text[IDENT_MAX_BYTES + 1];
    size_t got = 0;
    int rc = sio_pread_all(fd, text, IDENT_MAX_BYTES + 1, 0, &got);
    close(fd);
    if (rc != 0) {
        snprintf(errbuf, errlen, "cannot read %s: %s", path, lt_strerror(rc));
        return LT_EIO;
    }
    if (got > IDENT_MAX_BYTES || memchr(text, '\0', got)) {
        snprintf(errbuf, errlen, "%s is not an identity file", path);
        return LT_ECORRUPT;
    }
    text[got] = '\0';
    char why[160];
    rc = ident_parse(text, out, why, sizeof(why));
    if (rc == LT_ECORRUPT)
        snprintf(errbuf, errlen, "%s is damaged: %s", path, why);
    return rc;
}

int ident_write(const char *dir, const struct ident *id)
{
    char path[4200], tmp[4210], members[RAFT_MAX_NODES * 21 + 1], text[IDENT_MAX_BYTES];
    if (snprintf(path, sizeof(path), "%s/" IDENT_FILE, dir) >= (int)sizeof(path) ||
        snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return LT_EINVAL;
    ident_format_members(id, members, sizeof(members));
    int len = snprintf(text, sizeof(text),
                       "# lithair-node data dir identity: checked at every start; do not edit\n"
                       "id %" PRIu64 "\nmembers %s\ncluster %016" PRIx64 "\n",
                       id->id, members, id->cluster);
    if (len < 0 || len >= (int)sizeof(text))
        return LT_EINVAL;
    (void)unlink(tmp); /* a leftover; then never through a link someone put there */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return sio_err(errno);
    int rc = sio_pwrite_all(fd, text, (size_t)len, 0);
    if (rc == 0)
        rc = sio_fsync(fd);
    close(fd);
    if (rc == 0)
        rc = sio_rename(tmp, path);
    if (rc == 0)
        rc = sio_fsync_dir(dir);
    if (rc != 0)
        (void)unlink(tmp);
    return rc;
}
