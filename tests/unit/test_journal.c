/* Unit tests for nsqd/journal.c through a channel with real disk queues: a durable DPUB is on
 * disk before its due time and comes back after a restart (not before its due time); a message
 * that came due leaves a tombstone (or an emptied journal) so that a restart does not bring it
 * back; shutdown (chan_persist) writes every deferred message with its due time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "nsqd/channel.h"
#include "nsqd/diskqueue.h"

#define MS INT64_C(1000000)

typedef struct fx {
    char dir[64];
    struct event_base *base;
} fx_t;

typedef struct fake {
    chan_consumer_t cc;
    char got[16][32];
    uint16_t attempts[16];
    int n;
} fake_t;

static void fake_deliver(chan_consumer_t *c, msg_t *m, uint16_t attempts)
{
    fake_t *f = (fake_t *)c;
    if (f->n < 16) {
        snprintf(f->got[f->n], sizeof(f->got[0]), "%.*s", (int)m->body_len, (char *)m->body);
        f->attempts[f->n++] = attempts;
    }
}

static void fake_closed(chan_consumer_t *c) {}
static const chan_consumer_ops_t fake_ops = {fake_deliver, fake_closed};

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/cnsq-journal-XXXXXX");
    if (!mkdtemp(f->dir) || !(f->base = event_base_new())) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    char p[512];
    struct dirent *e;
    DIR *d = opendir(f->dir);
    while (d && (e = readdir(d))) {
        snprintf(p, sizeof(p), "%s/%s", f->dir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(f->dir);
    event_base_free(f->base);
    free(f);
    return 0;
}

static backend_t *open_backend(void *ctx, const char *name, bool deferred, bool create)
{
    fx_t *f = ctx;
    char err[256];
    if (!create && !dq_exists(f->dir, name))
        return NULL;
    dq_config_t c = {.min_msg_size = deferred ? 34 : 26, .max_msg_size = 4096 + 34,
                     .sync_every = 1};
    backend_t *b = dq_open(f->base, f->dir, name, &c, err, sizeof(err));
    if (!b)
        fail_msg("dq_open: %s", err);
    return b;
}

static channel_t *open_chan(fx_t *f, bool durable)
{
    chan_config_t cfg = {.mem_queue_size = 0, .max_msg_timeout = 900LL * 1000 * MS,
                         .durable = durable};
    chan_hooks_t hooks = {.open_backend = open_backend, .ctx = f};
    channel_t *ch = chan_new(f->base, "t", "c", &cfg, &hooks);
    assert_non_null(ch);
    return ch;
}

static uint64_t next_id = 1;
static msg_t *mk(const char *body)
{
    return msg_new_copy(next_id++, clock_realtime_ns(), body, strlen(body));
}

static void run_for(struct event_base *base, int ms)
{
    struct timeval tv = {0, ms * 1000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

static chan_stats_t stats(channel_t *ch)
{
    chan_stats_t s;
    chan_get_stats(ch, &s);
    return s;
}

static void consume(channel_t *ch, fake_t *f)
{
    memset(f, 0, sizeof(*f));
    f->cc.ops = &fake_ops;
    f->cc.ready_count = 16;
    f->cc.msg_timeout = 60000 * MS;
    assert_int_equal(chan_add_consumer(ch, &f->cc, 0), 0);
}

static void test_durable_dpub_survives_restart_with_due_time(void **state)
{
    fx_t *f = *state;
    fake_t a;
    channel_t *ch = open_chan(f, true);
    int64_t t0 = clock_monotonic_ns();
    chan_put(ch, mk("deferred"), 0, 400 * MS);
    assert_int_equal(mq_defer_depth(chan_queue(ch)), 1); /* on disk at once */
    chan_free(ch); /* a crash-like stop: nothing persisted beyond the journal */
    ch = open_chan(f, true);
    assert_int_equal(stats(ch).deferred_count, 1);
    consume(ch, &a);
    run_for(f->base, 100);
    assert_int_equal(a.n, 0); /* not before its due time */
    while (a.n == 0 && clock_monotonic_ns() - t0 < 2000 * MS)
        run_for(f->base, 20);
    assert_int_equal(a.n, 1);
    assert_string_equal(a.got[0], "deferred");
    assert_int_equal(a.attempts[0], 1);
    assert_true(clock_monotonic_ns() - t0 >= 400 * MS);
    chan_remove_consumer(ch, &a.cc);
    chan_destroy(ch);
}

static void test_due_messages_do_not_come_back(void **state)
{
    fx_t *f = *state;
    channel_t *ch = open_chan(f, true);
    chan_put(ch, mk("soon"), 0, 10 * MS);
    chan_put(ch, mk("late"), 0, 60000 * MS);
    run_for(f->base, 300); /* "soon" moves to the queue, its tombstone follows the sync */
    chan_stats_t s = stats(ch);
    assert_int_equal(s.deferred_count, 1);
    assert_int_equal(s.depth, 1);
    chan_free(ch);
    ch = open_chan(f, true);
    s = stats(ch);
    assert_int_equal(s.deferred_count, 1); /* "late" only */
    assert_int_equal(s.depth, 1);          /* "soon", once */
    chan_destroy(ch);
}

static void test_journal_dropped_when_nothing_is_live(void **state)
{
    fx_t *f = *state;
    channel_t *ch = open_chan(f, true);
    chan_put(ch, mk("a"), 0, 10 * MS);
    chan_put(ch, mk("b"), 0, 20 * MS);
    run_for(f->base, 300);
    assert_int_equal(stats(ch).depth, 2);
    assert_int_equal(mq_defer_depth(chan_queue(ch)), 0);
    chan_free(ch);
    ch = open_chan(f, true);
    assert_int_equal(stats(ch).deferred_count, 0);
    assert_int_equal(stats(ch).depth, 2);
    chan_destroy(ch);
}

static void test_persist_writes_every_deferred_message(void **state)
{
    fx_t *f = *state;
    channel_t *ch = open_chan(f, false); /* not durable: deferred only in memory until exit */
    chan_put(ch, mk("x"), 3, 60000 * MS);
    chan_put(ch, mk("y"), 0, 0);
    assert_int_equal(mq_defer_depth(chan_queue(ch)), 0);
    chan_freeze(ch);
    assert_int_equal(chan_persist(ch), 0);
    chan_free(ch);
    ch = open_chan(f, false);
    chan_stats_t s = stats(ch);
    assert_int_equal(s.deferred_count, 1);
    assert_int_equal(s.depth, 1);
    chan_destroy(ch);
    assert_int_equal(msg_live_count(), 0);
}

int main(void)
{
    evthread_use_pthreads();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_durable_dpub_survives_restart_with_due_time, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_due_messages_do_not_come_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_dropped_when_nothing_is_live, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_persist_writes_every_deferred_message, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
