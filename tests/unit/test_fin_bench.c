/* Benchmark (run as a unit test): what e2e percentiles add to the message path inside nsqd, with
 * no network in the way. One topic, one channel, one fake consumer under RDY; rounds of
 * publish (topic_put), delivery and FIN (chan_finish), with telemetry attached and either no
 * percentiles (no FIN observer) or three. Prints ns per message for both, best of a few tries
 * in alternation (this machine's noise only ever adds time); checks that every FIN was
 * counted. BENCH_FIN_MSGS overrides the message count (default 2,000,000; 100,000 in builds
 * without optimisation). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

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

#define BATCH 500
#define TRIES 5
#ifdef __OPTIMIZE__
#define DEFAULT_MSGS 2000000
#else
#define DEFAULT_MSGS 100000 /* Debug and sanitizer builds: a check, not a measurement */
#endif

typedef struct fake {
    chan_consumer_t cc;
    char ids[BATCH][16];
    int n;
} fake_t;

static void fake_deliver(chan_consumer_t *c, msg_t *m, uint16_t attempts)
{
    fake_t *f = (fake_t *)c;
    if (f->n < BATCH)
        memcpy(f->ids[f->n++], m->id, 16);
}

static void fake_closed(chan_consumer_t *c)
{
}

static const chan_consumer_ops_t fake_ops = {fake_deliver, fake_closed};

typedef struct rig {
    struct event_base *base;
    nsqd_opts_t opts;
    nsqd_t *n;
    telemetry_t *tel;
    topic_t *topic;
    channel_t *ch;
    fake_t fake;
    char dir[64];
} rig_t;

static void rig_new(rig_t *r, const char *percentiles)
{
    char err[256], datapath[96], pct[96];
    memset(r, 0, sizeof(*r));
    snprintf(r->dir, sizeof(r->dir), "/tmp/cnsq-finbench.XXXXXX");
    assert_non_null(mkdtemp(r->dir));
    snprintf(datapath, sizeof(datapath), "--data-path=%s", r->dir);
    snprintf(pct, sizeof(pct), "--e2e-processing-latency-percentile=%s", percentiles);
    char *argv[] = {"nsqd", datapath, pct, NULL};
    assert_int_equal(nsqd_opts_load(&r->opts, percentiles[0] ? 3 : 2, argv, err, sizeof(err)), 0);
    r->base = event_base_new();
    r->n = nsqd_new(r->base, &r->opts, err, sizeof(err));
    assert_non_null(r->n);
    r->tel = telemetry_new(r->n, err, sizeof(err));
    assert_non_null(r->tel);
    r->topic = nsqd_get_topic(r->n, "bench#ephemeral", 15);
    r->ch = topic_get_channel(r->topic, "ch#ephemeral", 12);
    assert_non_null(r->ch);
    r->fake.cc.ops = &fake_ops;
    r->fake.cc.ready_count = BATCH;
    r->fake.cc.msg_timeout = 60LL * 1000000000;
    assert_int_equal(chan_add_consumer(r->ch, &r->fake.cc, 0), 0);
}

static void rig_free(rig_t *r)
{
    telemetry_free(r->tel);
    nsqd_free(r->n);
    event_base_free(r->base);
    nsqd_opts_free(&r->opts);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r->dir);
    assert_int_equal(system(cmd), 0);
}

/* ns per message for msgs messages through publish, delivery and FIN. */
static double run_messages(rig_t *r, int msgs)
{
    char err[128];
    int64_t t0 = clock_monotonic_ns();
    for (int done = 0; done < msgs; done += BATCH) {
        r->fake.n = 0;
        for (int i = 0; i < BATCH; i++)
            topic_put(r->topic, nsqd_new_message(r->n, "0123456789", 10), 0, err, sizeof(err));
        assert_int_equal(r->fake.n, BATCH);
        for (int i = 0; i < BATCH; i++)
            chan_finish(r->ch, &r->fake.cc, r->fake.ids[i], 16, err, sizeof(err));
        event_base_loop(r->base, EVLOOP_NONBLOCK); /* telemetry's timers, as the loop would */
    }
    return (double)(clock_monotonic_ns() - t0) / msgs;
}

static void test_fin_path_cost(void **state)
{
    const char *v = getenv("BENCH_FIN_MSGS");
    int msgs = v && atoi(v) >= BATCH ? atoi(v) / BATCH * BATCH : DEFAULT_MSGS;
    rig_t off, on;
    rig_new(&off, "");
    rig_new(&on, "1.0,0.99,0.5");
    double best_off = 1e18, best_on = 1e18;
    for (int t = 0; t < TRIES; t++) { /* alternated, so drifting load hits both */
        double a = run_messages(&off, msgs), b = run_messages(&on, msgs);
        best_off = a < best_off ? a : best_off;
        best_on = b < best_on ? b : best_on;
    }
    struct timeval tv = {0, 300000}; /* the e2e refresher brings the cached result up to date */
    event_base_loopexit(on.base, &tv);
    event_base_dispatch(on.base);
    stats_snapshot_t *s = stats_snapshot_take(on.n, NULL, NULL, NULL, false);
    assert_non_null(s);
    const stats_e2e_t *e = &s->topics[0].channels[0].e2e;
    assert_int_equal(e->total_count, (uint64_t)msgs * TRIES); /* every FIN counted */
    printf("fin bench: %d messages x %d tries (publish, deliver, FIN; no network): "
           "percentiles off %.1f ns/message, three percentiles %.1f ns/message (%+.1f%%); "
           "e2e p99 %.0f us\n",
           msgs, TRIES, best_off, best_on, 100.0 * (best_on - best_off) / best_off,
           e->percentiles[1].value / 1e3);
    fflush(stdout);
    stats_snapshot_free(s);
    rig_free(&on);
    rig_free(&off);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fin_path_cost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
