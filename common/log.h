/* log: leveled logging in nsqd's line format
 *   "<prefix><YYYY/MM/DD HH:MM:SS.micro> LEVEL: message"
 * e.g. "[nsqd] 2026/11/23 13:23:51.123456 INFO: TCP: listening on 127.0.0.1:4150".
 * The logger is process-wide state (one per daemon), written to stderr. */
#ifndef CNSQ_LOG_H
#define CNSQ_LOG_H

#include <stdbool.h>

typedef enum {
    LOG_DEBUG = 1,
    LOG_INFO = 2,
    LOG_WARN = 3,
    LOG_ERROR = 4,
    LOG_FATAL = 5,
} log_level_t;

/* Parses debug|info|warn|warning|error|fatal (case-insensitive). 0 or -1. */
int log_level_parse(const char *s, log_level_t *out);
const char *log_level_name(log_level_t lvl); /* "DEBUG", "INFO", "WARNING", "ERROR", "FATAL" */

/* Sets level and prefix (copied). Safe to call again at run time (PUT /config/log_level). */
void log_setup(log_level_t level, const char *prefix);
void log_set_level(log_level_t level);
log_level_t log_get_level(void);
static inline bool log_enabled(log_level_t lvl) { return lvl >= log_get_level(); }

/* Writes one line (a trailing newline is added). Thread-safe: one write(2) per line. */
void log_msg(log_level_t lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...)  do { if (log_enabled(LOG_INFO))  log_msg(LOG_INFO, __VA_ARGS__); } while (0)
#define log_warn(...)  do { if (log_enabled(LOG_WARN))  log_msg(LOG_WARN, __VA_ARGS__); } while (0)
#define log_error(...) do { if (log_enabled(LOG_ERROR)) log_msg(LOG_ERROR, __VA_ARGS__); } while (0)
#define log_fatal(...) log_msg(LOG_FATAL, __VA_ARGS__)

#endif
