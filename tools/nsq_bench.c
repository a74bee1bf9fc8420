/* nsq_bench: a load generator for nsqd over TCP V2 (cnsq's or NSQ's: it speaks only the wire
 * protocol). Publishers send MPUB batches and count the OK replies; consumers SUB one channel
 * under RDY, FIN every message and answer heartbeats. One JSON line reports the rates.
 *
 * Method (the same as NSQ's bench/bench_writer and bench/bench_reader, with these choices):
 *  - Every connection is a plain blocking socket served by its own thread (TCP_NODELAY).
 *  - A publisher sends "  V2" (no IDENTIFY) and then MPUB frames of --batch messages of --size
 *    bytes each, one write(2) per batch. bench_writer waits for each batch's reply before the
 *    next; nsq_bench keeps up to --pipeline batches in flight (default 4) so that the socket
 *    never runs dry while a reply is on its way. --pipeline=1 is bench_writer's stop-and-wait.
 *    With --messages the publishers draw batches from one shared counter (the last batch may be
 *    short); with --duration each publishes until the time is up.
 *  - A consumer sends "  V2", IDENTIFY (feature_negotiation false), SUB and, once every
 *    connection is set up, RDY --rdy. It reads the socket into a 256 KiB buffer, parses every
 *    complete frame in it and writes the FIN of each message (and NOP for each _heartbeat_) in
 *    one write(2) per buffer. No syscall is made per message on either side.
 *  - The clock starts once all connections are established (and SUBscribed). The publish rate
 *    is published / (last OK - start), the consume rate consumed / (last message - start).
 *    MB/s counts body bytes in MiB (2^20), as NSQ's bench tools do.
 *  - pubsub: consumers subscribe first, then publishers publish --messages (or for
 *    --duration); the run ends when every published message has been consumed (exit 1 if the
 *    counts differ, or no message arrives for --timeout; each body starts with a per-run nonce
 *    so that a backlog left by an earlier run is reported, not counted). pub: only publishers;
 *    the channel is created first (a SUB without RDY, then close) so that the backlog is queued
 *    on it. sub: only consumers, draining a backlog of --messages (or consuming for
 *    --duration).
 * Any error frame, unexpected reply or dropped connection is a protocol error: exit 1. */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/opts.h"
#include "common/util.h"
#include "common/wire.h"

#define RBUF_SIZE (256 * 1024)
#define MAX_FRAME_SIZE (64u * 1024 * 1024)
#define POLL_MS 100 /* SO_RCVTIMEO: how often a blocked reader looks at the stop flag */
#define NS_PER_S 1000000000LL

/* ---- options -------------------------------------------------------------------------- */

typedef struct bench_opts {
    char *nsqd_tcp_address;
    char *topic;
    char *channel;
    char *mode;
    int64_t size;
    int64_t batch;
    int64_t publishers;
    int64_t consumers;
    int64_t rdy;
    int64_t pipeline;
    int64_t messages;
    int64_t duration; /* ns, 0 = use --messages */
    int64_t timeout;  /* ns */
} bench_opts_t;

static const opt_def_t bench_defs[] = {
    {"nsqd-tcp-address", OPT_STRING, offsetof(bench_opts_t, nsqd_tcp_address), "127.0.0.1:4150",
     "<addr>:<port> of nsqd's TCP listener", NULL},
    {"topic", OPT_STRING, offsetof(bench_opts_t, topic), "bench", "topic to publish to / read",
     NULL},
    {"channel", OPT_STRING, offsetof(bench_opts_t, channel), "ch", "channel to consume", NULL},
    {"mode", OPT_STRING, offsetof(bench_opts_t, mode), "pubsub",
     "pubsub (publish and consume), pub (publish only) or sub (consume a backlog)", NULL},
    {"size", OPT_INT, offsetof(bench_opts_t, size), "200", "message body size in bytes", NULL},
    {"batch", OPT_INT, offsetof(bench_opts_t, batch), "200", "messages per MPUB", NULL},
    {"publishers", OPT_INT, offsetof(bench_opts_t, publishers), "4",
     "publisher connections (one thread each)", NULL},
    {"consumers", OPT_INT, offsetof(bench_opts_t, consumers), "4",
     "consumer connections (one thread each)", NULL},
    {"rdy", OPT_INT, offsetof(bench_opts_t, rdy), "200", "RDY count of each consumer", NULL},
    {"pipeline", OPT_INT, offsetof(bench_opts_t, pipeline), "4",
     "MPUB batches in flight per publisher (1 = wait for each reply, like bench_writer)", NULL},
    {"messages", OPT_INT, offsetof(bench_opts_t, messages), "2000000",
     "messages to publish in total (pub, pubsub) or to consume (sub)", NULL},
    {"duration", OPT_DURATION, offsetof(bench_opts_t, duration), "0",
     "run for this long instead of --messages (e.g. 10s)", NULL},
    {"timeout", OPT_DURATION, offsetof(bench_opts_t, timeout), "10s",
     "fail when no reply / no message arrives for this long", NULL},
    {NULL, 0, 0, NULL, NULL, NULL},
};

enum { MODE_PUBSUB, MODE_PUB, MODE_SUB };

/* ---- shared state --------------------------------------------------------------------- */

typedef struct bench {
    bench_opts_t o;
    int mode;
    struct sockaddr_storage addr;
    socklen_t addrlen;

    /* start gate: every thread connects, then waits for go */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int ready;
    bool go;
    int64_t t0;

    atomic_bool stop;
    atomic_int_fast64_t to_claim; /* --messages mode: messages not yet claimed by a publisher */
    atomic_int_fast64_t consumed;
    atomic_int_fast64_t heartbeats; /* _heartbeat_ frames answered with NOP */
    int64_t stop_ns;

    uint8_t nonce[8]; /* pubsub: the first bytes of every body, to spot another run's messages */

    pthread_mutex_t err_mu;
    bool failed;
    char err[512];

    uint8_t *body; /* --size bytes */
} bench_t;

static bench_t B;

static void bench_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void bench_fail(const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&B.err_mu);
    if (!B.failed) {
        B.failed = true;
        va_start(ap, fmt);
        vsnprintf(B.err, sizeof B.err, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&B.err_mu);
    atomic_store(&B.stop, true);
}

static bool bench_failed(void)
{
    pthread_mutex_lock(&B.err_mu);
    bool f = B.failed;
    pthread_mutex_unlock(&B.err_mu);
    return f;
}

/* Marks the caller ready and waits for go. Returns false when the run is off. */
static bool gate_wait(void)
{
    pthread_mutex_lock(&B.mu);
    B.ready++;
    pthread_cond_broadcast(&B.cv);
    while (!B.go)
        pthread_cond_wait(&B.cv, &B.mu);
    pthread_mutex_unlock(&B.mu);
    return !atomic_load(&B.stop);
}

/* ---- buffers and sockets -------------------------------------------------------------- */

typedef struct buf {
    uint8_t *p;
    size_t len, cap;
} buf_t;

static int buf_reserve(buf_t *b, size_t extra)
{
    if (b->len + extra <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 4096;
    while (ncap < b->len + extra)
        ncap *= 2;
    uint8_t *np = realloc(b->p, ncap);
    if (!np)
        return -1;
    b->p = np;
    b->cap = ncap;
    return 0;
}

static int buf_append(buf_t *b, const void *data, size_t n)
{
    if (buf_reserve(b, n) < 0)
        return -1;
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

/* Read buffer: bytes [start, end) are unparsed. */
typedef struct rbuf {
    uint8_t *p;
    size_t cap, start, end;
} rbuf_t;

static int rbuf_init(rbuf_t *r, size_t cap)
{
    r->p = malloc(cap);
    r->cap = cap;
    r->start = r->end = 0;
    return r->p ? 0 : -1;
}

/* One read(2) into the free space (compacting / growing so that `need` more bytes fit after
 * start). >0 bytes read, 0 EOF, -1 error (errno; EAGAIN when SO_RCVTIMEO expired). */
static ssize_t rbuf_fill(int fd, rbuf_t *r, size_t need)
{
    if (r->start > 0 && (r->start == r->end || r->cap - r->end < need || r->cap - r->end < 4096)) {
        memmove(r->p, r->p + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    if (r->cap - r->start < need) {
        size_t ncap = r->cap;
        while (ncap - r->start < need)
            ncap *= 2;
        uint8_t *np = realloc(r->p, ncap);
        if (!np) {
            errno = ENOMEM;
            return -1;
        }
        r->p = np;
        r->cap = ncap;
    }
    return read(fd, r->p + r->end, r->cap - r->end);
}

/* Next complete frame: 1 (type, data, len set; consumed from r), 0 incomplete (*need = bytes
 * the whole frame takes), -1 invalid size. */
static int rbuf_frame(rbuf_t *r, uint32_t *type, const uint8_t **data, size_t *len, size_t *need)
{
    size_t avail = r->end - r->start;
    *need = 8;
    if (avail < 4)
        return 0;
    uint32_t size = wire_get_be32(r->p + r->start);
    if (size < 4 || size > MAX_FRAME_SIZE)
        return -1;
    *need = (size_t)size + 4;
    if (avail < *need)
        return 0;
    *type = wire_get_be32(r->p + r->start + 4);
    *data = r->p + r->start + 8;
    *len = size - 4;
    r->start += *need;
    return 1;
}

static int write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int connect_nsqd(char *err, size_t errlen)
{
    int fd = socket(B.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, (const struct sockaddr *)&B.addr, B.addrlen) < 0) {
        snprintf(err, errlen, "connect %s: %s", B.o.nsqd_tcp_address, strerror(errno));
        close(fd);
        return -1;
    }
    int one = 1;
    struct timeval tv = {.tv_sec = 0, .tv_usec = POLL_MS * 1000};
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static bool data_is(const uint8_t *data, size_t len, const char *s)
{
    size_t n = strlen(s);
    return len == n && memcmp(data, s, n) == 0;
}

/* Reads one frame, waiting up to --timeout (answering heartbeats on the way). 1 got a
 * non-heartbeat frame, -1 error (reported). */
static int read_reply(int fd, rbuf_t *r, const char *who, uint32_t *type, const uint8_t **data,
                      size_t *len)
{
    int64_t deadline = clock_monotonic_ns() + B.o.timeout;
    for (;;) {
        size_t need;
        int f = rbuf_frame(r, type, data, len, &need);
        if (f < 0) {
            bench_fail("%s: invalid frame size from nsqd", who);
            return -1;
        }
        if (f == 1) {
            if (*type == WIRE_FRAME_RESPONSE && data_is(*data, *len, "_heartbeat_")) {
                atomic_fetch_add(&B.heartbeats, 1);
                if (write_all(fd, "NOP\n", 4) < 0) {
                    bench_fail("%s: write: %s", who, strerror(errno));
                    return -1;
                }
                continue;
            }
            return 1;
        }
        ssize_t n = rbuf_fill(fd, r, need);
        if (n > 0) {
            r->end += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            if (clock_monotonic_ns() > deadline) {
                bench_fail("%s: no reply from nsqd for %.1fs", who, (double)B.o.timeout / 1e9);
                return -1;
            }
            continue;
        }
        bench_fail("%s: %s", who, n == 0 ? "connection closed by nsqd" : strerror(errno));
        return -1;
    }
}

/* Expects an "OK" response; anything else is reported. */
static int expect_ok(int fd, rbuf_t *r, const char *who, const char *what)
{
    uint32_t type;
    const uint8_t *data;
    size_t len;
    if (read_reply(fd, r, who, &type, &data, &len) < 0)
        return -1;
    if (type == WIRE_FRAME_RESPONSE && data_is(data, len, "OK"))
        return 0;
    bench_fail("%s: %s: %s frame \"%.*s\"", who, what,
               type == WIRE_FRAME_ERROR ? "error" : "unexpected", (int)(len > 200 ? 200 : len),
               (const char *)data);
    return -1;
}

/* ---- publishers ----------------------------------------------------------------------- */

typedef struct pub_worker {
    int id;
    pthread_t th;
    int64_t published;
    int64_t last_ok_ns;
} pub_worker_t;

/* "MPUB <topic>\n[4B body size][4B n]([4B size][body])*" */
static int build_mpub(buf_t *b, int64_t n)
{
    size_t size = (size_t)B.o.size;
    char line[128];
    int ll = snprintf(line, sizeof line, "MPUB %s\n", B.o.topic);
    size_t total = (size_t)ll + 8 + (size_t)n * (4 + size);
    b->len = 0;
    if (buf_reserve(b, total) < 0)
        return -1;
    buf_append(b, line, (size_t)ll);
    uint8_t *p = b->p + b->len;
    wire_put_be32(p, (uint32_t)(4 + (size_t)n * (4 + size)));
    wire_put_be32(p + 4, (uint32_t)n);
    p += 8;
    for (int64_t i = 0; i < n; i++) {
        wire_put_be32(p, (uint32_t)size);
        memcpy(p + 4, B.body, size);
        p += 4 + size;
    }
    b->len = total;
    return 0;
}

/* How many messages the next batch carries; 0 = done. */
static int64_t pub_claim(int64_t end_ns)
{
    if (atomic_load(&B.stop))
        return 0;
    if (B.o.duration > 0)
        return clock_monotonic_ns() < end_ns ? B.o.batch : 0;
    int64_t left = atomic_fetch_sub(&B.to_claim, B.o.batch);
    if (left <= 0)
        return 0;
    return left < B.o.batch ? left : B.o.batch;
}

static void *pub_main(void *arg)
{
    pub_worker_t *w = arg;
    char who[32], err[256];
    snprintf(who, sizeof who, "publisher %d", w->id);
    buf_t full = {0}, part = {0};
    rbuf_t r = {0};
    int64_t *fifo = calloc((size_t)B.o.pipeline, sizeof *fifo);
    int fd = -1;
    if (!fifo || rbuf_init(&r, 64 * 1024) < 0 || build_mpub(&full, B.o.batch) < 0) {
        bench_fail("%s: out of memory", who);
        gate_wait();
        goto out;
    }
    fd = connect_nsqd(err, sizeof err);
    if (fd < 0) {
        bench_fail("%s: %s", who, err);
        gate_wait();
        goto out;
    }
    if (write_all(fd, "  V2", 4) < 0) {
        bench_fail("%s: write: %s", who, strerror(errno));
        gate_wait();
        goto out;
    }
    if (!gate_wait())
        goto out;

    int64_t end_ns = B.t0 + B.o.duration;
    size_t head = 0, inflight = 0, cap = (size_t)B.o.pipeline;
    bool sending = true;
    int64_t last_reply = clock_monotonic_ns();
    for (;;) {
        while (sending && inflight < cap) {
            int64_t n = pub_claim(end_ns);
            if (n == 0) {
                sending = false;
                break;
            }
            buf_t *b = &full;
            if (n != B.o.batch) {
                if (build_mpub(&part, n) < 0) {
                    bench_fail("%s: out of memory", who);
                    goto out;
                }
                b = &part;
            }
            if (write_all(fd, b->p, b->len) < 0) {
                bench_fail("%s: write: %s", who, strerror(errno));
                goto out;
            }
            fifo[(head + inflight) % cap] = n;
            inflight++;
        }
        if (inflight == 0)
            break;
        /* read replies: every OK retires the oldest batch */
        ssize_t n = rbuf_fill(fd, &r, 8);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            if (atomic_load(&B.stop))
                goto out;
            if (clock_monotonic_ns() - last_reply > B.o.timeout) {
                bench_fail("%s: no reply to MPUB for %.1fs", who, (double)B.o.timeout / 1e9);
                goto out;
            }
            continue;
        }
        if (n <= 0) {
            bench_fail("%s: %s", who, n == 0 ? "connection closed by nsqd" : strerror(errno));
            goto out;
        }
        r.end += (size_t)n;
        last_reply = clock_monotonic_ns();
        uint32_t type;
        const uint8_t *data;
        size_t len, need;
        int f;
        while ((f = rbuf_frame(&r, &type, &data, &len, &need)) == 1) {
            if (type == WIRE_FRAME_RESPONSE && data_is(data, len, "OK") && inflight > 0) {
                w->published += fifo[head];
                head = (head + 1) % cap;
                inflight--;
                w->last_ok_ns = last_reply;
            } else if (type == WIRE_FRAME_RESPONSE && data_is(data, len, "_heartbeat_")) {
                atomic_fetch_add(&B.heartbeats, 1);
                if (write_all(fd, "NOP\n", 4) < 0) {
                    bench_fail("%s: write: %s", who, strerror(errno));
                    goto out;
                }
            } else {
                bench_fail("%s: MPUB: %s frame \"%.*s\"", who,
                           type == WIRE_FRAME_ERROR ? "error" : "unexpected",
                           (int)(len > 200 ? 200 : len), (const char *)data);
                goto out;
            }
        }
        if (f < 0) {
            bench_fail("%s: invalid frame size from nsqd", who);
            goto out;
        }
    }
out:
    if (fd >= 0)
        close(fd);
    free(fifo);
    free(full.p);
    free(part.p);
    free(r.p);
    return NULL;
}

/* ---- consumers ------------------------------------------------------------------------ */

typedef struct sub_worker {
    int id;
    pthread_t th;
    int fd;
    int64_t consumed;
    int64_t redelivered; /* attempts > 1 */
    int64_t foreign;     /* pubsub: messages this run did not publish (a leftover backlog) */
    int64_t last_msg_ns;
} sub_worker_t;

static bool body_is_ours(const uint8_t *body, size_t len)
{
    size_t n = len < sizeof B.nonce ? len : sizeof B.nonce;
    return len == (size_t)B.o.size && memcmp(body, B.nonce, n) == 0;
}

/* Connects, IDENTIFYs and SUBscribes. fd or -1 (reported). */
static int sub_connect(const char *who, int id, rbuf_t *r)
{
    char err[256], host[256] = "nsq_bench";
    int fd = connect_nsqd(err, sizeof err);
    if (fd < 0) {
        bench_fail("%s: %s", who, err);
        return -1;
    }
    gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    char json[512];
    int jl = snprintf(json, sizeof json,
                      "{\"client_id\":\"nsq_bench-%d\",\"hostname\":\"%s\","
                      "\"user_agent\":\"nsq_bench/%s\",\"feature_negotiation\":false}",
                      id, host, CNSQ_VERSION);
    buf_t b = {0};
    uint8_t len4[4];
    wire_put_be32(len4, (uint32_t)jl);
    int rc = buf_append(&b, "  V2IDENTIFY\n", 13);
    rc |= buf_append(&b, len4, 4);
    rc |= buf_append(&b, json, (size_t)jl);
    char line[256];
    int ll = snprintf(line, sizeof line, "SUB %s %s\n", B.o.topic, B.o.channel);
    rc |= buf_append(&b, line, (size_t)ll);
    if (rc < 0 || write_all(fd, b.p, b.len) < 0) {
        bench_fail("%s: write: %s", who, rc < 0 ? "out of memory" : strerror(errno));
        free(b.p);
        close(fd);
        return -1;
    }
    free(b.p);
    if (expect_ok(fd, r, who, "IDENTIFY") < 0 || expect_ok(fd, r, who, "SUB") < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void *sub_main(void *arg)
{
    sub_worker_t *w = arg;
    char who[32];
    snprintf(who, sizeof who, "consumer %d", w->id);
    rbuf_t r = {0};
    buf_t out = {0};
    w->fd = -1;
    if (rbuf_init(&r, RBUF_SIZE) < 0 || buf_reserve(&out, RBUF_SIZE) < 0) {
        bench_fail("%s: out of memory", who);
        gate_wait();
        goto done;
    }
    w->fd = sub_connect(who, w->id, &r);
    if (!gate_wait() || w->fd < 0)
        goto done;
    char rdy[32];
    int rl = snprintf(rdy, sizeof rdy, "RDY %" PRId64 "\n", B.o.rdy);
    if (write_all(w->fd, rdy, (size_t)rl) < 0) {
        bench_fail("%s: write: %s", who, strerror(errno));
        goto done;
    }
    size_t need = 8;
    for (;;) {
        ssize_t n = rbuf_fill(w->fd, &r, need);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            if (atomic_load(&B.stop))
                break;
            continue;
        }
        if (n <= 0) {
            if (!atomic_load(&B.stop))
                bench_fail("%s: %s", who, n == 0 ? "connection closed by nsqd" : strerror(errno));
            break;
        }
        r.end += (size_t)n;
        out.len = 0;
        int64_t got = 0;
        uint32_t type;
        const uint8_t *data;
        size_t len;
        int f;
        while ((f = rbuf_frame(&r, &type, &data, &len, &need)) == 1) {
            if (type == WIRE_FRAME_MESSAGE && len >= WIRE_MSG_HEADER_LEN) {
                if (buf_reserve(&out, 4 + WIRE_MSG_ID_LEN + 1) < 0) {
                    bench_fail("%s: out of memory", who);
                    goto done;
                }
                uint8_t *p = out.p + out.len;
                memcpy(p, "FIN ", 4);
                memcpy(p + 4, data + 10, WIRE_MSG_ID_LEN);
                p[4 + WIRE_MSG_ID_LEN] = '\n';
                out.len += 4 + WIRE_MSG_ID_LEN + 1;
                if (wire_get_be16(data + 8) > 1)
                    w->redelivered++;
                if (B.mode == MODE_PUBSUB && !body_is_ours(data + WIRE_MSG_HEADER_LEN,
                                                           len - WIRE_MSG_HEADER_LEN))
                    w->foreign++;
                got++;
            } else if (type == WIRE_FRAME_RESPONSE && data_is(data, len, "_heartbeat_")) {
                atomic_fetch_add(&B.heartbeats, 1);
                if (buf_append(&out, "NOP\n", 4) < 0) {
                    bench_fail("%s: out of memory", who);
                    goto done;
                }
            } else {
                bench_fail("%s: %s frame \"%.*s\"", who,
                           type == WIRE_FRAME_ERROR     ? "error"
                           : type == WIRE_FRAME_MESSAGE ? "short message"
                                                        : "unexpected",
                           (int)(len > 200 ? 200 : len), (const char *)data);
                goto done;
            }
        }
        if (f < 0) {
            bench_fail("%s: invalid frame size from nsqd", who);
            goto done;
        }
        if (got > 0) {
            w->consumed += got;
            w->last_msg_ns = clock_monotonic_ns();
            atomic_fetch_add(&B.consumed, got);
        }
        if (out.len > 0 && write_all(w->fd, out.p, out.len) < 0) {
            if (!atomic_load(&B.stop))
                bench_fail("%s: write: %s", who, strerror(errno));
            break;
        }
    }
done:
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    free(r.p);
    free(out.p);
    return NULL;
}

/* pub mode: make sure topic and channel exist, so that the backlog is queued on the channel
 * (a SUB without RDY, then close: a non-ephemeral channel outlives its consumers). */
static int create_channel(void)
{
    rbuf_t r;
    if (rbuf_init(&r, 4096) < 0)
        return -1;
    int fd = sub_connect("channel setup", 0, &r);
    free(r.p);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

/* ---- main ----------------------------------------------------------------------------- */

static int resolve(const char *addr, char *err, size_t errlen)
{
    char host[256], port[16];
    int p;
    if (net_split_hostport(addr, host, sizeof host, &p, err, errlen) < 0)
        return -1;
    snprintf(port, sizeof port, "%d", p);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host[0] ? host : "127.0.0.1", port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", addr, gai_strerror(rc));
        return -1;
    }
    memcpy(&B.addr, res->ai_addr, res->ai_addrlen);
    B.addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static int validate(char *err, size_t errlen)
{
    bench_opts_t *o = &B.o;
    if (strcmp(o->mode ? o->mode : "", "pubsub") == 0)
        B.mode = MODE_PUBSUB;
    else if (strcmp(o->mode ? o->mode : "", "pub") == 0)
        B.mode = MODE_PUB;
    else if (strcmp(o->mode ? o->mode : "", "sub") == 0)
        B.mode = MODE_SUB;
    else {
        snprintf(err, errlen, "--mode must be pubsub, pub or sub");
        return -1;
    }
    if (!o->topic || !name_is_valid(o->topic, strlen(o->topic))) {
        snprintf(err, errlen, "invalid --topic");
        return -1;
    }
    bool need_channel = B.mode != MODE_PUB || (o->channel && *o->channel);
    if (need_channel && (!o->channel || !name_is_valid(o->channel, strlen(o->channel)))) {
        snprintf(err, errlen, "invalid --channel");
        return -1;
    }
    if (o->size < 1 || o->size > 64 * 1024 * 1024) {
        snprintf(err, errlen, "--size must be 1..67108864");
        return -1;
    }
    if (o->batch < 1 || o->batch > 1000000 || o->batch * (o->size + 4) > (int64_t)UINT32_MAX / 2) {
        snprintf(err, errlen, "--batch must be 1..1000000 and batch*size below 2 GiB");
        return -1;
    }
    if (B.mode != MODE_SUB && (o->publishers < 1 || o->publishers > 1024)) {
        snprintf(err, errlen, "--publishers must be 1..1024");
        return -1;
    }
    if (B.mode != MODE_PUB && (o->consumers < 1 || o->consumers > 1024)) {
        snprintf(err, errlen, "--consumers must be 1..1024");
        return -1;
    }
    if (o->rdy < 1) {
        snprintf(err, errlen, "--rdy must be at least 1");
        return -1;
    }
    if (o->pipeline < 1 || o->pipeline > 1024) {
        snprintf(err, errlen, "--pipeline must be 1..1024");
        return -1;
    }
    if (o->duration < 0 || (o->duration == 0 && o->messages < 1)) {
        snprintf(err, errlen, "give --messages >= 1 or --duration > 0");
        return -1;
    }
    if (o->timeout <= 0) {
        snprintf(err, errlen, "--timeout must be positive");
        return -1;
    }
    return 0;
}

static double rate(int64_t n, int64_t ns)
{
    return ns > 0 ? (double)n * 1e9 / (double)ns : 0.0;
}

int main(int argc, char **argv)
{
    char err[512] = "";
    opts_result_t res = {0};
    int rc = opts_parse(bench_defs, &B.o, argc, argv, &res, err, sizeof err);
    if (rc == 0 && res.help) {
        opts_print_help(bench_defs, "nsq_bench", stdout);
        opts_free(bench_defs, &B.o);
        free(res.config_path);
        return 0;
    }
    if (rc < 0 || validate(err, sizeof err) < 0 ||
        resolve(B.o.nsqd_tcp_address ? B.o.nsqd_tcp_address : "", err, sizeof err) < 0) {
        fprintf(stderr, "nsq_bench: %s\n", err);
        opts_free(bench_defs, &B.o);
        free(res.config_path);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    pthread_mutex_init(&B.mu, NULL);
    pthread_cond_init(&B.cv, NULL);
    pthread_mutex_init(&B.err_mu, NULL);
    atomic_init(&B.stop, false);
    atomic_init(&B.consumed, 0);
    atomic_init(&B.heartbeats, 0);
    atomic_init(&B.to_claim, B.o.duration > 0 ? 0 : B.o.messages);
    B.body = malloc((size_t)B.o.size);
    if (!B.body) {
        fprintf(stderr, "nsq_bench: out of memory\n");
        return 1;
    }
    /* body: a per-run nonce (8 letters from the clock and pid), then a-z repeated */
    uint64_t seed = (uint64_t)clock_realtime_ns() ^ ((uint64_t)getpid() << 32);
    for (size_t i = 0; i < sizeof B.nonce; i++, seed /= 26)
        B.nonce[i] = (uint8_t)('A' + seed % 26);
    for (int64_t i = 0; i < B.o.size; i++)
        B.body[i] = i < (int64_t)sizeof B.nonce ? B.nonce[i] : (uint8_t)('a' + i % 26);

    bool pubs = B.mode != MODE_SUB, subs = B.mode != MODE_PUB;
    int np = pubs ? (int)B.o.publishers : 0, nc = subs ? (int)B.o.consumers : 0;
    if (B.mode == MODE_PUB && B.o.channel && *B.o.channel && create_channel() < 0) {
        fprintf(stderr, "nsq_bench: %s\n", B.err);
        return 1;
    }

    pub_worker_t *pw = calloc((size_t)np + 1, sizeof *pw);
    sub_worker_t *sw = calloc((size_t)nc + 1, sizeof *sw);
    if (!pw || !sw) {
        fprintf(stderr, "nsq_bench: out of memory\n");
        return 1;
    }
    int started = 0;
    /* consumers first: in pubsub they must be subscribed before anything is published */
    for (int i = 0; i < nc; i++) {
        sw[i].id = i;
        if (pthread_create(&sw[i].th, NULL, sub_main, &sw[i]) != 0) {
            fprintf(stderr, "nsq_bench: pthread_create failed\n");
            return 1;
        }
        started++;
    }
    /* wait until every consumer has subscribed, then connect the publishers */
    pthread_mutex_lock(&B.mu);
    while (B.ready < nc)
        pthread_cond_wait(&B.cv, &B.mu);
    pthread_mutex_unlock(&B.mu);
    for (int i = 0; i < np; i++) {
        pw[i].id = i;
        if (pthread_create(&pw[i].th, NULL, pub_main, &pw[i]) != 0) {
            fprintf(stderr, "nsq_bench: pthread_create failed\n");
            return 1;
        }
        started++;
    }
    pthread_mutex_lock(&B.mu);
    while (B.ready < started)
        pthread_cond_wait(&B.cv, &B.mu);
    B.t0 = clock_monotonic_ns();
    B.go = true;
    pthread_cond_broadcast(&B.cv);
    pthread_mutex_unlock(&B.mu);

    int64_t published = 0, pub_end = B.t0;
    for (int i = 0; i < np; i++) {
        pthread_join(pw[i].th, NULL);
        published += pw[i].published;
        if (pw[i].last_ok_ns > pub_end)
            pub_end = pw[i].last_ok_ns;
    }

    /* consumers: run until the target is reached, the time is up, or nothing arrives */
    if (nc > 0) {
        int64_t target = B.mode == MODE_PUBSUB ? published
                         : B.o.duration > 0    ? INT64_MAX
                                               : B.o.messages;
        int64_t sub_deadline = B.mode == MODE_SUB && B.o.duration > 0 ? B.t0 + B.o.duration
                                                                      : INT64_MAX;
        int64_t last = -1, last_progress = clock_monotonic_ns();
        while (!atomic_load(&B.stop)) {
            int64_t c = atomic_load(&B.consumed);
            int64_t now = clock_monotonic_ns();
            if (c >= target || now >= sub_deadline)
                break;
            if (c != last) {
                last = c;
                last_progress = now;
            } else if (now - last_progress > B.o.timeout && sub_deadline == INT64_MAX) {
                bench_fail("stalled: consumed %" PRId64 " of %" PRId64
                           " messages, none for %.1fs",
                           c, target, (double)B.o.timeout / 1e9);
                break;
            }
            struct timespec ts = {.tv_sec = 0, .tv_nsec = 2 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        atomic_store(&B.stop, true);
        B.stop_ns = clock_monotonic_ns();
    }
    int64_t consumed = 0, redelivered = 0, foreign = 0, sub_end = B.t0;
    for (int i = 0; i < nc; i++) {
        pthread_join(sw[i].th, NULL);
        consumed += sw[i].consumed;
        redelivered += sw[i].redelivered;
        foreign += sw[i].foreign;
        if (sw[i].last_msg_ns > sub_end)
            sub_end = sw[i].last_msg_ns;
    }
    if (B.mode == MODE_SUB && B.o.duration > 0)
        sub_end = B.stop_ns; /* like bench_reader: the rate over the whole --duration */
    if (B.mode == MODE_PUBSUB && !bench_failed() && foreign > 0)
        bench_fail("consumed %" PRId64 " messages this run did not publish (a backlog left on "
                   "topic %s channel %s?)", foreign, B.o.topic, B.o.channel);
    if (B.mode == MODE_PUBSUB && !bench_failed() && consumed != published)
        bench_fail("consumed %" PRId64 " != published %" PRId64, consumed, published);
    if (B.mode == MODE_SUB && B.o.duration == 0 && !bench_failed() && consumed != B.o.messages)
        bench_fail("consumed %" PRId64 " != --messages %" PRId64, consumed, B.o.messages);
    {
        double mib = (double)B.o.size / (1024.0 * 1024.0);
        int64_t pub_ns = pub_end - B.t0, sub_ns = sub_end - B.t0;
        int64_t dur_ns = (pub_ns > sub_ns ? pub_ns : sub_ns);
        struct rusage ru = {0};
        getrusage(RUSAGE_SELF, &ru); /* the load generator's own CPU use, whole process */
        printf("{\"mode\":\"%s\",\"nsqd_tcp_address\":\"%s\",\"topic\":\"%s\",\"channel\":\"%s\","
               "\"size\":%" PRId64 ",\"batch\":%" PRId64 ",\"publishers\":%d,\"consumers\":%d,"
               "\"rdy\":%" PRId64 ",\"pipeline\":%" PRId64 ","
               "\"published\":%" PRId64 ",\"pub_duration_s\":%.3f,\"pub_msgs_per_s\":%.0f,"
               "\"pub_mb_per_s\":%.2f,"
               "\"consumed\":%" PRId64 ",\"sub_duration_s\":%.3f,\"sub_msgs_per_s\":%.0f,"
               "\"sub_mb_per_s\":%.2f,\"redelivered\":%" PRId64 ",\"heartbeats\":%" PRId64 ","
               "\"duration_s\":%.3f,"
               "\"bench_cpu_user_s\":%.3f,\"bench_cpu_sys_s\":%.3f,",
               B.o.mode, B.o.nsqd_tcp_address, B.o.topic, B.o.channel ? B.o.channel : "",
               B.o.size, B.o.batch, np, nc, B.o.rdy, B.o.pipeline, published,
               (double)pub_ns / 1e9, rate(published, pub_ns), rate(published, pub_ns) * mib,
               consumed, (double)sub_ns / 1e9, rate(consumed, sub_ns),
               rate(consumed, sub_ns) * mib, redelivered, (int64_t)atomic_load(&B.heartbeats),
               (double)dur_ns / 1e9,
               (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
        /* per connection: how evenly nsqd served them */
        printf("\"published_per_publisher\":[");
        for (int i = 0; i < np; i++)
            printf("%s%" PRId64, i ? "," : "", pw[i].published);
        printf("],\"consumed_per_consumer\":[");
        for (int i = 0; i < nc; i++)
            printf("%s%" PRId64, i ? "," : "", sw[i].consumed);
        printf("],\"ok\":%s}\n", bench_failed() ? "false" : "true");
        fflush(stdout);
    }
    free(pw);
    free(sw);
    free(B.body);
    opts_free(bench_defs, &B.o);
    free(res.config_path);
    if (bench_failed()) {
        fprintf(stderr, "nsq_bench: %s\n", B.err);
        return 1;
    }
    return 0;
}
