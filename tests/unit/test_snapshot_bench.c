/* Benchmark (run as a unit test): how long stats_snapshot_take holds the event loop for 1,000
 * topics x 10 channels, as /stats, /metrics and every statsd push take it. Builds a real nsqd
 * registry with telemetry attached (ephemeral names: no disk queues), fills every channel's
 * e2e window through real FINs from fake consumers, then times the snapshot (median and worst
 * of several) without and with three percentiles, and the /stats JSON rendering for reference.
 * Prints the figures; fails only if a snapshot takes longer than a generous bound (sanitizer
 * builds are slow) or is wrong. BENCH_TOPICS / BENCH_CHANNELS / BENCH_MSGS / BENCH_ROUNDS override
 * the sizes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "nsqd/channel.h"
#include "nsqd/nsqd.h"
#include "nsqd/stats.h"
#include "nsqd/telemetry.h"
#include "nsqd/topic.h"

#define MAX_ROUNDS 200
static int rounds = 15; /* BENCH_ROUNDS */
#define MAX_MSGS 64
#define LIMIT_MS 2000.0 /* a loop stall nobody would accept, even under ASan */

typedef struct fake {
    chan_consumer_t cc;
    channel_t *ch;
    char ids[MAX_MSGS][16];
    int n;
} fake_t;

static void fake_deliver(chan_consumer_t *c, msg_t *m, uint16_t attempts)
{
    fake_t *f = (fake_t *)c;
    if (f->n < MAX_MSGS)
        memcpy(f->ids[f->n++], m->id, 16);
}

static void fake_closed(chan_consumer_t *c)
{
}

static const chan_consumer_ops_t fake_ops = {fake_deliver, fake_closed};

static int env_int(const char *name, int def)
{
    const char *v = getenv(name);
    return v && atoi(v) > 0 ? atoi(v) : def;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct world {
    struct event_base *base;
    nsqd_opts_t opts;
    nsqd_t *n;
    telemetry_t *tel;
    fake_t *fakes;
    size_t nfakes;
    char dir[64];
} world_t;

/* Publishes msgs messages to every topic; every channel's consumer FINs them all. */
static void world_feed(world_t *w, int msgs)
{
    char err[256];
    size_t nt = nsqd_topic_count(w->n);
    topic_t **tops = calloc(nt, sizeof(*tops));
    assert_non_null(tops);
    assert_int_equal(nsqd_topics(w->n, tops, nt), nt);
    for (size_t i = 0; i < w->nfakes; i++)
        w->fakes[i].n = 0;
    for (size_t t = 0; t < nt; t++)
        for (int i = 0; i < msgs; i++)
            assert_int_equal(
                topic_put(tops[t], nsqd_new_message(w->n, "benchmark", 9), 0, err, sizeof(err)),
                0);
    for (size_t i = 0; i < w->nfakes; i++) {
        fake_t *f = &w->fakes[i];
        assert_int_equal(f->n, msgs);
        for (int j = 0; j < f->n; j++)
            assert_int_equal(chan_finish(f->ch, &f->cc, f->ids[j], 16, err, sizeof(err)), 0);
    }
    free(tops);
}

/* topics x channels, every channel with one consumer that FINs msgs messages. */
static void world_build(world_t *w, const char *percentiles, int topics, int channels, int msgs)
{
    char err[256], datapath[96], pct[96];
    memset(w, 0, sizeof(*w));
    snprintf(w->dir, sizeof(w->dir), "/tmp/cnsq-snapbench.XXXXXX");
    assert_non_null(mkdtemp(w->dir));
    snprintf(datapath, sizeof(datapath), "--data-path=%s", w->dir);
    snprintf(pct, sizeof(pct), "--e2e-processing-latency-percentile=%s", percentiles);
    char *argv[] = {"nsqd", datapath, pct, NULL};
    int argc = percentiles[0] ? 3 : 2;
    assert_int_equal(nsqd_opts_load(&w->opts, argc, argv, err, sizeof(err)), 0);
    w->base = event_base_new();
    w->n = nsqd_new(w->base, &w->opts, err, sizeof(err));
    assert_non_null(w->n);
    w->tel = telemetry_new(w->n, err, sizeof(err));
    assert_non_null(w->tel);
    w->fakes = calloc((size_t)topics * (size_t)channels, sizeof(fake_t));
    assert_non_null(w->fakes);
    for (int t = 0; t < topics; t++) {
        char tname[64], cname[64];
        snprintf(tname, sizeof(tname), "topic%04d#ephemeral", t);
        topic_t *tp = nsqd_get_topic(w->n, tname, strlen(tname));
        assert_non_null(tp);
        for (int c = 0; c < channels; c++) {
            snprintf(cname, sizeof(cname), "channel%02d#ephemeral", c);
            fake_t *f = &w->fakes[w->nfakes++];
            f->ch = topic_get_channel(tp, cname, strlen(cname));
            assert_non_null(f->ch);
            f->cc.ops = &fake_ops;
            f->cc.ready_count = MAX_MSGS;
            f->cc.msg_timeout = 60LL * 1000000000;
            assert_int_equal(chan_add_consumer(f->ch, &f->cc, 0), 0);
        }
    }
    world_feed(w, msgs);
}

static void world_free(world_t *w)
{
    telemetry_free(w->tel);
    nsqd_free(w->n); /* the consumers are told their channel closed */
    event_base_free(w->base);
    nsqd_opts_free(&w->opts);
    free(w->fakes);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w->dir);
    assert_int_equal(system(cmd), 0);
}

/* One snapshot: its time in ms; checks its shape. */
static double one_snapshot(world_t *w, int topics, int channels, uint64_t fins, bool e2e,
                           double *json_ms)
{
    int64_t t0 = clock_monotonic_ns();
    stats_snapshot_t *s = stats_snapshot_take(w->n, NULL, NULL, NULL, false);
    double ms = (double)(clock_monotonic_ns() - t0) / 1e6;
    assert_non_null(s);
    assert_int_equal(s->topics_len, topics);
    assert_int_equal(s->topics[0].channels_len, channels);
    const stats_channel_t *c = &s->topics[0].channels[0];
    assert_int_equal(c->s.message_count, fins);
    if (e2e) {
        assert_int_equal(c->e2e.percentiles_len, 3);
        assert_true(c->e2e.total_count <= fins);
    } else {
        assert_null(c->e2e.percentiles);
    }
    if (json_ms) {
        struct evbuffer *buf = evbuffer_new();
        t0 = clock_monotonic_ns();
        assert_int_equal(stats_render_json(s, NULL, buf), 0);
        *json_ms = (double)(clock_monotonic_ns() - t0) / 1e6;
        evbuffer_free(buf);
    }
    stats_snapshot_free(s);
    return ms;
}

/* Median and worst of ROUNDS snapshots. */
static void time_snapshots(world_t *w, int topics, int channels, uint64_t fins, bool e2e,
                           double *median, double *worst, double *json_ms)
{
    double ms[MAX_ROUNDS];
    for (int r = 0; r < rounds; r++)
        ms[r] = one_snapshot(w, topics, channels, fins, e2e, r == 0 ? json_ms : NULL);
    qsort(ms, (size_t)rounds, sizeof(double), cmp_double);
    *median = ms[rounds / 2];
    *worst = ms[rounds - 1];
}

/* Spins the event loop (telemetry's timers: the e2e refresher, the rate tick) for ms and
 * returns the longest single turn in ms: how long the loop was held at once. */
static double run_loop(world_t *w, int ms)
{
    double longest = 0;
    int64_t end = clock_monotonic_ns() + (int64_t)ms * 1000000;
    while (clock_monotonic_ns() < end) {
        int64_t t0 = clock_monotonic_ns();
        event_base_loop(w->base, EVLOOP_NONBLOCK);
        double turn = (double)(clock_monotonic_ns() - t0) / 1e6;
        if (turn > longest)
            longest = turn;
    }
    return longest;
}

static void run(const char *percentiles)
{
    int topics = env_int("BENCH_TOPICS", 1000), channels = env_int("BENCH_CHANNELS", 10);
    int msgs = env_int("BENCH_MSGS", 20);
    rounds = env_int("BENCH_ROUNDS", 15);
    rounds = rounds > MAX_ROUNDS ? MAX_ROUNDS : rounds;
    bool e2e = percentiles[0] != 0;
    if (msgs > MAX_MSGS)
        msgs = MAX_MSGS;
    world_t w;
    world_build(&w, percentiles, topics, channels, msgs);
    double json_ms, median, worst;
    double cold = one_snapshot(&w, topics, channels, (uint64_t)msgs, e2e, NULL);
    time_snapshots(&w, topics, channels, (uint64_t)msgs, e2e, &median, &worst, &json_ms);
    printf("snapshot bench: %d topics x %d channels (%d FINs each), percentiles [%s]:\n"
           "  stats_snapshot_take: first %.2f ms, then median %.2f ms, worst %.2f ms of %d;"
           " /stats JSON render %.2f ms\n",
           topics, channels, msgs, e2e ? percentiles : "none", cold, median, worst, rounds,
           json_ms);
    assert_true(median < LIMIT_MS);
    if (e2e) {
        /* every window changes: snapshots use the cached results (at most E2E_MAX_AGE old)
         * while the refresher recomputes them in slices */
        world_feed(&w, msgs);
        double stale = one_snapshot(&w, topics, channels, 2 * (uint64_t)msgs, e2e, NULL);
        double turn = run_loop(&w, 3000);
        time_snapshots(&w, topics, channels, 2 * (uint64_t)msgs, e2e, &median, &worst,
                       &json_ms);
        printf("  after %d more FINs on every channel: snapshot %.2f ms (cached results);\n"
               "  3 s of event loop later (refresher caught up, longest loop turn %.2f ms):"
               " median %.2f ms, worst %.2f ms\n",
               msgs, stale, turn, median, worst);
    }
    fflush(stdout);
    world_free(&w);
}

static void test_snapshot_without_percentiles(void **state)
{
    run("");
}

static void test_snapshot_with_three_percentiles(void **state)
{
    run("0.99,0.95,0.5");
}

int main(void)
{
    log_set_level(LOG_ERROR); /* not a line per channel created */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_without_percentiles),
        cmocka_unit_test(test_snapshot_with_three_percentiles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
