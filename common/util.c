/* util: small helpers shared by every binary.
 * Owns topic/channel name rules, strict integer and boolean parsing (Go's strconv semantics),
 * clock readings in nanoseconds, "host:port" splitting (Go's net.SplitHostPort forms plus a
 * numeric port check) and non-blocking TCP listeners. No global state. */
#include "common/util.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

void errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void util_hostname(char *buf, size_t len)
{
    if (gethostname(buf, len) != 0 || !buf[0])
        snprintf(buf, len, "localhost");
    buf[len - 1] = '\0';
}

/* ---- names ------------------------------------------------------------------------------------- */

static bool name_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

bool name_is_ephemeral(const char *s, size_t len)
{
    size_t sl = sizeof(NAME_EPHEMERAL_SUFFIX) - 1;
    return s != NULL && len >= sl && memcmp(s + len - sl, NAME_EPHEMERAL_SUFFIX, sl) == 0;
}

bool name_is_valid(const char *s, size_t len)
{
    if (s == NULL || len < 1 || len > NAME_MAX_LEN)
        return false;
    if (name_is_ephemeral(s, len))
        len -= sizeof(NAME_EPHEMERAL_SUFFIX) - 1;
    if (len == 0) /* "#ephemeral" alone has no name */
        return false;
    for (size_t i = 0; i < len; i++)
        if (!name_char_ok(s[i]))
            return false;
    return true;
}

/* ---- numbers --------------------------------------------------------------------------------- */

int parse_u64(const char *s, size_t len, uint64_t *out)
{
    if (s == NULL || len == 0)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int parse_i64(const char *s, size_t len, int64_t *out)
{
    if (s == NULL || len == 0)
        return -1;
    bool neg = s[0] == '-';
    size_t skip = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    uint64_t mag;
    if (parse_u64(s + skip, len - skip, &mag) != 0)
        return -1;
    if (neg) {
        if (mag > (uint64_t)INT64_MAX + 1)
            return -1;
        *out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
    } else {
        if (mag > (uint64_t)INT64_MAX)
            return -1;
        *out = (int64_t)mag;
    }
    return 0;
}

int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "t", "T", "true", "TRUE", "True"};
    static const char *const no[] = {"0", "f", "F", "false", "FALSE", "False"};
    if (s == NULL)
        return -1;
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* ---- clocks ---------------------------------------------------------------------------------- */

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t clock_realtime_ns(void) { return clock_ns(CLOCK_REALTIME); }
int64_t clock_monotonic_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
int64_t clock_coarse_ns(void) { return clock_ns(CLOCK_MONOTONIC_COARSE); }

/* ---- host:port ------------------------------------------------------------------------------- */

/* Finds the host part of addr ([hs, he)) and the port text after the last ':'. */
static int split_parts(const char *addr, const char **hs, const char **he, const char **ps,
                       char *err, size_t errlen)
{
    const char *colon = strrchr(addr, ':');
    if (colon == NULL) {
        errf(err, errlen, "address %s: missing port in address", addr);
        return -1;
    }
    *ps = colon + 1;
    if (addr[0] == '[') {
        const char *rb = strchr(addr, ']');
        if (rb == NULL) {
            errf(err, errlen, "address %s: missing ']' in address", addr);
            return -1;
        }
        if (rb + 1 != colon) {
            errf(err, errlen, "address %s: %s", addr,
                    rb[1] == '\0' ? "missing port in address" : "unexpected text after ']'");
            return -1;
        }
        *hs = addr + 1;
        *he = rb;
    } else {
        *hs = addr;
        *he = colon;
        if (memchr(addr, ':', (size_t)(colon - addr)) != NULL) {
            errf(err, errlen, "address %s: too many colons in address", addr);
            return -1;
        }
    }
    if (memchr(*hs, '[', (size_t)(*he - *hs)) != NULL ||
        memchr(*hs, ']', (size_t)(*he - *hs)) != NULL) {
        errf(err, errlen, "address %s: unexpected bracket in address", addr);
        return -1;
    }
    return 0;
}

int net_split_hostport(const char *addr, char *host, size_t hostlen, int *port,
                       char *err, size_t errlen)
{
    const char *hs, *he, *ps;
    if (addr == NULL)
        addr = "";
    if (split_parts(addr, &hs, &he, &ps, err, errlen) != 0)
        return -1;
    uint64_t p;
    if (parse_u64(ps, strlen(ps), &p) != 0 || p > 65535) {
        errf(err, errlen, "address %s: invalid port \"%s\"", addr, ps);
        return -1;
    }
    size_t hl = (size_t)(he - hs);
    if (host == NULL || hl >= hostlen) {
        errf(err, errlen, "address %s: host too long", addr);
        return -1;
    }
    memcpy(host, hs, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

/* ---- listeners ------------------------------------------------------------------------------- */

/* One socket/setsockopt/bind/listen attempt; on failure names the step and keeps errno. */
static int listen_one(const struct addrinfo *ai, int backlog, bool wildcard, const char **step)
{
    int one = 1, zero = 0;
    *step = "socket";
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
    if (fd < 0)
        return -1;
    *step = "setsockopt";
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
        goto fail;
    /* An empty host means every address: make [::] accept IPv4 too, as Go does. */
    if (ai->ai_family == AF_INET6 && wildcard &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) != 0)
        goto fail;
    *step = "bind";
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0)
        goto fail;
    *step = "listen";
    if (listen(fd, backlog) == 0)
        return fd;
fail:;
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

/* Tries the preferred family first: IPv6 (dual-stack) for a wildcard, else IPv4 like Go. */
static int listen_any(const struct addrinfo *res, int backlog, bool wildcard, const char **step)
{
    int prefer = wildcard ? AF_INET6 : AF_INET;
    for (int pass = 0; pass < 2; pass++) {
        for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
            if ((ai->ai_family == prefer) != (pass == 0))
                continue;
            int fd = listen_one(ai, backlog, wildcard, step);
            if (fd >= 0)
                return fd;
        }
    }
    return -1;
}

static int sock_port(int fd, int *port)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        *port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else if (ss.ss_family == AF_INET6)
        *port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    else
        return -1;
    return 0;
}

int net_listen_tcp(const char *addr, int backlog, int *bound_port, char *err, size_t errlen)
{
    char host[256], portstr[8];
    int port;
    if (net_split_hostport(addr, host, sizeof host, &port, err, errlen) != 0)
        return -1;
    snprintf(portstr, sizeof portstr, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &res);
    if (rc != 0) {
        errf(err, errlen, "listen tcp %s: %s", addr, gai_strerror(rc));
        return -1;
    }
    const char *step = "socket";
    int fd = listen_any(res, backlog > 0 ? backlog : SOMAXCONN, host[0] == '\0', &step);
    int saved = errno;
    freeaddrinfo(res);
    if (fd < 0) {
        errf(err, errlen, "listen tcp %s: %s: %s", addr, step, strerror(saved));
        return -1;
    }
    if (bound_port != NULL && sock_port(fd, bound_port) != 0) {
        saved = errno;
        close(fd);
        errf(err, errlen, "listen tcp %s: getsockname: %s", addr, strerror(saved));
        return -1;
    }
    return fd;
}
