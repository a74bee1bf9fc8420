/* util: names, strict number parsing, clocks, host:port parsing and listeners. */
#ifndef CNSQ_UTIL_H
#define CNSQ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NAME_MAX_LEN 64
#define NAME_EPHEMERAL_SUFFIX "#ephemeral"

/* Topic/channel names: 1..64 chars of [.a-zA-Z0-9_-], optionally ending in "#ephemeral"
 * (the suffix counts toward the 64). */
bool name_is_valid(const char *s, size_t len);
bool name_is_ephemeral(const char *s, size_t len);

/* Strict base-10 integers: optional sign (for i64), digits only, no spaces, no overflow. */
int parse_i64(const char *s, size_t len, int64_t *out);
int parse_u64(const char *s, size_t len, uint64_t *out);
/* "true|false|1|0|t|f|TRUE|FALSE|True|False" like Go's strconv.ParseBool. */
int parse_bool(const char *s, bool *out);

int64_t clock_realtime_ns(void);  /* CLOCK_REALTIME */
int64_t clock_monotonic_ns(void); /* CLOCK_MONOTONIC */
/* CLOCK_MONOTONIC_COARSE: same base as clock_monotonic_ns but lagging it by up to one kernel tick
 * (1-4 ms), and cheaper; for time integrals on the message path (telemetry). */
int64_t clock_coarse_ns(void);

/* "host:port", "[v6]:port", ":port" (host "" = any). 0 or -1 with err. */
int net_split_hostport(const char *addr, char *host, size_t hostlen, int *port,
                       char *err, size_t errlen);
/* Non-blocking listening TCP socket with SO_REUSEADDR. Returns fd or -1 with err.
 * If bound_port is not NULL it receives the real port (":0" picks a free one). */
int net_listen_tcp(const char *addr, int backlog, int *bound_port, char *err, size_t errlen);

/* snprintf into a caller's err buffer (NULL or 0-length err is ignored). */
void errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* gethostname, or "localhost"; always NUL-terminated. */
void util_hostname(char *buf, size_t len);

#endif
