/* log: the process-wide leveled logger.
 * Owns the current level and prefix and writes nsqd's line format to stderr:
 *   "<prefix>YYYY/MM/DD HH:MM:SS.uuuuuu LEVEL: message\n" (local time, like Go's log package
 *   with Ldate|Ltime|Lmicroseconds). Each line is built in memory and sent with one write(2),
 *   so lines from different threads never interleave. */
#include "common/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX_MAX 128
#define LOG_LINE_STACK 2048

static const struct {
    const char *word; /* accepted by log_level_parse */
    log_level_t lvl;
} level_words[] = {
    {"debug", LOG_DEBUG}, {"info", LOG_INFO},   {"warn", LOG_WARN},
    {"warning", LOG_WARN}, {"error", LOG_ERROR}, {"fatal", LOG_FATAL},
};

/* Indexed by level; the names nsqd prints (its lg package says WARNING, not WARN). */
static const char *const level_names[] = {
    [LOG_DEBUG] = "DEBUG", [LOG_INFO] = "INFO",   [LOG_WARN] = "WARNING",
    [LOG_ERROR] = "ERROR", [LOG_FATAL] = "FATAL",
};

static atomic_int cur_level = LOG_INFO;
static pthread_mutex_t prefix_mu = PTHREAD_MUTEX_INITIALIZER;
static char cur_prefix[LOG_PREFIX_MAX];

int log_level_parse(const char *s, log_level_t *out)
{
    if (!s)
        return -1;
    for (size_t i = 0; i < sizeof(level_words) / sizeof(level_words[0]); i++) {
        if (strcasecmp(s, level_words[i].word) == 0) {
            *out = level_words[i].lvl;
            return 0;
        }
    }
    return -1;
}

const char *log_level_name(log_level_t lvl)
{
    if (lvl < LOG_DEBUG || lvl > LOG_FATAL)
        return "invalid";
    return level_names[lvl];
}

void log_setup(log_level_t level, const char *prefix)
{
    log_set_level(level);
    pthread_mutex_lock(&prefix_mu);
    snprintf(cur_prefix, sizeof(cur_prefix), "%s", prefix ? prefix : "");
    pthread_mutex_unlock(&prefix_mu);
}

void log_set_level(log_level_t level)
{
    atomic_store(&cur_level, (int)level);
}

log_level_t log_get_level(void)
{
    return (log_level_t)atomic_load(&cur_level);
}

/* "<prefix>2006/01/02 15:04:05.000000 LEVEL: " into buf; returns its length. */
static size_t format_header(char *buf, size_t len, log_level_t lvl)
{
    struct timespec ts;
    struct tm tm;
    char prefix[LOG_PREFIX_MAX];

    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    pthread_mutex_lock(&prefix_mu);
    memcpy(prefix, cur_prefix, sizeof(prefix));
    pthread_mutex_unlock(&prefix_mu);

    int n = snprintf(buf, len, "%s%04d/%02d/%02d %02d:%02d:%02d.%06ld %s: ", prefix,
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (long)(ts.tv_nsec / 1000), log_level_name(lvl));
    if (n < 0)
        return 0;
    return (size_t)n < len ? (size_t)n : len - 1;
}

static void write_all(const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(STDERR_FILENO, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += w;
        len -= (size_t)w;
    }
}

void log_msg(log_level_t lvl, const char *fmt, ...)
{
    char stackbuf[LOG_LINE_STACK];
    char *buf = stackbuf;
    size_t head = format_header(stackbuf, sizeof(stackbuf), lvl);
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(buf + head, sizeof(stackbuf) - head, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    size_t total = head + (size_t)n + 1; /* + '\n' */
    if (total > sizeof(stackbuf)) {      /* long line: format again into a heap buffer */
        char *big = malloc(total + 1);
        if (big) {
            memcpy(big, stackbuf, head);
            va_start(ap, fmt);
            vsnprintf(big + head, total - head, fmt, ap);
            va_end(ap);
            buf = big;
        } else {
            total = sizeof(stackbuf); /* out of memory: send what fits */
        }
    }
    buf[total - 1] = '\n';
    write_all(buf, total);
    if (buf != stackbuf)
        free(buf);
}
