/* lt_log.c — timestamped one-line logging to stderr (see lt_log.h). */
#include "lt_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
