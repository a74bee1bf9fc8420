/* Unit tests for nsqd/msgqueue.c (and the disk queue's unput/putv it relies on): the ring
 * bound and the spill to disk, read order ring-then-disk with id, timestamp and attempts kept,
 * ephemeral drops, DPUBs held on disk with their due time, a refused flush taking the
 * publish's records back, shutdown spill. Real disk queues in a directory under /tmp. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/util.h"
#include "nsqd/diskqueue.h"
#include "nsqd/msgqueue.h"

typedef struct fx {
    char dir[64];
    struct event_base *base;
    int opened;       /* backends opened through the hook */
    int unhealthy, healthy; /* health hook calls */
} fx_t;

static void health_cb(void *ctx, bool ok, const char *reason)
{
    fx_t *f = ctx;
    if (ok)
        f->healthy++;
    else
        f->unhealthy++;
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/cnsq-mq-XXXXXX");
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

static backend_t *open_hook(void *ctx, bool deferred, bool create)
{
    fx_t *f = ctx;
    char err[256], name[64];
    snprintf(name, sizeof(name), "q%s", deferred ? "#deferred" : "");
    if (!create && !dq_exists(f->dir, name))
        return NULL;
    dq_config_t c = {.min_msg_size = deferred ? 34 : 26,
                     .max_msg_size = 16384 + 34,
                     .sync_timeout_ns = 50 * 1000000LL,
                     .hooks = {health_cb, f}};
    backend_t *b = dq_open(f->base, f->dir, name, &c, err, sizeof(err));
    if (!b)
        fail_msg("dq_open: %s", err);
    f->opened++;
    return b;
}

static msg_t *mk(uint64_t id, const char *body)
{
    return msg_new_copy(id, 1000 + (int64_t)id, body, strlen(body));
}

static void run_loop(struct event_base *base)
{
    struct timeval tv = {0, 50 * 1000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

static void test_spill_and_read_order(void **state)
{
    fx_t *f = *state;
    msgqueue_t q;
    char err[256];
    msgring_slot_t s;
    mq_init(&q, "q", 3, false, open_hook, f);
    assert_int_equal(f->opened, 1); /* main only: the deferred queue does not exist yet */
    for (uint64_t i = 1; i <= 10; i++)
        assert_int_equal(mq_put(&q, mk(i, "body"), (uint16_t)i, 0, err, sizeof(err)), 0);
    assert_int_equal(mq_ring_len(&q), 3);
    assert_int_equal(mq_backend_depth(&q), 7);
    assert_int_equal(mq_depth(&q), 10);
    assert_true(mq_dirty(&q));
    assert_int_equal(mq_flush(&q, err, sizeof(err)), 0);
    for (uint64_t i = 1; i <= 10; i++) {
        assert_int_equal(mq_pop(&q, &s), 1);
        assert_int_equal(s.msg->id_num, i); /* ring first, then the disk, each FIFO */
        assert_int_equal(s.msg->timestamp, 1000 + (int64_t)i);
        assert_int_equal(s.attempts, i);
        assert_memory_equal(s.msg->body, "body", 4);
        msg_unref(s.msg);
    }
    assert_int_equal(mq_pop(&q, &s), 0);
    mq_close(&q, false);
    assert_int_equal(msg_live_count(), 0);
}

static void test_ephemeral_drops_and_counts(void **state)
{
    fx_t *f = *state;
    msgqueue_t q;
    char err[64];
    mq_stats_t st;
    mq_init(&q, "e#ephemeral", 2, true, open_hook, f);
    assert_int_equal(f->opened, 0);
    for (uint64_t i = 1; i <= 5; i++) {
        assert_true(mq_can_accept(&q, 1));
        assert_int_equal(mq_put(&q, mk(i, "x"), 0, 0, err, sizeof(err)), 0);
    }
    mq_get_stats(&q, &st);
    assert_int_equal(st.depth, 2);
    assert_int_equal(st.dropped, 3);
    mq_put_accepted(&q, mk(9, "requeued"), 2); /* accepted messages are never dropped */
    assert_int_equal(mq_ring_len(&q), 3);
    mq_close(&q, false);
    assert_int_equal(msg_live_count(), 0);
}

static void test_memory_only_refuses_when_full(void **state)
{
    msgqueue_t q;
    char err[128];
    mq_init(&q, "m", 1, false, NULL, NULL);
    assert_int_equal(mq_put(&q, mk(1, "a"), 0, 0, err, sizeof(err)), 0);
    assert_false(mq_can_accept(&q, 1));
    msg_t *m = mk(2, "b");
    assert_int_equal(mq_put(&q, m, 0, 0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "queue full"));
    msg_unref(m); /* refused: still the caller's */
    mq_close(&q, false);
    assert_int_equal(msg_live_count(), 0);
}

static void test_dpub_held_on_disk_keeps_due_time(void **state)
{
    fx_t *f = *state;
    msgqueue_t q;
    char err[128];
    msgring_slot_t s;
    int64_t due, before = clock_realtime_ns();
    mq_init(&q, "q", 0, false, open_hook, f);
    assert_int_equal(mq_put(&q, mk(1, "later"), 0, 5000, err, sizeof(err)), 0);
    assert_int_equal(mq_backend_depth(&q), 0);
    assert_int_equal(mq_defer_depth(&q), 1);
    assert_int_equal(mq_flush(&q, err, sizeof(err)), 0);
    assert_int_equal(mq_defer_pop(&q, &s, &due), 1);
    assert_true(due >= before + 5000LL * 1000000 && due <= clock_realtime_ns() + 5000LL * 1000000);
    assert_memory_equal(s.msg->body, "later", 5);
    msg_unref(s.msg);
    mq_close(&q, false);
}

static void test_refused_flush_takes_records_back(void **state)
{
    fx_t *f = *state;
    msgqueue_t q;
    char err[128];
    msgring_slot_t s;
    mq_init(&q, "q", 0, false, open_hook, f);
    assert_int_equal(mq_put(&q, mk(1, "kept"), 0, 0, err, sizeof(err)), 0);
    assert_int_equal(mq_flush(&q, err, sizeof(err)), 0);
    assert_int_equal(mq_put(&q, mk(2, "refused-1"), 0, 0, err, sizeof(err)), 0);
    assert_int_equal(mq_put(&q, mk(3, "refused-2"), 0, 0, err, sizeof(err)), 0);
    assert_int_equal(mq_backend_depth(&q), 3);
    mq_note_failure(&q, "disk queue write failed: test");
    assert_int_equal(mq_flush(&q, err, sizeof(err)), -1);
    assert_string_equal(err, "disk queue write failed: test");
    assert_int_equal(mq_backend_depth(&q), 1); /* nothing of the refused publish stays */
    assert_int_equal(mq_pop(&q, &s), 1);
    assert_int_equal(s.msg->id_num, 1);
    msg_unref(s.msg);
    assert_int_equal(mq_pop(&q, &s), 0);
    /* an aborted multi-message publish too */
    assert_int_equal(mq_put(&q, mk(4, "a"), 0, 0, err, sizeof(err)), 0);
    mq_abort(&q);
    assert_int_equal(mq_depth(&q), 0);
    mq_close(&q, false);
    assert_int_equal(msg_live_count(), 0);
}

static void test_spill_at_shutdown_and_reopen(void **state)
{
    fx_t *f = *state;
    msgqueue_t q;
    char err[128];
    msgring_slot_t s;
    int64_t due;
    mq_init(&q, "q", 100, false, open_hook, f);
    for (uint64_t i = 1; i <= 5; i++)
        assert_int_equal(mq_put(&q, mk(i, "m"), 3, i == 5 ? 60000 : 0, err, sizeof(err)), 0);
    assert_int_equal(mq_ring_len(&q), 5);
    assert_int_equal(mq_spill(&q), 0);
    mq_close(&q, false);
    mq_init(&q, "q", 100, false, open_hook, f);
    assert_int_equal(mq_depth(&q), 4);
    assert_int_equal(mq_defer_depth(&q), 1);
    for (uint64_t i = 1; i <= 4; i++) {
        assert_int_equal(mq_pop(&q, &s), 1);
        assert_int_equal(s.msg->id_num, i);
        assert_int_equal(s.attempts, 3);
        msg_unref(s.msg);
    }
    assert_int_equal(mq_defer_pop(&q, &s, &due), 1);
    assert_int_equal(s.msg->id_num, 5);
    assert_true(due > clock_realtime_ns() + 50000LL * 1000000);
    msg_unref(s.msg);
    run_loop(f->base);
    mq_close(&q, true);
    assert_int_equal(msg_live_count(), 0);
}

static void test_undecodable_record_skipped_and_counted(void **state)
{
    fx_t *f = *state;
    msgqueue_t q;
    char err[128];
    msgring_slot_t s;
    mq_stats_t st;
    uint8_t bad[30];
    memset(bad, 'z', sizeof(bad)); /* right size, id not hex */
    mq_init(&q, "q", 0, false, open_hook, f);
    assert_int_equal(q.backend->ops->put(q.backend, bad, sizeof(bad), err, sizeof(err)), 0);
    assert_int_equal(mq_put(&q, mk(7, "good"), 0, 0, err, sizeof(err)), 0);
    assert_int_equal(mq_pop(&q, &s), 1);
    assert_int_equal(s.msg->id_num, 7);
    msg_unref(s.msg);
    mq_get_stats(&q, &st);
    assert_int_equal(st.corrupt_count, 1);
    mq_close(&q, true);
}

/* The disk refuses the write (a file size limit): the publish is refused and leaves nothing,
 * the queue turns unhealthy, and once the disk takes writes again it recovers by itself (a
 * probe every sync timeout), without waiting for a publish. */
static void test_refused_disk_write_then_probe_recovers(void **state)
{
    fx_t *f = *state;
    msgqueue_t q;
    char err[256], big[6000];
    struct rlimit old, lim;
    memset(big, 'b', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    signal(SIGXFSZ, SIG_IGN);
    mq_init(&q, "q", 0, false, open_hook, f);
    if (getrlimit(RLIMIT_FSIZE, &old) != 0 ||
        (old.rlim_max != RLIM_INFINITY && old.rlim_max < 1 << 20)) {
        mq_close(&q, true);
        skip();
    }
    lim.rlim_cur = 1024; /* below the probe's 4 KiB block too */
    lim.rlim_max = old.rlim_max;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    assert_int_equal(mq_put(&q, mk(1, big), 0, 0, err, sizeof(err)), 0);
    assert_int_equal(mq_flush(&q, err, sizeof(err)), -1);
    assert_string_equal(err, "disk queue write failed: File too large");
    assert_int_equal(mq_backend_depth(&q), 0); /* taken back */
    assert_false(mq_healthy(&q));
    assert_int_equal(f->unhealthy, 1);
    assert_true(mq_can_accept(&q, 1)); /* the next publish tries the disk again */
    run_loop(f->base);
    assert_false(mq_healthy(&q)); /* the probe fails too */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    for (int i = 0; i < 10 && !mq_healthy(&q); i++)
        run_loop(f->base);
    assert_true(mq_healthy(&q));
    assert_int_equal(f->healthy, 1);
    assert_int_equal(mq_put(&q, mk(2, big), 0, 0, err, sizeof(err)), 0);
    assert_int_equal(mq_flush(&q, err, sizeof(err)), 0);
    assert_int_equal(mq_backend_depth(&q), 1);
    mq_close(&q, true);
    assert_int_equal(msg_live_count(), 0);
}

int main(void)
{
    evthread_use_pthreads(); /* the disk queue's helper thread activates loop events */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_spill_and_read_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ephemeral_drops_and_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_only_refuses_when_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dpub_held_on_disk_keeps_due_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_flush_takes_records_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spill_at_shutdown_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_undecodable_record_skipped_and_counted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_refused_disk_write_then_probe_recovers, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
