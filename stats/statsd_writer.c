/* statsd_writer: datagram packing, statsd line formatting, counter deltas and the paced UDP
 * sender (see statsd_writer.h). Owns the packer's datagram buffer, the sender's socket, timer
 * and copies of queued datagrams, and the delta table's keys. Leaves what to send (which
 * topics, which stats) and when to push to the nsqd glue; knows no broker types. */
#include "stats/statsd_writer.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/hashmap.h"
#include "common/log.h"
#include "common/util.h"

#define NS_PER_SEC 1000000000LL
#define DROP_LOG_EVERY_NS (10 * NS_PER_SEC) /* at most one drop warning per 10s */
#define STAT_LINE_STACK 512

/* ==== packer ============================================================================= */

struct statsd_packer {
    size_t size;
    char *buf;
    size_t len;
    statsd_emit_fn emit;
    void *arg;
    uint64_t packets;
};

statsd_packer_t *statsd_packer_new(size_t packet_size, statsd_emit_fn emit, void *arg)
{
    statsd_packer_t *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->size = packet_size ? packet_size : STATSD_PACKET_SIZE;
    p->buf = malloc(p->size);
    if (!p->buf) {
        free(p);
        return NULL;
    }
    p->emit = emit;
    p->arg = arg;
    return p;
}

void statsd_packer_free(statsd_packer_t *p)
{
    if (!p)
        return;
    free(p->buf);
    free(p);
}

static int emit(statsd_packer_t *p, const char *data, size_t len)
{
    p->packets++;
    return p->emit(p->arg, data, len);
}

int statsd_packer_flush(statsd_packer_t *p)
{
    if (p->len == 0)
        return 0;
    size_t len = p->len;
    p->len = 0;
    return emit(p, p->buf, len);
}

int statsd_packer_add(statsd_packer_t *p, const char *data, size_t len)
{
    if (len == 0)
        return 0;
    if (p->len + len > p->size && statsd_packer_flush(p) < 0)
        return -1;
    if (len > p->size)
        return emit(p, data, len); /* alone, oversized */
    memcpy(p->buf + p->len, data, len);
    p->len += len;
    return 0;
}

uint64_t statsd_packer_packets(const statsd_packer_t *p)
{
    return p->packets;
}

/* ==== formatting ========================================================================= */

/* Bounded appender: counts every byte, writes those that fit (snprintf-like). */
typedef struct outbuf {
    char *buf;
    size_t cap, len;
} outbuf_t;

static void out_bytes(outbuf_t *o, const char *s, size_t n)
{
    if (o->len < o->cap)
        memcpy(o->buf + o->len, s, o->len + n <= o->cap ? n : o->cap - o->len);
    o->len += n;
}

static void out_str(outbuf_t *o, const char *s)
{
    out_bytes(o, s, strlen(s));
}

static void out_safe_name(outbuf_t *o, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char ch = (c == ':' || c == '|' || c <= ' ' || c == 0x7f) ? '_' : (char)c;
        out_bytes(o, &ch, 1);
    }
}

static void out_i64(outbuf_t *o, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%" PRId64, v);
    out_bytes(o, num, (size_t)n);
}

/* Terminates with a NUL if there is room for one after the text. */
static size_t out_finish(outbuf_t *o)
{
    if (o->len < o->cap)
        o->buf[o->len] = '\0';
    else if (o->cap > 0)
        o->buf[0] = '\0'; /* does not fit: leave an empty string, not a torn line */
    return o->len;
}

static void out_line(outbuf_t *o, const char *prefix, const char *name, int64_t v, const char *type)
{
    out_str(o, prefix);
    out_safe_name(o, name);
    out_bytes(o, ":", 1);
    out_i64(o, v);
    out_str(o, type);
}

size_t statsd_format(char *buf, size_t buflen, const char *prefix, const char *name,
                     statsd_kind_t kind, int64_t value)
{
    outbuf_t o = {buf, buflen, 0};
    if (kind == STATSD_COUNTER) {
        out_line(&o, prefix, name, value, "|c\n");
    } else {
        if (value < 0)
            out_line(&o, prefix, name, 0, "|g\n");
        out_line(&o, prefix, name, value, "|g\n");
    }
    return out_finish(&o);
}

int statsd_packer_stat(statsd_packer_t *p, const char *prefix, const char *name, statsd_kind_t kind,
                       int64_t value)
{
    char stack[STAT_LINE_STACK];
    size_t n = statsd_format(stack, sizeof(stack), prefix, name, kind, value);
    if (n < sizeof(stack))
        return statsd_packer_add(p, stack, n);
    char *heap = malloc(n + 1);
    if (!heap)
        return -1;
    statsd_format(heap, n + 1, prefix, name, kind, value);
    int rc = statsd_packer_add(p, heap, n);
    free(heap);
    return rc;
}

/* Go's net.JoinHostPort(host, port) with '.' and ':' made '_' (NSQ's statsd.HostKey). */
static void out_host_key(outbuf_t *o, const char *host, int port)
{
    char hp[300];
    snprintf(hp, sizeof(hp), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    for (char *c = hp; *c; c++)
        if (*c == '.' || *c == ':')
            *c = '_';
    out_str(o, hp);
}

int statsd_prefix_expand(const char *fmt, const char *host, int port, char *out, size_t outlen,
                         char *err, size_t errlen)
{
    outbuf_t o = {out, outlen, 0};
    for (const char *s = fmt; *s; s++) {
        if (s[0] == '%' && s[1] == 's') {
            out_host_key(&o, host, port);
            s++;
        } else {
            out_bytes(&o, s, 1);
        }
    }
    if (o.len > 0 && (o.len > o.cap || o.buf[o.len - 1] != '.'))
        out_bytes(&o, ".", 1);
    if (o.len >= o.cap) {
        snprintf(err, errlen, "statsd prefix too long (%zu bytes)", o.len);
        if (outlen > 0)
            out[0] = '\0';
        return -1;
    }
    out_finish(&o);
    return 0;
}

int statsd_percentile_name(double q, char *buf, size_t buflen)
{
    double p = q * 100.0;
    int n;
    if (fabs(p - round(p)) < 5e-7) {
        n = snprintf(buf, buflen, "%.0f", round(p));
    } else {
        n = snprintf(buf, buflen, "%.6f", p);
        if (n < 0 || (size_t)n >= buflen)
            return -1;
        while (n > 0 && buf[n - 1] == '0')
            buf[--n] = '\0';
        if (n > 0 && buf[n - 1] == '.')
            buf[--n] = '\0';
        for (char *c = buf; *c; c++)
            if (*c == '.')
                *c = '_';
    }
    if (n < 0 || (size_t)n >= buflen)
        return -1;
    return n;
}

/* ==== counter deltas ===================================================================== */

typedef struct diff_entry {
    uint64_t value;
    uint64_t epoch;
    uint64_t round; /* the round it was last updated in */
} diff_entry_t;

struct statsd_diff {
    strmap_t *m;
    uint64_t round;
};

statsd_diff_t *statsd_diff_new(void)
{
    statsd_diff_t *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->m = strmap_new();
    if (!d->m) {
        free(d);
        return NULL;
    }
    return d;
}

void statsd_diff_free(statsd_diff_t *d)
{
    if (!d)
        return;
    size_t pos = 0, klen;
    const char *key;
    void *val;
    while (strmap_next(d->m, &pos, &key, &klen, &val))
        free(val);
    strmap_free(d->m);
    free(d);
}

int statsd_diff(statsd_diff_t *d, const char *key, uint64_t epoch, uint64_t cur, uint64_t *delta)
{
    size_t klen = strlen(key);
    diff_entry_t *e = strmap_get(d->m, key, klen);
    if (!e) {
        *delta = cur;
        e = malloc(sizeof(*e));
        if (!e || strmap_put(d->m, key, klen, e) < 0) {
            free(e);
            return -1;
        }
    } else {
        *delta = e->epoch == epoch ? statsd_counter_delta(e->value, cur) : cur;
    }
    e->value = cur;
    e->epoch = epoch;
    e->round = d->round;
    return 0;
}

void statsd_diff_end_round(statsd_diff_t *d)
{
    size_t pos = 0, klen;
    const char *key;
    void *val;
    while (strmap_next(d->m, &pos, &key, &klen, &val)) {
        diff_entry_t *e = val;
        if (e->round != d->round) {
            strmap_del(d->m, key, klen);
            free(e);
        }
    }
    d->round++;
}

size_t statsd_diff_len(const statsd_diff_t *d)
{
    return strmap_len(d->m);
}

/* ==== spread sender ====================================================================== */

/* Datagrams stored back to back; offs[i]..offs[i+1] is datagram i. */
typedef struct batch {
    char *data;
    size_t len, cap;
    size_t *offs; /* n + 1 entries once anything is queued */
    size_t n, capn;
    size_t sent; /* datagrams [0, sent) are gone */
} batch_t;

struct statsd_sender {
    struct event *timer;
    int fd;
    char addr[280];
    batch_t cur;  /* being spread */
    batch_t next; /* being filled for the next start */
    int64_t t0, step;
    uint64_t sent, dropped;
    uint64_t unreported; /* drops not yet in a warning */
    int last_errno;
    int64_t last_log;
};

static void batch_clear(batch_t *b)
{
    b->len = b->n = b->sent = 0;
}

static void batch_free(batch_t *b)
{
    free(b->data);
    free(b->offs);
}

static int batch_push(batch_t *b, const char *pkt, size_t len)
{
    if (b->len + len > b->cap) {
        size_t ncap = b->cap ? b->cap : 4096;
        while (ncap < b->len + len)
            ncap *= 2;
        char *p = realloc(b->data, ncap);
        if (!p)
            return -1;
        b->data = p;
        b->cap = ncap;
    }
    if (b->n + 2 > b->capn) {
        size_t ncap = b->capn ? b->capn * 2 : 32;
        size_t *p = realloc(b->offs, ncap * sizeof(*p));
        if (!p)
            return -1;
        b->offs = p;
        b->capn = ncap;
    }
    if (b->n == 0)
        b->offs[0] = 0;
    memcpy(b->data + b->len, pkt, len);
    b->len += len;
    b->offs[++b->n] = b->len;
    return 0;
}

/* Warns about drops at most once per DROP_LOG_EVERY_NS, with the count since the last one. */
static void report_drops(statsd_sender_t *s)
{
    int64_t now = clock_monotonic_ns();
    if (s->unreported == 0 || (s->last_log != 0 && now - s->last_log < DROP_LOG_EVERY_NS))
        return;
    log_warn("STATSD: dropped %" PRIu64 " packet(s) to %s (%s)", s->unreported, s->addr,
             strerror(s->last_errno));
    s->unreported = 0;
    s->last_log = now;
}

static void send_next(statsd_sender_t *s, batch_t *b)
{
    const char *pkt = b->data + b->offs[b->sent];
    size_t len = b->offs[b->sent + 1] - b->offs[b->sent];
    b->sent++;
    if (send(s->fd, pkt, len, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) {
        s->sent++;
        return;
    }
    s->dropped++;
    s->unreported++;
    s->last_errno = errno;
    report_drops(s);
}

static void send_rest(statsd_sender_t *s, batch_t *b)
{
    while (b->sent < b->n)
        send_next(s, b);
    batch_clear(b);
}

/* Sends every datagram of cur that is due, then sleeps until the next one is. */
static void spread_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    statsd_sender_t *s = arg;
    int64_t now = clock_monotonic_ns();
    while (s->cur.sent < s->cur.n && s->t0 + (int64_t)s->cur.sent * s->step <= now)
        send_next(s, &s->cur);
    if (s->cur.sent == s->cur.n) {
        batch_clear(&s->cur);
        return;
    }
    int64_t wait = s->t0 + (int64_t)s->cur.sent * s->step - now;
    struct timeval tv = {(time_t)(wait / NS_PER_SEC), (suseconds_t)(wait % NS_PER_SEC / 1000)};
    evtimer_add(s->timer, &tv);
}

void statsd_sender_start(statsd_sender_t *s, int64_t interval_ns)
{
    evtimer_del(s->timer);
    send_rest(s, &s->cur);
    batch_t t = s->cur;
    s->cur = s->next;
    s->next = t;
    report_drops(s);
    if (s->cur.n == 0)
        return;
    int64_t spread = interval_ns - NS_PER_SEC;
    if (spread <= 0) {
        send_rest(s, &s->cur);
        return;
    }
    s->step = spread / (int64_t)s->cur.n;
    s->t0 = clock_monotonic_ns();
    spread_cb(-1, 0, s);
}

void statsd_sender_flush(statsd_sender_t *s)
{
    evtimer_del(s->timer);
    send_rest(s, &s->cur);
    send_rest(s, &s->next);
}

int statsd_sender_queue(statsd_sender_t *s, const char *pkt, size_t len)
{
    return batch_push(&s->next, pkt, len);
}

int statsd_sender_emit_cb(void *sender, const char *pkt, size_t len)
{
    return statsd_sender_queue(sender, pkt, len);
}

size_t statsd_sender_pending(const statsd_sender_t *s)
{
    return (s->cur.n - s->cur.sent) + (s->next.n - s->next.sent);
}

void statsd_sender_counts(const statsd_sender_t *s, uint64_t *sent, uint64_t *dropped)
{
    *sent = s->sent;
    *dropped = s->dropped;
}

/* A non-blocking UDP socket connected to the first address of addr that takes it. */
static int udp_connect(const char *addr, char *err, size_t errlen)
{
    char host[256], port[8];
    int portn;
    if (net_split_hostport(addr, host, sizeof(host), &portn, err, errlen) < 0)
        return -1;
    snprintf(port, sizeof(port), "%d", portn);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM}, *res, *ai;
    int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "statsd address %s: %s", addr, gai_strerror(rc));
        return -1;
    }
    int fd = -1, saved = 0;
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            saved = errno;
            close(fd);
            fd = -1;
        } else if (fd < 0) {
            saved = errno;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(err, errlen, "statsd address %s: %s", addr, strerror(saved));
    return fd;
}

statsd_sender_t *statsd_sender_new(struct event_base *base, const char *addr, char *err,
                                   size_t errlen)
{
    statsd_sender_t *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->fd = udp_connect(addr, err, errlen);
    if (s->fd < 0) {
        free(s);
        return NULL;
    }
    snprintf(s->addr, sizeof(s->addr), "%s", addr);
    s->timer = evtimer_new(base, spread_cb, s);
    if (!s->timer) {
        snprintf(err, errlen, "out of memory");
        close(s->fd);
        free(s);
        return NULL;
    }
    return s;
}

void statsd_sender_free(statsd_sender_t *s)
{
    if (!s)
        return;
    statsd_sender_flush(s);
    s->last_log = 0;
    report_drops(s);
    event_free(s->timer);
    close(s->fd);
    batch_free(&s->cur);
    batch_free(&s->next);
    free(s);
}
