/* Unit tests for stats/statsd_writer: datagram packing (never over the size, never a split
 * line, greedy), line formatting and prefix expansion, percentile names, counter deltas, and
 * the spread sender against a real UDP socket on 127.0.0.1 (timing checked loosely). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/util.h"
#include "stats/statsd_writer.h"

#define MS 1000000LL

/* ---- packer ----------------------------------------------------------------------------- */

typedef struct capture {
    char *data; /* all emitted bytes, concatenated */
    size_t len, cap;
    size_t *ends; /* end offset of each packet */
    size_t n, capn;
} capture_t;

static int capture_cb(void *arg, const char *pkt, size_t len)
{
    capture_t *c = arg;
    while (c->len + len > c->cap) {
        c->cap = c->cap ? c->cap * 2 : 4096;
        c->data = realloc(c->data, c->cap);
    }
    memcpy(c->data + c->len, pkt, len);
    c->len += len;
    if (c->n == c->capn) {
        c->capn = c->capn ? c->capn * 2 : 64;
        c->ends = realloc(c->ends, c->capn * sizeof(size_t));
    }
    c->ends[c->n++] = c->len;
    return 0;
}

static void capture_free(capture_t *c)
{
    free(c->data);
    free(c->ends);
}

static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Random lines (some longer than a packet) through packers of several sizes. */
static void test_packer_never_splits_or_overflows(void **state)
{
    static const size_t sizes[] = {508, 64, 1400, 100};
    for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
        size_t size = sizes[si];
        capture_t cap = {0};
        statsd_packer_t *p = statsd_packer_new(size == 508 ? 0 : size, capture_cb, &cap);
        assert_non_null(p);
        enum { LINES = 5000 };
        size_t *line_end = malloc(LINES * sizeof(size_t)),
               *line_len = malloc(LINES * sizeof(size_t));
        char *all = malloc(LINES * 700);
        size_t total = 0;
        for (int i = 0; i < LINES; i++) {
            size_t len = 1 + rng() % (rng() % 20 == 0 ? size + 200 : size / 3 + 10);
            char line[2000];
            for (size_t k = 0; k + 1 < len; k++)
                line[k] = (char)('a' + (i + k) % 26);
            line[len - 1] = '\n';
            assert_int_equal(statsd_packer_add(p, line, len), 0);
            memcpy(all + total, line, len);
            total += len;
            line_end[i] = total;
            line_len[i] = len;
        }
        assert_int_equal(statsd_packer_flush(p), 0);
        assert_int_equal(statsd_packer_flush(p), 0); /* nothing left: no empty datagram */
        assert_int_equal(statsd_packer_packets(p), cap.n);
        /* the bytes arrive unchanged and in order */
        assert_int_equal(cap.len, total);
        assert_memory_equal(cap.data, all, total);
        /* every packet ends on a line end; only a lone oversized line may pass the size */
        size_t li = 0, start = 0;
        for (size_t k = 0; k < cap.n; k++) {
            size_t first = li;
            while (li < LINES && line_end[li] < cap.ends[k])
                li++;
            assert_true(li < LINES && line_end[li] == cap.ends[k]);
            size_t plen = cap.ends[k] - start;
            if (plen > size)
                assert_int_equal(li, first); /* a single line */
            /* greedy: the next line would not have fitted */
            if (k + 1 < cap.n)
                assert_true(plen + line_len[li + 1] > size);
            start = cap.ends[k];
            li++;
        }
        assert_int_equal(li, LINES);
        free(line_end);
        free(line_len);
        free(all);
        statsd_packer_free(p);
        capture_free(&cap);
    }
}

static void test_packer_oversized_line_alone(void **state)
{
    capture_t cap = {0};
    statsd_packer_t *p = statsd_packer_new(10, capture_cb, &cap);
    statsd_packer_add(p, "abcd\n", 5);
    statsd_packer_add(p, "0123456789abcdef\n", 17);
    statsd_packer_add(p, "xy\n", 3);
    statsd_packer_add(p, "1234567\n", 8);
    statsd_packer_flush(p);
    assert_int_equal(cap.n, 4);
    assert_int_equal(cap.ends[0], 5);  /* "abcd\n" flushed before the big one */
    assert_int_equal(cap.ends[1], 22); /* the big one alone */
    assert_int_equal(cap.ends[2], 25); /* "xy\n" + "1234567\n" = 11 > 10 */
    assert_int_equal(cap.ends[3], 33);
    statsd_packer_free(p);
    capture_free(&cap);
}

static int failing_cb(void *arg, const char *pkt, size_t len)
{
    return -1;
}

static void test_packer_emit_failure(void **state)
{
    statsd_packer_t *p = statsd_packer_new(8, failing_cb, NULL);
    assert_int_equal(statsd_packer_add(p, "abcdef\n", 7), 0);
    assert_int_equal(statsd_packer_add(p, "abcdef\n", 7), -1);
    statsd_packer_free(p);
}

/* ---- formatting ------------------------------------------------------------------------- */

static void test_format_lines(void **state)
{
    char buf[128];
    assert_int_equal(
        statsd_format(buf, sizeof(buf), "nsq.h_4151.", "topic.t.message_count", STATSD_COUNTER, 42),
        strlen("nsq.h_4151.topic.t.message_count:42|c\n"));
    assert_string_equal(buf, "nsq.h_4151.topic.t.message_count:42|c\n");
    statsd_format(buf, sizeof(buf), "", "topic.t.depth", STATSD_GAUGE, 7);
    assert_string_equal(buf, "topic.t.depth:7|g\n");
    /* line-breaking bytes in a name become '_'; '.' and '#' are kept */
    statsd_format(buf, sizeof(buf), "p.", "topic.a:b|c d\ne#ephemeral", STATSD_COUNTER, 1);
    assert_string_equal(buf, "p.topic.a_b_c_d_e#ephemeral:1|c\n");
    /* a negative gauge is set to 0 first, or statsd would read a decrement */
    statsd_format(buf, sizeof(buf), "p.", "g", STATSD_GAUGE, -5);
    assert_string_equal(buf, "p.g:0|g\np.g:-5|g\n");
    statsd_format(buf, sizeof(buf), "p.", "c", STATSD_COUNTER, -5);
    assert_string_equal(buf, "p.c:-5|c\n");
    /* snprintf-like: the needed length, nothing torn */
    char small[8];
    assert_int_equal(statsd_format(small, sizeof(small), "p.", "gauge", STATSD_GAUGE, 12345), 16);
    assert_string_equal(small, "");
}

static void test_packer_stat_long_line(void **state)
{
    capture_t cap = {0};
    statsd_packer_t *p = statsd_packer_new(0, capture_cb, &cap);
    char name[900];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    assert_int_equal(statsd_packer_stat(p, "pre.", "a", STATSD_COUNTER, 1), 0);
    assert_int_equal(statsd_packer_stat(p, "pre.", name, STATSD_GAUGE, 2), 0);
    statsd_packer_flush(p);
    assert_int_equal(cap.n, 2);
    assert_int_equal(cap.ends[0], strlen("pre.a:1|c\n"));
    assert_int_equal(cap.len - cap.ends[0], 4 + 899 + strlen(":2|g\n"));
    statsd_packer_free(p);
    capture_free(&cap);
}

static void test_prefix_expand(void **state)
{
    char out[128], err[128];
    assert_int_equal(
        statsd_prefix_expand("nsq.%s", "127.0.0.1", 4151, out, sizeof(out), err, sizeof(err)), 0);
    assert_string_equal(out, "nsq.127_0_0_1_4151.");
    statsd_prefix_expand("nsq.%s.", "host.example.com", 80, out, sizeof(out), err, sizeof(err));
    assert_string_equal(out, "nsq.host_example_com_80.");
    statsd_prefix_expand("nsq.%s", "::1", 4151, out, sizeof(out), err, sizeof(err));
    assert_string_equal(out, "nsq.[__1]_4151."); /* JoinHostPort brackets are kept */
    statsd_prefix_expand("%s-%s", "h", 1, out, sizeof(out), err, sizeof(err));
    assert_string_equal(out, "h_1-h_1.");
    statsd_prefix_expand("static", "h", 1, out, sizeof(out), err, sizeof(err));
    assert_string_equal(out, "static.");
    statsd_prefix_expand("", "h", 1, out, sizeof(out), err, sizeof(err));
    assert_string_equal(out, "");
    statsd_prefix_expand("100%", "h", 1, out, sizeof(out), err, sizeof(err));
    assert_string_equal(out, "100%.");
    char small[8];
    assert_int_equal(
        statsd_prefix_expand("nsq.%s", "127.0.0.1", 4151, small, sizeof(small), err, sizeof(err)),
        -1);
    assert_string_equal(small, "");
    assert_non_null(strstr(err, "too long"));
    /* exactly fitting: 7 bytes + NUL */
    assert_int_equal(statsd_prefix_expand("abcdef", "h", 1, small, sizeof(small), err, sizeof(err)),
                     0);
    assert_string_equal(small, "abcdef.");
}

static void test_percentile_names(void **state)
{
    static const struct {
        double q;
        const char *name;
    } cases[] = {
        {0.99, "99"},   {1.0, "100"},    {0.95, "95"},      {0.5, "50"},
        {0.05, "5"},    {0.999, "99_9"}, {0.9999, "99_99"}, {0.995, "99_5"},
        {0.001, "0_1"}, {0.125, "12_5"}, {0.75, "75"},      {0.99999, "99_999"},
    };
    char buf[32];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int n = statsd_percentile_name(cases[i].q, buf, sizeof(buf));
        assert_int_equal(n, strlen(cases[i].name));
        assert_string_equal(buf, cases[i].name);
    }
    assert_int_equal(statsd_percentile_name(0.999, buf, 4), -1);
}

/* ---- counter deltas --------------------------------------------------------------------- */

static void test_diff_semantics(void **state)
{
    assert_int_equal(statsd_counter_delta(10, 15), 5);
    assert_int_equal(statsd_counter_delta(10, 3), 3); /* restarted: current value */
    assert_int_equal(statsd_counter_delta(0, 0), 0);

    statsd_diff_t *d = statsd_diff_new();
    uint64_t delta;
    /* round 1: new keys count from 0 */
    assert_int_equal(statsd_diff(d, "topic.a.message_count", 1, 100, &delta), 0);
    assert_int_equal(delta, 100);
    statsd_diff(d, "topic.b.message_count", 1, 5, &delta);
    assert_int_equal(delta, 5);
    statsd_diff_end_round(d);
    /* round 2: growth; a restart (deleted + recreated with fewer) sends the current value */
    statsd_diff(d, "topic.a.message_count", 1, 130, &delta);
    assert_int_equal(delta, 30);
    statsd_diff(d, "topic.b.message_count", 1, 2, &delta);
    assert_int_equal(delta, 2);
    statsd_diff_end_round(d);
    /* round 3: a recreated with more than before: the epoch tells */
    statsd_diff(d, "topic.a.message_count", 2, 500, &delta);
    assert_int_equal(delta, 500);
    statsd_diff(d, "topic.b.message_count", 1, 2, &delta);
    assert_int_equal(delta, 0);
    statsd_diff_end_round(d);
    assert_int_equal(statsd_diff_len(d), 2);
    /* round 4: b is gone (deleted); it is forgotten at the end of the round */
    statsd_diff(d, "topic.a.message_count", 2, 510, &delta);
    assert_int_equal(delta, 10);
    statsd_diff_end_round(d);
    assert_int_equal(statsd_diff_len(d), 1);
    /* round 5: b is back with a larger count than it once had: counts from 0 */
    statsd_diff(d, "topic.b.message_count", 1, 50, &delta);
    assert_int_equal(delta, 50);
    statsd_diff_free(d);
}

/* ---- spread sender ---------------------------------------------------------------------- */

typedef struct receiver {
    int fd;
    int port;
    int64_t at[64];
    char first[64];
    size_t n;
} receiver_t;

static void receiver_open(receiver_t *r)
{
    memset(r, 0, sizeof(*r));
    r->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    assert_true(r->fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(r->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t len = sizeof(sa);
    getsockname(r->fd, (struct sockaddr *)&sa, &len);
    r->port = ntohs(sa.sin_port);
}

static void receiver_drain(receiver_t *r)
{
    char buf[2048];
    ssize_t n;
    while ((n = recv(r->fd, buf, sizeof(buf), 0)) >= 0) {
        if (r->n < 64) {
            if (r->n == 0)
                snprintf(r->first, sizeof(r->first), "%.*s", (int)n, buf);
            r->at[r->n] = clock_monotonic_ns();
        }
        r->n++;
    }
}

static void recv_cb(evutil_socket_t fd, short what, void *arg)
{
    receiver_drain(arg);
}

static statsd_sender_t *sender_to(struct event_base *base, int port)
{
    char addr[64], err[256];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    statsd_sender_t *s = statsd_sender_new(base, addr, err, sizeof(err));
    if (!s)
        print_error("%s\n", err);
    assert_non_null(s);
    return s;
}

static void run_for(struct event_base *base, int64_t ns)
{
    struct timeval tv = {(time_t)(ns / 1000000000), (suseconds_t)(ns % 1000000000 / 1000)};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

static void queue_n(statsd_sender_t *s, int n)
{
    for (int i = 0; i < n; i++) {
        char pkt[32];
        int len = snprintf(pkt, sizeof(pkt), "p%d:%d|c\n", i, i);
        assert_int_equal(statsd_sender_queue(s, pkt, (size_t)len), 0);
    }
}

/* 5 packets, interval 2s: sent at 0, 0.2, 0.4, 0.6, 0.8s (spread over interval - 1s). */
static void test_spread_timing(void **state)
{
    struct event_base *base = event_base_new();
    receiver_t r;
    receiver_open(&r);
    struct event *ev = event_new(base, r.fd, EV_READ | EV_PERSIST, recv_cb, &r);
    event_add(ev, NULL);
    statsd_sender_t *s = sender_to(base, r.port);
    queue_n(s, 5);
    assert_int_equal(statsd_sender_pending(s), 5);
    int64_t t0 = clock_monotonic_ns();
    statsd_sender_start(s, 2000 * MS);
    assert_int_equal(statsd_sender_pending(s), 4); /* the first leaves at once */
    run_for(base, 1300 * MS);
    assert_int_equal(r.n, 5);
    assert_string_equal(r.first, "p0:0|c\n");
    assert_true(r.at[0] - t0 < 150 * MS);
    int64_t span = r.at[4] - r.at[0];
    if (span < 600 * MS || span > 1100 * MS)
        print_error("spread over %lld ms\n", (long long)(span / MS));
    assert_true(span >= 600 * MS && span <= 1100 * MS); /* ~800 ms, not one burst */
    for (int i = 1; i < 5; i++)
        assert_true(r.at[i] - r.at[i - 1] >= 100 * MS); /* ~200 ms apart */
    uint64_t sent, dropped;
    statsd_sender_counts(s, &sent, &dropped);
    assert_int_equal(sent, 5);
    assert_int_equal(dropped, 0);
    assert_int_equal(statsd_sender_pending(s), 0);
    statsd_sender_free(s);
    event_free(ev);
    close(r.fd);
    event_base_free(base);
}

/* interval <= 1s: everything at once. */
static void test_short_interval_sends_at_once(void **state)
{
    struct event_base *base = event_base_new();
    receiver_t r;
    receiver_open(&r);
    statsd_sender_t *s = sender_to(base, r.port);
    queue_n(s, 20);
    statsd_sender_start(s, 1000 * MS);
    assert_int_equal(statsd_sender_pending(s), 0);
    usleep(50000);
    receiver_drain(&r);
    assert_int_equal(r.n, 20);
    statsd_sender_free(s);
    close(r.fd);
    event_base_free(base);
}

/* Shutdown sends what is left at once; a new start sends the previous batch's rest first. */
static void test_flush_on_free_and_restart(void **state)
{
    struct event_base *base = event_base_new();
    receiver_t r;
    receiver_open(&r);
    statsd_sender_t *s = sender_to(base, r.port);
    queue_n(s, 10);
    statsd_sender_start(s, 60000 * MS);
    queue_n(s, 3); /* the next batch, filled while the first is spread */
    assert_int_equal(statsd_sender_pending(s), 9 + 3);
    statsd_sender_start(s, 60000 * MS); /* rest of batch 1 at once + first of batch 2 */
    assert_int_equal(statsd_sender_pending(s), 2);
    usleep(20000);
    receiver_drain(&r);
    assert_int_equal(r.n, 11);
    queue_n(s, 4);
    statsd_sender_free(s); /* 2 waiting + 4 queued, at once */
    usleep(20000);
    receiver_drain(&r);
    assert_int_equal(r.n, 17);
    close(r.fd);
    event_base_free(base);
}

/* Nobody listening: ECONNREFUSED drops are counted, nothing blocks or fails. */
static void test_refused_is_counted(void **state)
{
    struct event_base *base = event_base_new();
    receiver_t r;
    receiver_open(&r);
    int port = r.port;
    close(r.fd); /* the port is now closed */
    statsd_sender_t *s = sender_to(base, port);
    for (int round = 0; round < 5; round++) {
        queue_n(s, 2);
        statsd_sender_start(s, 0);
        usleep(10000);
    }
    uint64_t sent, dropped;
    statsd_sender_counts(s, &sent, &dropped);
    assert_int_equal(sent + dropped, 10);
    assert_true(dropped >= 1);
    statsd_sender_free(s);
    event_base_free(base);
}

static void test_sender_bad_address(void **state)
{
    struct event_base *base = event_base_new();
    char err[256] = "";
    assert_null(statsd_sender_new(base, "no-port", err, sizeof(err)));
    assert_true(err[0] != '\0');
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_packer_never_splits_or_overflows),
        cmocka_unit_test(test_packer_oversized_line_alone),
        cmocka_unit_test(test_packer_emit_failure),
        cmocka_unit_test(test_format_lines),
        cmocka_unit_test(test_packer_stat_long_line),
        cmocka_unit_test(test_prefix_expand),
        cmocka_unit_test(test_percentile_names),
        cmocka_unit_test(test_diff_semantics),
        cmocka_unit_test(test_spread_timing),
        cmocka_unit_test(test_short_interval_sends_at_once),
        cmocka_unit_test(test_flush_on_free_and_restart),
        cmocka_unit_test(test_refused_is_counted),
        cmocka_unit_test(test_sender_bad_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
