/* lt_log.h — one line per event on stderr: "2026-11-27T05:12:03.123Z INFO  node1 message".
 *
 * Thread-safe (one fprintf per line). The level threshold and the process tag are
 * set once at start-up; LT_LOG_LEVEL=debug|info|warn|error in the environment
 * is the threshold when the program was given none (a --log-level flag wins). */
#ifndef LT_LOG_H
#define LT_LOG_H

#include <stddef.h>
#include <time.h>

enum lt_log_level { LT_LOG_DEBUG, LT_LOG_INFO, LT_LOG_WARN, LT_LOG_ERROR };

/* lt_log_init sets the tag printed on every line ("node1", "gateway") and the threshold:
 * `level` (an enum lt_log_level), or when it is negative (none given) $LT_LOG_LEVEL, else
 * info. */
void lt_log_init(const char *tag, int level);

/* lt_log_parse_level turns "debug"/"info"/"warn"/"error" into a level; -1 if unknown. */
int lt_log_parse_level(const char *s);

void lt_log(enum lt_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* lt_log_error_in_signal writes one ERROR line, as lt_log does, from a signal handler: the
 * message is the n strings of `parts` one after another. Only async-signal-safe calls
 * (clock_gettime, write); the date is worked out by hand, as gmtime_r is not safe. */
void lt_log_error_in_signal(const char *const *parts, int n);

/* lt_log_stamp_safe writes ts as lt_log's lines begin ("2026-11-27T05:12:03.123Z", UTC)
 * into out (n bytes, NUL-terminated, truncated if short); returns its length. Async-signal-
 * safe. */
size_t lt_log_stamp_safe(char *out, size_t n, const struct timespec *ts);

#define lt_debug(...) lt_log(LT_LOG_DEBUG, __VA_ARGS__)
#define lt_info(...)  lt_log(LT_LOG_INFO, __VA_ARGS__)
#define lt_warn(...)  lt_log(LT_LOG_WARN, __VA_ARGS__)
#define lt_error(...) lt_log(LT_LOG_ERROR, __VA_ARGS__)

#endif
