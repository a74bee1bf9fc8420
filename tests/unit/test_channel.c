/* Unit tests for nsqd/channel.c and nsqd/topic.c: delivery under RDY, FIN/REQ/TOUCH, timeouts,
 * deferral, fan-out by reference, admission bounds, pause/empty, consumer removal. A fake
 * consumer records what the channel hands it; the event loop runs timers for real. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <string.h>

#include "common/util.h"
#include "nsqd/channel.h"
#include "nsqd/topic.h"

typedef struct fake {
    chan_consumer_t cc;
    msg_t *got[64];
    uint16_t attempts[64];
    int n;
    int closed;
} fake_t;

static void fake_deliver(chan_consumer_t *c, msg_t *m, uint16_t attempts)
{
    fake_t *f = (fake_t *)c;
    if (f->n < 64) {
        f->got[f->n] = m;
        f->attempts[f->n] = attempts;
        f->n++;
    }
}

static void fake_closed(chan_consumer_t *c) { ((fake_t *)c)->closed++; }

static const chan_consumer_ops_t fake_ops = {fake_deliver, fake_closed};

static void fake_init(fake_t *f, int64_t rdy)
{
    memset(f, 0, sizeof(*f));
    f->cc.ops = &fake_ops;
    f->cc.ready_count = rdy;
    f->cc.msg_timeout = 60LL * 1000000000;
}

static uint64_t next_id = 1;
static msg_t *mk(const char *body)
{
    return msg_new_copy(next_id++, clock_realtime_ns(), body, strlen(body));
}

static const chan_config_t cfg = {.mem_queue_size = 4, .max_msg_timeout = 900LL * 1000000000};

static void run_for(struct event_base *base, int ms)
{
    struct timeval tv = {0, ms * 1000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

static void test_rdy_limits_delivery(void **state)
{
    struct event_base *base = event_base_new();
    channel_t *ch = chan_new(base, "t", "c", &cfg, NULL);
    fake_t a, b;
    fake_init(&a, 1);
    fake_init(&b, 2);
    assert_int_equal(chan_add_consumer(ch, &a.cc, 0), 0);
    assert_int_equal(chan_add_consumer(ch, &b.cc, 0), 0);
    for (int i = 0; i < 4; i++)
        chan_put(ch, mk("x"), 0, 0);
    assert_int_equal(a.n + b.n, 3); /* RDY 1 + RDY 2 */
    assert_int_equal(a.n, 1);
    assert_int_equal(b.n, 2);
    assert_int_equal(a.attempts[0], 1);
    chan_stats_t st;
    chan_get_stats(ch, &st);
    assert_int_equal(st.depth, 1);
    assert_int_equal(st.in_flight_count, 3);
    assert_int_equal(st.message_count, 4);
    /* FIN frees a slot: the last message goes out */
    char err[64];
    assert_int_equal(chan_finish(ch, &a.cc, a.got[0]->id, 16, err, sizeof(err)), 0);
    assert_int_equal(a.n + b.n, 4);
    assert_int_equal(a.cc.finish_count, 1);
    /* FIN of someone else's message fails and says why */
    assert_int_equal(chan_finish(ch, &a.cc, b.got[0]->id, 16, err, sizeof(err)), -1);
    assert_string_equal(err, "client does not own message");
    assert_int_equal(chan_finish(ch, &a.cc, "0000000000000000", 16, err, sizeof(err)), -1);
    assert_string_equal(err, "ID not in flight");
    assert_int_equal(chan_finish(ch, &a.cc, "zz", 2, err, sizeof(err)), -1);
    chan_free(ch);
    assert_int_equal(a.closed, 1);
    assert_int_equal(b.closed, 1);
    event_base_free(base);
}

static void test_admission_bound(void **state)
{
    struct event_base *base = event_base_new();
    channel_t *ch = chan_new(base, "t", "c", &cfg, NULL);
    assert_true(chan_can_accept(ch, 4));
    assert_false(chan_can_accept(ch, 5));
    for (int i = 0; i < 4; i++)
        chan_put(ch, mk("x"), 0, 0);
    assert_false(chan_can_accept(ch, 1));
    chan_empty(ch);
    assert_true(chan_can_accept(ch, 4));
    chan_free(ch);
    event_base_free(base);
}

static void test_requeue_and_timeout(void **state)
{
    struct event_base *base = event_base_new();
    channel_t *ch = chan_new(base, "t", "c", &cfg, NULL);
    fake_t a;
    fake_init(&a, 1);
    a.cc.msg_timeout = 30LL * 1000000; /* 30ms */
    chan_add_consumer(ch, &a.cc, 0);
    chan_put(ch, mk("one"), 0, 0);
    assert_int_equal(a.n, 1);
    char err[64];
    /* REQ 0: redelivered at once with attempts + 1 */
    assert_int_equal(chan_requeue(ch, &a.cc, a.got[0]->id, 16, 0, err, sizeof(err)), 0);
    assert_int_equal(a.n, 2);
    assert_int_equal(a.attempts[1], 2);
    /* no FIN: it times out and comes back */
    run_for(base, 80);
    assert_true(a.n >= 3);
    assert_int_equal(a.attempts[2], 3);
    chan_stats_t st;
    chan_get_stats(ch, &st);
    assert_int_equal(st.requeue_count, 1);
    assert_true(st.timeout_count >= 1);
    chan_free(ch);
    event_base_free(base);
}

static void test_deferred_requeue(void **state)
{
    struct event_base *base = event_base_new();
    channel_t *ch = chan_new(base, "t", "c", &cfg, NULL);
    fake_t a;
    fake_init(&a, 5);
    chan_add_consumer(ch, &a.cc, 0);
    chan_put(ch, mk("later"), 0, 50LL * 1000000); /* DPUB 50ms */
    chan_stats_t st;
    chan_get_stats(ch, &st);
    assert_int_equal(st.deferred_count, 1);
    assert_int_equal(a.n, 0);
    int64_t t0 = clock_monotonic_ns();
    run_for(base, 20);
    assert_int_equal(a.n, 0);
    run_for(base, 60);
    assert_int_equal(a.n, 1);
    assert_true(clock_monotonic_ns() - t0 >= 50LL * 1000000);
    char err[64];
    assert_int_equal(chan_requeue(ch, &a.cc, a.got[0]->id, 16, 30LL * 1000000, err, 64), 0);
    chan_get_stats(ch, &st);
    assert_int_equal(st.deferred_count, 1);
    assert_int_equal(st.in_flight_count, 0);
    run_for(base, 60);
    assert_int_equal(a.n, 2);
    chan_free(ch);
    event_base_free(base);
}

static void test_touch_and_remove_consumer_requeues(void **state)
{
    struct event_base *base = event_base_new();
    channel_t *ch = chan_new(base, "t", "c", &cfg, NULL);
    fake_t a, b;
    fake_init(&a, 2);
    fake_init(&b, 0);
    chan_add_consumer(ch, &a.cc, 0);
    chan_add_consumer(ch, &b.cc, 0);
    chan_put(ch, mk("1"), 0, 0);
    chan_put(ch, mk("2"), 0, 0);
    assert_int_equal(a.n, 2);
    char err[64];
    assert_int_equal(chan_touch(ch, &a.cc, a.got[0]->id, 16, err, 64), 0);
    assert_int_equal(chan_touch(ch, &b.cc, a.got[0]->id, 16, err, 64), -1);
    chan_remove_consumer(ch, &a.cc);
    chan_stats_t st;
    chan_get_stats(ch, &st);
    assert_int_equal(st.in_flight_count, 0);
    assert_int_equal(st.depth, 2);
    chan_consumer_set_ready(&b.cc, 10);
    assert_int_equal(b.n, 2);
    assert_int_equal(b.attempts[0], 2);
    chan_free(ch);
    event_base_free(base);
}

static void test_pause(void **state)
{
    struct event_base *base = event_base_new();
    channel_t *ch = chan_new(base, "t", "c", &cfg, NULL);
    fake_t a;
    fake_init(&a, 5);
    chan_add_consumer(ch, &a.cc, 0);
    chan_pause(ch);
    chan_put(ch, mk("1"), 0, 0);
    assert_int_equal(a.n, 0);
    chan_unpause(ch);
    assert_int_equal(a.n, 1);
    chan_free(ch);
    event_base_free(base);
}

static void test_topic_fanout_shares_body(void **state)
{
    struct event_base *base = event_base_new();
    topic_t *t = topic_new(base, "t", &cfg, NULL);
    char err[128];
    /* no channel yet: held by the topic, bounded (memory only: no disk queue hook) */
    for (int i = 0; i < 4; i++)
        assert_int_equal(topic_put(t, mk("held"), 0, err, sizeof(err)), 0);
    assert_false(topic_can_accept(t, 1));
    assert_int_equal(topic_put(t, mk("refused"), 0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "queue full"));
    topic_stats_t ts;
    topic_get_stats(t, &ts);
    assert_int_equal(ts.depth, 4);
    assert_int_equal(ts.message_count, 4);
    size_t live = msg_live_count();
    channel_t *c1 = topic_get_channel(t, "c1", 2);
    channel_t *c2 = topic_get_channel(t, "c2", 2);
    topic_get_stats(t, &ts);
    assert_int_equal(ts.depth, 0);
    chan_stats_t s1, s2;
    chan_get_stats(c1, &s1);
    chan_get_stats(c2, &s2);
    assert_int_equal(s1.depth, 4); /* the first channel got the held messages */
    assert_int_equal(s2.depth, 0);
    assert_int_equal(msg_live_count(), live);
    assert_false(topic_can_accept(t, 1)); /* c1 is full now */
    chan_empty(c1);
    assert_int_equal(msg_live_count(), live - 4);
    msg_t *m = mk("shared");
    assert_int_equal(topic_put(t, m, 0, err, sizeof(err)), 0);
    assert_int_equal(m->refs, 2); /* one body, two channels */
    assert_int_equal(topic_delete_channel(t, "c1", 2), 0);
    assert_int_equal(m->refs, 1);
    assert_null(topic_find_channel(t, "c1", 2));
    topic_free(t);
    assert_int_equal(msg_live_count(), 0);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rdy_limits_delivery),
        cmocka_unit_test(test_admission_bound),
        cmocka_unit_test(test_requeue_and_timeout),
        cmocka_unit_test(test_deferred_requeue),
        cmocka_unit_test(test_touch_and_remove_consumer_requeues),
        cmocka_unit_test(test_pause),
        cmocka_unit_test(test_topic_fanout_shares_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
