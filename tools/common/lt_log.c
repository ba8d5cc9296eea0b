/* lt_log.c — timestamped one-line logging to stderr (see lt_log.h). */
#include "lt_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char lt_log_tag[32] = "lithair";
static enum lt_log_level lt_log_threshold = LT_LOG_INFO;

int lt_log_parse_level(const char *s)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (s && strcmp(s, names[i]) == 0)
            return i;
    }
    return -1;
}

void lt_log_init(const char *tag, int level)
{
    snprintf(lt_log_tag, sizeof(lt_log_tag), "%s", tag ? tag : "lithair");
    if (level < 0 || level > LT_LOG_ERROR) /* none given: the environment's, else info */
        level = lt_log_parse_level(getenv("LT_LOG_LEVEL"));
    lt_log_threshold = level >= 0 ? (enum lt_log_level)level : LT_LOG_INFO;
}

void lt_log(enum lt_log_level level, const char *fmt, ...)
{
    static const char *names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    if (level < lt_log_threshold)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
            names[level], lt_log_tag, msg);
}

/* put: appends s to line[*pos..n) (truncating); a loop, as in a signal handler. */
static void put(char *line, size_t n, size_t *pos, const char *s)
{
    while (*s && *pos < n)
        line[(*pos)++] = *s++;
}

/* put_num: appends v in decimal, zero-padded to `width` digits. */
static void put_num(char *line, size_t n, size_t *pos, unsigned long long v, int width)
{
    char d[24];
    int k = 0;
    do {
        d[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && k < 20);
    while (k < width && k < 20)
        d[k++] = '0';
    while (k > 0 && *pos < n)
        line[(*pos)++] = d[--k];
}

size_t lt_log_stamp_safe(char *out, size_t n, const struct timespec *ts)
{
    size_t pos = 0;
    if (n == 0)
        return 0;
    /* days since 1970-01-01 to a civil date (the proleptic Gregorian calendar: eras of
     * 400 years, years counted from March) */
    long long secs = ts->tv_sec, days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    long long z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    long long doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    long long day = doy - (153 * mp + 2) / 5 + 1, month = mp < 10 ? mp + 3 : mp - 9;
    long long year = yoe + era * 400 + (month <= 2);
    size_t cap = n - 1;
    put_num(out, cap, &pos, (unsigned long long)(year < 0 ? 0 : year), 4);
    put(out, cap, &pos, "-");
    put_num(out, cap, &pos, (unsigned long long)month, 2);
    put(out, cap, &pos, "-");
    put_num(out, cap, &pos, (unsigned long long)day, 2);
    put(out, cap, &pos, "T");
    put_num(out, cap, &pos, (unsigned long long)(rem / 3600), 2);
    put(out, cap, &pos, ":");
    put_num(out, cap, &pos, (unsigned long long)(rem / 60 % 60), 2);
    put(out, cap, &pos, ":");
    put_num(out, cap, &pos, (unsigned long long)(rem % 60), 2);
    put(out, cap, &pos, ".");
    put_num(out, cap, &pos, (unsigned long long)(ts->tv_nsec / 1000000), 3);
    put(out, cap, &pos, "Z");
    out[pos] = '\0';
    return pos;
}

void lt_log_error_in_signal(const char *const *parts, int n)
{
    char line[1024];
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        ts.tv_sec = 0;
        ts.tv_nsec = 0;
    }
    size_t cap = sizeof(line) - 1, pos = lt_log_stamp_safe(line, cap, &ts);
    put(line, cap, &pos, " ERROR ");
    put(line, cap, &pos, lt_log_tag);
    put(line, cap, &pos, " ");
    for (int i = 0; i < n; i++)
        put(line, cap, &pos, parts[i]);
    line[pos++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, pos);
    (void)w;
}
